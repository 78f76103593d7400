//! Hands records back to the program that runs the job (`execute_and_collect`).
//!
//! The sink writes into a [`CollectBuffer`] the program pulls pages from. In one
//! process the buffer holds the typed values; when the sink runs in a worker and the
//! program elsewhere, it holds each record encoded, and the pages travel through the
//! TaskManager and the JobManager to the client.

mod buffer;

use std::sync::Arc;
use std::time::Duration;

pub use buffer::{CollectBuffer, CollectError, Page};
use spate_core::{BoxError, CoreError, Data, StreamRecord, codec};

use super::{Sink, SinkWriter};
use crate::channel::CancelToken;
use crate::checkpoint::{CheckpointId, FINAL_CHECKPOINT, OperatorSnapshot};
use crate::context::RuntimeContext;
use crate::functions::FnResult;
use crate::state::Redistribution;

/// The operator list the unacknowledged results are checkpointed in.
pub const COLLECT_STATE: &str = "collect-results";

/// How long a finished job waits for its reader to take the last results: a reader
/// that asks for nothing that long is gone.
pub const FINAL_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// A page of encoded results as it travels from a worker to the client: the blobs
/// (each a batch of records encoded back to back) in one base64 string, each preceded
/// by its length (4 bytes, little-endian), so that no hop decodes them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResultPage {
    /// The attempt that wrote them: a new value means the job restarted (0: the
    /// attempt's sink has not started).
    pub version: u64,
    /// The offset of the first blob.
    pub offset: u64,
    /// How many blobs `data` holds.
    pub count: u64,
    /// Blobs below this offset are committed (see [`Page::committed`]).
    pub committed: u64,
    /// Where the attempt's restore point ends (see [`Page::restored`]).
    #[serde(default)]
    pub restored: u64,
    /// No blob follows.
    pub finished: bool,
    /// Base64 of the length-prefixed blobs.
    pub data: String,
}

/// Turns a batch into what the buffer holds (each record, or one encoded blob).
type ToRecords<T, R> = fn(&mut Vec<StreamRecord<T>>) -> Result<Vec<R>, CoreError>;

/// How a sink stores its records in the buffer.
struct Storage<T, R> {
    to_records: ToRecords<T, R>,
    encode: fn(&R) -> Result<Vec<u8>, CoreError>,
    decode: fn(&[u8]) -> Result<R, CoreError>,
}

impl<T, R> Clone for Storage<T, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, R> Copy for Storage<T, R> {}

/// Writes every record into a buffer the program collecting the results reads.
pub struct CollectSink<T, R> {
    buffer: Arc<CollectBuffer<R>>,
    storage: Storage<T, R>,
}

fn values<T>(batch: &mut Vec<StreamRecord<T>>) -> Result<Vec<T>, CoreError> {
    Ok(batch.drain(..).map(|r| r.value).collect())
}

/// The size past which a batch's blob is cut: pages (half the buffer) hold several,
/// and no page is much larger than its limit.
const BLOB_BYTES: usize = 128 << 10;

/// A batch as blobs of records encoded back to back (each decodes by itself), cut
/// after [`BLOB_BYTES`].
fn encode_batch<T: Data>(batch: &mut Vec<StreamRecord<T>>) -> Result<Vec<Vec<u8>>, CoreError> {
    let mut blobs = Vec::new();
    let mut blob = Vec::new();
    for record in batch.drain(..) {
        codec::encode_into(&record.value, &mut blob)?;
        if blob.len() >= BLOB_BYTES {
            blobs.push(std::mem::take(&mut blob));
        }
    }
    if !blob.is_empty() {
        blobs.push(blob);
    }
    Ok(blobs)
}

#[allow(clippy::ptr_arg)] // a `fn(&R)` with `R = Vec<u8>`
fn bytes_of(bytes: &Vec<u8>) -> Result<Vec<u8>, CoreError> {
    Ok(bytes.clone())
}

fn bytes_from(bytes: &[u8]) -> Result<Vec<u8>, CoreError> {
    Ok(bytes.to_vec())
}

impl<T: Data> CollectSink<T, T> {
    /// A sink whose reader runs in this process: records stay typed values.
    pub fn typed(buffer: Arc<CollectBuffer<T>>) -> Self {
        CollectSink { buffer, storage: Storage { to_records: values, encode: codec::encode, decode: codec::decode } }
    }
}

impl<T: Data> CollectSink<T, Vec<u8>> {
    /// A sink whose reader runs in another process: each batch is one blob of encoded
    /// records, and offsets count blobs.
    pub fn encoded(buffer: Arc<CollectBuffer<Vec<u8>>>) -> Self {
        CollectSink { buffer, storage: Storage { to_records: encode_batch::<T>, encode: bytes_of, decode: bytes_from } }
    }
}

impl<T: Send + 'static, R: Clone + Send + 'static> Sink<T> for CollectSink<T, R> {
    fn name(&self) -> String {
        "Collect Sink".into()
    }

    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        let restored = match ctx.restored().and_then(|r| r.list(COLLECT_STATE).map(<[Vec<u8>]>::to_vec)) {
            Some(elements) => {
                let mut base = None;
                let mut records = Vec::new();
                for element in &elements {
                    let (offset, encoded): (u64, Vec<Vec<u8>>) = codec::decode(element)?;
                    base = Some(base.map_or(offset, |b: u64| b.min(offset)));
                    for bytes in &encoded {
                        records.push((self.storage.decode)(bytes)?);
                    }
                }
                base.map(|base| (base, records))
            }
            None => None,
        };
        let version = self.buffer.begin_attempt(restored);
        let cancel = ctx.task_info().cancel.clone();
        Ok(Box::new(CollectWriter { buffer: self.buffer.clone(), storage: self.storage, version, cancel }))
    }
}

struct CollectWriter<T, R> {
    buffer: Arc<CollectBuffer<R>>,
    storage: Storage<T, R>,
    version: u64,
    /// The attempt's cancellation: a sink waiting for its reader stops for it.
    cancel: Option<CancelToken>,
}

impl<T: Send, R: Clone + Send> SinkWriter<T> for CollectWriter<T, R> {
    fn write_batch(&mut self, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        let records = (self.storage.to_records)(batch)?;
        self.buffer.push(self.version, records, self.cancel.as_ref())?;
        Ok(())
    }

    fn flush(&mut self, _end_of_input: bool) -> FnResult {
        Ok(())
    }

    fn snapshot_state(&mut self, id: CheckpointId, snapshot: &mut OperatorSnapshot) -> FnResult {
        let (offset, records) = self.buffer.snapshot(self.version, id)?;
        let encoded = records.iter().map(self.storage.encode).collect::<Result<Vec<_>, _>>()?;
        snapshot.add_list(COLLECT_STATE, Redistribution::Union, vec![codec::encode(&(offset, encoded))?]);
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, id: CheckpointId) -> FnResult {
        if id != FINAL_CHECKPOINT {
            return Ok(self.buffer.checkpoint_complete(self.version, id)?);
        }
        // The job finished: the rest is final, and the job ends once it was read.
        self.buffer.finish(self.version)?;
        let unread = self.buffer.wait_drained(self.version, FINAL_FETCH_TIMEOUT, self.cancel.as_ref())?;
        if unread > 0 {
            tracing::warn!(
                unread,
                "no program asked for the job's last results within {} s: they are dropped",
                FINAL_FETCH_TIMEOUT.as_secs()
            );
        }
        Ok(())
    }
}

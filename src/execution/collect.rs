//! The program's side of `execute_and_collect`: pulling the job's results page by page
//! from its collect sink — from the sink's buffer in this process on the embedded
//! mini-cluster, through the JobManager's `/jobs/:id/results` on a cluster — each
//! request acknowledging the records before its offset, so that the sink holds at most
//! its buffer and the program one page.
//!
//! A new version of the sink's buffer means the job restarted. With checkpoints the
//! restored sink goes on from the offsets of its checkpoint, and only records of
//! completed checkpoints were handed out, so nothing repeats. Without, the job starts
//! from scratch: the `Vec` form starts over, and an iterator that handed records out
//! already fails rather than hand them out twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use spate_core::{Data, codec};
use spate_runtime::sink::{CollectBuffer, Page, ResultPage};

use spate_core::config::{fault_tolerance as ft, options};
use spate_runtime::sink::{CollectSink, Sink};

use super::client::ClusterClient;
use super::job_client::JobClient;
use crate::env::{Role, StreamEnv};
use crate::error::{Error, Result};

/// Records the buffer of a sink in this process holds (its reader is in the same
/// process: `collect-sink.batch-size.max` counts encoded bytes, which it never has).
const LOCAL_CAPACITY_RECORDS: usize = 16 * 1024;

/// What one encoded record costs in the buffer: its bytes and its `Vec`.
#[allow(clippy::ptr_arg)] // a `fn(&R)` with `R = Vec<u8>`
fn encoded_weight(record: &Vec<u8>) -> usize {
    record.len() + std::mem::size_of::<Vec<u8>>()
}

/// A page of blobs (batches of encoded records) as it leaves the worker.
pub(crate) fn to_wire(page: Page<Vec<u8>>) -> ResultPage {
    use base64::Engine as _;
    let mut data = Vec::with_capacity(page.records.iter().map(|b| b.len() + 4).sum());
    for blob in &page.records {
        data.extend_from_slice(&(blob.len() as u32).to_le_bytes());
        data.extend_from_slice(blob);
    }
    ResultPage {
        version: page.version,
        offset: page.offset,
        count: page.records.len() as u64,
        committed: page.committed,
        restored: page.restored,
        finished: page.finished,
        data: base64::engine::general_purpose::STANDARD.encode(data),
    }
}

/// The records of a page from the cluster, and where each blob's records end.
fn from_wire<T: Data>(page: ResultPage) -> std::result::Result<(Vec<T>, Vec<usize>), String> {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.decode(page.data).map_err(|e| e.to_string())?;
    let (mut records, mut ends) = (Vec::new(), Vec::new());
    let mut rest = data.as_slice();
    while !rest.is_empty() {
        let (len, after) = rest.split_at_checked(4).ok_or("a blob's length is cut off")?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| "a blob's length is cut off")?) as usize;
        let (mut blob, after) = after.split_at_checked(len).ok_or("a blob is cut off")?;
        while !blob.is_empty() {
            let (record, more) =
                codec::decode_prefix::<T>(blob).map_err(|e| format!("a record does not decode: {e}"))?;
            records.push(record);
            blob = more;
        }
        ends.push(records.len());
        rest = after;
    }
    if ends.len() as u64 != page.count {
        return Err(format!("the page says {} blobs and holds {}", page.count, ends.len()));
    }
    Ok((records, ends))
}

/// An `execute_and_collect` job, as this process takes part in it.
pub(crate) enum Started<T: Data> {
    /// It runs (or ran) for this process, which reads its results.
    Running(Box<CollectIterator<T>>),
    /// A worker replays `main` past it: its results as they were read when it ran
    /// (`None` when they were not recorded: an iterator read them).
    Replayed(Option<Vec<T>>),
}

/// Adds a collect sink (of parallelism 1, as Flink's) with `add_sink` and runs the
/// pipeline as this process's role has it.
pub(crate) fn start<T: Data>(
    env: &StreamEnv,
    job_name: &str,
    add_sink: impl FnOnce(Arc<dyn Sink<T>>),
) -> Result<Started<T>> {
    let (role, capacity, checkpointing, replaying) = {
        let state = env.state.borrow();
        let capacity = state.config.get(&options::COLLECT_BATCH_SIZE_MAX)?;
        let checkpointing = state.config.get(&ft::CHECKPOINTING_INTERVAL)?.is_some();
        let replaying = state
            .worker
            .as_ref()
            .filter(|w| state.jobs_submitted < w.deployment.job_index)
            .map(|w| w.deployment.recorded.get(state.jobs_submitted as usize).and_then(|r| r.collected.clone()));
        (state.role, capacity as usize, checkpointing, replaying)
    };
    match role {
        Role::Client | Role::Worker => {
            // On a cluster until distributed checkpoints: a restart starts from scratch.
            let buffer = Arc::new(CollectBuffer::new(capacity, encoded_weight, false));
            add_sink(Arc::new(CollectSink::<T, Vec<u8>>::encoded(buffer.clone())));
            if let Some(recorded) = replaying {
                env.execute_async(job_name)?;
                use base64::Engine as _;
                let decode = |text: String| -> std::result::Result<Vec<T>, String> {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?;
                    codec::decode::<Vec<T>>(&bytes).map_err(|e| e.to_string())
                };
                let values = recorded.map(decode).transpose().map_err(|e| Error::Collect {
                    job: job_name.to_string(),
                    reason: format!("the recorded results: {e}"),
                })?;
                return Ok(Started::Replayed(values));
            }
            if let Some(worker) = env.state.borrow_mut().worker.as_mut() {
                worker.results = Some(buffer);
            }
            let job = env.execute_async(job_name)?;
            let cluster = env.state.borrow().cluster.clone();
            let cluster = cluster.ok_or_else(|| Error::Internal("a client without its cluster".into()))?;
            // Half the buffer per page: the sink fills one half while the other travels.
            let source = ResultSource::Remote { cluster, max_bytes: (capacity / 2).max(1) as u64 };
            Ok(Started::Running(Box::new(CollectIterator::new(job, source, false))))
        }
        _ => {
            let buffer = Arc::new(CollectBuffer::new(LOCAL_CAPACITY_RECORDS, |_| 1, checkpointing));
            add_sink(Arc::new(CollectSink::<T, T>::typed(buffer.clone())));
            let job = env.execute_async(job_name)?;
            Ok(Started::Running(Box::new(CollectIterator::new(job, ResultSource::Local(buffer), checkpointing))))
        }
    }
}

/// Records per page read from a buffer in this process.
const LOCAL_PAGE_RECORDS: usize = 4096;

/// How long a read from a buffer in this process waits for records.
const LOCAL_WAIT: Duration = Duration::from_millis(50);

/// The longest pause between two requests to the cluster while no records come.
const REMOTE_MAX_PAUSE: Duration = Duration::from_millis(50);

/// Where the pages come from.
pub(crate) enum ResultSource<T> {
    /// The sink's buffer, in this process.
    Local(Arc<CollectBuffer<T>>),
    /// The JobManager, which asks the collect sink's worker.
    Remote {
        /// The cluster.
        cluster: ClusterClient,
        /// The most bytes of records per page.
        max_bytes: u64,
    },
}

/// A page, and where each unit's records end (`None`: a record is a unit).
type Fetch<T> = (Page<T>, Option<Vec<usize>>);

/// What one read brought.
enum Fetched<T> {
    Records(Vec<T>),
    /// The job restarted from scratch: what was read so far is void.
    Restarted,
    /// Nothing yet.
    Nothing,
    /// Every record was read.
    End,
}

/// The results of a running job, in the order the sink received them: an iterator that
/// works for unbounded jobs too (`DataStream::execute_and_collect_iter`).
///
/// Dropping it before the end cancels the job, as closing Flink's collect iterator does.
pub struct CollectIterator<T: Data> {
    job: JobClient,
    source: ResultSource<T>,
    exactly_once: bool,
    /// The version of the results seen (0: none yet).
    version: u64,
    /// The next unit wanted (a record here, a batch from a cluster).
    offset: u64,
    /// Units below this are committed.
    committed: u64,
    /// Records fetched but not committed yet (with checkpoints), and the unit each
    /// run of them makes up: (unit, records).
    held: VecDeque<T>,
    held_units: VecDeque<(u64, usize)>,
    /// Records to hand out.
    ready: VecDeque<T>,
    yielded: u64,
    /// Where the results end, once a page said so.
    end: Option<u64>,
    done: bool,
    pause: Duration,
    last_fetch: std::time::Instant,
    /// Requests that failed in a row (a page lost on its way is asked for again).
    failures: u32,
}

/// How many requests in a row may fail before the reader gives up.
const MAX_FAILURES: u32 = 200;

/// How long the iterator may hold records without asking the sink for anything: a
/// finished job's sink waits for its reader only so long without a request.
const HEARTBEAT: Duration = Duration::from_secs(10);

impl<T: Data> CollectIterator<T> {
    pub(crate) fn new(job: JobClient, source: ResultSource<T>, exactly_once: bool) -> Self {
        CollectIterator {
            job,
            source,
            exactly_once,
            version: 0,
            offset: 0,
            committed: 0,
            held: VecDeque::new(),
            held_units: VecDeque::new(),
            ready: VecDeque::new(),
            yielded: 0,
            end: None,
            done: false,
            pause: Duration::from_millis(1),
            last_fetch: std::time::Instant::now(),
            failures: 0,
        }
    }

    /// The job that produces the results.
    pub fn job_client(&self) -> &JobClient {
        &self.job
    }

    /// Stops reading: cancels the job if it still runs, and waits for its end.
    pub fn close(mut self) -> Result<()> {
        self.stop();
        Ok(())
    }

    fn stop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let running = !self.job.status().is_terminal();
        // The cancel first (it reaches the job master before anything the closed buffer
        // makes the sink say), then the sink is let go.
        if running {
            self.job.cancel();
        }
        if let ResultSource::Local(buffer) = &self.source {
            buffer.close();
        }
        if running {
            let _ = self.job.wait_timeout(Duration::from_secs(30));
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Collect { job: self.job.job_name().to_string(), reason: reason.into() }
    }

    /// One request: the page from `self.offset` (at most `max` of the source's units of
    /// weight; 0 asks for no records), and where each unit's records end (`None`: a
    /// record is a unit).
    fn request(&mut self, records: bool) -> Result<Option<Fetch<T>>> {
        self.last_fetch = std::time::Instant::now();
        match &self.source {
            ResultSource::Local(buffer) => {
                let (max, wait) = if records { (LOCAL_PAGE_RECORDS, LOCAL_WAIT) } else { (0, Duration::ZERO) };
                Ok(Some((buffer.fetch(self.version, self.offset, max, wait), None)))
            }
            ResultSource::Remote { cluster, max_bytes } => {
                let max = if records { *max_bytes } else { 0 };
                let id = self.job.job_id().to_string();
                match cluster.fetch_results(&id, self.version, self.offset, max)? {
                    Some(page) => {
                        let (version, offset, committed, restored, finished) =
                            (page.version, page.offset, page.committed, page.restored, page.finished);
                        let (records, ends) = from_wire::<T>(page).map_err(|e| self.error(e))?;
                        Ok(Some((Page { version, offset, records, committed, restored, finished }, Some(ends))))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    /// One read: records, a restart, nothing yet, or the end.
    fn fetch(&mut self) -> Result<Fetched<T>> {
        let Some((page, ends)) = self.request(true)? else { return Ok(Fetched::Nothing) };
        // Version 0: the attempt's sink has not started yet.
        if page.version == 0 {
            return Ok(Fetched::Nothing);
        }
        if self.version != 0 && page.version != self.version {
            self.version = page.version;
            if !self.exactly_once {
                // From scratch: everything read so far is void.
                (self.offset, self.committed, self.end) = (0, 0, None);
                self.held.clear();
                self.held_units.clear();
                return Ok(Fetched::Restarted);
            }
            // Restored from a checkpoint, which ends at `page.restored`: what is held
            // past it is written again; what was read before it stands.
            let restored = page.restored;
            while self.held_units.back().is_some_and(|(unit, _)| *unit >= restored) {
                let (_, n) = self.held_units.pop_back().unwrap_or_default();
                self.held.truncate(self.held.len() - n);
            }
            (self.offset, self.end) = (self.offset.min(restored), None);
            // This page was asked for under the old version: ask again.
            return Ok(Fetched::Nothing);
        }
        if self.version == 0 {
            // The first page: a job restored from a savepoint goes on where the sink's
            // earlier reader stopped.
            self.offset = self.offset.max(page.offset);
        }
        self.version = page.version;
        if page.offset > self.offset {
            return Err(self.error(format!(
                "records {}..{} were lost (the sink went on from {})",
                self.offset, page.offset, page.offset
            )));
        }
        // A page sent again starts before what was read: skip that part.
        let skip_units = (self.offset - page.offset) as usize;
        let units = ends.as_ref().map_or(page.records.len(), Vec::len);
        let skip = match &ends {
            _ if skip_units == 0 => 0,
            Some(ends) => ends.get(skip_units - 1).copied().unwrap_or(page.records.len()),
            None => skip_units,
        };
        let first_unit = self.offset;
        let records: Vec<T> = page.records.into_iter().skip(skip).collect();
        self.offset += units.saturating_sub(skip_units) as u64;
        self.committed = self.committed.max(page.committed);
        if page.finished {
            self.end = Some(self.offset);
        }
        if self.exactly_once {
            // Held until a checkpoint commits them.
            match &ends {
                Some(ends) => {
                    let mut from = skip;
                    for (k, end) in ends.iter().enumerate().skip(skip_units) {
                        self.held_units.push_back((page.offset + k as u64, end - from));
                        from = *end;
                    }
                }
                None => {
                    for k in 0..records.len() {
                        self.held_units.push_back((first_unit + k as u64, 1));
                    }
                }
            }
            self.held.extend(records);
            let mut out = Vec::new();
            while self.held_units.front().is_some_and(|(unit, _)| *unit < self.committed) {
                let (_, n) = self.held_units.pop_front().unwrap_or_default();
                out.extend(self.held.drain(..n));
            }
            if !out.is_empty() {
                return Ok(Fetched::Records(out));
            }
        } else if !records.is_empty() {
            return Ok(Fetched::Records(records));
        }
        if self.end == Some(self.offset) && self.held.is_empty() {
            // The sink waits for this acknowledgement of the last records before the job
            // ends; its answer does not matter.
            let _ = self.request(false);
            return Ok(Fetched::End);
        }
        Ok(Fetched::Nothing)
    }

    /// The next records, a restart or the end, waiting for one of them.
    fn next_fetch(&mut self) -> Result<Fetched<T>> {
        loop {
            let fetched = match self.fetch() {
                Ok(fetched) => {
                    self.failures = 0;
                    fetched
                }
                // A page lost on its way is asked for again (same offset), while the job
                // runs and not without end.
                Err(e @ Error::Cluster(_)) if self.job.status().is_terminal() || self.failures >= MAX_FAILURES => {
                    return Err(e);
                }
                Err(Error::Cluster(reason)) => {
                    self.failures += 1;
                    tracing::debug!(%reason, "fetching results");
                    Fetched::Nothing
                }
                Err(e) => return Err(e),
            };
            match fetched {
                Fetched::Nothing => {}
                other => {
                    self.pause = Duration::from_millis(1);
                    return Ok(other);
                }
            }
            if self.job.status().is_terminal() {
                // Every record is read before the job can end: what ended it says why the
                // end did not come.
                return match self.job.handle().wait() {
                    // The answer to the last acknowledgement may have been lost as the
                    // worker ended: the end was seen, nothing is missing.
                    Ok(_) if self.end == Some(self.offset) && self.held.is_empty() => Ok(Fetched::End),
                    Ok(_) => Err(self.error(format!(
                        "the job finished before its last results were read ({} read); a program that holds \
                         results for longer than {} s without reading on loses the rest",
                        self.yielded,
                        spate_runtime::sink::FINAL_FETCH_TIMEOUT.as_secs()
                    ))),
                    Err(e) => Err(e),
                };
            }
            if matches!(self.source, ResultSource::Remote { .. }) {
                std::thread::sleep(self.pause);
                self.pause = (self.pause * 2).min(REMOTE_MAX_PAUSE);
            }
        }
    }

    /// Every record, for the `Vec` form: a restart from scratch starts over.
    pub(crate) fn into_vec(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        loop {
            match self.next_fetch() {
                Ok(Fetched::Records(records)) => out.extend(records),
                Ok(Fetched::Restarted) => out.clear(),
                Ok(Fetched::End) => break,
                Ok(Fetched::Nothing) => {}
                Err(e) => {
                    self.stop();
                    return Err(e);
                }
            }
        }
        self.done = true;
        // The job's end (and its error, if the end failed) once the last page was read.
        self.job.handle().wait()?;
        Ok(out)
    }
}

impl<T: Data> Iterator for CollectIterator<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                // A program that takes long over what it holds still tells the sink
                // it is there.
                if !self.done && self.last_fetch.elapsed() >= HEARTBEAT {
                    let _ = self.request(false);
                }
                self.yielded += 1;
                return Some(Ok(record));
            }
            if self.done {
                return None;
            }
            match self.next_fetch() {
                Ok(Fetched::Records(records)) => self.ready.extend(records),
                // Nothing was handed out: the old attempt's records just go.
                Ok(Fetched::Restarted) if self.yielded == 0 => self.ready.clear(),
                Ok(Fetched::Restarted) => {
                    let error = self.error(format!(
                        "the job restarted from scratch after {} results were handed out; enable checkpointing \
                         (execution.checkpointing.interval) for exactly-once results from an iterator",
                        self.yielded
                    ));
                    self.stop();
                    return Some(Err(error));
                }
                Ok(Fetched::End) => {
                    self.done = true;
                    return None;
                }
                Ok(Fetched::Nothing) => {}
                Err(e) => {
                    self.stop();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<T: Data> Drop for CollectIterator<T> {
    fn drop(&mut self) {
        self.stop();
    }
}

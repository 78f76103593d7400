//! `socket_text_stream`: lines from a TCP server (Flink's `socketTextStream`).

use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use spate_core::{BoxError, StreamRecord};

use super::{Boundedness, Source, SourcePoll, SourceReader};
use crate::context::RuntimeContext;

/// How long one poll may wait for bytes, bounding how late the task notices a cancel.
const READ_WAIT: Duration = Duration::from_millis(20);

/// Reads `\n`-separated lines from `host:port`; ends when the server closes the
/// connection. A non-parallel source (parallelism 1).
#[derive(Clone, Debug)]
pub struct SocketTextSource {
    host: String,
    port: u16,
}

impl SocketTextSource {
    /// A source reading from `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        SocketTextSource { host: host.into(), port }
    }
}

impl Source<String> for SocketTextSource {
    fn name(&self) -> String {
        format!("Socket Stream({}:{})", self.host, self.port)
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::ContinuousUnbounded
    }

    fn max_parallelism(&self) -> Option<u32> {
        Some(1)
    }

    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<String>>, BoxError> {
        let address = format!("{}:{}", self.host, self.port);
        let describe = |e: std::io::Error| format!("cannot connect to socket source at {address}: {e}");
        let mut last_error = None;
        let mut stream = None;
        for addr in address.to_socket_addrs().map_err(describe)? {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let stream = match (stream, last_error) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(describe(e).into()),
            (None, None) => return Err(format!("cannot connect to socket source at {address}: no address").into()),
        };
        stream.set_read_timeout(Some(READ_WAIT)).map_err(describe)?;
        Ok(Box::new(SocketReader { stream, address, pending: Vec::new(), scanned: 0, metrics: ctx.metrics().clone() }))
    }

    /// Connects again: a socket has no position to go back to.
    fn restore_reader(
        &self,
        ctx: &mut RuntimeContext,
        _splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<String>>, BoxError> {
        self.create_reader(ctx)
    }
}

struct SocketReader {
    stream: TcpStream,
    address: String,
    /// Bytes received and not yet emitted as lines.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no newline.
    scanned: usize,
    metrics: std::sync::Arc<crate::metrics::TaskMetrics>,
}

fn push_line(line: &[u8], batch: &mut Vec<StreamRecord<String>>, metrics: &crate::metrics::TaskMetrics, address: &str) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match std::str::from_utf8(line) {
        Ok(s) => batch.push(StreamRecord::new(s.to_owned())),
        Err(_) => {
            metrics.add_records_in_errors(1);
            tracing::warn!(source = %address, "skipping a line that is not valid UTF-8");
        }
    }
}

impl SourceReader<String> for SocketReader {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<String>>, max: usize) -> Result<SourcePoll, BoxError> {
        let mut emitted = 0;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            // Emit the complete lines already received.
            let mut consumed = 0;
            while emitted < max {
                let from = consumed + self.scanned;
                match memchr::memchr(b'\n', &self.pending[from..]) {
                    Some(i) => {
                        let end = from + i;
                        push_line(&self.pending[consumed..end], batch, &self.metrics, &self.address);
                        consumed = end + 1;
                        self.scanned = 0;
                        emitted += 1;
                    }
                    None => {
                        self.scanned = self.pending.len() - consumed;
                        break;
                    }
                }
            }
            self.pending.drain(..consumed);
            if emitted >= max {
                return Ok(SourcePoll::More);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    if !self.pending.is_empty() {
                        push_line(&self.pending, batch, &self.metrics, &self.address);
                        self.pending.clear();
                    }
                    return Ok(SourcePoll::Finished);
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(if emitted > 0 { SourcePoll::More } else { SourcePoll::Idle(Duration::ZERO) });
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading from socket source at {}: {e}", self.address).into()),
            }
        }
    }

    /// A socket cannot be read again: its position is not kept, and a restored job
    /// reads what the server sends from then on (at most once).
    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(Vec::new())
    }
}

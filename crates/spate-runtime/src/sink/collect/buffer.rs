//! The results of an `execute_and_collect` job between its sink and the program that
//! reads them, as Flink's collect sink keeps them: a bounded buffer that the reader
//! pulls pages from by offset, acknowledging with each request everything before the
//! offset it asks for.
//!
//! Memory stays bounded in the sink: it waits while the buffer holds `capacity` of
//! unacknowledged records (by weight: records in a process, bytes across processes).
//! Each page says which records are *committed*: with checkpoints, those written before
//! the latest completed checkpoint (a restore cannot take them back), or all once the
//! job finished; without, every record. The reader hands out only committed records and
//! holds the others (as Flink's checkpointed result buffer does), so the sink never
//! waits for a checkpoint it could not take while it waits. Each attempt of the job
//! writes under a new `version`, so that the reader sees a restart: with checkpoints the
//! restored buffer goes on from the checkpoint's offsets (and says where the checkpoint
//! ended, so the reader drops what it holds past it), without it starts again from 0.
//! A request acknowledges only under the version it names: a reader that has not seen
//! a restart yet cannot acknowledge the new attempt's records.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::channel::CancelToken;
use crate::checkpoint::CheckpointId;

/// Why a sink could not hand over its records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CollectError {
    /// The reader closed the buffer (it stopped reading, or the job is cancelled).
    #[error("the program collecting the results has stopped reading them")]
    Closed,
    /// The sink's attempt was cancelled while it waited.
    #[error("cancelled while waiting for the program to read the results")]
    Cancelled,
    /// A later attempt of the job writes the buffer now.
    #[error("a later attempt of the job collects the results")]
    Superseded,
}

/// Records a reader is given, from `offset` on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page<R> {
    /// The attempt that wrote them: a new value means the job restarted.
    pub version: u64,
    /// The offset of the first record (the buffer's first unacknowledged record when
    /// the reader asked for one it had acknowledged already).
    pub offset: u64,
    /// The records.
    pub records: Vec<R>,
    /// Records below this offset are committed: no restore can take them back.
    pub committed: u64,
    /// Where the checkpoint this attempt was restored from ends (fixed for the attempt;
    /// over restarts the reader did not see, the lowest): a reader that sees the new
    /// version drops what it holds from here on, which the attempt writes again.
    pub restored: u64,
    /// No record follows the last of these: the job's input ended and every record
    /// was handed out.
    pub finished: bool,
}

struct State<R> {
    version: u64,
    /// The offset of `records[0]`: every record before it was acknowledged.
    base: u64,
    records: VecDeque<R>,
    weight: usize,
    /// Records below this offset may be handed out.
    committed: u64,
    /// Offsets written when each pending checkpoint was taken.
    pending: Vec<(CheckpointId, u64)>,
    end_of_input: bool,
    closed: bool,
    last_fetch: Instant,
    /// See [`Page::restored`].
    restored: u64,
    /// Whether a request named the current version (the reader saw this attempt).
    seen: bool,
    /// Whether the reader was handed the end (a page with `finished`).
    finish_seen: bool,
}

impl<R> State<R> {
    fn written(&self) -> u64 {
        self.base + self.records.len() as u64
    }
}

/// The buffer one job's collect sink writes and its reader pulls from.
pub struct CollectBuffer<R> {
    state: Mutex<State<R>>,
    changed: Condvar,
    capacity: usize,
    weigh: fn(&R) -> usize,
    exactly_once: bool,
}

/// A version no other attempt of any job in this process uses.
fn new_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (nanos << 16) ^ NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) ^ u64::from(std::process::id())
}

impl<R> CollectBuffer<R> {
    /// A buffer that holds up to `capacity` of `weigh`'s units (a record that alone
    /// weighs more still fits, alone). With `exactly_once`, records are handed out once
    /// a checkpoint that follows them completed, or the input ended.
    pub fn new(capacity: usize, weigh: fn(&R) -> usize, exactly_once: bool) -> Self {
        CollectBuffer {
            state: Mutex::new(State {
                version: 0,
                base: 0,
                records: VecDeque::new(),
                weight: 0,
                committed: 0,
                pending: Vec::new(),
                end_of_input: false,
                closed: false,
                last_fetch: Instant::now(),
                restored: 0,
                seen: false,
                finish_seen: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
            weigh,
            exactly_once,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether records wait for checkpoints.
    pub fn is_exactly_once(&self) -> bool {
        self.exactly_once
    }

    /// A new attempt's sink takes the buffer, from the records its checkpoint held
    /// (`(offset of the first, records)`) or from nothing; returns its version.
    pub fn begin_attempt(&self, restored: Option<(u64, Vec<R>)>) -> u64 {
        let mut state = self.lock();
        let (base, records) = restored.unwrap_or((0, Vec::new()));
        state.version = new_version();
        state.weight = records.iter().map(self.weigh).sum();
        state.records = records.into();
        state.base = base;
        // What a completed checkpoint held is final.
        state.committed = state.written();
        // A reader that never saw the previous attempt may hold records of an earlier
        // one from that attempt's restore point on.
        state.restored = if state.seen { state.committed } else { state.restored.min(state.committed) };
        state.seen = false;
        state.finish_seen = false;
        state.pending.clear();
        state.end_of_input = false;
        state.last_fetch = Instant::now();
        self.changed.notify_all();
        state.version
    }

    fn check(&self, state: &State<R>, version: u64, cancel: Option<&CancelToken>) -> Result<(), CollectError> {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            Err(CollectError::Cancelled)
        } else if state.closed {
            Err(CollectError::Closed)
        } else if state.version != version {
            Err(CollectError::Superseded)
        } else {
            Ok(())
        }
    }

    /// Appends records, waiting while the buffer is full (until `cancel`).
    pub fn push(
        &self,
        version: u64,
        records: impl IntoIterator<Item = R>,
        cancel: Option<&CancelToken>,
    ) -> Result<(), CollectError> {
        let mut state = self.lock();
        for record in records {
            loop {
                self.check(&state, version, cancel)?;
                if state.weight < self.capacity {
                    break;
                }
                // Full: what was pushed so far is there for the reader.
                self.changed.notify_all();
                state =
                    self.changed.wait_timeout(state, Duration::from_millis(100)).unwrap_or_else(|p| p.into_inner()).0;
            }
            state.weight += (self.weigh)(&record);
            state.records.push_back(record);
            if !self.exactly_once {
                state.committed = state.written();
            }
        }
        self.changed.notify_all();
        Ok(())
    }

    /// The records of checkpoint `id`, `(offset of the first, records)`: those not
    /// acknowledged yet. They become visible when `id` completes.
    pub fn snapshot(&self, version: u64, id: CheckpointId) -> Result<(u64, Vec<R>), CollectError>
    where
        R: Clone,
    {
        let mut state = self.lock();
        self.check(&state, version, None)?;
        let written = state.written();
        state.pending.push((id, written));
        Ok((state.base, state.records.iter().cloned().collect()))
    }

    /// Checkpoint `id` completed: the records written before it may be handed out.
    pub fn checkpoint_complete(&self, version: u64, id: CheckpointId) -> Result<(), CollectError> {
        let mut state = self.lock();
        self.check(&state, version, None)?;
        let through = state.pending.iter().filter(|(p, _)| *p <= id).map(|(_, offset)| *offset).max();
        state.pending.retain(|(p, _)| *p > id);
        if let Some(offset) = through {
            state.committed = state.committed.max(offset);
        }
        self.changed.notify_all();
        Ok(())
    }

    /// The job finished (no restart can replay its output): every record may be
    /// handed out, and none follows.
    pub fn finish(&self, version: u64) -> Result<(), CollectError> {
        let mut state = self.lock();
        self.check(&state, version, None)?;
        state.end_of_input = true;
        state.committed = state.written();
        self.changed.notify_all();
        Ok(())
    }

    /// Waits until the reader was handed the end and acknowledged every record, the
    /// buffer is closed, or no reader asked for `idle`; returns how many records were
    /// left unread.
    pub fn wait_drained(
        &self,
        version: u64,
        idle: Duration,
        cancel: Option<&CancelToken>,
    ) -> Result<u64, CollectError> {
        let mut state = self.lock();
        loop {
            self.check(&state, version, cancel)?;
            if state.records.is_empty() && state.finish_seen {
                return Ok(0);
            }
            if state.last_fetch.elapsed() >= idle {
                return Ok(state.records.len() as u64);
            }
            state = self.changed.wait_timeout(state, Duration::from_millis(100)).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Acknowledges every record before `offset` — when `version` is the buffer's (a
    /// reader that has not seen a restart acknowledges nothing) — and returns the records
    /// from there, up to `max_weight` (at least one; none for 0, which only acknowledges
    /// and tells the sink its reader is there), with how far they are committed. Waits
    /// up to `wait` for one.
    pub fn fetch(&self, version: u64, offset: u64, max_weight: usize, wait: Duration) -> Page<R>
    where
        R: Clone,
    {
        let deadline = Instant::now() + wait;
        let mut state = self.lock();
        state.last_fetch = Instant::now();
        if version == state.version {
            state.seen = true;
            let acknowledged = offset.min(state.written()).saturating_sub(state.base);
            for record in state.records.drain(..acknowledged as usize).collect::<Vec<_>>() {
                state.weight -= (self.weigh)(&record);
            }
            state.base += acknowledged;
            if acknowledged > 0 {
                self.changed.notify_all();
            }
        }
        loop {
            let start = offset.max(state.base);
            if max_weight == 0 || start < state.written() || state.end_of_input || state.closed {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        let start = offset.max(state.base).min(state.written());
        let mut records = Vec::new();
        let mut weight = 0;
        let end = if max_weight == 0 { start } else { state.written() };
        for index in start..end {
            let record = &state.records[(index - state.base) as usize];
            weight += (self.weigh)(record);
            if !records.is_empty() && weight > max_weight {
                break;
            }
            records.push(record.clone());
        }
        let finished = state.end_of_input && start + records.len() as u64 == state.written();
        if finished && version == state.version {
            state.finish_seen = true;
            self.changed.notify_all();
        }
        Page {
            version: state.version,
            offset: start,
            records,
            committed: state.committed,
            restored: state.restored,
            finished,
        }
    }

    /// The reader is gone (or the job is cancelled): a waiting sink fails.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(_: &u32) -> usize {
        1
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn pages_acknowledge_by_offset_and_a_lost_page_is_sent_again() {
        let buffer = CollectBuffer::new(100, one, false);
        let v = buffer.begin_attempt(None);
        buffer.push(v, 0..10, None).unwrap();
        let page = buffer.fetch(v, 0, 4, NOW);
        assert_eq!(
            (page.offset, page.records.clone(), page.committed, page.finished),
            (0, vec![0, 1, 2, 3], 10, false)
        );
        // The reader lost that page: asking for offset 0 again gets the same records.
        assert_eq!(buffer.fetch(v, 0, 4, NOW), page);
        let page = buffer.fetch(v, 4, 100, NOW);
        assert_eq!(page.records, vec![4, 5, 6, 7, 8, 9]);
        // Everything acknowledged before the input ended: the end is still to be told.
        assert!(buffer.fetch(v, 10, 100, NOW).records.is_empty());
        buffer.finish(v).unwrap();
        let waited = Instant::now();
        assert_eq!(buffer.wait_drained(v, Duration::from_millis(50), None), Ok(0));
        assert!(waited.elapsed() >= Duration::from_millis(50), "the sink waited for the reader to see the end");
        let last = buffer.fetch(v, 10, 100, NOW);
        assert!(last.records.is_empty() && last.finished);
        assert_eq!(buffer.wait_drained(v, Duration::from_secs(5), None), Ok(0));
    }

    #[test]
    fn a_full_buffer_holds_the_sink_until_the_reader_acknowledges() {
        let buffer = std::sync::Arc::new(CollectBuffer::new(3, one, false));
        let v = buffer.begin_attempt(None);
        let writer = {
            let buffer = buffer.clone();
            std::thread::spawn(move || buffer.push(v, 0..10, None))
        };
        let mut offset = 0;
        let mut seen = Vec::new();
        while seen.len() < 10 {
            let page = buffer.fetch(v, offset, 2, Duration::from_millis(50));
            assert!(buffer.lock().records.len() <= 3 + 1, "the buffer grew past its capacity");
            offset = page.offset + page.records.len() as u64;
            seen.extend(page.records);
        }
        writer.join().unwrap().unwrap();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn with_checkpoints_pages_say_how_far_a_completed_checkpoint_commits() {
        let buffer = std::sync::Arc::new(CollectBuffer::new(4, one, true));
        let v = buffer.begin_attempt(None);
        // Records are handed over before a checkpoint commits them (the reader holds
        // them), so the sink never waits on a checkpoint.
        buffer.push(v, 0..3, None).unwrap();
        let page = buffer.fetch(v, 0, 100, NOW);
        assert_eq!((page.records.clone(), page.committed), (vec![0, 1, 2], 0));
        let snapshot = buffer.snapshot(v, 1).unwrap();
        // Acknowledged, though not committed: room for more.
        assert!(buffer.fetch(v, 3, 100, NOW).records.is_empty());
        buffer.push(v, 3..6, None).unwrap();
        buffer.checkpoint_complete(v, 1).unwrap();
        let page = buffer.fetch(v, 3, 100, NOW);
        assert_eq!((page.records.clone(), page.committed), (vec![3, 4, 5], 3));

        // The job restarts from checkpoint 1, which held records 0..3: they are final,
        // 3..6 are written again.
        let v2 = buffer.begin_attempt(Some(snapshot));
        assert_ne!(v, v2);
        assert_eq!(buffer.push(v, [9], None), Err(CollectError::Superseded));
        // A reader that has not seen the restart acknowledges nothing of the new attempt.
        let page = buffer.fetch(v, 6, 100, NOW);
        assert_eq!((page.version, page.committed, page.restored), (v2, 3, 3));
        // Having seen it, the reader goes on from the checkpoint's end.
        assert!(buffer.fetch(v2, 3, 100, NOW).records.is_empty());
        buffer.push(v2, 3..6, None).unwrap();
        buffer.finish(v2).unwrap();
        let page = buffer.fetch(v2, 3, 100, NOW);
        assert_eq!((page.offset, page.records, page.committed, page.finished), (3, vec![3, 4, 5], 6, true));
    }

    #[test]
    fn restarts_the_reader_did_not_see_keep_the_lowest_restore_point() {
        let buffer = CollectBuffer::new(100, one, true);
        let v1 = buffer.begin_attempt(None);
        buffer.push(v1, 0..6, None).unwrap();
        assert_eq!(buffer.fetch(v1, 0, 100, NOW).records.len(), 6);
        // Restored at 2; the reader does not look before the attempt checkpoints at 4
        // and fails in turn.
        let v2 = buffer.begin_attempt(Some((0, vec![0, 1])));
        buffer.push(v2, 2..4, None).unwrap();
        let snapshot = buffer.snapshot(v2, 1).unwrap();
        buffer.checkpoint_complete(v2, 1).unwrap();
        let v3 = buffer.begin_attempt(Some(snapshot));
        // Attempt 2 wrote again from 2 on: what the reader holds from there is void.
        let page = buffer.fetch(v1, 6, 100, NOW);
        assert_eq!((page.version, page.restored, page.committed), (v3, 2, 4));
    }

    #[test]
    fn closing_or_cancelling_releases_a_waiting_sink() {
        let buffer = std::sync::Arc::new(CollectBuffer::new(1, one, false));
        let v = buffer.begin_attempt(None);
        let writer = {
            let buffer = buffer.clone();
            std::thread::spawn(move || buffer.push(v, 0..10, None))
        };
        buffer.fetch(v, 0, 1, Duration::from_millis(20));
        buffer.close();
        assert_eq!(writer.join().unwrap(), Err(CollectError::Closed));

        let buffer = std::sync::Arc::new(CollectBuffer::new(1, one, false));
        let v = buffer.begin_attempt(None);
        let (handle, token) = crate::channel::cancellation();
        let writer = {
            let buffer = buffer.clone();
            std::thread::spawn(move || buffer.push(v, 0..10, Some(&token)))
        };
        handle.cancel();
        assert_eq!(writer.join().unwrap(), Err(CollectError::Cancelled));
    }

    #[test]
    fn draining_gives_up_when_no_reader_asks() {
        let buffer = CollectBuffer::new(10, one, false);
        let v = buffer.begin_attempt(None);
        buffer.push(v, 0..2, None).unwrap();
        buffer.finish(v).unwrap();
        assert_eq!(buffer.wait_drained(v, Duration::from_millis(50), None), Ok(2));
    }
}

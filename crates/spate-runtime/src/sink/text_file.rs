//! Text files, exactly once: part files written hidden and renamed into view when the
//! checkpoint that covers them completes (Flink's `FileSink` with a roll on every
//! checkpoint).
//!
//! Subtask `s` of attempt `A` writes `DIR/.part-s-N.inprogress.aA`; the checkpoint
//! barrier closes and syncs it (pre-commit), and the checkpoint's completion renames it
//! to `DIR/part-s-N` (commit). `N` counts the subtask's part files and is checkpointed,
//! so that a restarted job writes the same visible names again: the part files of an
//! attempt that failed stay hidden and never become visible. The attempt in the hidden
//! name keeps a worker of a failed attempt that still runs (on a stopped TaskManager)
//! from writing into, or removing, the file the new attempt writes; it commits nothing,
//! since only the current attempt is told that checkpoints completed. Hidden files of
//! failed attempts are left in place (as Flink's `FileSink` leaves them). Without
//! checkpointing, each subtask writes one part file, made visible when the job finishes.

use std::fmt::Display;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spate_core::{BoxError, StreamRecord, Unrecoverable, codec};

use super::two_phase_commit::{TwoPhaseCommitSinkWriter, TwoPhaseCommitWriter};
use super::{Sink, SinkWriter};
use crate::context::RuntimeContext;
use crate::functions::FnResult;

/// Writes each record's `Display` form as a line into part files in a directory, with
/// exactly-once visibility (see the module documentation).
///
/// The directory is created if missing; a part file of the same name is replaced.
#[derive(Clone, Debug)]
pub struct TextFileSink {
    dir: PathBuf,
}

impl TextFileSink {
    /// A sink writing into directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        TextFileSink { dir: dir.into() }
    }

    /// The visible name of part file `n` of subtask `index`.
    pub fn part_file(&self, index: u32, n: u64) -> PathBuf {
        self.dir.join(format!("part-{index}-{n}"))
    }
}

impl<T: Display + 'static> Sink<T> for TextFileSink {
    fn name(&self) -> String {
        format!("FileSink({})", self.dir.display())
    }

    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<T>>, BoxError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create output directory {}: {e}", self.dir.display()))?;
        let files = PartFiles {
            dir: self.dir.clone(),
            subtask: ctx.subtask_index(),
            attempt: ctx.attempt_number(),
            next: 0,
            out: None,
        };
        Ok(Box::new(TwoPhaseCommitSinkWriter::new(files, ctx)?))
    }
}

/// A part file being written: its number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartFile {
    subtask: u32,
    n: u64,
    /// The attempt that wrote it.
    attempt: u32,
}

/// The part files of one subtask.
struct PartFiles {
    dir: PathBuf,
    subtask: u32,
    /// The attempt this writer runs in.
    attempt: u32,
    /// The number of the next part file.
    next: u64,
    /// The open in-progress file.
    out: Option<(BufWriter<File>, PathBuf)>,
}

impl PartFiles {
    fn in_progress(&self, part: &PartFile) -> PathBuf {
        self.dir.join(format!(".part-{}-{}.inprogress.a{}", part.subtask, part.n, part.attempt))
    }

    fn visible(&self, part: &PartFile) -> PathBuf {
        self.dir.join(format!("part-{}-{}", part.subtask, part.n))
    }
}

fn io_error(path: &Path, what: &str, e: std::io::Error) -> BoxError {
    format!("{what} {}: {e}", path.display()).into()
}

impl<T: Display> TwoPhaseCommitWriter<T> for PartFiles {
    type Transaction = PartFile;

    fn begin(&mut self) -> Result<PartFile, BoxError> {
        let part = PartFile { subtask: self.subtask, n: self.next, attempt: self.attempt };
        self.next += 1;
        let path = self.in_progress(&part);
        let file = File::create(&path).map_err(|e| io_error(&path, "cannot create", e))?;
        self.out = Some((BufWriter::with_capacity(256 * 1024, file), path));
        Ok(part)
    }

    fn write(&mut self, _part: &mut PartFile, batch: &mut Vec<StreamRecord<T>>) -> FnResult {
        let Some((out, path)) = &mut self.out else { return Err("a part file was written after it was closed".into()) };
        for record in batch.drain(..) {
            writeln!(out, "{}", record.value).map_err(|e| io_error(path, "writing", e))?;
        }
        Ok(())
    }

    fn pre_commit(&mut self, _part: &mut PartFile) -> FnResult {
        if let Some((out, path)) = self.out.take() {
            let file = out.into_inner().map_err(|e| io_error(&path, "writing", e.into_error()))?;
            file.sync_data().map_err(|e| io_error(&path, "syncing", e))?;
        }
        Ok(())
    }

    fn commit(&mut self, part: PartFile) -> FnResult {
        let (from, to) = (self.in_progress(&part), self.visible(&part));
        match std::fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            // Committed before the restart that commits it again.
            Err(_) if !from.exists() && to.exists() => Ok(()),
            // A completed checkpoint holds this file, and a restart would find it missing
            // again (e.g. the job was restored with another output directory).
            Err(e) if !from.exists() => Err(Box::new(Unrecoverable::new(format!(
                "cannot commit part file {}: {e}: the pending file of a completed checkpoint is missing \
                 (was the job restored with another output directory than {}?)",
                from.display(),
                self.dir.display()
            )))),
            Err(e) => Err(io_error(&from, "cannot commit part file", e)),
        }
    }

    fn abort(&mut self, part: PartFile) -> FnResult {
        self.out = None;
        let path = self.in_progress(&part);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path, "cannot remove", e)),
            _ => Ok(()),
        }
    }

    fn writer_state(&self) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(Some(codec::encode(&(self.subtask, self.next))?))
    }

    fn restore_writer_state(&mut self, states: &[Vec<u8>]) -> FnResult {
        // Continue this subtask's numbering (after a rescale, subtask s continues the
        // old subtask s's), so that a committed part file is never written again.
        for bytes in states {
            let (subtask, next): (u32, u64) = codec::decode(bytes)?;
            if subtask == self.subtask {
                self.next = self.next.max(next);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::FINAL_CHECKPOINT;
    use crate::checkpoint::{OperatorSnapshot, RestoredState};
    use crate::context::test_context;

    fn write(writer: &mut dyn SinkWriter<u32>, values: &[u32]) {
        let mut batch: Vec<StreamRecord<u32>> = values.iter().map(|v| StreamRecord::new(*v)).collect();
        writer.write_batch(&mut batch).unwrap();
    }

    fn visible(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn part_files_become_visible_only_when_their_checkpoint_completes() {
        let dir = std::env::temp_dir().join(format!("spate-text-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sink = TextFileSink::new(&dir);
        let mut ctx = test_context(std::sync::Arc::new(crate::time::SystemClock), false);
        let mut writer = Sink::<u32>::create_writer(&sink, &mut ctx).unwrap();
        write(writer.as_mut(), &[1, 2]);
        let mut snapshot = OperatorSnapshot::default();
        writer.snapshot_state(1, &mut snapshot).unwrap();
        write(writer.as_mut(), &[3]);
        assert!(visible(&dir).is_empty(), "nothing is visible before checkpoint 1 completes");
        writer.notify_checkpoint_complete(1).unwrap();
        assert_eq!(visible(&dir), vec!["part-0-0"]);
        assert_eq!(std::fs::read_to_string(sink.part_file(0, 0)).unwrap(), "1\n2\n");

        // Checkpoint 2 records part 1 as pending; the job fails before it completes.
        let mut second = OperatorSnapshot::default();
        writer.snapshot_state(2, &mut second).unwrap();
        write(writer.as_mut(), &[4]);
        writer.close().unwrap();
        assert_eq!(visible(&dir), vec!["part-0-0"], "a failed attempt's output stays hidden");

        // Restored from checkpoint 2 (which completed after all): part 1 is committed,
        // and numbering continues after it.
        let restored = RestoredState::assemble(&[&second], spate_core::KeyGroupRange { start: 0, end: 1 }, 0, 1);
        let mut ctx = test_context(std::sync::Arc::new(crate::time::SystemClock), false)
            .with_restored(Some(std::rc::Rc::new(restored)));
        let mut writer = Sink::<u32>::create_writer(&sink, &mut ctx).unwrap();
        assert_eq!(visible(&dir), vec!["part-0-0", "part-0-1"]);
        write(writer.as_mut(), &[5]);
        writer.notify_checkpoint_complete(FINAL_CHECKPOINT).unwrap();
        assert_eq!(visible(&dir), vec!["part-0-0", "part-0-1", "part-0-2"]);
        assert_eq!(std::fs::read_to_string(sink.part_file(0, 2)).unwrap(), "5\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

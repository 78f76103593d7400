//! What `/taskmanagers/:id/log` and `/stdout` show: the TaskManager's log — its
//! standard error, when that is a file (`spate cluster start` makes it one; in the
//! foreground it is the terminal or a journal, which the TaskManager cannot read back) —
//! and what its workers printed, job directory by job directory, oldest first.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crate::rpc::{OutputKind, WorkerRefusal};

/// The last `max_bytes` of the output `kind`.
pub(crate) fn read(kind: OutputKind, dir: &Path, max_bytes: u64) -> Result<String, WorkerRefusal> {
    let failed = |what: String| WorkerRefusal::Output(what);
    match kind {
        OutputKind::Log => {
            let path = std::fs::read_link("/proc/self/fd/2")
                .map_err(|e| failed(format!("cannot tell where this TaskManager logs: {e}")))?;
            if !path.is_file() {
                return Err(failed(format!(
                    "this TaskManager logs to {}, not to a file (started in the foreground?)",
                    path.display()
                )));
            }
            tail(&path, max_bytes).map_err(|e| failed(format!("{}: {e}", path.display())))
        }
        OutputKind::Stdout => {
            let mut outputs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| e.path().join("worker.out"))
                        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
                        .collect()
                })
                .unwrap_or_default();
            // Newest first until the budget is spent, then back in time order; a file
            // that cannot be read is skipped.
            outputs.sort();
            let mut budget = max_bytes;
            let mut parts = Vec::new();
            for (_, path) in outputs.iter().rev() {
                if budget == 0 {
                    break;
                }
                if let Ok(text) = tail(path, budget) {
                    budget = budget.saturating_sub(text.len() as u64);
                    parts.push(text);
                }
            }
            parts.reverse();
            Ok(parts.concat())
        }
    }
}

/// The last `max_bytes` of `path`, as text (invalid UTF-8 replaced; a character cut at
/// the start of the tail shows as a replacement character).
fn tail(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_joins_the_workers_outputs_and_keeps_the_tail() {
        let dir = std::env::temp_dir().join(format!("spate-output-{}", std::process::id()));
        for (job, text) in [("job-a-0", "first\n"), ("job-b-0", "second\n")] {
            std::fs::create_dir_all(dir.join(job)).unwrap();
            std::fs::write(dir.join(job).join("worker.out"), text).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(read(OutputKind::Stdout, &dir, 1 << 20).unwrap(), "first\nsecond\n");
        assert_eq!(read(OutputKind::Stdout, &dir, 7).unwrap(), "second\n");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(OutputKind::Stdout, &dir, 100).unwrap(), "");
    }
}

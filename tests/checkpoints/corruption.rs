//! Damaged checkpoints: a truncated state file, a flipped byte, a missing `_metadata`
//! are each found before anything runs, named in the error, and an older complete
//! checkpoint is used instead when there is one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use spate::prelude::*;
use spate::{CheckpointStatus, TextFileSink};

use crate::{Throttle, temp_dir};

/// Runs a keyed count into `out` with checkpoints every 20 ms retained in `dir` (three
/// of them), killed (cancelled) once a few completed; returns the retained `chk-N`
/// directories, oldest first.
fn retained_checkpoints(dir: &Path, out: &Path) -> Vec<PathBuf> {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(2);
    env.enable_checkpointing(Duration::from_millis(20));
    env.set_config("execution.checkpointing.dir", dir.to_str().unwrap()).unwrap();
    env.set_config("execution.checkpointing.num-retained", "3").unwrap();
    pipeline(&env, out);
    let job = env.execute_async("counts").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while job.checkpoint_stats().iter().filter(|s| s.status == CheckpointStatus::Completed).count() < 4 {
        assert!(std::time::Instant::now() < deadline, "checkpoints complete");
        std::thread::sleep(Duration::from_millis(10));
    }
    job.cancel();
    assert!(job.wait().is_err());
    let job_dir = std::fs::read_dir(dir).unwrap().next().unwrap().unwrap().path();
    let mut chks: Vec<(u64, PathBuf)> = std::fs::read_dir(&job_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    chks.sort();
    assert_eq!(chks.len(), 3, "execution.checkpointing.num-retained keeps three: {chks:?}");
    chks.into_iter().map(|(_, p)| p).collect()
}

fn pipeline(env: &StreamEnv, out: &Path) {
    env.from_sequence(0..200_000)
        .uid("numbers")
        .map_function(Throttle(20, 0))
        .key_by(|i: &i64| i % 10)
        .reduce(|a: i64, b: i64| a + b)
        .uid("sums")
        .map(|s: i64| s.to_string())
        .sink_to(TextFileSink::new(out))
        .uid("files");
}

fn restore(path: &Path, out: &Path) -> spate::Result<JobClient> {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(2);
    env.set_config("execution.savepoint.path", path.to_str().unwrap()).unwrap();
    env.enable_checkpointing(Duration::from_millis(20));
    pipeline(&env, out);
    env.execute_async("counts")
}

fn state_file(chk: &Path) -> PathBuf {
    std::fs::read_dir(chk)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with("state-") && std::fs::metadata(p).unwrap().len() > 200
        })
        .expect("a state file with keyed state")
}

#[test]
fn damaged_checkpoints_are_detected_and_named() {
    let dir = temp_dir("corrupt");
    let out = dir.join("out");
    let chks = retained_checkpoints(&dir.join("checkpoints"), &out);
    let [oldest, middle, newest] = [&chks[0], &chks[1], &chks[2]];
    // A flipped byte in the newest: found, and the middle one is used.
    let file = state_file(newest);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[40] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let job = restore(newest, &out).expect("falls back to an older checkpoint");
    // Checkpoint numbers continue after the one restored: the middle one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(s) = job.checkpoint_stats().first() {
            break s.id;
        }
        assert!(std::time::Instant::now() < deadline, "the restored job checkpoints");
        std::thread::sleep(Duration::from_millis(5));
    };
    job.cancel();
    let _ = job.wait();
    assert_eq!(first, chk_id(middle) + 1, "restored from {}", middle.display());

    // Every one damaged: a clear error naming each problem.
    let file = state_file(middle);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(oldest.join("_metadata")).unwrap();
    let text = restore(newest, &out).err().expect("no usable checkpoint").to_string();
    assert!(text.contains("checksum") && text.contains(file_name(&state_file(newest))), "{text}");
    assert!(text.contains("bytes, ") && text.contains(file_name(&file)), "truncated file named: {text}");
    assert!(text.contains("_metadata"), "missing metadata named: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn chk_id(p: &Path) -> u64 {
    file_name(p).strip_prefix("chk-").unwrap().parse().unwrap()
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

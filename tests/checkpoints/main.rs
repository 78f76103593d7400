//! End-to-end tests of fault tolerance on the embedded mini-cluster: failures injected
//! at chosen records, restarts from checkpoints, savepoints and rescaling, damaged
//! checkpoints and restart strategies. The promise under test: the committed output of
//! a job is exactly that of a run without failure.

mod collect;
mod corruption;
mod failover;
mod failure_handling;
mod restart;
mod savepoints;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spate::prelude::*;

/// An environment with parallelism `p`, checkpoints every `interval_ms` into `dir`, and
/// immediate restarts.
pub fn env(p: u32, interval_ms: u64, dir: &Path) -> StreamEnv {
    let env = StreamEnv::local().expect("default configuration is valid");
    env.set_parallelism(p);
    if interval_ms > 0 {
        env.enable_checkpointing(std::time::Duration::from_millis(interval_ms));
    }
    env.set_config("execution.checkpointing.dir", dir.to_str().unwrap()).unwrap();
    env.set_config("restart-strategy.type", "fixed-delay").unwrap();
    env.set_config("restart-strategy.fixed-delay.attempts", "20").unwrap();
    env.set_config("restart-strategy.fixed-delay.delay", "0 ms").unwrap();
    env
}

#[path = "../common/temp_dir.rs"]
mod temp;
pub use temp::TempDir;

/// A fresh directory for one test (`spate-ft-NAME-PID`), removed when dropped.
pub fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("ft-{name}"))
}

/// The lines of the visible part files in `dir`, counted (a multiset).
pub fn committed_lines(dir: &Path) -> BTreeMap<String, u32> {
    let mut lines = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return lines };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') || path.is_dir() {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            *lines.entry(line.to_string()).or_insert(0) += 1;
        }
    }
    lines
}

/// Slows a source down (1 ms every `.0` records per subtask), so that checkpoints
/// complete while the job runs: once every source finished, no barrier can be injected.
#[derive(Clone)]
pub struct Throttle(pub u64, pub u64);

impl<T: Send + 'static> MapFunction<T, T> for Throttle {
    fn map(&mut self, value: T) -> FnResult<T> {
        self.1 += 1;
        if self.1 % self.0 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(value)
    }
}

/// Fails chosen records, each once: when the job (over all its attempts and subtasks)
/// has passed `points[i]` records through it, the `i`-th failure happens. Also slows the
/// job down a little so that checkpoints complete between failures.
#[derive(Clone)]
pub struct FailurePlan {
    seen: Arc<AtomicU64>,
    points: Arc<Vec<u64>>,
    fired: Arc<AtomicU64>,
    pause_every: u64,
}

impl FailurePlan {
    /// Failures after `points` records (sorted), and a 1 ms pause every `pause_every`.
    pub fn new(mut points: Vec<u64>, pause_every: u64) -> Self {
        points.sort_unstable();
        FailurePlan {
            seen: Arc::new(AtomicU64::new(0)),
            points: Arc::new(points),
            fired: Arc::new(AtomicU64::new(0)),
            pause_every,
        }
    }

    /// `n` failure points drawn from `seed` in 1..`max`.
    pub fn random(seed: u64, n: usize, max: u64, pause_every: u64) -> Self {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let points = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % max.max(2)
            })
            .collect();
        FailurePlan::new(points, pause_every)
    }

    /// Counts a record; fails when a failure point is reached.
    pub fn step(&self) -> FnResult<()> {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if self.pause_every > 0 && n % self.pause_every == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let fired = self.fired.load(Ordering::Acquire) as usize;
        if let Some(&point) = self.points.get(fired) {
            if n >= point
                && self
                    .fired
                    .compare_exchange(fired as u64, fired as u64 + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Err(format!("injected failure {} after {n} records", fired + 1).into());
            }
        }
        Ok(())
    }

    /// How many failures happened.
    pub fn failures(&self) -> u64 {
        self.fired.load(Ordering::Acquire)
    }
}

/// Runs the job, checks that it succeeded and that checkpoints completed while it ran;
/// returns its checkpoint statistics.
pub fn run_with_checkpoints(env: &StreamEnv, name: &str) -> Vec<spate::CheckpointStats> {
    let job = env.execute_async(name).unwrap();
    assert!(job.wait_timeout(std::time::Duration::from_secs(120)), "{name}: the job ended");
    let stats = job.checkpoint_stats();
    job.wait().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        stats.iter().any(|s| s.status == spate::CheckpointStatus::Completed),
        "{name}: checkpoints completed during the run: {stats:?}"
    );
    stats
}

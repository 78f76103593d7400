//! Savepoints: stop a job with one, restore it at another parallelism, from a copy, with
//! and without state that no operator claims.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spate::prelude::*;
use spate::{Error, TextFileSink};

use crate::{Throttle, committed_lines, temp_dir};

const RECORDS: i64 = 30_000;
const KEYS: i64 = 50;

/// Every running sum a keyed sum of `i % KEYS` over 0..RECORDS emits.
fn expected() -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for k in 0..KEYS {
        let mut sum = 0;
        let mut i = k;
        while i < RECORDS {
            sum += i;
            *out.entry(format!("{k} {sum}")).or_insert(0) += 1;
            i += KEYS;
        }
    }
    out
}

struct Job<'a> {
    parallelism: u32,
    savepoint: Option<&'a str>,
    sum_uid: &'a str,
    max_parallelism: Option<u32>,
    ignore_unclaimed: bool,
}

impl Default for Job<'_> {
    fn default() -> Self {
        Job { parallelism: 1, savepoint: None, sum_uid: "sums", max_parallelism: None, ignore_unclaimed: false }
    }
}

fn start(job: Job<'_>, out: &Path) -> spate::Result<JobClient> {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(job.parallelism);
    if let Some(m) = job.max_parallelism {
        env.set_max_parallelism(m);
    }
    if let Some(path) = job.savepoint {
        env.set_config("execution.savepoint.path", path).unwrap();
    }
    if job.ignore_unclaimed {
        env.set_config("execution.savepoint.ignore-unclaimed-state", "true").unwrap();
    }
    env.from_sequence(0..RECORDS)
        .uid("numbers")
        .map_function(Throttle(25, 0))
        .map(|i: i64| (i % KEYS, i))
        .key_by(|(k, _): &(i64, i64)| *k)
        .reduce(|a: (i64, i64), b: (i64, i64)| (a.0, a.1 + b.1))
        .uid(job.sum_uid)
        .map(|(k, sum): (i64, i64)| format!("{k} {sum}"))
        .sink_to(TextFileSink::new(out))
        .uid("files");
    env.execute_async("sums")
}

/// Runs for `after`, then stops with a savepoint; returns its path.
fn stop_midway(job: JobClient, savepoints: &Path, after: Duration) -> String {
    std::thread::sleep(after);
    let path = job.stop_with_savepoint(savepoints).expect("savepoint");
    job.wait().expect("a job stopped with a savepoint finishes");
    path
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn restoring_at_parallelism_one_then_three_then_two_gives_the_uninterrupted_result() {
    let dir = temp_dir("rescale");
    let (out, savepoints) = (dir.join("out"), dir.join("savepoints"));
    let first = start(Job::default(), &out).unwrap();
    let one = stop_midway(first, &savepoints, Duration::from_millis(300));
    assert!(Path::new(&one).join("_metadata").is_file(), "{one}");

    // The savepoint is self-contained: restore the second run from a copy of it.
    let copied: PathBuf = dir.join("copied-savepoint");
    copy_dir(Path::new(&one), &copied);
    std::fs::remove_dir_all(&one).unwrap();
    let second =
        start(Job { parallelism: 3, savepoint: Some(copied.to_str().unwrap()), ..Job::default() }, &out).unwrap();
    let two = stop_midway(second, &savepoints, Duration::from_millis(300));

    let third = start(Job { parallelism: 2, savepoint: Some(&two), ..Job::default() }, &out).unwrap();
    third.wait().unwrap();
    assert_eq!(committed_lines(&out), expected(), "the three runs together emitted every sum exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn state_without_an_operator_is_an_error_unless_ignored_and_max_parallelism_is_fixed() {
    let dir = temp_dir("unclaimed");
    let (out, savepoints) = (dir.join("out"), dir.join("savepoints"));
    let first = start(Job::default(), &out).unwrap();
    let path = stop_midway(first, &savepoints, Duration::from_millis(200));

    let renamed = Job { savepoint: Some(&path), sum_uid: "renamed-sums", ..Job::default() };
    let err = start(renamed, &dir.join("out2")).err().expect("unclaimed state is refused");
    let text = err.to_string();
    assert!(matches!(err, Error::Restore(_)), "{text}");
    assert!(text.contains("sums") && text.contains("execution.savepoint.ignore-unclaimed-state"), "{text}");

    let ignoring = Job { savepoint: Some(&path), sum_uid: "renamed-sums", ignore_unclaimed: true, ..Job::default() };
    start(ignoring, &out).unwrap().wait().unwrap();

    let other_groups = Job { savepoint: Some(&path), max_parallelism: Some(64), ..Job::default() };
    let text = start(other_groups, &dir.join("out4")).err().expect("max parallelism cannot change").to_string();
    assert!(text.contains("max parallelism") && text.contains("128") && text.contains("64"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A windowed count per key over event time `i` (ms), into part files; stopped midway
/// with a savepoint, drained or not.
fn windowed_counts_stopped(out: &Path, savepoints: &Path, drain: bool) -> BTreeMap<String, u32> {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(2);
    env.from_sequence(0..10_000_000i64)
        .map_function(Throttle(25, 0))
        .assign_timestamps(WatermarkStrategy::for_monotonous_timestamps(), |i, _| *i)
        .map(|i: i64| (i % 3, 1u64))
        .key_by(|(k, _)| *k)
        // Longer than the whole sequence's event time: one window per key.
        .window(TumblingEventTimeWindows::of(Duration::from_secs(100_000)))
        .reduce(|a, b| (a.0, a.1 + b.1))
        .map(|(k, n)| format!("{k} {n}"))
        .sink_to(TextFileSink::new(out));
    let job = env.execute_async("windows").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    if drain {
        job.stop_with_savepoint_and_drain(savepoints).expect("a drained savepoint");
    } else {
        job.stop_with_savepoint(savepoints).expect("a savepoint");
    }
    job.wait().expect("a stopped job finishes");
    committed_lines(out)
}

#[test]
fn a_drained_stop_fires_every_open_event_time_window_into_the_savepoint() {
    let dir = temp_dir("drain");
    // The window is open when the job stops: without draining nothing fired.
    let plain = windowed_counts_stopped(&dir.join("out-plain"), &dir.join("savepoints"), false);
    assert!(plain.is_empty(), "{plain:?}");
    // Draining advances event time to its end before the barrier: the window fires, and
    // the savepoint commits its output. Each key's count is what was read by then.
    let drained = windowed_counts_stopped(&dir.join("out-drained"), &dir.join("savepoints"), true);
    let keys: Vec<&str> = drained.keys().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(keys, ["0", "1", "2"], "{drained:?}");
    let counts: Vec<u64> = drained.keys().map(|l| l.split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert!(
        counts.iter().all(|n| *n > 0) && counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{counts:?}"
    );
}

//! `execute_and_collect` through failures: the program reads each result once, as a run
//! without failure gives them — the `Vec` form with and without checkpoints, the
//! iterator with checkpoints — and an iterator that cannot promise that says so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::prelude::*;

use crate::failover::{SplitLine, expected_word_counts};
use crate::{FailurePlan, Throttle, env, temp_dir};

/// The running counts of a word count over `lines` lines, read with `read`.
fn word_counts(
    env: &StreamEnv,
    lines: i64,
    plan: &FailurePlan,
    read: impl FnOnce(&DataStream<String>) -> Vec<String>,
) -> BTreeMap<String, u32> {
    let counts = env
        .from_sequence(0..lines)
        .map_function(Throttle(50, 0))
        .flat_map_function(SplitLine(Some(plan.clone())))
        .key_by(|(w, _): &(String, u64)| w.clone())
        .sum(|(_, n): &mut (String, u64)| n)
        .map(|(w, n): (String, u64)| format!("{w} {n}"));
    let mut seen = BTreeMap::new();
    for line in read(&counts) {
        *seen.entry(line).or_insert(0) += 1;
    }
    seen
}

#[test]
fn the_vec_form_reads_each_result_once_through_restarts_without_checkpoints() {
    for seed in 1..=3 {
        let dir = temp_dir(&format!("collect-vec-{seed}"));
        let lines = 3_000;
        let plan = FailurePlan::random(seed, 2, lines as u64, 0);
        let env = env(2, 0, &dir.join("checkpoints"));
        let seen = word_counts(&env, lines, &plan, |s| s.execute_and_collect().unwrap());
        assert_eq!(plan.failures(), 2, "seed {seed}");
        assert_eq!(seen, expected_word_counts(lines), "seed {seed}");
    }
}

#[test]
fn the_vec_and_iterator_forms_read_each_result_once_through_restarts_from_checkpoints() {
    for seed in 1..=3 {
        let dir = temp_dir(&format!("collect-ckpt-{seed}"));
        let lines = 4_000;
        let plan = FailurePlan::random(seed, 2, 2 * lines as u64, 20);
        let env = env(2, 20, &dir.join("checkpoints"));
        let seen = if seed % 2 == 0 {
            word_counts(&env, lines, &plan, |s| s.execute_and_collect().unwrap())
        } else {
            word_counts(&env, lines, &plan, |s| {
                s.execute_and_collect_iter().unwrap().collect::<spate::Result<Vec<_>>>().unwrap()
            })
        };
        assert_eq!(plan.failures(), 2, "seed {seed}");
        assert_eq!(seen, expected_word_counts(lines), "seed {seed}");
    }
}

/// Fails once, after the test said it has read a result.
#[derive(Clone)]
struct FailAfterRead(Arc<AtomicBool>, Arc<AtomicBool>);

impl MapFunction<i64, i64> for FailAfterRead {
    fn map(&mut self, value: i64) -> FnResult<i64> {
        if self.0.load(Ordering::Acquire) && !self.1.swap(true, Ordering::AcqRel) {
            return Err("injected failure after a result was read".into());
        }
        Ok(value)
    }
}

#[test]
fn an_iterator_without_checkpoints_fails_rather_than_repeat_results_after_a_restart() {
    let dir = temp_dir("collect-iter-restart");
    let env = env(1, 0, &dir.join("checkpoints"));
    let (read, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut results = env
        .from_sequence(0..i64::MAX)
        .map_function(FailAfterRead(read.clone(), failed.clone()))
        .execute_and_collect_iter()
        .unwrap();
    assert_eq!(results.next().unwrap().unwrap(), 0);
    read.store(true, Ordering::Release);
    let error = results.by_ref().find_map(Result::err).expect("the restart ends the iterator with an error");
    assert!(failed.load(Ordering::Acquire));
    let message = error.to_string();
    assert!(message.contains("restarted from scratch") && message.contains("checkpointing"), "{message}");
    assert!(results.next().is_none());
}

#[test]
fn dropping_an_iterator_cancels_its_unbounded_job() {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(2);
    let results = env.from_sequence(0..i64::MAX).execute_and_collect_iter().unwrap();
    let job = results.job_client().clone();
    let first: Vec<i64> = results.take(10_000).collect::<spate::Result<_>>().unwrap();
    assert_eq!(first.len(), 10_000);
    assert!(job.wait_timeout(std::time::Duration::from_secs(30)), "the job ended after the iterator was dropped");
    assert_eq!(job.status(), spate::JobStatus::Canceled);
}

#[test]
fn with_checkpoints_more_results_than_the_sink_holds_between_two_checkpoints_flow_once() {
    // 200 000 records arrive far faster than checkpoints complete: the reader holds
    // what is not committed yet, so the sink never waits on a checkpoint it could not
    // take while it waits.
    let dir = temp_dir("collect-ckpt-many");
    let env = env(2, 200, &dir.join("checkpoints"));
    let records = 200_000i64;
    let mut seen: Vec<i64> = env.from_sequence(0..records).map(|x| x * 2).execute_and_collect().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..records).map(|x| x * 2).collect::<Vec<_>>());
    let env = crate::env(2, 200, &dir.join("checkpoints-iter"));
    let mut seen =
        env.from_sequence(0..records).execute_and_collect_iter().unwrap().collect::<spate::Result<Vec<i64>>>().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, (0..records).collect::<Vec<_>>());
}

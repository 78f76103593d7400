//! Failures in user code, and cancellation: the job stops, the error names the
//! operator and the subtask, and no part of the job is left running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::{Error, JobStatus};

use crate::env;

/// Something every subtask's function holds a copy of: when the job has really ended,
/// only the test's own copy is left.
type Witness = Arc<()>;

fn assert_all_dropped(witness: &Witness) {
    assert_eq!(Arc::strong_count(witness), 1, "every subtask's function instance has been dropped");
}

#[test]
fn a_panic_fails_the_job_and_names_operator_and_subtask() {
    let witness: Witness = Arc::new(());
    let held = witness.clone();
    let env = env(3);
    env.from_sequence(0..100_000)
        .map(move |x: i64| {
            let _keep = &held;
            if x == 77_777 {
                panic!("cannot handle {x}");
            }
            x
        })
        .name("exploder")
        .rebalance()
        .add_sink(|_: i64| {});
    let err = env.execute("panicking job").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::JobFailed { .. }), "{text}");
    assert!(text.contains("operator 'exploder' panicked: cannot handle 77777"), "{text}");
    // 77777 lies in the third part of 0..100000 split three ways.
    assert!(text.contains("(3/3)"), "{text}");
    assert!(text.contains("panicking job"), "{text}");
    assert_all_dropped(&witness);
}

/// A map function that fails on one record.
#[derive(Clone)]
struct Picky;

impl MapFunction<i64, i64> for Picky {
    fn map(&mut self, value: i64) -> FnResult<i64> {
        if value == 7 {
            return Err(format!("bad record {value}").into());
        }
        Ok(value)
    }
}

#[test]
fn an_error_fails_the_job() {
    let env = env(1);
    env.from_sequence(0..100).map_function(Picky).name("picky").add_sink(|_: i64| {});
    let text = env.execute("erroring job").unwrap_err().to_string();
    assert!(text.contains("operator 'picky' failed: bad record 7"), "{text}");
    assert!(text.contains("(1/1)"), "{text}");
}

/// A function that cannot open.
#[derive(Clone)]
struct NeverOpens;

impl MapFunction<i64, i64> for NeverOpens {
    fn open(&mut self, _ctx: &mut RuntimeContext) -> FnResult {
        Err("no connection to the database".into())
    }
    fn map(&mut self, value: i64) -> FnResult<i64> {
        Ok(value)
    }
}

#[test]
fn a_failure_in_open_fails_the_job() {
    let env = env(2);
    env.from_sequence(0..100).map_function(NeverOpens).name("lookup").add_sink(|_: i64| {});
    let text = env.execute("cannot open").unwrap_err().to_string();
    assert!(text.contains("operator 'lookup' failed: no connection to the database"), "{text}");
}

#[test]
fn a_failing_sink_stops_a_source_blocked_by_backpressure() {
    let witness: Witness = Arc::new(());
    let held = witness.clone();
    let env = env(1);
    env.set_config("execution.records-per-batch", "16").unwrap();
    env.set_config("taskmanager.network.memory.buffers-per-channel", "1").unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    env.from_generator(
        move |i| {
            let _keep = &held;
            i
        },
        None,
    )
    .rebalance()
    .add_sink(move |_: u64| {
        if counter.fetch_add(1, Ordering::SeqCst) == 5_000 {
            panic!("disk full");
        }
    })
    .name("fragile sink");
    let started = Instant::now();
    let text = env.execute("blocked source").unwrap_err().to_string();
    assert!(text.contains("'Sink: fragile sink' panicked: disk full"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_all_dropped(&witness);
}

#[test]
fn cancel_stops_an_unbounded_job() {
    let witness: Witness = Arc::new(());
    let held = witness.clone();
    let env = env(2);
    env.from_generator(
        move |i| {
            let _keep = &held;
            i
        },
        None,
    )
    .key_by(|i: &u64| i % 1000)
    .reduce(|a: u64, b: u64| a.wrapping_add(b))
    .add_sink(|_: u64| {});
    let job = env.execute_async("endless").unwrap();
    assert!(!job.wait_timeout(Duration::from_millis(300)), "an unbounded job does not end by itself");
    assert_eq!(job.status(), JobStatus::Running);
    assert!(job.metrics()[0].records_out > 0, "the source is producing");
    job.cancel();
    assert!(job.wait_timeout(Duration::from_secs(10)), "cancel stops the job promptly");
    assert_eq!(job.status(), JobStatus::Canceled);
    let err = job.wait().unwrap_err();
    assert!(matches!(err, Error::JobCancelled { .. }), "{err}");
    assert_all_dropped(&witness);
}

#[test]
fn invalid_pipelines_are_reported_by_execute() {
    let env = env(2);
    let a = env.from_sequence(0..3);
    let b = env.from_sequence(3..6);
    a.union(&b).name("both").add_sink(|_: i64| {});
    let text = env.execute("misuse").unwrap_err().to_string();
    assert!(text.contains("name() applies to an operator"), "{text}");

    let env = crate::env(2);
    env.socket_text_stream("127.0.0.1", 1).set_parallelism(2).add_sink(|_: String| {});
    let text = env.execute("parallel socket").unwrap_err().to_string();
    assert!(text.contains("non-parallel source"), "{text}");

    let env = crate::env(2);
    env.from_sequence(0..3).map(|x: i64| x).set_parallelism(0);
    assert!(env.execute("zero").unwrap_err().to_string().contains("parallelism must be at least 1"));

    let env = crate::env(200);
    env.from_sequence(0..3).add_sink(|_: i64| {});
    env.set_max_parallelism(100);
    let text = env.execute("too wide").unwrap_err().to_string();
    assert!(text.contains("exceeds its max parallelism (100)"), "{text}");
}

//! Restart strategies as the job master applies them: how often, how soon, and when it
//! gives up (short delays keep the tests fast; the strategies' arithmetic is tested with
//! a fake clock in `spate-runtime`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use spate::prelude::*;
use spate::{Error, JobStatus};

/// A job whose map fails on its first record in each of its first `failures` attempts.
fn failing_job(env: &StreamEnv, failures: u32) -> Arc<AtomicU32> {
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = attempts.clone();
    env.from_sequence(0..10)
        .map_function(FailFirst { failures, attempts: seen, opened_attempt: 0 })
        .add_sink(|_: i64| {});
    attempts
}

#[derive(Clone)]
struct FailFirst {
    failures: u32,
    attempts: Arc<AtomicU32>,
    opened_attempt: u32,
}

impl MapFunction<i64, i64> for FailFirst {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.opened_attempt = ctx.attempt_number();
        self.attempts.fetch_max(ctx.attempt_number() + 1, Ordering::SeqCst);
        Ok(())
    }
    fn map(&mut self, v: i64) -> FnResult<i64> {
        if self.opened_attempt < self.failures {
            return Err(format!("failure in attempt {}", self.opened_attempt).into());
        }
        Ok(v)
    }
}

fn env(settings: &[(&str, &str)]) -> StreamEnv {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(1);
    for (k, v) in settings {
        env.set_config(k, v).unwrap();
    }
    env
}

#[test]
fn fixed_delay_restarts_after_its_delay_and_gives_up_after_its_attempts() {
    let env = env(&[
        ("restart-strategy.type", "fixed-delay"),
        ("restart-strategy.fixed-delay.attempts", "3"),
        ("restart-strategy.fixed-delay.delay", "60 ms"),
    ]);
    let attempts = failing_job(&env, 3);
    let started = Instant::now();
    env.execute("recovers").unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 4, "three restarts");
    assert!(started.elapsed() >= Duration::from_millis(180), "three delays of 60 ms: {:?}", started.elapsed());

    let attempts = failing_job(&env, 4);
    let err = env.execute("gives up").unwrap_err();
    assert!(matches!(err, Error::JobFailed { .. }), "{err}");
    assert!(err.to_string().contains("failure in attempt 3"), "the last failure is reported: {err}");
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
}

#[test]
fn no_restart_strategy_fails_at_once_and_none_is_the_default_without_checkpoints() {
    for settings in [vec![("restart-strategy.type", "none")], vec![]] {
        let env = env(&settings);
        let attempts = failing_job(&env, 1);
        assert!(env.execute("fails").is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "{settings:?}");
    }
}

#[test]
fn failure_rate_gives_up_when_failures_come_too_fast() {
    let env = env(&[
        ("restart-strategy.type", "failure-rate"),
        ("restart-strategy.failure-rate.max-failures-per-interval", "2"),
        ("restart-strategy.failure-rate.failure-rate-interval", "1 min"),
        ("restart-strategy.failure-rate.delay", "10 ms"),
    ]);
    let attempts = failing_job(&env, 10);
    assert!(env.execute("too many failures").is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "two restarts within the interval, then give up");
}

#[test]
fn exponential_delay_waits_longer_each_time_and_cancel_stops_a_waiting_restart() {
    let env = env(&[
        ("restart-strategy.type", "exponential-delay"),
        ("restart-strategy.exponential-delay.initial-backoff", "20 ms"),
        ("restart-strategy.exponential-delay.backoff-multiplier", "3"),
        ("restart-strategy.exponential-delay.jitter-factor", "0"),
        ("restart-strategy.exponential-delay.max-backoff", "10 s"),
    ]);
    let attempts = failing_job(&env, 3);
    let started = Instant::now();
    env.execute("backs off").unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    // 20 + 60 + 180 ms.
    assert!(started.elapsed() >= Duration::from_millis(260), "{:?}", started.elapsed());

    let env = env_with_long_backoff();
    let _attempts = failing_job(&env, 100);
    let job = env.execute_async("cancelled while restarting").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while job.status() != JobStatus::Restarting {
        assert!(Instant::now() < deadline, "the job waits to restart");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cancelled = Instant::now();
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::JobCancelled { .. })));
    assert!(cancelled.elapsed() < Duration::from_secs(5), "cancel does not wait out the backoff");
}

fn env_with_long_backoff() -> StreamEnv {
    env(&[
        ("restart-strategy.type", "exponential-delay"),
        ("restart-strategy.exponential-delay.initial-backoff", "30 s"),
        ("restart-strategy.exponential-delay.jitter-factor", "0"),
    ])
}

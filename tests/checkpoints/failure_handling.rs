//! Failures that a restart cannot fix, and snapshots that cannot be taken: a missing
//! pending file or an `Unrecoverable` error fails the job at once whatever the restart
//! strategy allows; state that cannot be read back fails the savepoint or checkpoint
//! that would hold it (not the job, not a later restore), and failed checkpoints count
//! against `execution.checkpointing.tolerable-failed-checkpoints`; a corrupt savepoint
//! given explicitly is refused without talk of an older one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spate::prelude::*;
use spate::{CheckpointKind, CheckpointStatus, Error, JobStatus, Sink, SinkWriter, TextFileSink};
use spate_core::Unrecoverable;

use crate::{Throttle, committed_lines, env, temp_dir};

/// Polls `done` every few milliseconds until it holds, failing the test (naming `what`)
/// after `secs` seconds: tests wait for a state of a running job this way, never with a
/// fixed sleep.
fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- 1. Errors a restart cannot fix -------------------------------------------------

/// Numbers, throttled so that the job is still writing when it is stopped, as lines into
/// part files in `out`.
fn numbers_into_files(env: &StreamEnv, out: &Path) {
    env.from_sequence(0..10_000_000)
        .uid("numbers")
        .map_function(Throttle(10, 0))
        .map(|i: i64| i.to_string())
        .sink_to(TextFileSink::new(out))
        .uid("files");
}

#[test]
fn a_pending_file_missing_after_a_restore_into_another_directory_fails_the_job_without_restarts() {
    let dir = temp_dir("missing-pending");
    let (first_out, second_out, savepoints) = (dir.join("out-1"), dir.join("out-2"), dir.join("savepoints"));
    let first = env(1, 50, &dir.join("checkpoints-1"));
    numbers_into_files(&first, &first_out);
    let job = first.execute_async("files").unwrap();
    wait_for("a checkpoint committed a part file", 60, || !committed_lines(&first_out).is_empty());
    // The source is far from done: the savepoint holds the part file written since the
    // last checkpoint as a pending (pre-committed) transaction.
    let savepoint = job.stop_with_savepoint(&savepoints).expect("savepoint");
    job.wait().expect("a job stopped with a savepoint finishes");

    // Restored into another directory, the pending file is not where the savepoint's
    // transaction says. `env` allows 20 immediate restarts; none may be used.
    let second = crate::env(1, 50, &dir.join("checkpoints-2"));
    second.set_config("execution.savepoint.path", &savepoint).unwrap();
    numbers_into_files(&second, &second_out);
    let job = second.execute_async("files").expect("the savepoint itself is sound");
    assert!(job.wait_timeout(Duration::from_secs(60)), "the restored job fails");
    let restarts = job.restarts();
    let err = job.wait().expect_err("the pending file is missing");
    let text = err.to_string();
    assert!(matches!(err, Error::JobFailed { .. }), "{text}");
    assert_eq!(restarts, 0, "a restart cannot bring the file back: {text}");
    let missing = second_out.join(".part-0-").display().to_string();
    let at = text.find(&missing).unwrap_or_else(|| panic!("the missing pending file is named: {text}"));
    let n: String = text[at + missing.len()..].chars().take_while(char::is_ascii_digit).collect();
    assert!(text[at..].starts_with(&format!("{missing}{n}.inprogress")), "{text}");
    // The first run wrote that part into its own directory (visible if the stopping job
    // got to commit the savepoint before it ended, pending otherwise).
    let (visible, pending) =
        (first_out.join(format!("part-0-{n}")), first_out.join(format!(".part-0-{n}.inprogress.a0")));
    assert!(visible.is_file() || pending.is_file(), "the file named is the first run's part {n}: {text}");
    assert!(text.contains("pending file"), "{text}");
    assert!(text.contains(&format!("another output directory than {}", second_out.display())), "{text}");
    assert!(committed_lines(&second_out).is_empty(), "nothing became visible in the new directory");
    let _ = std::fs::remove_dir_all(&dir);
}

/// How [`Rejecting`] fails.
#[derive(Clone, Copy, Debug)]
enum Rejection {
    /// A plain error: a restart may help.
    Ordinary,
    /// [`Unrecoverable`] itself.
    Unrecoverable,
    /// An error of the function's own whose `source()` is [`Unrecoverable`].
    WrappingUnrecoverable,
}

/// An error of a user function that wraps an [`Unrecoverable`] cause, to check that the
/// job master looks through the error's sources.
#[derive(Debug)]
struct InputRejected(Unrecoverable);

impl std::fmt::Display for InputRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input rejected")
    }
}

impl std::error::Error for InputRejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Fails its first record in each of the first `failures` attempts, as `how` says;
/// counts the attempts it was opened in.
#[derive(Clone)]
struct Rejecting {
    how: Rejection,
    failures: u32,
    opened: Arc<AtomicU32>,
    attempt: u32,
}

impl MapFunction<i64, i64> for Rejecting {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.attempt = ctx.attempt_number();
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn map(&mut self, value: i64) -> FnResult<i64> {
        if self.attempt >= self.failures {
            return Ok(value);
        }
        let cause = format!("record {value} rejected in attempt {}", self.attempt);
        Err(match self.how {
            Rejection::Ordinary => cause.into(),
            Rejection::Unrecoverable => Box::new(Unrecoverable::new(cause)),
            Rejection::WrappingUnrecoverable => Box::new(InputRejected(Unrecoverable::new(cause))),
        })
    }
}

/// Runs a job whose map rejects records as `how` says in its first `failures` attempts,
/// with 20 immediate restarts allowed; returns its result, its restarts and how often
/// the map was opened.
fn run_rejecting(how: Rejection, failures: u32) -> (spate::Result<spate::JobExecutionResult>, u32, u32) {
    let env = StreamEnv::local().unwrap();
    env.set_parallelism(1);
    env.set_config("restart-strategy.type", "fixed-delay").unwrap();
    env.set_config("restart-strategy.fixed-delay.attempts", "20").unwrap();
    env.set_config("restart-strategy.fixed-delay.delay", "0 ms").unwrap();
    let opened = Arc::new(AtomicU32::new(0));
    env.from_sequence(0..10)
        .map_function(Rejecting { how, failures, opened: opened.clone(), attempt: 0 })
        .add_sink(|_: i64| {});
    let job = env.execute_async("rejecting").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "{how:?}: the job ends");
    let restarts = job.restarts();
    (job.wait(), restarts, opened.load(Ordering::SeqCst))
}

#[test]
fn an_unrecoverable_error_fails_the_job_without_a_restart_an_ordinary_one_is_restarted() {
    let (result, restarts, opened) = run_rejecting(Rejection::Ordinary, 2);
    result.expect("an ordinary error is restarted until the job succeeds");
    assert_eq!((restarts, opened), (2, 3), "two restarts, three attempts");

    for how in [Rejection::Unrecoverable, Rejection::WrappingUnrecoverable] {
        let (result, restarts, opened) = run_rejecting(how, u32::MAX);
        let err = result.expect_err("the job fails");
        let text = err.to_string();
        assert!(matches!(err, Error::JobFailed { .. }), "{how:?}: {text}");
        assert_eq!((restarts, opened), (0, 1), "{how:?}: the strategy's 20 restarts are not used: {text}");
        let cause = match how {
            Rejection::WrappingUnrecoverable => "input rejected",
            _ => "record 0 rejected in attempt 0",
        };
        assert!(text.contains(cause), "{how:?}: the cause is reported: {text}");
    }
}

// ---- 2. State that cannot round-trip ------------------------------------------------

/// The name the keyed process operator below is given, to be found in errors.
const OPERATOR: &str = "remember-shape";
/// The name of its value state, to be found in errors.
const STATE: &str = "last-shape";

/// Untagged: serde writes the variant's content without its name, and reading it back
/// needs a self-describing format (`deserialize_any`), which Spate's encoding is not.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Number(i64),
    Text(String),
}

impl From<i64> for Untagged {
    fn from(i: i64) -> Self {
        if i % 2 == 0 { Untagged::Number(i) } else { Untagged::Text(i.to_string()) }
    }
}

/// A struct with a flattened field: serde writes and reads it as a map of unknown
/// length, which Spate's encoding cannot read back.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flattened {
    id: i64,
    #[serde(flatten)]
    extra: Extra,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Extra {
    label: String,
}

impl From<i64> for Flattened {
    fn from(i: i64) -> Self {
        Flattened { id: i, extra: Extra { label: format!("#{i}") } }
    }
}

/// Internally tagged: serde reads the tag first from a buffered map, which needs
/// `deserialize_any` as well.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind")]
enum InternallyTagged {
    Even { value: i64 },
    Odd { value: i64 },
}

impl From<i64> for InternallyTagged {
    fn from(i: i64) -> Self {
        if i % 2 == 0 { InternallyTagged::Even { value: i } } else { InternallyTagged::Odd { value: i } }
    }
}

/// Arbitrary JSON: `serde_json::Value` reads itself with `deserialize_any`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Json(serde_json::Value);

impl From<i64> for Json {
    fn from(i: i64) -> Self {
        Json(serde_json::json!({ "value": i, "label": format!("#{i}") }))
    }
}

/// The same values as [`Untagged`], externally tagged (serde's default): round-trips.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Tagged {
    Number(i64),
    Text(String),
}

impl From<i64> for Tagged {
    fn from(i: i64) -> Self {
        if i % 2 == 0 { Tagged::Number(i) } else { Tagged::Text(i.to_string()) }
    }
}

/// Keeps the latest record of each key as an `S` in a value state; counts the records
/// it processed (over all its instances), so that tests can wait for state to exist and
/// see that the job goes on.
struct Remember<S> {
    state: Option<ValueState<S>>,
    seen: Arc<AtomicU64>,
}

impl<S> Clone for Remember<S> {
    fn clone(&self) -> Self {
        Remember { state: self.state, seen: self.seen.clone() }
    }
}

impl<S: spate_core::StateValue + Send + From<i64>> KeyedProcessFunction<i64, i64, i64> for Remember<S> {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.state = Some(ctx.get_state(&ValueStateDescriptor::new(STATE))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        value: i64,
        _ctx: &mut KeyedContext<'_, i64>,
        out: &mut Collector<'_, i64>,
    ) -> FnResult {
        self.state.as_ref().ok_or("not open")?.update(S::from(value))?;
        self.seen.fetch_add(1, Ordering::Relaxed);
        out.collect(value);
        Ok(())
    }
}

/// `records` numbers (throttled: about 10 per ms) over 16 keys into [`Remember`] of `S`;
/// returns its record counter.
fn remember<S: spate_core::StateValue + Send + From<i64>>(env: &StreamEnv, records: i64) -> Arc<AtomicU64> {
    let seen = Arc::new(AtomicU64::new(0));
    env.from_sequence(0..records)
        .uid("numbers")
        .map_function(Throttle(10, 0))
        .key_by(|i: &i64| i % 16)
        .process_function(Remember::<S> { state: None, seen: seen.clone() })
        .name(OPERATOR)
        .uid("shapes")
        .add_sink(|_: i64| {});
    seen
}

/// Checks that `text` names the operator, the state and the Rust type `S`.
fn names_state_and_type<S>(text: &str) {
    let type_name = std::any::type_name::<S>();
    assert!(text.contains(OPERATOR), "the operator is named: {text}");
    assert!(text.contains(&format!("'{STATE}'")), "the state is named: {text}");
    assert!(text.contains(type_name), "the type {type_name} is named: {text}");
}

/// Takes a savepoint of a running job with state of `S` (for which a savepoint is
/// expected to fail): the savepoint fails naming what cannot be written, the job goes
/// on, and is then cancelled.
fn savepoint_fails_and_the_job_goes_on<S: spate_core::StateValue + Send + From<i64>>(name: &str) {
    let dir = temp_dir(name);
    let env = env(1, 0, &dir.join("checkpoints"));
    let seen = remember::<S>(&env, 10_000_000);
    let job = env.execute_async("shapes").unwrap();
    wait_for("the state holds values", 30, || seen.load(Ordering::Relaxed) > 0);
    let err = job.trigger_savepoint(dir.join("savepoints")).expect_err("the state cannot be read back");
    let text = err.to_string();
    assert!(matches!(err, Error::SavepointFailed(_)), "{text}");
    names_state_and_type::<S>(&text);

    let after = seen.load(Ordering::Relaxed);
    wait_for("the job processes records after the failed savepoint", 30, || seen.load(Ordering::Relaxed) > after);
    assert!(!job.status().is_terminal(), "the job still runs: {:?}", job.status());
    assert_eq!(job.restarts(), 0, "and was not restarted");
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::JobCancelled { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_savepoint_of_an_untagged_enum_state_fails_and_the_job_goes_on() {
    savepoint_fails_and_the_job_goes_on::<Untagged>("savepoint-untagged");
}

#[test]
fn a_savepoint_of_an_internally_tagged_enum_state_fails_and_the_job_goes_on() {
    savepoint_fails_and_the_job_goes_on::<InternallyTagged>("savepoint-internally-tagged");
}

#[test]
fn a_savepoint_of_a_json_value_state_fails_and_the_job_goes_on() {
    savepoint_fails_and_the_job_goes_on::<Json>("savepoint-json");
}

#[test]
fn a_savepoint_of_a_flattened_struct_state_fails_and_the_job_goes_on() {
    savepoint_fails_and_the_job_goes_on::<Flattened>("savepoint-flatten");
}

#[test]
fn a_savepoint_of_state_that_round_trips_succeeds_and_restores() {
    let dir = temp_dir("savepoint-tagged");
    let env = env(1, 0, &dir.join("checkpoints"));
    let seen = remember::<Tagged>(&env, 10_000_000);
    let job = env.execute_async("shapes").unwrap();
    wait_for("the state holds values", 30, || seen.load(Ordering::Relaxed) > 0);
    let path = job.trigger_savepoint(dir.join("savepoints")).expect("the state round-trips");
    assert!(Path::new(&path).join("_metadata").is_file(), "{path}");
    job.cancel();
    let _ = job.wait();

    // The savepoint holds the state and it decodes: a job restored from it runs.
    let restored = crate::env(1, 0, &dir.join("checkpoints-2"));
    restored.set_config("execution.savepoint.path", &path).unwrap();
    let seen = remember::<Tagged>(&restored, 10_000_000);
    let job = restored.execute_async("shapes").expect("the savepoint restores");
    wait_for("the restored job processes records", 30, || seen.load(Ordering::Relaxed) > 0);
    assert!(!job.status().is_terminal(), "{:?}", job.status());
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::JobCancelled { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An environment checkpointing every 50 ms into `dir`, tolerating `tolerable` failed
/// checkpoints in a row, with 20 immediate restarts allowed (which a state that cannot
/// be written must not use: every attempt would fail the same way).
fn tolerating(dir: &Path, tolerable: u32) -> StreamEnv {
    let env = env(1, 50, dir);
    env.set_config("execution.checkpointing.tolerable-failed-checkpoints", &tolerable.to_string()).unwrap();
    env
}

/// The reasons of the failed checkpoints (not savepoints) among `stats`.
fn failed_checkpoints(stats: &[spate::CheckpointStats]) -> Vec<String> {
    stats
        .iter()
        .filter(|s| s.kind == CheckpointKind::Checkpoint)
        .filter_map(|s| match &s.status {
            CheckpointStatus::Failed(reason) => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn checkpoints_fail_the_job<S: spate_core::StateValue + Send + From<i64>>(name: &str) {
    let dir = temp_dir(name);
    let env = tolerating(&dir.join("checkpoints"), 2);
    // Long enough (about 5 s) that it cannot finish before three checkpoints fail.
    remember::<S>(&env, 50_000);
    let job = env.execute_async("shapes").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "the job ends");
    let (stats, restarts) = (job.checkpoint_stats(), job.restarts());
    let err = job.wait().expect_err("too many checkpoints failed");
    let text = err.to_string();
    assert!(matches!(err, Error::CheckpointsFailed { .. }), "{text}");
    assert!(
        text.contains("tolerable failure threshold (2, execution.checkpointing.tolerable-failed-checkpoints)"),
        "the threshold is named: {text}"
    );
    names_state_and_type::<S>(&text);
    assert_eq!(restarts, 0, "a state that cannot be written fails the job without restarts");
    assert!(failed_checkpoints(&stats).len() >= 3, "more than two failed: {stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn checkpoints_failing_on_an_untagged_enum_state_fail_the_job_past_the_tolerable_number() {
    checkpoints_fail_the_job::<Untagged>("tolerable-untagged");
}

#[test]
fn checkpoints_failing_on_a_flattened_struct_state_fail_the_job_past_the_tolerable_number() {
    checkpoints_fail_the_job::<Flattened>("tolerable-flatten");
}

#[test]
fn a_job_tolerating_its_failing_checkpoints_runs_to_its_end() {
    let dir = temp_dir("tolerable-many");
    let env = tolerating(&dir.join("checkpoints"), 1000);
    const RECORDS: i64 = 10_000;
    let seen = remember::<Untagged>(&env, RECORDS);
    let job = env.execute_async("shapes").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(120)), "the job ends");
    let stats = job.checkpoint_stats();
    job.wait().expect("failed checkpoints within the tolerable number do not fail the job");
    assert_eq!(seen.load(Ordering::Relaxed), RECORDS as u64, "every record processed once, without a failover");
    let failed = failed_checkpoints(&stats);
    let naming: Vec<&String> = failed.iter().filter(|r| r.contains(STATE)).collect();
    assert!(naming.len() >= 3, "checkpoints failed while the job ran: {stats:?}");
    for reason in &naming {
        names_state_and_type::<Untagged>(reason);
    }
    // Once the state held a value, no checkpoint completed.
    let first_failed = stats.iter().position(|s| matches!(s.status, CheckpointStatus::Failed(_))).unwrap();
    assert!(
        stats[first_failed..].iter().all(|s| s.status != CheckpointStatus::Completed),
        "every checkpoint after the first failed one failed too: {stats:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- 3. and 4. Savepoint storage, and a corrupt savepoint ---------------------------

/// Keyed running sums over 2000 keys (throttled), so that a savepoint holds a keyed state
/// file of some size; returns the sums' record counter.
fn sums(env: &StreamEnv) -> Arc<AtomicU64> {
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    env.from_sequence(0..10_000_000)
        .uid("numbers")
        .map_function(Throttle(10, 0))
        .key_by(|i: &i64| i % 2000)
        .reduce(|a: i64, b: i64| a + b)
        .uid("sums")
        .add_sink(move |_: i64| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    seen
}

#[test]
fn a_savepoint_into_an_unusable_directory_fails_alone_and_the_job_goes_on() {
    let dir = temp_dir("savepoint-storage");
    let env = env(1, 0, &dir.join("checkpoints"));
    let seen = sums(&env);
    let job = env.execute_async("sums").unwrap();
    wait_for("records reach the sink", 30, || seen.load(Ordering::Relaxed) > 0);
    let file = dir.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = job.trigger_savepoint(file.join("savepoints")).expect_err("no directory can be made under a file");
    let text = err.to_string();
    assert!(matches!(err, Error::Storage { .. }), "{text}");
    assert!(text.contains(&file.display().to_string()), "the directory is named: {text}");

    let after = seen.load(Ordering::Relaxed);
    wait_for("the job processes records after the failed savepoint", 30, || seen.load(Ordering::Relaxed) > after);
    assert_eq!(job.status(), JobStatus::Running);
    let path = job.trigger_savepoint(dir.join("savepoints")).expect("a savepoint into a usable directory");
    assert!(Path::new(&path).join("_metadata").is_file(), "{path}");
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::JobCancelled { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Captures what `tracing` logs on the thread that installs it (with
/// [`tracing::subscriber::with_default`]): the restore of a savepoint given to a job is
/// checked, and logged, on the thread that submits the job.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The largest state file of the checkpoint or savepoint in `dir`.
fn largest_state_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("state-"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a state file")
}

#[test]
fn a_corrupt_savepoint_given_explicitly_is_refused_without_an_older_one_to_try() {
    let dir = temp_dir("corrupt-savepoint");
    let env = env(1, 0, &dir.join("checkpoints"));
    let seen = sums(&env);
    let job = env.execute_async("sums").unwrap();
    // Enough records that every key holds a sum: a state file of some size.
    wait_for("records reach the sink", 60, || seen.load(Ordering::Relaxed) > 4000);
    let path = job.trigger_savepoint(dir.join("savepoints")).expect("savepoint");
    job.cancel();
    let _ = job.wait();
    let file = largest_state_file(Path::new(&path));
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 200, "{}: {} bytes", file.display(), bytes.len());
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();

    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    // A second dispatcher alive and a rebuild, so that no callsite's interest stays cached
    // as "never" from a thread without a subscriber (`tracing` caches it process-wide).
    let anchor = tracing::Dispatch::new(tracing_subscriber::fmt().with_writer(std::io::sink).finish());
    let subscriber = tracing::Dispatch::new(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let restored = tracing::dispatcher::with_default(&subscriber, || {
        let env = crate::env(1, 0, &dir.join("checkpoints-2"));
        env.set_config("execution.savepoint.path", &path).unwrap();
        sums(&env);
        env.execute_async("sums")
    });
    drop(anchor);
    let err = restored.err().expect("a corrupt savepoint is refused");
    let text = err.to_string();
    assert!(matches!(err, Error::Restore(_)), "{text}");
    assert!(text.contains(&path) && text.contains(file.file_name().unwrap().to_str().unwrap()), "{text}");
    assert!(!text.contains("older"), "no older checkpoint is claimed to be tried: {text}");
    let logged = log.text();
    assert!(
        logged.contains("checkpoint is not usable, and there is no older one to fall back to"),
        "the log says there is nothing to fall back to: {logged}"
    );
    assert!(!logged.contains("trying an older one"), "{logged}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stop_with_savepoint_commits_everything_the_savepoint_covers() {
    // Stopped with a savepoint, the job's visible output is exactly the records before
    // the savepoint's barrier: the savepoint's own staged part file is committed before
    // the tasks close (as Flink's stop-with-savepoint does), and nothing after it is.
    let dir = temp_dir("stop-commits");
    let (out, savepoints) = (dir.join("out"), dir.join("savepoints"));
    let first = env(1, 50, &dir.join("checkpoints"));
    numbers_into_files(&first, &out);
    let job = first.execute_async("files").unwrap();
    wait_for("a checkpoint committed a part file", 60, || !committed_lines(&out).is_empty());
    let savepoint = job.stop_with_savepoint(&savepoints).expect("savepoint");
    job.wait().expect("a job stopped with a savepoint finishes");
    let visible: Vec<i64> = committed_lines(&out).keys().map(|l| l.parse().unwrap()).collect();

    // Where the savepoint's source position is: the first record a job restored from it
    // reads (its file sink left out: the rest of the numbers are collected here).
    let rest = StreamEnv::local().unwrap();
    rest.set_parallelism(1);
    rest.set_config("execution.savepoint.path", &savepoint).unwrap();
    rest.set_config("execution.savepoint.ignore-unclaimed-state", "true").unwrap();
    let first_after = Arc::new(AtomicU64::new(u64::MAX));
    let seen = first_after.clone();
    rest.from_sequence(0..10_000_000).uid("numbers").add_sink(move |i| {
        seen.fetch_min(i as u64, Ordering::Relaxed);
    });
    let restored = rest.execute_async("rest").unwrap();
    wait_for("the restored job read a record", 60, || first_after.load(Ordering::Relaxed) != u64::MAX);
    restored.cancel();
    let _ = restored.wait();
    let position = first_after.load(Ordering::Relaxed) as i64;
    let mut sorted = visible.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..position).collect::<Vec<_>>(), "exactly the records before the savepoint are visible");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The transactions [`MemoryTransactions`] committed, by name.
type Committed = Arc<Mutex<std::collections::BTreeMap<(u32, u64), Vec<i64>>>>;

/// A transaction of [`MemoryTransactions`]: its name and the records it holds.
#[derive(Serialize, Deserialize)]
struct MemoryTransaction {
    key: (u32, u64),
    records: Vec<i64>,
}

/// Two-phase commit into a shared map (committing a transaction twice writes the same
/// entry), whose pre-commit fails once, at the `fail_at`-th pre-commit of the job.
struct MemoryTransactions {
    committed: Committed,
    subtask: u32,
    next: u64,
    pre_commits: Arc<AtomicU32>,
    fail_at: u32,
}

impl spate::TwoPhaseCommitWriter<i64> for MemoryTransactions {
    type Transaction = MemoryTransaction;
    fn begin(&mut self) -> Result<MemoryTransaction, spate::BoxError> {
        self.next += 1;
        Ok(MemoryTransaction { key: (self.subtask, self.next), records: Vec::new() })
    }
    fn write(&mut self, transaction: &mut MemoryTransaction, batch: &mut Vec<spate::StreamRecord<i64>>) -> FnResult {
        transaction.records.extend(batch.drain(..).map(|r| r.value));
        Ok(())
    }
    fn pre_commit(&mut self, _: &mut MemoryTransaction) -> FnResult {
        if self.pre_commits.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err("the pre-commit failed (disk full)".into());
        }
        Ok(())
    }
    fn commit(&mut self, transaction: MemoryTransaction) -> FnResult {
        self.committed.lock().unwrap().insert(transaction.key, transaction.records);
        Ok(())
    }
    fn abort(&mut self, _: MemoryTransaction) -> FnResult {
        Ok(())
    }
    fn writer_state(&self) -> Result<Option<Vec<u8>>, spate::BoxError> {
        Ok(Some(spate_core::codec::encode(&(self.subtask, self.next))?))
    }
    fn restore_writer_state(&mut self, states: &[Vec<u8>]) -> FnResult {
        for bytes in states {
            let (subtask, next): (u32, u64) = spate_core::codec::decode(bytes)?;
            if subtask == self.subtask {
                self.next = next;
            }
        }
        Ok(())
    }
}

/// The sink of [`MemoryTransactions`].
#[derive(Clone)]
struct MemorySink {
    committed: Committed,
    pre_commits: Arc<AtomicU32>,
    fail_at: u32,
}

impl Sink<i64> for MemorySink {
    fn create_writer(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SinkWriter<i64>>, spate::BoxError> {
        let writer = MemoryTransactions {
            committed: self.committed.clone(),
            subtask: ctx.subtask_index(),
            next: 0,
            pre_commits: self.pre_commits.clone(),
            fail_at: self.fail_at,
        };
        Ok(Box::new(spate::TwoPhaseCommitSinkWriter::new(writer, ctx)?))
    }
}

#[test]
fn a_failed_pre_commit_loses_nothing_even_when_checkpoint_failures_are_tolerated() {
    // The failing pre-commit declines its checkpoint; tolerated, the job would go on
    // and the next checkpoint would move the source past that transaction's records.
    // The sink instead fails its task at the next step: the job restarts from the last
    // checkpoint and the records are written again.
    let n = 20_000;
    let dir = temp_dir("failed-pre-commit");
    let env = env(1, 20, &dir.join("checkpoints"));
    env.set_config("execution.checkpointing.tolerable-failed-checkpoints", "100").unwrap();
    let sink = MemorySink { committed: Arc::default(), pre_commits: Arc::default(), fail_at: 3 };
    env.from_sequence(0..n).uid("numbers").map_function(Throttle(20, 0)).sink_to(sink.clone()).uid("memory");
    let job = env.execute_async("pre-commit").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(120)), "the job ends");
    let restarts = job.restarts();
    job.wait().unwrap();
    assert!(sink.pre_commits.load(Ordering::SeqCst) >= 3, "the failing pre-commit happened");
    assert!(restarts >= 1, "the sink's task failed after the declined checkpoint");
    let mut all: Vec<i64> = sink.committed.lock().unwrap().values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>(), "every record committed exactly once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_input_path_fails_the_job_without_restarts() {
    let dir = temp_dir("missing-input");
    let env = env(1, 50, &dir.join("checkpoints"));
    env.read_text_file(dir.join("no-such-file.txt")).add_sink(|_| {});
    let job = env.execute_async("missing").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "the job ends");
    let restarts = job.restarts();
    let err = job.wait().expect_err("the input does not exist").to_string();
    assert!(err.contains("no-such-file.txt") && err.contains("does not exist"), "{err}");
    assert_eq!(restarts, 0, "a restart would list the same missing file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A source whose reader keeps the default `snapshot`: it cannot say where it is.
struct Forgetful;

struct ForgetfulReader(i64);

impl spate::SourceReader<i64> for ForgetfulReader {
    fn poll_next(
        &mut self,
        batch: &mut Vec<spate::StreamRecord<i64>>,
        _max: usize,
    ) -> Result<spate::SourcePoll, spate::BoxError> {
        self.0 += 1;
        batch.push(spate::StreamRecord::new(self.0));
        Ok(spate::SourcePoll::Idle(Duration::from_millis(1)))
    }
}

impl spate::Source<i64> for Forgetful {
    fn name(&self) -> String {
        "Forgetful".into()
    }

    fn boundedness(&self) -> spate::Boundedness {
        spate::Boundedness::ContinuousUnbounded
    }

    fn create_reader(
        &self,
        _ctx: &mut spate::RuntimeContext,
    ) -> Result<Box<dyn spate::SourceReader<i64>>, spate::BoxError> {
        Ok(Box::new(ForgetfulReader(0)))
    }
}

#[test]
fn a_source_that_cannot_record_its_position_fails_the_first_checkpoint_and_the_job_without_restarts() {
    let dir = temp_dir("forgetful-source");
    // `env` allows 20 immediate restarts and tolerates no failed checkpoint; a restart
    // would only fail the same way at the next checkpoint, forever.
    let env = env(1, 50, &dir.join("checkpoints"));
    env.from_source(Forgetful, WatermarkStrategy::no_watermarks()).add_sink(|_| {});
    let job = env.execute_async("forgetful").unwrap();
    assert!(job.wait_timeout(Duration::from_secs(60)), "the job ends");
    let restarts = job.restarts();
    let err = job.wait().expect_err("no checkpoint can be taken").to_string();
    assert!(err.contains("Forgetful") && err.contains("cannot record its position"), "{err}");
    assert!(err.contains("SourceReader::snapshot"), "the way out is named: {err}");
    assert_eq!(restarts, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

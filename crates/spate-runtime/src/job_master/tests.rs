//! Protocol tests: the job master driven message by message with a manual clock, as a
//! fake host that records every action — with messages dropped, duplicated, reordered
//! and stale.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};
use spate_core::config::{CheckpointRetention, CheckpointingMode};
use spate_core::job_graph::{ExecutionMode, JobEdge, JobGraph, JobVertex, PartitionerKind};
use spate_core::{Unrecoverable, job_id::JobId};

use super::*;
use crate::TaskError;
use crate::checkpoint::{Acknowledgement, CheckpointSettings, CheckpointStorage, CoordinatorMessage, TaskMail};

/// A source of parallelism 2 feeding a sink of parallelism 1: three subtasks.
fn graph() -> JobGraph {
    let vertex = |id: u32, name: &str, parallelism| JobVertex {
        id,
        name: name.into(),
        parallelism,
        max_parallelism: 128,
        operators: Vec::new(),
    };
    let edge = JobEdge {
        source: 0,
        target: 1,
        source_node: 0,
        target_node: 1,
        input: 0,
        partitioner: PartitionerKind::Rebalance,
        side_output: None,
    };
    JobGraph::new(
        "protocol".into(),
        ExecutionMode::Streaming,
        vec![vertex(0, "Source", 2), vertex(1, "Sink", 1)],
        vec![edge],
    )
}

const TASKS: usize = 3;

fn settings(interval: Option<Duration>) -> CheckpointSettings {
    CheckpointSettings {
        interval,
        mode: CheckpointingMode::ExactlyOnce,
        timeout: Duration::from_secs(600),
        min_pause: Duration::ZERO,
        max_concurrent: 1,
        num_retained: 1,
        retention: CheckpointRetention::NoExternalizedCheckpoints,
        tolerable_failures: 0,
    }
}

/// A job master with a manual clock; the checkpoint writer's results are kept in
/// `storage` until the test delivers them.
struct Host {
    master: JobMaster,
    now: Instant,
    storage: Receiver<CoordinatorMessage>,
    /// Every action so far.
    log: Vec<JobAction>,
}

impl Host {
    fn new(restart: RestartStrategy, interval: Option<Duration>) -> Self {
        let graph = graph();
        let tasks = task_descriptors(&graph);
        assert_eq!(tasks.len(), TASKS);
        assert!(tasks[0].is_source && tasks[1].is_source && !tasks[2].is_source);
        let (tx, storage) = unbounded();
        let coordinator = CheckpointCoordinator::new(
            settings(interval),
            JobId::generate().to_string(),
            tasks,
            CheckpointStorage::in_memory(),
            1,
            std::sync::Arc::new(move |m| {
                let _ = tx.send(m);
            }),
        )
        .unwrap();
        let master = JobMaster::new(&graph, TASKS, coordinator, restart, Duration::from_secs(10));
        Host { master, now: Instant::now(), storage, log: Vec::new() }
    }

    /// Hands `message` over; returns the actions it caused.
    fn send(&mut self, message: JobMessage) -> Vec<String> {
        let actions = self.master.handle(message, self.now);
        let names = actions.iter().map(describe).collect();
        self.log.extend(actions);
        names
    }

    fn advance(&mut self, by: Duration) -> Vec<String> {
        self.now += by;
        self.send(JobMessage::Tick)
    }

    fn start(&mut self) {
        assert_eq!(self.send(JobMessage::Start), ["status CREATED 0", "deploy 0"]);
        assert_eq!(self.send(JobMessage::Deployed { attempt: 0 }), ["status RUNNING 0"]);
    }

    fn ended(&mut self, attempt: u32, task: usize, result: Result<(), TaskError>) -> Vec<String> {
        self.send(JobMessage::TaskEnded { attempt, task, name: format!("task {task}"), result })
    }

    fn finished(&mut self, attempt: u32, task: usize) -> Vec<String> {
        self.send(JobMessage::Task { attempt, message: CoordinatorMessage::Finished { task } })
    }

    /// Delivers the checkpoint writer's results until `done` says enough.
    fn deliver_storage(&mut self, mut done: impl FnMut(&Host) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done(self) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let message = self.storage.recv_timeout(left).expect("the checkpoint writer answers");
            self.send(JobMessage::Storage(message));
        }
    }

    fn outcome(&self) -> Option<&JobOutcome> {
        self.log.iter().find_map(|a| match a {
            JobAction::Ended(outcome) => Some(outcome),
            _ => None,
        })
    }
}

fn describe(action: &JobAction) -> String {
    match action {
        JobAction::Deploy { attempt, restore_from } => match restore_from.first() {
            None => format!("deploy {attempt}"),
            Some(c) => format!("deploy {attempt} from {}", c.id),
        },
        JobAction::Mail { attempt, task, mail } => {
            let mail = match mail {
                TaskMail::TriggerCheckpoint(b) => format!("trigger {}", b.id),
                TaskMail::NotifyCheckpoint { id, complete } => format!("notify {id} {complete}"),
                TaskMail::FinishJob => "finish".into(),
                TaskMail::Stop => "stop".into(),
            };
            format!("mail {attempt}/{task} {mail}")
        }
        JobAction::Cancel { attempt } => format!("cancel {attempt}"),
        JobAction::Release { attempt } => format!("release {attempt}"),
        JobAction::StatusChanged { status, attempt } => format!("status {status} {attempt}"),
        JobAction::AttemptFailed { attempt, .. } => format!("failed {attempt}"),
        JobAction::SavepointCompleted { request, result } => match result {
            Ok(_) => format!("savepoint {request} ok"),
            Err(e) => format!("savepoint {request}: {e}"),
        },
        JobAction::CheckpointHolds { uids } => format!("holds {}", uids.join(",")),
        JobAction::Ended(outcome) => format!("ended {}", outcome.status()),
    }
}

fn fixed(attempts: u32) -> RestartStrategy {
    RestartStrategy::FixedDelay { attempts, delay: Duration::from_secs(1) }
}

fn failed(message: &str) -> Result<(), TaskError> {
    Err(TaskError::Internal(message.into()))
}

#[test]
fn a_job_finishes_once_every_subtask_finished_and_ended() {
    let mut host = Host::new(RestartStrategy::None, None);
    assert_eq!(host.master.status(), JobStatus::Initializing);
    host.start();
    assert!(host.finished(0, 0).is_empty());
    assert!(host.finished(0, 0).is_empty(), "a duplicate counts once");
    assert!(host.finished(0, 1).is_empty());
    assert_eq!(host.finished(0, 2), ["mail 0/0 finish", "mail 0/1 finish", "mail 0/2 finish"]);
    assert!(host.finished(0, 2).is_empty(), "subtasks are told to close once");
    assert!(host.ended(0, 0, Ok(())).is_empty());
    assert!(host.ended(0, 0, Ok(())).is_empty(), "a duplicate end counts once");
    assert!(host.ended(0, 1, Ok(())).is_empty());
    assert_eq!(host.master.status(), JobStatus::Running, "not terminal before every subtask's end is confirmed");
    assert_eq!(host.ended(0, 2, Ok(())), ["release 0", "ended FINISHED"]);
    assert_eq!(host.master.status(), JobStatus::Finished);
    assert_eq!(host.master.next_deadline(), None);
    assert!(host.send(JobMessage::Cancel).is_empty(), "an ended job ignores a cancel");
}

#[test]
fn a_failed_subtask_cancels_the_attempt_and_the_restart_strategy_starts_the_next() {
    let mut host = Host::new(fixed(3), None);
    host.start();
    assert_eq!(host.ended(0, 1, failed("disk full")), ["status FAILING 0", "cancel 0"]);
    // The others end as consequences; the root cause stays.
    assert!(host.ended(0, 0, Err(TaskError::Cancelled)).is_empty());
    assert_eq!(
        host.ended(0, 2, Err(TaskError::PeerGone("upstream".into()))),
        ["release 0", "failed 0", "status RESTARTING 0"]
    );
    let failure = host.log.iter().find_map(|a| match a {
        JobAction::AttemptFailed { attempt: 0, failure } => Some(failure.clone()),
        _ => None,
    });
    assert!(failure.is_some_and(|f| f.contains("disk full")), "the root cause is on record");
    assert_eq!(host.master.next_deadline(), Some(host.now + Duration::from_secs(1)));
    assert!(host.advance(Duration::from_millis(999)).is_empty(), "not before the restart delay");
    assert_eq!(host.advance(Duration::from_millis(1)), ["status RUNNING 1", "deploy 1"]);
    assert_eq!(host.master.attempt(), 1);
    // The old attempt's late reports are stale.
    assert!(host.ended(0, 2, failed("late")).is_empty());
    assert!(host.finished(0, 0).is_empty());
    assert_eq!(host.master.status(), JobStatus::Running);
    assert!(host.send(JobMessage::Deployed { attempt: 1 }).is_empty());
    for t in 0..TASKS {
        host.finished(1, t);
    }
    for t in 0..TASKS {
        host.ended(1, t, Ok(()));
    }
    assert!(matches!(host.outcome(), Some(JobOutcome::Finished)));
}

#[test]
fn a_cancellation_consequence_is_replaced_by_the_real_root_cause() {
    let mut host = Host::new(RestartStrategy::None, None);
    host.start();
    host.ended(0, 0, Err(TaskError::PeerGone("sink went away".into())));
    host.ended(0, 1, failed("the real cause"));
    host.ended(0, 2, Err(TaskError::Cancelled));
    match host.outcome() {
        Some(JobOutcome::Failed(JobFailure::Task { task, error })) => {
            assert_eq!(task, "task 1");
            assert!(error.to_string().contains("the real cause"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unrecoverable_failure_is_not_restarted() {
    let mut host = Host::new(fixed(10), None);
    host.start();
    let error = TaskError::Operator { operator: "Map".into(), cause: Box::new(Unrecoverable::new("bad schema")) };
    host.ended(0, 0, Err(error));
    host.ended(0, 1, Err(TaskError::Cancelled));
    assert_eq!(host.ended(0, 2, Err(TaskError::Cancelled)), ["release 0", "ended FAILED"]);
}

#[test]
fn the_restart_strategy_gives_up() {
    let mut host = Host::new(fixed(1), None);
    host.start();
    for attempt in 0..2 {
        host.ended(attempt, 0, failed("boom"));
        host.ended(attempt, 1, Err(TaskError::Cancelled));
        host.ended(attempt, 2, Err(TaskError::Cancelled));
        if attempt == 0 {
            assert_eq!(host.advance(Duration::from_secs(1)), ["status RUNNING 1", "deploy 1"]);
        }
    }
    assert!(matches!(host.outcome(), Some(JobOutcome::Failed(JobFailure::Task { .. }))));
    assert_eq!(host.master.attempt(), 1);
}

#[test]
fn reports_that_overtake_the_deployers_answer_count() {
    let mut host = Host::new(RestartStrategy::None, None);
    assert_eq!(host.send(JobMessage::Start), ["status CREATED 0", "deploy 0"]);
    // `Deployed` is dropped: the subtasks' own reports prove the deployment.
    assert_eq!(host.finished(0, 0), ["status RUNNING 0"]);
    host.finished(0, 1);
    host.finished(0, 2);
    host.ended(0, 2, Ok(()));
    host.ended(0, 0, Ok(()));
    assert_eq!(host.ended(0, 1, Ok(())), ["release 0", "ended FINISHED"]);
    assert!(host.send(JobMessage::Deployed { attempt: 0 }).is_empty(), "a late answer changes nothing");
}

#[test]
fn a_failed_deployment_fails_the_job() {
    let mut host = Host::new(fixed(5), None);
    host.send(JobMessage::Start);
    let error = DeployError { attempt: 0, source: "checkpoint 7 is damaged".into() };
    assert_eq!(host.send(JobMessage::DeployFailed { attempt: 0, error }), ["release 0", "ended FAILED"]);
    match host.outcome() {
        Some(JobOutcome::Failed(JobFailure::Deployment(e))) => assert!(e.to_string().contains("damaged")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deployment_a_restart_may_cure_fails_the_attempt_and_the_strategy_restarts_it() {
    let mut host = Host::new(fixed(5), None);
    host.send(JobMessage::Start);
    let source = Box::new(crate::job_master::AttemptFailed("the worker exited while it replayed main".into()));
    let error = DeployError { attempt: 0, source };
    let actions = host.send(JobMessage::DeployFailed { attempt: 0, error });
    assert!(actions.iter().any(|a| a == "status RESTARTING 0"), "{actions:?}");
    assert!(!actions.iter().any(|a| a.starts_with("ended")), "{actions:?}");
}

#[test]
fn cancel_waits_for_every_subtask_and_cancel_while_restarting_needs_none() {
    let mut host = Host::new(RestartStrategy::None, None);
    host.start();
    assert_eq!(host.send(JobMessage::Cancel), ["status CANCELLING 0", "cancel 0"]);
    assert_eq!(host.send(JobMessage::Cancel), ["cancel 0"], "asked again: forcibly");
    host.ended(0, 0, Err(TaskError::Cancelled));
    host.ended(0, 1, Ok(()));
    assert_eq!(host.ended(0, 2, failed("while cancelling")), ["release 0", "ended CANCELED"]);

    let mut host = Host::new(fixed(1), None);
    host.start();
    host.ended(0, 0, failed("boom"));
    host.ended(0, 1, Err(TaskError::Cancelled));
    host.ended(0, 2, Err(TaskError::Cancelled));
    assert_eq!(host.master.status(), JobStatus::Restarting);
    assert_eq!(host.send(JobMessage::Cancel), ["ended CANCELED"]);
    assert!(host.advance(Duration::from_secs(5)).is_empty(), "nothing is deployed after a cancel");
}

#[test]
fn cancel_during_failing_ends_canceled_and_suspend_ends_suspended() {
    let mut host = Host::new(fixed(1), None);
    host.start();
    host.ended(0, 0, failed("boom"));
    assert_eq!(host.send(JobMessage::Cancel), ["cancel 0"]);
    host.ended(0, 1, Err(TaskError::Cancelled));
    assert_eq!(host.ended(0, 2, Err(TaskError::Cancelled)), ["release 0", "ended CANCELED"]);

    let mut host = Host::new(RestartStrategy::None, None);
    host.start();
    assert_eq!(host.send(JobMessage::Suspend), ["status CANCELLING 0", "cancel 0"]);
    for t in 0..TASKS {
        host.ended(0, t, Err(TaskError::Cancelled));
    }
    assert_eq!(host.master.status(), JobStatus::Suspended);
}

#[test]
fn savepoints_are_refused_unless_running() {
    let storage = CheckpointStorage::in_memory;
    let mut host = Host::new(fixed(1), None);
    let refused = host.send(JobMessage::TriggerSavepoint { request: 1, storage: storage(), stop: false, drain: false });
    assert_eq!(refused, ["savepoint 1: the job is INITIALIZING"]);
    host.start();
    host.ended(0, 0, failed("boom"));
    let refused = host.send(JobMessage::TriggerSavepoint { request: 2, storage: storage(), stop: false, drain: false });
    assert_eq!(refused, ["savepoint 2: the job is FAILING"]);
    host.ended(0, 1, Err(TaskError::Cancelled));
    host.ended(0, 2, Err(TaskError::Cancelled));
    let refused = host.send(JobMessage::TriggerSavepoint { request: 3, storage: storage(), stop: false, drain: false });
    assert_eq!(refused, ["savepoint 3: the job is RESTARTING"]);
}

/// Every subtask snapshots checkpoint `id` of `attempt` (empty state).
fn snapshot_all(host: &mut Host, attempt: u32, id: u64) {
    let barrier = host
        .log
        .iter()
        .find_map(|a| match a {
            JobAction::Mail { mail: TaskMail::TriggerCheckpoint(b), .. } if b.id == id => Some(b.clone()),
            _ => None,
        })
        .expect("the checkpoint was triggered");
    for task in 0..TASKS {
        let ack = Acknowledgement { id: barrier.id, file: None, alignment: Duration::ZERO, sync: Duration::ZERO };
        host.send(JobMessage::Task { attempt, message: CoordinatorMessage::Acknowledged { task, ack } });
    }
}

#[test]
fn stop_with_savepoint_stops_after_the_notification_and_cancels_after_the_grace_period() {
    let mut host = Host::new(RestartStrategy::None, None);
    host.start();
    let actions = host.send(JobMessage::TriggerSavepoint {
        request: 9,
        storage: CheckpointStorage::in_memory(),
        stop: true,
        drain: false,
    });
    assert_eq!(actions, ["mail 0/0 trigger 1", "mail 0/1 trigger 1"], "barriers start at the sources");
    snapshot_all(&mut host, 0, 1);
    host.deliver_storage(|h| h.master.status() == JobStatus::Cancelling);
    let names: Vec<String> = host.log.iter().map(describe).collect();
    let at = |name: &str| names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no {name} in {names:?}"));
    let answered = at("savepoint 9 ok");
    assert_eq!(
        names[answered + 1..answered + 5],
        ["status CANCELLING 0", "mail 0/0 stop", "mail 0/1 stop", "mail 0/2 stop"]
    );
    for task in 0..TASKS {
        // Subtasks commit what the savepoint covers before they stop.
        assert!(at(&format!("mail 0/{task} notify 1 true")) < at(&format!("mail 0/{task} stop")), "{names:?}");
    }
    // A subtask that does not stop is cancelled after the grace period.
    host.ended(0, 0, Ok(()));
    host.ended(0, 1, Ok(()));
    assert!(host.advance(Duration::from_secs(9)).is_empty());
    assert_eq!(host.advance(Duration::from_secs(1)), ["cancel 0"]);
    assert_eq!(host.ended(0, 2, Err(TaskError::Cancelled)), ["release 0", "ended FINISHED"]);
    assert!(matches!(host.outcome(), Some(JobOutcome::Stopped)));
}

#[test]
fn a_restart_restores_from_the_latest_completed_checkpoint() {
    let mut host = Host::new(fixed(1), Some(Duration::from_secs(1)));
    host.start();
    assert_eq!(host.advance(Duration::from_secs(1)), ["mail 0/0 trigger 1", "mail 0/1 trigger 1"]);
    snapshot_all(&mut host, 0, 1);
    host.deliver_storage(|h| {
        h.master
            .checkpoint_history()
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.id == 1 && s.status == crate::checkpoint::CheckpointStatus::Completed)
    });
    host.ended(0, 2, failed("boom"));
    host.ended(0, 0, Err(TaskError::Cancelled));
    host.ended(0, 1, Err(TaskError::Cancelled));
    let restart = host.advance(Duration::from_secs(1));
    assert_eq!(restart, ["status RUNNING 1", "deploy 1 from 1"]);
    // Checkpoints go on in the new attempt, mailed to it.
    assert_eq!(host.advance(Duration::from_secs(1)), ["mail 1/0 trigger 2", "mail 1/1 trigger 2"]);
}

/// A small deterministic generator for the message shuffles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The reports of one attempt in which subtask `failing` (if any) fails, shuffled,
/// with some duplicated and, if `drop`, one lost.
fn attempt_reports(rng: &mut Rng, attempt: u32, failing: Option<usize>, drop: bool) -> Vec<JobMessage> {
    let mut messages = Vec::new();
    for task in 0..TASKS {
        if failing.is_none() {
            messages.push(JobMessage::Task { attempt, message: CoordinatorMessage::Finished { task } });
        }
        let result = match failing {
            Some(f) if f == task => failed("boom"),
            Some(_) => Err(TaskError::Cancelled),
            None => Ok(()),
        };
        messages.push(JobMessage::TaskEnded { attempt, task, name: format!("task {task}"), result });
    }
    // Duplicates.
    for _ in 0..rng.below(4) {
        let i = rng.below(messages.len());
        let copy = match &messages[i] {
            JobMessage::TaskEnded { attempt, task, name, result } => JobMessage::TaskEnded {
                attempt: *attempt,
                task: *task,
                name: name.clone(),
                result: result.as_ref().map(|_| ()).map_err(|_| TaskError::Cancelled),
            },
            JobMessage::Task { attempt, message: CoordinatorMessage::Finished { task } } => {
                JobMessage::Task { attempt: *attempt, message: CoordinatorMessage::Finished { task: *task } }
            }
            _ => continue,
        };
        messages.push(copy);
    }
    // Reordering, keeping each subtask's Finished before its first Ok end (a subtask
    // ends only after the job told it to close).
    for i in (1..messages.len()).rev() {
        messages.swap(i, rng.below(i + 1));
    }
    if failing.is_none() {
        messages.sort_by_key(|m| matches!(m, JobMessage::TaskEnded { .. }));
    }
    if drop {
        let ends: Vec<usize> =
            (0..messages.len()).filter(|&i| matches!(messages[i], JobMessage::TaskEnded { .. })).collect();
        let lost = ends[rng.below(ends.len())];
        if let JobMessage::TaskEnded { task, .. } = messages[lost] {
            messages.retain(|m| !matches!(m, JobMessage::TaskEnded { task: t, .. } if *t == task));
        }
    }
    messages
}

#[test]
fn shuffled_duplicated_and_stale_reports_give_the_same_outcome() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut host = Host::new(fixed(1), None);
        host.start();
        let fail_at = rng.below(TASKS);
        for message in attempt_reports(&mut rng, 0, Some(fail_at), false) {
            host.send(message);
        }
        assert_eq!(host.master.status(), JobStatus::Restarting, "seed {seed}");
        host.advance(Duration::from_secs(1));
        // The new attempt's reports, interleaved with stale ones of the old.
        let mut messages = attempt_reports(&mut rng, 1, None, false);
        for stale in attempt_reports(&mut rng, 0, Some(0), false) {
            let at = rng.below(messages.len() + 1);
            messages.insert(at, stale);
        }
        // The job ends at the message that completes the set of the new attempt's ends.
        let mut seen = [false; TASKS];
        let ends_at = messages
            .iter()
            .position(|m| {
                if let JobMessage::TaskEnded { attempt: 1, task, .. } = m {
                    seen[*task] = true;
                }
                seen.iter().all(|s| *s)
            })
            .unwrap();
        for (i, message) in messages.into_iter().enumerate() {
            host.send(message);
            let ended = host.outcome().is_some();
            assert_eq!(ended, i >= ends_at, "seed {seed}: ended only after the last subtask's end, at {i}");
        }
        assert!(matches!(host.outcome(), Some(JobOutcome::Finished)), "seed {seed}: {:?}", host.outcome());
        // Every action after the restart addressed attempt 1.
        let restart = host.log.iter().position(|a| matches!(a, JobAction::Deploy { attempt: 1, .. })).unwrap();
        for action in &host.log[restart..] {
            if let JobAction::Mail { attempt, .. } | JobAction::Cancel { attempt } | JobAction::Release { attempt } =
                action
            {
                assert_eq!(*attempt, 1, "seed {seed}: {action:?}");
            }
        }
    }
}

#[test]
fn a_lost_end_keeps_the_job_from_ending() {
    for seed in 1..=50u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD134_2543_DE82_EF95) | 1);
        let mut host = Host::new(fixed(1), None);
        host.start();
        let failing = if seed % 2 == 0 { Some(rng.below(TASKS)) } else { None };
        for message in attempt_reports(&mut rng, 0, failing, true) {
            host.send(message);
        }
        assert!(host.outcome().is_none(), "seed {seed}: a subtask's end is not confirmed");
        assert!(!host.master.status().is_terminal());
        assert!(!host.log.iter().any(|a| matches!(a, JobAction::Deploy { attempt: 1, .. })), "seed {seed}");
    }
}

#[test]
fn a_pending_stop_with_savepoint_holds_periodic_checkpoints_without_a_past_deadline() {
    let mut host = Host::new(RestartStrategy::None, Some(Duration::from_secs(1)));
    host.start();
    let actions = host.send(JobMessage::TriggerSavepoint {
        request: 1,
        storage: CheckpointStorage::in_memory(),
        stop: true,
        drain: false,
    });
    assert_eq!(actions.len(), 2, "{actions:?}");
    host.now += Duration::from_secs(5);
    // No periodic checkpoint may start, so its trigger time is no deadline: a host
    // waiting for the next deadline would otherwise spin.
    let deadline = host.master.next_deadline().expect("the savepoint's timeout");
    assert!(deadline > host.now, "a deadline in the past makes the host spin");
    assert!(host.send(JobMessage::Tick).is_empty());
}

#[test]
fn a_suspend_while_failing_ends_suspended() {
    let mut host = Host::new(fixed(3), None);
    host.start();
    host.ended(0, 0, failed("boom"));
    assert_eq!(host.send(JobMessage::Suspend), ["cancel 0"]);
    host.ended(0, 1, Err(TaskError::Cancelled));
    assert_eq!(host.ended(0, 2, Err(TaskError::Cancelled)), ["release 0", "ended SUSPENDED"]);
    assert!(matches!(host.outcome(), Some(JobOutcome::Suspended)));
}

#[test]
fn answers_the_end_causes_come_before_the_end() {
    let mut host = Host::new(RestartStrategy::None, None);
    host.start();
    host.send(JobMessage::TriggerSavepoint {
        request: 4,
        storage: CheckpointStorage::in_memory(),
        stop: false,
        drain: false,
    });
    host.send(JobMessage::Cancel);
    host.ended(0, 0, Err(TaskError::Cancelled));
    host.ended(0, 1, Err(TaskError::Cancelled));
    let last = host.ended(0, 2, Err(TaskError::Cancelled));
    assert_eq!(last.last().map(String::as_str), Some("ended CANCELED"), "{last:?}");
    assert!(last.iter().any(|a| a.starts_with("savepoint 4: ")), "the aborted savepoint is answered: {last:?}");
}

/// A deployer whose subtasks fail in attempt 0 and finish in any later one, reporting
/// through the inbox as real subtasks do.
struct ScriptedDeployer {
    inbox: crossbeam_channel::Sender<JobMessage>,
    deployed: Vec<u32>,
    released: Vec<u32>,
}

impl Deployer for ScriptedDeployer {
    fn deploy(&mut self, attempt: u32, _: Vec<crate::checkpoint::CompletedCheckpoint>) -> Result<(), DeployError> {
        self.deployed.push(attempt);
        for task in 0..TASKS {
            if attempt > 0 {
                let message = CoordinatorMessage::Finished { task };
                self.inbox.send(JobMessage::Task { attempt, message }).unwrap();
            } else {
                let result = if task == 0 { failed("boom") } else { Err(TaskError::Cancelled) };
                self.inbox.send(JobMessage::TaskEnded { attempt, task, name: format!("t{task}"), result }).unwrap();
            }
        }
        Ok(())
    }

    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail) {
        if matches!(mail, TaskMail::FinishJob) {
            self.inbox.send(JobMessage::TaskEnded { attempt, task, name: format!("t{task}"), result: Ok(()) }).unwrap();
        }
    }

    fn cancel(&mut self, _: u32) {}

    fn release(&mut self, attempt: u32) {
        self.released.push(attempt);
    }
}

#[derive(Default)]
struct Recorder {
    statuses: Vec<JobStatus>,
    failures: Vec<(u32, String)>,
    outcome: Option<JobOutcome>,
}

impl JobObserver for Recorder {
    fn status_changed(&mut self, status: JobStatus, _: u32) {
        self.statuses.push(status);
    }
    fn attempt_failed(&mut self, attempt: u32, failure: &str) {
        self.failures.push((attempt, failure.to_string()));
    }
    fn savepoint_completed(&mut self, _: u64, _: Result<crate::checkpoint::CompletedCheckpoint, SavepointError>) {}
    fn checkpoint_holds(&mut self, _: &[String]) {}
    fn ended(&mut self, outcome: JobOutcome) {
        self.outcome = Some(outcome);
    }
}

#[test]
fn the_driver_waits_out_the_restart_delay_and_carries_the_job_to_its_end() {
    let host = Host::new(RestartStrategy::FixedDelay { attempts: 1, delay: Duration::from_millis(30) }, None);
    let (tx, inbox) = unbounded();
    let deployer = ScriptedDeployer { inbox: tx, deployed: Vec::new(), released: Vec::new() };
    let mut driver = Driver::new(host.master, deployer, Recorder::default());
    assert!(!driver.feed(JobMessage::Start, Instant::now()));
    let started = Instant::now();
    driver.run(&inbox);
    assert!(started.elapsed() >= Duration::from_millis(30), "the restart waited for its delay");
    assert_eq!(driver.deployer.deployed, [0, 1]);
    assert_eq!(driver.deployer.released, [0, 1]);
    use JobStatus::*;
    assert_eq!(driver.observer.statuses, [Created, Running, Failing, Restarting, Running]);
    assert!(matches!(driver.observer.outcome, Some(JobOutcome::Finished)));
}

/// A deployer that has too few slots for its first `unavailable` tries, then runs the
/// attempt to its end; with `None`, never has them.
struct WaitingDeployer {
    inbox: crossbeam_channel::Sender<JobMessage>,
    unavailable: Option<u32>,
    tries: u32,
    cancelled: Vec<u32>,
}

impl Deployer for WaitingDeployer {
    fn deploy(&mut self, attempt: u32, _: Vec<crate::checkpoint::CompletedCheckpoint>) -> Result<(), DeployError> {
        self.tries += 1;
        if self.unavailable.is_none_or(|n| self.tries <= n) {
            let source = Box::new(ResourcesUnavailable("needs 3 slots, 2 free".into()));
            return Err(DeployError { attempt, source });
        }
        for task in 0..TASKS {
            self.inbox.send(JobMessage::Task { attempt, message: CoordinatorMessage::Finished { task } }).unwrap();
        }
        Ok(())
    }

    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail) {
        if matches!(mail, TaskMail::FinishJob) {
            self.inbox.send(JobMessage::TaskEnded { attempt, task, name: format!("t{task}"), result: Ok(()) }).unwrap();
        }
    }

    fn cancel(&mut self, attempt: u32) {
        self.cancelled.push(attempt);
    }

    fn release(&mut self, _: u32) {}
}

#[test]
fn a_deployment_waiting_for_resources_is_tried_again_until_it_runs() {
    let host = Host::new(RestartStrategy::None, None);
    let (tx, inbox) = unbounded();
    let deployer = WaitingDeployer { inbox: tx, unavailable: Some(3), tries: 0, cancelled: Vec::new() };
    let mut driver = Driver::new(host.master, deployer, Recorder::default());
    assert!(!driver.feed(JobMessage::Start, Instant::now()));
    driver.run(&inbox);
    assert_eq!(driver.deployer.tries, 4, "three tries without resources, then the deployment");
    assert!(matches!(driver.observer.outcome, Some(JobOutcome::Finished)), "{:?}", driver.observer.outcome);
    // No restart counted and no failure passed through: waiting is not failing.
    assert!(!driver.observer.statuses.contains(&JobStatus::Failing), "{:?}", driver.observer.statuses);
}

#[test]
fn a_job_waiting_for_resources_is_cancelled_at_once() {
    let host = Host::new(RestartStrategy::None, None);
    let (tx, inbox) = unbounded();
    let deployer = WaitingDeployer { inbox: tx.clone(), unavailable: None, tries: 0, cancelled: Vec::new() };
    let mut driver = Driver::new(host.master, deployer, Recorder::default());
    assert!(!driver.feed(JobMessage::Start, Instant::now()));
    // The master takes messages while the deployment waits: the cancel is one.
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(250));
        tx.send(JobMessage::Cancel).unwrap();
    });
    driver.run(&inbox);
    canceller.join().unwrap();
    assert!(driver.deployer.tries >= 2, "tried again while waiting ({})", driver.deployer.tries);
    assert!(matches!(driver.observer.outcome, Some(JobOutcome::Cancelled)), "{:?}", driver.observer.outcome);
}

#[test]
fn a_failed_drained_stop_restarts_the_attempt_instead_of_running_on_past_the_end_of_event_time() {
    let mut host = Host::new(fixed(3), None);
    host.start();
    let storage = CheckpointStorage::in_memory();
    host.send(JobMessage::TriggerSavepoint { request: 5, storage, stop: true, drain: true });
    let decline = crate::checkpoint::Decline { reason: "disk full".into(), recoverable: true };
    let actions =
        host.send(JobMessage::Task { attempt: 0, message: CoordinatorMessage::Declined { task: 2, id: 1, decline } });
    assert!(actions.iter().any(|a| a.starts_with("savepoint 5: ")), "the request is answered: {actions:?}");
    assert!(actions.contains(&"status FAILING 0".to_string()), "the attempt fails over: {actions:?}");

    // Without drain the job goes on.
    let mut host = Host::new(fixed(3), None);
    host.start();
    let storage = CheckpointStorage::in_memory();
    host.send(JobMessage::TriggerSavepoint { request: 6, storage, stop: true, drain: false });
    let decline = crate::checkpoint::Decline { reason: "disk full".into(), recoverable: true };
    let actions =
        host.send(JobMessage::Task { attempt: 0, message: CoordinatorMessage::Declined { task: 2, id: 1, decline } });
    assert!(!actions.iter().any(|a| a.starts_with("status")), "{actions:?}");
    assert_eq!(host.master.status(), JobStatus::Running);
}

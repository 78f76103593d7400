//! What the JobManager knows of each subtask of a job's current attempt, for
//! `/jobs/:id`: its execution state (Flink's `ExecutionState` names), when it started
//! and ended, and the I/O counters its worker reported with its end.

use spate_runtime::metrics::TaskMetricsSnapshot;

/// A subtask's execution state, as Flink names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubtaskState {
    /// Not deployed yet.
    Created,
    /// Its worker runs it.
    Running,
    /// It processed all its input and ended.
    Finished,
    /// It was cancelled, or ended because another failed.
    Canceled,
    /// It failed.
    Failed,
}

impl SubtaskState {
    /// Flink's name.
    pub fn name(self) -> &'static str {
        match self {
            SubtaskState::Created => "CREATED",
            SubtaskState::Running => "RUNNING",
            SubtaskState::Finished => "FINISHED",
            SubtaskState::Canceled => "CANCELED",
            SubtaskState::Failed => "FAILED",
        }
    }

    /// Every state, in the order of Flink's `tasks` objects' keys that Spate has.
    pub const ALL: [SubtaskState; 5] = [
        SubtaskState::Created,
        SubtaskState::Running,
        SubtaskState::Finished,
        SubtaskState::Canceled,
        SubtaskState::Failed,
    ];
}

/// One subtask.
#[derive(Clone, Debug)]
pub(crate) struct SubtaskRecord {
    pub state: SubtaskState,
    /// When its attempt was deployed (ms since the epoch); -1 before.
    pub start_ms: i64,
    /// When it ended; -1 while it runs.
    pub end_ms: i64,
    /// Its counters: the latest its worker reported while it ran, the final ones once
    /// it ended.
    pub metrics: Option<TaskMetricsSnapshot>,
}

impl Default for SubtaskRecord {
    fn default() -> Self {
        SubtaskRecord { state: SubtaskState::Created, start_ms: -1, end_ms: -1, metrics: None }
    }
}

impl SubtaskRecord {
    /// Deployed at `now`.
    pub fn deployed(now: i64) -> Self {
        SubtaskRecord { state: SubtaskState::Running, start_ms: now, end_ms: -1, metrics: None }
    }

    /// Its counters so far, while it runs.
    pub fn running(&mut self, metrics: TaskMetricsSnapshot) {
        if self.state == SubtaskState::Running {
            self.metrics = Some(metrics);
        }
    }

    /// Ended at `now` in `state`, with `metrics` if its worker reported them; only a
    /// running subtask ends (a second report of the same end changes nothing).
    pub fn end(&mut self, state: SubtaskState, now: i64, metrics: Option<TaskMetricsSnapshot>) {
        if self.state == SubtaskState::Running {
            self.state = state;
            self.end_ms = now;
            self.metrics = metrics;
        }
    }
}

/// The state of a vertex from its subtasks' (Flink's rule: any failed, else any
/// running or not yet deployed, else any cancelled, else finished).
pub(crate) fn vertex_state(subtasks: &[&SubtaskRecord]) -> SubtaskState {
    let any = |s: SubtaskState| subtasks.iter().any(|t| t.state == s);
    if any(SubtaskState::Failed) {
        SubtaskState::Failed
    } else if any(SubtaskState::Running) {
        SubtaskState::Running
    } else if any(SubtaskState::Created) {
        SubtaskState::Created
    } else if any(SubtaskState::Canceled) {
        SubtaskState::Canceled
    } else {
        SubtaskState::Finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtask_ends_once_and_vertices_take_the_worst_state() {
        let mut a = SubtaskRecord::deployed(10);
        a.end(SubtaskState::Finished, 20, Some(TaskMetricsSnapshot { records_out: 5, ..Default::default() }));
        a.end(SubtaskState::Failed, 30, None);
        assert_eq!((a.state, a.end_ms, a.metrics.unwrap().records_out), (SubtaskState::Finished, 20, 5));
        let running = SubtaskRecord::deployed(10);
        let mut failed = SubtaskRecord::deployed(10);
        failed.end(SubtaskState::Failed, 11, None);
        assert_eq!(vertex_state(&[&a, &running]), SubtaskState::Running);
        assert_eq!(vertex_state(&[&a, &failed, &running]), SubtaskState::Failed);
        assert_eq!(vertex_state(&[&a, &a]), SubtaskState::Finished);
        assert_eq!(vertex_state(&[&SubtaskRecord::default()]), SubtaskState::Created);
    }
}

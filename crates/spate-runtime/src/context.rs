//! What an operator knows about where it runs.

use std::sync::Arc;

use spate_core::KeyGroupRange;
use spate_core::job_graph::ExecutionMode;

use crate::metrics::TaskMetrics;

/// Facts about one subtask, shared by all operators of its chain.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// The job's name.
    pub job_name: String,
    /// The vertex's name (its operators joined by ` -> `).
    pub task_name: String,
    /// This subtask's index, from 0.
    pub subtask_index: u32,
    /// Subtasks of the vertex.
    pub parallelism: u32,
    /// Key groups of the vertex.
    pub max_parallelism: u32,
    /// How many times the job was restarted before this attempt (0 on the first run).
    pub attempt: u32,
    /// STREAMING or BATCH.
    pub execution_mode: ExecutionMode,
}

impl TaskInfo {
    /// The name of the subtask as Flink prints it: `Map -> Sink (2/4)`.
    pub fn display_name(&self) -> String {
        format!("{} ({}/{})", self.task_name, self.subtask_index + 1, self.parallelism)
    }

    /// The key groups this subtask owns.
    pub fn key_group_range(&self) -> KeyGroupRange {
        KeyGroupRange::for_operator(self.max_parallelism, self.parallelism, self.subtask_index)
    }
}

/// What a rich function sees in `open`: the task it runs in (Flink's `RuntimeContext`).
#[derive(Clone, Debug)]
pub struct RuntimeContext {
    task: Arc<TaskInfo>,
    operator_name: String,
    metrics: Arc<TaskMetrics>,
}

impl RuntimeContext {
    /// The context of operator `operator_name` in the task `task`.
    pub fn new(task: Arc<TaskInfo>, operator_name: impl Into<String>, metrics: Arc<TaskMetrics>) -> Self {
        RuntimeContext { task, operator_name: operator_name.into(), metrics }
    }

    /// The name of the task (chain) the function runs in.
    pub fn task_name(&self) -> &str {
        &self.task.task_name
    }

    /// The task name with the subtask, e.g. `Map -> Sink (2/4)`.
    pub fn task_name_with_subtasks(&self) -> String {
        self.task.display_name()
    }

    /// The operator's own name.
    pub fn operator_name(&self) -> &str {
        &self.operator_name
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        &self.task.job_name
    }

    /// This subtask's index, from 0.
    pub fn subtask_index(&self) -> u32 {
        self.task.subtask_index
    }

    /// The number of parallel subtasks of the operator.
    pub fn parallelism(&self) -> u32 {
        self.task.parallelism
    }

    /// The number of key groups (the bound for rescaling).
    pub fn max_parallelism(&self) -> u32 {
        self.task.max_parallelism
    }

    /// How many times the job was restarted before this attempt.
    pub fn attempt_number(&self) -> u32 {
        self.task.attempt
    }

    /// STREAMING or BATCH.
    pub fn execution_mode(&self) -> ExecutionMode {
        self.task.execution_mode
    }

    /// The counters of the task this function runs in.
    pub fn metrics(&self) -> &Arc<TaskMetrics> {
        &self.metrics
    }

    /// The task facts behind this context.
    pub fn task_info(&self) -> &Arc<TaskInfo> {
        &self.task
    }
}

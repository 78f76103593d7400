//! What an operator knows about where it runs.

use std::hash::Hash;
use std::rc::Rc;
use std::sync::Arc;

use spate_core::job_graph::ExecutionMode;
use spate_core::{KeyGroupRange, StateValue};

use crate::checkpoint::RestoredState;
use crate::metrics::TaskMetrics;
use crate::state::{
    AggregatingState, AggregatingStateDescriptor, KeyedStateStore, ListState, ListStateDescriptor, MapState,
    MapStateDescriptor, Redistribution, ReducingState, ReducingStateDescriptor, StateError, StateScope, Target,
    ValueState, ValueStateDescriptor,
};
use crate::time::Clock;

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
    /// The source of processing time.
    pub clock: Arc<dyn Clock>,
    /// How often periodic watermark generators emit (`pipeline.auto-watermark-interval`).
    pub auto_watermark_interval: std::time::Duration,
    /// Whether inputs align checkpoint barriers.
    pub checkpointing_mode: crate::checkpoint::CheckpointingMode,
    /// The attempt's cancellation, for an operator that waits outside the task's loop
    /// (a collect sink waiting for its reader).
    pub cancel: Option<crate::channel::CancelToken>,
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
#[derive(Clone)]
pub struct RuntimeContext {
    task: Arc<TaskInfo>,
    operator_name: String,
    metrics: Arc<TaskMetrics>,
    pub(crate) scope: Option<std::rc::Rc<StateScope>>,
    /// The state this operator instance starts from, when the job was restored.
    restored: Option<Rc<RestoredState>>,
    /// The operator's uid: the name its state is stored under.
    uid: String,
}

impl std::fmt::Debug for RuntimeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeContext").field("task", &self.task).field("operator", &self.operator_name).finish()
    }
}

impl RuntimeContext {
    /// The context of operator `operator_name` in the task `task`.
    pub fn new(task: Arc<TaskInfo>, operator_name: impl Into<String>, metrics: Arc<TaskMetrics>) -> Self {
        let operator_name = operator_name.into();
        RuntimeContext { task, uid: operator_name.clone(), operator_name, metrics, scope: None, restored: None }
    }

    /// The current processing time, in milliseconds since the epoch.
    pub fn current_processing_time(&self) -> spate_core::Timestamp {
        self.task.clock.now()
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

    /// Gives this context the state scope of its operator instance.
    pub fn with_scope(mut self, scope: Rc<StateScope>) -> Self {
        if let Some(state) = &self.restored {
            scope.operator.set_restored(&state.lists);
        }
        self.scope = Some(scope);
        self
    }

    /// Names the operator's state (its uid).
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = uid.into();
        self
    }

    /// The operator's uid: the name its state is stored under in checkpoints.
    pub fn operator_uid(&self) -> &str {
        &self.uid
    }

    /// Gives this context the state its operator instance starts from.
    pub fn with_restored(mut self, restored: Option<Rc<RestoredState>>) -> Self {
        if let (Some(state), Some(scope)) = (&restored, &self.scope) {
            scope.operator.set_restored(&state.lists);
        }
        self.restored = restored;
        self
    }

    /// The state the operator instance starts from, if the job was restored from a
    /// checkpoint or savepoint.
    pub fn restored(&self) -> Option<&Rc<RestoredState>> {
        self.restored.as_ref()
    }

    /// The state scope of the operator instance, if it has one.
    pub fn scope(&self) -> Option<&Rc<StateScope>> {
        self.scope.as_ref()
    }

    /// The keyed state of the operator (the key of the record or timer being processed).
    pub fn keyed_state_store(&self) -> Result<KeyedStateStore<'_>, StateError> {
        KeyedStateStore::new(self.scope.as_ref().ok_or(StateError::NoScope)?)
    }

    /// The value state declared by `descriptor` (Flink's `getState`).
    pub fn get_state<T: StateValue>(
        &mut self,
        descriptor: &ValueStateDescriptor<T>,
    ) -> Result<ValueState<T>, StateError> {
        self.keyed_state_store()?.get_state(descriptor)
    }

    /// The keyed list state declared by `descriptor` (Flink's `getListState`).
    pub fn get_list_state<T: StateValue>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<ListState<T>, StateError> {
        self.keyed_state_store()?.get_list_state(descriptor)
    }

    /// The map state declared by `descriptor` (Flink's `getMapState`).
    pub fn get_map_state<UK, UV>(
        &mut self,
        descriptor: &MapStateDescriptor<UK, UV>,
    ) -> Result<MapState<UK, UV>, StateError>
    where
        UK: StateValue + Eq + Hash,
        UV: StateValue,
    {
        self.keyed_state_store()?.get_map_state(descriptor)
    }

    /// The reducing state declared by `descriptor` (Flink's `getReducingState`).
    pub fn get_reducing_state<T: StateValue>(
        &mut self,
        descriptor: &ReducingStateDescriptor<T>,
    ) -> Result<ReducingState<T>, StateError> {
        self.keyed_state_store()?.get_reducing_state(descriptor)
    }

    /// The aggregating state declared by `descriptor` (Flink's `getAggregatingState`).
    pub fn get_aggregating_state<IN: 'static, ACC: StateValue, OUT: 'static>(
        &mut self,
        descriptor: &AggregatingStateDescriptor<IN, ACC, OUT>,
    ) -> Result<AggregatingState<IN, OUT>, StateError> {
        self.keyed_state_store()?.get_aggregating_state(descriptor)
    }

    fn operator_list<T: StateValue>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
        mode: Redistribution,
    ) -> Result<ListState<T>, StateError> {
        let scope = self.scope.as_ref().ok_or(StateError::NoScope)?;
        let index = scope.operator.register::<T>(descriptor.name(), mode)?;
        Ok(ListState::new(scope.id, Target::Operator(index)))
    }

    /// A list kept per subtask, split evenly over the subtasks when the parallelism
    /// changes (Flink's operator `getListState`).
    pub fn get_operator_list_state<T: StateValue>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<ListState<T>, StateError> {
        self.operator_list(descriptor, Redistribution::EvenSplit)
    }

    /// A list kept per subtask, given whole to every subtask when the parallelism
    /// changes (Flink's `getUnionListState`).
    pub fn get_union_list_state<T: StateValue>(
        &mut self,
        descriptor: &ListStateDescriptor<T>,
    ) -> Result<ListState<T>, StateError> {
        self.operator_list(descriptor, Redistribution::Union)
    }

    /// Registers an accumulator under `name` (Flink's `addAccumulator`): what the
    /// function adds to it is combined over every subtask and read from the job's
    /// result, `JobExecutionResult::accumulator_result`. The handle is replaced by a
    /// fresh one, so that each subtask (and each attempt of the job) counts on its own.
    ///
    /// (An example is on `JobExecutionResult::accumulator_result` in the `spate` crate.)
    pub fn add_accumulator<A: crate::accumulator::Accumulator>(
        &mut self,
        name: &str,
        accumulator: &mut A,
    ) -> Result<(), crate::accumulator::AccumulatorError> {
        self.metrics.accumulators.add(name, accumulator)
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

/// A runtime context for operator tests: one subtask of 128 key groups, with `clock`
/// and a state scope (keyed if `keyed`).
#[cfg(test)]
pub(crate) fn test_context(clock: Arc<dyn Clock>, keyed: bool) -> RuntimeContext {
    let info = Arc::new(TaskInfo {
        job_name: "test".into(),
        task_name: "test".into(),
        subtask_index: 0,
        parallelism: 1,
        max_parallelism: 128,
        attempt: 0,
        execution_mode: ExecutionMode::Streaming,
        clock: clock.clone(),
        auto_watermark_interval: std::time::Duration::from_millis(200),
        checkpointing_mode: crate::checkpoint::CheckpointingMode::ExactlyOnce,
        cancel: None,
    });
    RuntimeContext::new(info, "op", Arc::default()).with_scope(StateScope::new(keyed, clock))
}

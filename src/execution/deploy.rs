//! Deployment: the channels of a job and the construction of its subtasks.
//!
//! Wiring happens once, on the submitting thread; each subtask's chain is then built on
//! the subtask's own thread from its [`TaskBlueprint`], because operators are not
//! required to be `Send` once they run.

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use spate_core::job_graph::{DistributionPattern, pointwise_targets};
use spate_runtime::TaskError;
use spate_runtime::channel::CancelToken;
use spate_runtime::checkpoint::{CheckpointSettings, RestoredState};
use spate_runtime::context::{RuntimeContext, TaskInfo};
use spate_runtime::data_plane::{ChannelKey, DataPlane, DataPlaneError};
use spate_runtime::metrics::TaskMetrics;
use spate_runtime::output::SideOutputs;
use spate_runtime::source::{AttemptSplits, SPLITS, SourceSplits};
use spate_runtime::task::{FlushPolicy, StreamTask, TaskHead};
use spate_runtime::time::Clock;
use spate_runtime::worker_link::Placement;

use crate::graph::planner::Plan;
use crate::graph::port::{AnyEnd, DataPort, WriterSettings};
use crate::graph::stream_graph::{NodeId, NodeOperator, StreamGraph};

/// Runtime settings that do not change the plan.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeSettings {
    pub batch_size: usize,
    pub channel_capacity: usize,
    /// `taskmanager.memory.segment-size`: one buffer of a remote channel.
    pub segment_size: usize,
    pub flush: FlushPolicy,
    pub clock: Arc<dyn Clock>,
    pub auto_watermark_interval: std::time::Duration,
    /// Checkpointing (`interval: None` when off; savepoints can still be taken).
    pub checkpoint: CheckpointSettings,
    /// `execution.checkpointing.dir`; `None`: in memory.
    pub checkpoint_dir: Option<String>,
    /// `restart-strategy.*`.
    pub restart: spate_runtime::restart::RestartStrategy,
    /// `execution.savepoint.path`.
    pub savepoint_path: Option<String>,
    /// `execution.savepoint.ignore-unclaimed-state`.
    pub ignore_unclaimed_state: bool,
}

/// Everything needed to run a job: its graph with the user's functions, its plan, and
/// settings. Shared by all subtask threads.
pub(crate) struct ExecutionPlan {
    pub graph: StreamGraph,
    pub plan: Plan,
    pub settings: RuntimeSettings,
}

/// The channel ends of one subtask, ready to move to its thread.
pub(crate) struct TaskBlueprint {
    pub vertex: u32,
    pub subtask: u32,
    /// Per input of the head operator: its channels, ordered by edge, then by upstream
    /// subtask.
    pub receivers: Vec<Vec<AnyEnd>>,
    /// Per job edge leaving this vertex: its channels, ordered by downstream subtask.
    pub senders: Vec<(usize, Vec<AnyEnd>)>,
}

impl ExecutionPlan {
    /// Creates every channel of the job and sorts the ends by subtask.
    pub(crate) fn wire(&self) -> Vec<TaskBlueprint> {
        let all = self.wire_with(None).unwrap_or_default();
        all.into_iter().map(|(_, blueprint)| blueprint).collect()
    }

    /// The blueprints of the subtasks `placement` puts on this worker, with their task
    /// indices: channels between two of them are local, channels to and from subtasks of
    /// other workers go over `plane`.
    pub(crate) fn wire_across(
        &self,
        placement: &Placement,
        plane: &mut DataPlane,
    ) -> Result<Vec<(usize, TaskBlueprint)>, DataPlaneError> {
        self.wire_with(Some((placement, plane)))
    }

    /// Wires every subtask (`None`), or those of one worker.
    fn wire_with(
        &self,
        mut across: Option<(&Placement, &mut DataPlane)>,
    ) -> Result<Vec<(usize, TaskBlueprint)>, DataPlaneError> {
        let job = &self.plan.job_graph;
        let here = |across: &Option<(&Placement, &mut DataPlane)>, subtask: u32| {
            across.as_ref().is_none_or(|(placement, _)| placement.is_local(subtask))
        };
        let mut blueprints: Vec<Vec<TaskBlueprint>> = job
            .vertices
            .iter()
            .map(|v| {
                (0..v.parallelism)
                    .map(|s| TaskBlueprint { vertex: v.id, subtask: s, receivers: Vec::new(), senders: Vec::new() })
                    .collect()
            })
            .collect();
        for (index, edge) in job.edges.iter().enumerate() {
            let (up, down) =
                (job.vertices[edge.source as usize].parallelism, job.vertices[edge.target as usize].parallelism);
            // The channel carries the records of the output the edge comes from: the
            // main output, or a side output with its own record type.
            let node = &self.graph.nodes[edge.source_node as usize];
            let port = match self.plan.sides[index] {
                None => node.output.clone(),
                Some(tag) => node.side_outputs.iter().find(|s| s.id == tag).map(|s| s.port.clone()),
            };
            let Some(port) = port else {
                continue;
            };
            for i in 0..up {
                let targets = match edge.partitioner.distribution() {
                    DistributionPattern::AllToAll => 0..down,
                    DistributionPattern::Pointwise => pointwise_targets(up, down, i),
                };
                let mut senders = Vec::new();
                for j in targets {
                    let key = ChannelKey { edge: index as u32, from: i, to: j };
                    let (tx, rx) = match (here(&across, i), here(&across, j), &mut across) {
                        (true, true, _) | (_, _, None) => {
                            let (tx, rx) = port.channel(self.settings.channel_capacity);
                            (Some(tx), Some(rx))
                        }
                        (true, false, Some((placement, plane))) => {
                            let peer = placement.worker_of(j).unwrap_or_default();
                            (Some(port.remote_sender(plane, peer, key)?), None)
                        }
                        (false, true, Some((placement, plane))) => {
                            let peer = placement.worker_of(i).unwrap_or_default();
                            (None, Some(port.remote_receiver(plane, peer, key)?))
                        }
                        (false, false, Some(_)) => (None, None),
                    };
                    if let Some(tx) = tx {
                        senders.push(tx);
                    }
                    if let Some(rx) = rx {
                        let receivers = &mut blueprints[edge.target as usize][j as usize].receivers;
                        let input = edge.input as usize;
                        if receivers.len() <= input {
                            receivers.resize_with(input + 1, Vec::new);
                        }
                        receivers[input].push(rx);
                    }
                }
                if here(&across, i) {
                    blueprints[edge.source as usize][i as usize].senders.push((index, senders));
                }
            }
        }
        Ok(blueprints
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, blueprint)| here(&across, blueprint.subtask))
            .collect())
    }

    /// Lists the input of every source that enumerates splits, once for the attempt
    /// (DESIGN.md section 3): each subtask then reads its share of that one listing.
    pub(crate) fn enumerate_splits(&self) -> AttemptSplits {
        let job = &self.plan.job_graph;
        let sources = job
            .vertices
            .iter()
            .filter_map(|vertex| {
                let node = &self.graph.nodes[self.plan.heads[vertex.id as usize]];
                let NodeOperator::Source(source) = &node.operator else { return None };
                let listing = source.enumerate(&node.display_name(), vertex.parallelism)?;
                Some(SourceSplits { vertex: vertex.id, listing })
            })
            .collect();
        AttemptSplits { sources }
    }

    /// Builds one subtask from its blueprint (on the subtask's thread); `splits` is the
    /// attempt's listing of its sources' inputs, made by the first source subtask that
    /// needs it when no other process made it (on a subtask's thread, so a slow listing
    /// never holds up the job master).
    pub(crate) fn build_task(
        &self,
        blueprint: TaskBlueprint,
        task: Arc<TaskInfo>,
        cancel: CancelToken,
        metrics: Arc<TaskMetrics>,
        restored: HashMap<String, RestoredState>,
        splits: &OnceLock<AttemptSplits>,
    ) -> Result<StreamTask, TaskError> {
        let head = self.plan.heads[blueprint.vertex as usize];
        let mut builder = ChainBuilder {
            exec: self,
            task: task.clone(),
            senders: blueprint.senders.into_iter().collect(),
            cancel: cancel.clone(),
            metrics: metrics.clone(),
            restored: restored.into_iter().map(|(uid, state)| (uid, Rc::new(state))).collect(),
        };
        let node = &self.graph.nodes[head];
        let task_head: Box<dyn TaskHead> = match &node.operator {
            NodeOperator::Source(source) => {
                let chain = builder.downstream_of(head)?;
                let mut ctx = builder.context(head);
                // A subtask restored from its positions needs no listing.
                let restored = ctx.restored().is_some_and(|r| r.list(SPLITS).is_some());
                let listing =
                    if restored { None } else { splits.get_or_init(|| self.enumerate_splits()).of(blueprint.vertex) };
                source.head(&mut ctx, chain, listing, self.settings.batch_size, metrics)?
            }
            NodeOperator::TwoInput(factory) => {
                let output = builder.output_of(head)?;
                let ctx = builder.context(head);
                let mut inputs = blueprint.receivers.into_iter();
                let receivers = [inputs.next().unwrap_or_default(), inputs.next().unwrap_or_default()];
                factory.head(ctx, receivers, output, task.display_name(), metrics)?
            }
            NodeOperator::Operator(_) | NodeOperator::Sink(_) => {
                let chain = builder.node(head)?;
                let port = node.input.as_ref().ok_or_else(|| internal("an operator without an input type"))?;
                let receivers = blueprint.receivers.into_iter().next().unwrap_or_default();
                port.one_input_head(receivers, chain, task.display_name(), task.checkpointing_mode, metrics)?
            }
        };
        Ok(StreamTask::new(task.display_name(), task_head, cancel, self.settings.flush, self.settings.clock.clone()))
    }
}

fn internal(what: &str) -> TaskError {
    TaskError::Internal(what.to_string())
}

/// Builds a chain from its tail: each node's output is made of its chained successors
/// and the record writers of its outgoing edges.
struct ChainBuilder<'a> {
    exec: &'a ExecutionPlan,
    task: Arc<TaskInfo>,
    senders: HashMap<usize, Vec<AnyEnd>>,
    cancel: CancelToken,
    metrics: Arc<TaskMetrics>,
    /// The state each operator starts from, by uid.
    restored: HashMap<String, Rc<RestoredState>>,
}

impl ChainBuilder<'_> {
    fn context(&self, node: NodeId) -> RuntimeContext {
        let uid = self.exec.plan.uid(node);
        let restored = self.restored.get(uid).cloned();
        RuntimeContext::new(self.task.clone(), self.exec.graph.nodes[node].display_name(), self.metrics.clone())
            .with_uid(uid)
            .with_restored(restored)
    }

    /// The node as a `Box<dyn Downstream<IN>>`.
    fn node(&mut self, id: NodeId) -> Result<Box<dyn Any>, TaskError> {
        match &self.exec.graph.nodes[id].operator {
            NodeOperator::Sink(sink) => Ok(sink.create(self.context(id), self.metrics.clone())),
            NodeOperator::Operator(operator) => {
                let output = self.output_of(id)?;
                operator.create(self.context(id), output)
            }
            NodeOperator::Source(_) => Err(internal("a source cannot be chained after another operator")),
            NodeOperator::TwoInput(_) => Err(internal("a two-input operator cannot be chained after another operator")),
        }
    }

    /// What consumes output `side` (`None`: the main output) of node `id`: its chained
    /// successors on that output and the record writers of its edges.
    fn targets(&mut self, id: NodeId, side: Option<u64>) -> Result<Vec<Box<dyn Any>>, TaskError> {
        let plan = &self.exec.plan;
        let node = &self.exec.graph.nodes[id];
        let port = match side {
            None => node.output.clone(),
            Some(tag) => node.side_outputs.iter().find(|s| s.id == tag).map(|s| s.port.clone()),
        }
        .ok_or_else(|| internal("an output without a type"))?;
        let mut targets = Vec::new();
        for &(child, child_side) in &plan.chained[id] {
            if child_side == side {
                targets.push(self.node(child)?);
            }
        }
        for &edge_index in &plan.outputs[id] {
            if plan.sides[edge_index] != side {
                continue;
            }
            let edge = &plan.job_graph.edges[edge_index];
            let senders = self.senders.remove(&edge_index).ok_or_else(|| internal("a missing channel"))?;
            let target = &plan.job_graph.vertices[edge.target as usize];
            let settings = WriterSettings {
                subtask_index: self.task.subtask_index,
                target_max_parallelism: target.max_parallelism,
                batch_size: self.exec.settings.batch_size,
                cancel: self.cancel.clone(),
                metrics: self.metrics.clone(),
                edge_name: format!("partitioner to {}", target.name),
            };
            targets.push(port.writer(senders, &plan.partitioners[edge_index], settings)?);
        }
        Ok(targets)
    }

    /// The node's `Output<OUT>`, with its side outputs.
    fn output_of(&mut self, id: NodeId) -> Result<Box<dyn Any>, TaskError> {
        let batch_size = self.exec.settings.batch_size;
        let mut side = SideOutputs::new();
        let tags: Vec<(u64, Arc<dyn DataPort>)> =
            self.exec.graph.nodes[id].side_outputs.iter().map(|s| (s.id, s.port.clone())).collect();
        for (tag, port) in tags {
            let targets = self.targets(id, Some(tag))?;
            side.add(tag, port.side_output(targets, batch_size)?);
        }
        let targets = self.targets(id, None)?;
        let port = self.exec.graph.nodes[id].output.clone().ok_or_else(|| internal("an output without a type"))?;
        port.output(targets, batch_size, side)
    }

    /// The node's successors as one `Box<dyn Downstream<OUT>>`.
    fn downstream_of(&mut self, id: NodeId) -> Result<Box<dyn Any>, TaskError> {
        let targets = self.targets(id, None)?;
        let port = self.exec.graph.nodes[id].output.clone().ok_or_else(|| internal("an output without a type"))?;
        port.downstream(targets)
    }
}

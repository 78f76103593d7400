//! Planning: StreamGraph → JobGraph. Resolves parallelism and partitioners, picks the
//! runtime mode, and fuses operators into chains.

use spate_core::config::RuntimeMode;
use spate_core::job_graph::{ChainedOperator, ExecutionMode, JobEdge, JobGraph, JobVertex, PartitionerKind};
use spate_core::key::stable_hash;
use spate_core::key_group::default_max_parallelism;
use spate_runtime::source::Boundedness;

use super::stream_graph::{ChainingStrategy, EdgePartitioner, NodeId, NodeOperator, StreamGraph};

/// The settings planning depends on.
#[derive(Clone, Debug)]
pub(crate) struct PlanSettings {
    pub default_parallelism: u32,
    pub max_parallelism: Option<u32>,
    pub chaining: bool,
    pub runtime_mode: RuntimeMode,
}

/// A planned job: the JobGraph, and how its chains map back onto stream nodes.
pub(crate) struct Plan {
    pub job_graph: JobGraph,
    /// Per vertex: its head node.
    pub heads: Vec<NodeId>,
    /// Per node: the nodes chained after it, in order, with the side output (tag id)
    /// they consume, if not the main output.
    pub chained: Vec<Vec<(NodeId, Option<u64>)>>,
    /// Per node: indices of the job edges leaving it.
    pub outputs: Vec<Vec<usize>>,
    /// Per job edge: its partitioner, resolved.
    pub partitioners: Vec<EdgePartitioner>,
    /// Per job edge: the side output (tag id) it carries, if not the main output.
    pub sides: Vec<Option<u64>>,
}

impl Plan {
    /// The uid of node `node`: explicit, or generated.
    pub(crate) fn uid(&self, node: NodeId) -> &str {
        self.job_graph
            .vertices
            .iter()
            .flat_map(|v| &v.operators)
            .find(|o| o.node as usize == node)
            .map_or("", |o| o.uid.as_str())
    }
}

/// Why a pipeline cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Nothing was defined.
    #[error("no operators were defined: there is nothing to execute")]
    Empty,
    /// A non-parallel source was given more subtasks than it supports.
    #[error("'{operator}' is a non-parallel source: its parallelism can be at most {bound}, not {parallelism}")]
    SourceParallelism {
        /// The source.
        operator: String,
        /// Its bound.
        bound: u32,
        /// What was asked.
        parallelism: u32,
    },
    /// An operator's parallelism exceeds its number of key groups.
    #[error(
        "the parallelism of '{operator}' ({parallelism}) exceeds its max parallelism ({max}); raise \
         pipeline.max-parallelism"
    )]
    AboveMaxParallelism {
        /// The operator.
        operator: String,
        /// Its parallelism.
        parallelism: u32,
        /// Its max parallelism.
        max: u32,
    },
    /// BATCH mode with an unbounded source.
    #[error("execution.runtime-mode is BATCH, but '{0}' is unbounded; BATCH needs bounded sources")]
    UnboundedInBatch(String),
    /// A forward edge between operators of different parallelism.
    #[error(
        "forward partitioning needs equal parallelism, but '{from}' has {from_parallelism} and '{to}' has {to_parallelism}"
    )]
    ForwardParallelism {
        /// The upstream operator.
        from: String,
        /// Its parallelism.
        from_parallelism: u32,
        /// The downstream operator.
        to: String,
        /// Its parallelism.
        to_parallelism: u32,
    },
    /// A graph the API should not have built.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Plans `graph` as job `job_name`.
pub(crate) fn plan(graph: &StreamGraph, job_name: &str, settings: &PlanSettings) -> Result<Plan, PlanError> {
    if graph.nodes.is_empty() {
        return Err(PlanError::Empty);
    }
    let n = graph.nodes.len();

    // Parallelism and max parallelism per node.
    let mut parallelism = vec![0u32; n];
    let mut max_parallelism = vec![0u32; n];
    for node in &graph.nodes {
        let p = node.parallelism.or(node.default_parallelism).unwrap_or(settings.default_parallelism);
        if let NodeOperator::Source(source) = &node.operator {
            if let Some(bound) = source.max_parallelism() {
                if p > bound {
                    return Err(PlanError::SourceParallelism { operator: node.display_name(), bound, parallelism: p });
                }
            }
        }
        let max = node.max_parallelism.or(settings.max_parallelism).unwrap_or_else(|| default_max_parallelism(p));
        if p > max {
            return Err(PlanError::AboveMaxParallelism { operator: node.display_name(), parallelism: p, max });
        }
        parallelism[node.id] = p;
        max_parallelism[node.id] = max;
    }

    // Runtime mode.
    let unbounded = graph.nodes.iter().find(
        |node| matches!(&node.operator, NodeOperator::Source(s) if s.boundedness() == Boundedness::ContinuousUnbounded),
    );
    let execution_mode = match (settings.runtime_mode, unbounded) {
        (RuntimeMode::Streaming, _) => ExecutionMode::Streaming,
        (RuntimeMode::Batch, Some(source)) => return Err(PlanError::UnboundedInBatch(source.display_name())),
        (RuntimeMode::Batch, None) | (RuntimeMode::Automatic, None) => ExecutionMode::Batch,
        (RuntimeMode::Automatic, Some(_)) => ExecutionMode::Streaming,
    };

    // Edge partitioners.
    let mut partitioner_of = Vec::with_capacity(graph.edges.len());
    for edge in &graph.edges {
        let (src, tgt) = (&graph.nodes[edge.source], &graph.nodes[edge.target]);
        let same = parallelism[edge.source] == parallelism[edge.target];
        let p = match &edge.partitioner {
            None if same => EdgePartitioner::Forward,
            None => EdgePartitioner::Rebalance,
            Some(EdgePartitioner::Forward) if !same => {
                return Err(PlanError::ForwardParallelism {
                    from: src.display_name(),
                    from_parallelism: parallelism[edge.source],
                    to: tgt.display_name(),
                    to_parallelism: parallelism[edge.target],
                });
            }
            Some(p) => p.clone(),
        };
        partitioner_of.push(p);
    }

    // Chaining: creation order is topological, so each node's inputs are placed first.
    let chainable = |edge_index: usize| {
        let edge = &graph.edges[edge_index];
        let (src, tgt) = (&graph.nodes[edge.source], &graph.nodes[edge.target]);
        settings.chaining
            && edge.input == 0
            && matches!(partitioner_of[edge_index], EdgePartitioner::Forward)
            && parallelism[edge.source] == parallelism[edge.target]
            && max_parallelism[edge.source] == max_parallelism[edge.target]
            && src.chaining != ChainingStrategy::Never
            && tgt.chaining == ChainingStrategy::Always
            && graph.inputs(edge.target).count() == 1
    };
    let mut vertex_of = vec![u32::MAX; n];
    let mut heads: Vec<NodeId> = Vec::new();
    let mut chained = vec![Vec::new(); n];
    let mut chained_edge = vec![false; graph.edges.len()];
    for node in &graph.nodes {
        let inputs: Vec<usize> = graph.inputs(node.id).map(|(i, _)| i).collect();
        if inputs.iter().any(|&i| graph.edges[i].source >= node.id) {
            return Err(PlanError::Internal(format!("'{}' consumes a later operator", node.display_name())));
        }
        match inputs.as_slice() {
            [only] if chainable(*only) => {
                let source = graph.edges[*only].source;
                vertex_of[node.id] = vertex_of[source];
                chained[source].push((node.id, graph.edges[*only].side));
                chained_edge[*only] = true;
            }
            _ => {
                if !matches!(node.operator, NodeOperator::Source(_)) && inputs.is_empty() {
                    return Err(PlanError::Internal(format!("'{}' has no input", node.display_name())));
                }
                vertex_of[node.id] = heads.len() as u32;
                heads.push(node.id);
            }
        }
    }

    // Vertices, with operators in topological (node) order.
    let mut vertices: Vec<JobVertex> = heads
        .iter()
        .enumerate()
        .map(|(v, &head)| JobVertex {
            id: v as u32,
            name: String::new(),
            parallelism: parallelism[head],
            max_parallelism: max_parallelism[head],
            operators: Vec::new(),
        })
        .collect();
    for node in &graph.nodes {
        let chained_from = graph.inputs(node.id).find(|(i, _)| chained_edge[*i]).map(|(_, e)| e.source as u32);
        vertices[vertex_of[node.id] as usize].operators.push(ChainedOperator {
            node: node.id as u32,
            name: node.display_name(),
            uid: node.uid.clone().unwrap_or_else(|| generated_uid(graph, node.id)),
            kind: node.kind.to_string(),
            chained_from,
        });
    }
    for v in &mut vertices {
        v.name = v.operators.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(" -> ");
    }

    // Job edges: every edge that is not inside a chain.
    let mut edges = Vec::new();
    let mut partitioners = Vec::new();
    let mut sides = Vec::new();
    let mut outputs = vec![Vec::new(); n];
    for (i, edge) in graph.edges.iter().enumerate() {
        if chained_edge[i] {
            continue;
        }
        outputs[edge.source].push(edges.len());
        edges.push(JobEdge {
            source: vertex_of[edge.source],
            target: vertex_of[edge.target],
            source_node: edge.source as u32,
            target_node: edge.target as u32,
            input: edge.input,
            partitioner: partitioner_of[i].kind(),
            side_output: edge.side.and_then(|tag| {
                graph.nodes[edge.source].side_outputs.iter().find(|s| s.id == tag).map(|s| s.name.clone())
            }),
        });
        partitioners.push(partitioner_of[i].clone());
        sides.push(edge.side);
    }
    debug_assert!(edges.iter().all(|e| e.partitioner != PartitionerKind::Forward || {
        vertices[e.source as usize].parallelism == vertices[e.target as usize].parallelism
    }));

    let job_graph = JobGraph::new(job_name.to_string(), execution_mode, vertices, edges);
    Ok(Plan { job_graph, heads, chained, outputs, partitioners, sides })
}

/// A uid for an operator without one: stable for an unchanged program, since it depends
/// only on the operator's kind, its position in creation order and its inputs.
fn generated_uid(graph: &StreamGraph, node: NodeId) -> String {
    let mut text = format!("{}#{}", graph.nodes[node].kind, node);
    for (_, edge) in graph.inputs(node) {
        text.push_str(&format!("<{}:{}:{:?}", edge.source, edge.input, edge.side));
    }
    format!("{:016x}", stable_hash(text.as_bytes()))
}

//! The StreamGraph: one node per operator the program defined, edges with partitioners.

use std::sync::Arc;

use spate_core::job_graph::PartitionerKind;

use super::factory::{OperatorFactory, SelectorFactory, SinkFactory, SourceFactory, TwoInputFactory};
use super::port::DataPort;

/// A node's index in [`StreamGraph::nodes`], in creation order — which is a topological
/// order, since an operator can only consume streams that already exist.
pub(crate) type NodeId = usize;

/// Whether an operator may be fused with its neighbours (Flink's `ChainingStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChainingStrategy {
    /// Chains with its predecessor and successors where the edge allows it.
    Always,
    /// Starts a new chain; successors may chain to it (`start_new_chain`).
    Head,
    /// Chains with nothing (`disable_chaining`).
    Never,
}

/// How an edge distributes records, with the typed key selectors it may need.
#[derive(Clone)]
pub(crate) enum EdgePartitioner {
    Forward,
    Rebalance,
    Rescale,
    Broadcast,
    Shuffle,
    Global,
    Hash(Arc<dyn SelectorFactory>),
    Custom(Arc<dyn SelectorFactory>),
}

impl EdgePartitioner {
    pub(crate) fn kind(&self) -> PartitionerKind {
        match self {
            EdgePartitioner::Forward => PartitionerKind::Forward,
            EdgePartitioner::Rebalance => PartitionerKind::Rebalance,
            EdgePartitioner::Rescale => PartitionerKind::Rescale,
            EdgePartitioner::Broadcast => PartitionerKind::Broadcast,
            EdgePartitioner::Shuffle => PartitionerKind::Shuffle,
            EdgePartitioner::Global => PartitionerKind::Global,
            EdgePartitioner::Hash(_) => PartitionerKind::Hash,
            EdgePartitioner::Custom(_) => PartitionerKind::Custom,
        }
    }
}

/// What runs at a node.
pub(crate) enum NodeOperator {
    Source(Arc<dyn SourceFactory>),
    Operator(Arc<dyn OperatorFactory>),
    /// Two inputs; always the head of its task.
    TwoInput(Arc<dyn TwoInputFactory>),
    Sink(Arc<dyn SinkFactory>),
}

/// One operator of the program.
pub(crate) struct StreamNode {
    pub id: NodeId,
    /// What kind of operator (`Map`, `KeyedReduce`, ...), for plans and generated uids.
    pub kind: &'static str,
    /// Display name (`.name(..)`, or a default).
    pub name: String,
    /// Explicit uid (`.uid(..)`).
    pub uid: Option<String>,
    /// Explicit parallelism (`.set_parallelism(..)`).
    pub parallelism: Option<u32>,
    /// Parallelism when none is set, if not the environment's (1 for `from_iter`).
    pub default_parallelism: Option<u32>,
    /// Explicit max parallelism.
    pub max_parallelism: Option<u32>,
    pub chaining: ChainingStrategy,
    pub operator: NodeOperator,
    /// The record type it consumes (not for sources).
    pub input: Option<Arc<dyn DataPort>>,
    /// The record type it produces (not for sinks).
    pub output: Option<Arc<dyn DataPort>>,
    /// The side outputs something consumes: tag id, name, record type.
    pub side_outputs: Vec<SidePort>,
}

/// A side output of a node that something consumes.
pub(crate) struct SidePort {
    pub id: u64,
    pub name: String,
    pub type_id: std::any::TypeId,
    pub port: Arc<dyn DataPort>,
}

impl StreamNode {
    /// The name as Flink shows it in plans: sources and sinks are prefixed.
    pub(crate) fn display_name(&self) -> String {
        match self.operator {
            NodeOperator::Source(_) => format!("Source: {}", self.name),
            NodeOperator::Sink(_) => format!("Sink: {}", self.name),
            NodeOperator::Operator(_) | NodeOperator::TwoInput(_) => self.name.clone(),
        }
    }
}

/// A connection between two nodes.
pub(crate) struct StreamEdge {
    pub source: NodeId,
    pub target: NodeId,
    /// Which input of the target (0, or 1 for a second input).
    pub input: u8,
    /// `None`: forward if the parallelism matches, else rebalance (Flink's default).
    pub partitioner: Option<EdgePartitioner>,
    /// The side output (tag id) it carries, if not the main output.
    pub side: Option<u64>,
}

/// The program's operators and their connections.
#[derive(Default)]
pub(crate) struct StreamGraph {
    pub nodes: Vec<StreamNode>,
    pub edges: Vec<StreamEdge>,
}

impl StreamGraph {
    /// The edges entering `node`.
    pub(crate) fn inputs(&self, node: NodeId) -> impl Iterator<Item = (usize, &StreamEdge)> {
        self.edges.iter().enumerate().filter(move |(_, e)| e.target == node)
    }
}

/// What a `DataStream` stands for: a node's output, possibly repartitioned, or the union
/// of several streams. Partitioning and union are not operators (as in Flink); they
/// shape the edges of whatever consumes the stream.
#[derive(Clone)]
pub(crate) enum StreamRef {
    Node(NodeId),
    /// A side output of a node (tag id).
    SideOutput(NodeId, u64),
    Partitioned(Box<StreamRef>, EdgePartitioner),
    Union(Vec<StreamRef>),
}

/// One input of a consumer: a node's output (main or a side output) and the
/// partitioner its edge takes, if one was chosen.
pub(crate) struct Resolved {
    pub node: NodeId,
    pub side: Option<u64>,
    pub partitioner: Option<EdgePartitioner>,
}

impl StreamRef {
    /// The nodes whose output this stream is, each with the partitioner its edge to a
    /// consumer takes (the outermost partitioning call wins).
    pub(crate) fn resolve(&self) -> Vec<Resolved> {
        match self {
            StreamRef::Node(n) => vec![Resolved { node: *n, side: None, partitioner: None }],
            StreamRef::SideOutput(n, tag) => vec![Resolved { node: *n, side: Some(*tag), partitioner: None }],
            StreamRef::Partitioned(inner, p) => {
                inner.resolve().into_iter().map(|r| Resolved { partitioner: Some(p.clone()), ..r }).collect()
            }
            StreamRef::Union(members) => members.iter().flat_map(StreamRef::resolve).collect(),
        }
    }

    /// The node, if this stream is a node's plain output.
    pub(crate) fn node(&self) -> Option<NodeId> {
        match self {
            StreamRef::Node(n) => Some(*n),
            _ => None,
        }
    }
}

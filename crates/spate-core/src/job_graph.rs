//! The JobGraph: a job's operators chained into vertices, and the edges between them.
//!
//! It is what a client submits and what every process of a job agrees on. It holds no
//! user code (closures cannot be serialized): each process of a job rebuilds the same
//! pipeline by running the same binary, and the [`JobGraph::fingerprint`] proves that
//! it did (DESIGN.md section 3).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How records of an edge are distributed over the target's subtasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PartitionerKind {
    /// Subtask `i` to subtask `i`; requires equal parallelism. The only chainable edge.
    Forward,
    /// By key group of the record's key.
    Hash,
    /// Round robin over all target subtasks.
    Rebalance,
    /// Round robin over a local subset of target subtasks (pointwise).
    Rescale,
    /// Every record to every target subtask.
    Broadcast,
    /// A uniformly random target subtask per record.
    Shuffle,
    /// Every record to target subtask 0.
    Global,
    /// A user partitioner over the record's key.
    Custom,
}

/// Which upstream subtasks connect to which downstream subtasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributionPattern {
    /// Every upstream subtask to every downstream subtask.
    AllToAll,
    /// Each upstream subtask to a contiguous subset of downstream subtasks (or the
    /// reverse when the upstream is wider), as Flink connects forward and rescale edges.
    Pointwise,
}

impl PartitionerKind {
    /// How subtasks are connected for this partitioner.
    pub fn distribution(self) -> DistributionPattern {
        match self {
            PartitionerKind::Forward | PartitionerKind::Rescale => DistributionPattern::Pointwise,
            _ => DistributionPattern::AllToAll,
        }
    }
}

/// Pointwise connection: the downstream subtasks that upstream subtask `index` of
/// `upstream` sends to, when the downstream has `downstream` subtasks.
pub fn pointwise_targets(upstream: u32, downstream: u32, index: u32) -> std::ops::Range<u32> {
    if upstream == downstream {
        index..index + 1
    } else if upstream < downstream {
        // Each upstream subtask feeds a contiguous block of downstream subtasks.
        let start = (u64::from(index) * u64::from(downstream) / u64::from(upstream)) as u32;
        let end = ((u64::from(index) + 1) * u64::from(downstream) / u64::from(upstream)) as u32;
        start..end
    } else {
        // Several upstream subtasks feed one downstream subtask.
        let target = (u64::from(index) * u64::from(downstream) / u64::from(upstream)) as u32;
        target..target + 1
    }
}

/// The runtime mode a job was planned for (`execution.runtime-mode` after AUTOMATIC was
/// resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    /// Continuous results: every keyed update is emitted.
    Streaming,
    /// Bounded inputs, final results only.
    Batch,
}

/// One operator inside a vertex's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedOperator {
    /// The operator's node id in the stream graph.
    pub node: u32,
    /// Its display name.
    pub name: String,
    /// Its uid: the name its state is stored under.
    pub uid: String,
    /// What kind of operator it is (`Source`, `Map`, `KeyedReduce`, `Sink`, ...).
    pub kind: String,
    /// The operator of the same chain that feeds it; `None` for the chain's head.
    pub chained_from: Option<u32>,
}

/// A vertex: a chain of operators run by one thread per subtask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobVertex {
    /// Vertex id, its index in [`JobGraph::vertices`].
    pub id: u32,
    /// Display name, as Flink forms it: the operators' names joined by ` -> `.
    pub name: String,
    /// Number of parallel subtasks.
    pub parallelism: u32,
    /// Number of key groups of its keyed state.
    pub max_parallelism: u32,
    /// The chained operators, head first, in topological order.
    pub operators: Vec<ChainedOperator>,
}

/// An edge between two vertices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    /// Upstream vertex.
    pub source: u32,
    /// Downstream vertex.
    pub target: u32,
    /// The operator (stream node) of the upstream chain that emits into this edge.
    pub source_node: u32,
    /// The downstream chain's head operator it feeds.
    pub target_node: u32,
    /// Which input of the target operator (0, or 1 for the second input of a two-input
    /// operator).
    pub input: u8,
    /// How records are distributed.
    pub partitioner: PartitionerKind,
    /// The side output this edge carries, if it is not the main output.
    pub side_output: Option<String>,
}

/// A job as planned: vertices, edges, and the facts every process must agree on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobGraph {
    /// The name given to `execute`.
    pub job_name: String,
    /// STREAMING or BATCH, after AUTOMATIC was resolved.
    pub execution_mode: ExecutionMode,
    /// Vertices in topological order (sources first).
    pub vertices: Vec<JobVertex>,
    /// Edges between vertices.
    pub edges: Vec<JobEdge>,
    /// Hash of the topology (operators, uids, edges, parallelism), hex.
    pub fingerprint: String,
}

impl JobGraph {
    /// Builds a graph and computes its fingerprint.
    pub fn new(job_name: String, execution_mode: ExecutionMode, vertices: Vec<JobVertex>, edges: Vec<JobEdge>) -> Self {
        let mut graph = JobGraph { job_name, execution_mode, vertices, edges, fingerprint: String::new() };
        graph.fingerprint = graph.compute_fingerprint();
        graph
    }

    /// The hash of everything that must be equal for two processes to run the same job:
    /// the topology, uids, kinds, parallelism and partitioners, but not display names.
    pub fn compute_fingerprint(&self) -> String {
        let mut canonical = String::new();
        let _ = write!(canonical, "mode={:?};", self.execution_mode);
        for v in &self.vertices {
            let _ = write!(canonical, "v{}:p{}:m{}[", v.id, v.parallelism, v.max_parallelism);
            for op in &v.operators {
                let _ = write!(canonical, "{}:{}:{}:{:?},", op.node, op.kind, op.uid, op.chained_from);
            }
            canonical.push(']');
        }
        for e in &self.edges {
            let _ = write!(
                canonical,
                "e{}>{}:{}>{}:{}:{:?}:{:?};",
                e.source, e.target, e.source_node, e.target_node, e.input, e.partitioner, e.side_output
            );
        }
        format!("{:016x}", crate::key::stable_hash(canonical.as_bytes()))
    }

    /// The edges leaving vertex `id`.
    pub fn outputs(&self, id: u32) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// The edges entering vertex `id`, in the order their channels are numbered.
    pub fn inputs(&self, id: u32) -> impl Iterator<Item = &JobEdge> {
        self.edges.iter().filter(move |e| e.target == id)
    }

    /// The graph as pretty-printed JSON (what `execution_plan()` returns).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a JobGraph always serializes")
    }

    /// The graph in Graphviz DOT, one box per vertex listing its chained operators.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph job {\n  rankdir=LR;\n  node [shape=box];\n");
        for v in &self.vertices {
            let ops: Vec<&str> = v.operators.iter().map(|o| o.name.as_str()).collect();
            let _ = writeln!(
                dot,
                "  v{} [label=\"{}\\nparallelism {}\"];",
                v.id,
                ops.join("\\n").replace('"', "\\\""),
                v.parallelism
            );
        }
        for e in &self.edges {
            let _ = writeln!(dot, "  v{} -> v{} [label=\"{:?}\"];", e.source, e.target, e.partitioner);
        }
        dot.push_str("}\n");
        dot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(parallelism: u32, uid: &str) -> JobGraph {
        let op = |node, kind: &str, uid: &str, from| ChainedOperator {
            node,
            name: kind.to_string(),
            uid: uid.to_string(),
            kind: kind.to_string(),
            chained_from: from,
        };
        JobGraph::new(
            "job".into(),
            ExecutionMode::Streaming,
            vec![
                JobVertex {
                    id: 0,
                    name: "Source".into(),
                    parallelism,
                    max_parallelism: 128,
                    operators: vec![op(0, "Source", "src", None)],
                },
                JobVertex {
                    id: 1,
                    name: "Reduce".into(),
                    parallelism,
                    max_parallelism: 128,
                    operators: vec![op(1, "KeyedReduce", uid, None), op(2, "Sink", "sink", Some(1))],
                },
            ],
            vec![JobEdge {
                source: 0,
                target: 1,
                source_node: 0,
                target_node: 1,
                input: 0,
                partitioner: PartitionerKind::Hash,
                side_output: None,
            }],
        )
    }

    #[test]
    fn fingerprint_sees_topology_not_names() {
        let a = graph(2, "reduce");
        let mut renamed = a.clone();
        renamed.job_name = "other".into();
        renamed.vertices[1].name = "x".into();
        assert_eq!(a.compute_fingerprint(), renamed.compute_fingerprint());
        assert_ne!(a.fingerprint, graph(3, "reduce").fingerprint);
        assert_ne!(a.fingerprint, graph(2, "sum").fingerprint);
    }

    #[test]
    fn json_round_trips() {
        let g = graph(2, "reduce");
        let back: JobGraph = serde_json::from_str(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert!(g.to_json().contains("\"partitioner\": \"HASH\""));
        assert!(g.to_dot().contains("v0 -> v1"));
    }

    #[test]
    fn pointwise_connections_cover_every_subtask() {
        for up in 1..8u32 {
            for down in 1..8u32 {
                let mut seen = vec![0; down as usize];
                for i in 0..up {
                    let t = pointwise_targets(up, down, i);
                    assert!(!t.is_empty());
                    for d in t {
                        seen[d as usize] += 1;
                    }
                }
                assert!(seen.iter().all(|&n| n >= 1), "up {up} down {down}: {seen:?}");
            }
        }
        assert_eq!(pointwise_targets(2, 4, 1), 2..4);
        assert_eq!(pointwise_targets(4, 2, 3), 1..2);
    }
}

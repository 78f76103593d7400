//! The check that every process of a job built the same job (DESIGN.md section 3).
//!
//! A worker replays the application's `main` to rebuild its pipeline; the JobGraph of
//! the first run travels with the job, and a worker whose `main` built another one
//! fails with the first difference — operator, uid, parallelism or edge — rather than
//! with two fingerprints that say only *that* something differs. What the fingerprint
//! covers, this compares; display names are not part of either.

use crate::job_graph::{JobGraph, JobVertex};

/// The first way a rebuilt graph differs from the recorded one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "pipeline construction is not deterministic: {what} (at the first run: {recorded}; now: {rebuilt}). Build \
         pipelines only from the arguments and from earlier results; use env.side_effect(..) for anything else"
)]
pub struct GraphDifference {
    /// Where: `operator 3 ('Map') of vertex 1`, `edge 2`, `the number of vertices`.
    pub what: String,
    /// What the first run built there.
    pub recorded: String,
    /// What this run built.
    pub rebuilt: String,
}

fn differ(what: String, recorded: impl ToString, rebuilt: impl ToString) -> Option<GraphDifference> {
    Some(GraphDifference { what, recorded: recorded.to_string(), rebuilt: rebuilt.to_string() })
}

fn vertex_name(v: &JobVertex) -> String {
    format!("vertex {} ('{}')", v.id, v.name)
}

/// The first difference between `recorded` and `rebuilt`, if any.
pub fn first_difference(recorded: &JobGraph, rebuilt: &JobGraph) -> Option<GraphDifference> {
    if recorded.execution_mode != rebuilt.execution_mode {
        let (a, b) = (recorded.execution_mode, rebuilt.execution_mode);
        return differ("the runtime mode".into(), format!("{a:?}"), format!("{b:?}"));
    }
    if recorded.vertices.len() != rebuilt.vertices.len() {
        return differ("the number of vertices".into(), recorded.vertices.len(), rebuilt.vertices.len());
    }
    for (a, b) in recorded.vertices.iter().zip(&rebuilt.vertices) {
        if a.parallelism != b.parallelism {
            return differ(format!("the parallelism of {}", vertex_name(a)), a.parallelism, b.parallelism);
        }
        if a.max_parallelism != b.max_parallelism {
            return differ(format!("the max parallelism of {}", vertex_name(a)), a.max_parallelism, b.max_parallelism);
        }
        if a.operators.len() != b.operators.len() {
            return differ(format!("the operators chained in {}", vertex_name(a)), a.name.clone(), b.name.clone());
        }
        for (i, (x, y)) in a.operators.iter().zip(&b.operators).enumerate() {
            let at = || format!("operator {} ('{}') of {}", x.node, x.name, vertex_name(a));
            if x.kind != y.kind {
                return differ(format!("the kind of {}", at()), &x.kind, &y.kind);
            }
            if x.uid != y.uid {
                return differ(format!("the uid of {}", at()), &x.uid, &y.uid);
            }
            if x.node != y.node || x.chained_from != y.chained_from {
                let show =
                    |o: &crate::job_graph::ChainedOperator| format!("node {} after {:?}", o.node, o.chained_from);
                return differ(format!("the place of chained operator {i} of {}", vertex_name(a)), show(x), show(y));
            }
        }
    }
    if recorded.edges.len() != rebuilt.edges.len() {
        return differ("the number of edges".into(), recorded.edges.len(), rebuilt.edges.len());
    }
    for (i, (a, b)) in recorded.edges.iter().zip(&rebuilt.edges).enumerate() {
        if a != b {
            let show = |e: &crate::job_graph::JobEdge| {
                format!(
                    "vertex {} -> vertex {} ({:?}, input {}{})",
                    e.source,
                    e.target,
                    e.partitioner,
                    e.input,
                    e.side_output.as_deref().map(|s| format!(", side output '{s}'")).unwrap_or_default()
                )
            };
            return differ(format!("edge {i}"), show(a), show(b));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_graph::{ChainedOperator, ExecutionMode, JobEdge, PartitionerKind};

    fn graph(parallelism: u32, uid: &str, partitioner: PartitionerKind) -> JobGraph {
        let op = |node: u32, name: &str, kind: &str, uid: &str| ChainedOperator {
            node,
            name: name.into(),
            uid: uid.into(),
            kind: kind.into(),
            chained_from: None,
        };
        let vertices = vec![
            JobVertex {
                id: 0,
                name: "Source".into(),
                parallelism: 1,
                max_parallelism: 128,
                operators: vec![op(0, "Source", "Source", "src")],
            },
            JobVertex {
                id: 1,
                name: "Map".into(),
                parallelism,
                max_parallelism: 128,
                operators: vec![op(1, "Map", "Map", uid)],
            },
        ];
        let edges = vec![JobEdge {
            source: 0,
            target: 1,
            source_node: 0,
            target_node: 1,
            input: 0,
            partitioner,
            side_output: None,
        }];
        JobGraph::new("job".into(), ExecutionMode::Streaming, vertices, edges)
    }

    #[test]
    fn the_first_difference_is_named_and_the_same_graph_has_none() {
        let recorded = graph(2, "map", PartitionerKind::Rebalance);
        assert_eq!(first_difference(&recorded, &graph(2, "map", PartitionerKind::Rebalance)), None);

        let d = first_difference(&recorded, &graph(3, "map", PartitionerKind::Rebalance)).unwrap();
        assert_eq!(d.what, "the parallelism of vertex 1 ('Map')");
        assert_eq!((d.recorded.as_str(), d.rebuilt.as_str()), ("2", "3"));
        assert!(d.to_string().starts_with("pipeline construction is not deterministic: the parallelism"));

        let d = first_difference(&recorded, &graph(2, "map-2", PartitionerKind::Rebalance)).unwrap();
        assert_eq!(d.what, "the uid of operator 1 ('Map') of vertex 1 ('Map')");

        let d = first_difference(&recorded, &graph(2, "map", PartitionerKind::Hash)).unwrap();
        assert_eq!(d.what, "edge 0");
        assert!(d.rebuilt.contains("Hash"), "{d}");

        // Display names are not compared (nor fingerprinted).
        let mut renamed = recorded.clone();
        renamed.vertices[1].name = "Renamed".into();
        renamed.vertices[1].operators[0].name = "Renamed".into();
        assert_eq!(first_difference(&recorded, &renamed), None);
        assert_eq!(renamed.compute_fingerprint(), recorded.fingerprint);
    }

    /// A change to a graph.
    type Mutation = Box<dyn Fn(&mut JobGraph)>;

    #[test]
    fn a_different_fingerprint_always_has_a_first_difference() {
        let base = graph(2, "map", PartitionerKind::Rebalance);
        let mutations: Vec<Mutation> = vec![
            Box::new(|g| g.execution_mode = ExecutionMode::Batch),
            Box::new(|g| g.vertices[0].max_parallelism = 64),
            Box::new(|g| g.vertices[1].operators[0].kind = "Filter".into()),
            Box::new(|g| g.vertices[1].operators[0].chained_from = Some(0)),
            Box::new(|g| g.edges[0].input = 1),
            Box::new(|g| g.edges[0].side_output = Some("late".into())),
            Box::new(|g| {
                g.edges.pop();
            }),
            Box::new(|g| {
                g.vertices.pop();
            }),
        ];
        for (i, mutate) in mutations.iter().enumerate() {
            let mut other = base.clone();
            mutate(&mut other);
            assert_ne!(other.compute_fingerprint(), base.fingerprint, "mutation {i}");
            assert!(first_difference(&base, &other).is_some(), "mutation {i} is named");
        }
    }
}

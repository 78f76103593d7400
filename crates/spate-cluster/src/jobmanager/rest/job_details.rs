//! `/jobs/:id`, `/jobs/:id/plan` and `/jobs/:id/config`, in Flink's shapes: the job's
//! vertices with their subtasks' states and counters, its status timestamps, its plan
//! and its execution configuration.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use spate_core::config::Configuration;
use spate_core::job_graph::{JobGraph, PartitionerKind};
use spate_runtime::job_master::{JobStatus, task_descriptors};
use spate_runtime::restart::RestartStrategy;

use super::RestError;
use crate::jobmanager::Shared;
use crate::jobmanager::dispatcher::{JobRecord, now_ms};
use crate::jobmanager::subtasks::{SubtaskRecord, SubtaskState, vertex_state};

/// A vertex's id in Flink's 32-hex-digit form: its index, so ids are stable across
/// runs of the same pipeline and readable.
pub(super) fn vertex_id(vertex: u32) -> String {
    format!("{vertex:032x}")
}

/// Flink's execution states that Spate's subtasks do not pass through.
const FLINK_ONLY_STATES: [&str; 5] = ["SCHEDULED", "DEPLOYING", "CANCELING", "RECONCILING", "INITIALIZING"];

/// The one slot-sharing group of every job.
const SLOT_SHARING_GROUP: &str = "00000000000000000000000000000000";

fn record<'a>(jobs: &'a std::collections::BTreeMap<String, JobRecord>, id: &str) -> Result<&'a JobRecord, RestError> {
    jobs.get(id).ok_or_else(|| RestError::not_found(format!("Job {id} not found")))
}

/// Every status of Flink's `timestamps`, with when the job entered it (0: never).
fn timestamps(record: &JobRecord) -> Value {
    use JobStatus::*;
    let mut out = serde_json::Map::new();
    for status in
        [Initializing, Created, Running, Failing, Restarting, Cancelling, Finished, Failed, Canceled, Suspended]
    {
        out.insert(status.name().into(), json!(record.timestamps.get(status.name()).copied().unwrap_or(0)));
    }
    out.insert("RECONCILING".into(), json!(0));
    Value::Object(out)
}

fn vertex(graph: &JobGraph, v: usize, subtasks: &[&SubtaskRecord], now: i64) -> Value {
    let vertex = &graph.vertices[v];
    let state = vertex_state(subtasks);
    let start = subtasks.iter().map(|t| t.start_ms).filter(|t| *t >= 0).min().unwrap_or(-1);
    let ended = !matches!(state, SubtaskState::Running | SubtaskState::Created);
    let end = if ended { subtasks.iter().map(|t| t.end_ms).max().unwrap_or(-1) } else { -1 };
    let duration = match (start, end) {
        (-1, _) => -1,
        (s, -1) => now - s,
        (s, e) => e - s,
    };
    let mut tasks = serde_json::Map::new();
    for s in SubtaskState::ALL {
        tasks.insert(s.name().into(), json!(subtasks.iter().filter(|t| t.state == s).count()));
    }
    for flink_only in FLINK_ONLY_STATES {
        tasks.insert(flink_only.into(), json!(0));
    }
    // Live counters every second while subtasks run; complete once every subtask ended
    // with its final ones.
    let complete = subtasks
        .iter()
        .all(|t| t.metrics.is_some() && !matches!(t.state, SubtaskState::Running | SubtaskState::Created));
    let sum = |f: fn(&spate_runtime::metrics::TaskMetricsSnapshot) -> u64| -> u64 {
        subtasks.iter().filter_map(|t| t.metrics.as_ref()).map(f).sum()
    };
    let back_pressured_ms = sum(|m| m.back_pressured_nanos) / 1_000_000;
    json!({
        "id": vertex_id(vertex.id),
        "slotSharingGroupId": SLOT_SHARING_GROUP,
        "name": vertex.name,
        "maxParallelism": vertex.max_parallelism,
        "parallelism": vertex.parallelism,
        "status": state.name(),
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "tasks": tasks,
        "metrics": {
            "read-bytes": 0,
            "read-bytes-complete": false,
            "write-bytes": 0,
            "write-bytes-complete": false,
            "read-records": sum(|m| m.records_in),
            "read-records-complete": complete,
            "write-records": sum(|m| m.records_out),
            "write-records-complete": complete,
            "accumulated-backpressured-time": back_pressured_ms,
            "accumulated-idle-time": 0,
            "accumulated-busy-time": 0.0,
        },
    })
}

/// `/jobs/:id`.
pub(super) async fn details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = record(&jobs, &id)?;
    let now = now_ms();
    let graph = &record.graph;
    let descriptors = task_descriptors(graph);
    let vertices: Vec<Value> = (0..graph.vertices.len())
        .map(|v| {
            let subtasks: Vec<&SubtaskRecord> = descriptors
                .iter()
                .zip(&record.subtasks)
                .filter(|(d, _)| d.vertex as usize == v)
                .map(|(_, s)| s)
                .collect();
            vertex(graph, v, &subtasks, now)
        })
        .collect();
    let mut status_counts = serde_json::Map::new();
    for s in SubtaskState::ALL {
        let n = vertices.iter().filter(|v| v["status"] == s.name()).count();
        status_counts.insert(s.name().into(), json!(n));
    }
    for flink_only in FLINK_ONLY_STATES {
        status_counts.insert(flink_only.into(), json!(0));
    }
    let end = record.end_ms.unwrap_or(-1);
    Ok(Json(json!({
        "jid": id,
        "application-id": id,
        "name": record.name,
        "isStoppable": false,
        "state": record.status.name(),
        "job-type": if record.streaming { "STREAMING" } else { "BATCH" },
        "schedulerType": "Default",
        "start-time": record.start_ms,
        "end-time": end,
        "duration": record.end_ms.unwrap_or(now) - record.start_ms,
        "maxParallelism": -1,
        "now": now,
        "timestamps": timestamps(record),
        "vertices": vertices,
        "status-counts": status_counts,
        "plan": plan_of(&id, record),
        "pending-operators": 0,
    })))
}

fn ship_strategy(kind: &PartitionerKind) -> &'static str {
    match kind {
        PartitionerKind::Forward => "FORWARD",
        PartitionerKind::Hash => "HASH",
        PartitionerKind::Rebalance => "REBALANCE",
        PartitionerKind::Rescale => "RESCALE",
        PartitionerKind::Broadcast => "BROADCAST",
        PartitionerKind::Shuffle => "SHUFFLE",
        PartitionerKind::Global => "GLOBAL",
        _ => "CUSTOM",
    }
}

fn plan_of(id: &str, record: &JobRecord) -> Value {
    let graph = &record.graph;
    // Flink lists sinks first: vertices in reverse order.
    let nodes: Vec<Value> = graph
        .vertices
        .iter()
        .rev()
        .map(|v| {
            let description: String = v
                .operators
                .iter()
                .enumerate()
                .map(|(i, op)| if i == 0 { format!("{}<br/>", op.name) } else { format!("+- {}<br/>", op.name) })
                .collect();
            let inputs: Vec<Value> = graph
                .edges
                .iter()
                .filter(|e| e.target == v.id)
                .enumerate()
                .map(|(num, e)| {
                    json!({
                        "id": vertex_id(e.source),
                        "num": num,
                        "exchange": "pipelined_bounded",
                        "ship_strategy": ship_strategy(&e.partitioner),
                    })
                })
                .collect();
            let mut node = json!({
                "id": vertex_id(v.id),
                "operator": "",
                "parallelism": v.parallelism,
                "operator_strategy": "",
                "description": description,
                "optimizer_properties": {},
            });
            if !inputs.is_empty() {
                node["inputs"] = Value::Array(inputs);
            }
            node
        })
        .collect();
    json!({
        "jid": id,
        "name": record.name,
        "type": if record.streaming { "STREAMING" } else { "BATCH" },
        "nodes": nodes,
    })
}

/// `/jobs/:id/plan`.
pub(super) async fn plan(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = record(&jobs, &id)?;
    Ok(Json(json!({ "plan": plan_of(&id, record) })))
}

/// How Flink describes a restart strategy.
fn describe(strategy: &RestartStrategy) -> String {
    match strategy {
        RestartStrategy::None => "Restart deactivated.".to_string(),
        RestartStrategy::FixedDelay { attempts, delay } => {
            format!("Restart with fixed delay (PT{}S). #{attempts} restart attempts.", delay.as_secs_f64())
        }
        RestartStrategy::FailureRate { max_failures, interval, delay } => format!(
            "Failure rate restart with maximum of {max_failures} failures within interval PT{}S and fixed delay PT{}S.",
            interval.as_secs_f64(),
            delay.as_secs_f64()
        ),
        RestartStrategy::ExponentialDelay { initial, max, multiplier, reset_threshold, jitter, attempts } => format!(
            "Restart with exponential delay: starting at PT{}S, increasing by {multiplier}, with maximum PT{}S. \
             Delay resets after PT{}S with jitter {jitter}. #{} restart attempts.",
            initial.as_secs_f64(),
            max.as_secs_f64(),
            reset_threshold.as_secs_f64(),
            attempts.map_or("unlimited".to_string(), |a| a.to_string())
        ),
    }
}

/// `/jobs/:id/config`: the execution configuration as Flink's; `user-config` holds the
/// job's shipped configuration.
pub(super) async fn config(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let record = record(&jobs, &id)?;
    let config = Configuration::from_pairs(&record.config);
    let restart =
        RestartStrategy::from_config(&config, false).map(|s| describe(&s)).unwrap_or_else(|e| format!("invalid: {e}"));
    // What the client planned with, if it shipped it; Flink says -1 when unset.
    let shipped = record.config.iter().any(|(k, _)| k == spate_core::config::options::PARALLELISM_DEFAULT.key);
    let parallelism =
        if shipped { config.get(&spate_core::config::options::PARALLELISM_DEFAULT).map_or(-1, i64::from) } else { -1 };
    let user: serde_json::Map<String, Value> = record
        .config
        .iter()
        .map(|(k, v)| {
            let shown = if super::cluster::is_secret(k) { "******".to_string() } else { v.clone() };
            (k.clone(), Value::String(shown))
        })
        .collect();
    Ok(Json(json!({
        "jid": id,
        "name": record.name,
        "execution-config": {
            "restart-strategy": restart,
            "job-parallelism": parallelism,
            "object-reuse-mode": false,
            "user-config": user,
        },
    })))
}

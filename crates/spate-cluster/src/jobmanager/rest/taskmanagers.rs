//! `/taskmanagers` and `/taskmanagers/:id`, in Flink's `TaskManagerInfo` shape. Fields
//! that only mean something for a JVM (memory pools, JMX) are present with the
//! placeholders listed in `docs/rest.md`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::RestError;
use crate::jobmanager::{Shared, TaskManagerEntry};

fn resource(cpu_cores: f64) -> Value {
    json!({
        "cpuCores": cpu_cores,
        "taskHeapMemory": 0,
        "taskOffHeapMemory": 0,
        "managedMemory": 0,
        "networkMemory": 0,
        "extendedResources": {},
    })
}

fn info(shared: &Shared, entry: &TaskManagerEntry) -> Value {
    let r = &entry.registration;
    let free = entry.free_slots();
    json!({
        "id": r.id,
        "path": format!("spate://{}/taskmanager/{}", r.host, r.id),
        // The data plane's port comes with the workers.
        "dataPort": -1,
        "jmxPort": -1,
        // Flink's field holds the time of the last heartbeat, in ms since the epoch.
        "timeSinceLastHeartbeat": shared.epoch_millis(entry.last_heartbeat),
        "slotsNumber": r.slots,
        "freeSlots": free,
        "assignedTasks": entry.used_slots(),
        // One CPU core per slot, as Flink's default (taskmanager.cpu.cores unset).
        "totalResource": resource(f64::from(r.slots)),
        "freeResource": resource(f64::from(free)),
        "hardware": {
            "cpuCores": entry.hardware.cpu_cores,
            "physicalMemory": entry.hardware.physical_memory,
            "freeMemory": entry.hardware.free_memory,
            "managedMemory": 0,
        },
        "memoryConfiguration": {
            "frameworkHeap": 0,
            "taskHeap": 0,
            "frameworkOffHeap": 0,
            "taskOffHeap": 0,
            "networkMemory": 0,
            "managedMemory": 0,
            "jvmMetaspace": 0,
            "jvmOverhead": 0,
            "totalFlinkMemory": 0,
            "totalProcessMemory": 0,
        },
    })
}

pub(super) async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let taskmanagers: Vec<Value> = shared.resources().taskmanagers().map(|e| info(&shared, e)).collect();
    Json(json!({ "taskmanagers": taskmanagers }))
}

pub(super) async fn details(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, RestError> {
    let rm = shared.resources();
    let entry = rm.get(&id).ok_or_else(|| RestError::not_found(format!("TaskManager {id} is not registered")))?;
    let mut value = info(&shared, entry);
    value["allocatedSlots"] = json!([]);
    Ok(Json(value))
}

/// How much of a log or output `/taskmanagers/:id/log` and `/stdout` return: the tail.
const OUTPUT_LIMIT: u64 = 1 << 20;

async fn output(shared: &Shared, id: &str, kind: crate::rpc::OutputKind) -> Result<String, RestError> {
    let address = {
        let rm = shared.resources();
        let entry = rm.get(id).ok_or_else(|| RestError::not_found(format!("TaskManager {id} is not registered")))?;
        entry.registration.rpc_address.clone()
    };
    let unavailable = |what: String| RestError { status: axum::http::StatusCode::SERVICE_UNAVAILABLE, message: what };
    let client =
        crate::rpc::connect_executor(&address).await.map_err(|e| unavailable(format!("TaskManager {id}: {e}")))?;
    client
        .read_output(tarpc::context::current(), kind, OUTPUT_LIMIT, shared.token.clone())
        .await
        .map_err(|e| unavailable(format!("TaskManager {id}: {e}")))?
        .map_err(|e| unavailable(format!("TaskManager {id}: {e}")))
}

/// `/taskmanagers/:id/log`: the tail of the TaskManager's log, as text.
pub(super) async fn log(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Result<String, RestError> {
    output(&shared, &id, crate::rpc::OutputKind::Log).await
}

/// `/taskmanagers/:id/stdout`: the tail of what its workers printed (`print()`), as text.
pub(super) async fn stdout(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Result<String, RestError> {
    output(&shared, &id, crate::rpc::OutputKind::Stdout).await
}

//! Spate's cluster processes (DESIGN.md sections 2 and 9): the JobManager — resource
//! manager (TaskManagers, slots, heartbeats) and the REST endpoint — and the
//! TaskManager, which registers its slots and heartbeats. Neither ever contains user
//! code: that runs in the application binary, as a worker the TaskManager starts.
//!
//! The control plane between them is RPC ([`rpc`], on tarpc, JSON frames over TCP):
//! the TaskManager calls the JobManager's resource manager. REST is on axum, in
//! Flink's paths and shapes.

pub mod endpoints;
pub mod error;
pub mod jobmanager;
pub mod rpc;
pub mod taskmanager;
pub mod version;

pub use error::ClusterError;

/// Resolves on SIGTERM or SIGINT: how a cluster process is told to stop (`spate cluster
/// stop`, systemd, a container runtime, Ctrl-C).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers the process runs until it is killed.
            std::future::pending::<()>().await;
        }
    }
}

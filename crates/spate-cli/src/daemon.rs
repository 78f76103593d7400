//! `spate jobmanager` and `spate taskmanager`: the processes themselves, in the
//! foreground until SIGTERM or SIGINT.

use anyhow::{Context, Result};
use spate_cluster::endpoints::{endpoint_file, pid_dir};
use spate_cluster::jobmanager::JobManager;
use spate_cluster::taskmanager::{self, TaskManagerSettings};
use spate_core::config::Configuration;

/// Binds, says where it listens (the endpoint file beside the pid files), serves.
pub fn jobmanager(config: Configuration) -> Result<()> {
    let jobmanager = JobManager::bind(config).context("cannot start the JobManager")?;
    let endpoints = jobmanager.endpoints();
    let file = endpoint_file(&pid_dir());
    endpoints.write(&file)?;
    let result = jobmanager.run(spate_cluster::shutdown_signal());
    // Only this process's own file is removed (another JobManager may have replaced it).
    if spate_cluster::endpoints::Endpoints::read(&file).is_some_and(|e| e.pid == std::process::id()) {
        let _ = std::fs::remove_file(&file);
    }
    result.context("the JobManager failed")
}

/// Registers with the JobManager and heartbeats until stopped.
pub fn taskmanager(config: Configuration) -> Result<()> {
    let settings = TaskManagerSettings::from_config(&config).context("cannot start the TaskManager")?;
    tracing::info!(id = %settings.registration.id, jobmanager = %settings.jobmanager, slots = settings.registration.slots, "starting TaskManager");
    taskmanager::run(settings, spate_cluster::shutdown_signal()).context("the TaskManager failed")
}

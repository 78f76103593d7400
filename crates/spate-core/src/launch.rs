//! How a launcher (`spate info`, `spate run`, a TaskManager) and the application binary
//! it starts talk: the environment variables that give the binary its role, and what
//! the binary reports back. Both sides use these definitions, so they cannot drift.

use serde::{Deserialize, Serialize};

use crate::job_graph::JobGraph;

/// The environment variable through which a launcher tells the application binary which
/// role it plays (DESIGN.md section 2). Unset: `local`.
pub const ROLE_ENV: &str = "SPATE_ROLE";

/// In the `info` role: the file the application writes its first job's [`PlanReport`]
/// to, before it exits.
pub const PLAN_OUT_ENV: &str = "SPATE_PLAN_OUT";

/// The launcher's Spate version: an application of another version refuses to run in
/// a role a launcher gave it, naming both.
pub const LAUNCHER_VERSION_ENV: &str = "SPATE_LAUNCHER_VERSION";

/// This build's Spate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What an application in the `info` role reports: its first job as planned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReport {
    /// The Spate version the application was built with.
    pub spate_version: String,
    /// The job.
    pub job_graph: JobGraph,
}

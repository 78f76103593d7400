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

/// In the `client` role: the JobManager's REST endpoint, `host:port`.
pub const REST_ENV: &str = "SPATE_REST";

/// In the `client` role: the application's SHA-256 in the JobManager's artifact store.
pub const ARTIFACT_ENV: &str = "SPATE_ARTIFACT";

/// In the `client` role: the cluster's shared secret, if it has one.
pub const TOKEN_ENV: &str = "SPATE_AUTH_TOKEN";

/// In the `client` role: configuration `spate run` was given (`-p`, `-D`), as a JSON
/// list of `[key, value]` pairs, applied over the program's own.
pub const CLIENT_CONFIG_ENV: &str = "SPATE_CLIENT_CONFIG";

/// In the `client` role: set (to `1`) by `spate run -d`: `execute` returns once its job
/// is submitted.
pub const DETACHED_ENV: &str = "SPATE_DETACHED";

/// In the `client` role: a file `spate run` reads after the program ended (to cancel
/// the jobs with `-sae`, and to tell a program that submitted none); the program appends
/// the id of each job it submits, one per line.
pub const JOBS_FILE_ENV: &str = "SPATE_JOBS_FILE";

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

//! The `info` role (`spate info APP`): the first job is planned, its JobGraph written to
//! the file the launcher named, and the process exits — as Flink's `flink info` stops a
//! program at its first `execute`. Nothing of the job runs.

use spate_core::job_graph::JobGraph;
use spate_core::launch::{PLAN_OUT_ENV, PlanReport, VERSION};

use super::job_client::JobClient;
use crate::error::{Error, Result};

/// Writes `graph` where [`PLAN_OUT_ENV`] says and exits with status 0; returns only
/// with the error if it cannot.
pub(crate) fn report_and_exit(graph: JobGraph) -> Result<JobClient> {
    let path = std::env::var_os(PLAN_OUT_ENV).ok_or_else(|| {
        Error::Arguments(format!("the info role needs {PLAN_OUT_ENV}: run this program with `spate info`"))
    })?;
    let report = PlanReport { spate_version: VERSION.to_string(), job_graph: graph };
    let text = serde_json::to_string(&report).map_err(|e| Error::Internal(format!("cannot encode the plan: {e}")))?;
    std::fs::write(&path, text).map_err(|source| Error::Io {
        context: format!("cannot write the plan to {}", std::path::Path::new(&path).display()),
        source,
    })?;
    std::process::exit(0)
}

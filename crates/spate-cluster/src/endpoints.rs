//! Where a running JobManager can be reached, written where its pid file is.
//!
//! With `rest.port: 0` or `jobmanager.rpc.port: 0` the OS picks the ports, so nobody
//! can know them from the configuration: the JobManager writes the ports it got into
//! this file once it listens, `spate cluster start` starts the TaskManagers with them,
//! and the CLI finds the REST endpoint there when the configuration leaves it open.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// The JobManager's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The REST endpoint, `host:port`.
    pub rest: String,
    /// The RPC endpoint, `host:port`.
    pub rpc: String,
    /// The JobManager's process id.
    pub pid: u32,
}

/// The user name in file names, as Flink's scripts use it (`flink-USER-…`).
pub fn user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "spate".into())
}

/// The directory of pid files (`$SPATE_PID_DIR`, default `/tmp`, as Flink's).
pub fn pid_dir() -> PathBuf {
    std::env::var_os("SPATE_PID_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The endpoint file in `dir`.
pub fn endpoint_file(dir: &Path) -> PathBuf {
    dir.join(format!("spate-{}-jobmanager.endpoints.json", user()))
}

impl Endpoints {
    /// Writes the file atomically (a reader never sees half of it).
    pub fn write(&self, path: &Path) -> Result<(), ClusterError> {
        let error = |source| ClusterError::EndpointFile { path: path.display().to_string(), source };
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).map_err(|e| error(std::io::Error::other(e)))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        std::fs::write(&tmp, text).map_err(error)?;
        std::fs::rename(&tmp, path).map_err(error)
    }

    /// Reads the file; `None` if it does not exist or is not (yet) complete.
    pub fn read(path: &Path) -> Option<Endpoints> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

//! Why a cluster process cannot start or goes on without a peer.

/// A cluster process's error, naming what and where.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The configuration holds a bad value.
    #[error(transparent)]
    Config(#[from] spate_core::CoreError),
    /// An endpoint cannot bind its address.
    #[error("cannot bind the {endpoint} to {address}: {source}")]
    Bind {
        /// Which endpoint (`REST endpoint`, `RPC endpoint`).
        endpoint: &'static str,
        /// The address.
        address: String,
        /// Why (port in use, no such address).
        #[source]
        source: std::io::Error,
    },
    /// The JobManager did not answer within the time allowed.
    #[error("cannot reach the JobManager at {address} (jobmanager.rpc.address, jobmanager.rpc.port): {reason}")]
    JobManagerUnreachable {
        /// Its address.
        address: String,
        /// The last error.
        reason: String,
    },
    /// The JobManager refused the registration.
    #[error("the JobManager at {address} refused this TaskManager: {reason}")]
    Refused {
        /// Its address (`jobmanager.rpc.address`:`jobmanager.rpc.port`).
        address: String,
        /// Why.
        #[source]
        reason: crate::rpc::Refusal,
    },
    /// Settings that are valid alone but not together.
    #[error("{keys}: {reason}")]
    Settings {
        /// The keys.
        keys: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An address does not resolve.
    #[error("cannot resolve {setting} '{address}': {source}")]
    Resolve {
        /// The key that named it.
        setting: &'static str,
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing the endpoint file failed.
    #[error("cannot write {path}: {source}")]
    EndpointFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The artifact store's directory cannot be used (`blob.storage.directory`).
    #[error("blob.storage.directory: {0}")]
    Artifacts(#[source] Box<crate::jobmanager::artifact_store::ArtifactError>),
    /// The high-availability storage cannot be used, or another JobManager holds it.
    #[error("high-availability.storageDir {path}: {reason}")]
    HighAvailability {
        /// The cluster's directory in it.
        path: String,
        /// Why.
        reason: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

//! The first words on a connection between two workers: the dialling worker says which
//! job, attempt and worker it is, with the cluster's shared secret; the other accepts or
//! says why not. A worker of another attempt (one a failover left behind) or without
//! the secret is refused before any data moves.

use std::net::TcpStream;

use serde::{Deserialize, Serialize};

use crate::worker_link::{FrameReader, FrameWriter};

/// The version of the data plane's protocol; raised whenever it changes.
pub const DATA_PROTOCOL_VERSION: u32 = 1;

/// Who dials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHello {
    /// [`DATA_PROTOCOL_VERSION`] of the dialler.
    pub protocol: u32,
    /// Its Spate release.
    pub spate_version: String,
    /// The job.
    pub job_id: String,
    /// The attempt.
    pub attempt: u32,
    /// The dialler's index among the attempt's workers.
    pub worker: u32,
    /// `security.auth.token`, when the cluster has one.
    pub token: Option<String>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum PeerAnswer {
    Accepted,
    Refused(String),
}

/// Whether two secrets are equal, compared in constant time (no early exit that would
/// tell a guesser how much of a prefix was right).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a caller presenting `given` may use something guarded by `required`: the
/// one check for every internal connection and guarded call of the cluster.
pub fn token_accepted(required: &Option<String>, given: &Option<String>) -> bool {
    match (required, given) {
        (None, _) => true,
        (Some(ours), Some(theirs)) => same_secret(ours.as_bytes(), theirs.as_bytes()),
        (Some(_), None) => false,
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerHandshakeError {
    /// The connection failed during the handshake.
    #[error("{0}")]
    Frame(#[from] crate::worker_link::FrameError),
    /// The other side refused.
    #[error("refused: {0}")]
    Refused(String),
}

/// The dialler's side.
pub(crate) fn dial(stream: &TcpStream, hello: &PeerHello) -> Result<(), PeerHandshakeError> {
    let mut writer = FrameWriter::new(stream);
    writer.send(hello)?;
    match FrameReader::new(stream).receive::<PeerAnswer>()? {
        PeerAnswer::Accepted => Ok(()),
        PeerAnswer::Refused(reason) => Err(PeerHandshakeError::Refused(reason)),
    }
}

/// The accepting side: the dialler's worker index if it belongs to `expected`'s job and
/// attempt, knows the secret, and is one of the workers `awaited`.
pub(crate) fn accept(stream: &TcpStream, expected: &PeerHello, awaited: &[u32]) -> Result<u32, PeerHandshakeError> {
    let theirs: PeerHello = FrameReader::new(stream).receive()?;
    let refusal = if theirs.protocol != expected.protocol || theirs.spate_version != expected.spate_version {
        Some(format!(
            "Spate {} (data protocol {}) cannot exchange data with Spate {} (data protocol {})",
            theirs.spate_version, theirs.protocol, expected.spate_version, expected.protocol
        ))
    } else if !token_accepted(&expected.token, &theirs.token) {
        Some("wrong or missing security.auth.token".to_string())
    } else if theirs.job_id != expected.job_id || theirs.attempt != expected.attempt {
        Some(format!(
            "this worker runs attempt {} of job {}, not attempt {} of job {}",
            expected.attempt, expected.job_id, theirs.attempt, theirs.job_id
        ))
    } else if !awaited.contains(&theirs.worker) {
        Some(format!("worker {} is not one this worker waits for ({awaited:?})", theirs.worker))
    } else {
        None
    };
    let mut writer = FrameWriter::new(stream);
    match refusal {
        None => {
            writer.send(&PeerAnswer::Accepted)?;
            Ok(theirs.worker)
        }
        Some(reason) => {
            let _ = writer.send(&PeerAnswer::Refused(reason.clone()));
            Err(PeerHandshakeError::Refused(reason))
        }
    }
}

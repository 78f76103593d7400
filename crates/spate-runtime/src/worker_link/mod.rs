//! The one protocol of Spate's own (DESIGN.md section 2): the local socket between a
//! TaskManager and a worker process it started. Everything else uses a well-kept
//! library (HTTP, RPC); this link is inside one host, between two processes of the
//! same release, and must stay out of the application binary's dependencies.
//!
//! - [`frame`]: length-prefixed frames of serde values in Spate's binary encoding,
//!   bounded in size, so a broken peer cannot make the other allocate without limit;
//! - [`handshake`]: the first frame each way names the protocol version and the Spate
//!   version, and a mismatch is refused with both named before anything else is said.
//!
//! - [`messages`]: what they say after it — the deployment, mail and cancellation to
//!   the worker; the subtasks' ends and end-of-input from it.

pub mod frame;
pub mod handshake;
pub mod messages;

pub use frame::{FrameError, FrameReader, FrameWriter, MAX_FRAME};
pub use handshake::{HandshakeError, Hello, PROTOCOL_VERSION, accept, greet};
pub use messages::{DataBind, Deployment, FromWorker, Placement, RecordedJob, RemoteTaskError, ToWorker};

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
//! The messages themselves are generic here: the TaskManager and the worker define
//! what they say over it.

pub mod frame;
pub mod handshake;

pub use frame::{FrameError, FrameReader, FrameWriter, MAX_FRAME};
pub use handshake::{HandshakeError, Hello, PROTOCOL_VERSION, accept, greet};

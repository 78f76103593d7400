//! The version processes of a cluster compare when they connect: a TaskManager of
//! another release is refused at registration, with both versions named.

/// This build's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

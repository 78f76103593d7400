//! The StreamGraph — what the API calls build — and its planning into a JobGraph.
//!
//! The StreamGraph holds the user's functions (as factories that make one instance per
//! subtask); the JobGraph it is planned into holds only what can be serialized. Every
//! type-specific step (creating a channel of `T`, a writer of `T`, an operator from
//! `I` to `O`) lives behind a small trait object created where the types are known, so
//! that planning and deployment are written once, without generics.

pub(crate) mod factory;
pub(crate) mod planner;
pub(crate) mod port;
pub(crate) mod stream_graph;

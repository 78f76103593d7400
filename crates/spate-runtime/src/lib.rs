//! Spate's runtime: everything that runs inside a job's processes.
//!
//! A record's path, in the order of this crate's modules: a [`source`] reader is polled
//! by a [`task`]'s head; its batch travels down a chain of [`operator`]s, each writing
//! into an [`output`]; at the end of the chain a [`record_writer`] routes records with a
//! [`partitioner`] onto [`channel`]s; the next task's input gate takes them; at the end,
//! a [`sink`] writes them out. Keyed operators keep their values in [`state`].

pub mod accumulator;
pub mod channel;
pub mod checkpoint;
pub mod context;
pub mod data_plane;
pub mod error;
pub mod event;
pub mod functions;
pub mod job_master;
pub mod key_selector;
pub mod metrics;
pub mod notifier;
pub mod operator;
pub mod output;
pub mod partitioner;
pub mod record_writer;
pub mod restart;
pub mod sink;
pub mod source;
pub mod state;
pub mod task;
pub mod time;
pub mod timer;
pub mod watermark;
pub mod window;
pub mod worker_link;

pub use error::TaskError;

//! End-to-end tests of the DataStream API on the embedded mini-cluster. Every expected
//! result is computed independently, in the test, from the input.

mod accumulators;
mod backpressure;
mod connected;
mod failures;
mod modes;
mod partitioners;
mod plan;
mod sources;
mod state;
mod timers;
mod transformations;
mod watermarks;
mod window_model;
mod window_semantics;
mod windows;

use spate::prelude::*;

/// An environment with the given default parallelism and no machine-dependent config.
pub fn env(parallelism: u32) -> StreamEnv {
    let env = StreamEnv::local().expect("default configuration is valid");
    env.set_parallelism(parallelism);
    env
}

/// The vector, sorted.
pub fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[path = "../common/temp_dir.rs"]
mod temp;
pub use temp::TempDir;

/// A fresh directory for one test (`spate-it-NAME-PID`), removed when dropped.
pub fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("it-{name}"))
}

/// Records collected by a sink, shared with the test.
pub struct Collected<T>(std::sync::Arc<std::sync::Mutex<Vec<T>>>);

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected(Default::default())
    }
}

impl<T> Clone for Collected<T> {
    fn clone(&self) -> Self {
        Collected(self.0.clone())
    }
}

impl<T: Ord> Collected<T> {
    /// Adds a record (from a sink).
    pub fn push(&self, value: T) {
        self.0.lock().unwrap().push(value);
    }

    /// The records so far, sorted, leaving none.
    pub fn take(&self) -> Vec<T> {
        sorted(self.take_in_order())
    }

    /// The records so far in the order they arrived, leaving none.
    pub fn take_in_order(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

//! The mailbox of a task: what the job master asks of it between two steps, and where
//! the task reports back.
//!
//! Mail is taken only between steps of the task loop, so a checkpoint trigger or a
//! commit never runs in the middle of an operator call, and operators need no locks.

use crossbeam_channel::Receiver;

use crate::checkpoint::{TaskMail, TaskReporter};

/// A task's connection to its job master.
pub struct Mailbox {
    /// Requests from the master.
    pub mail: Receiver<TaskMail>,
    /// Reports to the master.
    pub reporter: Box<dyn TaskReporter>,
}

//! How a job master's actions reach the subtasks of a job.

use crate::checkpoint::{CompletedCheckpoint, TaskMail};

use super::outcome::DeployError;

/// Starts, reaches and stops the subtasks of a job's attempts: threads of this process
/// in the embedded mini-cluster, worker processes on TaskManagers in a cluster.
///
/// Everything a subtask reports (its end, its snapshots) goes back to the job master
/// as a [`JobMessage`](super::JobMessage) tagged with the attempt; how is the
/// deployer's business.
pub trait Deployer {
    /// Starts every subtask of `attempt`, restoring from the first usable checkpoint of
    /// `restore_from` (newest first), or from the job's initial state when it is empty.
    /// On an error, nothing of `attempt` may be left running.
    fn deploy(&mut self, attempt: u32, restore_from: Vec<CompletedCheckpoint>) -> Result<(), DeployError>;

    /// Delivers `mail` to subtask `task` of `attempt`, if it still runs.
    fn send(&mut self, attempt: u32, task: usize, mail: TaskMail);

    /// Cancels every subtask of `attempt`; asked again, forcibly.
    fn cancel(&mut self, attempt: u32);

    /// Every subtask of `attempt` ended: frees what it held.
    fn release(&mut self, attempt: u32);
}

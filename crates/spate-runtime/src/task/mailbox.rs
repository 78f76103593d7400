//! The mailbox of a task: what the job master asks of it between two steps, and where
//! the task reports back.
//!
//! Mail is taken only between steps of the task loop, so a checkpoint trigger or a
//! commit never runs in the middle of an operator call, and operators need no locks.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::checkpoint::{TaskMail, TaskReporter};
use crate::notifier::Wakeup;

/// A task's connection to its job master.
pub struct Mailbox {
    /// Requests from the master.
    pub mail: Receiver<TaskMail>,
    /// Reports to the master.
    pub reporter: Box<dyn TaskReporter>,
    /// Wakes the task when mail comes (shared with the [`MailSender`]).
    pub wakeup: Arc<Wakeup>,
}

/// Where the job master posts a task's mail.
pub struct MailSender {
    tx: Sender<TaskMail>,
    wakeup: Arc<Wakeup>,
}

impl MailSender {
    /// Posts `mail` and wakes the task; false when the task is gone.
    pub fn send(&self, mail: TaskMail) -> bool {
        let sent = self.tx.send(mail).is_ok();
        self.wakeup.wake();
        sent
    }
}

impl Drop for MailSender {
    /// The task wakes to see its master gone.
    fn drop(&mut self) {
        self.wakeup.close();
    }
}

/// A task's mailbox reporting through `reporter`, and where its mail is posted.
pub fn mailbox(reporter: Box<dyn TaskReporter>) -> (MailSender, Mailbox) {
    let (tx, mail) = crossbeam_channel::unbounded();
    let wakeup = Wakeup::new();
    (MailSender { tx, wakeup: wakeup.clone() }, Mailbox { mail, reporter, wakeup })
}

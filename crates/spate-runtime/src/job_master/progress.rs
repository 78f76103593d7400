//! Which subtasks of the running attempt have ended and which have processed all their
//! input. Counted per subtask, so a duplicated report counts once.

/// The subtasks of one attempt.
#[derive(Debug)]
pub(crate) struct Progress {
    ended: Vec<bool>,
    ended_count: usize,
    finished: Vec<bool>,
    finished_count: usize,
    /// Whether the subtasks were told to close after all finished.
    pub finish_sent: bool,
}

impl Progress {
    /// An attempt of `tasks` subtasks, none ended.
    pub fn new(tasks: usize) -> Self {
        Progress {
            ended: vec![false; tasks],
            ended_count: 0,
            finished: vec![false; tasks],
            finished_count: 0,
            finish_sent: false,
        }
    }

    /// Subtask `task` ended; false if it was known (or is no subtask of the job).
    pub fn end(&mut self, task: usize) -> bool {
        mark(&mut self.ended, &mut self.ended_count, task)
    }

    /// Subtask `task` processed all its input; false if it was known.
    pub fn finish(&mut self, task: usize) -> bool {
        mark(&mut self.finished, &mut self.finished_count, task)
    }

    /// Nothing of the attempt runs any more (a failed deployment).
    pub fn end_all(&mut self) {
        self.ended.fill(true);
        self.ended_count = self.ended.len();
    }

    /// Whether every subtask ended.
    pub fn all_ended(&self) -> bool {
        self.ended_count == self.ended.len()
    }

    /// Whether every subtask processed all its input.
    pub fn all_finished(&self) -> bool {
        self.finished_count == self.finished.len()
    }
}

fn mark(flags: &mut [bool], count: &mut usize, task: usize) -> bool {
    match flags.get_mut(task) {
        Some(flag) if !*flag => {
            *flag = true;
            *count += 1;
            true
        }
        Some(_) => false,
        None => {
            tracing::warn!(task, tasks = flags.len(), "a report names a subtask the job does not have; ignored");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_unknown_subtasks_count_nothing() {
        let mut p = Progress::new(2);
        assert!(p.end(1));
        assert!(!p.end(1));
        assert!(!p.end(7));
        assert!(!p.all_ended());
        assert!(p.end(0));
        assert!(p.all_ended());
        assert!(p.finish(0) && !p.finish(0) && !p.all_finished());
    }
}

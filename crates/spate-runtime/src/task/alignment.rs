//! Barrier alignment over several inputs: the channels of an input gate, and the two
//! inputs of a two-input task.
//!
//! Exactly-once: an input that delivered barrier *n* is held until every live input has
//! (an ended input counts as delivered), so that nothing after the barrier is processed
//! before the snapshot. At-least-once: nothing is held; the barrier is passed on when
//! the last input delivers it. A barrier of a newer checkpoint gives up the older one.

use std::time::{Duration, Instant};

use crate::checkpoint::{CheckpointBarrier, CheckpointingMode};

/// The barrier being aligned over `n` inputs.
#[derive(Debug)]
pub struct BarrierAligner {
    hold: bool,
    /// The barrier being aligned, and which inputs delivered it.
    aligning: Option<(CheckpointBarrier, Vec<bool>)>,
    started: Option<Instant>,
    last_alignment: Duration,
    n: usize,
}

impl BarrierAligner {
    /// An aligner over `n` inputs.
    pub fn new(n: usize) -> Self {
        BarrierAligner { hold: true, aligning: None, started: None, last_alignment: Duration::ZERO, n }
    }

    /// Holds inputs for exactly-once (the default), or not for at-least-once.
    pub fn with_mode(mut self, mode: CheckpointingMode) -> Self {
        self.hold = mode == CheckpointingMode::ExactlyOnce;
        self
    }

    /// Whether input `i` is held back by an alignment.
    #[inline]
    pub fn is_held(&self, i: usize) -> bool {
        self.hold && self.aligning.as_ref().is_some_and(|(_, delivered)| delivered[i])
    }

    /// Input `i` delivered `barrier`; returns it once every input not `ended` has.
    pub fn on_barrier(
        &mut self,
        i: usize,
        barrier: CheckpointBarrier,
        ended: impl Fn(usize) -> bool,
    ) -> Option<CheckpointBarrier> {
        match &self.aligning {
            // A barrier of a checkpoint already given up (a newer one is aligning).
            Some((current, _)) if barrier.id < current.id => return None,
            Some((current, _)) if barrier.id == current.id => {}
            // A newer checkpoint: the older one was aborted; align on this one.
            _ => {
                self.aligning = Some((barrier, vec![false; self.n]));
                self.started = Some(Instant::now());
            }
        }
        if let Some((_, delivered)) = self.aligning.as_mut() {
            delivered[i] = true;
        }
        self.complete(ended)
    }

    /// An input ended: it no longer holds an alignment back. Returns the barrier if
    /// that completed it.
    pub fn complete(&mut self, ended: impl Fn(usize) -> bool) -> Option<CheckpointBarrier> {
        let done = self.aligning.as_ref().is_some_and(|(_, delivered)| (0..self.n).all(|c| ended(c) || delivered[c]));
        if !done {
            return None;
        }
        self.last_alignment = self.started.take().map(|t| t.elapsed()).unwrap_or_default();
        self.aligning.take().map(|(barrier, _)| barrier)
    }

    /// How long the last completed alignment held inputs back.
    pub fn last_alignment(&self) -> Duration {
        self.last_alignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn barrier(id: u64) -> CheckpointBarrier {
        CheckpointBarrier::checkpoint(id)
    }

    #[test]
    fn holds_until_every_live_input_delivered() {
        let mut a = BarrierAligner::new(3);
        let ended = |i: usize| i == 2;
        assert!(a.on_barrier(0, barrier(1), ended).is_none());
        assert!(a.is_held(0) && !a.is_held(1));
        assert_eq!(a.on_barrier(1, barrier(1), ended).map(|b| b.id), Some(1), "input 2 ended");
        assert!(!a.is_held(0));
        // A newer barrier gives up the older alignment; a stale one is ignored.
        assert!(a.on_barrier(0, barrier(2), |_| false).is_none());
        assert!(a.on_barrier(1, barrier(3), |_| false).is_none());
        assert!(!a.is_held(0) && a.is_held(1));
        assert!(a.on_barrier(0, barrier(2), |_| false).is_none(), "stale");
        assert!(a.complete(|i| i != 1).is_some(), "the others ended");
    }

    #[test]
    fn at_least_once_holds_nothing() {
        let mut a = BarrierAligner::new(2).with_mode(CheckpointingMode::AtLeastOnce);
        assert!(a.on_barrier(0, barrier(1), |_| false).is_none());
        assert!(!a.is_held(0));
        assert!(a.on_barrier(1, barrier(1), |_| false).is_some());
    }
}

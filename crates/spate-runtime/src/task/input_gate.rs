//! The input side of a task: the channels of one logical input, merged.

use std::collections::VecDeque;

use crossbeam_channel::Select;
use spate_core::{StreamRecord, Timestamp};

use crate::TaskError;
use crate::channel::{ChannelReceiver, Event, Received};
use crate::checkpoint::{CheckpointBarrier, CheckpointingMode};
use crate::watermark::WatermarkStatus;

/// What the gate hands the task next.
pub enum GateEvent<T> {
    /// A batch of records.
    Records(Vec<StreamRecord<T>>),
    /// The input's watermark advanced to this value.
    Watermark(Timestamp),
    /// The input went idle (every channel that has not ended is idle) or became active.
    Status(WatermarkStatus),
    /// Every channel that has not ended delivered this barrier.
    Barrier(CheckpointBarrier),
    /// Every channel has ended.
    EndOfInput,
}

/// Merges the channels of one input: takes events round robin so no channel starves,
/// combines per-channel watermarks into the input's (the minimum over channels that
/// have not ended and are not idle, never going backwards), reports the input idle when
/// all its channels are, and reports the end when all channels ended.
pub struct InputGate<T> {
    channels: Vec<ChannelReceiver<T>>,
    ended: Vec<bool>,
    idle: Vec<bool>,
    watermarks: Vec<Timestamp>,
    current_watermark: Timestamp,
    /// Whether the whole input is idle, as last reported.
    input_idle: bool,
    /// Events decided but not handed out yet (a status change and a watermark can
    /// follow from one channel event).
    pending: VecDeque<GateEvent<T>>,
    live: usize,
    next: usize,
    /// Whether channels that delivered a barrier wait for the others (exactly-once).
    align: bool,
    /// The barrier being aligned, and which channels delivered it.
    aligning: Option<(CheckpointBarrier, Vec<bool>)>,
    /// When the current alignment began, and how long the last one took.
    align_started: Option<std::time::Instant>,
    last_alignment: std::time::Duration,
    /// Names the task in errors.
    task_name: String,
}

impl<T> InputGate<T> {
    /// A gate over `channels`.
    pub fn new(channels: Vec<ChannelReceiver<T>>, task_name: String) -> Self {
        let n = channels.len();
        InputGate {
            channels,
            ended: vec![false; n],
            idle: vec![false; n],
            watermarks: vec![Timestamp::MIN; n],
            current_watermark: Timestamp::MIN,
            input_idle: false,
            pending: VecDeque::new(),
            live: n,
            next: 0,
            align: true,
            aligning: None,
            align_started: None,
            last_alignment: std::time::Duration::ZERO,
            task_name,
        }
    }

    /// Sets whether channels that delivered a barrier wait for the others
    /// (`CheckpointingMode::ExactlyOnce`, the default) or go on (`AtLeastOnce`).
    pub fn with_mode(mut self, mode: CheckpointingMode) -> Self {
        self.align = mode == CheckpointingMode::ExactlyOnce;
        self
    }

    /// Whether channel `c` is held back by an alignment.
    #[inline]
    fn blocked(&self, c: usize) -> bool {
        self.align && self.aligning.as_ref().is_some_and(|(_, delivered)| delivered[c])
    }

    /// Channel `c` delivered `barrier`.
    fn on_barrier(&mut self, c: usize, barrier: CheckpointBarrier) {
        match &self.aligning {
            // A barrier of a checkpoint already given up (a newer one is aligning).
            Some((current, _)) if barrier.id < current.id => return,
            Some((current, _)) if barrier.id == current.id => {}
            // A newer checkpoint: the older one was aborted; align on this one.
            _ => {
                self.aligning = Some((barrier, vec![false; self.channels.len()]));
                self.align_started = Some(std::time::Instant::now());
            }
        }
        if let Some((_, delivered)) = self.aligning.as_mut() {
            delivered[c] = true;
        }
        self.complete_alignment();
    }

    /// Hands the barrier on once every live channel delivered it.
    fn complete_alignment(&mut self) {
        let done = match &self.aligning {
            Some((_, delivered)) => (0..self.channels.len()).all(|c| self.ended[c] || delivered[c]),
            None => false,
        };
        if done {
            if let Some((barrier, _)) = self.aligning.take() {
                self.last_alignment = self.align_started.take().map(|t| t.elapsed()).unwrap_or_default();
                self.pending.push_back(GateEvent::Barrier(barrier));
            }
        }
    }

    /// How long the last completed alignment held channels back.
    pub fn last_alignment(&self) -> std::time::Duration {
        self.last_alignment
    }

    /// The input's current watermark.
    pub fn watermark(&self) -> Timestamp {
        self.current_watermark
    }

    /// The next event, if any channel has one now.
    pub fn poll(&mut self) -> Result<Option<GateEvent<T>>, TaskError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        if self.live == 0 {
            return Ok(Some(GateEvent::EndOfInput));
        }
        let n = self.channels.len();
        let mut empty_in_a_row = 0;
        while empty_in_a_row < n {
            let c = self.next;
            self.next = if c + 1 == n { 0 } else { c + 1 };
            if self.ended[c] || self.blocked(c) {
                empty_in_a_row += 1;
                continue;
            }
            match self.channels[c].try_recv() {
                Received::Event(Event::Records(batch)) => {
                    if self.idle[c] {
                        // Records mean the channel is active, announced or not.
                        self.set_idle(c, false);
                    }
                    self.pending.push_back(GateEvent::Records(batch));
                }
                Received::Event(Event::Watermark(w)) => {
                    if w > self.watermarks[c] {
                        self.watermarks[c] = w;
                    }
                    self.advance_watermark();
                }
                Received::Event(Event::Status(status)) => self.set_idle(c, status == WatermarkStatus::Idle),
                Received::Event(Event::Barrier(barrier)) => self.on_barrier(c, barrier),
                Received::Event(Event::EndOfPartition) => {
                    self.ended[c] = true;
                    self.live -= 1;
                    // An ended channel no longer holds an alignment back.
                    self.complete_alignment();
                    if self.live == 0 {
                        // Nothing holds event time back any more, even if the last
                        // channels were idle when their final watermark came.
                        if self.current_watermark < Timestamp::MAX {
                            self.current_watermark = Timestamp::MAX;
                            self.pending.push_back(GateEvent::Watermark(Timestamp::MAX));
                        }
                        self.pending.push_back(GateEvent::EndOfInput);
                    } else {
                        self.advance_watermark();
                        self.update_input_status();
                    }
                }
                Received::Empty => {
                    empty_in_a_row += 1;
                    continue;
                }
                Received::Disconnected => {
                    return Err(TaskError::PeerGone(format!(
                        "an upstream task of {} went away without finishing its stream",
                        self.task_name
                    )));
                }
            }
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            empty_in_a_row = 0;
        }
        Ok(None)
    }

    /// Marks channel `c` idle or active, and reports what that changes.
    fn set_idle(&mut self, c: usize, idle: bool) {
        if self.idle[c] == idle {
            return;
        }
        self.idle[c] = idle;
        if idle {
            // The channel no longer holds the others back.
            self.advance_watermark();
            self.update_input_status();
        } else {
            self.update_input_status();
        }
    }

    /// Reports the input idle when every live channel is, active when one is not.
    /// Going idle, the input first moves to the largest watermark its channels reached
    /// (as Flink does): time they all passed is not held back by their silence.
    fn update_input_status(&mut self) {
        let all_idle = self.ended.iter().zip(&self.idle).all(|(ended, idle)| *ended || *idle);
        if all_idle != self.input_idle {
            if all_idle {
                let max = (0..self.channels.len()).filter(|&c| !self.ended[c]).map(|c| self.watermarks[c]).max();
                if let Some(max) = max.filter(|m| *m > self.current_watermark) {
                    self.current_watermark = max;
                    self.pending.push_back(GateEvent::Watermark(max));
                }
            }
            self.input_idle = all_idle;
            let status = if all_idle { WatermarkStatus::Idle } else { WatermarkStatus::Active };
            self.pending.push_back(GateEvent::Status(status));
        }
    }

    /// Recomputes the input watermark; queues it if it advanced.
    fn advance_watermark(&mut self) {
        let min =
            (0..self.channels.len()).filter(|&c| !self.ended[c] && !self.idle[c]).map(|c| self.watermarks[c]).min();
        if let Some(min) = min {
            if min > self.current_watermark {
                self.current_watermark = min;
                self.pending.push_back(GateEvent::Watermark(min));
            }
        }
    }

    /// Adds the channels that have not ended and are not held back by an alignment to a
    /// set of operations the task waits on.
    pub fn register<'a>(&'a self, select: &mut Select<'a>) {
        for (c, channel) in self.channels.iter().enumerate() {
            if !self.ended[c] && !self.blocked(c) {
                channel.register(select);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{cancellation, channel};

    #[test]
    fn watermark_is_the_minimum_over_live_channels() {
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        tx0.send(Event::Watermark(10), &cancel).unwrap();
        assert!(gate.poll().unwrap().is_none(), "channel 1 still holds the watermark back");
        tx1.send(Event::Watermark(7), &cancel).unwrap();
        assert!(matches!(gate.poll().unwrap(), Some(GateEvent::Watermark(7))));
        tx1.send(Event::Watermark(5), &cancel).unwrap();
        assert!(gate.poll().unwrap().is_none(), "watermarks never go back");
        tx1.send(Event::EndOfPartition, &cancel).unwrap();
        assert!(matches!(gate.poll().unwrap(), Some(GateEvent::Watermark(10))), "an ended channel stops holding back");
        tx0.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        tx0.send(Event::EndOfPartition, &cancel).unwrap();
        assert!(matches!(gate.poll().unwrap(), Some(GateEvent::Records(_))));
        assert!(
            matches!(gate.poll().unwrap(), Some(GateEvent::Watermark(Timestamp::MAX))),
            "the end releases event time"
        );
        assert!(matches!(gate.poll().unwrap(), Some(GateEvent::EndOfInput)));
    }

    #[test]
    fn idle_channels_do_not_hold_the_watermark_back() {
        use crate::watermark::WatermarkStatus::{Active, Idle};
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        let mut next = || match gate.poll().unwrap() {
            Some(GateEvent::Watermark(w)) => format!("w{w}"),
            Some(GateEvent::Status(s)) => format!("{s:?}"),
            Some(GateEvent::Records(r)) => format!("r{}", r.len()),
            Some(GateEvent::EndOfInput) => "end".into(),
            Some(GateEvent::Barrier(b)) => format!("b{}", b.id),
            None => "-".into(),
        };
        tx0.send(Event::Watermark(10), &cancel).unwrap();
        assert_eq!(next(), "-", "channel 1 holds the watermark back");
        tx1.send(Event::Status(Idle), &cancel).unwrap();
        assert_eq!(next(), "w10", "an idle channel stops holding it back");
        tx0.send(Event::Status(Idle), &cancel).unwrap();
        assert_eq!(next(), "Idle", "all channels idle: the input is idle");
        tx1.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        assert_eq!(next(), "Active", "records make a channel active again");
        assert_eq!(next(), "r1");
        tx1.send(Event::Watermark(5), &cancel).unwrap();
        assert_eq!(next(), "-", "the rejoining channel's old watermark does not move it back");
        tx1.send(Event::Watermark(30), &cancel).unwrap();
        assert_eq!(next(), "w30", "channel 0 is still idle");
        tx0.send(Event::Status(Active), &cancel).unwrap();
        tx0.send(Event::Watermark(20), &cancel).unwrap();
        tx0.send(Event::Watermark(40), &cancel).unwrap();
        assert_eq!(next(), "-", "channel 0 rejoined and reached 40: the input stays at 30 for channel 1");
        tx1.send(Event::Watermark(50), &cancel).unwrap();
        assert_eq!(next(), "w40");
        // When every channel falls silent, the input moves to the largest watermark any
        // reached, so that time they all passed is not held back.
        tx0.send(Event::Status(Idle), &cancel).unwrap();
        assert_eq!(next(), "w50", "channel 0 idle: channel 1 alone decides");
        tx1.send(Event::Watermark(60), &cancel).unwrap();
        assert_eq!(next(), "w60");
        tx0.send(Event::Status(Active), &cancel).unwrap();
        tx0.send(Event::Watermark(70), &cancel).unwrap();
        tx1.send(Event::Watermark(80), &cancel).unwrap();
        assert_eq!(next(), "w70");
        tx1.send(Event::Status(Idle), &cancel).unwrap();
        tx0.send(Event::Status(Idle), &cancel).unwrap();
        assert_eq!(next(), "w80", "all idle: the largest watermark");
        assert_eq!(next(), "Idle");
    }

    #[test]
    fn channels_are_served_round_robin() {
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        for i in 0..3 {
            tx0.send(Event::Records(vec![StreamRecord::new(i)]), &cancel).unwrap();
            tx1.send(Event::Records(vec![StreamRecord::new(10 + i)]), &cancel).unwrap();
        }
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        let mut order = Vec::new();
        while let Some(GateEvent::Records(b)) = gate.poll().unwrap() {
            order.push(b[0].value);
        }
        assert_eq!(order, vec![0, 10, 1, 11, 2, 12]);
    }

    #[test]
    fn a_vanished_upstream_is_an_error() {
        let (tx, rx) = channel::<u32>(8);
        drop(tx);
        let mut gate = InputGate::new(vec![rx], "Map (1/1)".into());
        assert!(matches!(gate.poll(), Err(TaskError::PeerGone(_))));
    }
}

//! The input side of a task: the channels of one logical input, merged.

use std::collections::VecDeque;
use std::sync::Arc;

use spate_core::Timestamp;

use super::alignment::BarrierAligner;
use super::valve::{Combination, WatermarkValve};
use crate::TaskError;
use crate::channel::{ChannelReceiver, Event, Received};
use crate::checkpoint::CheckpointingMode;
use crate::event::ControlEvent;
use crate::notifier::TaskNotifier;

/// Merges the channels of one input: takes events round robin so no channel starves,
/// combines per-channel watermarks and idleness into the input's ([`WatermarkValve`]),
/// aligns barriers ([`BarrierAligner`]), and reports the end when all channels ended.
///
/// What it hands out is an [`Event`] of the whole input: records as they come, the
/// input's watermark when it advanced, its status when it changed, a barrier once
/// aligned, and [`ControlEvent::EndOfInput`] once.
pub struct InputGate<T> {
    channels: Vec<ChannelReceiver<T>>,
    valve: WatermarkValve,
    aligner: BarrierAligner,
    /// Events decided but not handed out yet (a status change and a watermark can
    /// follow from one channel event).
    pending: VecDeque<Event<T>>,
    next: usize,
    ended: bool,
    /// Names the task in errors.
    task_name: String,
}

impl<T> InputGate<T> {
    /// A gate over `channels`.
    pub fn new(channels: Vec<ChannelReceiver<T>>, task_name: String) -> Self {
        let n = channels.len();
        InputGate {
            channels,
            valve: WatermarkValve::new(n, Combination::Channels),
            aligner: BarrierAligner::new(n),
            pending: VecDeque::new(),
            next: 0,
            ended: false,
            task_name,
        }
    }

    /// Sets whether channels that delivered a barrier wait for the others
    /// (`CheckpointingMode::ExactlyOnce`, the default) or go on (`AtLeastOnce`).
    pub fn with_mode(mut self, mode: CheckpointingMode) -> Self {
        self.aligner = self.aligner.with_mode(mode);
        self
    }

    /// Whether channel `c` is neither ended nor held back by an alignment.
    #[inline]
    fn readable(&self, c: usize) -> bool {
        !self.valve.is_ended(c) && !self.aligner.is_held(c)
    }

    /// How long the last completed alignment held channels back.
    pub fn last_alignment(&self) -> std::time::Duration {
        self.aligner.last_alignment()
    }

    /// The input's current watermark.
    pub fn watermark(&self) -> Timestamp {
        self.valve.watermark()
    }

    /// The next event, if any channel has one now.
    pub fn poll(&mut self) -> Result<Option<Event<T>>, TaskError> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        if self.valve.live() == 0 {
            if self.ended {
                return Ok(None);
            }
            self.ended = true;
            return Ok(Some(Event::Control(ControlEvent::EndOfInput)));
        }
        let n = self.channels.len();
        let mut empty_in_a_row = 0;
        while empty_in_a_row < n {
            let c = self.next;
            self.next = if c + 1 == n { 0 } else { c + 1 };
            if !self.readable(c) {
                empty_in_a_row += 1;
                continue;
            }
            let pending = &mut self.pending;
            let mut emit = |event: ControlEvent| pending.push_back(Event::Control(event));
            match self.channels[c].try_recv() {
                Received::Event(Event::Records(batch)) => {
                    self.valve.on_records(c, &mut emit);
                    self.pending.push_back(Event::Records(batch));
                }
                Received::Event(Event::Control(event)) => match event {
                    ControlEvent::Watermark(w) => self.valve.on_watermark(c, w, &mut emit),
                    ControlEvent::Status(status) => self.valve.on_status(c, status, &mut emit),
                    ControlEvent::Barrier(barrier) => {
                        let valve = &self.valve;
                        if let Some(aligned) = self.aligner.on_barrier(c, barrier, |i| valve.is_ended(i)) {
                            emit(ControlEvent::Barrier(aligned));
                        }
                    }
                    ControlEvent::EndOfInput => {
                        // An ended channel no longer holds an alignment back; the barrier
                        // the others delivered goes before what the end changes.
                        let valve = &self.valve;
                        if let Some(aligned) = self.aligner.complete(|i| i == c || valve.is_ended(i)) {
                            emit(ControlEvent::Barrier(aligned));
                        }
                        self.valve.on_end(c, &mut emit);
                        if self.valve.live() == 0 {
                            self.ended = true;
                            self.pending.push_back(Event::Control(ControlEvent::EndOfInput));
                        }
                    }
                },
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
                Received::Failed(error) => return Err(error),
            }
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            empty_in_a_row = 0;
        }
        Ok(None)
    }

    /// Makes every channel wake `notifier`, the task's, when it delivers.
    pub fn bind(&self, notifier: &Arc<TaskNotifier>) {
        for channel in &self.channels {
            channel.bind(notifier);
        }
    }

    /// Whether [`poll`](Self::poll) would find something now: a decided event, the end,
    /// or an event on a channel that has not ended and is not held by an alignment.
    pub fn has_input(&self) -> bool {
        !self.pending.is_empty()
            || (self.valve.live() == 0 && !self.ended)
            || self.channels.iter().enumerate().any(|(c, channel)| self.readable(c) && channel.has_event())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{cancellation, channel};
    use spate_core::StreamRecord;

    #[test]
    fn watermark_is_the_minimum_over_live_channels() {
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        tx0.send(Event::Control(ControlEvent::Watermark(10)), &cancel).unwrap();
        assert!(gate.poll().unwrap().is_none(), "channel 1 still holds the watermark back");
        tx1.send(Event::Control(ControlEvent::Watermark(7)), &cancel).unwrap();
        assert!(matches!(gate.poll().unwrap(), Some(Event::Control(ControlEvent::Watermark(7)))));
        tx1.send(Event::Control(ControlEvent::Watermark(5)), &cancel).unwrap();
        assert!(gate.poll().unwrap().is_none(), "watermarks never go back");
        tx1.send(Event::Control(ControlEvent::EndOfInput), &cancel).unwrap();
        assert!(
            matches!(gate.poll().unwrap(), Some(Event::Control(ControlEvent::Watermark(10)))),
            "an ended channel stops holding back"
        );
        tx0.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        tx0.send(Event::Control(ControlEvent::EndOfInput), &cancel).unwrap();
        assert!(matches!(gate.poll().unwrap(), Some(Event::Records(_))));
        assert!(
            matches!(gate.poll().unwrap(), Some(Event::Control(ControlEvent::Watermark(Timestamp::MAX)))),
            "the end releases event time"
        );
        assert!(matches!(gate.poll().unwrap(), Some(Event::Control(ControlEvent::EndOfInput))));
    }

    #[test]
    fn idle_channels_do_not_hold_the_watermark_back() {
        use crate::watermark::WatermarkStatus::{Active, Idle};
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        let mut next = || match gate.poll().unwrap() {
            Some(Event::Control(ControlEvent::Watermark(w))) => format!("w{w}"),
            Some(Event::Control(ControlEvent::Status(s))) => format!("{s:?}"),
            Some(Event::Records(r)) => format!("r{}", r.len()),
            Some(Event::Control(ControlEvent::EndOfInput)) => "end".into(),
            Some(Event::Control(ControlEvent::Barrier(b))) => format!("b{}", b.id),
            None => "-".into(),
        };
        tx0.send(Event::Control(ControlEvent::Watermark(10)), &cancel).unwrap();
        assert_eq!(next(), "-", "channel 1 holds the watermark back");
        tx1.send(Event::Control(ControlEvent::Status(Idle)), &cancel).unwrap();
        assert_eq!(next(), "w10", "an idle channel stops holding it back");
        tx0.send(Event::Control(ControlEvent::Status(Idle)), &cancel).unwrap();
        assert_eq!(next(), "Idle", "all channels idle: the input is idle");
        tx1.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        assert_eq!(next(), "Active", "records make a channel active again");
        assert_eq!(next(), "r1");
        tx1.send(Event::Control(ControlEvent::Watermark(5)), &cancel).unwrap();
        assert_eq!(next(), "-", "the rejoining channel's old watermark does not move it back");
        tx1.send(Event::Control(ControlEvent::Watermark(30)), &cancel).unwrap();
        assert_eq!(next(), "w30", "channel 0 is still idle");
        tx0.send(Event::Control(ControlEvent::Status(Active)), &cancel).unwrap();
        tx0.send(Event::Control(ControlEvent::Watermark(20)), &cancel).unwrap();
        tx0.send(Event::Control(ControlEvent::Watermark(40)), &cancel).unwrap();
        assert_eq!(next(), "-", "channel 0 rejoined and reached 40: the input stays at 30 for channel 1");
        tx1.send(Event::Control(ControlEvent::Watermark(50)), &cancel).unwrap();
        assert_eq!(next(), "w40");
        // When every channel falls silent, the input moves to the largest watermark any
        // reached, so that time they all passed is not held back.
        tx0.send(Event::Control(ControlEvent::Status(Idle)), &cancel).unwrap();
        assert_eq!(next(), "w50", "channel 0 idle: channel 1 alone decides");
        tx1.send(Event::Control(ControlEvent::Watermark(60)), &cancel).unwrap();
        assert_eq!(next(), "w60");
        tx0.send(Event::Control(ControlEvent::Status(Active)), &cancel).unwrap();
        tx0.send(Event::Control(ControlEvent::Watermark(70)), &cancel).unwrap();
        assert_eq!(next(), "-", "channel 0 caught up with 60: it counts again, and holds at 60 with channel 1");
        tx1.send(Event::Control(ControlEvent::Watermark(80)), &cancel).unwrap();
        assert_eq!(next(), "w70");
        tx1.send(Event::Control(ControlEvent::Status(Idle)), &cancel).unwrap();
        tx0.send(Event::Control(ControlEvent::Status(Idle)), &cancel).unwrap();
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
        while let Some(Event::Records(b)) = gate.poll().unwrap() {
            order.push(b[0].value);
        }
        assert_eq!(order, vec![0, 10, 1, 11, 2, 12]);
    }

    #[test]
    fn the_gate_has_input_when_a_readable_channel_has_an_event_or_lost_its_sender() {
        use crate::checkpoint::CheckpointBarrier;
        let (_h, cancel) = cancellation();
        let (tx0, rx0) = channel::<u32>(8);
        let (tx1, rx1) = channel::<u32>(8);
        let mut gate = InputGate::new(vec![rx0, rx1], "t".into());
        assert!(!gate.has_input());
        tx1.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        assert!(gate.has_input());
        assert!(matches!(gate.poll().unwrap(), Some(Event::Records(_))));
        assert!(!gate.has_input());
        // A channel held by an alignment does not count, whatever it holds.
        let barrier = CheckpointBarrier::checkpoint(1);
        tx1.send(Event::Control(ControlEvent::Barrier(barrier.clone())), &cancel).unwrap();
        assert!(gate.poll().unwrap().is_none(), "channel 1 is held");
        tx1.send(Event::Records(vec![StreamRecord::new(2)]), &cancel).unwrap();
        assert!(!gate.has_input(), "only the held channel has an event");
        tx0.send(Event::Control(ControlEvent::Barrier(barrier)), &cancel).unwrap();
        assert!(gate.has_input());
        assert!(matches!(gate.poll().unwrap(), Some(Event::Control(ControlEvent::Barrier(_)))));
        assert!(matches!(gate.poll().unwrap(), Some(Event::Records(_))), "released");
        // A sender gone without the end is something to notice.
        drop(tx0);
        assert!(gate.has_input());
        assert!(matches!(gate.poll(), Err(TaskError::PeerGone(_))));
    }

    #[test]
    fn a_waiting_task_wakes_when_its_channel_delivers() {
        let (_h, cancel) = cancellation();
        let (tx, rx) = channel::<u32>(8);
        let gate = InputGate::new(vec![rx], "t".into());
        let waiter = std::thread::spawn(move || {
            let notifier = TaskNotifier::for_current_thread();
            gate.bind(&notifier);
            // No deadline: only the channel's wake-up can end the wait.
            while !gate.has_input() {
                notifier.wait(None, || gate.has_input());
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        tx.send(Event::Records(vec![StreamRecord::new(1)]), &cancel).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !waiter.is_finished() {
            assert!(std::time::Instant::now() < deadline, "the send did not wake the task");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_vanished_upstream_is_an_error() {
        let (tx, rx) = channel::<u32>(8);
        drop(tx);
        let mut gate = InputGate::new(vec![rx], "Map (1/1)".into());
        assert!(matches!(gate.poll(), Err(TaskError::PeerGone(_))));
    }
}

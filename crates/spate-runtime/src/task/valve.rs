//! The watermark and idleness of several inputs combined into one (Flink's
//! `StatusWatermarkValve`): the channels of an input gate, and the two inputs of a
//! two-input task, both pass through one of these.

use spate_core::Timestamp;

use crate::event::ControlEvent;
use crate::watermark::WatermarkStatus;

/// One input as the valve sees it.
#[derive(Clone, Copy, Debug)]
struct Input {
    watermark: Timestamp,
    idle: bool,
    ended: bool,
    /// Whether the input counts in the minimum: not while idle, nor after it became
    /// active again until its watermark caught up with the combined one.
    aligned: bool,
}

/// How the inputs combine (the two places Flink combines watermarks differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combination {
    /// The channels of one input (Flink's `StatusWatermarkValve`): watermarks of idle
    /// channels are ignored; a channel that becomes active again behind the combined
    /// watermark counts only once it caught up; when the last channel goes idle at the
    /// combined watermark, the combination moves to the largest watermark any reached.
    Channels,
    /// The inputs of a two-input task (Flink's `CombinedWatermarkStatus`): the minimum
    /// over the inputs that are not idle, never going back.
    Inputs,
}

/// Combines the watermarks and idleness of `n` inputs into one watermark and one
/// status, emitted as [`ControlEvent`]s through the `emit` callbacks when they change.
/// The combined watermark never goes backwards and becomes the maximum once every input
/// has ended; the combination is idle when every live input is.
#[derive(Debug)]
pub struct WatermarkValve {
    inputs: Vec<Input>,
    current: Timestamp,
    idle: bool,
    live: usize,
    combination: Combination,
}

impl WatermarkValve {
    /// A valve over `n` inputs.
    pub fn new(n: usize, combination: Combination) -> Self {
        let input = Input { watermark: Timestamp::MIN, idle: false, ended: false, aligned: true };
        WatermarkValve { inputs: vec![input; n], current: Timestamp::MIN, idle: false, live: n, combination }
    }

    /// The combined watermark.
    pub fn watermark(&self) -> Timestamp {
        self.current
    }

    /// Whether input `i` has ended.
    #[inline]
    pub fn is_ended(&self, i: usize) -> bool {
        self.inputs[i].ended
    }

    /// Inputs that have not ended.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Input `i` reached `watermark`.
    pub fn on_watermark(&mut self, i: usize, watermark: Timestamp, emit: &mut dyn FnMut(ControlEvent)) {
        let channels = self.combination == Combination::Channels;
        if channels && (self.idle || self.inputs[i].idle) {
            // Flink's valve ignores what an idle channel (or an idle valve) says.
            return;
        }
        let input = &mut self.inputs[i];
        if watermark <= input.watermark {
            return;
        }
        input.watermark = watermark;
        if !input.aligned && watermark >= self.current {
            input.aligned = true;
        }
        self.advance(emit);
    }

    /// Input `i` carried records: it is active, announced or not.
    #[inline]
    pub fn on_records(&mut self, i: usize, emit: &mut dyn FnMut(ControlEvent)) {
        if self.inputs[i].idle {
            self.on_status(i, WatermarkStatus::Active, emit);
        }
    }

    /// Input `i` went idle or became active.
    pub fn on_status(&mut self, i: usize, status: WatermarkStatus, emit: &mut dyn FnMut(ControlEvent)) {
        let idle = status == WatermarkStatus::Idle;
        if self.inputs[i].idle == idle {
            return;
        }
        let channels = self.combination == Combination::Channels;
        let input = &mut self.inputs[i];
        input.idle = idle;
        if idle {
            input.aligned = false;
            let at_current = input.watermark == self.current;
            if self.all_idle() {
                if channels && at_current {
                    // Time every channel passed is not held back by their silence.
                    self.advance_to_max(emit);
                }
            } else {
                // It no longer holds the others back.
                self.advance(emit);
            }
        } else {
            // Behind the combined watermark, it counts again once it caught up.
            input.aligned = !channels || input.watermark >= self.current;
        }
        self.update_status(emit);
    }

    /// Input `i` ended. Once every input has, nothing holds event time back any more
    /// (even if the last inputs were idle when their final watermark came).
    pub fn on_end(&mut self, i: usize, emit: &mut dyn FnMut(ControlEvent)) {
        if self.inputs[i].ended {
            return;
        }
        self.inputs[i].ended = true;
        self.live -= 1;
        if self.live == 0 {
            if self.current < Timestamp::MAX {
                self.current = Timestamp::MAX;
                emit(ControlEvent::Watermark(Timestamp::MAX));
            }
        } else {
            self.advance(emit);
            self.update_status(emit);
        }
    }

    fn all_idle(&self) -> bool {
        self.inputs.iter().all(|i| i.ended || i.idle)
    }

    /// Emits the minimum over the inputs that count, if it advanced.
    fn advance(&mut self, emit: &mut dyn FnMut(ControlEvent)) {
        let min = self.inputs.iter().filter(|i| !i.ended && !i.idle && i.aligned).map(|i| i.watermark).min();
        if let Some(min) = min.filter(|m| *m > self.current) {
            self.current = min;
            emit(ControlEvent::Watermark(min));
        }
    }

    /// Emits the largest watermark of any live input, if it is ahead.
    fn advance_to_max(&mut self, emit: &mut dyn FnMut(ControlEvent)) {
        let max = self.inputs.iter().filter(|i| !i.ended).map(|i| i.watermark).max();
        if let Some(max) = max.filter(|m| *m > self.current) {
            self.current = max;
            emit(ControlEvent::Watermark(max));
        }
    }

    /// Emits the combination idle when every live input is, active when one is not.
    fn update_status(&mut self, emit: &mut dyn FnMut(ControlEvent)) {
        let all_idle = self.all_idle();
        if all_idle != self.idle {
            self.idle = all_idle;
            emit(ControlEvent::Status(if all_idle { WatermarkStatus::Idle } else { WatermarkStatus::Active }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(valve: &mut WatermarkValve, f: impl FnOnce(&mut WatermarkValve, &mut dyn FnMut(ControlEvent))) -> String {
        let mut out = Vec::new();
        f(valve, &mut |e| out.push(e));
        out.iter()
            .map(|e| match e {
                ControlEvent::Watermark(w) if *w == Timestamp::MAX => "wMAX".to_string(),
                ControlEvent::Watermark(w) => format!("w{w}"),
                ControlEvent::Status(s) => format!("{s:?}"),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn minimum_over_live_inputs_and_the_end() {
        let mut v = WatermarkValve::new(2, Combination::Channels);
        assert_eq!(run(&mut v, |v, e| v.on_watermark(0, 10, e)), "");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 7, e)), "w7");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 5, e)), "", "never backwards");
        assert_eq!(run(&mut v, |v, e| v.on_end(1, e)), "w10", "an ended input stops holding back");
        assert_eq!(run(&mut v, |v, e| v.on_end(0, e)), "wMAX");
        assert_eq!(v.live(), 0);
    }

    #[test]
    fn idle_inputs_and_the_two_ways_of_going_idle() {
        for (combination, expected) in [(Combination::Channels, "w30 Idle"), (Combination::Inputs, "Idle")] {
            let mut v = WatermarkValve::new(2, combination);
            run(&mut v, |v, e| v.on_watermark(0, 20, e));
            assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 30, e)), "w20");
            assert_eq!(run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Idle, e)), "", "input 0 holds it at 20");
            assert_eq!(run(&mut v, |v, e| v.on_status(0, WatermarkStatus::Idle, e)), expected);
            assert_eq!(run(&mut v, |v, e| v.on_records(1, e)), "Active", "records make an input active");
        }
    }

    #[test]
    fn a_channel_back_from_idleness_counts_once_it_caught_up() {
        // A at 200, B idle; B comes back at 50 while the output is at 100: Flink's valve
        // leaves B out until it reaches the output, two-input tasks do not.
        let mut v = WatermarkValve::new(2, Combination::Channels);
        run(&mut v, |v, e| v.on_watermark(0, 100, e));
        run(&mut v, |v, e| v.on_watermark(1, 50, e));
        assert_eq!(run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Idle, e)), "w100");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 70, e)), "", "an idle channel's watermark is ignored");
        run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Active, e));
        assert_eq!(run(&mut v, |v, e| v.on_watermark(0, 200, e)), "w200", "B (at 50) does not count yet");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 150, e)), "", "still behind");
        run(&mut v, |v, e| v.on_watermark(1, 210, e));
        assert_eq!(run(&mut v, |v, e| v.on_watermark(0, 300, e)), "w210", "caught up: counts again");

        let mut v = WatermarkValve::new(2, Combination::Inputs);
        run(&mut v, |v, e| v.on_watermark(0, 100, e));
        run(&mut v, |v, e| v.on_watermark(1, 50, e));
        run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Idle, e));
        run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Active, e));
        assert_eq!(run(&mut v, |v, e| v.on_watermark(0, 200, e)), "", "the input back at 50 holds it");
    }
}

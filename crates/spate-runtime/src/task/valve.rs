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
}

/// Combines the watermarks and idleness of `n` inputs.
///
/// The combined watermark is the minimum over inputs that are neither idle nor ended,
/// never goes backwards (an input rejoining behind does not pull it back), and becomes
/// the maximum once every input has ended. The combination is idle when every live
/// input is. Changes come out as [`ControlEvent`]s through the `emit` callbacks.
#[derive(Debug)]
pub struct WatermarkValve {
    inputs: Vec<Input>,
    current: Timestamp,
    idle: bool,
    live: usize,
    /// Whether the combination, going idle, first moves to the largest watermark its
    /// inputs reached. Flink's valve over the channels of a gate does; its combination
    /// of a task's two inputs does not.
    advance_when_idle: bool,
}

impl WatermarkValve {
    /// A valve over `n` inputs.
    pub fn new(n: usize, advance_when_idle: bool) -> Self {
        let input = Input { watermark: Timestamp::MIN, idle: false, ended: false };
        WatermarkValve { inputs: vec![input; n], current: Timestamp::MIN, idle: false, live: n, advance_when_idle }
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
        if watermark > self.inputs[i].watermark {
            self.inputs[i].watermark = watermark;
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
        self.inputs[i].idle = idle;
        if idle {
            // It no longer holds the others back.
            self.advance(emit);
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

    /// Recomputes the combined watermark; emits it if it advanced.
    fn advance(&mut self, emit: &mut dyn FnMut(ControlEvent)) {
        let min = self.inputs.iter().filter(|i| !i.ended && !i.idle).map(|i| i.watermark).min();
        if let Some(min) = min.filter(|m| *m > self.current) {
            self.current = min;
            emit(ControlEvent::Watermark(min));
        }
    }

    /// Emits the combination idle when every live input is, active when one is not.
    fn update_status(&mut self, emit: &mut dyn FnMut(ControlEvent)) {
        let all_idle = self.inputs.iter().all(|i| i.ended || i.idle);
        if all_idle == self.idle {
            return;
        }
        if all_idle && self.advance_when_idle {
            // Time every live input passed is not held back by their silence.
            let max = self.inputs.iter().filter(|i| !i.ended).map(|i| i.watermark).max();
            if let Some(max) = max.filter(|m| *m > self.current) {
                self.current = max;
                emit(ControlEvent::Watermark(max));
            }
        }
        self.idle = all_idle;
        emit(ControlEvent::Status(if all_idle { WatermarkStatus::Idle } else { WatermarkStatus::Active }));
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
        let mut v = WatermarkValve::new(2, true);
        assert_eq!(run(&mut v, |v, e| v.on_watermark(0, 10, e)), "");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 7, e)), "w7");
        assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 5, e)), "", "never backwards");
        assert_eq!(run(&mut v, |v, e| v.on_end(1, e)), "w10", "an ended input stops holding back");
        assert_eq!(run(&mut v, |v, e| v.on_end(0, e)), "wMAX");
        assert_eq!(v.live(), 0);
    }

    #[test]
    fn idle_inputs_and_the_two_ways_of_going_idle() {
        for (advance, expected) in [(true, "w30 Idle"), (false, "Idle")] {
            let mut v = WatermarkValve::new(2, advance);
            run(&mut v, |v, e| v.on_watermark(0, 20, e));
            assert_eq!(run(&mut v, |v, e| v.on_watermark(1, 30, e)), "w20");
            assert_eq!(run(&mut v, |v, e| v.on_status(1, WatermarkStatus::Idle, e)), "", "input 0 holds it at 20");
            assert_eq!(run(&mut v, |v, e| v.on_status(0, WatermarkStatus::Idle, e)), expected);
            assert_eq!(run(&mut v, |v, e| v.on_records(1, e)), "Active", "records make an input active");
        }
    }
}

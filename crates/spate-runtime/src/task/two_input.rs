//! The head of a task whose first operator has two inputs.

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use spate_core::Timestamp;

use super::alignment::BarrierAligner;
use super::head::{Checkpointed, HeadStatus, SnapshotResult, TaskHead};
use super::input_gate::InputGate;
use super::valve::{Combination, WatermarkValve};
use crate::TaskError;
use crate::channel::Event;
use crate::checkpoint::{CheckpointBarrier, CheckpointId, CheckpointingMode, OperatorSnapshot, TaskSnapshot};
use crate::context::RuntimeContext;
use crate::error::guard;
use crate::event::ControlEvent;
use crate::metrics::TaskMetrics;
use crate::notifier::TaskNotifier;
use crate::operator::TwoInputOperator;
use crate::output::Output;
use crate::state::StateScope;

/// Reads two input gates into a [`TwoInputOperator`], taking them in turn so that
/// neither starves, combining their watermarks and idleness ([`WatermarkValve`]),
/// aligning their barriers ([`BarrierAligner`]), and ending when both have ended.
pub struct TwoInputHead<IN1, IN2, OUT, Op> {
    name: String,
    operator: Op,
    output: Output<OUT>,
    context: RuntimeContext,
    scope: Rc<StateScope>,
    gate1: InputGate<IN1>,
    gate2: InputGate<IN2>,
    /// The two inputs' watermarks and idleness combined. Going idle, the combination
    /// does not jump to the larger watermark (Flink's two-input tasks do not).
    valve: WatermarkValve,
    aligner: BarrierAligner,
    /// What the valve decided, to apply in order.
    decided: VecDeque<ControlEvent>,
    /// A checkpoint completed by an input's end, handed out at the next step.
    pending_checkpoint: Option<Box<Checkpointed>>,
    turn: u8,
    metrics: Arc<TaskMetrics>,
}

impl<IN1, IN2, OUT, Op> TwoInputHead<IN1, IN2, OUT, Op>
where
    Op: TwoInputOperator<IN1, IN2, OUT>,
{
    /// A head reading `gate1` and `gate2` into `operator`, whose records go to `output`.
    pub fn new(
        operator: Op,
        output: Output<OUT>,
        context: RuntimeContext,
        gate1: InputGate<IN1>,
        gate2: InputGate<IN2>,
        metrics: Arc<TaskMetrics>,
    ) -> Self {
        let scope = StateScope::new(Op::KEYED, context.task_info().clock.clone());
        let context = context.with_scope(scope.clone());
        TwoInputHead {
            name: context.operator_name().to_string(),
            operator,
            output,
            context,
            scope,
            gate1,
            gate2,
            valve: WatermarkValve::new(2, Combination::Inputs),
            aligner: BarrierAligner::new(2),
            decided: VecDeque::new(),
            pending_checkpoint: None,
            turn: 0,
            metrics,
        }
    }

    /// Sets whether an input that delivered a barrier waits for the other.
    pub fn with_mode(mut self, mode: CheckpointingMode) -> Self {
        self.aligner = self.aligner.with_mode(mode);
        self
    }

    fn settle(&mut self, result: Result<(), TaskError>) -> Result<(), TaskError> {
        self.output.flush_batch();
        self.output.take_error()?;
        result
    }

    /// Calls the operator inside its scope and guards the call.
    fn call(
        &mut self,
        f: impl FnOnce(&mut Op, &mut Output<OUT>) -> crate::functions::FnResult,
    ) -> Result<(), TaskError> {
        let scope = self.scope.enter();
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.name, || f(operator, output));
        drop(scope);
        self.settle(result)
    }

    /// Applies what the valve decided: the combined watermark goes to the operator, a
    /// change of idleness on to what follows.
    fn apply_decided(&mut self) -> Result<(), TaskError> {
        while let Some(event) = self.decided.pop_front() {
            match event {
                ControlEvent::Watermark(w) => self.call(|op, out| op.process_watermark(w, out))?,
                other => {
                    self.output.emit_control(&other);
                    self.output.take_error()?;
                }
            }
        }
        Ok(())
    }

    /// Handles an event of input `i` (0 or 1) other than records.
    fn on_control(&mut self, i: usize, event: ControlEvent) -> Result<HeadStatus, TaskError> {
        let decided = &mut self.decided;
        let mut emit = |e: ControlEvent| decided.push_back(e);
        match event {
            ControlEvent::Watermark(w) => self.valve.on_watermark(i, w, &mut emit),
            ControlEvent::Status(status) => self.valve.on_status(i, status, &mut emit),
            ControlEvent::Barrier(barrier) => {
                let valve = &self.valve;
                if let Some(aligned) = self.aligner.on_barrier(i, barrier, |j| valve.is_ended(j)) {
                    return self.checkpoint(aligned);
                }
            }
            ControlEvent::EndOfInput => return self.end(i),
        }
        self.apply_decided()?;
        Ok(HeadStatus::Busy)
    }

    /// Passes `barrier` on and snapshots the operator and the chain after it.
    fn checkpoint(&mut self, barrier: CheckpointBarrier) -> Result<HeadStatus, TaskError> {
        self.output.emit_control(&ControlEvent::Barrier(barrier.clone()));
        self.output.take_error()?;
        let started = std::time::Instant::now();
        let snapshot = self.snapshot_chain(&barrier);
        Ok(HeadStatus::Checkpointed(Box::new(Checkpointed { barrier, snapshot, sync: started.elapsed() })))
    }

    fn end(&mut self, i: usize) -> Result<HeadStatus, TaskError> {
        let valve = &self.valve;
        if let Some(barrier) = self.aligner.complete(|j| j == i || valve.is_ended(j)) {
            // The ended input no longer holds the checkpoint, which comes before the end
            // (as in Flink): the snapshot is of the state before `end_input`.
            if let HeadStatus::Checkpointed(done) = self.checkpoint(barrier)? {
                self.pending_checkpoint = Some(done);
            }
        }
        self.call(|op, out| op.end_input(i as u8 + 1, out))?;
        let decided = &mut self.decided;
        self.valve.on_end(i, &mut |e| decided.push_back(e));
        self.apply_decided()?;
        if self.valve.live() == 0 {
            self.output.emit_control(&ControlEvent::EndOfInput);
            self.output.take_error()?;
            return Ok(HeadStatus::Finished);
        }
        Ok(HeadStatus::Busy)
    }
}

impl<IN1, IN2, OUT, Op> TaskHead for TwoInputHead<IN1, IN2, OUT, Op>
where
    Op: TwoInputOperator<IN1, IN2, OUT>,
{
    fn open(&mut self) -> Result<(), TaskError> {
        self.output.open_downstream()?;
        let _scope = self.scope.enter();
        let (operator, context) = (&mut self.operator, &mut self.context);
        guard(&self.name, || operator.open(context))
    }

    fn step(&mut self) -> Result<HeadStatus, TaskError> {
        for _ in 0..2 {
            self.turn ^= 1;
            if let Some(done) = self.pending_checkpoint.take() {
                return Ok(HeadStatus::Checkpointed(done));
            }
            let i = usize::from(self.turn == 0);
            if self.valve.is_ended(i) || self.aligner.is_held(i) {
                continue;
            }
            let decided = &mut self.decided;
            let mut emit = |e: ControlEvent| decided.push_back(e);
            if i == 0 {
                match self.gate1.poll()? {
                    Some(Event::Records(mut batch)) => {
                        self.valve.on_records(0, &mut emit);
                        self.apply_decided()?;
                        self.metrics.add_records_in(batch.len() as u64);
                        self.call(|op, out| op.process_batch1(&mut batch, out))?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(Event::Control(event)) => return self.on_control(0, event),
                    None => {}
                }
            } else {
                match self.gate2.poll()? {
                    Some(Event::Records(mut batch)) => {
                        self.valve.on_records(1, &mut emit);
                        self.apply_decided()?;
                        self.metrics.add_records_in(batch.len() as u64);
                        self.call(|op, out| op.process_batch2(&mut batch, out))?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(Event::Control(event)) => return self.on_control(1, event),
                    None => {}
                }
            }
        }
        Ok(HeadStatus::Idle { retry_after: None })
    }

    fn bind(&mut self, notifier: &Arc<TaskNotifier>) {
        self.gate1.bind(notifier);
        self.gate2.bind(notifier);
    }

    fn has_input(&self) -> bool {
        let readable = |i: usize| !self.valve.is_ended(i) && !self.aligner.is_held(i);
        self.pending_checkpoint.is_some()
            || (readable(0) && self.gate1.has_input())
            || (readable(1) && self.gate2.has_input())
    }

    fn last_alignment(&self) -> std::time::Duration {
        self.gate1.last_alignment().max(self.gate2.last_alignment()).max(self.aligner.last_alignment())
    }

    fn snapshot_chain(&mut self, barrier: &CheckpointBarrier) -> SnapshotResult {
        let mut state = OperatorSnapshot::for_barrier(barrier);
        let scope = self.scope.enter();
        let operator = &mut self.operator;
        let result = guard(&self.name, || operator.snapshot_state(&mut state));
        let lists = self.scope.operator.snapshot();
        drop(scope);
        result?;
        let lists = lists.map_err(|e| TaskError::Operator { operator: self.name.clone(), cause: e.into() })?;
        for (name, mode, elements) in lists {
            state.add_list(&name, mode, elements);
        }
        let mut snapshot = TaskSnapshot::default();
        snapshot.add(self.context.operator_uid(), state);
        self.output.snapshot_downstream(barrier, &mut snapshot)?;
        Ok(snapshot)
    }

    fn notify_checkpoint(&mut self, id: CheckpointId, complete: bool) -> Result<(), TaskError> {
        self.call(|op, out| op.notify_checkpoint(id, complete, out))?;
        self.output.notify_downstream(id, complete)
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.output.flush_downstream()
    }

    fn has_buffered(&self) -> bool {
        self.output.has_buffered()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let scope = self.scope.enter();
        let operator = &mut self.operator;
        let own = guard(&self.name, || operator.close());
        drop(scope);
        let rest = self.output.close_downstream();
        own.and(rest)
    }

    fn on_processing_time(&mut self, now: Timestamp) -> Result<(), TaskError> {
        if self.operator.next_processing_time().is_some_and(|t| t <= now) {
            self.call(|op, out| op.on_processing_time(now, out))?;
        }
        self.output.processing_time_downstream(now)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        let own = self.operator.next_processing_time();
        own.into_iter().chain(self.output.next_processing_time_downstream()).min()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use spate_core::StreamRecord;
    use spate_core::job_graph::ExecutionMode;

    use super::*;
    use crate::channel::{Event, cancellation, channel};
    use crate::context::TaskInfo;
    use crate::functions::FnResult;
    use crate::output::testing::recorder;

    /// Records which input each record came from and every watermark and end.
    struct Log(Arc<Mutex<Vec<String>>>);

    impl TwoInputOperator<u32, String, u32> for Log {
        fn process_batch1(&mut self, batch: &mut Vec<StreamRecord<u32>>, _: &mut Output<u32>) -> FnResult {
            self.0.lock().unwrap().extend(batch.drain(..).map(|r| format!("1:{}", r.value)));
            Ok(())
        }
        fn process_batch2(&mut self, batch: &mut Vec<StreamRecord<String>>, _: &mut Output<u32>) -> FnResult {
            self.0.lock().unwrap().extend(batch.drain(..).map(|r| format!("2:{}", r.value)));
            Ok(())
        }
        fn process_watermark(&mut self, watermark: Timestamp, out: &mut Output<u32>) -> FnResult {
            self.0.lock().unwrap().push(format!("wm {watermark}"));
            out.emit_watermark(watermark);
            Ok(())
        }
        fn end_input(&mut self, input: u8, _: &mut Output<u32>) -> FnResult {
            self.0.lock().unwrap().push(format!("end {input}"));
            Ok(())
        }
    }

    #[test]
    fn watermark_is_the_minimum_of_both_inputs_and_the_end_needs_both() {
        let (_h, cancel) = cancellation();
        let (tx1, rx1) = channel::<u32>(8);
        let (tx2, rx2) = channel::<String>(8);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (sink, seen) = recorder::<u32>();
        let info = Arc::new(TaskInfo {
            job_name: "j".into(),
            task_name: "t".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            attempt: 0,
            execution_mode: ExecutionMode::Streaming,
            clock: crate::time::system_clock(),
            auto_watermark_interval: std::time::Duration::ZERO,
            checkpointing_mode: crate::checkpoint::CheckpointingMode::ExactlyOnce,
            cancel: None,
        });
        let ctx = RuntimeContext::new(info, "op", Arc::default());
        let mut head = TwoInputHead::new(
            Log(log.clone()),
            Output::new(sink, 8),
            ctx,
            InputGate::new(vec![rx1], "t".into()),
            InputGate::new(vec![rx2], "t".into()),
            Arc::default(),
        );
        head.open().unwrap();
        tx1.send(Event::Records(vec![StreamRecord::new(7)]), &cancel).unwrap();
        tx1.send(Event::Control(ControlEvent::Watermark(100)), &cancel).unwrap();
        tx2.send(Event::Records(vec![StreamRecord::new("x".to_string())]), &cancel).unwrap();
        tx2.send(Event::Control(ControlEvent::Watermark(40)), &cancel).unwrap();
        tx2.send(Event::Control(ControlEvent::EndOfInput), &cancel).unwrap();
        // Phase one: everything but the end of input 1.
        while matches!(head.step().unwrap(), HeadStatus::Busy) {}
        assert!(!seen.lock().unwrap().ended, "input 1 has not ended");
        tx1.send(Event::Control(ControlEvent::EndOfInput), &cancel).unwrap();
        let mut steps = 0;
        while !matches!(head.step().unwrap(), HeadStatus::Finished) {
            steps += 1;
            assert!(steps < 100, "the head does not finish");
        }
        let log = log.lock().unwrap().clone();
        assert!(log.contains(&"1:7".to_string()) && log.contains(&"2:x".to_string()));
        let watermarks: Vec<&String> = log.iter().filter(|l| l.starts_with("wm")).collect();
        // Held back by input 2 at 40; once input 2 ends, input 1's 100; at the end, MAX.
        assert_eq!(watermarks, vec!["wm 40", "wm 100", &format!("wm {}", Timestamp::MAX)]);
        assert_eq!(log.iter().filter(|l| l.starts_with("end")).count(), 2);
        assert!(seen.lock().unwrap().ended, "the end is passed on once both inputs ended");
    }
}

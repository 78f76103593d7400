//! The head of a task whose first operator has two inputs.

use std::rc::Rc;
use std::sync::Arc;

use crossbeam_channel::Select;
use spate_core::Timestamp;

use super::head::{HeadStatus, TaskHead};
use super::input_gate::{GateEvent, InputGate};
use crate::TaskError;
use crate::checkpoint::{CheckpointBarrier, CheckpointId, CheckpointingMode, OperatorSnapshot, TaskSnapshot};
use crate::context::RuntimeContext;
use crate::error::guard;
use crate::metrics::TaskMetrics;
use crate::operator::TwoInputOperator;
use crate::output::Output;
use crate::state::StateScope;
use crate::watermark::WatermarkStatus;

/// Reads two input gates into a [`TwoInputOperator`], taking them in turn so that
/// neither starves, combining their watermarks, and ending when both have ended.
pub struct TwoInputHead<IN1, IN2, OUT, Op> {
    name: String,
    operator: Op,
    output: Output<OUT>,
    context: RuntimeContext,
    scope: Rc<StateScope>,
    gate1: InputGate<IN1>,
    gate2: InputGate<IN2>,
    /// Per input: its watermark, whether it is idle, and whether it has ended.
    watermarks: [Timestamp; 2],
    idle: [bool; 2],
    ended: [bool; 2],
    /// Whether both inputs are idle (or ended), as last passed on.
    all_idle: bool,
    /// The barrier each input delivered for the checkpoint being aligned.
    barriers: [Option<CheckpointBarrier>; 2],
    /// Whether an input that delivered a barrier waits for the other (exactly-once).
    align: bool,
    /// A checkpoint completed by an input's end, handed out at the next step.
    pending_checkpoint: Option<Box<(CheckpointBarrier, TaskSnapshot, std::time::Duration)>>,
    combined: Timestamp,
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
            watermarks: [Timestamp::MIN; 2],
            idle: [false; 2],
            ended: [false; 2],
            all_idle: false,
            barriers: [None, None],
            align: true,
            pending_checkpoint: None,
            combined: Timestamp::MIN,
            turn: 0,
            metrics,
        }
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

    /// Passes the combined watermark on if it advanced: the minimum over inputs that
    /// are neither idle nor ended (the maximum once both ended).
    fn advance_watermark(&mut self) -> Result<(), TaskError> {
        let combined = if self.ended.iter().all(|e| *e) {
            Timestamp::MAX
        } else {
            match (0..2).filter(|&i| !self.ended[i] && !self.idle[i]).map(|i| self.watermarks[i]).min() {
                Some(min) => min,
                None => return Ok(()),
            }
        };
        if combined > self.combined {
            self.combined = combined;
            self.call(|op, out| op.process_watermark(combined, out))?;
        }
        Ok(())
    }

    /// Sets whether an input that delivered a barrier waits for the other.
    pub fn with_mode(mut self, mode: CheckpointingMode) -> Self {
        self.align = mode == CheckpointingMode::ExactlyOnce;
        self
    }

    /// Whether input `i` is held back by an alignment.
    fn held(&self, i: usize) -> bool {
        self.align && self.barriers[i].is_some()
    }

    /// Input `i` delivered `barrier`: once both have (or the other ended), snapshot and
    /// pass it on.
    fn on_barrier(&mut self, i: usize, barrier: CheckpointBarrier) -> Result<HeadStatus, TaskError> {
        let newest = self.barriers.iter().flatten().map(|b| b.id).max();
        if newest.is_some_and(|n| barrier.id < n) {
            return Ok(HeadStatus::Busy);
        }
        if newest.is_some_and(|n| barrier.id > n) {
            self.barriers = [None, None];
        }
        self.barriers[i] = Some(barrier);
        self.complete_alignment()
    }

    fn complete_alignment(&mut self) -> Result<HeadStatus, TaskError> {
        let delivered = (0..2).all(|i| self.ended[i] || self.barriers[i].is_some());
        let Some(barrier) = self.barriers.iter().flatten().next().cloned() else { return Ok(HeadStatus::Busy) };
        if !delivered {
            return Ok(HeadStatus::Busy);
        }
        self.barriers = [None, None];
        let started = std::time::Instant::now();
        let snapshot = self.snapshot(&barrier)?;
        Ok(HeadStatus::Checkpointed(Box::new((barrier, snapshot, started.elapsed()))))
    }

    /// Snapshots the operator and the chain after it, passing `barrier` on.
    fn snapshot(&mut self, barrier: &CheckpointBarrier) -> Result<TaskSnapshot, TaskError> {
        let mut state = OperatorSnapshot::default();
        let scope = self.scope.enter();
        let operator = &mut self.operator;
        let result = guard(&self.name, || operator.snapshot_state(&mut state));
        let lists = self.scope.operator.snapshot();
        drop(scope);
        self.settle(result)?;
        let lists = lists.map_err(|e| TaskError::Operator { operator: self.name.clone(), cause: e.into() })?;
        for (name, mode, elements) in lists {
            state.add_list(&name, mode, elements);
        }
        let mut snapshot = TaskSnapshot::default();
        snapshot.add(self.context.operator_uid(), state);
        self.output.checkpoint_downstream(barrier, &mut snapshot)?;
        Ok(snapshot)
    }

    /// Input `input` (0 or 1) went idle or became active.
    fn set_idle(&mut self, input: usize, status: WatermarkStatus) -> Result<HeadStatus, TaskError> {
        self.idle[input] = status == WatermarkStatus::Idle;
        self.advance_watermark()?;
        self.update_status()?;
        Ok(HeadStatus::Busy)
    }

    /// Passes on that the task went idle (both inputs idle or ended) or active.
    fn update_status(&mut self) -> Result<(), TaskError> {
        let all_idle = (0..2).all(|i| self.ended[i] || self.idle[i]) && !self.ended.iter().all(|e| *e);
        if all_idle != self.all_idle {
            self.all_idle = all_idle;
            self.output.emit_watermark_status(if all_idle { WatermarkStatus::Idle } else { WatermarkStatus::Active });
            self.output.take_error()?;
        }
        Ok(())
    }

    fn end(&mut self, input: u8) -> Result<HeadStatus, TaskError> {
        self.ended[input as usize - 1] = true;
        self.call(|op, out| op.end_input(input, out))?;
        self.advance_watermark()?;
        self.update_status()?;
        if let HeadStatus::Checkpointed(done) = self.complete_alignment()? {
            // The ended input no longer holds the checkpoint; the end follows it.
            self.pending_checkpoint = Some(done);
        }
        if self.ended.iter().all(|e| *e) {
            self.output.end_downstream()?;
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
            if self.turn == 1 && !self.ended[0] && !self.held(0) {
                match self.gate1.poll()? {
                    Some(GateEvent::Records(mut batch)) => {
                        self.metrics.add_records_in(batch.len() as u64);
                        self.call(|op, out| op.process_batch1(&mut batch, out))?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(GateEvent::Watermark(w)) => {
                        self.watermarks[0] = w;
                        self.advance_watermark()?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(GateEvent::Status(status)) => return self.set_idle(0, status),
                    Some(GateEvent::Barrier(barrier)) => return self.on_barrier(0, barrier),
                    Some(GateEvent::EndOfInput) => return self.end(1),
                    None => {}
                }
            } else if self.turn == 0 && !self.ended[1] && !self.held(1) {
                match self.gate2.poll()? {
                    Some(GateEvent::Records(mut batch)) => {
                        self.metrics.add_records_in(batch.len() as u64);
                        self.call(|op, out| op.process_batch2(&mut batch, out))?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(GateEvent::Watermark(w)) => {
                        self.watermarks[1] = w;
                        self.advance_watermark()?;
                        return Ok(HeadStatus::Busy);
                    }
                    Some(GateEvent::Status(status)) => return self.set_idle(1, status),
                    Some(GateEvent::Barrier(barrier)) => return self.on_barrier(1, barrier),
                    Some(GateEvent::EndOfInput) => return self.end(2),
                    None => {}
                }
            }
        }
        Ok(HeadStatus::Idle { retry_after: None })
    }

    fn register<'a>(&'a self, select: &mut Select<'a>) {
        if !self.ended[0] && !self.held(0) {
            self.gate1.register(select);
        }
        if !self.ended[1] && !self.held(1) {
            self.gate2.register(select);
        }
    }

    fn last_alignment(&self) -> std::time::Duration {
        self.gate1.last_alignment().max(self.gate2.last_alignment())
    }

    fn final_snapshot(&mut self, barrier: &CheckpointBarrier) -> Result<TaskSnapshot, TaskError> {
        self.snapshot(barrier)
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
        tx1.send(Event::Watermark(100), &cancel).unwrap();
        tx2.send(Event::Records(vec![StreamRecord::new("x".to_string())]), &cancel).unwrap();
        tx2.send(Event::Watermark(40), &cancel).unwrap();
        tx2.send(Event::EndOfPartition, &cancel).unwrap();
        // Phase one: everything but the end of input 1.
        while head.step().unwrap() == HeadStatus::Busy {}
        assert!(!seen.lock().unwrap().ended, "input 1 has not ended");
        tx1.send(Event::EndOfPartition, &cancel).unwrap();
        let mut steps = 0;
        while head.step().unwrap() != HeadStatus::Finished {
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

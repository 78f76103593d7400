//! The node that runs one operator inside a chain.

use std::marker::PhantomData;
use std::rc::Rc;

use spate_core::{StreamRecord, Timestamp};

use super::OneInputOperator;
use crate::TaskError;
use crate::checkpoint::{CheckpointBarrier, CheckpointId, OperatorSnapshot, TaskSnapshot};
use crate::context::RuntimeContext;
use crate::error::guard;
use crate::event::ControlEvent;
use crate::functions::FnResult;
use crate::output::{Downstream, Output};
use crate::state::StateScope;

/// Runs an operator as a [`Downstream`] of the operator before it: every call enters the
/// operator's state scope, is guarded against errors and panics of user code, and ends
/// by handing the operator's output on.
pub struct ChainedOperator<IN, OUT, Op> {
    name: String,
    operator: Op,
    output: Output<OUT>,
    context: RuntimeContext,
    scope: Rc<StateScope>,
    _input: PhantomData<fn(IN)>,
}

impl<IN, OUT, Op> ChainedOperator<IN, OUT, Op>
where
    Op: OneInputOperator<IN, OUT>,
{
    /// Wraps `operator`, whose records go to `output`.
    pub fn new(operator: Op, output: Output<OUT>, context: RuntimeContext) -> Self {
        let scope = StateScope::new(Op::KEYED, context.task_info().clock.clone());
        let context = context.with_scope(scope.clone());
        ChainedOperator {
            name: context.operator_name().to_string(),
            operator,
            output,
            context,
            scope,
            _input: PhantomData,
        }
    }

    /// Finishes a call into the operator: hands its output on, then reports the first
    /// failure — the downstream's (it happened first) or the operator's own.
    fn settle(&mut self, result: Result<(), TaskError>) -> Result<(), TaskError> {
        self.output.flush_batch();
        self.output.take_error()?;
        result
    }

    /// Calls the operator inside its scope, guarded, and settles the call.
    fn call(&mut self, f: impl FnOnce(&mut Op, &mut Output<OUT>) -> FnResult) -> Result<(), TaskError> {
        let scope = self.scope.enter();
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.name, || f(operator, output));
        drop(scope);
        self.settle(result)
    }
}

impl<IN, OUT, Op> Downstream<IN> for ChainedOperator<IN, OUT, Op>
where
    Op: OneInputOperator<IN, OUT>,
{
    fn open(&mut self) -> Result<(), TaskError> {
        self.output.open_downstream()?;
        let _scope = self.scope.enter();
        let (operator, context) = (&mut self.operator, &mut self.context);
        guard(&self.name, || operator.open(context))
    }

    #[inline]
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<IN>>) -> Result<(), TaskError> {
        self.call(|op, out| op.process_batch(batch, out))
    }

    fn process_control(&mut self, event: &ControlEvent) -> Result<(), TaskError> {
        self.call(|op, out| op.process_control(event, out))
    }

    fn snapshot_state(&mut self, barrier: &CheckpointBarrier, snapshot: &mut TaskSnapshot) -> Result<(), TaskError> {
        let scope = self.scope.enter();
        let mut state = OperatorSnapshot::for_barrier(barrier);
        let operator = &mut self.operator;
        let result = guard(&self.name, || operator.snapshot_state(&mut state));
        let lists = self.scope.operator.snapshot();
        drop(scope);
        result?;
        for (name, mode, elements) in
            lists.map_err(|e| TaskError::Operator { operator: self.name.clone(), cause: e.into() })?
        {
            state.add_list(&name, mode, elements);
        }
        snapshot.add(self.context.operator_uid(), state);
        self.output.snapshot_downstream(barrier, snapshot)
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
        let rest = self.output.next_processing_time_downstream();
        own.into_iter().chain(rest).min()
    }
}

//! The node that runs one operator inside a chain.

use std::marker::PhantomData;

use spate_core::{StreamRecord, Timestamp};

use super::OneInputOperator;
use crate::TaskError;
use crate::context::RuntimeContext;
use crate::error::guard;
use crate::output::{Downstream, Output};

/// Runs an operator as a [`Downstream`] of the operator before it.
pub struct ChainedOperator<IN, OUT, Op> {
    name: String,
    operator: Op,
    output: Output<OUT>,
    context: RuntimeContext,
    _input: PhantomData<fn(IN)>,
}

impl<IN, OUT, Op> ChainedOperator<IN, OUT, Op>
where
    Op: OneInputOperator<IN, OUT>,
{
    /// Wraps `operator`, whose records go to `output`.
    pub fn new(operator: Op, output: Output<OUT>, context: RuntimeContext) -> Self {
        ChainedOperator { name: context.operator_name().to_string(), operator, output, context, _input: PhantomData }
    }

    /// Finishes a call into the operator: hands its output on, then reports the first
    /// failure — the downstream's (it happened first) or the operator's own.
    fn settle(&mut self, result: Result<(), TaskError>) -> Result<(), TaskError> {
        self.output.flush_batch();
        self.output.take_error()?;
        result
    }
}

impl<IN, OUT, Op> Downstream<IN> for ChainedOperator<IN, OUT, Op>
where
    Op: OneInputOperator<IN, OUT>,
{
    fn open(&mut self) -> Result<(), TaskError> {
        self.output.downstream().open()?;
        let (operator, context) = (&mut self.operator, &mut self.context);
        guard(&self.name, || operator.open(context))
    }

    #[inline]
    fn process_batch(&mut self, batch: &mut Vec<StreamRecord<IN>>) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.name, || operator.process_batch(batch, output));
        self.settle(result)
    }

    fn process_watermark(&mut self, watermark: Timestamp) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.name, || operator.process_watermark(watermark, output));
        self.settle(result)
    }

    fn end_input(&mut self) -> Result<(), TaskError> {
        let (operator, output) = (&mut self.operator, &mut self.output);
        let result = guard(&self.name, || operator.end_input(output));
        self.settle(result)?;
        self.output.downstream().end_input()
    }

    fn flush(&mut self) -> Result<(), TaskError> {
        self.output.flush_batch();
        self.output.take_error()?;
        self.output.downstream().flush()
    }

    fn has_buffered(&self) -> bool {
        self.output.has_buffered()
    }

    fn close(&mut self) -> Result<(), TaskError> {
        let operator = &mut self.operator;
        let own = guard(&self.name, || operator.close());
        let rest = self.output.downstream().close();
        own.and(rest)
    }
}

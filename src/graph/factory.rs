//! Factories that make one operator, source head or sink per subtask, created by the API
//! where the types are known.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use spate_core::{Key, Unrecoverable};
use spate_runtime::TaskError;
use spate_runtime::channel::ChannelReceiver;
use spate_runtime::context::RuntimeContext;
use spate_runtime::error::guard;
use spate_runtime::key_selector::KeySelector;
use spate_runtime::metrics::TaskMetrics;
use spate_runtime::operator::{
    ChainedOperator, OneInputOperator, SinkOperator, TimestampsAndWatermarksOperator, TwoInputOperator,
};
use spate_runtime::output::{Downstream, Output};
use spate_runtime::partitioner::{CustomPartitioner, CustomSelector, KeyGroupSelector, KeyedSelector};
use spate_runtime::sink::Sink;
use spate_runtime::source::{Boundedness, SPLITS, Source, SplitListing};
use spate_runtime::task::{InputGate, SourceHead, TaskHead, TwoInputHead};
use spate_runtime::watermark::WatermarkStrategy;

use super::port::{AnyEnd, downcast};

/// A user function kept as the prototype every subtask clones, so that functions need
/// to be `Clone + Send` but not `Sync`.
pub(crate) struct Prototype<F>(Mutex<F>);

impl<F: Clone> Prototype<F> {
    pub(crate) fn new(function: F) -> Self {
        Prototype(Mutex::new(function))
    }

    /// A fresh copy for one subtask.
    pub(crate) fn instance(&self) -> F {
        match self.0.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Makes the source head of one subtask.
pub(crate) trait SourceFactory: Send + Sync {
    fn boundedness(&self) -> Boundedness;
    fn max_parallelism(&self) -> Option<u32>;
    /// The source's listing of its input for an attempt at `parallelism` (`None`: the
    /// source does not enumerate splits); `name` names it in a failure.
    fn enumerate(&self, name: &str, parallelism: u32) -> Option<SplitListing>;
    /// `chain` is the `Box<dyn Downstream<T>>` the source's records go to; `listing` is
    /// the attempt's listing of the source's input, when it enumerates splits.
    fn head(
        &self,
        ctx: &mut RuntimeContext,
        chain: Box<dyn Any>,
        listing: Option<&SplitListing>,
        batch_size: usize,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError>;
}

pub(crate) struct SourceFactoryOf<T> {
    pub(crate) source: Arc<dyn Source<T>>,
    /// Timestamps and watermarks applied by every source subtask (`from_source`).
    pub(crate) strategy: Option<WatermarkStrategy<T>>,
}

impl<T: Send + 'static> SourceFactory for SourceFactoryOf<T> {
    fn boundedness(&self) -> Boundedness {
        self.source.boundedness()
    }

    fn max_parallelism(&self) -> Option<u32> {
        self.source.max_parallelism()
    }

    fn enumerate(&self, name: &str, parallelism: u32) -> Option<SplitListing> {
        match guard(name, || self.source.enumerate_splits(parallelism)) {
            Ok(listed) => listed.map(SplitListing::Listed),
            // The subtasks that get the failed listing name the operator.
            Err(TaskError::Operator { cause, .. }) => Some(SplitListing::Failed(with_causes(&*cause))),
            Err(TaskError::Panic { message, .. }) => {
                Some(SplitListing::Failed(format!("panicked listing its splits: {message}")))
            }
            Err(other) => Some(SplitListing::Failed(other.to_string())),
        }
    }

    fn head(
        &self,
        ctx: &mut RuntimeContext,
        chain: Box<dyn Any>,
        listing: Option<&SplitListing>,
        batch_size: usize,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError> {
        let mut chain = downcast::<Box<dyn Downstream<T>>>(chain, "a source's output")?;
        if let Some(strategy) = &self.strategy {
            // The strategy runs in the source's task as an operator of its own at the
            // head of the chain, under the source's name.
            let operator = TimestampsAndWatermarksOperator::new(strategy.clone());
            chain = Box::new(ChainedOperator::new(operator, Output::new(chain, batch_size), ctx.clone()));
        }
        let name = ctx.operator_name().to_string();
        let source = &self.source;
        let splits = ctx.restored().and_then(|r| r.list(SPLITS)).map(<[Vec<u8>]>::to_vec);
        let reader = match (splits, listing) {
            // Resumes where the checkpoint left off (an empty list: nothing left to read).
            (Some(splits), _) => guard(&name, || source.restore_reader(ctx, splits))?,
            // Its share of the attempt's listing; a listing that failed fails the
            // subtask for good (a restart would list the same input).
            (None, Some(listing)) => {
                let share = listing.share(ctx.subtask_index(), ctx.parallelism()).map_err(|failed| {
                    TaskError::Operator { operator: name.clone(), cause: Box::new(Unrecoverable::new(failed)) }
                })?;
                guard(&name, || source.restore_reader(ctx, share))?
            }
            (None, None) => guard(&name, || source.create_reader(ctx))?,
        };
        let uid = ctx.operator_uid().to_string();
        Ok(Box::new(SourceHead::new(name, uid, reader, chain, batch_size, metrics)))
    }
}

/// `error` with its chain of causes, as one line (the listing crosses processes as text).
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        next = cause.source();
    }
    text
}

/// Makes the chain node of a one-input operator.
pub(crate) trait OperatorFactory: Send + Sync {
    /// `output` is the operator's `Output<OUT>`; returns its `Box<dyn Downstream<IN>>`.
    fn create(&self, ctx: RuntimeContext, output: Box<dyn Any>) -> Result<Box<dyn Any>, TaskError>;
}

pub(crate) struct OperatorFactoryOf<IN, OUT, Op, F> {
    make: F,
    _types: PhantomData<fn(IN, OUT) -> Op>,
}

impl<IN, OUT, Op, F> OperatorFactoryOf<IN, OUT, Op, F>
where
    IN: 'static,
    OUT: 'static,
    Op: OneInputOperator<IN, OUT>,
    F: Fn() -> Op + Send + Sync + 'static,
{
    pub(crate) fn shared(make: F) -> Arc<dyn OperatorFactory> {
        Arc::new(OperatorFactoryOf { make, _types: PhantomData })
    }
}

impl<IN, OUT, Op, F> OperatorFactory for OperatorFactoryOf<IN, OUT, Op, F>
where
    IN: 'static,
    OUT: 'static,
    Op: OneInputOperator<IN, OUT>,
    F: Fn() -> Op + Send + Sync + 'static,
{
    fn create(&self, ctx: RuntimeContext, output: Box<dyn Any>) -> Result<Box<dyn Any>, TaskError> {
        let output = downcast::<Output<OUT>>(output, "an operator's output")?;
        let node = ChainedOperator::new((self.make)(), output, ctx);
        Ok(Box::new(Box::new(node) as Box<dyn Downstream<IN>>))
    }
}

/// Makes the head of a task whose first operator has two inputs.
pub(crate) trait TwoInputFactory: Send + Sync {
    /// `output` is the operator's `Output<OUT>`; the receivers are the channels of each
    /// input.
    fn head(
        &self,
        ctx: RuntimeContext,
        receivers: [Vec<AnyEnd>; 2],
        output: Box<dyn Any>,
        task_name: String,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError>;
}

pub(crate) struct TwoInputFactoryOf<IN1, IN2, OUT, Op, F> {
    make: F,
    _types: PhantomData<fn(IN1, IN2, OUT) -> Op>,
}

impl<IN1, IN2, OUT, Op, F> TwoInputFactoryOf<IN1, IN2, OUT, Op, F>
where
    IN1: Send + 'static,
    IN2: Send + 'static,
    OUT: 'static,
    Op: TwoInputOperator<IN1, IN2, OUT>,
    F: Fn() -> Op + Send + Sync + 'static,
{
    pub(crate) fn shared(make: F) -> Arc<dyn TwoInputFactory> {
        Arc::new(TwoInputFactoryOf { make, _types: PhantomData })
    }
}

fn receivers<T: 'static>(ends: Vec<AnyEnd>) -> Result<Vec<ChannelReceiver<T>>, TaskError> {
    ends.into_iter()
        .map(|end| {
            (end as Box<dyn Any>)
                .downcast::<ChannelReceiver<T>>()
                .map(|b| *b)
                .map_err(|_| TaskError::Internal("a channel has the wrong record type".into()))
        })
        .collect()
}

impl<IN1, IN2, OUT, Op, F> TwoInputFactory for TwoInputFactoryOf<IN1, IN2, OUT, Op, F>
where
    IN1: Send + 'static,
    IN2: Send + 'static,
    OUT: 'static,
    Op: TwoInputOperator<IN1, IN2, OUT>,
    F: Fn() -> Op + Send + Sync + 'static,
{
    fn head(
        &self,
        ctx: RuntimeContext,
        [first, second]: [Vec<AnyEnd>; 2],
        output: Box<dyn Any>,
        task_name: String,
        metrics: Arc<TaskMetrics>,
    ) -> Result<Box<dyn TaskHead>, TaskError> {
        let output = downcast::<Output<OUT>>(output, "an operator's output")?;
        let mode = ctx.task_info().checkpointing_mode;
        let gate1 = InputGate::new(receivers::<IN1>(first)?, task_name.clone()).with_mode(mode);
        let gate2 = InputGate::new(receivers::<IN2>(second)?, task_name).with_mode(mode);
        Ok(Box::new(TwoInputHead::new((self.make)(), output, ctx, gate1, gate2, metrics).with_mode(mode)))
    }
}

/// Makes the writer node of a sink.
pub(crate) trait SinkFactory: Send + Sync {
    /// Returns the sink's `Box<dyn Downstream<IN>>`.
    fn create(&self, ctx: RuntimeContext, metrics: Arc<TaskMetrics>) -> Box<dyn Any>;
}

pub(crate) struct SinkFactoryOf<T>(pub(crate) Arc<dyn Sink<T>>);

impl<T: 'static> SinkFactory for SinkFactoryOf<T> {
    fn create(&self, ctx: RuntimeContext, metrics: Arc<TaskMetrics>) -> Box<dyn Any> {
        Box::new(Box::new(SinkOperator::new(self.0.clone(), ctx, metrics)) as Box<dyn Downstream<T>>)
    }
}

/// Makes the key-based channel selector of an edge (hash or custom partitioning).
pub(crate) trait SelectorFactory: Send + Sync {
    /// Returns a `Box<dyn KeyedSelector<T>>` for a target with this many key groups.
    fn create(&self, target_max_parallelism: u32) -> Box<dyn Any>;
}

pub(crate) struct KeyGroupSelectorFactory<T, K>(pub(crate) KeySelector<T, K>);

impl<T: 'static, K: Key> SelectorFactory for KeyGroupSelectorFactory<T, K> {
    fn create(&self, target_max_parallelism: u32) -> Box<dyn Any> {
        let selector: Box<dyn KeyedSelector<T>> =
            Box::new(KeyGroupSelector::new(self.0.clone(), target_max_parallelism));
        Box::new(selector)
    }
}

pub(crate) struct CustomSelectorFactory<T, K> {
    pub(crate) key_selector: KeySelector<T, K>,
    pub(crate) partitioner: CustomPartitioner<K>,
}

impl<T: 'static, K: 'static> SelectorFactory for CustomSelectorFactory<T, K> {
    fn create(&self, _target_max_parallelism: u32) -> Box<dyn Any> {
        let selector: Box<dyn KeyedSelector<T>> =
            Box::new(CustomSelector::new(self.key_selector.clone(), self.partitioner.clone()));
        Box::new(selector)
    }
}

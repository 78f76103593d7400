//! A data generator: records computed from their index, bounded or not, optionally at
//! a limited rate (Flink's `DataGeneratorSource`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate_core::{BoxError, StreamRecord, codec};

use super::{Boundedness, Source, SourcePoll, SourceReader};
use crate::context::RuntimeContext;

/// Emits `f(j)` for `j = 0, 1, 2, ...` (up to `count` if given). Subtask `k` of `p`
/// emits `j = r·p + k` for `r = 0, 1, ...`, so the set of records does not depend on the
/// parallelism and all subtasks advance through the index space at the same pace.
pub struct GeneratorSource<T, F> {
    function: Arc<F>,
    count: Option<u64>,
    records_per_second: Option<f64>,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T, F: Fn(u64) -> T + Send + Sync + 'static> GeneratorSource<T, F> {
    /// A generator of `count` records (`None`: unbounded).
    pub fn new(function: F, count: Option<u64>) -> Self {
        GeneratorSource {
            function: Arc::new(function),
            count,
            records_per_second: None,
            _type: std::marker::PhantomData,
        }
    }

    /// Limits the total rate over all subtasks.
    pub fn with_rate(mut self, records_per_second: f64) -> Self {
        self.records_per_second = Some(records_per_second);
        self
    }
}

impl<T, F> Source<T> for GeneratorSource<T, F>
where
    T: Send + 'static,
    F: Fn(u64) -> T + Send + Sync + 'static,
{
    fn name(&self) -> String {
        "Data Generator".into()
    }

    fn boundedness(&self) -> Boundedness {
        if self.count.is_some() { Boundedness::Bounded } else { Boundedness::ContinuousUnbounded }
    }

    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        let rate = match self.records_per_second {
            Some(r) if !(r > 0.0 && r.is_finite()) => {
                return Err(
                    format!("the generator's rate must be a positive number of records per second, not {r}").into()
                );
            }
            Some(r) => Some(r / f64::from(ctx.parallelism())),
            None => None,
        };
        let split = Progression { next: u64::from(ctx.subtask_index()), stride: u64::from(ctx.parallelism()) };
        Ok(Box::new(GeneratorReader::new(self.function.clone(), self.count, rate, vec![split])))
    }

    fn restore_reader(
        &self,
        ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        let rate = self.records_per_second.map(|r| r / f64::from(ctx.parallelism()));
        let splits = splits.iter().map(|s| codec::decode(s)).collect::<Result<Vec<Progression>, _>>()?;
        Ok(Box::new(GeneratorReader::new(self.function.clone(), self.count, rate, splits)))
    }
}

/// Record indices `next, next + stride, ...`: the part of the generator one reader
/// emits (subtask `k` of `p` starts with `k, k + p, ...`). A restored reader may have
/// several, dealt out from the readers of the previous run.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Progression {
    next: u64,
    stride: u64,
}

struct GeneratorReader<F> {
    function: Arc<F>,
    count: Option<u64>,
    splits: VecDeque<Progression>,
    /// Records emitted since `started`, for the rate limit.
    emitted: u64,
    /// Records per second for this subtask.
    rate: Option<f64>,
    started: Instant,
}

impl<F> GeneratorReader<F> {
    fn new(function: Arc<F>, count: Option<u64>, rate: Option<f64>, splits: Vec<Progression>) -> Self {
        let splits = splits.into_iter().filter(|s| count.is_none_or(|c| s.next < c)).collect();
        GeneratorReader { function, count, splits, emitted: 0, rate, started: Instant::now() }
    }
}

impl<T, F: Fn(u64) -> T> SourceReader<T> for GeneratorReader<F> {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<T>>, max: usize) -> Result<SourcePoll, BoxError> {
        let mut budget = max as u64;
        if let Some(rate) = self.rate {
            let elapsed = self.started.elapsed().as_secs_f64();
            let allowed = (elapsed * rate).floor() as u64 + 1;
            if self.emitted >= allowed {
                let due = self.emitted as f64 / rate;
                return Ok(SourcePoll::Idle(Duration::from_secs_f64((due - elapsed).max(0.0))));
            }
            budget = budget.min(allowed - self.emitted);
        }
        while budget > 0 {
            let Some(split) = self.splits.front_mut() else { return Ok(SourcePoll::Finished) };
            let j = split.next;
            if self.count.is_some_and(|count| j >= count) {
                self.splits.pop_front();
                continue;
            }
            batch.push(StreamRecord::new((self.function)(j)));
            split.next += split.stride.max(1);
            self.emitted += 1;
            budget -= 1;
        }
        let more = self.splits.iter().any(|s| self.count.is_none_or(|c| s.next < c));
        Ok(if more { SourcePoll::More } else { SourcePoll::Finished })
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(self.splits.iter().map(codec::encode).collect::<Result<_, _>>()?)
    }
}

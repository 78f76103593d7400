//! A data generator: records computed from their index, bounded or not, optionally at
//! a limited rate (Flink's `DataGeneratorSource`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use spate_core::{BoxError, StreamRecord};

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
        Ok(Box::new(GeneratorReader {
            function: self.function.clone(),
            count: self.count,
            round: 0,
            subtask: u64::from(ctx.subtask_index()),
            parallelism: u64::from(ctx.parallelism()),
            rate,
            started: Instant::now(),
        }))
    }
}

struct GeneratorReader<F> {
    function: Arc<F>,
    count: Option<u64>,
    /// `r`: how many records this subtask has emitted.
    round: u64,
    subtask: u64,
    parallelism: u64,
    /// Records per second for this subtask.
    rate: Option<f64>,
    started: Instant,
}

impl<T, F: Fn(u64) -> T> SourceReader<T> for GeneratorReader<F> {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<T>>, max: usize) -> Result<SourcePoll, BoxError> {
        let mut budget = max as u64;
        if let Some(rate) = self.rate {
            let elapsed = self.started.elapsed().as_secs_f64();
            let allowed = (elapsed * rate).floor() as u64 + 1;
            if self.round >= allowed {
                let due = self.round as f64 / rate;
                return Ok(SourcePoll::Idle(Duration::from_secs_f64((due - elapsed).max(0.0))));
            }
            budget = budget.min(allowed - self.round);
        }
        for _ in 0..budget {
            let j = self.round * self.parallelism + self.subtask;
            if self.count.is_some_and(|count| j >= count) {
                return Ok(SourcePoll::Finished);
            }
            batch.push(StreamRecord::new((self.function)(j)));
            self.round += 1;
        }
        let next = self.round * self.parallelism + self.subtask;
        Ok(if self.count.is_some_and(|count| next >= count) { SourcePoll::Finished } else { SourcePoll::More })
    }
}

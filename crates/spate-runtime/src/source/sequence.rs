//! `from_sequence`: a range of numbers.

use std::collections::VecDeque;
use std::ops::Range;

use spate_core::{BoxError, StreamRecord, codec};

use super::{Boundedness, Source, SourcePoll, SourceReader};
use crate::context::RuntimeContext;

/// Emits the numbers of a range; each subtask emits one contiguous part of it, in order.
#[derive(Clone, Debug)]
pub struct SequenceSource {
    range: Range<i64>,
}

impl SequenceSource {
    /// A source over `range` (end exclusive).
    pub fn new(range: Range<i64>) -> Self {
        SequenceSource { range }
    }

    /// The part of the range subtask `index` of `parallelism` emits.
    pub fn part(&self, index: u32, parallelism: u32) -> Range<i64> {
        let (start, len) =
            (i128::from(self.range.start), (i128::from(self.range.end) - i128::from(self.range.start)).max(0));
        let from = start + len * i128::from(index) / i128::from(parallelism);
        let to = start + len * (i128::from(index) + 1) / i128::from(parallelism);
        from as i64..to as i64
    }
}

impl Source<i64> for SequenceSource {
    fn name(&self) -> String {
        "Sequence Source".into()
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<i64>>, BoxError> {
        Ok(Box::new(SequenceReader { remaining: vec![self.part(ctx.subtask_index(), ctx.parallelism())].into() }))
    }

    fn restore_reader(
        &self,
        _ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<i64>>, BoxError> {
        let remaining = splits
            .iter()
            .map(|s| codec::decode::<(i64, i64)>(s).map(|(from, to)| from..to))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(SequenceReader { remaining }))
    }
}

/// What is left of the ranges this reader emits.
struct SequenceReader {
    remaining: VecDeque<Range<i64>>,
}

impl SourceReader<i64> for SequenceReader {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<i64>>, max: usize) -> Result<SourcePoll, BoxError> {
        while batch.len() < max {
            let Some(range) = self.remaining.front_mut() else { break };
            let room = max - batch.len();
            batch.extend(range.by_ref().take(room).map(StreamRecord::new));
            if range.is_empty() {
                self.remaining.pop_front();
            }
        }
        Ok(if self.remaining.is_empty() { SourcePoll::Finished } else { SourcePoll::More })
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(self.remaining.iter().map(|r| codec::encode(&(r.start, r.end))).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_range_once() {
        for p in 1..7u32 {
            let s = SequenceSource::new(-5..100);
            let all: Vec<i64> = (0..p).flat_map(|i| s.part(i, p)).collect();
            assert_eq!(all, (-5..100).collect::<Vec<_>>());
        }
        let (start, end) = (5, 2);
        assert!(SequenceSource::new(start..end).part(0, 1).is_empty());
    }
}

//! `from_iter`: records from a collection held in memory.

use std::collections::VecDeque;
use std::sync::Arc;

use spate_core::{BoxError, StreamRecord, codec};

use super::{Boundedness, Source, SourcePoll, SourceReader};
use crate::context::RuntimeContext;

/// Emits the elements of a collection, in order. With more than one subtask, subtask
/// `k` emits the elements at positions `k, k + p, k + 2p, ...`.
pub struct CollectionSource<T> {
    items: Arc<Vec<T>>,
}

impl<T> CollectionSource<T> {
    /// A source over `items`.
    pub fn new(items: Vec<T>) -> Self {
        CollectionSource { items: Arc::new(items) }
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for CollectionSource<T> {
    fn name(&self) -> String {
        "Collection Source".into()
    }

    fn boundedness(&self) -> Boundedness {
        Boundedness::Bounded
    }

    fn create_reader(&self, ctx: &mut RuntimeContext) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        let split = (ctx.subtask_index() as u64, ctx.parallelism() as u64);
        Ok(Box::new(CollectionReader { items: self.items.clone(), splits: vec![split].into() }))
    }

    fn restore_reader(
        &self,
        _ctx: &mut RuntimeContext,
        splits: Vec<Vec<u8>>,
    ) -> Result<Box<dyn SourceReader<T>>, BoxError> {
        let splits = splits.iter().map(|s| codec::decode(s)).collect::<Result<_, _>>()?;
        Ok(Box::new(CollectionReader { items: self.items.clone(), splits }))
    }
}

/// Reads indices `next, next + step, ...` of the collection, split by split.
struct CollectionReader<T> {
    items: Arc<Vec<T>>,
    /// (next index, step) per split.
    splits: VecDeque<(u64, u64)>,
}

impl<T: Clone> SourceReader<T> for CollectionReader<T> {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<T>>, max: usize) -> Result<SourcePoll, BoxError> {
        while batch.len() < max {
            let Some((next, step)) = self.splits.front_mut() else { return Ok(SourcePoll::Finished) };
            match self.items.get(*next as usize) {
                Some(item) => {
                    batch.push(StreamRecord::new(item.clone()));
                    *next += (*step).max(1);
                }
                None => {
                    self.splits.pop_front();
                }
            }
        }
        let more = self.splits.iter().any(|(next, _)| (*next as usize) < self.items.len());
        Ok(if more { SourcePoll::More } else { SourcePoll::Finished })
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>, BoxError> {
        Ok(self.splits.iter().map(codec::encode).collect::<Result<_, _>>()?)
    }
}

//! `from_iter`: records from a collection held in memory.

use std::sync::Arc;

use spate_core::{BoxError, StreamRecord};

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
        Ok(Box::new(CollectionReader {
            items: self.items.clone(),
            next: ctx.subtask_index() as usize,
            step: ctx.parallelism() as usize,
        }))
    }
}

struct CollectionReader<T> {
    items: Arc<Vec<T>>,
    next: usize,
    step: usize,
}

impl<T: Clone> SourceReader<T> for CollectionReader<T> {
    fn poll_next(&mut self, batch: &mut Vec<StreamRecord<T>>, max: usize) -> Result<SourcePoll, BoxError> {
        for _ in 0..max {
            match self.items.get(self.next) {
                Some(item) => batch.push(StreamRecord::new(item.clone())),
                None => return Ok(SourcePoll::Finished),
            }
            self.next += self.step;
        }
        Ok(if self.next < self.items.len() { SourcePoll::More } else { SourcePoll::Finished })
    }
}

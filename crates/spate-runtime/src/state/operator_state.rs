//! Operator state: lists kept per subtask rather than per key (Flink's operator list
//! state and union list state), for functions such as buffering sinks or sources that
//! remember offsets. How the lists are split on rescaling (evenly, or the union of all
//! to every subtask) comes with checkpoints.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

use super::StateError;

/// How an operator list is redistributed when the parallelism changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redistribution {
    /// The elements of all subtasks are split evenly over the new subtasks.
    EvenSplit,
    /// Every new subtask gets the elements of all old subtasks.
    Union,
}

pub(crate) struct OperatorList {
    pub name: String,
    pub mode: Redistribution,
    pub type_id: TypeId,
    /// A `Vec<T>`.
    pub elements: Rc<RefCell<dyn Any>>,
}

/// The operator state of one operator instance.
#[derive(Default)]
pub struct OperatorStore {
    pub(crate) lists: RefCell<Vec<OperatorList>>,
}

impl OperatorStore {
    /// Registers a list, or returns the one already registered under `name`.
    pub(crate) fn register<T: 'static>(&self, name: &str, mode: Redistribution) -> Result<u32, StateError> {
        let mut lists = self.lists.borrow_mut();
        if let Some((i, existing)) = lists.iter().enumerate().find(|(_, l)| l.name == name) {
            if existing.mode != mode || existing.type_id != TypeId::of::<T>() {
                return Err(StateError::Incompatible(Box::new(name.to_string())));
            }
            return Ok(i as u32);
        }
        lists.push(OperatorList {
            name: name.to_string(),
            mode,
            type_id: TypeId::of::<T>(),
            elements: Rc::new(RefCell::new(Vec::<T>::new())),
        });
        Ok((lists.len() - 1) as u32)
    }

    /// Runs `f` on list `index`.
    pub(crate) fn with_list<T: 'static, R>(
        &self,
        index: u32,
        f: impl FnOnce(&mut Vec<T>) -> R,
    ) -> Result<R, StateError> {
        let list =
            self.lists.borrow().get(index as usize).map(|l| l.elements.clone()).ok_or(StateError::NotRegistered)?;
        let mut list = list.try_borrow_mut().map_err(|_| StateError::Reentrant)?;
        let list = list.downcast_mut::<Vec<T>>().ok_or(StateError::NotRegistered)?;
        Ok(f(list))
    }
}

//! Operator state: lists kept per subtask rather than per key (Flink's operator list
//! state and union list state), for functions such as buffering sinks or sources that
//! remember offsets. On restore with another parallelism, even-split lists are dealt
//! out over the new subtasks and union lists are given whole to each.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use spate_core::{StateValue, codec};

use super::StateError;

/// An operator list as a checkpoint holds it: name, redistribution, encoded elements.
pub(crate) type EncodedList = (String, Redistribution, Vec<Vec<u8>>);
/// How an operator list is redistributed when the parallelism changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redistribution {
    /// The elements of all subtasks are split evenly over the new subtasks.
    EvenSplit,
    /// Every new subtask gets the elements of all old subtasks.
    Union,
}

/// Encodes the elements of a type-erased `Vec<T>`.
type EncodeList = fn(&dyn Any) -> Result<Vec<Vec<u8>>, StateError>;

pub(crate) struct OperatorList {
    pub name: String,
    pub mode: Redistribution,
    pub type_id: TypeId,
    /// A `Vec<T>`.
    pub elements: Rc<RefCell<dyn Any>>,
    encode: EncodeList,
}

/// Encodes a list element by element, decoding each back to be sure it restores
/// (operator lists are small: source positions, pending transactions).
fn encode_list<T: StateValue>(list: &dyn Any) -> Result<Vec<Vec<u8>>, StateError> {
    let list = list.downcast_ref::<Vec<T>>().ok_or(StateError::NotRegistered)?;
    list.iter()
        .map(|e| {
            let bytes = codec::encode(e)?;
            codec::verify::<T>(&bytes)?;
            Ok(bytes)
        })
        .collect()
}

/// The operator state of one operator instance.
#[derive(Default)]
pub struct OperatorStore {
    pub(crate) lists: RefCell<Vec<OperatorList>>,
    /// Restored elements of lists not registered yet, by name.
    restored: RefCell<BTreeMap<String, Vec<Vec<u8>>>>,
}

impl OperatorStore {
    /// Sets the restored lists aside until they are registered.
    pub(crate) fn set_restored(&self, lists: &BTreeMap<String, Vec<Vec<u8>>>) {
        *self.restored.borrow_mut() = lists.clone();
    }

    /// Every list with its encoded elements, for a snapshot (restored lists that were
    /// not registered again included).
    pub(crate) fn snapshot(&self) -> Result<Vec<EncodedList>, StateError> {
        let mut out = Vec::new();
        for list in self.lists.borrow().iter() {
            let elements = list.elements.try_borrow().map_err(|_| StateError::Reentrant)?;
            out.push((list.name.clone(), list.mode, (list.encode)(&*elements)?));
        }
        for (name, elements) in self.restored.borrow().iter() {
            out.push((name.clone(), Redistribution::EvenSplit, elements.clone()));
        }
        Ok(out)
    }

    /// Registers a list, or returns the one already registered under `name`.
    pub(crate) fn register<T: StateValue>(&self, name: &str, mode: Redistribution) -> Result<u32, StateError> {
        let mut lists = self.lists.borrow_mut();
        if let Some((i, existing)) = lists.iter().enumerate().find(|(_, l)| l.name == name) {
            if existing.mode != mode || existing.type_id != TypeId::of::<T>() {
                return Err(StateError::Incompatible(Box::new(name.to_string())));
            }
            return Ok(i as u32);
        }
        let mut initial = Vec::<T>::new();
        if let Some(restored) = self.restored.borrow_mut().remove(name) {
            for bytes in restored {
                initial.push(
                    codec::decode(&bytes)
                        .map_err(|e| StateError::Restore(Box::new(format!("operator list '{name}': {e}"))))?,
                );
            }
        }
        lists.push(OperatorList {
            name: name.to_string(),
            mode,
            type_id: TypeId::of::<T>(),
            elements: Rc::new(RefCell::new(initial)),
            encode: encode_list::<T>,
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

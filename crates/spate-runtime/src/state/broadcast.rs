//! Broadcast state: maps every subtask of an operator holds the same copy of, written
//! only from the broadcast input (Flink's `BroadcastState`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;

use spate_core::{CoreError, StateValue, codec};

use super::StateError;
use super::descriptor::MapStateDescriptor;

/// Encodes one type-erased map for a checkpoint.
type EncodeMap = fn(&dyn Any) -> Result<Vec<u8>, CoreError>;

/// The broadcast states an operator declared (by descriptor name).
#[derive(Default)]
pub struct BroadcastStates {
    maps: Vec<(String, TypeId, Box<dyn Any>, EncodeMap)>,
    /// Restored maps by name, decoded when declared.
    restored: HashMap<String, Vec<u8>>,
    /// Restored maps that could not be decoded.
    failures: Vec<String>,
}

/// The operator-state list under which broadcast state `name` is checkpointed.
pub fn broadcast_list_name(name: &str) -> String {
    format!("broadcast/{name}")
}

/// Encodes a broadcast map, and decodes it back to be sure it restores.
fn encode_map<K: Eq + Hash + StateValue, V: StateValue>(map: &dyn Any) -> Result<Vec<u8>, CoreError> {
    let map = map.downcast_ref::<HashMap<K, V>>().ok_or_else(|| CoreError::Encode {
        type_name: std::any::type_name::<(K, V)>(),
        reason: "the broadcast state holds another type".into(),
    })?;
    let entries: Vec<(&K, &V)> = map.iter().collect();
    let bytes = codec::encode(&entries)?;
    codec::verify::<Vec<(K, V)>>(&bytes)?;
    Ok(bytes)
}

impl BroadcastStates {
    /// Declares the broadcast state of `descriptor` (with its restored contents, if the
    /// job was restored).
    pub fn declare<K: Eq + Hash + StateValue, V: StateValue>(&mut self, descriptor: &MapStateDescriptor<K, V>) {
        if self.maps.iter().any(|(name, _, _, _)| name == descriptor.name()) {
            return;
        }
        let mut map = HashMap::<K, V>::new();
        if let Some(bytes) = self.restored.remove(descriptor.name()) {
            match codec::decode::<Vec<(K, V)>>(&bytes) {
                Ok(entries) => map.extend(entries),
                Err(e) => {
                    self.failures.push(format!("broadcast state '{}' cannot be restored: {e}", descriptor.name()))
                }
            }
        }
        self.maps.push((descriptor.name().to_string(), TypeId::of::<(K, V)>(), Box::new(map), encode_map::<K, V>));
    }

    /// Gives the states their contents from a checkpoint (before they are declared):
    /// one copy per state, from the operator's union lists.
    pub fn set_restored(&mut self, restored: &crate::checkpoint::RestoredState) {
        for (list, elements) in &restored.lists {
            if let (Some(name), Some(first)) = (list.strip_prefix("broadcast/"), elements.first()) {
                self.restored.insert(name.to_string(), first.clone());
            }
        }
    }

    /// Fails if a restored state could not be read.
    pub fn check_restored(&mut self) -> Result<(), StateError> {
        match self.failures.pop() {
            Some(reason) => Err(StateError::Restore(Box::new(reason))),
            None => Ok(()),
        }
    }

    /// Every state, encoded, as (list name, one element).
    pub fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        self.maps.iter().map(|(name, _, map, encode)| Ok((broadcast_list_name(name), encode(map.as_ref())?))).collect()
    }

    fn find<K: 'static, V: 'static>(&self, descriptor: &MapStateDescriptor<K, V>) -> Result<usize, StateError> {
        let name = descriptor.name();
        let (i, (_, type_id, _, _)) = self
            .maps
            .iter()
            .enumerate()
            .find(|(_, (n, _, _, _))| n == name)
            .ok_or_else(|| StateError::UndeclaredBroadcastState(Box::new(name.to_string())))?;
        if *type_id != TypeId::of::<(K, V)>() {
            return Err(StateError::Incompatible(Box::new(name.to_string())));
        }
        Ok(i)
    }

    /// Read access.
    pub fn read<K: Eq + Hash + 'static, V: 'static>(
        &self,
        descriptor: &MapStateDescriptor<K, V>,
    ) -> Result<ReadOnlyBroadcastState<'_, K, V>, StateError> {
        let i = self.find(descriptor)?;
        let map = self.maps[i].2.downcast_ref::<HashMap<K, V>>().ok_or(StateError::NotRegistered)?;
        Ok(ReadOnlyBroadcastState { map })
    }

    /// Read-write access.
    pub fn write<K: Eq + Hash + 'static, V: 'static>(
        &mut self,
        descriptor: &MapStateDescriptor<K, V>,
    ) -> Result<BroadcastState<'_, K, V>, StateError> {
        let i = self.find(descriptor)?;
        let map = self.maps[i].2.downcast_mut::<HashMap<K, V>>().ok_or(StateError::NotRegistered)?;
        Ok(BroadcastState { map })
    }
}

/// Broadcast state as the broadcast input sees it: readable and writable.
pub struct BroadcastState<'a, K, V> {
    map: &'a mut HashMap<K, V>,
}

impl<K: Eq + Hash, V> BroadcastState<'_, K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }
    /// Sets the value of `key`.
    pub fn put(&mut self, key: K, value: V) {
        self.map.insert(key, value);
    }
    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key)
    }
    /// Whether `key` has a value.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }
    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Removes every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// Broadcast state as the other input sees it: read-only, because a write from one
/// subtask's record would make the subtasks' copies differ.
pub struct ReadOnlyBroadcastState<'a, K, V> {
    map: &'a HashMap<K, V>,
}

impl<K: Eq + Hash, V> ReadOnlyBroadcastState<'_, K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }
    /// Whether `key` has a value.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }
    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

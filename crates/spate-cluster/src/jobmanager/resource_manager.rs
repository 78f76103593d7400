//! The TaskManagers of the cluster and their slots, and when each was last heard of.
//!
//! Sans-IO: time is passed in, so liveness is tested without waiting. A TaskManager is
//! lost when its heartbeats stop for `heartbeat.timeout`, or at once when the
//! connection it registered on closes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use spate_core::config::cluster::LoadBalanceMode;

use crate::rpc::{Hardware, Refusal, Registration};
use crate::version::VERSION;

/// A registered TaskManager.
#[derive(Clone, Debug)]
pub struct TaskManagerEntry {
    /// What it registered with.
    pub registration: Registration,
    /// When it was last heard of.
    pub last_heartbeat: Instant,
    /// Its latest view of its machine.
    pub hardware: Hardware,
    /// Which connection it registered on (a later registration on another wins).
    pub connection: u64,
    /// Slots given to jobs, by job.
    pub allocations: BTreeMap<String, u32>,
}

impl TaskManagerEntry {
    /// Slots given to jobs.
    pub fn used_slots(&self) -> u32 {
        self.allocations.values().sum()
    }

    /// Slots not given to a job.
    pub fn free_slots(&self) -> u32 {
        self.registration.slots.saturating_sub(self.used_slots())
    }
}

/// A job asked for more slots than are free.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("needs {needed} slots, {free} free (on {taskmanagers} TaskManagers)")]
pub struct NotEnoughSlots {
    /// Slots asked for.
    pub needed: u32,
    /// Slots free.
    pub free: u64,
    /// TaskManagers registered.
    pub taskmanagers: usize,
}

/// Why a TaskManager left the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// No heartbeat for this long.
    HeartbeatTimeout(Duration),
    /// Its connection closed.
    ConnectionClosed,
}

impl std::fmt::Display for LossReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LossReason::HeartbeatTimeout(t) => write!(f, "no heartbeat for {} ms (heartbeat.timeout)", t.as_millis()),
            LossReason::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

/// The registry.
#[derive(Debug)]
pub struct ResourceManager {
    taskmanagers: BTreeMap<String, TaskManagerEntry>,
    heartbeat_timeout: Duration,
    token: Option<String>,
}

impl ResourceManager {
    /// A registry declaring TaskManagers lost after `heartbeat_timeout`, requiring
    /// `token` from each, if set.
    pub fn new(heartbeat_timeout: Duration, token: Option<String>) -> Self {
        ResourceManager { taskmanagers: BTreeMap::new(), heartbeat_timeout, token }
    }

    /// Registers (or re-registers) a TaskManager that called on `connection`.
    pub fn register(&mut self, registration: Registration, connection: u64, now: Instant) -> Result<(), Refusal> {
        if !crate::jobmanager::token_accepted(&self.token, &registration.token) {
            return Err(Refusal::Unauthorized);
        }
        if registration.version != VERSION {
            return Err(Refusal::Version { theirs: registration.version, ours: VERSION.into() });
        }
        let hardware = registration.hardware.clone();
        let id = registration.id.clone();
        let known = self.taskmanagers.contains_key(&id);
        tracing::info!(
            taskmanager = %id, slots = registration.slots, again = known,
            "registering TaskManager {} at {}", id, registration.host
        );
        // A TaskManager that registers again keeps the slots its jobs hold.
        let allocations = self.taskmanagers.get(&id).map(|e| e.allocations.clone()).unwrap_or_default();
        let entry = TaskManagerEntry { registration, last_heartbeat: now, hardware, connection, allocations };
        self.taskmanagers.insert(id, entry);
        Ok(())
    }

    /// A heartbeat from TaskManager `id` on `connection`: only the connection it
    /// registered on may keep it alive (its id is public, on `/taskmanagers`).
    pub fn heartbeat(&mut self, id: &str, connection: u64, hardware: Hardware, now: Instant) -> Result<(), Refusal> {
        let entry = self
            .taskmanagers
            .get_mut(id)
            .filter(|e| e.connection == connection)
            .ok_or_else(|| Refusal::UnknownTaskManager(id.to_string()))?;
        entry.last_heartbeat = now;
        entry.hardware = hardware;
        Ok(())
    }

    /// `connection` closed: the TaskManager registered on it is lost.
    pub fn connection_closed(&mut self, connection: u64) -> Option<(TaskManagerEntry, LossReason)> {
        let id = self.taskmanagers.iter().find(|(_, e)| e.connection == connection).map(|(id, _)| id.clone())?;
        let entry = self.taskmanagers.remove(&id)?;
        Some((entry, LossReason::ConnectionClosed))
    }

    /// Removes the TaskManagers not heard of for `heartbeat.timeout` at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(TaskManagerEntry, LossReason)> {
        let timeout = self.heartbeat_timeout;
        let expired: Vec<String> = self
            .taskmanagers
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_heartbeat) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.taskmanagers.remove(&id))
            .map(|e| (e, LossReason::HeartbeatTimeout(timeout)))
            .collect()
    }

    /// The registered TaskManagers, by id.
    pub fn taskmanagers(&self) -> impl Iterator<Item = &TaskManagerEntry> {
        self.taskmanagers.values()
    }

    /// TaskManager `id`.
    pub fn get(&self, id: &str) -> Option<&TaskManagerEntry> {
        self.taskmanagers.get(id)
    }

    /// Slots of every TaskManager.
    pub fn total_slots(&self) -> u64 {
        self.taskmanagers.values().map(|e| u64::from(e.registration.slots)).sum()
    }

    /// Slots not given to a job.
    pub fn free_slots(&self) -> u64 {
        self.taskmanagers.values().map(|e| u64::from(e.free_slots())).sum()
    }

    /// Gives `job` `slots` slots, placed by `mode`: packed onto as few TaskManagers as
    /// possible (`None`, Flink's default), or spread evenly (`Slots`, `Tasks`: with one
    /// slot-sharing group a slot holds one subtask of each vertex, so both spread the
    /// same). Returns how many slots each TaskManager gave, by id; nothing is taken
    /// when not enough are free.
    pub fn allocate(
        &mut self,
        job: &str,
        slots: u32,
        mode: LoadBalanceMode,
    ) -> Result<Vec<(String, u32)>, NotEnoughSlots> {
        let free = self.free_slots();
        if u64::from(slots) > free {
            return Err(NotEnoughSlots { needed: slots, free, taskmanagers: self.taskmanagers.len() });
        }
        let mut taken: BTreeMap<String, u32> = BTreeMap::new();
        let mut left: BTreeMap<&str, u32> =
            self.taskmanagers.iter().map(|(id, e)| (id.as_str(), e.free_slots())).collect();
        for _ in 0..slots {
            // Packed: the TaskManager with the fewest free slots that still has one
            // (fills the fullest first); spread: the one with the most.
            let candidates = left.iter().filter(|(_, n)| **n > 0);
            let pick = match mode {
                LoadBalanceMode::None => candidates.min_by_key(|(id, n)| (**n, *id)).map(|(id, _)| *id),
                LoadBalanceMode::Slots | LoadBalanceMode::Tasks => {
                    candidates.max_by_key(|(id, n)| (**n, std::cmp::Reverse(*id))).map(|(id, _)| *id)
                }
            };
            let Some(id) = pick else { break };
            *left.get_mut(id).expect("picked from the map") -= 1;
            *taken.entry(id.to_string()).or_default() += 1;
        }
        for (id, n) in &taken {
            if let Some(entry) = self.taskmanagers.get_mut(id) {
                *entry.allocations.entry(job.to_string()).or_default() += n;
            }
        }
        Ok(taken.into_iter().collect())
    }

    /// `job` ended: its slots are free again.
    pub fn release(&mut self, job: &str) {
        for entry in self.taskmanagers.values_mut() {
            entry.allocations.remove(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(id: &str, token: Option<&str>) -> Registration {
        Registration {
            id: id.into(),
            host: "127.0.0.1".into(),
            rpc_address: "127.0.0.1:1".into(),
            slots: 2,
            hardware: Hardware::default(),
            version: VERSION.into(),
            token: token.map(str::to_string),
        }
    }

    #[test]
    fn taskmanagers_are_lost_after_the_heartbeat_timeout_or_when_their_connection_closes() {
        let t0 = Instant::now();
        let mut rm = ResourceManager::new(Duration::from_secs(50), None);
        rm.register(registration("a", None), 1, t0).unwrap();
        rm.register(registration("b", None), 2, t0).unwrap();
        assert_eq!((rm.total_slots(), rm.free_slots()), (4, 4));
        rm.heartbeat("a", 1, Hardware::default(), t0 + Duration::from_secs(30)).unwrap();
        // Another connection cannot keep it alive.
        let spoofed = rm.heartbeat("b", 1, Hardware::default(), t0 + Duration::from_secs(30));
        assert_eq!(spoofed, Err(Refusal::UnknownTaskManager("b".into())));
        assert!(rm.expire(t0 + Duration::from_secs(49)).is_empty());
        let lost = rm.expire(t0 + Duration::from_secs(50));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0.registration.id, "b");
        assert_eq!(lost[0].1, LossReason::HeartbeatTimeout(Duration::from_secs(50)));
        assert_eq!(rm.heartbeat("b", 2, Hardware::default(), t0), Err(Refusal::UnknownTaskManager("b".into())));
        let (entry, reason) = rm.connection_closed(1).unwrap();
        assert_eq!((entry.registration.id.as_str(), reason), ("a", LossReason::ConnectionClosed));
        assert!(rm.connection_closed(1).is_none());
        assert_eq!(rm.total_slots(), 0);
    }

    #[test]
    fn slots_are_packed_or_spread_by_the_load_balance_mode_and_never_overbooked() {
        let now = Instant::now();
        let mut rm = ResourceManager::new(Duration::from_secs(50), None);
        for id in ["a", "b", "c"] {
            rm.register(registration(id, None), 1, now).unwrap();
        }
        // Packed: one TaskManager filled first.
        assert_eq!(rm.allocate("j1", 2, LoadBalanceMode::None).unwrap(), [("a".to_string(), 2)]);
        // It then fills the fullest TaskManager that still has room.
        assert_eq!(rm.allocate("j2", 1, LoadBalanceMode::None).unwrap(), [("b".to_string(), 1)]);
        assert_eq!(rm.free_slots(), 3);
        let refused = rm.allocate("j3", 4, LoadBalanceMode::None).unwrap_err();
        assert_eq!(refused.to_string(), "needs 4 slots, 3 free (on 3 TaskManagers)");
        assert_eq!(rm.free_slots(), 3, "a refused request takes nothing");
        rm.release("j1");
        rm.release("j2");
        // Spread: one slot per TaskManager before a second on any.
        let spread = rm.allocate("j4", 3, LoadBalanceMode::Slots).unwrap();
        assert_eq!(spread, [("a".to_string(), 1), ("b".to_string(), 1), ("c".to_string(), 1)]);
        assert_eq!(rm.get("a").unwrap().free_slots(), 1);
        assert_eq!(rm.allocate("j5", 3, LoadBalanceMode::Tasks).unwrap().iter().map(|(_, n)| n).sum::<u32>(), 3);
        assert_eq!(rm.free_slots(), 0);
    }

    #[test]
    fn a_registration_needs_the_token_and_the_same_version() {
        let mut rm = ResourceManager::new(Duration::from_secs(50), Some("s3cret".into()));
        let now = Instant::now();
        assert_eq!(rm.register(registration("a", None), 1, now), Err(Refusal::Unauthorized));
        assert_eq!(rm.register(registration("a", Some("wrong")), 1, now), Err(Refusal::Unauthorized));
        let mut old = registration("a", Some("s3cret"));
        old.version = "0.0.1".into();
        assert!(matches!(rm.register(old, 1, now), Err(Refusal::Version { .. })));
        rm.register(registration("a", Some("s3cret")), 1, now).unwrap();
        // Registered again on a new connection: the old connection's close loses nothing.
        rm.register(registration("a", Some("s3cret")), 7, now).unwrap();
        assert!(rm.connection_closed(1).is_none());
        assert_eq!(rm.taskmanagers().count(), 1);
    }
}

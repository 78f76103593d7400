//! The TaskManagers of the cluster and their slots, and when each was last heard of.
//!
//! Sans-IO: time is passed in, so liveness is tested without waiting. A TaskManager is
//! lost when its heartbeats stop for `heartbeat.timeout`, or at once when the
//! connection it registered on closes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
    /// Slots given to jobs.
    pub used_slots: u32,
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
        if self.token.is_some() && registration.token != self.token {
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
        let entry = TaskManagerEntry { registration, last_heartbeat: now, hardware, connection, used_slots: 0 };
        self.taskmanagers.insert(id, entry);
        Ok(())
    }

    /// A heartbeat from TaskManager `id`.
    pub fn heartbeat(&mut self, id: &str, hardware: Hardware, now: Instant) -> Result<(), Refusal> {
        let entry = self.taskmanagers.get_mut(id).ok_or_else(|| Refusal::UnknownTaskManager(id.to_string()))?;
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
    pub fn total_slots(&self) -> u32 {
        self.taskmanagers.values().map(|e| e.registration.slots).sum()
    }

    /// Slots not given to a job.
    pub fn free_slots(&self) -> u32 {
        self.taskmanagers.values().map(|e| e.registration.slots.saturating_sub(e.used_slots)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(id: &str, token: Option<&str>) -> Registration {
        Registration {
            id: id.into(),
            host: "127.0.0.1".into(),
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
        rm.heartbeat("a", Hardware::default(), t0 + Duration::from_secs(30)).unwrap();
        assert!(rm.expire(t0 + Duration::from_secs(49)).is_empty());
        let lost = rm.expire(t0 + Duration::from_secs(50));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].0.registration.id, "b");
        assert_eq!(lost[0].1, LossReason::HeartbeatTimeout(Duration::from_secs(50)));
        assert_eq!(rm.heartbeat("b", Hardware::default(), t0), Err(Refusal::UnknownTaskManager("b".into())));
        let (entry, reason) = rm.connection_closed(1).unwrap();
        assert_eq!((entry.registration.id.as_str(), reason), ("a", LossReason::ConnectionClosed));
        assert!(rm.connection_closed(1).is_none());
        assert_eq!(rm.total_slots(), 0);
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

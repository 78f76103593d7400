//! State: keyed state per key, operator state per subtask, and their storage on the heap.
//!
//! Keyed state lives in per-key-group structures so that every later step works on
//! whole key groups: a snapshot writes each key group on its own, and a rescale hands
//! key groups to their new owners.
//!
//! The path of a state access: a user function holds a handle ([`ValueState`], ...)
//! from `open`; calling it resolves the handle in the current [`StateScope`] (entered by
//! the runtime around every call into the operator), finds the current key's slot (set
//! by the keyed operator per record, from its [`KeyDirectory`]), and reads or writes the
//! slot in the state's cells.

mod broadcast;
mod cells;
mod descriptor;
mod directory;
mod handles;
mod key_group_table;
mod keyed_backend;
mod keyed_state_store;
mod lookahead;
mod operator_state;
mod prefetch;
mod store;
mod table_snapshot;
mod ttl;

pub use broadcast::{BroadcastState, BroadcastStates, ReadOnlyBroadcastState};
pub use descriptor::{
    AggregateFactory, AggregatingStateDescriptor, KeyedStateDescriptor, ListStateDescriptor, MapStateDescriptor,
    ReducingStateDescriptor, StateReduceFunction, ValueStateDescriptor,
};
pub use directory::KeyDirectory;
pub use handles::{AggregatingState, ListState, MapState, ReducingState, ValueState};
pub use key_group_table::{Found, KeyGroupTable, Lookup, Missing};
pub use keyed_backend::KeyedBackend;
pub use keyed_state_store::KeyedStateStore;
pub use lookahead::{KeyedLookahead, PREFETCH_DISTANCE, Placed, Warm, key_of};
pub use operator_state::{OperatorStore, Redistribution};
pub use store::{KeyedStore, ScopeGuard, StateScope};
pub(crate) use table_snapshot::check_group;
pub use ttl::{IncrementalCleanup, StateTtlConfig, StateVisibility, TtlUpdateType};

pub(crate) use cells::{AggregatingCells, AggregatingSlot, ListCells, MapCells, ReducingCells, SingleCells};
pub(crate) use handles::Target;
pub use store::StateKind;

use spate_core::KeyGroupRange;
use thiserror::Error;

impl From<spate_core::CoreError> for StateError {
    fn from(e: spate_core::CoreError) -> Self {
        StateError::Key(Box::new(e))
    }
}

impl StateError {
    /// Whether the error would happen again after a restart from the same checkpoint:
    /// state that cannot be read back, state declared inconsistently, a pipeline that
    /// cannot work (no timestamps for event-time windows, keyed state off a keyed
    /// stream). Failures of the moment (a full key group is not) are not.
    pub fn is_deterministic(&self) -> bool {
        match self {
            StateError::Restore(_)
            | StateError::Incompatible(_)
            | StateError::UnknownState(_)
            | StateError::UndeclaredBroadcastState(_)
            | StateError::NotKeyed
            | StateError::NoTimestamp
            | StateError::NotTimeWindows => true,
            StateError::Key(core) => core.is_deterministic(),
            StateError::Snapshot { cause, .. } => cause.is_deterministic(),
            _ => false,
        }
    }
}

/// Errors of state access.
#[derive(Debug, Error)]
pub enum StateError {
    /// A record's key belongs to a key group this subtask does not own. It means the
    /// key selector gave a different key when the record was routed than when it
    /// arrived: key selectors must be deterministic.
    #[error(
        "key group {key_group} is not owned by this subtask (owns {}..{}): the key selector must \\
         return the same key for the same record every time",
        range.start,
        range.end
    )]
    KeyGroupOutOfRange {
        /// The key's group.
        key_group: u32,
        /// The groups this subtask owns.
        range: KeyGroupRange,
    },
    /// A placed record lost its key: a bug in the runtime.
    #[error("internal error: a placed record has no key")]
    MissingKey,
    /// A handle was used on a thread that is not running an operator.
    #[error(
        "state was accessed outside of an operator (a state handle can only be used inside the function that created it)"
    )]
    NoScope,
    /// A handle was used by another operator than the one that created it.
    #[error("a state handle was used by another operator than the one that created it")]
    WrongOperator,
    /// Keyed state was requested on a stream that is not keyed.
    #[error("keyed state is only available on a keyed stream (after key_by); use operator state here")]
    NotKeyed,
    /// Keyed state was used where no key is current (e.g. in `open`).
    #[error("keyed state was accessed where there is no current key (only while processing a record or a timer)")]
    NoCurrentKey,
    /// A handle does not match any registered state.
    #[error("the state handle does not match a registered state")]
    NotRegistered,
    /// A state was used from inside its own reduce or aggregate function.
    #[error("a state was accessed from inside a function that is updating the same state")]
    Reentrant,
    /// A key group's table reached its largest size.
    #[error("a key group holds {keys} keys, the most one table can hold; raise pipeline.max-parallelism")]
    KeyGroupFull {
        /// Keys in the key group.
        keys: usize,
    },
    /// Restored state could not be read back.
    #[error("cannot restore {0}")]
    Restore(Box<String>),
    /// A key or value could not be encoded or decoded (boxed: state calls return this
    /// error type, and a small one keeps their results cheap to pass).
    #[error(transparent)]
    Key(Box<spate_core::CoreError>),
    /// The sliced window operator was given windows that are not time windows: a bug in
    /// the API that chose it.
    #[error("internal error: sliced windows need time windows")]
    NotTimeWindows,
    /// An event-time operator got a record without a timestamp.
    #[error(
        "a record has no timestamp, but the windows are in event time: assign timestamps with a \
         WatermarkStrategy (from_source or assign_timestamps_and_watermarks), or use processing-time windows"
    )]
    NoTimestamp,
    /// A broadcast state was used that the broadcast stream did not declare.
    #[error("the broadcast state '{0}' was not declared on the broadcast stream")]
    UndeclaredBroadcastState(Box<String>),
    /// Keyed state was applied to that was never registered.
    #[error("the keyed state '{0}' is not registered (get it from the runtime context in open)")]
    UnknownState(Box<String>),
    /// Two registrations used one name for different kinds or types of state.
    #[error("the state '{0}' was registered twice with different kinds or types")]
    Incompatible(Box<String>),
    /// A state's values could not be written into a snapshot.
    #[error("state '{state}': {cause}")]
    Snapshot {
        /// The state (its descriptor's name, or the operator's own part).
        state: Box<String>,
        /// Why.
        cause: Box<StateError>,
    },
}

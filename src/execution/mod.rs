//! Running a planned job: wiring its channels, building each subtask's chain on its own
//! thread, and supervising the subtasks until the job ends.

pub(crate) mod client;
pub(crate) mod client_observer;
pub(crate) mod collect;
pub(crate) mod deploy;
pub(crate) mod job_client;
pub(crate) mod mini_cluster;
pub(crate) mod plan_report;
pub(crate) mod restore;
pub(crate) mod worker;

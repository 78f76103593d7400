//! What a TaskManager reports of its machine (Linux `/proc`; zeros elsewhere).

use crate::rpc::Hardware;

/// The machine now.
pub(super) fn probe() -> Hardware {
    let cpu_cores = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Hardware { cpu_cores, physical_memory: field("MemTotal:"), free_memory: field("MemAvailable:") }
}

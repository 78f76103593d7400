//! The application of the data plane's end-to-end tests: generated records, hash
//! partitioned by key, so that with subtasks on several TaskManagers most of them cross
//! between workers; a running count per key is printed (`key count` per update) after an
//! optionally slow step, to test backpressure across processes.

use spate::prelude::*;

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("shuffle_app", "A keyed count whose records cross TaskManagers.")
            .flag(Flag::value("records", "N", "records to generate (default 100000)"))
            .flag(Flag::value("keys", "K", "distinct keys (default 100)"))
            .flag(Flag::value("payload", "BYTES", "bytes of payload per record (default 0)"))
            .flag(Flag::value("slow-every", "N", "after the shuffle, sleep --slow-ms every N records"))
            .flag(Flag::value("slow-ms", "MS", "how long to sleep (default 1)")),
    );
    let env = StreamEnv::from_params(&params)?;
    let records: u64 = params.parsed("records")?.unwrap_or(100_000);
    let keys: u64 = params.parsed("keys")?.unwrap_or(100).max(1);
    let payload: usize = params.parsed("payload")?.unwrap_or(0);
    let slow_every: u64 = params.parsed("slow-every")?.unwrap_or(0);
    let slow = std::time::Duration::from_millis(params.parsed("slow-ms")?.unwrap_or(1));
    let mut seen = 0u64;
    env.from_generator(move |i| (i % keys, 1u64, "x".repeat(payload)), Some(records))
        .key_by(|r| r.0)
        .reduce(|a, b| (a.0, a.1 + b.1, String::new()))
        .map(move |(key, count, _)| {
            seen += 1;
            if slow_every > 0 && seen % slow_every == 0 {
                std::thread::sleep(slow);
            }
            format!("{key} {count}")
        })
        .print();
    env.execute("shuffle-app")?;
    Ok(())
}

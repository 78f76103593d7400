//! The application of the collect tests: `execute_and_collect` over a cluster.
//!
//! - `--mode vec`: job 0 collects a running count per key into a `Vec`; job 1 is built
//!   from those results (so its workers' replay needs them) and collects their sum.
//! - `--mode iter`: reads `--records` numbers through the iterator without keeping
//!   them, and prints their count, sum and the process's peak memory.
//! - `--mode take`: reads `--take` records of an unbounded job and drops the iterator
//!   (which cancels the job).

use spate::prelude::*;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("collect_app", "Collects a job's results in the program.")
            .flag(Flag::value("mode", "vec|iter|take", "how to read them (default vec)"))
            .flag(Flag::value("records", "N", "records to generate (default 100000)"))
            .flag(Flag::value("keys", "K", "distinct keys (default 100)"))
            .flag(Flag::value("take", "N", "take mode: records to read (default 1000)"))
            .flag(Flag::value("payload", "BYTES", "iter mode: bytes of text per record (default 0)")),
    );
    let env = StreamEnv::from_params(&params)?;
    let records: i64 = params.parsed("records")?.unwrap_or(100_000);
    let keys: i64 = params.parsed("keys")?.unwrap_or(100).max(1);
    match params.get("mode").unwrap_or("vec") {
        "vec" => {
            let counts = env
                .from_sequence(0..records)
                .map(move |x| (x % keys, 1u64))
                .key_by(|(key, _)| *key)
                .reduce(|a, b| (a.0, a.1 + b.1))
                .execute_and_collect()?;
            let checksum: u64 = counts.iter().map(|(_, n)| n).sum();
            println!("job 0 collected {} updates, checksum {checksum}", counts.len());
            // Job 1 depends on what job 0 returned: the final count of every key.
            let mut finals = std::collections::BTreeMap::new();
            for (key, n) in &counts {
                let entry = finals.entry(*key).or_insert(0u64);
                *entry = (*entry).max(*n);
            }
            let finals: Vec<(i64, u64)> = finals.into_iter().collect();
            let mut doubled = env.from_iter(finals).map(|(key, n)| (key, 2 * n)).execute_and_collect()?;
            doubled.sort();
            let total: u64 = doubled.iter().map(|(_, n)| n).sum();
            println!("job 1 collected {} keys, total {total}", doubled.len());
        }
        "iter" if params.parsed::<usize>("payload")?.unwrap_or(0) > 0 => {
            let payload: usize = params.parsed("payload")?.unwrap_or(0);
            let (mut count, mut sum, mut bytes) = (0u64, 0i64, 0usize);
            let records = env.from_sequence(0..records).map(move |x| (x * 3, "x".repeat(payload)));
            for value in records.execute_and_collect_iter()? {
                let (x, text) = value?;
                count += 1;
                sum = sum.wrapping_add(x);
                bytes += text.len();
            }
            println!("collected {count} records, sum {sum}, {bytes} bytes of text");
        }
        "iter" => {
            let (mut count, mut sum) = (0u64, 0i64);
            for value in env.from_sequence(0..records).map(|x| x * 3).execute_and_collect_iter()? {
                count += 1;
                sum = sum.wrapping_add(value?);
            }
            println!("collected {count} records, sum {sum}, peak rss {} KiB", peak_rss_kib());
        }
        "take" => {
            let take: usize = params.parsed("take")?.unwrap_or(1000);
            let results = env.from_sequence(0..i64::MAX).execute_and_collect_iter()?;
            let job = results.job_client().clone();
            let first = results.take(take).collect::<spate::Result<Vec<i64>>>()?;
            println!("took {} records of job {}", first.len(), job.job_id());
        }
        other => return Err(spate::Error::Arguments(format!("--mode {other}: expected vec, iter or take"))),
    }
    Ok(())
}

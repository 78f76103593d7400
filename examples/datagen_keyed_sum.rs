//! An unbounded stream of generated `(key, value)` records, keyed and summed in
//! STREAMING mode; prints its throughput every second until Ctrl-C.
//!
//! ```text
//! cargo run --release --example datagen_keyed_sum [-- --keys 1000000] [--rate 50000] [-p 2] [--seconds 10]
//! ```
//!
//! Record `j` is `(splitmix64(j) >> 1) % keys, j)` — the records of the `keyed_sum`
//! benchmark, without end. `--rate` limits records per second (over all subtasks);
//! `--seconds` cancels the job after that long instead of waiting for Ctrl-C; `--plan`
//! prints the plan instead of running.

use std::time::{Duration, Instant};

use spate::prelude::*;

/// The splitmix64 mixing function (the benchmark's definition).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("datagen_keyed_sum", "Sums generated (key, value) records per key, printing the throughput.")
            .flag(Flag::value("keys", "N", "the number of distinct keys (default: 1000000)"))
            .flag(Flag::value("rate", "N", "records per second over all subtasks (default: unlimited)"))
            .flag(Flag::value("seconds", "N", "cancels the job after N seconds (default: run until Ctrl-C)"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000).max(1);
    let rate: Option<f64> = params.parsed("rate")?;
    let seconds: Option<u64> = params.parsed("seconds")?;

    let generator = move |j: u64| ((splitmix64(j) >> 1) % keys, j);
    let records = match rate {
        Some(rate) => {
            env.from_source(GeneratorSource::new(generator, None).with_rate(rate), WatermarkStrategy::no_watermarks())
        }
        None => env.from_generator(generator, None),
    };
    records
        .name("generator")
        .key_by(|r| r.0)
        .reduce(|a, b| (a.0, a.1.wrapping_add(b.1)))
        .name("keyed-sum")
        .sink_to(DiscardingSink);

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }

    let job = env.execute_async("DataGen Keyed Sum")?;
    println!("job {} running; Ctrl-C to stop", job.job_id());
    let started = Instant::now();
    let (mut last_count, mut last_time) = (0u64, started);
    loop {
        if job.wait_timeout(Duration::from_secs(1)) {
            break;
        }
        let now = Instant::now();
        let count = job.metrics().first().map_or(0, |source| source.records_out);
        let rate = (count - last_count) as f64 / (now - last_time).as_secs_f64();
        println!("{:>6.1} s  {count:>13} records  {:>8.2} M records/s", (now - started).as_secs_f64(), rate / 1e6);
        (last_count, last_time) = (count, now);
        if seconds.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            job.cancel();
        }
    }
    match job.wait() {
        Ok(_) | Err(spate::Error::JobCancelled { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

//! The application the CLI's end-to-end tests start: a keyed count whose parallelism
//! comes from its arguments, so a test can check that `spate info` reports the pipeline
//! the arguments built. `--say-hello` prints a line before planning (a program's own
//! output must not end up in the plan). `--two-jobs` runs a second job after the first,
//! whose parallelism depends on the first job's `records` accumulator: a worker of the
//! second job must replay the first job's result to build it.

use spate::prelude::*;

/// Counts the records it sees in the `records` accumulator.
#[derive(Clone, Default)]
struct CountRecords(IntCounter);

impl MapFunction<(u64, u64), (u64, u64)> for CountRecords {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        ctx.add_accumulator("records", &mut self.0)?;
        Ok(())
    }

    fn map(&mut self, record: (u64, u64)) -> FnResult<(u64, u64)> {
        self.0.add(1);
        Ok(record)
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("test_app", "A keyed count for the CLI's tests.")
            .flag(Flag::value("parallelism", "N", "parallelism of the count"))
            .flag(Flag::switch("say-hello", "prints a line first"))
            .flag(Flag::switch("two-jobs", "runs a second job shaped by the first one's result"))
            .flag(Flag::value("fail-with", "panic|abort", "fails at record 500 with a panic, or aborts the process"))
            .flag(Flag::value("slow-ms", "MS", "sleeps this long per record"))
            .flag(Flag::switch("panic-in-worker", "panics while a worker replays main, before its job"))
            .flag(Flag::switch("print-counts", "prints each vertex's record counts from the job's result"))
            .flag(Flag::switch("nondeterministic", "the count's parallelism from the process's role, not replayed"))
            .flag(Flag::switch("side-effect", "the count's parallelism from a value that differs between processes"))
            .flag(Flag::value(
                "skip-first-with",
                "RECORDS",
                "with --two-jobs: runs only the second job, as if the first counted RECORDS",
            )),
    );
    if params.has("say-hello") {
        println!("hello from main");
    }
    let env = StreamEnv::from_params(&params)?;
    if params.has("panic-in-worker") && std::env::var("SPATE_ROLE").as_deref() == Ok("worker") {
        panic!("test_app panics while a worker replays main");
    }
    let mut parallelism: u32 = params.parsed("parallelism")?.unwrap_or(2);
    if params.has("side-effect") {
        // Each process has another role: only a replayed value plans the same job.
        let role = env.side_effect(|| std::env::var("SPATE_ROLE").unwrap_or_default())?;
        parallelism = if role == "client" { 2 } else { 1 };
    }
    if params.has("nondeterministic") {
        // What the rule for programs forbids: a worker plans another job.
        parallelism = if std::env::var("SPATE_ROLE").as_deref() == Ok("client") { 2 } else { 3 };
    }
    if let Some(records) = params.parsed::<i32>("skip-first-with")? {
        return second_job(&env, records);
    }
    let fail_with = params.get("fail-with").map(str::to_string);
    let slow = std::time::Duration::from_millis(params.parsed("slow-ms")?.unwrap_or(0));
    env.from_iter((0..1000u64).map(|i| (i % 7, 1u64)))
        .map_function(CountRecords::default())
        .map(move |r: (u64, u64)| {
            std::thread::sleep(slow);
            static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            if SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 500 {
                match fail_with.as_deref() {
                    Some("panic") => panic!("test_app fails at record 500"),
                    Some("abort") => std::process::abort(),
                    _ => {}
                }
            }
            r
        })
        .key_by(|(k, _)| *k)
        .sum(|r: &mut (u64, u64)| &mut r.1)
        .set_parallelism(parallelism)
        .name("count")
        .uid("count")
        .print();
    let first = env.execute("test-app")?;
    if params.has("print-counts") {
        for v in &first.vertices {
            println!("vertex {}: {} in, {} out", v.name, v.records_in, v.records_out);
        }
    }
    if params.has("two-jobs") {
        second_job(&env, first.accumulator_result::<IntCounter>("records")?.unwrap_or(0))?;
    }
    Ok(())
}

/// Doubles 0..10 at parallelism 3 if the first job counted 1000 records, else 1.
fn second_job(env: &StreamEnv, records: i32) -> spate::Result<()> {
    env.from_iter(0..10u64).map(|x| x * 2).set_parallelism(if records == 1000 { 3 } else { 1 }).name("double").print();
    env.execute("test-app-second")?;
    Ok(())
}

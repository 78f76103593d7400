//! The application the CLI's end-to-end tests start: a keyed count whose parallelism
//! comes from its arguments, so a test can check that `spate info` reports the pipeline
//! the arguments built. `--say-hello` prints a line before planning (a program's own
//! output must not end up in the plan).

use spate::prelude::*;

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("test_app", "A keyed count for the CLI's tests.")
            .flag(Flag::value("parallelism", "N", "parallelism of the count"))
            .flag(Flag::switch("say-hello", "prints a line first")),
    );
    if params.has("say-hello") {
        println!("hello from main");
    }
    let env = StreamEnv::from_params(&params)?;
    let parallelism: u32 = params.parsed("parallelism")?.unwrap_or(2);
    env.from_iter((0..1000u64).map(|i| (i % 7, 1u64)))
        .key_by(|(k, _)| *k)
        .sum(|r: &mut (u64, u64)| &mut r.1)
        .set_parallelism(parallelism)
        .name("count")
        .uid("count")
        .print();
    env.execute("test-app")?;
    Ok(())
}

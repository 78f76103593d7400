//! Stream filter (the control-stream exercise of Flink's training): words flow through
//! unless a control stream has blocked them.
//!
//! ```text
//! cargo run --release --example stream_filter [-- --words 80 --rate 20] [-p 2] [--plan]
//! ```
//!
//! The data stream cycles through five words at `--rate` words per second; the control
//! stream names a word to block every second: first `nothing` (a word that never
//! occurs), then `drop`, then `ignore`. Both are keyed by word and connected, and a
//! rich co-flat-map function keeps a `ValueState<bool>` per word: the control side sets
//! it, the data side lets a word through only while it is unset. Watch `drop` and then
//! `ignore` disappear from the output.

use spate::prelude::*;

const WORDS: [&str; 5] = ["apache", "flink", "drop", "spate", "ignore"];
const BLOCK: [&str; 3] = ["nothing", "drop", "ignore"];

/// Blocks words named by the control stream (input 1) in the data stream (input 2).
#[derive(Clone, Default)]
struct ControlFunction {
    blocked: Option<ValueState<bool>>,
}

impl CoFlatMapFunction<String, String, String> for ControlFunction {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.blocked = Some(ctx.get_state(&ValueStateDescriptor::new("blocked"))?);
        Ok(())
    }

    fn flat_map1(&mut self, _control: String, _out: &mut Collector<'_, String>) -> FnResult {
        self.blocked.as_ref().ok_or("not opened")?.update(true)?;
        Ok(())
    }

    fn flat_map2(&mut self, word: String, out: &mut Collector<'_, String>) -> FnResult {
        if self.blocked.as_ref().ok_or("not opened")?.value()?.is_none() {
            out.collect(word);
        }
        Ok(())
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("stream_filter", "Lets words through unless a control stream has blocked them.")
            .flag(Flag::value("words", "N", "the number of words to generate (default: 80)"))
            .flag(Flag::value("rate", "N", "words per second (default: 20)"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    let words: u64 = params.parsed("words")?.unwrap_or(80);
    let rate: f64 = params.parsed("rate")?.unwrap_or(20.0);

    let control = env
        .from_source(
            GeneratorSource::new(|j| BLOCK[j as usize].to_string(), Some(BLOCK.len() as u64)).with_rate(1.0),
            WatermarkStrategy::no_watermarks(),
        )
        .name("control")
        .set_parallelism(1)
        .key_by(|word| word.clone());
    let data = env
        .from_source(
            GeneratorSource::new(|j| WORDS[j as usize % WORDS.len()].to_string(), Some(words)).with_rate(rate),
            WatermarkStrategy::no_watermarks(),
        )
        .name("words")
        .set_parallelism(1)
        .key_by(|word| word.clone());
    control.connect(&data).flat_map(ControlFunction::default()).name("filter").uid("filter").print();

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }
    env.execute("Stream Filter")?;
    Ok(())
}

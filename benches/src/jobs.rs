//! The benchmark jobs, built with Spate's DataStream API exactly as a user would.

use std::path::Path;
use std::time::{Duration, Instant};

use spate::prelude::*;

use crate::{keyed_record, word_spans};

/// Splits a line into lowercase words as Flink's WordCount (`\W+`), emitting
/// `(word, 1)`: one allocation per word, for the word itself.
#[derive(Clone)]
pub struct Tokenizer;

impl FlatMapFunction<String, (String, u64)> for Tokenizer {
    #[inline]
    fn flat_map(&mut self, line: String, out: &mut Collector<'_, (String, u64)>) -> FnResult {
        for span in word_spans(line.as_bytes()) {
            out.collect((line[span].to_ascii_lowercase(), 1));
        }
        Ok(())
    }
}

/// An environment with the defaults, then `settings` (`key=value`, as `-D` takes them).
fn environment(parallelism: u32, settings: &[&str]) -> spate::Result<StreamEnv> {
    let mut config = spate::Configuration::new();
    for s in settings {
        config.apply_dynamic(s)?;
    }
    let env = StreamEnv::with_config(config)?;
    env.set_parallelism(parallelism);
    Ok(env)
}

/// WordCount over a text file: BATCH, results written as `word count` lines.
pub fn wordcount(input: &Path, output: &Path, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Batch);
    env.read_text_file(input)
        .flat_map(Tokenizer)
        .key_by_ref(|(word, _): &(String, u64)| word)
        .sum(|(_, count): &mut (String, u64)| count)
        .map(|(word, count): (String, u64)| format!("{word} {count}"))
        .sink_to(FileSink::text(output));
    let started = Instant::now();
    env.execute("wordcount")?;
    Ok(started.elapsed())
}

/// Keyed sum over generated records: STREAMING, every update to a discarding sink.
pub fn keyed_sum(records: u64, keys: u64, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    env.from_generator(move |j| keyed_record(j, keys), Some(records))
        .key_by(|r: &(u64, u64)| r.0)
        .reduce(|a: (u64, u64), b: (u64, u64)| (a.0, a.1.wrapping_add(b.1)))
        .sink_to(DiscardingSink);
    let started = Instant::now();
    env.execute("keyed_sum")?;
    Ok(started.elapsed())
}

/// Keeps a running sum per key in a `ValueState<u64>` and emits nothing (the Flink
/// reference `keyed` job).
#[derive(Clone, Default)]
pub struct StateSum {
    sum: Option<ValueState<u64>>,
}

impl KeyedProcessFunction<u64, (u64, u64), ()> for StateSum {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.sum = Some(ctx.get_state(&ValueStateDescriptor::new("sum"))?);
        Ok(())
    }

    #[inline]
    fn process_element(
        &mut self,
        value: (u64, u64),
        _: &mut KeyedContext<'_, u64>,
        _: &mut Collector<'_, ()>,
    ) -> FnResult {
        let sum = self.sum.as_ref().ok_or("not opened")?;
        sum.update(sum.value()?.unwrap_or(0).wrapping_add(value.1))?;
        Ok(())
    }
}

/// Keyed state: a `KeyedProcessFunction` with a `ValueState` per key, STREAMING.
pub fn keyed_state(records: u64, keys: u64, parallelism: u32, settings: &[&str]) -> spate::Result<Duration> {
    let env = environment(parallelism, settings)?;
    env.set_runtime_mode(RuntimeMode::Streaming);
    env.from_generator(move |j| keyed_record(j, keys), Some(records))
        .key_by(|r: &(u64, u64)| r.0)
        .process(StateSum::default())
        .sink_to(DiscardingSink);
    let started = Instant::now();
    env.execute("keyed_state")?;
    Ok(started.elapsed())
}

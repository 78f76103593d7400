//! STREAMING, BATCH and AUTOMATIC runtime modes.

use spate::prelude::*;

use crate::{env, sorted};

fn word_counts(mode: RuntimeMode, p: u32) -> Vec<(String, u64)> {
    let env = env(p);
    env.set_runtime_mode(mode);
    let words = ["a", "b", "a", "c", "a", "b"];
    env.from_iter(words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
        .map(|w: String| (w, 1u64))
        .key_by(|r: &(String, u64)| r.0.clone())
        .sum(|r: &mut (String, u64)| &mut r.1)
        .execute_and_collect()
        .unwrap()
}

#[test]
fn streaming_emits_every_update_and_batch_only_final_results() {
    for p in [1, 3] {
        let streaming = sorted(word_counts(RuntimeMode::Streaming, p));
        let expected: Vec<(String, u64)> = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("c", 1)]
            .iter()
            .map(|(w, c)| (w.to_string(), *c))
            .collect();
        assert_eq!(streaming, expected, "parallelism {p}");
        let batch = sorted(word_counts(RuntimeMode::Batch, p));
        assert_eq!(batch, vec![("a".to_string(), 3), ("b".to_string(), 2), ("c".to_string(), 1)], "parallelism {p}");
        assert_eq!(sorted(word_counts(RuntimeMode::Automatic, p)), batch, "AUTOMATIC on bounded input is BATCH");
    }
}

fn mode_of(plan: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(plan).unwrap();
    json["execution_mode"].as_str().unwrap().to_string()
}

#[test]
fn automatic_picks_streaming_for_unbounded_sources() {
    let env = env(1);
    env.set_runtime_mode(RuntimeMode::Automatic);
    env.from_generator(|i| i, None).add_sink(|_: u64| {});
    assert_eq!(mode_of(&env.execution_plan().unwrap()), "STREAMING");
    let bounded = self::env(1);
    bounded.set_runtime_mode(RuntimeMode::Automatic);
    bounded.from_generator(|i| i, Some(10)).add_sink(|_: u64| {});
    assert_eq!(mode_of(&bounded.execution_plan().unwrap()), "BATCH");
}

#[test]
fn batch_mode_rejects_unbounded_sources() {
    let env = env(1);
    env.set_runtime_mode(RuntimeMode::Batch);
    env.from_generator(|i| i, None).name("endless").add_sink(|_: u64| {});
    let err = env.execute("batch on unbounded").unwrap_err().to_string();
    assert!(err.contains("BATCH") && err.contains("Source: endless") && err.contains("unbounded"), "{err}");
}

#[test]
fn runtime_mode_comes_from_configuration_keys() {
    let params = Params::parse(["-D", "execution.runtime-mode=BATCH", "-p", "2"]);
    let env = StreamEnv::from_params(&params).unwrap();
    assert_eq!(env.parallelism(), 2);
    env.from_sequence(0..3).add_sink(|_: i64| {});
    assert_eq!(mode_of(&env.execution_plan().unwrap()), "BATCH");

    let bad = StreamEnv::from_params(&Params::parse(["-D", "execution.runtime-mode=SOMETIMES"]));
    let err = bad.err().expect("an invalid mode is an error").to_string();
    assert!(err.contains("execution.runtime-mode") && err.contains("SOMETIMES"), "{err}");
    let bad = StreamEnv::from_params(&Params::parse(["-p", "none"]));
    assert!(bad.err().expect("an invalid parallelism is an error").to_string().contains("parallelism.default"));
}

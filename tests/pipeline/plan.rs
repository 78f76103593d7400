//! Planning: chaining, partitioners and parallelism in the JobGraph.

use serde_json::Value;
use spate::prelude::*;

use crate::env;

fn plan(env: &StreamEnv) -> Value {
    serde_json::from_str(&env.execution_plan().unwrap()).unwrap()
}

/// The vertices as lists of operator names.
fn chains(plan: &Value) -> Vec<Vec<String>> {
    plan["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["operators"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect())
        .collect()
}

fn partitioners(plan: &Value) -> Vec<String> {
    plan["edges"].as_array().unwrap().iter().map(|e| e["partitioner"].as_str().unwrap().to_string()).collect()
}

fn pipeline(env: &StreamEnv, configure: impl Fn(DataStream<i64>) -> DataStream<i64>) {
    let source = env.from_sequence(0..10).name("numbers");
    let mapped = configure(source.map(|x: i64| x + 1).name("plus one"));
    mapped
        .filter(|x: &i64| x % 2 == 0)
        .name("even")
        .key_by(|x: &i64| *x)
        .reduce(|a: i64, b: i64| a + b)
        .name("sum")
        .print();
}

#[test]
fn forward_edges_of_equal_parallelism_are_chained() {
    let env = env(2);
    pipeline(&env, |s| s);
    let p = plan(&env);
    assert_eq!(chains(&p), vec![vec!["Source: numbers", "plus one", "even"], vec!["sum", "Sink: Print to Std. Out"]]);
    assert_eq!(partitioners(&p), vec!["HASH"]);
    assert_eq!(p["vertices"][0]["name"], "Source: numbers -> plus one -> even");
    assert_eq!(p["vertices"][0]["parallelism"], 2);
    assert_eq!(p["vertices"][0]["max_parallelism"], 128);
}

#[test]
fn disable_chaining_and_start_new_chain() {
    let env = env(2);
    pipeline(&env, |s| s.disable_chaining());
    assert_eq!(
        chains(&plan(&env)),
        vec![vec!["Source: numbers"], vec!["plus one"], vec!["even"], vec!["sum", "Sink: Print to Std. Out"]]
    );
    let env = crate::env(2);
    pipeline(&env, |s| s.start_new_chain());
    assert_eq!(
        chains(&plan(&env)),
        vec![vec!["Source: numbers"], vec!["plus one", "even"], vec!["sum", "Sink: Print to Std. Out"]]
    );
    let env = crate::env(2);
    env.disable_operator_chaining();
    pipeline(&env, |s| s);
    assert_eq!(chains(&plan(&env)).len(), 5);
}

#[test]
fn parallelism_changes_break_chains_with_rebalance() {
    let env = env(2);
    pipeline(&env, |s| s.set_parallelism(3));
    let p = plan(&env);
    assert_eq!(
        chains(&p),
        vec![vec!["Source: numbers"], vec!["plus one"], vec!["even"], vec!["sum", "Sink: Print to Std. Out"]]
    );
    assert_eq!(partitioners(&p), vec!["REBALANCE", "REBALANCE", "HASH"]);
    assert_eq!(p["vertices"][1]["parallelism"], 3);
}

#[test]
fn uids_are_stable_and_explicit_ones_are_kept() {
    let uids = |explicit: bool| {
        let env = env(1);
        let s = env.from_sequence(0..3).map(|x: i64| x);
        let s = if explicit { s.uid("my-map") } else { s };
        s.print();
        let p = plan(&env);
        p["vertices"][0]["operators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["uid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(false), uids(false), "generated uids do not change between runs");
    assert_eq!(uids(true)[1], "my-map");
    let p = {
        let env = env(1);
        env.from_sequence(0..3).print();
        plan(&env)
    };
    assert_eq!(p["fingerprint"].as_str().unwrap().len(), 16);
}

#[test]
fn max_parallelism_is_configurable() {
    let env = env(2);
    env.set_max_parallelism(64);
    env.from_sequence(0..3).map(|x: i64| x).set_max_parallelism(32).print();
    let p = plan(&env);
    assert_eq!(p["vertices"][0]["max_parallelism"], 64);
    assert_eq!(p["vertices"][1]["max_parallelism"], 32, "a different max parallelism breaks the chain");
}

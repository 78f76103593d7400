//! Connected streams and broadcast state. Two inputs interleave in any order, so every
//! test here checks a result that does not depend on that order.

use spate::prelude::*;

use crate::{env, sorted};

/// Numbers and words, mapped to one type.
#[derive(Clone)]
struct Describe;

impl CoMapFunction<i64, String, String> for Describe {
    fn map1(&mut self, value: i64) -> FnResult<String> {
        Ok(format!("number {value}"))
    }
    fn map2(&mut self, value: String) -> FnResult<String> {
        Ok(format!("word {value}"))
    }
}

/// Each number emitted n times, each word split into letters.
#[derive(Clone)]
struct Explode;

impl CoFlatMapFunction<i64, String, String> for Explode {
    fn flat_map1(&mut self, value: i64, out: &mut Collector<'_, String>) -> FnResult {
        for _ in 0..value {
            out.collect(value.to_string());
        }
        Ok(())
    }
    fn flat_map2(&mut self, value: String, out: &mut Collector<'_, String>) -> FnResult {
        for c in value.chars() {
            out.collect(c.to_string());
        }
        Ok(())
    }
}

fn words() -> Vec<String> {
    vec!["ab".into(), "c".into(), "de".into()]
}

#[test]
fn co_map_and_co_flat_map_see_both_inputs() {
    for p in [1, 3] {
        let env = env(p);
        let out = env.from_sequence(1..4).connect(&env.from_iter(words())).map(Describe).execute_and_collect().unwrap();
        let expected = vec!["number 1", "number 2", "number 3", "word ab", "word c", "word de"];
        assert_eq!(sorted(out), expected, "parallelism {p}");

        let env = crate::env(p);
        let out =
            env.from_sequence(1..4).connect(&env.from_iter(words())).flat_map(Explode).execute_and_collect().unwrap();
        let expected = vec!["1", "2", "2", "3", "3", "3", "a", "b", "c", "d", "e"];
        assert_eq!(sorted(out), expected, "parallelism {p}");
    }
}

/// Tags records with their input, passing timestamps and sending odd numbers aside.
#[derive(Clone)]
struct Tag {
    odd: OutputTag<i64>,
}

impl CoProcessFunction<i64, String, (u8, String)> for Tag {
    fn process_element1(
        &mut self,
        v: i64,
        ctx: &mut ProcessContext<'_>,
        out: &mut Collector<'_, (u8, String)>,
    ) -> FnResult {
        if v % 2 == 1 {
            ctx.output(&self.odd, v);
        }
        out.collect((1, v.to_string()));
        Ok(())
    }
    fn process_element2(
        &mut self,
        v: String,
        _: &mut ProcessContext<'_>,
        out: &mut Collector<'_, (u8, String)>,
    ) -> FnResult {
        out.collect((2, v));
        Ok(())
    }
}

#[test]
fn co_process_with_side_output() {
    let env = env(2);
    let odd = OutputTag::<i64>::new("odd");
    let tagged = env.from_sequence(0..6).connect(&env.from_iter(words())).process(Tag { odd: odd.clone() });
    let (sender, receiver) = std::sync::mpsc::channel();
    tagged.side_output(&odd).add_sink(move |v: i64| sender.send(v).unwrap());
    let out = tagged.execute_and_collect().unwrap();
    assert_eq!(out.iter().filter(|r| r.0 == 1).count(), 6);
    assert_eq!(sorted(out.into_iter().filter(|r| r.0 == 2).map(|r| r.1).collect()), words());
    assert_eq!(sorted(receiver.try_iter().collect()), vec![1, 3, 5]);
}

/// Joins orders and payments by id: whichever arrives second emits the pair.
#[derive(Clone, Default)]
struct Join {
    order: Option<ValueState<String>>,
    payment: Option<ValueState<u64>>,
}

impl KeyedCoProcessFunction<u32, (u32, String), (u32, u64), (u32, String, u64)> for Join {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.order = Some(ctx.get_state(&ValueStateDescriptor::new("order"))?);
        self.payment = Some(ctx.get_state(&ValueStateDescriptor::new("payment"))?);
        Ok(())
    }
    fn process_element1(
        &mut self,
        (id, item): (u32, String),
        ctx: &mut KeyedContext<'_, u32>,
        out: &mut Collector<'_, (u32, String, u64)>,
    ) -> FnResult {
        assert_eq!(*ctx.current_key(), id);
        match self.payment.unwrap().value()? {
            Some(amount) => out.collect((id, item, amount)),
            None => self.order.unwrap().update(item)?,
        }
        Ok(())
    }
    fn process_element2(
        &mut self,
        (id, amount): (u32, u64),
        _: &mut KeyedContext<'_, u32>,
        out: &mut Collector<'_, (u32, String, u64)>,
    ) -> FnResult {
        match self.order.unwrap().value()? {
            Some(item) => out.collect((id, item, amount)),
            None => self.payment.unwrap().update(amount)?,
        }
        Ok(())
    }
}

#[test]
fn keyed_co_process_shares_state_between_inputs() {
    let orders: Vec<(u32, String)> = (0..500).map(|i| (i, format!("item-{i}"))).collect();
    let payments: Vec<(u32, u64)> = (250..700).map(|i| (i, u64::from(i) * 3)).collect();
    let expected: Vec<(u32, String, u64)> = (250..500).map(|i| (i, format!("item-{i}"), u64::from(i) * 3)).collect();
    for p in [1, 3] {
        let env = env(p);
        let out = env
            .from_iter(orders.clone())
            .key_by(|o: &(u32, String)| o.0)
            .connect(&env.from_iter(payments.clone()).key_by(|p: &(u32, u64)| p.0))
            .process(Join::default())
            .execute_and_collect()
            .unwrap();
        assert!(sorted(out) == expected, "parallelism {p}");

        let env = crate::env(p);
        let out = env
            .from_iter(orders.clone())
            .connect(&env.from_iter(payments.clone()))
            .key_by(|o: &(u32, String)| o.0, |p: &(u32, u64)| p.0)
            .process(Join::default())
            .execute_and_collect()
            .unwrap();
        assert!(sorted(out) == expected, "connect then key_by, parallelism {p}");
    }
}

/// The rules: a word and the factor it multiplies by; `None` ends the rules.
type Rule = Option<(String, i64)>;

fn rules() -> Vec<Rule> {
    vec![Some(("double".into(), 2)), Some(("triple".into(), 3)), Some(("none".into(), 0)), None]
}

fn factors() -> MapStateDescriptor<String, i64> {
    MapStateDescriptor::new("factors")
}

/// Applies the broadcast rules to keyed records; records that arrive before the rules
/// are complete wait in keyed state and are applied, key by key, when the last rule
/// arrives.
#[derive(Clone, Default)]
struct ApplyRules {
    waiting: Option<ListState<i64>>,
}

impl ApplyRules {
    fn apply(factors: &std::collections::HashMap<String, i64>, word: &str, value: i64) -> Option<i64> {
        factors.get(word).map(|f| value * f)
    }
}

impl KeyedBroadcastProcessFunction<String, (String, i64), Rule, (String, i64)> for ApplyRules {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.waiting = Some(ctx.get_list_state(&ListStateDescriptor::new("waiting"))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (word, value): (String, i64),
        ctx: &mut KeyedReadOnlyContext<'_, String>,
        out: &mut Collector<'_, (String, i64)>,
    ) -> FnResult {
        let state = ctx.broadcast_state(&factors())?;
        if state.contains(&"<complete>".to_string()) {
            if let Some(f) = state.get(&word) {
                out.collect((word.clone(), value * f));
            }
        } else {
            self.waiting.unwrap().add(value)?;
        }
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        rule: Rule,
        ctx: &mut KeyedBroadcastContext<'_, String>,
        out: &mut Collector<'_, (String, i64)>,
    ) -> FnResult {
        match rule {
            Some((word, factor)) => ctx.broadcast_state(&factors())?.put(word, factor),
            None => {
                let known: std::collections::HashMap<String, i64> = {
                    let mut state = ctx.broadcast_state(&factors())?;
                    state.put("<complete>".into(), 0);
                    state.iter().map(|(k, v)| (k.clone(), *v)).collect()
                };
                ctx.apply_to_keyed_state(&ListStateDescriptor::<i64>::new("waiting"), |word, waiting| {
                    for value in waiting.get()? {
                        if let Some(v) = Self::apply(&known, word, value) {
                            out.collect((word.clone(), v));
                        }
                    }
                    waiting.clear()?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }
}

#[test]
fn keyed_broadcast_state_reaches_every_subtask() {
    let data: Vec<(String, i64)> =
        (0..300).map(|i| (["double", "triple", "none", "unknown"][i % 4].to_string(), i as i64)).collect();
    let expected: Vec<(String, i64)> = data
        .iter()
        .filter_map(|(w, v)| match w.as_str() {
            "double" => Some((w.clone(), v * 2)),
            "triple" => Some((w.clone(), v * 3)),
            "none" => Some((w.clone(), 0)),
            _ => None,
        })
        .collect();
    for p in [1, 3] {
        let env = env(p);
        let broadcast = env.from_iter(rules()).broadcast_with(&factors());
        let out = env
            .from_iter(data.clone())
            .key_by(|r: &(String, i64)| r.0.clone())
            .connect(&broadcast)
            .process(ApplyRules::default())
            .execute_and_collect()
            .unwrap();
        assert!(sorted(out) == sorted(expected.clone()), "parallelism {p}");
    }
}

/// The non-keyed variant: records wait in operator list state until the rules are
/// complete.
#[derive(Clone, Default)]
struct ApplyRulesUnkeyed {
    waiting: Option<ListState<(String, i64)>>,
}

impl BroadcastProcessFunction<(String, i64), Rule, (String, i64)> for ApplyRulesUnkeyed {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.waiting = Some(ctx.get_operator_list_state(&ListStateDescriptor::new("waiting"))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (word, value): (String, i64),
        ctx: &mut ReadOnlyBroadcastContext<'_>,
        out: &mut Collector<'_, (String, i64)>,
    ) -> FnResult {
        let state = ctx.broadcast_state(&factors())?;
        if state.contains(&"<complete>".to_string()) {
            if let Some(f) = state.get(&word) {
                out.collect((word.clone(), value * f));
            }
        } else {
            self.waiting.unwrap().add((word, value))?;
        }
        Ok(())
    }

    fn process_broadcast_element(
        &mut self,
        rule: Rule,
        ctx: &mut BroadcastContext<'_>,
        out: &mut Collector<'_, (String, i64)>,
    ) -> FnResult {
        let mut state = ctx.broadcast_state(&factors())?;
        match rule {
            Some((word, factor)) => state.put(word, factor),
            None => {
                state.put("<complete>".into(), 0);
                for (word, value) in self.waiting.unwrap().get()? {
                    if let Some(f) = state.get(&word) {
                        out.collect((word.clone(), value * f));
                    }
                }
                self.waiting.unwrap().clear()?;
            }
        }
        Ok(())
    }
}

#[test]
fn broadcast_state_on_a_non_keyed_stream() {
    let data: Vec<(String, i64)> = (0..100).map(|i| (["double", "other"][i % 2].to_string(), i as i64)).collect();
    let expected: Vec<(String, i64)> =
        data.iter().filter(|(w, _)| w == "double").map(|(w, v)| (w.clone(), v * 2)).collect();
    for p in [1, 3] {
        let env = env(p);
        let broadcast = env.from_iter(rules()).broadcast_with(&factors());
        let out = env
            .from_iter(data.clone())
            .rebalance()
            .connect(&broadcast)
            .process(ApplyRulesUnkeyed::default())
            .execute_and_collect()
            .unwrap();
        assert!(sorted(out) == sorted(expected.clone()), "parallelism {p}");
    }
}

/// Reads broadcast state that was not declared.
#[derive(Clone)]
struct Undeclared;

impl BroadcastProcessFunction<i64, Rule, i64> for Undeclared {
    fn process_element(
        &mut self,
        _: i64,
        ctx: &mut ReadOnlyBroadcastContext<'_>,
        _: &mut Collector<'_, i64>,
    ) -> FnResult {
        ctx.broadcast_state(&MapStateDescriptor::<String, i64>::new("elsewhere"))?;
        Ok(())
    }
    fn process_broadcast_element(
        &mut self,
        _: Rule,
        _: &mut BroadcastContext<'_>,
        _: &mut Collector<'_, i64>,
    ) -> FnResult {
        Ok(())
    }
}

#[test]
fn undeclared_broadcast_state_is_an_error() {
    let env = env(1);
    let broadcast = env.from_iter(rules()).broadcast_with(&factors());
    env.from_sequence(0..3).connect(&broadcast).process(Undeclared).add_sink(|_: i64| {});
    let text = env.execute("undeclared").unwrap_err().to_string();
    assert!(text.contains("the broadcast state 'elsewhere' was not declared"), "{text}");
}

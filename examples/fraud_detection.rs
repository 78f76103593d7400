//! Fraud detection, as in Flink's DataStream walkthrough: an account is flagged when a
//! transaction under 1.00 is followed, within one minute, by one over 500.00.
//!
//! ```text
//! cargo run --release --example fraud_detection [-- --transactions 2000] [-p 2] [--plan]
//! ```
//!
//! The transactions are generated (five accounts, a transaction every 12 seconds of
//! event time, amounts between 10 and 400) with a few patterns planted: three frauds
//! (accounts 2, 4 and 5) and two near misses (the large amount two minutes after). Time is event time:
//! each transaction's own timestamp, so the result never depends on how fast it runs.
//!
//! The detector keeps, per account, a `ValueState<bool>` flag set by a small
//! transaction and an event-time timer one minute later that clears it.

use serde::{Deserialize, Serialize};
use spate::prelude::*;

/// One card transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Transaction {
    account: u64,
    timestamp: i64,
    amount: f64,
}

/// An account to investigate.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Alert {
    account: u64,
    timestamp: i64,
}

const ONE_MINUTE: i64 = 60_000;
const SMALL: f64 = 1.00;
const LARGE: f64 = 500.00;

/// Transactions whose small amount starts a fraud: the account's next transaction,
/// 59 seconds later, is large.
const FRAUDS: [u64; 3] = [101, 1003, 1704];
/// Small amounts whose large follow-up comes two minutes later: not fraud.
const NEAR_MISSES: [u64; 2] = [402, 1300];

/// Transaction `j`: account `j % 5 + 1`, one every 12 s (so each account trades every
/// 60 s), amounts between 10 and 400 except for the planted patterns.
fn transaction(j: u64) -> Transaction {
    let account = j % 5 + 1;
    let mut timestamp = 1_700_000_000_000 + j as i64 * 12_000;
    let mix = (j.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 39_000;
    let mut amount = 10.0 + mix as f64 / 100.0;
    if FRAUDS.contains(&j) || NEAR_MISSES.contains(&j) {
        amount = 0.50;
    }
    if j >= 5 && FRAUDS.contains(&(j - 5)) {
        amount = 750.00;
        timestamp -= 1_000;
    }
    if j >= 10 && NEAR_MISSES.contains(&(j - 10)) {
        amount = 900.00;
    }
    Transaction { account, timestamp, amount }
}

/// Flags small-then-large within a minute, per account.
#[derive(Clone, Default)]
struct FraudDetector {
    flag: Option<ValueState<bool>>,
    timer: Option<ValueState<i64>>,
}

impl FraudDetector {
    fn clean_up(&self, ctx: &mut KeyedContext<'_, u64>) -> FnResult {
        if let Some(timer) = self.timer.as_ref().ok_or("not opened")?.value()? {
            ctx.timer_service().delete_event_time_timer(timer);
        }
        self.timer.as_ref().ok_or("not opened")?.clear()?;
        self.flag.as_ref().ok_or("not opened")?.clear()?;
        Ok(())
    }
}

impl KeyedProcessFunction<u64, Transaction, Alert> for FraudDetector {
    fn open(&mut self, ctx: &mut RuntimeContext) -> FnResult {
        self.flag = Some(ctx.get_state(&ValueStateDescriptor::new("flag"))?);
        self.timer = Some(ctx.get_state(&ValueStateDescriptor::new("timer-state"))?);
        Ok(())
    }

    fn process_element(
        &mut self,
        transaction: Transaction,
        ctx: &mut KeyedContext<'_, u64>,
        out: &mut Collector<'_, Alert>,
    ) -> FnResult {
        let flag = self.flag.as_ref().ok_or("not opened")?;
        if flag.value()?.is_some() {
            if transaction.amount > LARGE {
                out.collect(Alert { account: transaction.account, timestamp: transaction.timestamp });
            }
            self.clean_up(ctx)?;
        }
        if transaction.amount < SMALL {
            flag.update(true)?;
            let timer = transaction.timestamp + ONE_MINUTE;
            ctx.timer_service().register_event_time_timer(timer);
            self.timer.as_ref().ok_or("not opened")?.update(timer)?;
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _timestamp: i64,
        _ctx: &mut OnTimerContext<'_, u64>,
        _: &mut Collector<'_, Alert>,
    ) -> FnResult {
        // A minute passed without a large transaction.
        self.timer.as_ref().ok_or("not opened")?.clear()?;
        self.flag.as_ref().ok_or("not opened")?.clear()?;
        Ok(())
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("fraud_detection", "Flags accounts with a small transaction followed by a large one.")
            .flag(Flag::value("transactions", "N", "the number of transactions to generate (default: 2000)"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    let count: u64 = params.parsed("transactions")?.unwrap_or(2_000);

    // One source subtask (and the timestamp assigner chained to it), as Flink's
    // walkthrough has: the detector reacts to each account's transactions in the order
    // they arrive, and a single upstream subtask keeps that order (records from one
    // subtask to another never overtake each other).
    env.from_generator(transaction, Some(count))
        .name("transactions")
        .set_parallelism(1)
        .assign_timestamps(
            WatermarkStrategy::for_bounded_out_of_orderness(std::time::Duration::from_secs(5)),
            |t, _| t.timestamp,
        )
        .set_parallelism(1)
        .key_by(|t| t.account)
        .process_function(FraudDetector::default())
        .name("fraud-detector")
        .uid("fraud-detector")
        .print();

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }
    env.execute("Fraud Detection")?;
    Ok(())
}

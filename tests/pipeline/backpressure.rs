//! Backpressure: a slow sink slows the source, so the records in flight stay bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::env;

#[test]
fn a_slow_sink_bounds_the_records_in_flight() {
    const BATCH: u64 = 64;
    const BUFFERS: u64 = 2;
    const RECORDS: u64 = 200_000;
    let env = env(1);
    env.set_config("execution.records-per-batch", &BATCH.to_string()).unwrap();
    env.set_config("taskmanager.network.memory.buffers-per-channel", &BUFFERS.to_string()).unwrap();

    let produced = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let (p, m) = (produced.clone(), max_in_flight.clone());
    let mut consumed = 0u64;
    env.from_generator(
        move |i| {
            p.fetch_add(1, Ordering::SeqCst);
            i
        },
        Some(RECORDS),
    )
    .map(|x: u64| x + 1)
    .disable_chaining()
    .add_sink(move |_: u64| {
        consumed += 1;
        let in_flight = produced.load(Ordering::SeqCst) - consumed;
        m.fetch_max(in_flight, Ordering::SeqCst);
        if consumed % 2_000 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .disable_chaining();
    let result = env.execute("backpressure").unwrap();
    assert_eq!(result.vertex("Sink").unwrap().records_out, RECORDS);

    // Two channels (source -> map -> sink), each holding BUFFERS batches, plus the batch
    // each task has in hand and the partly filled batch each writer buffers.
    let bound = 2 * BUFFERS * BATCH + 3 * BATCH + 2 * BATCH;
    let seen = max_in_flight.load(Ordering::SeqCst);
    assert!(seen <= bound, "{seen} records were in flight; the bound is {bound}");
    assert!(result.vertex("Source").unwrap().back_pressured_time > Duration::ZERO, "the source had to wait");
}

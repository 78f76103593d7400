//! Event-time windows on out-of-order data: sliding windows, allowed lateness, and a
//! side output for data later than that.
//!
//! ```text
//! cargo run --release --example event_time_windows [-- --events 300] [-p 2] [--plan]
//! ```
//!
//! Three sensors report a reading every second of event time. Readings arrive out of
//! order (up to 3 s behind the newest one), and a few arrive much later (20 s and 60 s).
//! The job computes each sensor's average over sliding windows of 10 s every 5 s, in
//! event time: the watermark trails the newest reading by 3 s, so out-of-order readings
//! still land in their windows. Windows are kept 15 s after their end (allowed
//! lateness): a reading 20 s late updates its windows and they fire again (marked
//! `update`); a reading 60 s late is past even that and goes to the late-data side
//! output, printed as `late`.
//!
//! The watermark is emitted after every reading (a punctuated generator), so the output
//! is the same on every run, whatever the speed of the machine.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use spate::prelude::*;
use spate::{WatermarkGenerator, WatermarkOutput};

/// One reading of a sensor.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reading {
    sensor: u32,
    timestamp: i64,
    value: f64,
}

/// A window's result.
#[derive(Clone, Serialize, Deserialize)]
struct Average {
    sensor: u32,
    start: i64,
    end: i64,
    readings: u64,
    average: f64,
    /// Fired again for a late reading.
    update: bool,
}

/// `print()` shows records by `Debug`: this one reads as a line of the report.
impl std::fmt::Debug for Average {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sensor {} [{:>3}s, {:>3}s): {:>2} readings, average {:6.2}{}",
            self.sensor,
            self.start / 1_000,
            self.end / 1_000,
            self.readings,
            self.average,
            if self.update { "  (update)" } else { "" }
        )
    }
}

/// A reading too late for its windows.
#[derive(Clone, Serialize, Deserialize)]
struct Late(Reading);

impl std::fmt::Debug for Late {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.0;
        write!(
            f,
            "late: sensor {} at {}s ({:.1}), after its windows were dropped",
            r.sensor,
            r.timestamp / 1_000,
            r.value
        )
    }
}

const OUT_OF_ORDERNESS: i64 = 3_000;

/// Reading `j`: sensor `j % 3`, at second `j / 3`, shifted up to 3 s back; every 50th
/// reading 20 s late, every 97th 60 s late.
fn reading(j: u64) -> Reading {
    let mix = j.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    let mut timestamp = (j / 3) as i64 * 1_000 - (mix % 3_000) as i64;
    if j % 50 == 49 {
        timestamp -= 20_000;
    }
    if j % 97 == 96 {
        timestamp -= 60_000;
    }
    Reading { sensor: (j % 3) as u32, timestamp: timestamp.max(0), value: (mix % 1_000) as f64 / 10.0 }
}

/// A watermark after every reading: the newest timestamp minus the out-of-orderness.
#[derive(Clone)]
struct AfterEveryReading {
    newest: i64,
}

impl WatermarkGenerator<Reading> for AfterEveryReading {
    fn on_event(&mut self, _: &Reading, timestamp: i64, output: &mut WatermarkOutput) {
        self.newest = self.newest.max(timestamp);
        output.emit_watermark(self.newest - OUT_OF_ORDERNESS - 1);
    }

    fn on_periodic_emit(&mut self, _: &mut WatermarkOutput) {}
}

/// Sum and count of readings.
#[derive(Clone)]
struct Mean;

impl AggregateFunction<Reading, (f64, u64), (f64, u64)> for Mean {
    fn create_accumulator(&mut self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add(&mut self, r: Reading, acc: &mut (f64, u64)) {
        *acc = (acc.0 + r.value, acc.1 + 1);
    }
    fn get_result(&mut self, acc: &(f64, u64)) -> (f64, u64) {
        *acc
    }
    fn merge(&mut self, a: (f64, u64), b: (f64, u64)) -> (f64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// Turns a window's sum and count into an [`Average`]; knows a window fired before from
/// its per-window state.
#[derive(Clone)]
struct ToAverage;

impl ProcessWindowFunction<(f64, u64), Average, u32, TimeWindow> for ToAverage {
    fn process(
        &mut self,
        sensor: &u32,
        ctx: &mut WindowContext<'_, TimeWindow>,
        sums: &[(f64, u64)],
        out: &mut Collector<'_, Average>,
    ) -> FnResult {
        let fired = ctx.window_state()?.get_state(&ValueStateDescriptor::<bool>::new("fired"))?;
        let update = fired.value()?.unwrap_or(false);
        fired.update(true)?;
        let (sum, readings) = sums[0];
        let window = *ctx.window();
        out.collect(Average {
            sensor: *sensor,
            start: window.start,
            end: window.end,
            readings,
            average: sum / readings as f64,
            update,
        });
        Ok(())
    }
}

fn main() -> spate::Result<()> {
    let params = Params::from_args_or_exit(
        &Usage::new("event_time_windows", "Averages out-of-order sensor readings in sliding event-time windows.")
            .flag(Flag::value("events", "N", "the number of readings to generate (default: 300)"))
            .flag(Flag::switch("plan", "prints the job's plan (JSON) instead of running it")),
    );
    let env = StreamEnv::from_params(&params)?;
    let events: u64 = params.parsed("events")?.unwrap_or(300);

    let late = OutputTag::<Reading>::new("late-readings");
    let averages = env
        .from_source_with_timestamps(
            GeneratorSource::new(reading, Some(events)),
            WatermarkStrategy::for_generator(|| AfterEveryReading { newest: i64::MIN / 2 }),
            |r, _| r.timestamp,
        )
        .name("readings")
        // One source subtask, so that readings keep the order the generator gives them.
        .set_parallelism(1)
        .key_by(|r| r.sensor)
        .window(SlidingEventTimeWindows::of(Duration::from_secs(10), Duration::from_secs(5)))
        .allowed_lateness(Duration::from_secs(15))
        .side_output_late_data(&late)
        .aggregate_with_function(Mean, ToAverage)
        .name("averages")
        .uid("averages");
    averages.print();
    averages.side_output(&late).map(Late).print();

    if params.has("plan") {
        println!("{}", env.execution_plan()?);
        return Ok(());
    }
    env.execute("Event Time Windows")?;
    Ok(())
}

//! The benchmark runner. One JSON line per result:
//!
//! ```text
//! cargo run --release -p spate-bench -- [--bench NAME|all ...] [--p 1,2] [--runs 3]
//!     [--size-mb 200] [--records 50000000] [--keys 1000000] [--data DIR] [-D key=value ...]
//! ```
//!
//! Each measurement runs in a child process of its own, so that its peak RSS is its
//! own; with `--runs N` the median by time is reported.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use spate::Params;
use spate_bench::gen_text::TextGenerator;
use spate_bench::{jobs, peak_rss_bytes, plain};

fn main() -> Result<()> {
    let params = Params::from_args();
    params.check()?;
    if let Some(what) = params.get("child") {
        return child(what, &params);
    }
    let benches: Vec<String> = match params.get_all("bench").as_slice() {
        [] | ["all"] => [
            "wordcount",
            "keyed_sum",
            "keyed_state",
            "window",
            "window_disorder",
            "window_sliding_10s",
            "window_sliding_1s",
        ]
        .map(String::from)
        .to_vec(),
        list => list.iter().map(|s| s.to_string()).collect(),
    };
    let parallelisms: Vec<u32> = params
        .get_or("p", "1,2")
        .split(',')
        .map(|p| p.trim().parse().context("--p takes a list like 1,2"))
        .collect::<Result<_>>()?;
    let runs: usize = params.parsed("runs")?.unwrap_or(3);
    let size_mb: u64 = params.parsed("size-mb")?.unwrap_or(200);
    let records: u64 = params.parsed("records")?.unwrap_or(50_000_000);
    let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
    let data = PathBuf::from(params.get_or("data", "benches/data"));
    // Configuration for the Spate jobs, passed on to each measurement.
    let settings: Vec<String> =
        params.dynamic_properties().iter().flat_map(|d| ["-D".to_string(), d.clone()]).collect();
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    eprintln!("# {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));

    for bench in &benches {
        // Arguments common to the plain loop and the Spate job of this benchmark.
        let common: Vec<String> = match bench.as_str() {
            "wordcount" => {
                let (input, words) = text_file(&data, size_mb)?;
                vec!["--input".into(), input.to_string_lossy().into(), "--records".into(), words.to_string()]
            }
            "snapshot_cost" => {
                let args = ["--records".to_string(), "0".into(), "--keys".into(), keys.to_string()];
                for p in &parallelisms {
                    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                    let p = p.to_string();
                    args.extend(["--p", p.as_str()]);
                    args.extend(&settings);
                    let exe = std::env::current_exe()?;
                    let out = Command::new(&exe).arg("--child").arg("snapshot_cost").args(&args).output()?;
                    if !out.status.success() {
                        bail!("snapshot_cost failed: {}", String::from_utf8_lossy(&out.stderr));
                    }
                    print!("{}", String::from_utf8_lossy(&out.stdout));
                }
                continue;
            }
            "keyed_sum"
            | "keyed_sum_crossing"
            | "keyed_state"
            | "window"
            | "window_disorder"
            | "window_sliding_10s"
            | "window_sliding_1s"
            | "window_sliding_10s_per_window" => {
                vec!["--records".into(), records.to_string(), "--keys".into(), keys.to_string()]
            }
            other => bail!(
                "unknown benchmark '{other}' (wordcount, keyed_sum, keyed_sum_crossing, keyed_state, window, \
                 window_disorder, \
                 window_sliding_10s, window_sliding_1s, window_sliding_10s_per_window, snapshot_cost, all)"
            ),
        };
        let common: Vec<&str> = common.iter().map(String::as_str).collect();
        // The keyed-state job does the keyed sum's work, so it shares its plain loop;
        // the window jobs are compared with Flink's figures only.
        let plain = match bench.as_str() {
            "keyed_state" | "keyed_sum_crossing" => Some(measure("keyed_sum_plain_loop", &common, runs)?),
            name if name.starts_with("window") => None,
            name => Some(measure(&format!("{name}_plain_loop"), &common, runs)?),
        };
        if let Some(plain) = &plain {
            println!("{plain}");
        }
        for p in &parallelisms {
            let p = p.to_string();
            let mut args = common.clone();
            args.extend(["--p", p.as_str()]);
            args.extend(&settings);
            measure_vs(bench, &args, runs, plain.as_ref())?;
        }
    }
    Ok(())
}

/// The reference text of `size_mb` MiB, generated once into `data`; returns its path
/// and word count.
fn text_file(data: &Path, size_mb: u64) -> Result<(PathBuf, u64)> {
    let path = data.join(format!("text-{size_mb}mb.txt"));
    let words_path = data.join(format!("text-{size_mb}mb.words"));
    if let (true, Ok(words)) = (path.exists(), std::fs::read_to_string(&words_path)) {
        return Ok((path, words.trim().parse()?));
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    eprintln!("# generating {} ({size_mb} MiB)", path.display());
    let started = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    let stats = TextGenerator::reference().write(&mut out, size_mb << 20)?;
    out.flush()?;
    std::fs::write(&words_path, stats.words.to_string())?;
    eprintln!(
        "# generated {} bytes, {} lines, {} words in {:.1} s",
        stats.bytes,
        stats.lines,
        stats.words,
        started.elapsed().as_secs_f64()
    );
    Ok((path, stats.words))
}

/// Runs one measurement `runs` times in child processes; prints and returns the median.
fn measure(name: &str, args: &[&str], runs: usize) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for _ in 0..runs.max(1) {
        let out = Command::new(&exe).arg("--child").arg(name).args(args).output()?;
        if !out.status.success() {
            bail!("{name} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let line = String::from_utf8(out.stdout)?;
        results.push(serde_json::from_str::<Value>(line.trim()).with_context(|| format!("{name} printed {line}"))?);
    }
    results
        .sort_by(|a, b| a["seconds"].as_f64().partial_cmp(&b["seconds"].as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    let mut median = results[results.len() / 2].clone();
    median["runs"] = json!(results.len());
    Ok(median)
}

fn measure_vs(name: &str, args: &[&str], runs: usize, plain: Option<&Value>) -> Result<()> {
    let mut result = measure(name, args, runs)?;
    if let Some(plain) = plain {
        let ratio =
            result["records_per_sec"].as_f64().unwrap_or(0.0) / plain["records_per_sec"].as_f64().unwrap_or(1.0);
        result["vs_plain_loop"] = json!((ratio * 1000.0).round() / 1000.0);
    }
    println!("{result}");
    Ok(())
}

/// One measurement, in this (child) process.
fn child(what: &str, params: &Params) -> Result<()> {
    let records: u64 = params.parsed("records")?.context("--records")?;
    let p: u32 = params.parsed("p")?.unwrap_or(1);
    let settings: Vec<&str> = params.dynamic_properties().iter().map(String::as_str).collect();
    let scratch = std::env::temp_dir().join(format!("spate-bench-{}", std::process::id()));
    let (seconds, parallelism): (Duration, u32) = match what {
        "wordcount" | "wordcount_plain_loop" => {
            let input = PathBuf::from(params.required("input")?);
            let _ = std::fs::remove_dir_all(&scratch);
            std::fs::create_dir_all(&scratch)?;
            let elapsed = if what == "wordcount" {
                (jobs::wordcount(&input, &scratch.join("out"), p, &settings)?, p)
            } else {
                let started = Instant::now();
                let words = plain::wordcount(&input, &scratch.join("out.txt"))?;
                if words != records {
                    bail!("the plain loop counted {words} words, the generator wrote {records}");
                }
                (started.elapsed(), 1)
            };
            std::fs::remove_dir_all(&scratch)?;
            elapsed
        }
        "keyed_sum" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            (jobs::keyed_sum(records, keys, p, &settings)?, p)
        }
        "keyed_state" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            (jobs::keyed_state(records, keys, p, &settings)?, p)
        }
        "keyed_sum_crossing" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            (jobs::keyed_sum_crossing(records, keys, p, &settings)?, p)
        }
        "window" | "window_disorder" | "window_sliding_10s" | "window_sliding_1s" | "window_sliding_10s_per_window" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            let kind = match what {
                "window" => jobs::WindowKind::Tumbling,
                "window_disorder" => jobs::WindowKind::TumblingDisordered,
                "window_sliding_10s" => jobs::WindowKind::Sliding(10),
                "window_sliding_10s_per_window" => jobs::WindowKind::SlidingPerWindow(10),
                _ => jobs::WindowKind::Sliding(1),
            };
            (jobs::window(records, keys, kind, p, &settings)?, p)
        }
        "snapshot_cost" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            let _ = std::fs::remove_dir_all(&scratch);
            let cost = jobs::snapshot_cost(keys, p, &scratch, &settings)?;
            let _ = std::fs::remove_dir_all(&scratch);
            let line = json!({
                "name": what,
                "parallelism": p,
                "keys": keys,
                "savepoint_seconds": (cost.savepoint.as_secs_f64() * 1000.0).round() / 1000.0,
                "savepoint_mb": (cost.bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
                "sync_seconds": (cost.sync.as_secs_f64() * 1000.0).round() / 1000.0,
                "restore_seconds": (cost.restore.as_secs_f64() * 1000.0).round() / 1000.0,
                "peak_rss_mb": peak_rss_bytes().map(|b| (b as f64 / 1048576.0 * 10.0).round() / 10.0),
            });
            println!("{line}");
            return Ok(());
        }
        "keyed_sum_plain_loop" => {
            let keys: u64 = params.parsed("keys")?.unwrap_or(1_000_000);
            let started = Instant::now();
            let distinct = plain::keyed_sum(records, keys);
            if distinct == 0 {
                bail!("no keys were summed");
            }
            (started.elapsed(), 1)
        }
        other => bail!("unknown measurement '{other}'"),
    };
    let secs = seconds.as_secs_f64();
    let line = json!({
        "name": what,
        "settings": settings,
        "parallelism": parallelism,
        "records": records,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "records_per_sec": (records as f64 / secs).round(),
        "peak_rss_mb": peak_rss_bytes().map(|b| (b as f64 / 1048576.0 * 10.0).round() / 10.0),
    });
    println!("{line}");
    Ok(())
}

//! `spate list [-a]` and `spate cancel JOB_ID`, in the formats of Flink's CLI.

use anyhow::{Result, bail};
use serde_json::Value;

use crate::rest::{Rest, errors};

/// A time in ms since the epoch as Flink's CLI prints it, `dd.MM.yyyy HH:mm:ss` (UTC).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{day:02}.{month:02}.{year} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn line(job: &Value) -> String {
    format!(
        "{} : {} : {} ({})",
        format_time(job["start-time"].as_i64().unwrap_or(0)),
        job["jid"].as_str().unwrap_or(""),
        job["name"].as_str().unwrap_or(""),
        job["state"].as_str().unwrap_or("")
    )
}

/// Which of `spate list`'s sections to print.
pub struct Sections {
    /// Running and restarting jobs (`-r`).
    pub running: bool,
    /// Scheduled jobs (`-s`).
    pub scheduled: bool,
    /// Jobs that ended (`-a`).
    pub ended: bool,
}

/// `spate list`: running and restarting jobs, scheduled jobs, the ended ones, as
/// `sections` asks.
pub fn list(rest: &Rest, sections: Sections) -> Result<()> {
    println!("Waiting for response...");
    let (status, overview) = rest.call("GET", "/jobs/overview")?;
    if status != 200 {
        bail!("the JobManager at {} answered {status} {}", rest.address, errors(&overview));
    }
    let jobs = overview["jobs"].as_array().cloned().unwrap_or_default();
    let state = |j: &Value| j["state"].as_str().unwrap_or("").to_string();
    // Flink's grouping: CREATED is scheduled, the globally terminal states are
    // terminated, everything else (SUSPENDED and INITIALIZING included) is running.
    let scheduled: Vec<&Value> = jobs.iter().filter(|j| state(j) == "CREATED").collect();
    let ended: Vec<&Value> =
        jobs.iter().filter(|j| matches!(state(j).as_str(), "FINISHED" | "FAILED" | "CANCELED")).collect();
    let running: Vec<&Value> =
        jobs.iter().filter(|j| !matches!(state(j).as_str(), "CREATED" | "FINISHED" | "FAILED" | "CANCELED")).collect();
    let section = |title: &str, jobs: &[&Value], none: &str| {
        if jobs.is_empty() {
            println!("{none}");
        } else {
            println!("{title}");
            let mut sorted = jobs.to_vec();
            sorted.sort_by_key(|j| j["start-time"].as_i64().unwrap_or(0));
            for j in sorted {
                println!("{}", line(j));
            }
            println!("--------------------------------------------------------------");
        }
    };
    if sections.running {
        section("------------------ Running/Restarting Jobs -------------------", &running, "No running jobs.");
    }
    if sections.scheduled {
        section("----------------------- Scheduled Jobs -----------------------", &scheduled, "No scheduled jobs.");
    }
    if sections.ended {
        section("---------------------- Terminated Jobs -----------------------", &ended, "No terminated jobs.");
    }
    Ok(())
}

/// `spate cancel JOB_ID`.
pub fn cancel(rest: &Rest, id: &str) -> Result<()> {
    println!("Cancelling job {id}.");
    let (status, answer) = rest.call("PATCH", &format!("/jobs/{id}"))?;
    match status {
        202 => {
            println!("Cancelled job {id}.");
            Ok(())
        }
        _ => bail!("cannot cancel job {id}: {}", errors(&answer)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_as_flinks_cli_prints_them() {
        // 2026-11-21 05:45:15 UTC, as in Flink's `list` sample.
        assert_eq!(super::format_time(1_795_239_915_137), "21.11.2026 05:45:15");
        assert_eq!(super::format_time(0), "01.01.1970 00:00:00");
        assert_eq!(super::format_time(951_782_400_000), "29.02.2000 00:00:00");
    }
}

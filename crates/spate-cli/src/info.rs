//! `spate info APP [ARGS]`: the first job of APP as planned, as JSON (the JobGraph:
//! vertices with their chained operators, edges, parallelism, fingerprint) or, with
//! `--dot`, as a Graphviz picture. APP runs in the `info` role: its `main` runs up to
//! the first `execute`, which reports the plan instead of running the job.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use spate_core::launch::{PLAN_OUT_ENV, PlanReport, VERSION};

use crate::app;

/// Runs APP in the info role and prints its plan.
pub fn run(app_path: &std::path::Path, args: &[String], dot: bool) -> Result<()> {
    let app = app::resolve(app_path)?;
    // A file of our own (created here, never one someone put in its place) for the plan.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let out = std::env::temp_dir().join(format!("spate-info-{}-{nanos}.json", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let _cleanup = RemoveOnDrop(out.clone());
    let output = app::command(&app, args, "info")
        .env(PLAN_OUT_ENV, &out)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", app.display()))?;
    // What the program printed is not the plan: it goes to stderr.
    eprint!("{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    let text = std::fs::read(&out).unwrap_or_default();
    if text.is_empty() {
        if !output.status.success() {
            bail!("{} failed before planning a job ({})", app.display(), output.status);
        }
        bail!(
            "{} ended without planning a job: it is not a Spate application, or it never calls execute",
            app.display()
        );
    }
    let report: PlanReport = serde_json::from_slice(&text)
        .with_context(|| format!("{} reported a plan this spate cannot read (Spate {VERSION})", app.display()))?;
    if report.spate_version != VERSION {
        bail!("{} was built with Spate {}; this spate is {VERSION}", app.display(), report.spate_version);
    }
    if dot {
        print!("{}", report.job_graph.to_dot());
    } else {
        println!("{}", report.job_graph.to_json());
    }
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

//! `spate savepoint JOB_ID [DIR]`, `spate savepoint -d PATH` and `spate stop
//! [--savepointPath DIR] JOB_ID`, with Flink's flags and lines: the request goes to the
//! JobManager's REST endpoint, and the command waits for the savepoint to complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::rest::{Rest, errors};

/// How long the CLI waits for a savepoint (Flink's client waits without bound; a
/// savepoint that takes this long is better looked at over REST).
const PATIENCE: Duration = Duration::from_secs(600);

/// `canonical` or `native` (`--type`), as Flink's `formatType`.
pub fn format_type(kind: Option<&str>) -> Result<&'static str> {
    match kind.map(str::to_ascii_lowercase).as_deref() {
        None | Some("canonical") => Ok("CANONICAL"),
        Some("native") => Ok("NATIVE"),
        Some(other) => bail!("--type {other}: expected canonical or native"),
    }
}

/// A directory as the JobManager needs it: absolute (relative to where the command runs).
pub fn absolute(dir: &str) -> Result<String> {
    if spate_core::config::fault_tolerance::is_absolute_location(dir) {
        return Ok(dir.to_string());
    }
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    Ok(cwd.join(dir).display().to_string())
}

/// `spate savepoint JOB_ID [DIR]`.
pub fn trigger(rest: &Rest, job: &str, dir: Option<&str>, format: &str) -> Result<()> {
    let mut body = json!({ "cancel-job": false, "formatType": format });
    if let Some(dir) = dir {
        body["target-directory"] = json!(absolute(dir)?);
    }
    println!("Triggering savepoint for job {job}.");
    let path = await_savepoint(rest, job, &format!("/jobs/{job}/savepoints"), &body)?;
    println!("Savepoint completed. Path: {path}");
    println!("You can resume your program from this savepoint with the run command.");
    Ok(())
}

/// `spate stop [--savepointPath DIR] [--drain] JOB_ID`.
pub fn stop(rest: &Rest, job: &str, dir: Option<&str>, drain: bool, format: &str) -> Result<()> {
    let mut body = json!({ "drain": drain, "formatType": format });
    if let Some(dir) = dir {
        body["targetDirectory"] = json!(absolute(dir)?);
    }
    println!("Suspending job \"{job}\" with a {format} savepoint.");
    println!("Triggering stop-with-savepoint for job {job}.");
    let path = await_savepoint(rest, job, &format!("/jobs/{job}/stop"), &body)?;
    println!("Savepoint completed. Path: {path}");
    Ok(())
}

/// Posts the request and polls its status until it completed; the savepoint's path.
fn await_savepoint(rest: &Rest, job: &str, path: &str, body: &Value) -> Result<String> {
    let (status, answer) = rest.post(path, body)?;
    if status != 202 {
        bail!("cannot take a savepoint of job {job}: {}", errors(&answer));
    }
    let trigger = answer["request-id"].as_str().context("the JobManager's answer has no request-id")?.to_string();
    println!("Waiting for response...");
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(10);
    loop {
        let (status, answer) = rest.call("GET", &format!("/jobs/{job}/savepoints/{trigger}"))?;
        if status != 200 {
            bail!("cannot follow the savepoint of job {job}: {}", errors(&answer));
        }
        if answer["status"]["id"] == "COMPLETED" {
            let operation = &answer["operation"];
            if let Some(location) = operation["location"].as_str() {
                return Ok(location.to_string());
            }
            let cause = operation["failure-cause"]["stack-trace"].as_str().unwrap_or("unknown cause");
            bail!("the savepoint of job {job} failed: {cause}");
        }
        if Instant::now() >= deadline {
            bail!("the savepoint of job {job} did not complete within {} s (trigger {trigger})", PATIENCE.as_secs());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// `spate savepoint -d PATH`: removes a savepoint's directory, once it is sure it is one
/// (it holds `_metadata` and nothing but the savepoint's files).
pub fn dispose(path: &str) -> Result<()> {
    println!("Disposing savepoint '{path}'.");
    let dir = PathBuf::from(path.strip_prefix("file://").or_else(|| path.strip_prefix("file:")).unwrap_or(path));
    let dir = if dir.file_name().is_some_and(|n| n == "_metadata") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    };
    if !dir.join("_metadata").is_file() {
        bail!("{} is not a savepoint: it holds no _metadata", dir.display());
    }
    for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type()?.is_file() || !(name == "_metadata" || name.starts_with("state-")) {
            bail!("{} holds {name}, which no savepoint writes: not removing it", dir.display());
        }
    }
    std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    println!("Savepoint '{path}' disposed.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_savepoint_directory_is_disposed() {
        let dir = std::env::temp_dir().join(format!("spate-dispose-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(dispose(dir.to_str().unwrap()).unwrap_err().to_string().contains("no _metadata"));
        std::fs::write(dir.join("_metadata"), b"x").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        assert!(dispose(dir.to_str().unwrap()).unwrap_err().to_string().contains("notes.txt"));
        std::fs::remove_file(dir.join("notes.txt")).unwrap();
        std::fs::write(dir.join("state-0-1"), b"s").unwrap();
        dispose(&format!("file://{}", dir.join("_metadata").display())).unwrap();
        assert!(!dir.exists());
        assert_eq!(format_type(Some("Native")).unwrap(), "NATIVE");
        assert!(format_type(Some("fast")).is_err());
    }
}

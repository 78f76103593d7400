//! `spate info APP`: the plan of APP's first job, from the real binary in the `info`
//! role, and the errors for an APP that is missing, not executable, not a Spate
//! application, or of another Spate version.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// The test application (`tests/apps/test_app.rs`), built beside the tests.
fn test_app() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let app = deps.parent().unwrap().join("examples/test_app");
    assert!(app.exists(), "{} is built by `cargo test -p spate-cli`", app.display());
    app
}

fn spate(args: &[&str]) -> Output {
    Command::new(SPATE).args(args).env_remove("SPATE_ROLE").output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn info_prints_the_job_graph_the_arguments_build() {
    let app = test_app();
    let out = spate(&["info", app.to_str().unwrap(), "--parallelism", "3", "--say-hello"]);
    assert!(out.status.success(), "{}", text(&out));
    // Standard output is the plan alone; the program's own output goes to stderr.
    let plan: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hello from main"));
    assert_eq!(plan["job_name"], "test-app");
    let vertices = plan["vertices"].as_array().unwrap();
    let count = vertices.iter().find(|v| v["name"].as_str().unwrap().contains("count")).expect("the count vertex");
    assert_eq!(count["parallelism"], 3);
    assert!(!plan["fingerprint"].as_str().unwrap().is_empty());

    let other = spate(&["info", app.to_str().unwrap(), "--parallelism", "5"]);
    let other: Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_ne!(other["fingerprint"], plan["fingerprint"], "another pipeline, another fingerprint");

    let dot = spate(&["info", "--dot", app.to_str().unwrap()]);
    assert!(dot.status.success(), "{}", text(&dot));
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph job") && dot.contains("parallelism 2"), "{dot}");
}

#[test]
fn an_app_that_is_missing_not_executable_or_not_spate_is_named() {
    let out = spate(&["info", "/no/such/app"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("APP /no/such/app: no such file"), "{}", text(&out));

    let dir = std::env::temp_dir().join(format!("spate-info-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = spate(&["info", plain.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text(&out).contains("is not executable"), "{}", text(&out));

    let out = spate(&["info", "/bin/true"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not a Spate application"), "{}", text(&out));
    let out = spate(&["info", "/bin/false"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("failed before planning a job"), "{}", text(&out));
}

#[test]
fn an_app_refuses_a_launcher_of_another_version() {
    let out = Command::new(test_app())
        .env("SPATE_ROLE", "info")
        .env("SPATE_LAUNCHER_VERSION", "9.9.9")
        .env("SPATE_PLAN_OUT", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let printed = text(&out);
    let ours = format!("built with Spate {}", env!("CARGO_PKG_VERSION"));
    assert!(printed.contains(&ours) && printed.contains("Spate 9.9.9"), "{printed}");
}

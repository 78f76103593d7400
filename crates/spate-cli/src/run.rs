//! `spate run [-m HOST:PORT] [-p N] [-D key=value]... APP [ARGS...]`: uploads APP to
//! the JobManager (content-addressed: a binary it already has is not sent again), then
//! runs APP here in the client role, whose `execute` calls submit jobs to the cluster.

use std::path::Path;

use anyhow::{Context, Result, bail};
use spate_core::launch::{ARTIFACT_ENV, CLIENT_CONFIG_ENV, REST_ENV, TOKEN_ENV};

use crate::app;
use crate::rest::{Rest, errors};

/// What `spate run` was given.
pub struct RunArgs<'a> {
    pub jobmanager: Option<&'a str>,
    pub parallelism: Option<u32>,
    pub detached: bool,
    pub dynamic: &'a [String],
    pub app: &'a Path,
    pub args: &'a [String],
}

/// Uploads and runs; returns APP's exit code.
pub fn run(run: RunArgs<'_>, config: &spate_core::config::Configuration) -> Result<i32> {
    let app = app::resolve(run.app)?;
    let rest = Rest::locate(run.jobmanager, config)?;
    // Hashed and uploaded a piece at a time: a large binary is never held in memory.
    let hash = spate_cluster::jobmanager::artifact_store::sha256_file(&app)
        .with_context(|| format!("cannot read {}", app.display()))?;
    let path = format!("/artifacts/{hash}");
    let (status, answer) = rest.call("HEAD", &path, None)?;
    match status {
        200 => tracing::debug!(%hash, "the JobManager has the application already"),
        404 => {
            let file = std::fs::File::open(&app).with_context(|| format!("cannot read {}", app.display()))?;
            let (status, answer) = rest.upload(&path, &file)?;
            if status != 201 {
                bail!(
                    "uploading {} to the JobManager at {} failed: {status} {}",
                    app.display(),
                    rest.address,
                    errors(&answer)
                );
            }
        }
        401 => bail!("the JobManager at {} needs security.auth.token", rest.address),
        other => bail!("the JobManager at {} answered {other} {}", rest.address, errors(&answer)),
    }
    // `-p` and `-D` of `spate run` go to the program's configuration.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(p) = run.parallelism {
        pairs.push(("parallelism.default".into(), p.to_string()));
    }
    for d in run.dynamic {
        let (k, v) = d.split_once('=').with_context(|| format!("-D {d}: expected key=value"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut command = app::command(&app, run.args, "client");
    command
        .env(REST_ENV, &rest.address)
        .env(ARTIFACT_ENV, &hash)
        .env(CLIENT_CONFIG_ENV, serde_json::to_string(&pairs)?);
    if let Some(token) = &rest.token {
        command.env(TOKEN_ENV, token);
    }
    if run.detached {
        command.env(spate_core::launch::DETACHED_ENV, "1");
    }
    let status = command.status().with_context(|| format!("cannot run {}", app.display()))?;
    Ok(status.code().unwrap_or(1))
}

//! The CLI's calls to the JobManager's REST endpoint: where it is (`-m`, the
//! configuration, or the endpoint file of a cluster started with port 0) and the calls,
//! with the shared secret when the configuration has one.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use spate_cluster::endpoints::{Endpoints, endpoint_file, pid_dir};
use spate_core::config::Configuration;
use spate_core::config::cluster as keys;

/// The JobManager's REST endpoint for the CLI.
pub struct Rest {
    /// `host:port`.
    pub address: String,
    /// `security.auth.token`.
    pub token: Option<String>,
    agent: ureq::Agent,
}

impl Rest {
    /// `-m HOST:PORT` if given; else `rest.address`:`rest.port`, or, with `rest.port: 0`,
    /// the address the running JobManager wrote to its endpoint file.
    pub fn locate(jobmanager: Option<&str>, config: &Configuration) -> Result<Rest> {
        let address = match jobmanager {
            Some(m) => m.trim_start_matches("http://").trim_end_matches('/').to_string(),
            None => match config.get(&keys::REST_PORT)? {
                0 => {
                    let file = endpoint_file(&pid_dir());
                    Endpoints::read(&file).map(|e| e.rest).with_context(|| {
                        format!("rest.port is 0 and no running JobManager is named in {}", file.display())
                    })?
                }
                port => format!("{}:{port}", config.get(&keys::REST_ADDRESS)?),
            },
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Rest { address, token: config.get(&keys::AUTH_TOKEN)?, agent })
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// `PUT path` with `file` as the body, streamed: status and JSON.
    pub fn upload(&self, path: &str, file: &std::fs::File) -> Result<(u16, Value)> {
        let url = format!("http://{}{path}", self.address);
        let mut r = self.agent.put(&url).header("Content-Type", "application/octet-stream");
        if let Some(a) = self.auth() {
            r = r.header("Authorization", &a);
        }
        let mut response =
            r.send(file).with_context(|| format!("cannot reach the JobManager at http://{}", self.address))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `method path` (GET, HEAD, PATCH): status and JSON; an unreachable JobManager is
    /// an error naming its address.
    pub fn call(&self, method: &str, path: &str) -> Result<(u16, Value)> {
        let url = format!("http://{}{path}", self.address);
        let result = match method {
            "GET" => self.agent.get(&url).call(),
            "HEAD" => {
                let mut r = self.agent.head(&url);
                if let Some(a) = self.auth() {
                    r = r.header("Authorization", &a);
                }
                r.call()
            }
            "PATCH" => {
                let mut r = self.agent.patch(&url);
                if let Some(a) = self.auth() {
                    r = r.header("Authorization", &a);
                }
                r.send_empty()
            }
            other => bail!("no such method {other}"),
        };
        let mut response = result.with_context(|| format!("cannot reach the JobManager at http://{}", self.address))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

impl Rest {
    /// `POST path` with `body` as JSON: status and JSON.
    pub fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let url = format!("http://{}{path}", self.address);
        let mut r = self.agent.post(&url).header("Content-Type", "application/json");
        if let Some(a) = self.auth() {
            r = r.header("Authorization", &a);
        }
        let mut response = r
            .send(body.to_string().as_bytes())
            .with_context(|| format!("cannot reach the JobManager at http://{}", self.address))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

/// The `errors` of a Flink-style error answer, joined.
pub fn errors(answer: &Value) -> String {
    answer["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
        .unwrap_or_default()
}

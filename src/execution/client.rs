//! The client role (`spate run APP`): `main` runs on the user's machine and each
//! `execute` submits its job to the cluster's JobManager over REST, prints Flink's
//! lines, and — attached — waits for the job's end, polling the JobManager.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spate_core::job_graph::JobGraph;
use spate_core::job_id::JobId;
use spate_core::launch::{ARTIFACT_ENV, REST_ENV, TOKEN_ENV};
use spate_runtime::accumulator::AccumulatorResults;
use spate_runtime::job_master::JobStatus;
use spate_runtime::sink::ResultPage;
use spate_runtime::worker_link::RecordedJob;

use super::job_client::{JobClient, JobExecutionResult, JobShared, VertexMetrics};
use crate::error::{Error, Result};

/// What `main` saw before a job, for that job's workers to replay.
pub(crate) struct Recorded {
    /// What the earlier jobs returned.
    pub jobs: Vec<RecordedJob>,
    /// The values of the side effects so far, encoded.
    pub side_effects: Vec<Vec<u8>>,
}

/// Where the cluster is, from the environment `spate run` set.
#[derive(Clone, Debug)]
pub(crate) struct ClusterClient {
    rest: String,
    artifact: String,
    token: Option<String>,
    agent: ureq::Agent,
}

fn http_error(what: String, error: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("{what}: {error}"))
}

impl ClusterClient {
    /// The cluster `spate run` named.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Error::Arguments(format!("the client role needs {name}: start this program with `spate run`"))
            })
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(ClusterClient {
            rest: var(REST_ENV)?,
            artifact: var(ARTIFACT_ENV)?,
            token: std::env::var(TOKEN_ENV).ok(),
            agent,
        })
    }

    /// Sends a request; the status and the body.
    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String)> {
        let url = format!("http://{}{path}", self.rest);
        let what = || format!("{method} {url}");
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut response = match (method, body) {
            ("POST", Some(body)) => {
                let mut request = self.agent.post(&url).header("Content-Type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send(serde_json::to_vec(body).unwrap_or_default())
            }
            ("PATCH", _) => {
                let mut request = self.agent.patch(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.send_empty()
            }
            _ => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
        }
        .map_err(|e| http_error(format!("cannot reach the JobManager ({})", what()), e))?;
        let status = response.status().as_u16();
        let text =
            response.body_mut().with_config().limit(u64::MAX).read_to_string().map_err(|e| http_error(what(), e))?;
        Ok((status, text))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, text) = self.request(method, path, body)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            let errors =
                value["errors"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "));
            let url = format!("http://{}{path}", self.rest);
            return Err(Error::Cluster(format!("{method} {url}: {status} {}", errors.unwrap_or(text))));
        }
        Ok(value)
    }

    /// A page of job `id`'s collected results from `offset` on (acknowledging those
    /// before it): `None` while no attempt of the job runs its sink (ask again).
    pub fn fetch_results(&self, id: &str, version: u64, offset: u64, max_bytes: u64) -> Result<Option<ResultPage>> {
        let path = format!("/jobs/{id}/results?version={version}&offset={offset}&max-bytes={max_bytes}");
        let (status, text) = self.request("GET", &path, None)?;
        if status == 503 {
            return Ok(None);
        }
        let bad = |reason: String| Error::Cluster(format!("GET {path}: {reason}"));
        if status >= 400 {
            return Err(bad(format!("{status} {text}")));
        }
        serde_json::from_str(&text).map(Some).map_err(|e| bad(format!("not a page of results: {e}")))
    }

    /// Submits job `index` and returns a handle that follows it.
    pub fn submit(
        &self,
        graph: JobGraph,
        index: u32,
        config: Vec<(String, String)>,
        recorded: Recorded,
    ) -> Result<JobClient> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        let name = graph.job_name.clone();
        let submission = json!({
            "artifact": self.artifact,
            "args": args,
            "cwd": cwd,
            "job_index": index,
            "job_graph": graph,
            "config": config,
            "recorded": recorded.jobs,
            "side_effects": recorded.side_effects,
        });
        let answer = self.call("POST", "/jobs", Some(&submission))?;
        let id = answer["jobid"].as_str().unwrap_or_default().to_string();
        let job_id: JobId = id.parse().map_err(|_| Error::Cluster(format!("the JobManager answered {answer}")))?;
        println!("Job has been submitted with JobID {id}");
        if let Some(path) = std::env::var_os(spate_core::launch::JOBS_FILE_ENV) {
            // For `spate run`: it tells a program that submitted none, and with -sae cancels
            // the jobs if this program ends abruptly.
            use std::io::Write as _;
            // `spate run` created it: never created (or followed elsewhere) here.
            let appended =
                std::fs::OpenOptions::new().append(true).open(&path).and_then(|mut file| writeln!(file, "{id}"));
            if let Err(error) = appended {
                tracing::warn!(%error, path = %std::path::Path::new(&path).display(), "cannot record the job for spate run");
            }
        }
        let (tx, _) = crossbeam_channel::unbounded();
        let graph_stub = JobGraph::new(name, spate_core::job_graph::ExecutionMode::Streaming, Vec::new(), Vec::new());
        let shared = JobShared::new(job_id, &graph_stub, &[], tx, JobStatus::Running, Default::default());
        let quiet = std::env::var_os(spate_core::launch::DETACHED_ENV).is_some();
        let follower = FollowJob { client: self.clone(), id, shared: shared.clone(), quiet };
        let handle = std::thread::Builder::new()
            .name("spate-client-follow".into())
            .spawn(move || follower.run())
            .map_err(|source| Error::Io { context: "cannot start the client's follower thread".into(), source })?;
        if let Ok(mut state) = shared.state.lock() {
            state.master = Some(handle);
        }
        Ok(JobClient { shared })
    }

    /// Asks the JobManager to cancel job `id`.
    pub fn cancel(&self, id: &str) -> Result<()> {
        self.call("PATCH", &format!("/jobs/{id}"), None).map(|_| ())
    }
}

/// Polls the JobManager until the job ended, then publishes its result.
struct FollowJob {
    client: ClusterClient,
    id: String,
    shared: Arc<JobShared>,
    /// Detached: `spate run` prints nothing of the job's end.
    quiet: bool,
}

impl FollowJob {
    fn run(self) {
        let result = self.follow();
        if let Ok(mut state) = self.shared.state.lock() {
            state.status = match &result {
                Ok(_) => JobStatus::Finished,
                Err(Error::JobCancelled { .. }) => JobStatus::Canceled,
                Err(_) => JobStatus::Failed,
            };
            state.result = Some(result);
        }
        self.shared.done.notify_all();
    }

    fn follow(&self) -> Result<JobExecutionResult> {
        let job = self.shared.job_name.clone();
        let mut failures = 0;
        let mut cancel_sent = false;
        let mut metrics_due = Instant::now();
        loop {
            // The counters live in the workers: the JobManager's sums, about twice a second.
            if Instant::now() >= metrics_due {
                metrics_due = Instant::now() + METRICS_EVERY;
                self.report_metrics();
            }
            if !cancel_sent && self.shared.user_cancelled.load(std::sync::atomic::Ordering::Acquire) {
                cancel_sent = true;
                if let Err(e) = self.client.cancel(&self.id) {
                    tracing::warn!(error = %e, "cannot cancel the job");
                }
            }
            let overview = match self.client.call("GET", "/jobs/overview", None) {
                Ok(v) => {
                    failures = 0;
                    v
                }
                // The JobManager may be briefly busy; a lasting loss is an error.
                Err(e) if failures < 50 => {
                    failures += 1;
                    tracing::debug!(error = %e, "polling the job");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let entry = overview["jobs"]
                .as_array()
                .and_then(|jobs| jobs.iter().find(|j| j["jid"] == self.id.as_str()))
                .cloned();
            let Some(entry) = entry else {
                return Err(Error::Cluster(format!("the JobManager no longer knows job {}", self.id)));
            };
            let state = entry["state"].as_str().unwrap_or_default().to_string();
            if let Some(status) = self.status_named(&state) {
                self.shared.set_status(status);
            }
            match state.as_str() {
                "FINISHED" => {
                    let runtime = entry["duration"].as_u64().unwrap_or(0);
                    let vertices = self.report_metrics();
                    let accumulators = self.accumulators()?;
                    if !self.quiet {
                        println!("Program execution finished");
                        println!("Job with JobID {} has finished.", self.id);
                        println!("Job Runtime: {runtime} ms");
                        // As Flink's client: only when there are any.
                        if accumulators.names().next().is_some() {
                            println!("Accumulator Results: ");
                            for name in accumulators.names() {
                                if let Some((kind, value)) = accumulators.describe(name) {
                                    println!("- {name} ({kind}): {value}");
                                }
                            }
                            println!();
                        }
                    }
                    return Ok(JobExecutionResult {
                        job_id: self.shared.job_id,
                        job_name: job,
                        net_runtime: Duration::from_millis(runtime),
                        vertices,
                        accumulators,
                        detached: false,
                    });
                }
                "CANCELED" => return Err(Error::JobCancelled { job }),
                "FAILED" | "SUSPENDED" => {
                    let cause = self
                        .client
                        .call("GET", &format!("/jobs/{}/exceptions", self.id), None)
                        .ok()
                        .and_then(|e| e["exceptionHistory"]["entries"][0]["stacktrace"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "see the JobManager's log".into());
                    return Err(Error::Cluster(format!(
                        "job {} ({job}) {}: {cause}",
                        self.id,
                        state.to_ascii_lowercase()
                    )));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The job's vertex sums as the JobManager has them (`/jobs/:id`), kept for
    /// `JobClient::metrics`; the last ones kept when the JobManager cannot say.
    fn report_metrics(&self) -> Vec<VertexMetrics> {
        let path = format!("/jobs/{}", self.id);
        let fetched = match self.client.call("GET", &path, None) {
            Ok(detail) => detail["vertices"].as_array().map(|vertices| {
                vertices.iter().enumerate().map(|(id, v)| vertex_metrics(id as u32, v)).collect::<Vec<_>>()
            }),
            Err(error) => {
                tracing::debug!(%error, "the job's metrics");
                None
            }
        };
        let Ok(mut reported) = self.shared.reported.lock() else { return Vec::new() };
        if let Some(fetched) = fetched {
            *reported = Some(fetched);
        }
        reported.clone().unwrap_or_default()
    }

    /// The finished job's accumulators, typed as its subtasks reported them.
    fn accumulators(&self) -> Result<AccumulatorResults> {
        let path = format!("/jobs/{}/accumulators?includeSerializedValue=true", self.id);
        let answer = self.client.call("GET", &path, None)?;
        let values = serde_json::from_value(answer["serialized-user-task-accumulators"].clone())
            .map_err(|e| Error::Cluster(format!("GET {path}: the accumulators do not decode: {e}")))?;
        Ok(AccumulatorResults { values })
    }

    fn status_named(&self, name: &str) -> Option<JobStatus> {
        use JobStatus::*;
        [Initializing, Created, Running, Failing, Restarting, Cancelling, Finished, Failed, Canceled, Suspended]
            .into_iter()
            .find(|s| s.name() == name && !s.is_terminal())
    }
}

/// How often a client refreshes a running job's metrics.
const METRICS_EVERY: Duration = Duration::from_millis(500);

/// One vertex of `/jobs/:id` as the client's metrics (the counters Flink's job detail
/// has; the others read 0).
fn vertex_metrics(id: u32, vertex: &Value) -> VertexMetrics {
    let metrics = &vertex["metrics"];
    VertexMetrics {
        id,
        name: vertex["name"].as_str().unwrap_or_default().to_string(),
        parallelism: vertex["parallelism"].as_u64().unwrap_or(0) as u32,
        records_in: metrics["read-records"].as_u64().unwrap_or(0),
        records_out: metrics["write-records"].as_u64().unwrap_or(0),
        records_in_errors: 0,
        back_pressured_time: Duration::from_millis(metrics["accumulated-backpressured-time"].as_u64().unwrap_or(0)),
        late_records_dropped: 0,
    }
}

//! The harness of the tests with real processes: a standalone cluster of `spate`
//! processes on 127.0.0.1 with ports the OS chooses, started and stopped with the
//! cluster scripts, observed over REST; every process a test starts is stopped by pid
//! when the test ends, also when it fails. Each test binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SPATE: &str = env!("CARGO_BIN_EXE_spate");

/// A temporary directory with `conf/`, `pids/` and `log/`, and the cluster started
/// in it; dropping it stops the cluster and kills whatever its pid files still name.
pub struct Cluster {
    pub dir: PathBuf,
    pub rest: Option<String>,
    /// Cluster tests run one at a time: they share two cores.
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

pub static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    /// A cluster directory whose config holds `config` (with OS-chosen ports and fast
    /// heartbeats unless `config` sets them) and one `localhost` worker per TaskManager.
    pub fn new(name: &str, taskmanagers: usize, config: &str) -> Cluster {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = std::env::temp_dir().join(format!("spate-cluster-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let mut yaml = String::from(config);
        let (artifacts, tm) = (dir.join("artifacts").display().to_string(), dir.join("tm").display().to_string());
        for (key, value) in [
            // Everything a cluster writes stays in its directory.
            ("blob.storage.directory", artifacts.as_str()),
            ("io.tmp.dirs", tm.as_str()),
            ("rest.port", "0"),
            ("jobmanager.rpc.port", "0"),
            ("heartbeat.interval", "200 ms"),
            ("heartbeat.timeout", "60 s"),
            ("taskmanager.numberOfTaskSlots", "2"),
        ] {
            if !config.contains(key) {
                yaml.push_str(&format!("{key}: {value}\n"));
            }
        }
        std::fs::write(dir.join("conf/config.yaml"), yaml).unwrap();
        std::fs::write(dir.join("conf/workers"), "localhost\n".repeat(taskmanagers)).unwrap();
        Cluster { dir, rest: None, _one_at_a_time: guard }
    }

    /// `spate ARGS` with this cluster's directories; killed (and the test failed) if it
    /// does not end within a minute, so a regression cannot hang the test.
    pub fn spate(&self, args: &[&str]) -> Output {
        let mut command = Command::new(SPATE);
        command
            .args(args)
            .env("SPATE_CONF_DIR", self.dir.join("conf"))
            .env("SPATE_PID_DIR", self.dir.join("pids"))
            .env("SPATE_LOG_DIR", self.dir.join("log"))
            .env_remove("SPATE_LOG");
        run_with_deadline(command, Duration::from_secs(60))
    }

    /// `spate cluster start`; panics with its output unless it succeeded.
    pub fn start(&mut self) -> &mut Self {
        self.start_printing();
        self
    }

    /// `spate cluster start`, returning what it printed.
    pub fn start_printing(&mut self) -> String {
        let out = self.spate(&["cluster", "start"]);
        assert!(out.status.success(), "cluster start failed:\n{}", text(&out));
        let endpoints: Value = serde_json::from_slice(&std::fs::read(self.endpoint_file()).unwrap()).unwrap();
        self.rest = Some(endpoints["rest"].as_str().unwrap().to_string());
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    pub fn endpoint_file(&self) -> PathBuf {
        let pids = self.dir.join("pids");
        std::fs::read_dir(&pids)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("jobmanager.endpoints.json"))
            .expect("the JobManager wrote its endpoint file")
    }

    pub fn pids(&self, role: &str) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("pids")) else { return Vec::new() };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(&format!("-{role}.pid")))
            .flat_map(|p| {
                std::fs::read_to_string(p).unwrap_or_default().lines().map(|l| l.parse().unwrap()).collect::<Vec<u32>>()
            })
            .collect()
    }

    /// `GET path` on the REST endpoint: status and JSON.
    pub fn get(&self, path: &str) -> (u16, Value) {
        request("GET", self.rest.as_deref().unwrap(), path)
    }

    /// What the workers printed (their `worker.out`), one text per TaskManager whose
    /// workers printed anything: of job `job`'s first attempt, or of every job.
    pub fn worker_outputs(&self, job: Option<&str>) -> Vec<String> {
        let mut outputs = Vec::new();
        for tm in std::fs::read_dir(self.dir.join("tm")).unwrap() {
            let mut text = String::new();
            for dir in std::fs::read_dir(tm.unwrap().path()).unwrap() {
                let dir = dir.unwrap().path();
                let wanted = job.is_none_or(|id| dir.file_name().is_some_and(|n| *n == *format!("job-{id}-0")));
                if wanted {
                    text += &std::fs::read_to_string(dir.join("worker.out")).unwrap_or_default();
                }
            }
            if !text.is_empty() {
                outputs.push(text);
            }
        }
        outputs
    }

    pub fn registered(&self) -> u64 {
        self.get("/overview").1["taskmanagers"].as_u64().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.spate(&["cluster", "stop"]);
        for pid in self.pids("jobmanager").into_iter().chain(self.pids("taskmanager")) {
            signal(pid, "KILL");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `command` to its end, or kills it after `timeout` and panics.
pub fn run_with_deadline(mut command: Command, timeout: Duration) -> Output {
    use std::process::Stdio;
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{command:?} did not end within {timeout:?}:\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).output();
}

pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.trim_start().starts_with('Z')))
}

/// A minimal HTTP/1.1 client (the test must not share the code it tests).
pub fn request(method: &str, host: &str, path: &str) -> (u16, Value) {
    let (status, body) = raw_request(method, host, path, &[], b"");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// `method path` with extra `headers` and `body`: the status and the body's bytes.
pub fn raw_request(method: &str, host: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body: a failed write is fine.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let body = &response[split + 4..];
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(&String::from_utf8_lossy(body)).into_bytes()
    } else {
        body.to_vec()
    };
    (status, body)
}

/// The SHA-256 of `bytes`, from coreutils.
pub fn sha256sum(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// The id of the (first) job `spate run` said it submitted.
pub fn submitted_id(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID "));
    id.unwrap_or_else(|| panic!("no job was submitted: {}", text(out))).to_string()
}

pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

pub fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flink-samples").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

pub fn test_app() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    deps.parent().unwrap().join("examples/test_app")
}

/// An example of the `spate` crate, built if `cargo test` did not build it (only a
/// workspace-wide run builds them for this crate's tests).
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let path = test_app().parent().unwrap().join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let mut cargo = Command::new(option_env!("CARGO").unwrap_or("cargo"));
            cargo.args(["build", "--examples", "-p", "spate"]);
            assert!(cargo.status().expect("cargo runs").success(), "building the examples failed");
        });
    }
    path
}

/// Processes whose environment names `dir` (the workers of a test cluster's jobs).
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| String::from_utf8_lossy(&env).contains(&needle))
        })
        .collect()
}

pub fn job_state(cluster: &Cluster, id: &str) -> Option<String> {
    let overview = cluster.get("/jobs/overview").1;
    overview["jobs"].as_array()?.iter().find(|j| j["jid"] == id).map(|j| j["state"].as_str().unwrap_or("").to_string())
}

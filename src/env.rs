//! `StreamEnv`: where a program defines its pipelines and runs them.

use spate_runtime::watermark::WatermarkStrategy;
use std::cell::RefCell;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use spate_core::Data;
use spate_core::config::{Configuration, RuntimeMode, fault_tolerance as ft, options};
use spate_runtime::checkpoint::CheckpointSettings;
use spate_runtime::restart::RestartStrategy;
use spate_runtime::source::{
    CollectionSource, GeneratorSource, SequenceSource, SocketTextSource, Source, TextFileSource,
};
use spate_runtime::task::FlushPolicy;
use spate_runtime::time::Clock;

use crate::datastream::DataStream;
use crate::error::{Error, Result};
use crate::execution::client::Recorded;
use crate::execution::deploy::{ExecutionPlan, RuntimeSettings};
use crate::execution::job_client::{JobClient, JobExecutionResult};
use crate::execution::mini_cluster;
use crate::graph::factory::SourceFactoryOf;
use crate::graph::planner::{Plan, PlanSettings, plan};
use crate::graph::port::{DataPort, Port};
use crate::graph::stream_graph::{
    ChainingStrategy, EdgePartitioner, NodeId, NodeOperator, StreamEdge, StreamGraph, StreamNode, StreamRef,
};
use crate::params::Params;

pub use spate_core::launch::ROLE_ENV;

/// What this process of the application is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Run directly: every job runs on the embedded mini-cluster in this process.
    Local,
    /// Started by `spate run`: `main` runs here and each `execute` submits to a cluster.
    Client,
    /// Started by a TaskManager in driver mode: `main` runs inside the cluster.
    Driver,
    /// Started by a TaskManager to run some subtasks of one job.
    Worker,
    /// Started by `spate info`: the first job is planned and its JobGraph reported
    /// instead of run; then the process exits.
    Info,
}

impl Role {
    /// The role given by [`ROLE_ENV`]. A launcher of another Spate version than this
    /// binary's is refused: the processes of a job must agree on every protocol.
    pub fn from_env() -> Result<Role> {
        let role = Self::named_in_env()?;
        if role != Role::Local {
            let launcher = std::env::var(spate_core::launch::LAUNCHER_VERSION_ENV).unwrap_or_default();
            if launcher != spate_core::launch::VERSION {
                return Err(Error::Unsupported(format!(
                    "this program was built with Spate {}, and the launcher that started it ({ROLE_ENV}={role:?}) is Spate {}: rebuild the program against the cluster's version",
                    spate_core::launch::VERSION,
                    if launcher.is_empty() { "of an unknown version" } else { &launcher },
                )));
            }
        }
        Ok(role)
    }

    fn named_in_env() -> Result<Role> {
        match std::env::var(ROLE_ENV).as_deref() {
            Err(_) | Ok("") | Ok("local") => Ok(Role::Local),
            Ok("client") => Ok(Role::Client),
            Ok("driver") => Ok(Role::Driver),
            Ok("worker") => Ok(Role::Worker),
            Ok("info") => Ok(Role::Info),
            Ok(other) => Err(Error::Arguments(format!(
                "{ROLE_ENV}={other} is not a role (expected local, client, driver, worker or info)"
            ))),
        }
    }

    /// Whether `main` really runs here (so side effects such as creating topics or
    /// printing results belong here), rather than being replayed to rebuild a pipeline.
    pub fn is_coordinator(self) -> bool {
        !matches!(self, Role::Worker | Role::Info)
    }
}

pub(crate) struct EnvState {
    pub config: Configuration,
    pub clock: Arc<dyn Clock>,
    pub role: Role,
    pub graph: StreamGraph,
    /// Mistakes made while building the pipeline, reported by `execute`.
    pub errors: Vec<String>,
    pub jobs_submitted: u32,
    /// In the worker role: the link to the TaskManager and the job to run.
    pub worker: Option<crate::execution::worker::WorkerLink>,
    /// In the client role: the cluster, and the jobs submitted so far (their results
    /// travel with later jobs, for the workers' replay).
    pub cluster: Option<crate::execution::client::ClusterClient>,
    pub submitted: Vec<JobClient>,
    /// `side_effect` calls so far.
    pub side_effects_seen: usize,
    /// In the client role: the values of the side effects so far, encoded; they travel
    /// with every later job, for the workers' replay.
    pub side_effects: Vec<Vec<u8>>,
}

impl EnvState {
    pub(crate) fn add_node(
        &mut self,
        kind: &'static str,
        name: String,
        operator: NodeOperator,
        input: Option<Arc<dyn DataPort>>,
        output: Option<Arc<dyn DataPort>>,
    ) -> NodeId {
        let id = self.graph.nodes.len();
        self.graph.nodes.push(StreamNode {
            id,
            kind,
            name,
            uid: None,
            parallelism: None,
            default_parallelism: None,
            max_parallelism: None,
            chaining: ChainingStrategy::Always,
            operator,
            input,
            output,
            side_outputs: Vec::new(),
        });
        id
    }

    /// Connects the streams behind `inputs` to input `input` of `target`.
    pub(crate) fn connect(&mut self, inputs: &StreamRef, target: NodeId, input: u8, forced: Option<EdgePartitioner>) {
        for resolved in inputs.resolve() {
            let partitioner = forced.clone().or(resolved.partitioner);
            self.graph.edges.push(StreamEdge {
                source: resolved.node,
                target,
                input,
                partitioner,
                side: resolved.side,
            });
        }
    }
}

/// The entry point of a Spate program: configuration, sources, and `execute`.
///
/// A `StreamEnv` is a cheap handle; every stream keeps one to add its operators to the
/// same pipeline. `execute` runs the pipeline defined so far and starts a new, empty one.
///
/// ```
/// use spate::prelude::*;
///
/// let env = StreamEnv::local().unwrap();
/// env.set_parallelism(2);
/// let mut squares = env.from_sequence(1..5).map(|x| x * x).execute_and_collect().unwrap();
/// squares.sort();
/// assert_eq!(squares, vec![1, 4, 9, 16]);
/// ```
#[derive(Clone)]
pub struct StreamEnv {
    pub(crate) state: Rc<RefCell<EnvState>>,
}

impl StreamEnv {
    /// An environment configured from `$SPATE_CONF_DIR/config.yaml` (if set), in the role
    /// the launcher chose.
    pub fn new() -> Result<Self> {
        Self::from_params(&Params::default())
    }

    /// An environment configured from `config.yaml` (if `$SPATE_CONF_DIR` is set), then
    /// `-D key=value` and `--parallelism N` / `-p N` from `params`. Unknown keys are
    /// warned about; invalid values are an error naming the key.
    pub fn from_params(params: &Params) -> Result<Self> {
        crate::logging::init();
        params.check()?;
        let mut config = Configuration::from_env()?;
        for assignment in params.dynamic_properties() {
            config.apply_dynamic(assignment)?;
        }
        if let Some(p) = params.get("parallelism") {
            config.set_raw(options::PARALLELISM_DEFAULT.key, p);
        } else if params.has("parallelism") {
            return Err(Error::Arguments("--parallelism needs a number after it".into()));
        }
        Self::with_config(config)
    }

    /// An environment with exactly this configuration (no file is read).
    pub fn with_config(config: Configuration) -> Result<Self> {
        crate::logging::init();
        for key in config.validate()? {
            tracing::warn!("unknown configuration key '{key}' is ignored");
        }
        let role = Role::from_env()?;
        let (config, worker) = if role == Role::Worker {
            // A worker runs with the configuration shipped with its job, never the
            // host's: every process of a job plans the same job.
            let link = crate::execution::worker::WorkerLink::connect()?;
            (Configuration::from_pairs(&link.deployment.config), Some(link))
        } else {
            (config, None)
        };
        let (config, cluster) = if role == Role::Client {
            let cluster = crate::execution::client::ClusterClient::from_env()?;
            let mut config = config;
            if let Ok(text) = std::env::var(spate_core::launch::CLIENT_CONFIG_ENV) {
                let pairs: Vec<(String, String)> = serde_json::from_str(&text)
                    .map_err(|e| Error::Arguments(format!("{}: {e}", spate_core::launch::CLIENT_CONFIG_ENV)))?;
                for (key, value) in pairs {
                    config.set_raw(key, value);
                }
                for key in config.validate()? {
                    tracing::warn!("unknown configuration key '{key}' is ignored");
                }
            }
            (config, Some(cluster))
        } else {
            (config, None)
        };
        Ok(StreamEnv {
            state: Rc::new(RefCell::new(EnvState {
                config,
                clock: spate_runtime::time::system_clock(),
                role,
                graph: StreamGraph::default(),
                errors: Vec::new(),
                jobs_submitted: 0,
                worker,
                cluster,
                submitted: Vec::new(),
                side_effects_seen: 0,
                side_effects: Vec::new(),
            })),
        })
    }

    /// An environment with the default configuration, ignoring `$SPATE_CONF_DIR`: for
    /// tests and examples that must not depend on the machine.
    pub fn local() -> Result<Self> {
        Self::with_config(Configuration::new())
    }

    /// The role this process plays.
    pub fn role(&self) -> Role {
        self.state.borrow().role
    }

    /// A copy of the configuration.
    pub fn config(&self) -> Configuration {
        self.state.borrow().config.clone()
    }

    /// Sets any configuration key (as `-D key=value` would).
    pub fn set_config(&self, key: &str, value: &str) -> Result<&Self> {
        let mut single = Configuration::new();
        single.set_raw(key, value);
        if !single.validate()?.is_empty() {
            tracing::warn!("unknown configuration key '{key}' is ignored");
        }
        self.state.borrow_mut().config.set_raw(key, value);
        Ok(self)
    }

    /// Default parallelism of operators (`parallelism.default`).
    pub fn set_parallelism(&self, parallelism: u32) -> &Self {
        if parallelism == 0 {
            self.state.borrow_mut().errors.push("parallelism must be at least 1".into());
        } else {
            self.state.borrow_mut().config.set(&options::PARALLELISM_DEFAULT, parallelism);
        }
        self
    }

    /// The default parallelism of operators.
    pub fn parallelism(&self) -> u32 {
        self.state.borrow().config.get(&options::PARALLELISM_DEFAULT).unwrap_or(1)
    }

    /// Number of key groups: the upper bound for rescaling keyed state
    /// (`pipeline.max-parallelism`).
    pub fn set_max_parallelism(&self, max_parallelism: u32) -> &Self {
        self.state.borrow_mut().config.set(&options::MAX_PARALLELISM, Some(max_parallelism));
        self
    }

    /// STREAMING, BATCH or AUTOMATIC (`execution.runtime-mode`).
    pub fn set_runtime_mode(&self, mode: RuntimeMode) -> &Self {
        self.state.borrow_mut().config.set(&options::RUNTIME_MODE, mode);
        self
    }

    /// The longest a record waits in a partly filled batch
    /// (`execution.buffer-timeout.interval`; zero sends after every input batch).
    pub fn set_buffer_timeout(&self, timeout: Duration) -> &Self {
        let mut state = self.state.borrow_mut();
        state.config.set(&options::BUFFER_TIMEOUT_ENABLED, true);
        state.config.set(&options::BUFFER_TIMEOUT, timeout);
        self
    }

    /// How often periodic watermark generators emit (`pipeline.auto-watermark-interval`).
    pub fn set_auto_watermark_interval(&self, interval: Duration) -> &Self {
        self.state.borrow_mut().config.set(&options::AUTO_WATERMARK_INTERVAL, interval);
        self
    }

    /// Replaces the processing-time clock of the jobs this environment runs — for tests
    /// of processing-time timers and state TTL, with a
    /// [`ManualClock`](spate_runtime::time::ManualClock).
    pub fn set_processing_time_clock(&self, clock: Arc<dyn Clock>) -> &Self {
        self.state.borrow_mut().clock = clock;
        self
    }

    /// Takes a checkpoint every `interval` (`execution.checkpointing.interval`), so that
    /// a failed job restarts from its last consistent state. Other checkpoint settings
    /// are the `execution.checkpointing.*` keys ([`set_config`](Self::set_config)).
    pub fn enable_checkpointing(&self, interval: Duration) -> &Self {
        if interval < Duration::from_millis(10) {
            self.state.borrow_mut().errors.push("the checkpoint interval must be at least 10 ms".into());
        } else {
            self.state.borrow_mut().config.set(&ft::CHECKPOINTING_INTERVAL, Some(interval));
        }
        self
    }

    /// Runs every operator as a task of its own (`pipeline.operator-chaining.enabled:
    /// false`).
    pub fn disable_operator_chaining(&self) -> &Self {
        self.state.borrow_mut().config.set(&options::OPERATOR_CHAINING, false);
        self
    }

    pub(crate) fn add_source<T: Data>(
        &self,
        source: Arc<dyn Source<T>>,
        default_parallelism: Option<u32>,
    ) -> DataStream<T> {
        self.add_source_with(source, default_parallelism, None)
    }

    fn add_source_with<T: Data>(
        &self,
        source: Arc<dyn Source<T>>,
        default_parallelism: Option<u32>,
        strategy: Option<WatermarkStrategy<T>>,
    ) -> DataStream<T> {
        let name = source.name();
        let id = self.state.borrow_mut().add_node(
            "Source",
            name,
            NodeOperator::Source(Arc::new(SourceFactoryOf { source, strategy })),
            None,
            Some(Port::<T>::shared()),
        );
        self.state.borrow_mut().graph.nodes[id].default_parallelism = default_parallelism;
        DataStream::new(self.clone(), StreamRef::Node(id))
    }

    /// A stream reading from any [`Source`], with timestamps and watermarks from
    /// `strategy` (Flink's `fromSource`): each source subtask assigns timestamps and
    /// generates watermarks (and goes idle) on its own.
    /// `WatermarkStrategy::no_watermarks()` for streams without event time.
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// let events = env.from_source(
    ///     GeneratorSource::new(|j| (j, j as i64 * 1_000), Some(100)),
    ///     WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(5))
    ///         .with_timestamp_assigner(|e: &(u64, i64), _| e.1)
    ///         .with_idleness(Duration::from_secs(30)),
    /// );
    /// # let _ = events;
    /// ```
    pub fn from_source<T: Data, S: Source<T>>(&self, source: S, strategy: WatermarkStrategy<T>) -> DataStream<T> {
        let default = source.max_parallelism().map(|m| m.min(self.parallelism()));
        let strategy = (!strategy.is_no_op()).then_some(strategy);
        self.add_source_with(Arc::new(source), default, strategy)
    }

    /// [`from_source`](Self::from_source) with the timestamp assigner given on its own,
    /// so that its argument types are inferred from the source (in
    /// `strategy.with_timestamp_assigner(..)` they cannot be: the strategy does not know
    /// its record type yet).
    ///
    /// ```
    /// # use spate::prelude::*;
    /// # use std::time::Duration;
    /// let env = StreamEnv::local().unwrap();
    /// let events = env.from_source_with_timestamps(
    ///     GeneratorSource::new(|j| (j, j as i64 * 1_000), Some(100)),
    ///     WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_secs(5)),
    ///     |event, _| event.1,
    /// );
    /// # let _ = events;
    /// ```
    pub fn from_source_with_timestamps<T, S, F>(
        &self,
        source: S,
        strategy: WatermarkStrategy<T>,
        assigner: F,
    ) -> DataStream<T>
    where
        T: Data,
        S: Source<T>,
        F: Fn(&T, spate_core::Timestamp) -> spate_core::Timestamp + Send + Sync + 'static,
    {
        self.from_source(source, strategy.with_timestamp_assigner(assigner))
    }

    /// A stream of the given elements, in order (a source of parallelism 1 unless set
    /// otherwise; with `p` subtasks, subtask `k` emits elements `k, k + p, ...`).
    pub fn from_iter<T, I>(&self, items: I) -> DataStream<T>
    where
        T: Data + Sync,
        I: IntoIterator<Item = T>,
    {
        self.add_source(Arc::new(CollectionSource::new(items.into_iter().collect())), Some(1))
    }

    /// The numbers of `range`, split into contiguous parts over the subtasks.
    pub fn from_sequence(&self, range: Range<i64>) -> DataStream<i64> {
        self.add_source(Arc::new(SequenceSource::new(range)), None)
    }

    /// Records computed from their index: `generator(j)` for `j` in `0..count`, or
    /// forever when `count` is `None`. See [`GeneratorSource`] for rate limits.
    pub fn from_generator<T, F>(&self, generator: F, count: Option<u64>) -> DataStream<T>
    where
        T: Data,
        F: Fn(u64) -> T + Send + Sync + 'static,
    {
        self.add_source(Arc::new(GeneratorSource::new(generator, count)), None)
    }

    /// The lines of a text file, or of every file under a directory.
    pub fn read_text_file(&self, path: impl Into<PathBuf>) -> DataStream<String> {
        self.read_text_files([path])
    }

    /// The lines of several files or directories.
    pub fn read_text_files<P: Into<PathBuf>>(&self, paths: impl IntoIterator<Item = P>) -> DataStream<String> {
        let paths = paths.into_iter().map(Into::into).collect();
        self.add_source(Arc::new(TextFileSource::new(paths)), None)
    }

    /// Lines read from a TCP server (e.g. `nc -lk 9999`); ends when the server closes
    /// the connection. Always parallelism 1.
    pub fn socket_text_stream(&self, host: &str, port: u16) -> DataStream<String> {
        self.add_source(Arc::new(SocketTextSource::new(host, port)), Some(1))
    }

    fn planning(&self) -> Result<(PlanSettings, RuntimeSettings)> {
        let state = self.state.borrow();
        if let Some(first) = state.errors.first() {
            return Err(Error::InvalidPipeline(first.clone()));
        }
        let c = &state.config;
        let plan_settings = PlanSettings {
            default_parallelism: c.get(&options::PARALLELISM_DEFAULT)?,
            max_parallelism: c.get(&options::MAX_PARALLELISM)?,
            chaining: c.get(&options::OPERATOR_CHAINING)?,
            runtime_mode: c.get(&options::RUNTIME_MODE)?,
        };
        let timeout = c.get(&options::BUFFER_TIMEOUT)?;
        let flush = match (c.get(&options::BUFFER_TIMEOUT_ENABLED)?, timeout.is_zero()) {
            (false, _) => FlushPolicy::WhenFull,
            (true, true) => FlushPolicy::Immediate,
            (true, false) => FlushPolicy::After(timeout),
        };
        let runtime = RuntimeSettings {
            batch_size: c.get(&options::RECORDS_PER_BATCH)? as usize,
            channel_capacity: c.get(&options::BUFFERS_PER_CHANNEL)? as usize,
            segment_size: c.get(&spate_core::config::cluster::SEGMENT_SIZE)? as usize,
            flush,
            clock: state.clock.clone(),
            auto_watermark_interval: c.get(&options::AUTO_WATERMARK_INTERVAL)?,
            checkpoint: CheckpointSettings::from_config(c)?,
            checkpoint_dir: c.get(&ft::CHECKPOINTING_DIR)?,
            restart: RestartStrategy::from_config(c, c.get(&ft::CHECKPOINTING_INTERVAL)?.is_some())?,
            savepoint_path: c.get(&ft::SAVEPOINT_PATH)?,
            ignore_unclaimed_state: c.get(&ft::SAVEPOINT_IGNORE_UNCLAIMED)?,
        };
        Ok((plan_settings, runtime))
    }

    fn plan_current(&self, job_name: &str) -> Result<Plan> {
        let (settings, _) = self.planning()?;
        plan(&self.state.borrow().graph, job_name, &settings).map_err(Error::from)
    }

    /// The JobGraph the pipeline defined so far would run as, in JSON: vertices with
    /// their chained operators, parallelism and max parallelism, and edges with their
    /// partitioners.
    pub fn execution_plan(&self) -> Result<String> {
        Ok(self.plan_current("")?.job_graph.to_json())
    }

    /// Runs the pipeline defined so far and waits for it to end (forever, for an
    /// unbounded one, unless cancelled). Then starts a new, empty pipeline.
    pub fn execute(&self, job_name: &str) -> Result<JobExecutionResult> {
        let job = self.execute_async(job_name)?;
        if self.role() == Role::Client && std::env::var_os(spate_core::launch::DETACHED_ENV).is_some() {
            // Detached, as Flink's `-d`: the job runs on; `main` goes on at once.
            return Ok(job.detached_result());
        }
        job.wait()
    }

    /// Runs `effect` once for the whole application and gives its value in every
    /// process that runs `main`: on a cluster, `main` runs again in each worker, and a
    /// pipeline built from a timestamp, a random seed or a directory listing would come
    /// out different there. The first run (the client) runs `effect` and records its
    /// value; workers get the recorded value without running it. Embedded, and in
    /// `spate info` (which plans the job the client would submit), it simply runs
    /// `effect`. A worker that asks for more side effects than the first run recorded
    /// fails the job without restarts: `main` is not deterministic.
    ///
    /// ```
    /// use spate::prelude::*;
    /// let env = StreamEnv::local().unwrap();
    /// let seed = env.side_effect(|| 42u64).unwrap();
    /// let picked: Vec<u64> = env.from_iter(0..10u64).filter(move |x| x % seed == 0).execute_and_collect().unwrap();
    /// assert_eq!(picked, vec![0]);
    /// ```
    pub fn side_effect<T, F>(&self, effect: F) -> Result<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> T,
    {
        let (role, index) = {
            let mut state = self.state.borrow_mut();
            state.side_effects_seen += 1;
            (state.role, state.side_effects_seen - 1)
        };
        let failed = |reason: String| Error::SideEffect { index, reason };
        match role {
            Role::Worker => {
                let mut state = self.state.borrow_mut();
                let link = state.worker.as_mut().ok_or_else(|| failed("a worker without its link".into()))?;
                let replayed = match link.deployment.side_effects.get(index) {
                    Some(bytes) => spate_core::codec::decode(bytes).map_err(|e| e.to_string()),
                    None => Err(format!(
                        "the first run recorded {} before this job: main is not deterministic",
                        link.deployment.side_effects.len()
                    )),
                };
                replayed.map_err(|reason| {
                    // The same replay fails the same way: no restart.
                    link.fail(&format!("side effect {index}: {reason}"));
                    failed(reason)
                })
            }
            Role::Client => {
                // The slot is taken before `effect` runs, so that side effects inside it,
                // and ones after a failed one, keep their places.
                {
                    let mut state = self.state.borrow_mut();
                    if state.side_effects.len() <= index {
                        state.side_effects.resize(index + 1, Vec::new());
                    }
                }
                let value = effect();
                let bytes = spate_core::codec::encode(&value).map_err(|e| failed(e.to_string()))?;
                spate_core::codec::verify::<T>(&bytes).map_err(|e| failed(e.to_string()))?;
                self.state.borrow_mut().side_effects[index] = bytes;
                Ok(value)
            }
            _ => Ok(effect()),
        }
    }

    /// Starts the pipeline defined so far and returns a handle to it at once.
    pub fn execute_async(&self, job_name: &str) -> Result<JobClient> {
        let (plan_settings, runtime) = self.planning()?;
        let (graph, role, index) = {
            let mut state = self.state.borrow_mut();
            state.jobs_submitted += 1;
            (std::mem::take(&mut state.graph), state.role, state.jobs_submitted - 1)
        };
        if role == Role::Worker {
            // Jobs before the deployed one replay what they returned when they ran.
            let state = self.state.borrow();
            let deployment =
                &state.worker.as_ref().ok_or_else(|| Error::Internal("a worker without its link".into()))?.deployment;
            if index < deployment.job_index {
                let recorded = deployment.recorded.get(index as usize).ok_or_else(|| {
                    Error::Internal(format!(
                        "the deployment of job {} holds no result of job {index}",
                        deployment.job_index
                    ))
                })?;
                return crate::execution::worker::replayed(recorded, index);
            }
        }
        let plan = plan(&graph, job_name, &plan_settings).map_err(Error::from)?;
        match role {
            Role::Local => mini_cluster::submit(ExecutionPlan { graph, plan, settings: runtime }),
            Role::Info => crate::execution::plan_report::report_and_exit(plan.job_graph),
            Role::Client => {
                let (cluster, config, recorded) = {
                    let state = self.state.borrow();
                    let cluster =
                        state.cluster.clone().ok_or_else(|| Error::Internal("a client without its cluster".into()))?;
                    let config: Vec<(String, String)> =
                        state.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    let recorded = Recorded {
                        jobs: state.submitted.iter().map(JobClient::recorded).collect(),
                        side_effects: state.side_effects.clone(),
                    };
                    (cluster, config, recorded)
                };
                let client = cluster.submit(plan.job_graph, index, config, recorded)?;
                self.state.borrow_mut().submitted.push(client.handle());
                Ok(client)
            }
            Role::Worker => {
                let link = self.state.borrow_mut().worker.take().ok_or_else(|| {
                    Error::Unsupported(
                        "a worker runs one job: main called execute again after the deployed one failed to start"
                            .into(),
                    )
                })?;
                crate::execution::worker::run(ExecutionPlan { graph, plan, settings: runtime }, link)
            }
            other => Err(Error::Unsupported(format!(
                "this process was started in the {other:?} role ({ROLE_ENV}), which needs a Spate cluster; \
                 this build runs jobs on the embedded mini-cluster only (unset {ROLE_ENV})"
            ))),
        }
    }
}

//! `spate`: the cluster's processes (`jobmanager`, `taskmanager`), the scripts that
//! start and stop a standalone cluster (`cluster start|stop`), in Flink's conventions.

mod app;
mod conf_dir;
mod daemon;
mod info;
mod jobs;
mod pid_file;
mod rest;
mod run;
mod savepoint;
mod standalone;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Spate: a distributed, stateful stream processor in the model of Apache Flink.
#[derive(Parser)]
#[command(name = "spate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command that reads the configuration takes.
#[derive(clap::Args, Clone, Debug)]
struct ConfArgs {
    /// The directory holding config.yaml and workers [default: $SPATE_CONF_DIR, else ./conf].
    #[arg(long, value_name = "DIR")]
    conf_dir: Option<PathBuf>,
    /// Sets a configuration key, over config.yaml (repeatable).
    #[arg(short = 'D', value_name = "key=value")]
    dynamic: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a JobManager in the foreground (containers, systemd).
    Jobmanager(ConfArgs),
    /// Runs a TaskManager in the foreground.
    Taskmanager(ConfArgs),
    /// Runs APP on the cluster: uploads it, then runs its `main` here; each `execute`
    /// submits a job (Flink's `run`).
    Run {
        /// The JobManager's REST endpoint, HOST:PORT [default: from the configuration].
        #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
        jobmanager: Option<String>,
        /// The jobs' default parallelism.
        #[arg(short = 'p', long = "parallelism", value_name = "N")]
        parallelism: Option<u32>,
        /// Detached: each `execute` returns once its job is submitted; `spate run`
        /// returns when `main` does.
        #[arg(short = 'd', long = "detached")]
        detached: bool,
        /// Attached: if `spate run` is interrupted or killed (Ctrl-C, SIGTERM, SIGHUP),
        /// cancel the jobs the application submitted that still run (Flink's `-sae`;
        /// Spate's cluster is a session cluster, so the jobs go, not the cluster).
        #[arg(long = "shutdownOnAttachedExit")]
        shutdown_on_attached_exit: bool,
        /// Starts the jobs from this savepoint or retained checkpoint (its directory).
        #[arg(short = 's', long = "fromSavepoint", value_name = "PATH")]
        from_savepoint: Option<String>,
        /// With -s: drop state of operators the job no longer has.
        #[arg(short = 'n', long = "allowNonRestoredState")]
        allow_non_restored_state: bool,
        /// With -s: claim or no_claim (Flink's `-cm`); Spate never changes the savepoint.
        #[arg(long = "claimMode", value_name = "MODE")]
        claim_mode: Option<String>,
        #[command(flatten)]
        conf: ConfArgs,
        /// The application binary.
        app: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Lists the running and scheduled jobs; with -a also the ended ones.
    List {
        /// The JobManager's REST endpoint, HOST:PORT.
        #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
        jobmanager: Option<String>,
        /// Also the jobs that ended.
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Only the running (and restarting) jobs.
        #[arg(short = 'r', long = "running")]
        running: bool,
        /// Only the scheduled jobs.
        #[arg(short = 's', long = "scheduled")]
        scheduled: bool,
        #[command(flatten)]
        conf: ConfArgs,
    },
    /// Cancels a job.
    Cancel {
        /// The JobManager's REST endpoint, HOST:PORT.
        #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
        jobmanager: Option<String>,
        #[command(flatten)]
        conf: ConfArgs,
        /// The job's id.
        job_id: String,
    },
    /// Takes a savepoint of a running job, or disposes of one with -d (Flink's `savepoint`).
    Savepoint {
        /// The JobManager's REST endpoint, HOST:PORT.
        #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
        jobmanager: Option<String>,
        /// Removes the savepoint at PATH instead.
        #[arg(short = 'd', long = "dispose", value_name = "PATH")]
        dispose: Option<String>,
        /// canonical or native (the same files in Spate).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        #[command(flatten)]
        conf: ConfArgs,
        /// The job's id.
        job_id: Option<String>,
        /// Where the savepoint goes [default: execution.checkpointing.savepoint-dir].
        target_directory: Option<String>,
    },
    /// Stops a job with a savepoint (Flink's `stop`): it ends FINISHED, and `run -s`
    /// resumes it, at another parallelism if wanted.
    Stop {
        /// The JobManager's REST endpoint, HOST:PORT.
        #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
        jobmanager: Option<String>,
        /// Where the savepoint goes [default: execution.checkpointing.savepoint-dir].
        #[arg(short = 'p', long = "savepointPath", value_name = "DIR")]
        savepoint_path: Option<String>,
        /// Advance event time to its end before the savepoint: every event-time window
        /// and timer fires (for a job that is to end for good).
        #[arg(short = 'd', long = "drain")]
        drain: bool,
        /// canonical or native (the same files in Spate).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        #[command(flatten)]
        conf: ConfArgs,
        /// The job's id.
        job_id: String,
    },
    /// Prints the first job of APP as planned: its JobGraph as JSON (Flink's `info`).
    Info {
        /// A Graphviz DOT picture instead of JSON.
        #[arg(long)]
        dot: bool,
        /// The application binary.
        app: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Starts or stops a standalone cluster: a JobManager here and the TaskManagers of
    /// the `workers` file.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Starts the JobManager and the TaskManagers in the background; returns once the
    /// REST endpoint answers and every TaskManager registered.
    Start(ConfArgs),
    /// Stops what the pid files name.
    Stop(ConfArgs),
    /// Starts one TaskManager in the background on this host (what `cluster start`
    /// runs here, and over ssh on other hosts).
    #[command(hide = true)]
    StartTaskmanager(ConfArgs),
    /// Stops the TaskManagers this host's pid file names (run over ssh by `cluster stop`).
    #[command(hide = true)]
    StopTaskmanagers(ConfArgs),
}

/// The arguments, with Flink's one-dash long flags spelled as clap takes them (`-sae`
/// of `spate run`), and everything from the application on left to the application:
/// `spate run APP --parallelism 3` hands `--parallelism 3` to APP, as `flink run` does.
fn arguments(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let takes_value: &[&str] = match args.get(1).and_then(|a| a.to_str()) {
        Some("run") => {
            &["-m", "--jobmanager", "-p", "--parallelism", "-D", "--conf-dir", "-s", "--fromSavepoint", "--claimMode"]
        }
        Some("info") => &[],
        Some("savepoint" | "stop") => {
            // Flink's one-dash `-type`.
            for arg in args.iter_mut().skip(2) {
                if arg == "-type" {
                    *arg = "--type".into();
                }
            }
            return args;
        }
        _ => return args,
    };
    // Up to the application: the first argument that is not a flag or a flag's value.
    let mut i = 2;
    while i < args.len() {
        let arg = args[i].to_string_lossy().to_string();
        if arg == "--" {
            return args;
        }
        if arg == "-sae" {
            args[i] = "--shutdownOnAttachedExit".into();
        } else if arg == "-cm" {
            args[i] = "--claimMode".into();
            i += 1;
        } else if takes_value.contains(&arg.as_str()) || short_flags_with_value(&arg, takes_value) {
            i += 1;
        } else if !arg.starts_with('-') {
            // Positional from here: flags after it are the application's.
            args.insert(i, "--".into());
            break;
        }
        i += 1;
    }
    args
}

fn main() {
    init_logging();
    if let Err(error) = run(Cli::parse_from(arguments(std::env::args_os().collect()))) {
        eprintln!("Error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Jobmanager(args) => daemon::jobmanager(conf_dir::load(&args)?),
        Command::Taskmanager(args) => daemon::taskmanager(conf_dir::load(&args)?),
        Command::Info { dot, app, args } => info::run(&app, &args, dot),
        Command::Run {
            jobmanager,
            parallelism,
            detached,
            shutdown_on_attached_exit,
            from_savepoint,
            allow_non_restored_state,
            claim_mode,
            mut conf,
            app,
            args,
        } => {
            // -s, -n and -cm are keys of the program's configuration, as in Flink.
            if let Some(path) = from_savepoint {
                let path = savepoint::absolute(&path)?;
                conf.dynamic.push(format!("execution.savepoint.path={path}"));
            }
            if allow_non_restored_state {
                conf.dynamic.push("execution.savepoint.ignore-unclaimed-state=true".into());
            }
            if let Some(mode) = claim_mode {
                conf.dynamic.push(format!("execution.state-recovery.claim-mode={mode}"));
            }
            // -D sets the program's configuration and, checked here, this command's own
            // (the token, where the JobManager is).
            let config = conf_dir::load(&conf)?;
            let run = run::RunArgs {
                jobmanager: jobmanager.as_deref(),
                parallelism,
                detached,
                shutdown_on_attached_exit,
                dynamic: &conf.dynamic,
                app: &app,
                args: &args,
            };
            let code = run::run(run, &config)?;
            std::process::exit(code)
        }
        Command::List { jobmanager, all, running, scheduled, conf } => {
            // As Flink's: without -r or -s both; -a all three.
            let both = !running && !scheduled;
            let sections =
                jobs::Sections { running: running || both || all, scheduled: scheduled || both || all, ended: all };
            jobs::list(&rest::Rest::locate(jobmanager.as_deref(), &conf_dir::load(&conf)?)?, sections)
        }
        Command::Cancel { jobmanager, conf, job_id } => {
            jobs::cancel(&rest::Rest::locate(jobmanager.as_deref(), &conf_dir::load(&conf)?)?, &job_id)
        }
        Command::Savepoint { jobmanager, dispose, kind, conf, job_id, target_directory } => {
            if let Some(path) = dispose {
                return savepoint::dispose(&path);
            }
            let Some(job_id) = job_id else { anyhow::bail!("spate savepoint: give the job's id (or -d PATH)") };
            let rest = rest::Rest::locate(jobmanager.as_deref(), &conf_dir::load(&conf)?)?;
            savepoint::trigger(&rest, &job_id, target_directory.as_deref(), savepoint::format_type(kind.as_deref())?)
        }
        Command::Stop { jobmanager, savepoint_path, drain, kind, conf, job_id } => {
            let rest = rest::Rest::locate(jobmanager.as_deref(), &conf_dir::load(&conf)?)?;
            let format = savepoint::format_type(kind.as_deref())?;
            savepoint::stop(&rest, &job_id, savepoint_path.as_deref(), drain, format)
        }
        Command::Cluster { action } => match action {
            ClusterAction::Start(args) => standalone::start(&args),
            ClusterAction::Stop(args) => standalone::stop(&args),
            ClusterAction::StartTaskmanager(args) => standalone::start_taskmanager(&args).map(|_| ()),
            ClusterAction::StopTaskmanagers(_) => standalone::stop_taskmanagers(),
        },
    }
}

/// Logs go to stderr (the `.log` file of a daemon); `SPATE_LOG` sets the level.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = std::env::var("SPATE_LOG").ok().and_then(|l| l.parse::<tracing::Level>().ok());
    let level = level.unwrap_or(tracing::Level::INFO);
    // tarpc logs every call at INFO: a JobManager mails every subtask each checkpoint.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("tarpc", level.min(tracing::Level::WARN));
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish()
        .with(filter)
        .try_init();
}

/// Whether `arg` is several short flags at once (`-dp`) whose last takes a value.
fn short_flags_with_value(arg: &str, takes_value: &[&str]) -> bool {
    let Some(flags) = arg.strip_prefix('-').filter(|f| f.len() > 1 && !f.starts_with('-')) else { return false };
    flags.chars().all(|c| c.is_ascii_alphabetic())
        && flags.chars().last().is_some_and(|last| takes_value.contains(&format!("-{last}").as_str()))
}

#[cfg(test)]
mod tests {
    fn rewritten(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(std::ffi::OsString::from).collect();
        super::arguments(args).into_iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_applications_arguments_are_its_own_and_sae_is_flinks_spelling() {
        assert_eq!(
            rewritten(&["spate", "run", "-sae", "-p", "2", "-D", "a=b", "app", "--parallelism", "3", "-sae"]),
            [
                "spate",
                "run",
                "--shutdownOnAttachedExit",
                "-p",
                "2",
                "-D",
                "a=b",
                "--",
                "app",
                "--parallelism",
                "3",
                "-sae"
            ]
        );
        assert_eq!(
            rewritten(&["spate", "info", "--dot", "app", "--dot"]),
            ["spate", "info", "--dot", "--", "app", "--dot"]
        );
        assert_eq!(rewritten(&["spate", "run", "--", "app", "-p"]), ["spate", "run", "--", "app", "-p"]);
        assert_eq!(rewritten(&["spate", "list", "-a"]), ["spate", "list", "-a"]);
        assert_eq!(rewritten(&["spate", "run", "-dp", "2", "app"]), ["spate", "run", "-dp", "2", "--", "app"]);
        assert_eq!(rewritten(&["spate", "run", "-p4", "-Dk=v", "app"]), ["spate", "run", "-p4", "-Dk=v", "--", "app"]);
        assert_eq!(
            rewritten(&["spate", "run", "-s", "/sp", "-n", "-cm", "claim", "app", "-s"]),
            ["spate", "run", "-s", "/sp", "-n", "--claimMode", "claim", "--", "app", "-s"]
        );
        assert_eq!(rewritten(&["spate", "stop", "-type", "native", "J"]), ["spate", "stop", "--type", "native", "J"]);
    }
}

//! `orchestrator`: runs clusterlab experiments on real node processes or in the simulator, and
//! breaks them on purpose.
//!
//! Exit codes (the README repeats them): 0 every property held (or, for a live command, it was
//! done); 1 a property was violated or could not be judged; 2 bad input (usage, experiment file,
//! unknown node, malformed spec); 3 the run itself failed, or a live command could not be carried
//! out (e.g. no cluster is up); 130 interrupted by Ctrl-C or SIGTERM (the summary is still written).

mod bench;
mod cluster;
mod compare;
mod experiment;
mod history;
mod live;
mod netns;
mod plots;
mod progress;
mod proxy;
mod report;
mod report_html;
mod run;
mod session;
mod shiviz;
mod simulate;
mod timeline;

use algorithms::schedule::{Action, CutMode, LinkSpec, PartitionSpec, Target};
use algorithms::sim::Delay;
use algorithms::{NodeId, Verdict};
use clap::{Parser, Subcommand};
use experiment::{Experiment, Overrides};
use live::{LiveRequest, LiveResponse};
use session::NetMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "orchestrator",
    version,
    about = "Run distributed algorithms as real processes, break them, and check what happened"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// The experiment file (TOML), e.g. configs/bully.toml
    config: PathBuf,
    /// Number of nodes (overrides the file and CLUSTERLAB_NODES)
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of every random choice (overrides the file and CLUSTERLAB_SEED)
    #[arg(long)]
    seed: Option<u64>,
    /// Run length, e.g. 10s or 1m30s (overrides the file and CLUSTERLAB_DURATION)
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Where run directories go
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

#[derive(clap::Args, Clone)]
struct Launch {
    /// How nodes reach each other: the frame-aware proxy (default), iptables rules in a private
    /// network namespace (root only), or direct TCP (process faults only)
    #[arg(long, value_enum, default_value_t = NetMode::Proxy)]
    net: NetMode,
    /// The node binary (default: `node` beside this executable)
    #[arg(long)]
    node_bin: Option<PathBuf>,
}

/// Which cluster a live command talks to.
#[derive(clap::Args, Clone)]
struct RunDir {
    /// The run directory of the cluster that is up
    #[arg(long, default_value = "runs/latest")]
    run: PathBuf,
}

/// How long a live fault lasts before it is undone.
#[derive(clap::Args, Clone)]
struct Lasting {
    /// Undo the fault after this long (restart, resume, heal, clear)
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    lasting: Option<Duration>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // `orchestrator cmd` is a subcommand like the others
enum Cmd {
    /// Launch the nodes, apply the scheduled faults, collect the traces, check and report
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        launch: Launch,
    },
    /// Run the experiment in the deterministic simulator: many seeds, or one seed replayed
    Sim {
        #[command(flatten)]
        common: Common,
        /// How many seeds to run, starting at --seed (default: the file's [sim] seeds)
        #[arg(long)]
        seeds: Option<u64>,
    },
    /// List the algorithms and the properties each one promises
    List,
    /// Compare mutual exclusion experiments under one workload at several cluster sizes: messages
    /// per entry (measured and textbook), synchronization delay, waits and throughput in one table
    Compare {
        /// Experiment files, e.g. configs/mutex-*.toml
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        #[command(flatten)]
        args: compare::CompareArgs,
    },
    /// Start a cluster and keep it up until `orchestrator down`
    Up {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        launch: Launch,
        /// Return once the cluster is up, leaving it running in the background
        #[arg(long)]
        detach: bool,
        /// Also apply the experiment's [[faults]] and [nemesis] (by default only live commands do)
        #[arg(long)]
        schedule: bool,
        /// (internal) write the run directory here once up
        #[arg(long, hide = true)]
        ready_file: Option<PathBuf>,
    },
    /// SIGKILL a node: an id, "leader", "last_killed" or "random"
    Kill {
        node: String,
        #[command(flatten)]
        lasting: Lasting,
        #[command(flatten)]
        target: RunDir,
    },
    /// Start a killed node again with the same id and data directory
    Restart {
        node: String,
        #[command(flatten)]
        target: RunDir,
    },
    /// SIGSTOP a node
    Pause {
        node: String,
        #[command(flatten)]
        lasting: Lasting,
        #[command(flatten)]
        target: RunDir,
    },
    /// SIGCONT a paused node
    Resume {
        node: String,
        #[command(flatten)]
        target: RunDir,
    },
    /// Make a node's clock run at RATE times true time (1.0 ends the drift)
    Drift {
        node: String,
        rate: f64,
        #[command(flatten)]
        lasting: Lasting,
        #[command(flatten)]
        target: RunDir,
    },
    /// Partition the cluster: groups like "1,2|3,4,5", or isolate:N, isolate:leader, halves,
    /// random-halves, majorities-ring, bridge
    Partition {
        spec: String,
        /// Close connections (TCP reset) instead of silently dropping messages
        #[arg(long)]
        reset: bool,
        #[command(flatten)]
        lasting: Lasting,
        #[command(flatten)]
        target: RunDir,
    },
    /// Remove every partition and link fault
    Heal {
        #[command(flatten)]
        target: RunDir,
    },
    /// Per-message faults on the directed link FROM → TO (replacing the link's earlier ones)
    Link {
        from: NodeId,
        to: NodeId,
        /// Nothing gets through (a one-way partition)
        #[arg(long)]
        cut: bool,
        /// With --cut: close connections instead of dropping silently
        #[arg(long)]
        reset: bool,
        /// Probability a message is lost
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Probability a message is delivered twice
        #[arg(long, default_value_t = 0.0)]
        duplicate: f64,
        /// Probability a message is held back and overtaken by the next
        #[arg(long, default_value_t = 0.0)]
        reorder: f64,
        /// Extra delay per message, e.g. 50ms
        #[arg(long, value_parser = humantime::parse_duration)]
        delay: Option<Duration>,
        /// Jitter around --delay (uniform ±jitter, or the stddev with --dist normal)
        #[arg(long, value_parser = humantime::parse_duration)]
        jitter: Option<Duration>,
        /// Shape of the delay: uniform, normal or exponential (mean --delay)
        #[arg(long, default_value = "uniform")]
        dist: String,
        /// Remove this link's faults
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        lasting: Lasting,
        #[command(flatten)]
        target: RunDir,
    },
    /// Show each node's liveness and view of the leader, and the faults in force
    Status {
        /// Print JSON instead of the table
        #[arg(long)]
        json: bool,
        /// Print only the leader every running node agrees on, or "none" (for scripts)
        #[arg(long, conflicts_with = "json")]
        leader: bool,
        /// Print one line per node, "ID STATE LEADER" (LEADER is "none" when it names none)
        #[arg(long, conflicts_with_all = ["json", "leader"])]
        views: bool,
        #[command(flatten)]
        target: RunDir,
    },
    /// Pass a command to an algorithm instance, e.g. `cmd 3 bully elect` (options go before NODE)
    Cmd {
        #[command(flatten)]
        target: RunDir,
        node: NodeId,
        /// The instance, named after its algorithm (e.g. bully)
        instance: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Stop the cluster that is up, judge the run and print the summary
    Down {
        #[command(flatten)]
        target: RunDir,
    },
    /// Client histories: `history check FILE --model kv`, `history gen --model kv --ops 10000`
    History {
        #[command(subcommand)]
        what: history::HistoryCmd,
    },
    /// Benchmarks that print their figures (not tests): `bench proxy`, `bench history`
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Write report.html and timeline.jsonl for an existing run directory
    Report {
        /// The run directory, e.g. runs/latest
        run_dir: PathBuf,
        /// How many events the diagram draws at most (the report says what it leaves out)
        #[arg(long, default_value_t = report_html::DEFAULT_MAX_EVENTS)]
        max_events: usize,
    },
    /// Write a run's events for another tool to stdout: `export --shiviz RUN_DIR > run.log`
    Export {
        /// ShiViz's log format (https://bestchai.bitbucket.io/shiviz/)
        #[arg(long)]
        shiviz: bool,
        /// The run directory, e.g. runs/latest
        run_dir: PathBuf,
        /// Only the first N events (a prefix of the timeline, so the clocks stay valid)
        #[arg(long)]
        max_events: Option<usize>,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// The proxy's added latency per message and its throughput, against a direct link
    Proxy {
        /// Frames sent one at a time, for latency
        #[arg(long, default_value_t = 5000)]
        paced: usize,
        /// Frames sent back to back, for the rate
        #[arg(long, default_value_t = 500_000)]
        flood: usize,
        /// Rounds of both measurements; the figures are medians
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// The linearizability checker: ops checked per second on generated histories
    History(history::BenchArgs),
}

/// Why a command could not give a verdict.
pub enum Failure {
    /// Usage or experiment file problems: exit 2.
    BadInput(String),
    /// The run itself failed: exit 3.
    Run(anyhow::Error),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match execute(cli.command) {
        Ok(code) => code,
        Err(Failure::BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn load(common: &Common) -> Result<Experiment, Failure> {
    let overrides = Overrides { nodes: common.nodes, seed: common.seed, duration: common.duration };
    let exp = Experiment::load(&common.config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
    for warning in exp.warnings() {
        eprintln!("warning: {}: {warning}", common.config.display());
    }
    Ok(exp)
}

/// The exit code for a verdict (see the module docs).
pub fn verdict_code(verdict: Verdict, interrupted: bool) -> u8 {
    match (interrupted, verdict) {
        (true, _) => 130,
        (false, Verdict::Held) => 0,
        (false, _) => 1,
    }
}

/// The node binary: the one given, or `node` beside this executable.
pub fn node_bin(given: Option<&PathBuf>) -> Result<PathBuf, Failure> {
    match given {
        Some(path) => Ok(path.clone()),
        None => Ok(std::env::current_exe().map_err(|e| Failure::Run(e.into()))?.with_file_name("node")),
    }
}

fn print_summary(summary: &report::Summary) -> ExitCode {
    print!("{}", summary.human());
    println!("run directory: {}", summary.run_dir.display());
    ExitCode::from(verdict_code(summary.verdict, summary.interrupted))
}

fn target(text: &str) -> Result<Target, Failure> {
    Target::parse(text).map_err(Failure::BadInput)
}

/// Sends a live request and prints the answer; the exit code comes from the orchestrator.
fn live_call(run: &Path, request: LiveRequest, timeout: Duration) -> Result<ExitCode, Failure> {
    let response: LiveResponse = live::call(run, &request, timeout).map_err(Failure::Run)?;
    if let Some(summary) = &response.summary {
        print_summary(summary);
    } else if response.ok {
        println!("{}", response.message.trim_end());
    } else {
        eprintln!("error: {}", response.message);
    }
    Ok(ExitCode::from(response.code))
}

fn apply(dir: &RunDir, action: Action, lasting: &Lasting) -> Result<ExitCode, Failure> {
    live_call(&dir.run, LiveRequest::Apply { action, lasting: lasting.lasting }, Duration::from_secs(15))
}

fn delay_of(delay: Option<Duration>, jitter: Option<Duration>, dist: &str) -> Result<Option<Delay>, Failure> {
    let Some(delay) = delay else {
        return match jitter {
            Some(_) => Err(Failure::BadInput("--jitter needs --delay".into())),
            None => Ok(None),
        };
    };
    let ms = delay.as_secs_f64() * 1000.0;
    let j = jitter.map_or(0.0, |j| j.as_secs_f64() * 1000.0);
    Ok(Some(match (dist, jitter) {
        ("uniform", None) => Delay::Fixed { ms },
        ("uniform", Some(_)) => Delay::Uniform { min_ms: (ms - j).max(0.0), max_ms: ms + j },
        ("normal", _) => Delay::Normal { mean_ms: ms, stddev_ms: j },
        ("exponential", _) => Delay::Exponential { mean_ms: ms },
        (other, _) => {
            return Err(Failure::BadInput(format!("--dist {other:?}: expected uniform, normal or exponential")))
        }
    }))
}

fn execute(command: Cmd) -> Result<ExitCode, Failure> {
    match command {
        Cmd::Run { common, launch } => {
            let exp = load(&common)?;
            let opts = run::RunOptions {
                out: common.out.clone(),
                node_bin: node_bin(launch.node_bin.as_ref())?,
                net: launch.net,
                stay_up: false,
                on_ready: None,
            };
            Ok(print_summary(&run::run(&exp, opts)?))
        }
        Cmd::Up { common, detach: true, .. } => detach(&common),
        Cmd::Up { common, launch, detach: false, ready_file, schedule } => {
            let mut exp = load(&common)?;
            if !schedule {
                exp.faults.clear();
                exp.nemesis = None;
            }
            let on_ready: Box<dyn FnOnce(&Path)> = Box::new(move |run_dir: &Path| {
                match &ready_file {
                    // Detached: from now on the log goes to the run directory, then tell the parent.
                    Some(file) => {
                        redirect_output(&run_dir.join("orchestrator.log"));
                        let _ = std::fs::write(file, run_dir.to_string_lossy().as_bytes());
                    }
                    None => {
                        println!("cluster up; run directory: {} (stop it with `orchestrator down`)", run_dir.display())
                    }
                }
            });
            let opts = run::RunOptions {
                out: common.out.clone(),
                node_bin: node_bin(launch.node_bin.as_ref())?,
                net: launch.net,
                stay_up: true,
                on_ready: Some(on_ready),
            };
            Ok(print_summary(&run::run(&exp, opts)?))
        }
        Cmd::Sim { common, seeds } => {
            let exp = load(&common)?;
            match (seeds, common.seed) {
                (None, Some(seed)) => {
                    let summary = simulate::replay(&exp, seed, &common.out)?;
                    print!("{}", summary.human());
                    println!("run directory: {}", summary.run_dir.display());
                    Ok(ExitCode::from(verdict_code(summary.verdict, false)))
                }
                (seeds, _) => {
                    let count = seeds.unwrap_or(exp.sim.seeds);
                    let all_held = simulate::sweep(&exp, &common.config, exp.seed, count)?;
                    Ok(if all_held { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
            }
        }
        Cmd::Compare { configs, args } => compare::compare(&configs, &args),
        Cmd::List => {
            for algorithm in algorithms::catalogue() {
                println!("{:<16} {}", algorithm.name(), algorithm.summary());
                for p in algorithm.properties() {
                    println!("    {:<26} {}", p.name, p.promise);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kill { node, lasting, target: t } => apply(&t, Action::Kill { node: target(&node)? }, &lasting),
        Cmd::Restart { node, target: t } => {
            apply(&t, Action::Restart { node: target(&node)? }, &Lasting { lasting: None })
        }
        Cmd::Pause { node, lasting, target: t } => apply(&t, Action::Pause { node: target(&node)? }, &lasting),
        Cmd::Resume { node, target: t } => {
            apply(&t, Action::Resume { node: target(&node)? }, &Lasting { lasting: None })
        }
        Cmd::Drift { node, rate, lasting, target: t } => {
            apply(&t, Action::Drift { node: target(&node)?, rate }, &lasting)
        }
        Cmd::Partition { spec, reset, lasting, target: t } => {
            let groups = PartitionSpec::parse(&spec).map_err(Failure::BadInput)?;
            let mode = if reset { CutMode::Reset } else { CutMode::Blackhole };
            apply(&t, Action::Partition { groups, mode }, &lasting)
        }
        Cmd::Heal { target: t } => apply(&t, Action::Heal, &Lasting { lasting: None }),
        Cmd::Link {
            from,
            to,
            cut,
            reset,
            loss,
            duplicate,
            reorder,
            delay,
            jitter,
            dist,
            clear,
            lasting,
            target: t,
        } => {
            let spec = if clear {
                LinkSpec::clear(from, to)
            } else {
                LinkSpec {
                    from,
                    to,
                    cut,
                    mode: if reset { CutMode::Reset } else { CutMode::Blackhole },
                    delay: delay_of(delay, jitter, &dist)?,
                    loss,
                    duplicate,
                    reorder,
                }
            };
            spec.validate().map_err(Failure::BadInput)?;
            apply(&t, Action::Link(spec), &lasting)
        }
        Cmd::Status { json, leader, views, target: t } => {
            let response = live::call(&t.run, &LiveRequest::Status, Duration::from_secs(15)).map_err(Failure::Run)?;
            match &response.status {
                Some(status) if json => println!("{}", serde_json::to_string_pretty(status).unwrap_or_default()),
                Some(status) if leader => {
                    println!("{}", status.unanimous_leader().map_or("none".to_string(), |l| l.to_string()))
                }
                Some(status) if views => {
                    for n in &status.nodes {
                        let named =
                            n.view.as_ref().and_then(|v| if v.role == "leader" { Some(n.id) } else { v.leader });
                        println!("{} {} {}", n.id, n.state, named.map_or("none".to_string(), |l| l.to_string()));
                    }
                }
                _ => print!("{}", response.message),
            }
            Ok(ExitCode::from(response.code))
        }
        Cmd::Cmd { node, instance, args, target: t } => {
            live_call(&t.run, LiveRequest::Cmd { node, instance: Some(instance), args }, Duration::from_secs(15))
        }
        Cmd::Bench { what: BenchWhat::Proxy { paced, flood, rounds } } => {
            if paced == 0 || flood == 0 || rounds == 0 {
                return Err(Failure::BadInput("--paced, --flood and --rounds must be above 0".into()));
            }
            bench::proxy(paced, flood, rounds).map_err(Failure::Run)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::History { what } => history::run(what),
        Cmd::Bench { what: BenchWhat::History(args) } => history::bench(&args),
        Cmd::Down { target: t } => live_call(&t.run, LiveRequest::Down, Duration::from_secs(60)),
        Cmd::Report { run_dir, max_events } => report_cmd(&run_dir, max_events),
        Cmd::Export { shiviz, run_dir, max_events } => export_cmd(shiviz, &run_dir, max_events),
    }
}

/// `orchestrator report RUN_DIR`: the page and the timeline for a run that already happened.
fn report_cmd(run_dir: &Path, max_events: usize) -> Result<ExitCode, Failure> {
    if !run_dir.is_dir() {
        return Err(Failure::BadInput(format!("{} is not a run directory", run_dir.display())));
    }
    let loaded = report_html::load_run(run_dir).map_err(|e| Failure::BadInput(format!("{e:#}")))?;
    let summary = loaded.summary;
    if loaded.judged {
        summary.write(run_dir).map_err(Failure::Run)?;
        eprintln!("{} had no summary.json: judged the traces again and wrote one", run_dir.display());
    }
    let written = report_html::write_run_files(&summary, loaded.run, max_events).map_err(Failure::Run)?;
    // A closed pipe (`| head -1`) is no error: the files are written.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout(),
        "{} ({} KiB; the diagram draws {} of {} events)\n{}",
        written.report.display(),
        written.bytes.div_ceil(1024),
        written.drawn,
        written.total,
        written.timeline.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `orchestrator export --shiviz RUN_DIR`: the log on stdout, notes on stderr.
fn export_cmd(shiviz: bool, run_dir: &Path, max_events: Option<usize>) -> Result<ExitCode, Failure> {
    if !shiviz {
        return Err(Failure::BadInput("choose a format: --shiviz".into()));
    }
    let loaded = report_html::load_run(run_dir).map_err(|e| Failure::BadInput(format!("{e:#}")))?;
    for p in &loaded.problems {
        eprintln!("warning: {p}");
    }
    let export = shiviz::export(&timeline::Timeline::new(loaded.run.records, loaded.run.faults), max_events);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(export.text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Failure::Run(e.into()));
        }
    }
    if export.differing > 0 {
        eprintln!(
            "note: {} of {} events' vector clocks differ from the traces' (a record missing from the traces, \
             e.g. cut off by a SIGKILL); the export's clocks are recomputed from the \
             send/receive pairs and follow ShiViz's rules",
            export.differing, export.events
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `up --detach`: starts `up` again as a background process in its own session and returns once
/// it reports the cluster up (or fails, with its error output).
fn detach(common: &Common) -> Result<ExitCode, Failure> {
    use std::os::unix::process::CommandExt;
    load(common)?; // bad input is reported here, in the foreground
    let tag = format!("clusterlab-up-{}", std::process::id());
    let ready = std::env::temp_dir().join(format!("{tag}.ready"));
    let log_path = std::env::temp_dir().join(format!("{tag}.log"));
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(&log_path).map_err(|e| Failure::Run(e.into()))?;
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--detach").collect();
    args.push("--ready-file".into());
    args.push(ready.to_string_lossy().into_owned());
    let mut cmd = std::process::Command::new(std::env::current_exe().map_err(|e| Failure::Run(e.into()))?);
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| Failure::Run(e.into()))?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; the background orchestrator leaves our session so a
    // closing terminal does not take it down.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Failure::Run(e.into()))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(run_dir) = std::fs::read_to_string(&ready) {
            if !run_dir.is_empty() {
                let _ = std::fs::remove_file(&ready);
                let _ = std::fs::remove_file(&log_path);
                println!("cluster up (orchestrator pid {}); run directory: {run_dir}", child.id());
                return Ok(ExitCode::SUCCESS);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_file(&log_path);
            eprint!("{output}");
            return Ok(ExitCode::from(status.code().unwrap_or(3) as u8));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Run(anyhow::anyhow!("the cluster did not come up within 60 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Points stdout and stderr at a file (a detached orchestrator's log).
fn redirect_output(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        // SAFETY: dup2 on descriptors we own; the file stays open through the new descriptors.
        unsafe {
            libc::dup2(file.as_raw_fd(), 1);
            libc::dup2(file.as_raw_fd(), 2);
        }
    }
}

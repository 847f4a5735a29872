//! The command line: every subcommand and flag, as clap reads them. What each one does is in
//! [`crate::execute`] and the modules it calls.

use crate::network::NetMode;
use crate::{compare, detectors, history, report_html};
use algorithms::NodeId;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "orchestrator",
    version,
    about = "Run distributed algorithms as real processes, break them, and check what happened"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(clap::Args, Clone)]
pub struct Common {
    /// The experiment file (TOML), e.g. configs/bully.toml
    pub config: PathBuf,
    /// Number of nodes (overrides the file and CLUSTERLAB_NODES)
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Seed of every random choice (overrides the file and CLUSTERLAB_SEED)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run length, e.g. 10s or 1m30s (overrides the file and CLUSTERLAB_DURATION)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Where run directories go
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

#[derive(clap::Args, Clone)]
pub struct Launch {
    /// How nodes reach each other: the frame-aware proxy (default), iptables rules in a private
    /// network namespace (root only), or direct TCP (process faults only)
    #[arg(long, value_enum, default_value_t = NetMode::Proxy)]
    pub net: NetMode,
    /// The node binary (default: `node` beside this executable)
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
}

/// Which cluster a live command talks to.
#[derive(clap::Args, Clone)]
pub struct RunDir {
    /// The run directory of the cluster that is up
    #[arg(long, default_value = "runs/latest")]
    pub run: PathBuf,
}

/// How long a live fault lasts before it is undone.
#[derive(clap::Args, Clone)]
pub struct Lasting {
    /// Undo the fault after this long (restart, resume, heal, clear)
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub lasting: Option<Duration>,
}

#[derive(Subcommand)]
#[allow(clippy::enum_variant_names)] // `orchestrator cmd` is a subcommand like the others
pub enum Cmd {
    /// Launch the nodes, apply the scheduled faults, collect the traces, check and report
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        launch: Launch,
        /// Run N times, at seeds seed..seed+N (the nemesis and the workload draw from the seed),
        /// one line per run and a tally; the exit code is the worst run's
        #[arg(long)]
        repeat: Option<u64>,
    },
    /// Run the experiment in the deterministic simulator: many seeds, or one seed replayed
    Sim {
        #[command(flatten)]
        common: Common,
        /// How many seeds to run, starting at --seed (default: the file's sim.seeds)
        #[arg(long)]
        seeds: Option<u64>,
        /// Threads a sweep runs seeds on (default: every core); the output is the same for any
        /// number
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// List the algorithms and the properties each one promises
    List,
    /// Maelstrom's command line: `maelstrom test -w broadcast --bin ./my_node --node-count 5 ...`
    /// runs a Maelstrom-protocol program on real processes and prints Maelstrom's results
    Maelstrom {
        #[command(subcommand)]
        what: MaelstromCmd,
    },
    /// Compare mutual exclusion experiments under one workload at several cluster sizes (messages
    /// per entry, synchronization delay, waits, throughput), or replicated services at several
    /// server and client counts (ops/s, latency against the RTT, messages per operation,
    /// availability after SIGKILL of the leader)
    Compare {
        /// Experiment files, e.g. configs/mutex-*.toml or configs/raft.toml configs/kv-single.toml
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        #[command(flatten)]
        args: compare::CompareArgs,
    },
    /// Sweep failure detectors (timeouts, φ thresholds) against delay jitter, with a kill and a
    /// pause: detection time against false suspicions per minute, as a table and a plot
    Detectors {
        /// Experiment files of heartbeat and phi-accrual, e.g. configs/detector-*.toml
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        #[command(flatten)]
        args: detectors::DetectorArgs,
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
        /// Also apply the experiment's faults and nemesis (by default only live commands do)
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
    /// Set a node's algorithm state to arbitrary values (only self-stabilizing algorithms, such
    /// as dijkstra-ring, accept it)
    Corrupt {
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
    /// Partition the cluster: groups like "1,2|3,4,5", or isolate:N, isolate:leader,
    /// isolate:leader+6 (the leader with node 6), halves, random-halves, majorities-ring, bridge
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
    /// Pass a command to the node's algorithm, e.g. `cmd 3 elect` (`cmd 3 bully elect` also works;
    /// options go before NODE)
    Cmd {
        #[command(flatten)]
        target: RunDir,
        node: NodeId,
        /// The command and its arguments, optionally after the instance's name (the algorithm's)
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
    /// Benchmarks that print their figures (not tests): `bench proxy`, `bench history`, `bench persist`
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
        /// ShiViz's log format (<https://bestchai.bitbucket.io/shiviz/>)
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
pub enum BenchWhat {
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
    /// Real clusters of growing size on the proxy network: launch time, first leader, messages
    /// delivered / sent, peak memory (`bench scale --nodes 5,25,100,200`)
    Scale {
        /// Cluster sizes, comma-separated
        #[arg(long, value_delimiter = ',', default_value = "5,25,100,200")]
        nodes: Vec<usize>,
        /// Configs to run (configs/<name>.toml), comma-separated
        #[arg(long, value_delimiter = ',', default_value = "raft-election,bully")]
        algorithms: Vec<String>,
        /// How long each run lasts once the nodes are connected
        #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
        duration: Duration,
        /// The node binary (default: `node` beside this orchestrator)
        #[arg(long)]
        node_bin: Option<PathBuf>,
    },
    /// The linearizability checker: ops checked per second on generated histories
    History(history::BenchArgs),
    /// Persisting one appended Raft entry at several log lengths: the whole state rewritten
    /// against one record appended, fsync'd, in the same run
    Persist {
        /// Log lengths, comma-separated
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
        entries: Vec<usize>,
        /// Entries appended (and persisted) at each length; the figures are means
        #[arg(long, default_value_t = 50)]
        appends: usize,
        /// Where the files go (a scratch directory inside it, removed at the end)
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// `orchestrator maelstrom ...`
#[derive(Subcommand)]
pub enum MaelstromCmd {
    /// Run a Maelstrom-protocol program under a workload (exit 0 valid, 1 invalid, 2 bad input)
    Test(crate::maelstrom::TestArgs),
}

//! `orchestrator maelstrom test`: Maelstrom's command line, for muscle memory. The flags become an
//! experiment (`algorithm = "maelstrom"`, written to `<out>/maelstrom-<workload>.toml`), which runs
//! like any other on real processes; the results are then printed in Maelstrom's style.
//!
//! What each flag does, as in Maelstrom: `--node-count` servers, `--concurrency` client nodes
//! (`2n`: twice the servers), `--rate` operations per second over all clients, `--time-limit`
//! seconds, `--latency` milliseconds added to every message (a link delay on every link that has
//! a server at one end), `--nemesis` faults every `--nemesis-interval` seconds until a quiet
//! recovery at the end, `--topology` for broadcast. The broadcast checker waits `params.settle_ms`
//! = 1 s + 10 × `--latency` before it holds a server's last read to a value.

use crate::experiment::{Experiment, Overrides};
use crate::network::NetMode;
use crate::report::Summary;
use crate::Failure;
use algorithms::check::metric::Metric;
use algorithms::Verdict;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Clone, Debug)]
pub struct TestArgs {
    /// The workload: echo, unique-ids, broadcast, g-counter, lin-kv
    #[arg(short = 'w', long)]
    pub workload: String,
    /// The node program (an executable; a script needs its #! line)
    #[arg(long)]
    pub bin: PathBuf,
    /// Arguments for the program
    #[arg(long = "arg", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Servers
    #[arg(long, default_value_t = 1)]
    pub node_count: usize,
    /// Seconds of operations
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Operations per second, over all clients
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Client nodes: a number, or `Kn` for K times the node count
    #[arg(long, default_value = "1n")]
    pub concurrency: String,
    /// Faults: any of partition, kill, pause, comma-separated
    #[arg(long, default_value = "")]
    pub nemesis: String,
    /// Seconds between faults
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Milliseconds added to every message
    #[arg(long, default_value_t = 0.0)]
    pub latency: f64,
    /// The broadcast workload's topology: grid, line, tree2, tree3, tree4, total
    #[arg(long)]
    pub topology: Option<String>,
    /// Seconds an operation waits for its reply before it is indeterminate (info)
    #[arg(long, default_value_t = 1.0)]
    pub timeout: f64,
    /// Seconds each program has to answer `init`
    #[arg(long, default_value_t = 10.0)]
    pub init_timeout: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where run directories go
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = NetMode::Proxy)]
    pub net: NetMode,
    /// The node binary (default: `node` beside this executable)
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
}

/// The client nodes `--concurrency` asks for.
fn concurrency(text: &str, nodes: usize) -> Result<usize, String> {
    let bad = || format!("--concurrency: {text:?} is neither a number nor Kn (K times --node-count)");
    let n = match text.strip_suffix('n') {
        Some("") => nodes,
        Some(k) => k.parse::<usize>().map_err(|_| bad())? * nodes,
        None => text.parse::<usize>().map_err(|_| bad())?,
    };
    if n == 0 {
        return Err("--concurrency: at least one client".into());
    }
    Ok(n)
}

/// The nemesis kinds `--nemesis` names.
fn kinds(text: &str) -> Result<Vec<&'static str>, String> {
    let mut kinds = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        kinds.push(match word {
            "partition" => "partition-random-halves",
            "kill" => "kill",
            "pause" => "pause",
            other => return Err(format!("--nemesis: unknown fault {other:?}; known: partition, kill, pause")),
        });
    }
    Ok(kinds)
}

/// The experiment the flags describe, as TOML.
pub fn experiment(args: &TestArgs) -> Result<String, String> {
    if !algorithms::maelstrom::WORKLOADS.contains(&args.workload.as_str()) {
        return Err(format!(
            "--workload: unknown workload {:?}; known: {}",
            args.workload,
            algorithms::maelstrom::WORKLOADS.join(", ")
        ));
    }
    let bin = std::fs::canonicalize(&args.bin).map_err(|e| format!("--bin: {}: {e}", args.bin.display()))?;
    if !args.time_limit.is_finite() || args.time_limit <= 0.0 {
        return Err("--time-limit: must be above 0 seconds".into());
    }
    if !args.rate.is_finite() || args.rate <= 0.0 {
        return Err("--rate: must be above 0".into());
    }
    if !args.latency.is_finite() || args.latency < 0.0 {
        return Err("--latency: must be 0 or above".into());
    }
    if !args.timeout.is_finite() || args.timeout <= 0.0 {
        return Err("--timeout: must be above 0 seconds".into());
    }
    if !args.init_timeout.is_finite() || args.init_timeout < 0.001 {
        return Err("--init-timeout: must be at least 1 ms".into());
    }
    let clients = concurrency(&args.concurrency, args.node_count)?;
    let kinds = kinds(&args.nemesis)?;
    let mut command = vec![bin.display().to_string()];
    command.extend(args.args.iter().cloned());
    let q = |s: &str| serde_json::to_string(s).expect("strings encode");
    let mut toml = String::new();
    let _ = writeln!(toml, "name = {}", q(&format!("maelstrom-{}", args.workload)));
    let _ = writeln!(toml, "algorithm = \"maelstrom\"");
    let _ = writeln!(toml, "nodes = {}", args.node_count);
    let _ = writeln!(toml, "seed = {}", args.seed);
    let _ = writeln!(toml, "duration = \"{}ms\"", (args.time_limit * 1000.0).round() as u64);
    // Dozens of nodes on a small machine take longer than the default to connect: 10 s + 0.5 s a node.
    let _ = writeln!(toml, "connect_timeout = \"{}ms\"", 10_000 + 500 * (args.node_count + clients));
    let commands: Vec<String> = command.iter().map(|c| q(c)).collect();
    let _ = writeln!(toml, "[params]\ncommand = [{}]", commands.join(", "));
    let _ = writeln!(toml, "init_timeout_ms = {}", (args.init_timeout * 1000.0).round() as u64);
    // A value needs a few hops to reach every server: the checker waits for ten latencies more.
    let _ = writeln!(toml, "settle_ms = {}", (1000.0 + 10.0 * args.latency).round() as u64);
    let _ = writeln!(toml, "[workload]\nmaelstrom = {}\nclients = {clients}", q(&args.workload));
    let _ = writeln!(toml, "rate_per_s = {:?}", args.rate / clients as f64);
    let _ = writeln!(toml, "timeout = \"{}ms\"", (args.timeout * 1000.0).round() as u64);
    if let Some(topology) = &args.topology {
        let _ = writeln!(toml, "topology = {}", q(topology));
    }
    if !kinds.is_empty() {
        let interval = (args.nemesis_interval * 1000.0).round() as u64;
        let recovery = (args.time_limit * 1000.0 / 4.0).round().clamp(1000.0, 10_000.0) as u64;
        let kinds: Vec<String> = kinds.iter().map(|k| q(k)).collect();
        let _ = writeln!(
            toml,
            "[nemesis]\nstart = \"{interval}ms\"\ninterval = \"{interval}ms\"\nrecovery = \"{recovery}ms\"\nkinds = [{}]",
            kinds.join(", ")
        );
    }
    if args.latency > 0.0 {
        let all = args.node_count + clients;
        for from in 1..=all {
            for to in (1..=all).filter(|to| *to != from && (from.min(*to) <= args.node_count)) {
                let _ = writeln!(
                    toml,
                    "[[faults]]\nat = \"0ms\"\naction = \"link\"\nfrom = {from}\nto = {to}\ndelay = {{ dist = \"fixed\", ms = {:?} }}",
                    args.latency
                );
            }
        }
    }
    Ok(toml)
}

/// Runs the test; 0 valid, 1 invalid (or not judged), 2 bad input.
pub fn test(args: &TestArgs) -> Result<ExitCode, Failure> {
    let toml = experiment(args).map_err(Failure::BadInput)?;
    std::fs::create_dir_all(&args.out)?;
    let file = args.out.join(format!("maelstrom-{}.toml", args.workload));
    std::fs::write(&file, toml)?;
    let exp = Experiment::load(&file, &Overrides::default()).map_err(|e| Failure::BadInput(e.to_string()))?;
    let opts = crate::run::RunOptions {
        out: args.out.clone(),
        node_bin: crate::node_bin(args.node_bin.as_ref())?,
        net: args.net,
        stay_up: false,
        on_ready: None,
    };
    let summary = crate::run::run(&exp, opts)?;
    print!("{}", results(&summary));
    println!("run directory: {}", summary.run_dir.display());
    Ok(ExitCode::from(crate::verdict_code(summary.verdict, summary.interrupted)))
}

/// A metric as a plain number, when it is one.
fn number(summary: &Summary, name: &str) -> Option<f64> {
    match Metric::of(summary.metrics.get(name)?) {
        Metric::Count(n) => Some(n as f64),
        Metric::Figure(f) => Some(f),
        _ => None,
    }
}

/// Maelstrom's closing lines: the operation counts, availability, msgs-per-op, latencies, each
/// property, and the verdict.
pub fn results(summary: &Summary) -> String {
    let count = |name: &str| number(summary, name).unwrap_or(0.0) as u64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        " :stats        {{:count {}, :ok-count {}, :fail-count {}, :info-count {}}}",
        count("operations"),
        count("operations_ok"),
        count("operations_fail"),
        count("operations_info") + count("operations_open")
    );
    if let Some(a) = number(summary, "availability") {
        let _ = writeln!(out, " :availability {a:.3}");
    }
    if let Some(m) = number(summary, "msgs_per_op") {
        match number(summary, "service_msgs_per_op") {
            Some(s) => {
                let _ = writeln!(
                    out,
                    " :net          {{:servers {{:msgs-per-op {m:.2}}}, :services {{:msgs-per-op {s:.2}}}}}"
                );
            }
            None => {
                let _ = writeln!(out, " :net          {{:servers {{:msgs-per-op {m:.2}}}}}");
            }
        }
    }
    for (name, label) in [("latency_ms", ":latency"), ("stable_latency_ms", ":stable-latencies")] {
        if let Some(Metric::Distribution(d)) = summary.metrics.get(name).map(Metric::of) {
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
            let _ = writeln!(
                out,
                " {label:<17}{{:count {}, 0.5 {}, 0.9 {}, 0.99 {}, 1 {}}} ms",
                d.count,
                f(d.p50),
                f(d.p90),
                f(d.p99),
                f(d.max)
            );
        }
    }
    for p in &summary.properties {
        let _ = writeln!(out, " {:<22} {} {}", p.name, crate::report::verdict_word(p.verdict), p.detail);
    }
    for problem in &summary.problems {
        let _ = writeln!(out, " problem: {problem}");
    }
    let valid = summary.verdict == Verdict::Held;
    let _ = writeln!(out, " :valid?       {valid}");
    out += if valid {
        "\nEverything looks good! ヽ(‘ー`)ノ\n"
    } else {
        "\nAnalysis invalid! (ﾉಥ益ಥ）ﾉ ┻━┻\n"
    };
    out
}

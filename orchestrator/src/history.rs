//! `orchestrator history check|gen`, `orchestrator bench history`, and the run directory's
//! `history.jsonl`.
//!
//! The checker itself lives in `algorithms::check::history` (no IO, no clock); this module reads
//! and writes the files, gives the search its deadline, and tells a person what it found.

use crate::Failure;
use algorithms::check::history::gen::{generate, Bug, GenOptions};
use algorithms::check::history::{check, CheckOptions, History, ModelKind, Outcome, Report, Status};
use algorithms::Execution;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The file a run directory's client history goes in.
pub const FILE: &str = "history.jsonl";

#[derive(Subcommand)]
pub enum HistoryCmd {
    /// Check a history (JSON lines, Jepsen's shape) for linearizability against a model.
    /// Exit 0: linearizable; 1: not, or unknown (the timeout ran out); 2: bad input
    Check {
        /// The history file, e.g. runs/latest/history.jsonl
        file: PathBuf,
        /// The sequential model: register, cas-register, kv, mutex, set or counter
        #[arg(long)]
        model: String,
        /// Give up after this long, with the verdict unknown (e.g. 60s, 5m)
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        timeout: Duration,
        /// Also write a page with the history view (one row per client, the failing op marked)
        #[arg(long)]
        html: Option<PathBuf>,
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Generate a seeded history with real concurrency: linearizable by construction, or with
    /// one injected violation (--bug)
    Gen {
        /// The model the clients run against
        #[arg(long)]
        model: String,
        /// Clients running at once
        #[arg(long, default_value_t = 10)]
        clients: usize,
        /// Operations in the history
        #[arg(long, default_value_t = 1000)]
        ops: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Inject one violation: stale-read, fail-visible (not mutex) or double-grant (mutex)
        #[arg(long)]
        bug: Option<String>,
        /// Keys the operations spread over (default: kv 10, mutex 3, others 1)
        #[arg(long)]
        keys: Option<usize>,
        /// Share of operations whose client crashes (info)
        #[arg(long, default_value_t = 0.01)]
        crash_rate: f64,
        /// Share of operations the service refuses (fail)
        #[arg(long, default_value_t = 0.01)]
        fail_rate: f64,
        /// Write here instead of to stdout
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `orchestrator bench history`.
#[derive(Args)]
pub struct BenchArgs {
    /// The model of the generated histories
    #[arg(long, default_value = "kv")]
    model: String,
    /// History sizes, in operations
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    ops: Vec<usize>,
    /// Client counts
    #[arg(long, value_delimiter = ',', default_value = "10,50")]
    clients: Vec<usize>,
    /// The generator's seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give up on one history after this long
    #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
    timeout: Duration,
}

pub fn run(cmd: HistoryCmd) -> Result<ExitCode, Failure> {
    match cmd {
        HistoryCmd::Check { file, model, timeout, html, json } => {
            check_cmd(&file, &model, timeout, html.as_deref(), json)
        }
        HistoryCmd::Gen { model, clients, ops, seed, bug, keys, crash_rate, fail_rate, out } => {
            let model = ModelKind::parse(&model).map_err(Failure::BadInput)?;
            let mut options = GenOptions::new(model, clients, ops, seed);
            options.bug = bug.as_deref().map(Bug::parse).transpose().map_err(Failure::BadInput)?;
            options.keys = keys.unwrap_or(options.keys);
            for (name, rate) in [("--crash-rate", crash_rate), ("--fail-rate", fail_rate)] {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(Failure::BadInput(format!("{name} {rate}: expected a share between 0 and 1")));
                }
            }
            options.crash_rate = crash_rate;
            options.fail_rate = fail_rate;
            let history = generate(&options).map_err(Failure::BadInput)?;
            let text = history.to_jsonl();
            match &out {
                Some(path) => std::fs::write(path, text)
                    .map_err(|e| Failure::Run(anyhow::anyhow!("writing {}: {e}", path.display())))?,
                None => stdout(&text)?,
            }
            let what = match options.bug {
                Some(bug) => format!("with one injected violation: {}", bug.summary()),
                None => "linearizable by construction".to_string(),
            };
            eprintln!("{model}: {} · seed {seed} · {what}", history.counts());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is no error.
fn stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Run(e.into())),
        _ => Ok(()),
    }
}

/// Reads and parses a history file; problems are bad input naming the file and the line.
pub fn load(file: &Path) -> Result<History, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| Failure::BadInput(format!("{}: {e}", file.display())))?;
    History::parse(&text).map_err(|e| Failure::BadInput(format!("{}: {e}", file.display())))
}

/// Checks with a deadline; the model's complaints about an operation are bad input.
pub fn check_until(history: &History, model: ModelKind, timeout: Duration) -> Result<(Report, Duration), String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let stop = move || Instant::now() >= deadline;
    let report = check(history, model, CheckOptions { stop: &stop }).map_err(|e| e.to_string())?;
    Ok((report, started.elapsed()))
}

fn check_cmd(
    file: &Path,
    model: &str,
    timeout: Duration,
    html: Option<&Path>,
    as_json: bool,
) -> Result<ExitCode, Failure> {
    let model = ModelKind::parse(model).map_err(Failure::BadInput)?;
    let history = load(file)?;
    let (report, took) =
        check_until(&history, model, timeout).map_err(|e| Failure::BadInput(format!("{}: {e}", file.display())))?;
    let mut text = if as_json {
        serde_json::to_string_pretty(&report_json(&history, &report, file, took)).unwrap_or_default() + "\n"
    } else {
        describe(&history, &report, &file.display().to_string(), took, timeout)
    };
    if let Some(page) = html {
        let title = file.display().to_string();
        let html = crate::report_html::history::page(&title, &history, model, Some(&report));
        std::fs::write(page, html).map_err(|e| Failure::Run(anyhow::anyhow!("writing {}: {e}", page.display())))?;
        if !as_json {
            text += &format!("history view: {}\n", page.display());
        }
    }
    stdout(&text)?;
    Ok(ExitCode::from(match report.outcome {
        Outcome::Linearizable => 0,
        _ => 1,
    }))
}

/// Where an operation is in the file: `line 12` or `lines 12–15`.
fn lines_of(history: &History, op: usize) -> String {
    let o = &history.ops()[op];
    match o.complete {
        Some(c) => format!("lines {}–{}", history.line(o.invoke), history.line(c)),
        None => format!("line {}", history.line(o.invoke)),
    }
}

fn op_line(history: &History, op: usize) -> String {
    let o = &history.ops()[op];
    format!("{:<16} process {:<5} {}", lines_of(history, op), o.process, o.describe())
}

/// The result as a person reads it; ends with the `verdict:` line.
pub fn describe(history: &History, report: &Report, file: &str, took: Duration, timeout: Duration) -> String {
    let mut out = format!("{file}: {}\n", history.counts());
    let keys = |n: usize| format!("{n} key{}", if n == 1 { "" } else { "s" });
    match report.outcome {
        Outcome::Linearizable => {
            let _ = writeln!(
                out,
                "{}: linearizable ({} checked, {} configurations explored, {:.3} s)",
                report.model,
                keys(report.keys),
                report.explored,
                took.as_secs_f64()
            );
        }
        Outcome::Unknown => {
            let _ = writeln!(
                out,
                "{}: unknown: the timeout ({}) ran out with {} of {} undecided and no violation found",
                report.model,
                humantime::format_duration(timeout),
                keys(report.undecided.len()),
                report.keys
            );
        }
        Outcome::NotLinearizable => {
            for v in &report.violations {
                let key = algorithms::check::history::key_label(v.key.as_ref());
                let _ = writeln!(out, "{}: NOT linearizable on key {key} ({:.3} s)", report.model, took.as_secs_f64());
                let _ = writeln!(out, "  cannot place     {}", op_line(history, v.op));
                let _ = writeln!(out, "  state then       {}", v.state);
                let _ = writeln!(out, "  why              {}", v.explain(history, report.model));
                const SHOWN: usize = 10;
                if v.concurrent.is_empty() {
                    let _ = writeln!(out, "  concurrent with it: nothing (it overlaps no other operation on the key)");
                } else {
                    let _ = writeln!(out, "  concurrent with it ({}):", v.concurrent.len());
                    for &c in v.concurrent.iter().take(SHOWN) {
                        let _ = writeln!(out, "    {}", op_line(history, c));
                    }
                    if v.concurrent.len() > SHOWN {
                        let _ = writeln!(out, "    … and {} more", v.concurrent.len() - SHOWN);
                    }
                }
                let _ = writeln!(
                    out,
                    "  longest linearizable prefix: {} operations; its end, in linearization order, with the state each left:",
                    v.prefix.len()
                );
                if v.tail.is_empty() {
                    let _ = writeln!(out, "    (empty: not even the first operation fits)");
                }
                for (op, state) in &v.tail {
                    let _ = writeln!(out, "    {:<70} → {state}", op_line(history, *op));
                }
            }
            if !report.undecided.is_empty() {
                let _ = writeln!(out, "  ({} not decided before the timeout)", keys(report.undecided.len()));
            }
        }
    }
    let _ = writeln!(out, "verdict: {}", report.outcome.word().to_uppercase());
    out
}

fn op_json(history: &History, op: usize) -> Value {
    let o = &history.ops()[op];
    json!({
        "index": op,
        "process": o.process,
        "f": o.f,
        "key": o.key,
        "value": o.input,
        "result": if o.status == Status::Ok { o.output.clone() } else { Value::Null },
        "status": o.status,
        "invoke_line": history.line(o.invoke),
        "complete_line": o.complete.map(|c| history.line(c)),
    })
}

fn report_json(history: &History, report: &Report, file: &Path, took: Duration) -> Value {
    let c = history.counts();
    json!({
        "file": file,
        "model": report.model.name(),
        "outcome": report.outcome,
        "operations": {"total": c.ops, "ok": c.ok, "fail": c.fail, "info": c.info},
        "processes": c.processes,
        "keys": report.keys,
        "undecided_keys": report.undecided,
        "explored": report.explored,
        "seconds": took.as_secs_f64(),
        "violations": report.violations.iter().map(|v| json!({
            "key": v.key,
            "op": op_json(history, v.op),
            "state": v.state,
            "explanation": v.explain(history, report.model),
            "concurrent": v.concurrent.iter().map(|&c| op_json(history, c)).collect::<Vec<_>>(),
            "prefix": v.prefix,
            "prefix_tail": v.tail.iter().map(|(op, state)| json!({"op": op_json(history, *op), "state": state})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Writes the run's client history into its directory when its traces have one; returns the path.
pub fn write_run_history(run: &Execution, run_dir: &Path) -> Option<PathBuf> {
    let history = History::from_run(run);
    let path = run_dir.join(FILE);
    if history.is_empty() {
        return None;
    }
    match std::fs::write(&path, history.to_jsonl()) {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("warning: {}: {e}", path.display());
            None
        }
    }
}

// -- the benchmark ------------------------------------------------------------------------------

pub fn bench(args: &BenchArgs) -> Result<ExitCode, Failure> {
    let model = ModelKind::parse(&args.model).map_err(Failure::BadInput)?;
    if args.ops.contains(&0) || args.clients.contains(&0) {
        return Err(Failure::BadInput("--ops and --clients must be above 0".into()));
    }
    let bug = Bug::ALL.into_iter().find(|b| b.fits(model)).expect("every model has a bug");
    println!(
        "linearizability checker benchmark: {model} histories from the generator (seed {}, default keys and \
         crash/fail rates); 'violated' histories carry one injected {}\n",
        args.seed,
        bug.name()
    );
    println!(
        "{:>8} {:>8} {:>10} {:>18} {:>10} {:>14} {:>12}",
        "ops", "clients", "history", "verdict", "check s", "ops/s", "explored"
    );
    let mut goals: Vec<(String, bool)> = Vec::new();
    for &ops in &args.ops {
        for &clients in &args.clients {
            for injected in [None, Some(bug)] {
                let mut options = GenOptions::new(model, clients, ops, args.seed);
                options.bug = injected;
                let history = generate(&options).map_err(Failure::BadInput)?;
                let (report, took) = check_until(&history, model, args.timeout).map_err(Failure::BadInput)?;
                let expected = if injected.is_some() { Outcome::NotLinearizable } else { Outcome::Linearizable };
                let verdict = if report.outcome == expected {
                    report.outcome.word().to_string()
                } else {
                    format!("{} (WRONG)", report.outcome.word())
                };
                let secs = took.as_secs_f64();
                println!(
                    "{:>8} {:>8} {:>10} {:>18} {:>10.3} {:>14.0} {:>12}",
                    ops,
                    clients,
                    if injected.is_some() { "violated" } else { "valid" },
                    verdict,
                    secs,
                    ops as f64 / secs.max(1e-9),
                    report.explored
                );
                let right = report.outcome == expected;
                if model == ModelKind::Kv && ops == 10_000 && clients == 10 && injected.is_none() {
                    goals.push((
                        format!("10k-operation, 10-client kv history in {secs:.3} s (goal < 1 s)"),
                        right && secs < 1.0,
                    ));
                }
                if model == ModelKind::Kv && ops == 100_000 {
                    goals.push((
                        format!(
                            "100k operations, {clients} clients, {}: {secs:.3} s (goal < 10 s)",
                            if injected.is_some() { "violated" } else { "valid" }
                        ),
                        right && secs < 10.0,
                    ));
                }
            }
        }
    }
    if !goals.is_empty() {
        println!();
        for (what, met) in &goals {
            println!("{what}: {}", if *met { "met" } else { "NOT met" });
        }
    }
    Ok(ExitCode::SUCCESS)
}

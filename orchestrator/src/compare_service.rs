//! `orchestrator compare` for replicated services (any [`Family::Replication`] algorithm: raft,
//! multi-paxos, kv-single, quorum): per algorithm × servers × clients, the closed-loop key-value
//! workload's committed operations per second and latency p50/p99 against the round trip between
//! two nodes measured in the same run, messages per completed operation beside the algorithm's
//! own per-entry figure and its textbook value, and availability after SIGKILL of the leader.
//!
//! ```sh
//! orchestrator compare configs/raft.toml --nodes 3,5 --clients 1,10,50          # real processes
//! orchestrator compare configs/raft.toml --nodes 3,5 --clients 1,10,50 --sim    # the simulator
//! ```
//!
//! Each experiment file contributes its algorithm and its parameters, not its workload or its
//! faults. A throughput cell runs `C` closed-loop clients (the next operation as soon as one
//! completes) on the file's keys and mix, without faults. The round trip is measured from the
//! run's own traces: twice the median time from a server's `send` record to the receiving
//! server's `recv` record (one machine, one monotonic clock; in the simulator the modelled
//! delay), so latency / RTT says how many network round trips an operation costs, queueing
//! included (a commit needs at least one round trip to a majority).
//!
//! Availability is one more run per algorithm × servers with `--trial-clients` clients, each
//! invoking `--trial-rate` operations a second (Poisson; 0: closed loop): the
//! leader is SIGKILLed every 1.2 s (`--trials` times) and restarted 0.8 s later; each trial's
//! figure is the time from the kill to the first completion of an operation invoked after it (an
//! operation already in flight may still be answered by a reply the leader sent before it died).
//! A service without a leader (quorum registers) has no kills to time: `-`.

use crate::compare::CompareArgs;
use crate::experiment::{Experiment, Overrides};
use crate::report::verdict_word;
use crate::run::RunOptions;
use crate::run_dir::create_run_dir;
use crate::Failure;
use algorithms::check::history::{History, Status};
use algorithms::check::Metric;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::service::client::Workload;
use algorithms::sim::simulate;
use algorithms::trace::What;
use algorithms::{Execution, NodeId, Verdict, MS};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Kill every this long, restart this long after the kill (as `configs/raft-downtime.toml`).
const TRIAL_EVERY: Duration = Duration::from_millis(1200);
const TRIAL_DOWN: Duration = Duration::from_millis(800);

/// One throughput cell: one algorithm, `servers` servers, `clients` closed-loop clients.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub algorithm: String,
    pub servers: usize,
    pub clients: usize,
    pub completed: usize,
    pub ops_per_s: f64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub messages: u64,
    pub messages_per_op: Option<f64>,
    /// The algorithm's own per-entry figure (e.g. raft's `messages_per_entry`) and its textbook.
    pub per_entry: Option<f64>,
    pub textbook: Option<String>,
    pub textbook_value: Option<f64>,
    pub verdict: Verdict,
    pub problems: Vec<String>,
}

/// One availability row: kills of the leader timed at one algorithm × servers.
#[derive(Clone, Debug, Serialize)]
pub struct Availability {
    pub algorithm: String,
    pub servers: usize,
    pub clients: usize,
    pub kills: usize,
    pub recovered: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub verdict: Verdict,
    pub problems: Vec<String>,
}

pub fn compare(configs: &[PathBuf], args: &CompareArgs) -> Result<ExitCode, Failure> {
    if args.nodes.is_empty() || args.nodes.contains(&0) {
        return Err(Failure::BadInput("--nodes: give server counts of 1 or more, e.g. 3,5".into()));
    }
    if args.clients.is_empty() || args.clients.contains(&0) {
        return Err(Failure::BadInput("--clients: give client counts of 1 or more, e.g. 1,10,50".into()));
    }
    if !(args.trial_rate >= 0.0 && args.trial_rate.is_finite()) {
        return Err(Failure::BadInput(format!(
            "--trial-rate {}: give operations per second of each client, 0 for closed loop",
            args.trial_rate
        )));
    }
    let duration = args.duration.unwrap_or(Duration::from_secs(4));
    let started = std::time::Instant::now();
    let mut plans = Vec::new();
    for config in configs {
        for &n in &args.nodes {
            for &c in &args.clients {
                plans.push(prepare(config, n, Some(c), duration, args)?);
            }
        }
    }
    let mut trials = Vec::new();
    if args.trials > 0 {
        for config in configs {
            for &n in &args.nodes {
                trials.push(prepare(config, n, None, duration, args)?);
            }
        }
    }
    let out_dir = if args.sim { None } else { Some(create_run_dir(&args.out, "compare")?) };
    let mode = if args.sim {
        format!("simulator, seed {}", args.seed)
    } else {
        format!("real processes ({:?} network)", args.net).to_lowercase()
    };
    let header = format!(
        "compare · closed-loop kv clients, {} s per cell; availability: {} SIGKILL(s) of the leader with {} clients{} · {mode}",
        duration.as_secs_f64(),
        args.trials,
        args.trial_clients,
        if args.trial_rate > 0.0 { format!(" at {}/s each", args.trial_rate) } else { " in closed loop".into() }
    );
    eprintln!("{header}");
    let total = plans.len() + trials.len();
    let mut cells = Vec::new();
    for (i, exp) in plans.iter().enumerate() {
        let clients = exp.workload.as_ref().map_or(0, |w| w.clients);
        eprintln!("[{}/{total}] {} with {} servers, {clients} clients ...", i + 1, exp.algorithm, exp.nodes);
        cells.push(cell(exp, execute(exp, args, out_dir.as_deref())?));
    }
    let mut rows = Vec::new();
    for (i, exp) in trials.iter().enumerate() {
        eprintln!(
            "[{}/{total}] {} with {} servers: {} kills of the leader ...",
            plans.len() + i + 1,
            exp.algorithm,
            exp.nodes,
            args.trials
        );
        rows.push(availability(exp, execute(exp, args, out_dir.as_deref())?));
    }
    let took = started.elapsed().as_secs_f64();
    let table = render(&header, &cells, &rows, took);
    print!("{table}");
    if let Some(dir) = &out_dir {
        let io = |e: std::io::Error| Failure::Run(e.into());
        std::fs::write(dir.join("compare.txt"), &table).map_err(io)?;
        let json = json!({ "header": header, "cells": cells, "availability": rows, "seconds": took });
        std::fs::write(dir.join("compare.json"), serde_json::to_string_pretty(&json).unwrap_or_default() + "\n")
            .map_err(io)?;
        println!("runs, compare.txt and compare.json in {}", dir.display());
    }
    // Runs without faults leave some properties nothing to judge (no later leader for Leader
    // Completeness): the table says so, but only a violation fails the comparison.
    let violated =
        cells.iter().map(|c| c.verdict).chain(rows.iter().map(|r| r.verdict)).any(|v| v == Verdict::Violated);
    Ok(if violated { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The experiment of `config` at `n` servers: `clients` closed-loop clients and no faults, or
/// (`clients` none) the availability trials.
fn prepare(
    config: &Path,
    n: usize,
    clients: Option<usize>,
    duration: Duration,
    args: &CompareArgs,
) -> Result<Experiment, Failure> {
    let kills = args.trials as u32;
    let duration = match clients {
        Some(_) => duration,
        None => Duration::from_secs(1) + TRIAL_EVERY * kills + Duration::from_millis(400),
    };
    let overrides = Overrides { nodes: Some(n), seed: Some(args.seed), duration: Some(duration) };
    let mut exp = Experiment::load(config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
    let family = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?.family();
    if family != algorithms::algorithm::Family::Replication {
        return Err(Failure::BadInput(format!(
            "{}: {} is not a replicated service; compare configs of one family at a time",
            config.display(),
            exp.algorithm
        )));
    }
    exp.faults.clear();
    exp.nemesis = None;
    let base = exp.workload.clone().unwrap_or_default();
    let trial = clients.is_none();
    let clients = clients.unwrap_or(args.trial_clients);
    let rate_per_s = (trial && args.trial_rate > 0.0).then_some(args.trial_rate);
    exp.workload = Some(Workload { clients, rate_per_s, ops: None, ..base });
    exp.name = format!("{}-n{n}-c{clients}{}", exp.name, if trial { "-kills" } else { "" });
    if trial {
        for i in 0..kills {
            let at = Duration::from_secs(1) + TRIAL_EVERY * i;
            exp.faults.push(FaultSpec { at, lasting: None, action: Action::Kill { node: Target::Leader } });
            let back =
                FaultSpec { at: at + TRIAL_DOWN, lasting: None, action: Action::Restart { node: Target::LastKilled } };
            exp.faults.push(back);
        }
    }
    exp.validate().map_err(|e| Failure::BadInput(format!("{}: {e}", config.display())))?;
    Ok(exp)
}

/// What one run leaves to the tables: the execution, its verdict, what did not hold, and the
/// checker's per-command cost metric ([`cost_metric`]).
struct Ran {
    run: Execution,
    verdict: Verdict,
    problems: Vec<String>,
    cost: Metric,
}

/// Runs one experiment, real or simulated, and judges it once.
fn execute(exp: &Experiment, args: &CompareArgs, out: Option<&Path>) -> Result<Ran, Failure> {
    let not_held = |props: &[algorithms::check::PropertyResult]| -> Vec<String> {
        props
            .iter()
            .filter(|p| p.verdict != Verdict::Held)
            .map(|p| format!("{} {}: {}", verdict_word(p.verdict), p.name, p.detail))
            .collect()
    };
    match out {
        None => {
            let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
            let outcome =
                simulate(algorithm, &crate::simulate::sim_config(exp, args.seed)).map_err(Failure::BadInput)?;
            let report = algorithm.check(&outcome.run);
            let cost = cost_metric(&report.metrics);
            Ok(Ran { verdict: report.verdict(), problems: not_held(&report.properties), cost, run: outcome.run })
        }
        Some(dir) => {
            let node_bin = crate::node_bin(args.node_bin.as_ref())?;
            let opts = RunOptions { out: dir.to_path_buf(), node_bin, net: args.net, stay_up: false, on_ready: None };
            let summary = crate::run::run(exp, opts)?;
            let loaded = crate::report_html::load_run(&summary.run_dir)?;
            let mut problems = not_held(&summary.properties);
            problems.extend(summary.problems.iter().cloned());
            let verdict = if summary.interrupted { Verdict::Unknown } else { summary.verdict };
            let cost = cost_metric(&summary.metrics);
            Ok(Ran { run: loaded.run, verdict, problems, cost })
        }
    }
}

/// The checker's figure of messages per replicated command, whatever the algorithm names it
/// (raft's `messages_per_entry`, multi-paxos's `messages_per_command`): the first metric of the
/// per-entry shape.
fn cost_metric(metrics: &std::collections::BTreeMap<String, serde_json::Value>) -> Metric {
    metrics
        .values()
        .map(Metric::of)
        .find(|m| matches!(m, Metric::PerEntry(_)))
        .unwrap_or_else(|| Metric::of(&serde_json::Value::Null))
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let v = sorted.get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)?;
    Some((v * 100.0).round() / 100.0)
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Twice the median one-way delivery time of messages between servers, in ms.
fn rtt_ms(run: &Execution) -> Option<f64> {
    let mut sent: BTreeMap<(NodeId, u64), u64> = BTreeMap::new();
    let mut one_way = Vec::new();
    for r in run.records.iter().filter(|r| run.nodes.contains(&r.node)) {
        match &r.what {
            What::Send { to, .. } if run.nodes.contains(to) => {
                sent.insert((r.node, r.lc), r.t);
            }
            What::Recv { from, msg_lc, .. } => {
                if let Some(t) = sent.get(&(*from, *msg_lc)) {
                    one_way.push(r.t.saturating_sub(*t) as f64 / MS as f64);
                }
            }
            _ => {}
        }
    }
    percentile(&sorted(one_way), 0.5).map(|m| (m * 2.0 * 1000.0).round() / 1000.0)
}

fn cell(exp: &Experiment, ran: Ran) -> Cell {
    let Ran { run, verdict, problems, cost } = ran;
    let run = &run;
    let history = History::from_run(run);
    let mut latencies = Vec::new();
    for op in history.ops().iter().filter(|op| matches!(op.status, Status::Ok | Status::Fail)) {
        if let (Some(i), Some(c)) = (history.time(op.invoke), op.complete.and_then(|c| history.time(c))) {
            latencies.push(c.saturating_sub(i) as f64 / MS as f64);
        }
    }
    let completed = latencies.len();
    let seconds = (run.end.saturating_sub(run.start)) as f64 / 1e9;
    let messages = algorithms::check::count_messages(&run.records).total;
    let (per_entry, textbook, textbook_value) = match cost {
        Metric::PerEntry(c) => (Some(c.measured), Some(c.textbook), c.textbook_value),
        _ => (None, None, None),
    };
    let latencies = sorted(latencies);
    Cell {
        algorithm: exp.algorithm.clone(),
        servers: exp.nodes,
        clients: exp.workload.as_ref().map_or(0, |w| w.clients),
        completed,
        ops_per_s: if seconds > 0.0 { (completed as f64 / seconds * 10.0).round() / 10.0 } else { 0.0 },
        latency_p50_ms: percentile(&latencies, 0.5),
        latency_p99_ms: percentile(&latencies, 0.99),
        rtt_ms: rtt_ms(run),
        messages,
        messages_per_op: (completed > 0).then(|| (messages as f64 / completed as f64 * 100.0).round() / 100.0),
        per_entry,
        textbook,
        textbook_value,
        verdict,
        problems,
    }
}

/// For each kill of the leader: the time until an operation invoked after it completed.
fn availability(exp: &Experiment, ran: Ran) -> Availability {
    let Ran { run, verdict, problems, .. } = ran;
    let run = &run;
    let kills: Vec<u64> = run
        .faults
        .iter()
        .filter(|f| matches!(f.fault, algorithms::faults::AppliedFault::Kill { was_leader: true, .. }))
        .map(|f| f.t)
        .collect();
    let history = History::from_run(run);
    let mut done: Vec<(u64, u64)> = Vec::new(); // (invoked, completed)
    for op in history.ops().iter().filter(|op| matches!(op.status, Status::Ok | Status::Fail)) {
        if let (Some(i), Some(c)) = (history.time(op.invoke), op.complete.and_then(|c| history.time(c))) {
            done.push((i, c));
        }
    }
    let mut gaps = Vec::new();
    for (k, kill) in kills.iter().enumerate() {
        let next = kills.get(k + 1).copied().unwrap_or(run.end);
        let first = done.iter().filter(|(i, c)| *i > *kill && *c < next).map(|(_, c)| *c).min();
        if let Some(c) = first {
            gaps.push((c - kill) as f64 / MS as f64);
        }
    }
    let recovered = gaps.len();
    let gaps = sorted(gaps);
    Availability {
        algorithm: exp.algorithm.clone(),
        servers: exp.nodes,
        clients: exp.workload.as_ref().map_or(0, |w| w.clients),
        kills: kills.len(),
        recovered,
        p50_ms: percentile(&gaps, 0.5),
        p99_ms: percentile(&gaps, 0.99),
        max_ms: gaps.last().copied(),
        verdict,
        problems,
    }
}

/// Columns: text to the left, figures to the right.
fn table(titles: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            let _ = if left.contains(&i) { write!(s, "{cell}{pad}  ") } else { write!(s, "{pad}{cell}  ") };
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(titles.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

fn render(header: &str, cells: &[Cell], rows: &[Availability], seconds: f64) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}", a / b),
        _ => "-".into(),
    };
    let body: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.algorithm.clone(),
                c.servers.to_string(),
                c.clients.to_string(),
                c.completed.to_string(),
                format!("{:.1}", c.ops_per_s),
                f(c.latency_p50_ms),
                f(c.latency_p99_ms),
                c.rtt_ms.map_or("-".into(), |v| format!("{v:.3}")),
                ratio(c.latency_p50_ms, c.rtt_ms),
                f(c.messages_per_op),
                f(c.per_entry),
                c.textbook_value.map_or("-".into(), |v| format!("{v}")),
                verdict_word(c.verdict).to_string(),
            ]
        })
        .collect();
    let titles = [
        "algorithm",
        "N",
        "clients",
        "ops",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "RTT ms",
        "p50/RTT",
        "msgs/op",
        "msgs/entry",
        "textbook",
        "verdict",
    ];
    let mut out = format!("{header}\n\n");
    out += &table(&titles, &body, &[0, 12]);
    out += "ops: operations completed (ok or fail) by closed-loop clients; RTT: twice the median server-to-server \
            delivery time in the same run; msgs/op: every message sent (clients' included) per completed operation; \
            msgs/entry: the algorithm's own per-entry replication cost and its textbook figure per batch.\n";
    if !rows.is_empty() {
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.algorithm.clone(),
                    r.servers.to_string(),
                    r.clients.to_string(),
                    r.kills.to_string(),
                    r.recovered.to_string(),
                    f(r.p50_ms),
                    f(r.p99_ms),
                    f(r.max_ms),
                    verdict_word(r.verdict).to_string(),
                ]
            })
            .collect();
        let titles =
            ["algorithm", "N", "clients", "leader kills", "recovered", "p50 ms", "p99 ms", "max ms", "verdict"];
        out += "\navailability after SIGKILL of the leader: from the kill to the first completion of an operation invoked after it\n";
        out += &table(&titles, &body, &[0, 8]);
    }
    let problems = cells
        .iter()
        .map(|c| (c.algorithm.as_str(), c.servers, c.clients, &c.problems))
        .chain(rows.iter().map(|r| (r.algorithm.as_str(), r.servers, r.clients, &r.problems)));
    for (algorithm, n, c, list) in problems {
        for p in list {
            out += &format!("  {algorithm} N={n} clients={c}: {p}\n");
        }
    }
    out += &format!("took {seconds:.0} s\n");
    out
}

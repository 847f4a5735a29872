//! `orchestrator compare`: several mutual exclusion experiments under one workload, at several
//! cluster sizes, in one table: messages per entry (measured and the textbook's), synchronization
//! delay, waits and throughput. Replicated services (raft, kv-single, quorum, …) are compared
//! by [`crate::compare_service`]: throughput, latency against the round trip, availability.
//!
//! ```sh
//! orchestrator compare configs/mutex-*.toml --nodes 5,10,20          # real processes
//! orchestrator compare configs/mutex-*.toml --nodes 5,10,20 --sim    # the simulator
//! ```
//!
//! Each experiment file contributes its algorithm and its own parameters, but not its workload
//! or its faults: every cell runs the same workload (`--rate`, `--hold-ms`, `--resources`) with no
//! faults, so the rows differ only by algorithm. The workload stops a second before the end so
//! that requests finish and the per-entry figures are whole.
//!
//! Real processes are the default, one run at a time with direct TCP between nodes (no proxy:
//! nothing is injected, and the proxy would take CPU the nodes need): 18 runs of 4 s, about two
//! minutes on two cores for `--nodes 5,10,20` and six algorithms. `--sim` runs the same cells in
//! the deterministic simulator (10 s of virtual time and several seeds per cell, pooled, in a few
//! seconds): exact, repeatable figures with modelled delays instead of measured ones.

use crate::experiment::{Experiment, Overrides};
use crate::network::NetMode;
use crate::report::verdict_word;
use crate::run::RunOptions;
use crate::run_dir::create_run_dir;
use crate::Failure;
use algorithms::check::stats;
use algorithms::sim::simulate;
use algorithms::Verdict;
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct CompareArgs {
    /// Cluster sizes, e.g. 5,10,20
    #[arg(long, value_delimiter = ',', default_value = "5,10,20")]
    pub nodes: Vec<usize>,
    /// Run in the simulator instead of on real processes
    #[arg(long)]
    pub sim: bool,
    /// Seeds per cell in the simulator, pooled (real runs use one, --seed)
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Length of each run (default: 4s on real processes, 10s in the simulator)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Seed of the (first) run of every cell
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Requests per second at each node
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// How long each entry holds its resource, in milliseconds
    #[arg(long, default_value_t = 10)]
    pub hold_ms: u64,
    /// The resources requests pick from
    #[arg(long, value_delimiter = ',', default_value = "printer")]
    pub resources: Vec<String>,
    /// How real nodes reach each other (no faults are injected, so direct TCP by default)
    #[arg(long, value_enum, default_value_t = NetMode::Direct)]
    pub net: NetMode,
    /// The node binary (default: `node` beside this executable)
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Where real runs leave their run directories (in one `compare-<time>` directory)
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// Replicated services: closed-loop client counts, e.g. 1,10,50
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub clients: Vec<usize>,
    /// Replicated services: SIGKILLs of the leader timed for availability (0: none)
    #[arg(long, default_value_t = 100)]
    pub trials: usize,
    /// Replicated services: clients during the availability trials
    #[arg(long, default_value_t = 10)]
    pub trial_clients: usize,
    /// Replicated services: operations per second of each client during the availability trials
    /// (Poisson; 0: closed loop). Closed loop on a quiet machine leaves traces of several GB per
    /// run, too many to check in memory; at 50/s ten clients still invoke one every 2 ms on
    /// average, far finer than a recovery of hundreds of milliseconds
    #[arg(long, default_value_t = 50.0)]
    pub trial_rate: f64,
}

/// One cell of the table: one algorithm at one cluster size.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub algorithm: String,
    pub config: PathBuf,
    pub nodes: usize,
    pub entries: u64,
    pub messages: u64,
    pub per_entry: f64,
    pub textbook: String,
    pub textbook_value: Option<f64>,
    pub by_type: Value,
    pub sync_delay_ms: Option<f64>,
    pub wait_mean_ms: Option<f64>,
    pub wait_max_ms: Option<f64>,
    pub entries_per_s: f64,
    pub verdict: Verdict,
    /// Properties that did not hold, with their details.
    pub problems: Vec<String>,
    pub run_dirs: Vec<PathBuf>,
}

pub fn compare(configs: &[PathBuf], args: &CompareArgs) -> Result<ExitCode, Failure> {
    let first = configs.first().map(|c| Experiment::load(c, &Overrides::default()));
    if let Some(Ok(exp)) = first {
        if algorithms::find(&exp.algorithm).is_ok_and(|a| a.family() == algorithms::algorithm::Family::Replication) {
            return crate::compare_service::compare(configs, args);
        }
    }
    if args.nodes.is_empty() || args.nodes.iter().any(|n| *n < 2) {
        return Err(Failure::BadInput("--nodes: give cluster sizes of 2 or more, e.g. 5,10,20".into()));
    }
    let duration = args.duration.unwrap_or(Duration::from_secs(if args.sim { 10 } else { 4 }));
    if duration < Duration::from_secs(2) {
        return Err(Failure::BadInput("--duration: at least 2s (the workload stops 1 s before the end)".into()));
    }
    // Every experiment is loaded and checked before anything runs.
    let mut plans = Vec::new();
    for config in configs {
        for &n in &args.nodes {
            plans.push((config.clone(), n, prepare(config, n, duration, args)?));
        }
    }
    // Rows in the catalogue's order (Lamport beside Ricart–Agrawala), then by cluster size.
    let rank = |alg: &str| algorithms::catalogue().iter().position(|a| a.name() == alg).unwrap_or(usize::MAX);
    plans.sort_by_key(|(_, n, exp)| (rank(&exp.algorithm), *n));
    let out_dir = if args.sim {
        None
    } else {
        let stamp_dir = create_run_dir(&args.out, "compare")?;
        Some(stamp_dir)
    };
    let mode = if args.sim {
        format!("simulator, {} s of virtual time × {} seed(s) per cell", duration.as_secs_f64(), args.seeds)
    } else {
        format!("real processes ({:?} network), {} s per run", args.net, duration.as_secs_f64()).to_lowercase()
    };
    let header = format!(
        "compare · workload: {} requests/s per node, hold {} ms, resources {:?} · {mode}",
        args.rate, args.hold_ms, args.resources
    );
    eprintln!("{header}");
    let mut cells = Vec::new();
    for (i, (config, n, exp)) in plans.iter().enumerate() {
        eprintln!("[{}/{}] {} at N = {n} ...", i + 1, plans.len(), exp.algorithm);
        let cell = match &out_dir {
            None => sim_cell(config, exp, args)?,
            Some(dir) => real_cell(config, exp, args, dir)?,
        };
        cells.push(cell);
    }
    let table = render(&header, &cells);
    print!("{table}");
    if let Some(dir) = &out_dir {
        let io = |e: std::io::Error| Failure::Run(e.into());
        std::fs::write(dir.join("compare.txt"), &table).map_err(io)?;
        let json = serde_json::to_string_pretty(&json!({ "header": header, "cells": cells })).unwrap_or_default();
        std::fs::write(dir.join("compare.json"), json + "\n").map_err(io)?;
        println!("runs, compare.txt and compare.json in {}", dir.display());
    }
    let all_held = cells.iter().all(|c| c.verdict == Verdict::Held);
    Ok(if all_held { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The experiment of `config` at `n` nodes, with the common workload and without faults.
fn prepare(config: &Path, n: usize, duration: Duration, args: &CompareArgs) -> Result<Experiment, Failure> {
    let overrides = Overrides { nodes: Some(n), seed: Some(args.seed), duration: Some(duration) };
    let mut exp = Experiment::load(config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
    exp.faults.clear();
    exp.nemesis = None;
    exp.name = format!("{}-n{n}", exp.name);
    if !exp.params.is_object() {
        exp.params = json!({});
    }
    let stop_after = humantime::format_duration(duration - Duration::from_secs(1)).to_string();
    exp.params["workload"] = json!({
        "rate_per_s": args.rate,
        "hold_ms": args.hold_ms,
        "resources": args.resources,
        "stop_after": stop_after,
    });
    exp.validate().map_err(|e| {
        Failure::BadInput(format!(
            "{}: {e} (compare needs mutual exclusion experiments: their params take a workload)",
            config.display()
        ))
    })?;
    Ok(exp)
}

fn real_cell(config: &Path, exp: &Experiment, args: &CompareArgs, out: &Path) -> Result<Cell, Failure> {
    let node_bin = crate::node_bin(args.node_bin.as_ref())?;
    let opts = RunOptions { out: out.to_path_buf(), node_bin, net: args.net, stay_up: false, on_ready: None };
    let summary = crate::run::run(exp, opts)?;
    let problems = summary
        .properties
        .iter()
        .filter(|p| p.verdict != Verdict::Held)
        .map(|p| format!("{} {}: {}", verdict_word(p.verdict), p.name, p.detail))
        .chain(summary.problems.iter().cloned())
        .collect();
    let metrics = &summary.metrics;
    let cost = &metrics["messages_per_entry"];
    Ok(Cell {
        algorithm: exp.algorithm.clone(),
        config: config.to_path_buf(),
        nodes: exp.nodes,
        entries: cost["entries"].as_u64().unwrap_or(0),
        messages: cost["messages"].as_u64().unwrap_or(0),
        per_entry: cost["measured"].as_f64().unwrap_or(0.0),
        textbook: cost["textbook"].as_str().unwrap_or("").to_string(),
        textbook_value: cost["textbook_value"].as_f64(),
        by_type: cost["by_type"].clone(),
        sync_delay_ms: metrics["sync_delay_ms"]["mean"].as_f64(),
        wait_mean_ms: metrics["wait_ms"]["mean"].as_f64(),
        wait_max_ms: metrics["wait_ms"]["max"].as_f64(),
        entries_per_s: metrics["entries_per_s"].as_f64().unwrap_or(0.0),
        verdict: if summary.interrupted { Verdict::Unknown } else { summary.verdict },
        problems,
        run_dirs: vec![summary.run_dir.clone()],
    })
}

/// `--seeds` seeds of one cell in the simulator, their figures pooled.
fn sim_cell(config: &Path, exp: &Experiment, args: &CompareArgs) -> Result<Cell, Failure> {
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    let (mut entries, mut messages, mut seconds) = (0u64, 0u64, 0.0);
    let (mut waits, mut syncs) = (Vec::new(), Vec::new());
    let mut by_type: std::collections::BTreeMap<String, f64> = Default::default();
    let (mut textbook, mut textbook_value) = (String::new(), None);
    let mut verdict = Verdict::Held;
    let mut problems = Vec::new();
    for seed in args.seed..args.seed + args.seeds.max(1) {
        let mut cfg = crate::simulate::sim_config(exp, seed);
        cfg.faults.clear(); // every cell runs the same workload and nothing else
        let outcome = simulate(algorithm, &cfg).map_err(Failure::BadInput)?;
        let report = algorithm.check(&outcome.run);
        let cost = &report.metrics["messages_per_entry"];
        let e = cost["entries"].as_u64().unwrap_or(0);
        entries += e;
        messages += cost["messages"].as_u64().unwrap_or(0);
        if let Some(types) = cost["by_type"].as_object() {
            for (t, per) in types {
                *by_type.entry(t.clone()).or_default() += per.as_f64().unwrap_or(0.0) * e as f64;
            }
        }
        textbook = cost["textbook"].as_str().unwrap_or("").to_string();
        textbook_value = cost["textbook_value"].as_f64();
        let values = |name: &str| -> Vec<f64> {
            report.metrics[name]["values"].as_array().map_or(vec![], |v| v.iter().filter_map(Value::as_f64).collect())
        };
        waits.extend(values("wait_ms"));
        syncs.extend(values("sync_delay_ms"));
        seconds += exp.duration.as_secs_f64();
        if report.verdict() != Verdict::Held {
            verdict = match (verdict, report.verdict()) {
                (Verdict::Violated, _) | (_, Verdict::Violated) => Verdict::Violated,
                _ => Verdict::Unknown,
            };
            for p in report.properties.iter().filter(|p| p.verdict != Verdict::Held) {
                problems.push(format!("seed {seed}: {} {}: {}", verdict_word(p.verdict), p.name, p.detail));
            }
        }
    }
    let per = |n: f64| if entries == 0 { 0.0 } else { (n / entries as f64 * 100.0).round() / 100.0 };
    let mean = |v: &[f64]| stats(v)["mean"].as_f64();
    Ok(Cell {
        algorithm: exp.algorithm.clone(),
        config: config.to_path_buf(),
        nodes: exp.nodes,
        entries,
        messages,
        per_entry: per(messages as f64),
        textbook,
        textbook_value,
        by_type: by_type.into_iter().map(|(t, n)| (t, json!(per(n)))).collect::<serde_json::Map<_, _>>().into(),
        sync_delay_ms: mean(&syncs),
        wait_mean_ms: mean(&waits),
        wait_max_ms: stats(&waits)["max"].as_f64(),
        entries_per_s: ((entries as f64 / seconds) * 100.0).round() / 100.0,
        verdict,
        problems,
        run_dirs: vec![],
    })
}

/// The table a person reads, then the course's comparison and anything that did not hold.
fn render(header: &str, cells: &[Cell]) -> String {
    let mut out = format!("{header}\n\n");
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let rows: Vec<[String; 10]> = cells
        .iter()
        .map(|c| {
            [
                c.algorithm.clone(),
                c.nodes.to_string(),
                c.entries.to_string(),
                format!("{:.2}", c.per_entry),
                c.textbook.clone(),
                ms(c.sync_delay_ms),
                ms(c.wait_mean_ms),
                ms(c.wait_max_ms),
                format!("{:.1}", c.entries_per_s),
                verdict_word(c.verdict).to_string(),
            ]
        })
        .collect();
    let titles = [
        "algorithm",
        "N",
        "entries",
        "msgs/entry",
        "textbook msgs/entry",
        "sync ms",
        "wait mean",
        "wait max",
        "entries/s",
        "verdict",
    ];
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns (algorithm, textbook, verdict) to the left, figures to the right.
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if [0, 4, 9].contains(&i) {
                let _ = write!(s, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(s, "{}{cell}  ", " ".repeat(pad));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out += &line(titles.to_vec());
    for row in &rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    // The course's point: Lamport 3(N−1) against Ricart–Agrawala 2(N−1), side by side.
    let find = |alg: &str, n: usize| cells.iter().find(|c| c.algorithm == alg && c.nodes == n);
    let mut sizes: Vec<usize> = cells.iter().map(|c| c.nodes).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let pairs: Vec<String> = sizes
        .iter()
        .filter_map(|n| {
            let (l, r) = (find("lamport", *n)?, find("ricart-agrawala", *n)?);
            Some(format!(
                "N={n}: {:.2} vs {:.2} (textbook {} vs {})",
                l.per_entry,
                r.per_entry,
                3 * (n - 1),
                2 * (n - 1)
            ))
        })
        .collect();
    if !pairs.is_empty() {
        out += &format!("\nLamport 3(N−1) vs Ricart–Agrawala 2(N−1) messages per entry: {}\n", pairs.join("; "));
    }
    out += "msgs/entry counts every message the algorithm sent per critical section entered (the token ring's \
            include its ACKs and idle passes); sync ms: from one exit to the next entry of a node already waiting.\n";
    for c in cells.iter().filter(|c| !c.problems.is_empty()) {
        for p in &c.problems {
            out += &format!("  {} N={}: {p}\n", c.algorithm, c.nodes);
        }
    }
    out
}

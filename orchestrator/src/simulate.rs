//! `orchestrator sim`: the same experiment in the deterministic simulator, over many seeds.

use crate::experiment::Experiment;
use crate::report::{judge, short_metric, verdict_word, Summary};
use crate::run_dir::{create_run_dir, RunInfo};
use crate::Failure;
use algorithms::check::stats;
use algorithms::sim::{simulate, SimConfig, SimOutcome};
use algorithms::{Algorithm, Verdict};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The simulator's view of an experiment, for one seed.
pub fn sim_config(exp: &Experiment, seed: u64) -> SimConfig {
    SimConfig {
        nodes: exp.nodes,
        seed,
        duration: exp.duration,
        instance: exp.algorithm.clone(),
        params: exp.params.clone(),
        network: exp.sim.network(),
        faults: exp.all_faults(),
        workload: exp.workload.clone(),
    }
}

fn run_seed(algorithm: &dyn Algorithm, exp: &Experiment, seed: u64) -> Result<SimOutcome, Failure> {
    simulate(algorithm, &sim_config(exp, seed)).map_err(Failure::BadInput)
}

/// Runs `count` seeds from `first`; prints each seed that does not hold and how to replay it.
/// Returns whether every seed held.
pub fn sweep(exp: &Experiment, config_path: &Path, first: u64, count: u64) -> Result<bool, Failure> {
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    let started = std::time::Instant::now();
    let mut failing = Vec::new();
    // Figures of every seed pooled: e.g. all election latencies of all seeds.
    let mut pooled: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut progress = crate::progress::Progress::seeds(count);
    for seed in first..first.saturating_add(count) {
        let outcome = run_seed(algorithm, exp, seed)?;
        progress.inc();
        let report = algorithm.check(&outcome.run);
        for (name, value) in &report.metrics {
            collect_values(name, value, &mut pooled);
        }
        if report.verdict() != Verdict::Held {
            let mut line = format!("seed {seed}: {}", verdict_word(report.verdict()));
            for p in report.properties.iter().filter(|p| p.verdict != Verdict::Held) {
                let _ = write!(line, "; {} {}: {}", verdict_word(p.verdict), p.name, p.detail);
            }
            progress.stdout_line(line);
            failing.push(seed);
        }
    }
    progress.finish();
    println!(
        "{} · {} · {} nodes · {count} seeds from {first} in {:.1} s: {} held, {} not",
        exp.name,
        exp.algorithm,
        exp.nodes,
        started.elapsed().as_secs_f64(),
        count - failing.len() as u64,
        failing.len()
    );
    for (name, values) in &pooled {
        println!("  {name} over all seeds: {}", short_metric(&stats(values)));
    }
    if let Some(seed) = failing.first() {
        println!("replay one: orchestrator sim {} --seed {seed}", config_path.display());
    }
    Ok(failing.is_empty())
}

/// Gathers the `values` of every statistics object in a metric (nested ones named `a.b`).
fn collect_values(name: &str, value: &Value, pooled: &mut BTreeMap<String, Vec<f64>>) {
    let Some(map) = value.as_object() else { return };
    if let Some(values) = map.get("values").and_then(Value::as_array) {
        pooled.entry(name.to_string()).or_default().extend(values.iter().filter_map(Value::as_f64));
        return;
    }
    for (key, inner) in map {
        collect_values(&format!("{name}.{key}"), inner, pooled);
    }
}

/// Runs one seed and leaves a run directory like `orchestrator run` does.
pub fn replay(exp: &Experiment, seed: u64, out: &Path) -> Result<Summary, Failure> {
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    let outcome = run_seed(algorithm, exp, seed)?;
    let run_dir = create_run_dir(out, &format!("{}-sim", exp.name))?;
    let io = |e: std::io::Error| Failure::Run(e.into());
    let mut exp = exp.clone();
    exp.seed = seed;
    std::fs::write(run_dir.join("experiment.toml"), exp.to_toml()).map_err(io)?;
    RunInfo::simulated().write(&run_dir).map_err(Failure::Run)?;
    for id in &outcome.run.nodes {
        let lines: String = outcome.records.iter().filter(|r| r.node == *id).map(|r| r.to_json_line()).collect();
        std::fs::write(run_dir.join(format!("node-{id}.jsonl")), lines).map_err(io)?;
    }
    let faults: String =
        outcome.faults.iter().filter_map(|f| serde_json::to_string(f).ok()).map(|l| l + "\n").collect();
    std::fs::write(run_dir.join("orchestrator.jsonl"), faults).map_err(io)?;
    let summary = judge(algorithm, &exp.name, "sim", seed, &outcome.run, false, vec![], &run_dir);
    summary.write(&run_dir)?;
    crate::report_html::write_or_warn(&summary, outcome.run);
    Ok(summary)
}

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

/// The simulator's view of an experiment, for one seed. The nemesis draws its plan from that
/// seed too, so every seed of a sweep meets other faults and `--seed N` replays seed N exactly.
pub fn sim_config(exp: &Experiment, seed: u64) -> SimConfig {
    let at_seed = Experiment { seed, ..exp.clone() };
    SimConfig {
        nodes: exp.nodes,
        spare_nodes: exp.spare_nodes,
        seed,
        duration: exp.duration,
        instance: exp.algorithm.clone(),
        params: exp.params.clone(),
        network: exp.sim.network(),
        faults: at_seed.all_faults(),
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
    let info = RunInfo::simulated();
    info.write(&run_dir).map_err(Failure::Run)?;
    // Every node's trace, the client nodes' too: the history and the report read them.
    for id in &exp.all_ids() {
        let lines: String = outcome.records.iter().filter(|r| r.node == *id).map(|r| r.to_json_line()).collect();
        std::fs::write(run_dir.join(format!("node-{id}.jsonl")), lines).map_err(io)?;
    }
    let faults: String =
        outcome.faults.iter().filter_map(|f| serde_json::to_string(f).ok()).map(|l| l + "\n").collect();
    std::fs::write(run_dir.join("orchestrator.jsonl"), faults).map_err(io)?;
    let summary = judge(algorithm, &exp.name, info.summary_mode(), seed, &outcome.run, false, vec![], &run_dir);
    summary.write(&run_dir)?;
    crate::report_html::write_or_warn(&summary, outcome.run);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Overrides;
    use algorithms::algorithm::Family;
    use algorithms::faults::AppliedFault;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    #[test]
    fn each_seed_of_a_sweep_meets_its_own_nemesis_plan() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/bully-nemesis.toml");
        let exp = Experiment::load(&path, &Overrides::default()).unwrap();
        let plans: Vec<String> = (1..=5).map(|seed| format!("{:?}", sim_config(&exp, seed).faults)).collect();
        let distinct: std::collections::BTreeSet<&String> = plans.iter().collect();
        assert!(distinct.len() > 1, "five seeds drew one plan: {plans:?}");
        // And a seed's plan is the one `--seed N` replays: the experiment loaded at that seed.
        let replayed = Experiment { seed: 3, ..exp.clone() };
        assert_eq!(format!("{:?}", sim_config(&exp, 3).faults), format!("{:?}", replayed.all_faults()));
    }

    fn config(name: &str) -> (PathBuf, Experiment) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs").join(name);
        let exp = Experiment::load(&path, &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
        (path, exp)
    }

    /// Every shipped `configs/*-nemesis.toml`, read as `orchestrator sim` reads it, on its first
    /// `CLUSTERLAB_NEMESIS_SEEDS` seeds (default 20; the README's sweeps run 200): no property
    /// may be violated on any seed, and each file must have had something judged (a sweep in
    /// which every property is `unknown` proves nothing). Prints the verdicts per property.
    #[test]
    fn every_nemesis_experiment_holds_over_its_first_seeds() {
        let seeds: u64 = std::env::var("CLUSTERLAB_NEMESIS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with("-nemesis.toml"))
            .collect();
        files.sort();
        let algorithms: BTreeSet<String> = files.iter().map(|f| config(f).1.algorithm).collect();
        // Every election and mutex algorithm ships one; other families where they have one (raft).
        let required: BTreeSet<String> = algorithms::catalogue()
            .iter()
            .filter(|a| matches!(a.family(), Family::Election | Family::Mutex))
            .map(|a| a.name().to_string())
            .collect();
        let missing: Vec<&String> = required.difference(&algorithms).collect();
        assert!(missing.is_empty(), "no nemesis experiment for {missing:?} (shipped: {files:?})");
        assert_eq!(algorithms.len(), files.len(), "one nemesis experiment per algorithm: {files:?}");
        let mut failures = Vec::new();
        for name in &files {
            let (_, exp) = config(name);
            assert!(exp.nemesis.is_some(), "{name} has no [nemesis]");
            let algorithm = algorithms::find(&exp.algorithm).unwrap();
            // Per property: seeds held, violated, unknown.
            let mut tally: BTreeMap<String, [u64; 3]> = BTreeMap::new();
            for seed in exp.seed..exp.seed + seeds {
                let report = algorithm.check(&simulate(algorithm, &sim_config(&exp, seed)).unwrap().run);
                for p in report.properties {
                    let at = match p.verdict {
                        Verdict::Held => 0,
                        Verdict::Violated => 1,
                        Verdict::Unknown | Verdict::NotPromised => 2,
                    };
                    tally.entry(p.name.clone()).or_default()[at] += 1;
                    if p.verdict == Verdict::Violated {
                        failures.push(format!("{name} seed {seed}: {} violated: {}", p.name, p.detail));
                    }
                }
            }
            println!("{name} ({seeds} seeds from {}):", exp.seed);
            for (property, [held, violated, unknown]) in &tally {
                println!("  {property:<28} held {held:>4}  violated {violated:>4}  unknown {unknown:>4}");
            }
            if tally.values().all(|c| c[0] == 0) {
                failures.push(format!("{name}: no property was judged on any seed (all unknown)"));
            }
        }
        assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
    }

    /// FNV-1a, 64 bits: a digest of a seed's artefacts, stable across Rust versions.
    fn fnv1a(bytes: &[u8], mut hash: u64) -> u64 {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    /// The digest of everything a seed leaves: its trace as JSON lines, its fault log and the
    /// checker's report (verdicts and metrics).
    fn digest(outcome: &SimOutcome, algorithm: &dyn Algorithm) -> u64 {
        let mut hash = fnv1a(outcome.trace_jsonl().as_bytes(), 0xcbf2_9ce4_8422_2325);
        for f in &outcome.faults {
            hash = fnv1a(serde_json::to_string(f).unwrap().as_bytes(), hash);
        }
        fnv1a(serde_json::to_string(&algorithm.check(&outcome.run)).unwrap().as_bytes(), hash)
    }

    /// Speeding the simulator up must not change what a seed does: these digests were computed
    /// before the simulator was made fast (and before seeds ran in parallel), so the same seed
    /// still gives the same trace, byte for byte, and the same verdict.
    #[test]
    fn a_seed_gives_the_same_trace_and_verdict_as_before() {
        let pinned: [(&str, u64, u64, usize); 4] = [
            ("bully.toml", 1, 0x9950bb39c8b84f0d, 1168),
            ("bully-nemesis.toml", 7, 0xb4579a8a5be983f5, 1915),
            ("raft.toml", 1, 0xb87cd0a7c4091007, 8650),
            ("raft-election.toml", 3, 0xd152783d8f06c155, 1253),
        ];
        let mut wrong = Vec::new();
        for (file, seed, expected, records) in pinned {
            let (_, exp) = config(file);
            let algorithm = algorithms::find(&exp.algorithm).unwrap();
            let outcome = simulate(algorithm, &sim_config(&exp, seed)).unwrap();
            let got = (digest(&outcome, algorithm), outcome.records.len());
            if got != (expected, records) {
                wrong.push(format!("(\"{file}\", {seed}, {:#018x}, {}),", got.0, got.1));
            }
        }
        assert!(wrong.is_empty(), "digests changed:\n{}", wrong.join("\n"));
    }

    /// `configs/token-ring-pause.toml` is meant to fail, and must, the way its comment says: the
    /// paused holder is taken for lost, a second token is made, and token_conservation reports
    /// two tokens at once. On the file's own seed and on every other seed whose pause found a
    /// holder to stop (the token is in flight, held by nobody, a few per cent of the time).
    #[test]
    fn the_token_ring_pause_experiment_fails_with_two_tokens() {
        let (_, exp) = config("token-ring-pause.toml");
        let algorithm = algorithms::find(&exp.algorithm).unwrap();
        let mut paused = 0;
        for seed in exp.seed..exp.seed + 20 {
            let outcome = simulate(algorithm, &sim_config(&exp, seed)).unwrap();
            let hit = outcome.faults.iter().any(|f| matches!(f.fault, AppliedFault::Pause { .. }));
            assert!(hit || seed != exp.seed, "seed {seed}: the pause found no token holder to stop");
            if !hit {
                continue;
            }
            paused += 1;
            let report = algorithm.check(&outcome.run);
            assert_eq!(report.verdict(), Verdict::Violated, "seed {seed}");
            let p = report.properties.iter().find(|p| p.name == "token_conservation").unwrap();
            assert_eq!(p.verdict, Verdict::Violated, "seed {seed}: {}", p.detail);
            assert!(p.detail.starts_with("two tokens at once"), "seed {seed}: {}", p.detail);
            assert!(p.evidence.len() >= 2, "seed {seed}: both custodies as evidence: {p:?}");
            assert!(report.metrics["tokens_regenerated"].as_u64() >= Some(1), "seed {seed}: {:?}", report.metrics);
        }
        assert!(paused >= 15, "the pause should find a holder on most seeds: {paused} of 20");
    }
}

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
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// What one seed of a sweep leaves: its verdict line when it did not hold, its figures, and
/// what it cost (for the sweep's closing figures).
struct SeedResult {
    seed: u64,
    /// `seed N: violated; …`, for a seed that did not hold.
    failed: Option<String>,
    metrics: BTreeMap<String, Value>,
    records: usize,
    simulate: Duration,
    check: Duration,
}

fn judge_seed(algorithm: &dyn Algorithm, exp: &Experiment, seed: u64) -> Result<SeedResult, Failure> {
    let started = Instant::now();
    let outcome = run_seed(algorithm, exp, seed)?;
    let simulated = Instant::now();
    let report = algorithm.check(&outcome.run);
    let check = simulated.elapsed();
    let failed = (report.verdict() != Verdict::Held).then(|| {
        let mut line = format!("seed {seed}: {}", verdict_word(report.verdict()));
        for p in report.properties.iter().filter(|p| p.verdict != Verdict::Held) {
            let _ = write!(line, "; {} {}: {}", verdict_word(p.verdict), p.name, p.detail);
        }
        line
    });
    let records = outcome.run.records.len();
    Ok(SeedResult { seed, failed, metrics: report.metrics, records, simulate: simulated - started, check })
}

/// CPU time this process has used so far, user and system, every thread's.
pub(crate) fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is handed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What a sweep found: the line of every seed that did not hold, and the figures of every seed
/// pooled. It is the same for any number of threads.
#[derive(Debug, PartialEq)]
pub struct Sweep {
    /// The seeds that did not hold, in order, each with its line (`seed 7: violated; …`).
    pub failing: Vec<(u64, String)>,
    /// One line per pooled figure: `  election_ms over all seeds: …`.
    pub pooled: Vec<String>,
}

/// Runs `count` seeds from `first` on `jobs` threads; prints each seed that does not hold and
/// how to replay it, then what the sweep cost: trace records simulated per second of CPU (per
/// core) and of wall time. Returns whether every seed held.
pub fn sweep(exp: &Experiment, config_path: &Path, first: u64, count: u64, jobs: usize) -> Result<bool, Failure> {
    let started = Instant::now();
    let cpu_before = cpu_time();
    let mut progress = crate::progress::Progress::seeds(count);
    let (sweep, cost) = sweep_seeds(exp, first, count, jobs, |failed| {
        progress.inc();
        if let Some(line) = failed {
            progress.stdout_line(line);
        }
    })?;
    progress.finish();
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu_before).as_secs_f64();
    println!(
        "{} · {} · {} nodes · {count} seeds from {first} in {wall:.1} s: {} held, {} not",
        exp.name,
        exp.algorithm,
        exp.nodes,
        count - sweep.failing.len() as u64,
        sweep.failing.len()
    );
    for line in &sweep.pooled {
        println!("{line}");
    }
    println!(
        "  {} trace records on {jobs} thread(s) in {wall:.2} s wall, {cpu:.2} s CPU: {} records/s per core, \
         {} records/s; simulating {:.2} s, checking {:.2} s (summed over threads)",
        cost.records,
        per_second(cost.records, cpu),
        per_second(cost.records, wall),
        cost.simulate.as_secs_f64(),
        cost.check.as_secs_f64(),
    );
    if let Some((seed, _)) = sweep.failing.first() {
        println!("replay one: orchestrator sim {} --seed {seed}", config_path.display());
    }
    Ok(sweep.failing.is_empty())
}

/// What a sweep cost, summed over its seeds.
#[derive(Default)]
struct Cost {
    records: usize,
    simulate: Duration,
    check: Duration,
}

/// The sweep itself; `seen` is called once per seed, in seed order, with the seed's line when it
/// did not hold.
fn sweep_seeds(
    exp: &Experiment,
    first: u64,
    count: u64,
    jobs: usize,
    mut seen: impl FnMut(Option<&str>),
) -> Result<(Sweep, Cost), Failure> {
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    let mut failing = Vec::new();
    // Figures of every seed pooled: e.g. all election latencies of all seeds.
    let mut pooled: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut cost = Cost::default();
    in_seed_order(
        first,
        count,
        jobs,
        |seed| judge_seed(algorithm, exp, seed),
        |result| {
            seen(result.failed.as_deref());
            for (name, value) in &result.metrics {
                collect_values(name, value, &mut pooled);
            }
            cost.records += result.records;
            cost.simulate += result.simulate;
            cost.check += result.check;
            if let Some(line) = result.failed {
                failing.push((result.seed, line));
            }
        },
    )?;
    let pooled = pooled
        .iter()
        .map(|(name, values)| format!("  {name} over all seeds: {}", short_metric(&stats(values))))
        .collect();
    Ok((Sweep { failing, pooled }, cost))
}

/// Runs `work` for seeds `first..first + count` on `jobs` threads and hands each result to `take`
/// in seed order, as it becomes the next one due. An error stops the sweep: the first error in
/// seed order is returned, after every earlier seed's result was taken, as one thread would.
fn in_seed_order<T: Send>(
    first: u64,
    count: u64,
    jobs: usize,
    work: impl Fn(u64) -> Result<T, Failure> + Sync,
    mut take: impl FnMut(T),
) -> Result<(), Failure> {
    let end = first.saturating_add(count);
    if jobs <= 1 {
        for seed in first..end {
            take(work(seed)?);
        }
        return Ok(());
    }
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Result<T, Failure>)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || tx.send((seed, work(seed))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results that arrived before their turn, by seed.
        let mut waiting: BTreeMap<u64, Result<T, Failure>> = BTreeMap::new();
        let mut due = first;
        for (seed, result) in rx {
            waiting.insert(seed, result);
            while let Some(result) = waiting.remove(&due) {
                due += 1;
                match result {
                    Ok(value) => take(value),
                    Err(failure) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(failure);
                    }
                }
            }
        }
        Ok(())
    })
}

/// The number of threads a sweep runs on by default: every core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `count / seconds`, rounded to three significant figures a person reads (`3.14 M`, `812 k`).
fn per_second(count: usize, seconds: f64) -> String {
    let rate = if seconds > 0.0 { count as f64 / seconds } else { 0.0 };
    match rate {
        r if r >= 1e6 => format!("{:.2} M", r / 1e6),
        r if r >= 1e3 => format!("{:.0} k", r / 1e3),
        r => format!("{r:.0}"),
    }
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
    // Streamed: a long run's traces are hundreds of megabytes of JSON.
    let mut files = BTreeMap::new();
    for id in exp.all_ids() {
        let file = std::fs::File::create(run_dir.join(format!("node-{id}.jsonl"))).map_err(io)?;
        files.insert(id, std::io::BufWriter::with_capacity(1 << 16, file));
    }
    let mut line = Vec::new();
    for r in &outcome.run.records {
        if let Some(out) = files.get_mut(&r.node) {
            line.clear();
            r.write_json_line(&mut line);
            out.write_all(&line).map_err(io)?;
        }
    }
    for out in files.into_values() {
        out.into_inner().map_err(|e| io(e.into_error()))?;
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
    /// `CLUSTERLAB_NEMESIS_SEEDS` seeds (default 8; the README's sweeps run 200): no property
    /// may be violated on any seed, and each file must have had something judged (a sweep in
    /// which every property is `unknown` proves nothing). Prints the verdicts per property.
    #[test]
    fn every_nemesis_experiment_holds_over_its_first_seeds() {
        let seeds: u64 = std::env::var("CLUSTERLAB_NEMESIS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
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

    /// `--jobs 2` finds what `--jobs 1` finds, in the same order: the failing seeds' lines (a
    /// meant-to-fail file, so there are some) and the pooled figures, and stops on the same error.
    #[test]
    fn a_sweep_on_two_threads_prints_what_one_thread_prints() {
        // What a sweep found, and what it showed as it went (one entry per seed).
        let found = |exp: &Experiment, seeds: u64, jobs: usize| {
            let mut seen = Vec::new();
            let Ok((sweep, _)) = sweep_seeds(exp, exp.seed, seeds, jobs, |line| seen.push(line.map(str::to_string)))
            else {
                panic!("{}: the sweep failed", exp.name)
            };
            (sweep, seen)
        };
        for (file, seeds) in [("token-ring-pause.toml", 6), ("bully-nemesis.toml", 6)] {
            let (_, exp) = config(file);
            let (one, _) = found(&exp, seeds, 1);
            let (two, seen) = found(&exp, seeds, 2);
            assert_eq!(one, two, "{file}");
            assert!(!one.pooled.is_empty(), "{file}: figures to compare");
            if file == "token-ring-pause.toml" {
                assert!(!one.failing.is_empty(), "{file} is meant to fail");
            }
            assert_eq!(seen.len() as u64, seeds, "{file}: every seed seen once");
            let lines: Vec<String> = seen.into_iter().flatten().collect();
            assert_eq!(lines, one.failing.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), "{file}: in seed order");
        }
        // An error stops both at the same seed: the first in seed order.
        let fails_from = |seed: u64| if seed >= 5 { Err(Failure::BadInput(format!("seed {seed}"))) } else { Ok(seed) };
        for jobs in [1, 2, 3] {
            let mut taken = Vec::new();
            let Err(Failure::BadInput(error)) = in_seed_order(1, 20, jobs, fails_from, |s| taken.push(s)) else {
                panic!("jobs {jobs}: no error")
            };
            assert_eq!((error.as_str(), taken), ("seed 5", vec![1, 2, 3, 4]), "jobs {jobs}");
        }
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
    /// still gives the same trace, byte for byte, and the same verdict. The two Raft digests were
    /// pinned again when messages came to be written as their own JSON (fields in declaration
    /// order, no longer sorted by a `Value` map): with each message re-sorted the old digests
    /// held, so only the order of message fields changed.
    #[test]
    fn a_seed_gives_the_same_trace_and_verdict_as_before() {
        let pinned: [(&str, u64, u64, usize); 4] = [
            ("bully.toml", 1, 0x9950bb39c8b84f0d, 1168),
            ("bully-nemesis.toml", 7, 0xb4579a8a5be983f5, 1915),
            ("raft.toml", 1, 0xfa390c64047e8a5f, 8650),
            ("raft-election.toml", 3, 0xac9e75610ac5fb25, 1253),
        ];
        let mut wrong = Vec::new();
        for (file, seed, expected, records) in pinned {
            let (_, exp) = config(file);
            let algorithm = algorithms::find(&exp.algorithm).unwrap();
            let outcome = simulate(algorithm, &sim_config(&exp, seed)).unwrap();
            let got = (digest(&outcome, algorithm), outcome.run.records.len());
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

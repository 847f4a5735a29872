//! `orchestrator detectors`: the failure detectors' trade-off as a sweep. For each detector
//! setting (a fixed timeout, or a φ threshold) and each amount of delay jitter, runs with a real
//! kill and a pause, and tabulates detection time after the kill against false suspicions per
//! minute: the course's "may suspect a node has crashed when in fact the node is functioning
//! fine, for example due to a spike in network latency", measured.
//!
//! ```sh
//! orchestrator detectors configs/detector-*.toml --timeouts 100,200,400 --phi 4,8,12 --jitter 0,20,50
//! orchestrator detectors configs/detector-*.toml --sim --trials 10
//! ```
//!
//! Each experiment file contributes its algorithm and parameters (a `heartbeat` file is swept
//! over `--timeouts`, a `phi-accrual` file over `--phi`), not its faults: every run gets the same
//! schedule, so rows differ only by detector and jitter. Node N is killed at 1 s and restarted at
//! 2.5 s; node 2 is paused at 3 s for `--pause`; with jitter J, every directed link delays every
//! message by a uniform 0–J ms from the start. Real processes by default (one run at a time, each
//! with its own run directory and report), `--sim` for the simulator. The table, `detectors.json`
//! and `detectors.html` (the plot: one curve per detector and jitter) go to
//! `runs/detectors-<time>/`.

use crate::experiment::{Experiment, Overrides};
use crate::network::NetMode;
use crate::plots::{esc, Chart, Series, Style};
use crate::report::verdict_word;
use crate::run::RunOptions;
use crate::run_dir::create_run_dir;
use crate::Failure;
use algorithms::check::metric::Distribution;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::sim::simulate;
use algorithms::{CheckReport, NodeId, Verdict};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct DetectorArgs {
    /// Timeouts of the heartbeat detector to try, in milliseconds
    #[arg(long, value_delimiter = ',', default_value = "100,200,400")]
    pub timeouts: Vec<u64>,
    /// φ thresholds of the phi-accrual detector to try
    #[arg(long, value_delimiter = ',', default_value = "4,8,12")]
    pub phi: Vec<f64>,
    /// Extra delay on every link, uniform from 0 to this many milliseconds
    #[arg(long, value_delimiter = ',', default_value = "0,20,50")]
    pub jitter: Vec<u64>,
    /// How long node 2 is paused (SIGSTOP) at 3 s
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300ms")]
    pub pause: Duration,
    /// Run in the simulator instead of on real processes
    #[arg(long)]
    pub sim: bool,
    /// Runs per cell (seeds from --seed), pooled
    #[arg(long, default_value_t = 1)]
    pub trials: u64,
    /// Seed of the first run of every cell
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Length of each run
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub duration: Duration,
    /// The node binary (default: `node` beside this executable)
    #[arg(long)]
    pub node_bin: Option<PathBuf>,
    /// Where the sweep's directory goes
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

/// One row: one detector setting under one jitter, its trials pooled.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub algorithm: String,
    /// `timeout 200 ms`, `φ 8`.
    pub detector: String,
    pub jitter_ms: u64,
    pub trials: u64,
    pub detection_ms: Distribution,
    pub false_suspicions: u64,
    pub false_per_min: f64,
    pub false_suspicion_ms: Distribution,
    /// Per property: held, violated, unknown over the trials.
    pub verdicts: BTreeMap<String, [u64; 3]>,
    pub problems: Vec<String>,
    pub run_dirs: Vec<PathBuf>,
}

/// What one run of a cell leaves: its report, the minutes it lasted, and its directory if real.
struct Trial {
    report: CheckReport,
    minutes: f64,
    run_dir: Option<PathBuf>,
    problems: Vec<String>,
}

pub fn detectors(configs: &[PathBuf], args: &DetectorArgs) -> Result<ExitCode, Failure> {
    let last_fault = Duration::from_secs(3) + args.pause;
    if args.duration < last_fault + Duration::from_millis(1000) {
        return Err(Failure::BadInput(format!(
            "--duration: at least {} (the pause ends at {}, and the quiet tail needs a second)",
            humantime::format_duration(last_fault + Duration::from_millis(1000)),
            humantime::format_duration(last_fault)
        )));
    }
    if args.jitter.is_empty() || args.trials == 0 {
        return Err(Failure::BadInput("--jitter and --trials: give at least one".into()));
    }
    let mut plans = Vec::new();
    for config in configs {
        for exp in settings(config, args)? {
            for &jitter in &args.jitter {
                plans.push((with_schedule(&exp, jitter, args), jitter));
            }
        }
    }
    let dir = create_run_dir(&args.out, "detectors")?;
    let mode = match args.sim {
        true => format!("simulator, {} trial(s) per cell", args.trials),
        false => format!("real processes, {} trial(s) per cell", args.trials),
    };
    let header = format!(
        "detectors · kill node N at 1 s (back at 2.5 s), pause node 2 at 3 s for {}, jitter uniform 0–J ms on every link · {} s per run · {mode}",
        humantime::format_duration(args.pause),
        args.duration.as_secs_f64()
    );
    let mut cells = Vec::new();
    for (i, (exp, jitter)) in plans.iter().enumerate() {
        eprintln!("[{}/{}] {} {} jitter {jitter} ms ...", i + 1, plans.len(), exp.algorithm, describe(exp));
        let mut trials = Vec::new();
        for k in 0..args.trials {
            let exp = Experiment { seed: args.seed + k, ..exp.clone() };
            trials.push(if args.sim { sim_trial(&exp)? } else { real_trial(&exp, args, &dir)? });
        }
        cells.push(pool(exp, *jitter, trials));
    }
    let table = render(&header, &cells);
    print!("{table}");
    let io = |e: std::io::Error| Failure::Run(e.into());
    std::fs::write(dir.join("detectors.txt"), &table).map_err(io)?;
    let json = serde_json::to_string_pretty(&json!({ "header": header, "cells": cells })).unwrap_or_default();
    std::fs::write(dir.join("detectors.json"), json + "\n").map_err(io)?;
    std::fs::write(dir.join("detectors.html"), page(&header, &table, &cells)).map_err(io)?;
    println!("detectors.txt, detectors.json and detectors.html in {}", dir.display());
    // The sweep is a measurement: a short timeout under jitter is meant to suspect falsely. Only
    // a detector that missed a kill makes it fail.
    let missed = cells.iter().any(|c| c.verdicts.get("strong_completeness").is_some_and(|v| v[1] > 0));
    Ok(if missed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The experiment of `config` once per setting the arguments give its detector.
fn settings(config: &Path, args: &DetectorArgs) -> Result<Vec<Experiment>, Failure> {
    let overrides = Overrides { nodes: None, seed: Some(args.seed), duration: Some(args.duration) };
    let mut exp = Experiment::load(config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
    // `configs/detector-*.toml` also matches the nemesis experiments: the sweep brings its own
    // faults, so they would only repeat their detector's rows.
    if exp.nemesis.is_some() {
        eprintln!("skipping {}: a nemesis experiment (the sweep brings its own faults)", config.display());
        return Ok(vec![]);
    }
    if !exp.params.is_object() {
        exp.params = json!({});
    }
    let (key, values): (&str, Vec<Value>) = match exp.algorithm.as_str() {
        "heartbeat" => ("timeout_ms", args.timeouts.iter().map(|t| json!(t)).collect()),
        "phi-accrual" => ("threshold", args.phi.iter().map(|t| json!(t)).collect()),
        other => {
            return Err(Failure::BadInput(format!(
                "{}: algorithm {other:?} is not a failure detector (detectors sweeps heartbeat and phi-accrual experiments)",
                config.display()
            )))
        }
    };
    let mut out = Vec::new();
    for value in values {
        let mut e = exp.clone();
        e.params[key] = value.clone();
        e.name = format!("{}-{key}-{value}", exp.name);
        e.validate().map_err(|err| Failure::BadInput(format!("{}: {err}", config.display())))?;
        out.push(e);
    }
    Ok(out)
}

/// The sweep's schedule in place of the file's faults.
fn with_schedule(exp: &Experiment, jitter: u64, args: &DetectorArgs) -> Experiment {
    let mut exp = exp.clone();
    exp.nemesis = None;
    exp.name = format!("{}-jitter{jitter}", exp.name);
    let n = exp.nodes as NodeId;
    let mut faults = Vec::new();
    if jitter > 0 {
        let delay = Delay::Uniform { min_ms: 0.0, max_ms: jitter as f64 };
        for from in 1..=n {
            for to in (1..=n).filter(|to| *to != from) {
                let link = LinkSpec { from, to, delay: Some(delay.clone()), ..LinkSpec::default() };
                faults.push(FaultSpec::new(Duration::ZERO, Action::Link(link)));
            }
        }
    }
    let kill = FaultSpec::new(Duration::from_secs(1), Action::Kill { node: Target::Id(n) });
    faults.push(FaultSpec { lasting: Some(Duration::from_millis(1500)), ..kill });
    let pause = FaultSpec::new(Duration::from_secs(3), Action::Pause { node: Target::Id(2) });
    faults.push(FaultSpec { lasting: Some(args.pause), ..pause });
    exp.faults = faults;
    exp
}

fn describe(exp: &Experiment) -> String {
    match exp.algorithm.as_str() {
        "heartbeat" => format!("timeout {} ms", exp.params["timeout_ms"].as_u64().unwrap_or(200)),
        _ => format!("φ {}", exp.params["threshold"].as_f64().unwrap_or(8.0)),
    }
}

fn sim_trial(exp: &Experiment) -> Result<Trial, Failure> {
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    let outcome = simulate(algorithm, &crate::simulate::sim_config(exp, exp.seed)).map_err(Failure::BadInput)?;
    let minutes = outcome.run.end.saturating_sub(outcome.run.start) as f64 / 60e9;
    Ok(Trial { report: algorithm.check(&outcome.run), minutes, run_dir: None, problems: vec![] })
}

fn real_trial(exp: &Experiment, args: &DetectorArgs, out: &Path) -> Result<Trial, Failure> {
    let node_bin = crate::node_bin(args.node_bin.as_ref())?;
    let opts = RunOptions { out: out.to_path_buf(), node_bin, net: NetMode::Proxy, stay_up: false, on_ready: None };
    let summary = crate::run::run(exp, opts)?;
    let report = CheckReport { properties: summary.properties.clone(), metrics: summary.metrics.clone() };
    let mut problems = summary.problems.clone();
    if summary.interrupted {
        problems.push("interrupted".into());
    }
    Ok(Trial { report, minutes: summary.duration_ms / 60_000.0, run_dir: Some(summary.run_dir), problems })
}

fn values(report: &CheckReport, name: &str) -> Vec<f64> {
    report
        .metrics
        .get(name)
        .and_then(|m| m["values"].as_array())
        .map_or(vec![], |v| v.iter().filter_map(Value::as_f64).collect())
}

fn pool(exp: &Experiment, jitter_ms: u64, trials: Vec<Trial>) -> Cell {
    let (mut detection, mut durations, mut false_suspicions, mut minutes) = (vec![], vec![], 0, 0.0);
    let mut verdicts: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let (mut problems, mut run_dirs) = (vec![], vec![]);
    for (k, t) in trials.iter().enumerate() {
        detection.extend(values(&t.report, "detection_ms"));
        durations.extend(values(&t.report, "false_suspicion_ms"));
        false_suspicions += t.report.metrics.get("false_suspicions").and_then(Value::as_u64).unwrap_or(0);
        minutes += t.minutes;
        for p in &t.report.properties {
            let at = match p.verdict {
                Verdict::Held => 0,
                Verdict::Violated => 1,
                Verdict::Unknown | Verdict::NotPromised => 2,
            };
            verdicts.entry(p.name.clone()).or_default()[at] += 1;
            if p.verdict != Verdict::Held {
                problems.push(format!("trial {k}: {} {}: {}", verdict_word(p.verdict), p.name, p.detail));
            }
        }
        problems.extend(t.problems.iter().map(|p| format!("trial {k}: {p}")));
        run_dirs.extend(t.run_dir.clone());
    }
    let per_min = if minutes > 0.0 { (false_suspicions as f64 / minutes * 10.0).round() / 10.0 } else { 0.0 };
    Cell {
        algorithm: exp.algorithm.clone(),
        detector: describe(exp),
        jitter_ms,
        trials: trials.len() as u64,
        detection_ms: Distribution::of(&detection),
        false_suspicions,
        false_per_min: per_min,
        false_suspicion_ms: Distribution::of(&durations),
        verdicts,
        problems,
        run_dirs,
    }
}

/// The table: one row per detector setting and jitter.
fn render(header: &str, cells: &[Cell]) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let verdict = |c: &Cell, name: &str| {
        c.verdicts.get(name).map_or("-".into(), |[h, v, u]| match (v, u) {
            (0, 0) => format!("held {h}/{}", c.trials),
            _ => format!("{h} held, {v} violated, {u} unknown"),
        })
    };
    let titles =
        ["detector", "jitter ms", "detect p50", "detect p99", "false/min", "false ms p50", "completeness", "accuracy"];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.detector.clone(),
                c.jitter_ms.to_string(),
                ms(c.detection_ms.p50),
                ms(c.detection_ms.p99),
                format!("{:.1}", c.false_per_min),
                ms(c.false_suspicion_ms.p50),
                verdict(c, "strong_completeness"),
                verdict(c, "eventual_strong_accuracy"),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = titles.iter().map(|t| t.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w - cell.chars().count());
            if [0, 6, 7].contains(&i) {
                let _ = write!(s, "{cell}{pad}  ");
            } else {
                let _ = write!(s, "{pad}{cell}  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!("{header}\n\n");
    out += &line(titles.to_vec());
    for row in &rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out += "detect: from the kill to each correct node's suspicion (ms, every observer of every trial); \
            false/min: suspicions of a node that was up and not paused, per minute of run, cluster-wide; \
            false ms: how long each lasted.\n";
    for c in cells {
        for p in &c.problems {
            out += &format!("  {} jitter {}: {p}\n", c.detector, c.jitter_ms);
        }
    }
    out
}

/// The plot: detection time (p50) against false suspicions per minute, one curve per detector
/// and jitter through its settings.
pub fn chart(cells: &[Cell]) -> Chart {
    const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
    let mut curves: BTreeMap<(String, u64), Vec<&Cell>> = BTreeMap::new();
    for c in cells {
        curves.entry((c.algorithm.clone(), c.jitter_ms)).or_default().push(c);
    }
    let mut series = Vec::new();
    for (i, ((algorithm, jitter), cells)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()].to_string();
        let points: Vec<(f64, f64)> =
            cells.iter().filter_map(|c| Some((c.false_per_min, c.detection_ms.p50?))).collect();
        let tips = cells
            .iter()
            .filter(|c| c.detection_ms.p50.is_some())
            .map(|c| {
                format!(
                    "{} · jitter {} ms: {:.1} false/min, detection p50 {:.0} ms",
                    c.detector,
                    jitter,
                    c.false_per_min,
                    c.detection_ms.p50.unwrap_or(0.0)
                )
            })
            .collect();
        let name = format!("{algorithm}, jitter {jitter} ms");
        series.push(Series {
            name: name.clone(),
            colour: colour.clone(),
            style: Style::Line,
            points: points.clone(),
            tips: vec![],
        });
        series.push(Series { name, colour, style: Style::Dots, points, tips });
    }
    let x_max = cells.iter().map(|c| c.false_per_min).fold(1.0, f64::max);
    Chart {
        title: "Detection time after a kill against false suspicions".into(),
        x_label: "false suspicions per minute".into(),
        y_label: "detection p50 (ms)".into(),
        x_max,
        bands: vec![],
        series,
    }
}

/// A self-contained page: the plot, its legend and the table.
fn page(header: &str, table: &str, cells: &[Cell]) -> String {
    let chart = chart(cells);
    let mut legend = String::new();
    for s in chart.series.iter().filter(|s| s.style == Style::Line) {
        let _ = write!(legend, r#"<li><span style="color:{}">■</span> {}</li>"#, esc(&s.colour), esc(&s.name));
    }
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>failure detectors</title><style>
body{{font-family:sans-serif;margin:2em;max-width:1000px}} pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}
.grid{{stroke:#ddd}} .axis{{stroke:#333}} .tickmark{{stroke:#333}} .tick,.axis-label{{font-size:11px}} .plot-title{{font-weight:bold}}
.series{{stroke-width:2}} .stem{{display:none}} ul{{list-style:none;padding:0}}
</style></head><body><h1>Failure detectors: detection time against false suspicions</h1><p>{}</p>{}<ul>{legend}</ul><p>Lower left is better: a short timeout (or a low φ) detects a kill sooner and suspects live nodes more often under jitter; φ-accrual learns the jitter and moves its own timeout.</p><pre>{}</pre></body></html>
"#,
        esc(header),
        chart.svg(),
        esc(table)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep in the simulator, small: two timeouts and one φ under two jitters; the table,
    /// the JSON and the page are written, a longer timeout detects later, and a 60 ms timeout
    /// under 50 ms of jitter suspects falsely.
    #[test]
    fn a_small_simulated_sweep_writes_its_table_json_and_page() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = std::env::temp_dir().join(format!("clusterlab-detectors-{}", std::process::id()));
        let args = DetectorArgs {
            timeouts: vec![60, 400],
            phi: vec![8.0],
            jitter: vec![0, 50],
            pause: Duration::from_millis(300),
            sim: true,
            trials: 2,
            seed: 1,
            duration: Duration::from_millis(4500),
            node_bin: None,
            out: out.clone(),
        };
        let configs = [
            root.join("configs/detector-heartbeat.toml"),
            root.join("configs/detector-phi.toml"),
            root.join("configs/detector-heartbeat-nemesis.toml"),
        ];
        let code = match detectors(&configs, &args) {
            Ok(code) => code,
            Err(Failure::BadInput(e)) => panic!("{e}"),
            Err(Failure::Run(e)) => panic!("{e:#}"),
        };
        assert_eq!(code, ExitCode::SUCCESS);
        let dir = out.join("latest");
        let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("detectors.json")).unwrap()).unwrap();
        let cells = json["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 6, "3 settings × 2 jitters");
        let cell = |detector: &str, jitter: u64| {
            cells.iter().find(|c| c["detector"] == detector && c["jitter_ms"] == jitter).unwrap()
        };
        let p50 = |c: &Value| c["detection_ms"]["p50"].as_f64().unwrap();
        assert!(p50(cell("timeout 400 ms", 0)) > p50(cell("timeout 60 ms", 0)) + 250.0);
        assert!(cell("timeout 60 ms", 50)["false_suspicions"].as_u64().unwrap() > 0);
        assert_eq!(cell("timeout 400 ms", 50)["false_suspicions"], 0);
        let page = std::fs::read_to_string(dir.join("detectors.html")).unwrap();
        assert!(page.contains("<svg") && page.contains("phi-accrual, jitter 50 ms"), "{page}");
        assert!(std::fs::read_to_string(dir.join("detectors.txt")).unwrap().contains("timeout 60 ms"));
        let _ = std::fs::remove_dir_all(&out);
    }
}

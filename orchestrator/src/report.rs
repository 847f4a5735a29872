//! Judging a run and telling the user: `summary.json` and the short human summary.

use algorithms::check::{count_messages, MessageCounts, PropertyResult};
use algorithms::trace::{parse_fault_lines, FaultRecord, TraceRecord};
use algorithms::{Algorithm, NodeId, Run, Verdict, MS};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `summary.json`: the contract later tools and users' scripts read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub algorithm: String,
    /// `real` (node processes) or `sim` (the simulator).
    pub mode: String,
    pub nodes: usize,
    pub seed: u64,
    pub duration_ms: f64,
    pub verdict: Verdict,
    pub properties: Vec<PropertyResult>,
    pub messages: MessageCounts,
    pub metrics: BTreeMap<String, Value>,
    /// Faults applied, with their time since the run started.
    pub faults: Vec<Value>,
    /// The run was cut short by Ctrl-C or SIGTERM.
    #[serde(default)]
    pub interrupted: bool,
    /// Things that went wrong around the algorithm (unexpected exits, unreadable trace lines).
    #[serde(default)]
    pub problems: Vec<String>,
    pub run_dir: PathBuf,
}

/// Reads every node's trace and the fault log from a run directory. Lines that do not parse are
/// skipped and reported as problems rather than failing the whole check.
pub fn load_traces(run_dir: &Path, ids: &[NodeId]) -> Result<(Vec<TraceRecord>, Vec<FaultRecord>, Vec<String>)> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for id in ids {
        let path = run_dir.join(format!("node-{id}.jsonl"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<TraceRecord>(line) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("{} line {}: {e}", path.display(), i + 1)),
            }
        }
    }
    let log = run_dir.join("orchestrator.jsonl");
    let faults =
        parse_fault_lines(&std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?);
    Ok((records, faults, problems))
}

/// Checks a run and builds its summary.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    algorithm: &dyn Algorithm,
    name: &str,
    mode: &str,
    seed: u64,
    run: &Run,
    interrupted: bool,
    problems: Vec<String>,
    run_dir: &Path,
) -> Summary {
    let report = algorithm.check(run);
    let faults = run
        .faults
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(&f.fault).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("at_ms".into(), serde_json::json!(round1(run.ms(f.t))));
            }
            v
        })
        .collect();
    Summary {
        name: name.to_string(),
        algorithm: algorithm.name().to_string(),
        mode: mode.to_string(),
        nodes: run.nodes.len(),
        seed,
        duration_ms: round1((run.end.saturating_sub(run.start)) as f64 / MS as f64),
        verdict: report.verdict(),
        properties: report.properties,
        messages: count_messages(&run.records),
        metrics: report.metrics,
        faults,
        interrupted,
        problems,
        run_dir: run_dir.to_path_buf(),
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

impl Summary {
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join("summary.json");
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// The few lines a person reads after a run.
    pub fn human(&self) -> String {
        let mut out = format!(
            "{} · {} · {} nodes · seed {} · {:.1} s{}{}\n",
            self.name,
            self.algorithm,
            self.nodes,
            self.seed,
            self.duration_ms / 1000.0,
            if self.mode == "sim" { " · simulated" } else { "" },
            if self.interrupted { " · INTERRUPTED" } else { "" },
        );
        let width = self.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &self.properties {
            out += &format!("  {:<8} {:<width$}  {}\n", verdict_word(p.verdict), p.name, p.detail);
        }
        let mut types: Vec<_> = self.messages.by_type.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let by_type: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        out += &format!(
            "  messages: {} sent, {} delivered ({})\n",
            self.messages.total,
            self.messages.delivered,
            by_type.join(", ")
        );
        for (name, value) in &self.metrics {
            out += &format!("  {name}: {}\n", short_metric(value));
        }
        for p in &self.problems {
            out += &format!("  problem: {p}\n");
        }
        out += &format!("verdict: {}\n", verdict_word(self.verdict).to_uppercase());
        out
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Held => "held",
        Verdict::Violated => "VIOLATED",
        Verdict::Unknown => "unknown",
    }
}

/// A metric on one line: statistics objects show count, mean, percentiles and max.
pub fn short_metric(value: &Value) -> String {
    let Some(map) = value.as_object() else { return value.to_string() };
    if map.contains_key("count") {
        let get = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        return format!(
            "n={} mean={} p50={} p90={} p99={} max={}",
            get("count"),
            get("mean"),
            get("p50"),
            get("p90"),
            get("p99"),
            get("max")
        );
    }
    map.iter().map(|(k, v)| format!("{k}={}", short_metric(v))).collect::<Vec<_>>().join(" ")
}

//! Judging a run and telling the user: `summary.json` and the short human summary.

use algorithms::check::metric::{Distribution, Metric};
use algorithms::check::{count_messages, MessageCounts, PropertyResult};
use algorithms::faults::{read_fault_lines, FaultRecord};
use algorithms::trace::TraceRecord;
use algorithms::{Algorithm, Execution, NodeId, Verdict, MS};
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

/// Reads every node's trace and the fault log from a run directory. A missing or unreadable trace
/// and every line that does not parse are problems of the run (named by file and line), never
/// silently dropped: [`judge`] lets no run with problems be `held`.
pub fn load_traces(run_dir: &Path, ids: &[NodeId]) -> Result<(Vec<TraceRecord>, Vec<FaultRecord>, Vec<String>)> {
    let paths = ids.iter().map(|id| run_dir.join(format!("node-{id}.jsonl")));
    let trace_bytes: u64 = paths.filter_map(|path| std::fs::metadata(path).ok()).map(|m| m.len()).sum();
    crate::limits::traces_fit(trace_bytes, crate::limits::memory_available())
        .map_err(|e| anyhow::anyhow!("{}: {e}", run_dir.display()))?;
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for id in ids {
        let path = run_dir.join(format!("node-{id}.jsonl"));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        // A node that is still running, or was killed, has an unwritten tail after its records.
        let text = String::from_utf8_lossy(node::trace_file::written(&bytes));
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<TraceRecord>(line) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("{} line {}: {e}", path.display(), i + 1)),
            }
        }
    }
    let log = run_dir.join("orchestrator.jsonl");
    let (faults, bad) =
        read_fault_lines(&std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?);
    problems.extend(bad.into_iter().map(|b| format!("{} {b}", log.display())));
    Ok((records, faults, problems))
}

/// Checks a run and builds its summary.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    algorithm: &dyn Algorithm,
    name: &str,
    mode: &str,
    seed: u64,
    run: &Execution,
    interrupted: bool,
    problems: Vec<String>,
    run_dir: &Path,
) -> Summary {
    let report = algorithm.check(run);
    let verdict = at_best_unknown_with(report.verdict(), &problems);
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
        verdict,
        properties: report.properties,
        messages: count_messages(&run.records),
        metrics: report.metrics,
        faults,
        interrupted,
        problems,
        run_dir: run_dir.to_path_buf(),
    }
}

/// A run with problems around it (a trace missing or torn, a node that exited on its own, a fault
/// whose undo failed) was not observed whole, so what its properties say cannot be `held`: at
/// best `unknown`. A violation stays a violation: what was seen is enough to show it.
pub fn at_best_unknown_with(verdict: Verdict, problems: &[String]) -> Verdict {
    match verdict {
        Verdict::Held if !problems.is_empty() => Verdict::Unknown,
        other => other,
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

    /// What a person reads after a run: a compact table of the properties, the messages, the
    /// key metrics and the faults, then the verdict and where the report is. The `verdict:` line
    /// is what scripts and tests look for; keep its wording.
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
        let mut rows: Vec<[String; 3]> = vec![["property".into(), "verdict".into(), "detail".into()]];
        for p in &self.properties {
            rows.push([p.name.clone(), verdict_word(p.verdict).into(), p.detail.clone()]);
        }
        out += &table(&rows, true);
        let mut types: Vec<_> = self.messages.by_type.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let by_type: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let mut facts: Vec<[String; 3]> = vec![[
            "messages".into(),
            format!("{} sent, {} delivered: {}", self.messages.total, self.messages.delivered, by_type.join(", ")),
            String::new(),
        ]];
        for (name, value) in &self.metrics {
            facts.push([name.clone(), compact_metric(value), String::new()]);
        }
        let applied: Vec<String> = self
            .faults
            .iter()
            .filter(|f| !matches!(f["action"].as_str(), Some("run_start" | "run_end")))
            .map(|f| {
                let at = f["at_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                let mut fault = f.clone();
                if let Some(map) = fault.as_object_mut() {
                    map.remove("at_ms"); // not a field of the fault (link specs reject unknown keys)
                }
                let fault: Option<algorithms::faults::AppliedFault> = serde_json::from_value(fault).ok();
                format!("{at:>5.1} s  {}", fault.map_or_else(|| f["action"].to_string(), |f| f.describe()))
            })
            .collect();
        // A nemesis applies dozens: the first few here, all of them in the report.
        const SHOWN: usize = 6;
        for (i, line) in applied.iter().take(SHOWN).enumerate() {
            facts.push([if i == 0 { "faults".into() } else { String::new() }, line.clone(), String::new()]);
        }
        if applied.len() > SHOWN {
            facts.push([
                String::new(),
                format!("… and {} more (see the report)", applied.len() - SHOWN),
                String::new(),
            ]);
        }
        out += &table(&facts, false);
        for p in &self.problems {
            out += &format!("  problem: {p}\n");
        }
        if !self.problems.is_empty() && self.verdict == Verdict::Unknown {
            let held = self.properties.iter().all(|p| p.verdict == Verdict::Held);
            if held {
                out += &format!(
                    "  every property held on what was seen, but the run was not seen whole ({} problem(s) above)\n",
                    self.problems.len()
                );
            }
        }
        out += &format!("verdict: {}\n", verdict_word(self.verdict).to_uppercase());
        let report = self.run_dir.join("report.html");
        if report.is_file() {
            out += &format!("report: {}\n", report.display());
        }
        out
    }
}

/// Rows in aligned columns, indented by two spaces; with a header, a rule under it. Empty last
/// cells leave no trailing spaces.
fn table(rows: &[[String; 3]], header: bool) -> String {
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line = format!("  {:<w0$}  {:<w1$}  {}", row[0], row[1], row[2]);
        out += line.trim_end();
        out.push('\n');
        if header && i == 0 {
            out += &format!("  {}  {}  {}\n", "─".repeat(w0), "─".repeat(w1), "─".repeat(width(2).min(60)));
        }
    }
    out
}

/// A metric for the summary table: statistics as `mean 110.3 (max 314.4, n=3)` and message
/// costs with the textbook's figure (`mean 17.3 (max 28.0, n=3); textbook best n−2 = 3, ...`);
/// read as the [`Metric`] shape the checker made.
pub fn compact_metric(value: &Value) -> String {
    let textbook = |measured: String, figure: &str| match figure {
        "" => measured,
        figure => format!("{measured}; textbook {figure}"),
    };
    match Metric::of(value) {
        Metric::PerElection(cost) => textbook(compact_stats(&cost.measured), cost.textbook.figure()),
        Metric::PerElectionV0(cost) => textbook(compact_stats(&cost.measured), &cost.figures().join(", ")),
        Metric::PerEntry(cost) => textbook(number(cost.measured), &cost.textbook),
        Metric::Deposed(entries) => entries.summary(),
        _ => short_metric(value),
    }
}

/// `mean 4.0 (max 5.0, n=2)`.
fn compact_stats(d: &Distribution) -> String {
    format!("mean {} (max {}, n={})", figure(d.mean), figure(d.max), d.count)
}

/// A figure as JSON writes it (`4.0`), `-` when there is none.
pub fn figure(v: Option<f64>) -> String {
    v.map_or("-".into(), number)
}

/// A number as JSON writes it (`4.0`, `0.25`).
pub fn number(v: f64) -> String {
    Value::from(v).to_string()
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Held => "held",
        Verdict::Violated => "VIOLATED",
        Verdict::Unknown => "unknown",
        Verdict::NotPromised => "n/a",
    }
}

/// A metric on one line: statistics show count, mean, percentiles and max; other shapes their
/// fields as `key=value`.
pub fn short_metric(value: &Value) -> String {
    if let Metric::Distribution(d) = Metric::of(value) {
        return format!(
            "n={} mean={} p50={} p90={} p99={} max={}",
            d.count,
            figure(d.mean),
            figure(d.p50),
            figure(d.p90),
            figure(d.p99),
            figure(d.max)
        );
    }
    let Some(map) = value.as_object() else { return value.to_string() };
    map.iter().map(|(k, v)| format!("{k}={}", short_metric(v))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_a_compact_table_ending_with_the_verdict() {
        let mut properties = vec![PropertyResult::held("stable_agreement", 3, "stable period", "3 periods judged")];
        properties.push(PropertyResult::violated("election_within_bound", "took 900 ms", vec![]));
        let summary = Summary {
            name: "bully".into(),
            algorithm: "bully".into(),
            mode: "real".into(),
            nodes: 5,
            seed: 1,
            duration_ms: 6000.7,
            verdict: Verdict::Violated,
            properties,
            messages: MessageCounts {
                total: 10,
                by_type: BTreeMap::from([("a".into(), 3), ("b".into(), 7)]),
                delivered: 9,
            },
            metrics: BTreeMap::from([(
                "messages_per_election".into(),
                serde_json::json!({"measured": {"count": 2, "mean": 4.0, "max": 5.0}, "textbook_best": 3}),
            )]),
            faults: vec![serde_json::json!({"action": "link", "from": 1, "to": 2, "loss": 0.5, "at_ms": 1500.0})],
            interrupted: false,
            problems: vec![],
            run_dir: PathBuf::from("/nonexistent"),
        };
        let text = summary.human();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "bully · bully · 5 nodes · seed 1 · 6.0 s");
        assert_eq!(lines[1], "  property               verdict   detail");
        assert_eq!(lines[4], "  election_within_bound  VIOLATED  took 900 ms");
        assert_eq!(lines[5], "  messages               10 sent, 9 delivered: b 7, a 3");
        assert_eq!(lines[6], "  messages_per_election  mean 4.0 (max 5.0, n=2); textbook best 3");
        assert_eq!(lines[7], "  faults                   1.5 s  link 1→2 loss 0.5");
        assert_eq!(lines.last(), Some(&"verdict: VIOLATED"), "no report line without a report");
    }

    #[test]
    fn problems_around_a_run_leave_held_at_best_unknown_and_violated_as_it_is() {
        let problems = vec!["runs/x/node-2.jsonl: No such file or directory".to_string()];
        assert_eq!(at_best_unknown_with(Verdict::Held, &problems), Verdict::Unknown);
        assert_eq!(at_best_unknown_with(Verdict::Violated, &problems), Verdict::Violated);
        assert_eq!(at_best_unknown_with(Verdict::Unknown, &problems), Verdict::Unknown);
        assert_eq!(at_best_unknown_with(Verdict::Held, &[]), Verdict::Held);
    }
}

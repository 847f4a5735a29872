//! Reading a run back from its directory for `orchestrator report|export`: the traces, the fault
//! log and the summary (or, when the run never wrote one, a fresh judgement from
//! `experiment.toml`, told how the run ran by its `run.json`).

use crate::report::Summary;
use algorithms::NodeId;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;

/// A run that already happened, read back from its directory.
pub struct Loaded {
    pub summary: Summary,
    pub run: algorithms::Execution,
    /// The summary was missing and the traces were judged again.
    pub judged: bool,
    /// Trace lines that did not parse.
    pub problems: Vec<String>,
}

/// `orchestrator report|export RUN_DIR`: the traces, and the summary from `summary.json` or, when
/// the run never got that far (e.g. the orchestrator was killed), judged again from
/// `experiment.toml` and the traces.
pub fn load_run(run_dir: &Path) -> Result<Loaded> {
    let path = run_dir.join("summary.json");
    let saved = match std::fs::read_to_string(&path) {
        Ok(text) => {
            Some(serde_json::from_str::<Summary>(&text).with_context(|| format!("reading {}", path.display()))?)
        }
        Err(_) => None,
    };
    let exp_path = run_dir.join("experiment.toml");
    let exp: Option<crate::experiment::Experiment> = match std::fs::read_to_string(&exp_path) {
        Ok(text) => Some(toml::from_str(&text).with_context(|| format!("reading {}", exp_path.display()))?),
        Err(_) => None,
    };
    let (name, nodes, params) = match (&saved, &exp) {
        (_, Some(exp)) => (exp.algorithm.clone(), exp.servers(), exp.params.clone()),
        (Some(s), None) => (s.algorithm.clone(), s.nodes, Value::Null),
        (None, None) => anyhow::bail!("{} has neither summary.json nor experiment.toml", run_dir.display()),
    };
    let algorithm = algorithms::find(&name).map_err(anyhow::Error::msg)?;
    let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
    // A service's client nodes leave traces too (the history); the run's nodes are the servers.
    let traced = exp.as_ref().map_or(ids.clone(), |exp| exp.all_ids());
    let (records, faults, problems) = crate::report::load_traces(run_dir, &traced)?;
    let run = algorithms::Execution::new(algorithm.name(), ids, params, records, faults);
    let (summary, judged) = match (saved, exp) {
        (Some(mut summary), _) => {
            summary.run_dir = run_dir.to_path_buf();
            // Traces damaged since the summary was written (or never read by it) are problems too.
            let fresh: Vec<String> = problems.iter().filter(|p| !summary.problems.contains(p)).cloned().collect();
            summary.problems.extend(fresh);
            summary.verdict = crate::report::at_best_unknown_with(summary.verdict, &summary.problems);
            (summary, false)
        }
        (None, Some(exp)) => {
            let mode = crate::run_dir::RunInfo::read(run_dir)?.map_or("unknown", |info| info.summary_mode());
            let problems = problems.clone();
            (crate::report::judge(algorithm, &exp.name, mode, exp.seed, &run, false, problems, run_dir), true)
        }
        (None, None) => unreachable!("checked above"),
    };
    Ok(Loaded { summary, run, judged, problems })
}

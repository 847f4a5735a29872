//! `report.html`: one self-contained page per run that shows what happened.
//!
//! People would rather look than read. The page puts the verdicts first (with links from a
//! violation's evidence to its place in the diagram), then a space-time diagram of the run (one
//! lane per node, messages as arrows, algorithm events marked, faults shaded over the lanes and
//! links they hit), plots of message rates and election or critical-section latency, and the
//! message table beside the textbook's figures. Everything is inline (CSS, script, SVG, data):
//! the page opens from a mail attachment or an air-gapped lab machine, and a report is
//! byte-identical for a byte-identical run (no dates in it).
//!
//! The diagram is drawn in the browser from compact JSON (so the page can zoom, switch between a
//! real-time and an event-order axis, and filter message types without a round trip), while the
//! plots are SVG made here. The page's script reports itself in `#report-status`
//! (`data-status="rendered"`, the number of lanes and arrows drawn, and any script error), which
//! is what the headless-browser test reads.
//!
//! One module per concern: [`load`] reads a run directory back; `page` assembles the page from
//! its sections (`verdicts`, [`history`], `slots` for Multi-Paxos, `diagram`, `plots` with
//! `latency`, `messages`, `metrics`, `faults`); `spans` turns the fault log into shaded periods. Charts read the
//! families' events as types ([`algorithms::check::events`]) and the metrics as the shapes the
//! checkers made ([`algorithms::check::metric`]).

mod ballots;
mod delivery;
mod diagram;
mod faults;
pub mod history;
mod latency;
pub mod load;
mod messages;
mod metrics;
mod page;
mod plots;
mod slots;
mod spans;
mod verdicts;
mod versions;

pub use load::load_run;
pub use page::render;

use crate::report::Summary;
use crate::timeline::Timeline;
use algorithms::NodeId;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// How many events the diagram draws at most (see `diagram` for which ones it keeps).
pub const DEFAULT_MAX_EVENTS: usize = 6000;

/// What was written, for the user and the tests.
pub struct Written {
    pub report: PathBuf,
    pub timeline: PathBuf,
    pub bytes: usize,
    pub drawn: usize,
    pub total: usize,
}

/// Writes `timeline.jsonl`, `history.jsonl` (when the traces have client operations) and
/// `report.html` in the run directory from the run's traces (those the summary was judged
/// from: nothing is read twice).
pub fn write_run_files(summary: &Summary, run: algorithms::Execution, max_events: usize) -> Result<Written> {
    // A lane per server, and per client node of a service run (their traces are in the run).
    let mut ids: Vec<NodeId> = (1..=summary.nodes as NodeId).collect();
    ids.extend(run.records.iter().map(|r| r.node).filter(|n| *n as usize > summary.nodes));
    ids.sort_unstable();
    ids.dedup();
    // The clients' history (if the traces have one), before the page that shows it.
    crate::history::write_run_history(&run, &summary.run_dir);
    let tl = Timeline::new(run.records, run.faults);
    let timeline = summary.run_dir.join("timeline.jsonl");
    tl.write_jsonl(&timeline)?;
    let (html, drawn) = render(summary, &ids, &tl, max_events);
    let report = summary.run_dir.join("report.html");
    std::fs::write(&report, &html).with_context(|| format!("writing {}", report.display()))?;
    Ok(Written { report, timeline, bytes: html.len(), drawn, total: tl.records.len() })
}

/// Writes the run's files and returns the report's path; a failure is a note, never fatal,
/// because the verdict and `summary.json` matter more than the page.
pub fn write_or_warn(summary: &Summary, run: algorithms::Execution) -> Option<PathBuf> {
    match write_run_files(summary, run, DEFAULT_MAX_EVENTS) {
        Ok(w) => Some(w.report),
        Err(e) => {
            eprintln!("warning: no report for {}: {e:#}", summary.run_dir.display());
            None
        }
    }
}

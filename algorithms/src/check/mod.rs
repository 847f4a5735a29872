//! Checkers judge runs from their traces alone, so real runs, simulated runs and third-party
//! nodes are held to the same properties. This module holds what every checker shares: the run
//! and verdicts here; message counts, leader views and statistics in [`query`]; the checks shared
//! by a family in [`election`] and [`mutex`].

pub mod election;
pub mod history;
pub mod mutex;
pub mod query;
pub mod service;

pub use query::{count_messages, stats, LeaderViews, MessageCounts, View};

use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::TraceRecord;
use crate::faults::{AppliedFault, FaultRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One execution of an experiment, real or simulated, as the checkers see it: every node's trace
/// records and the faults applied. (`orchestrator run` is the command that makes one; this is
/// what it leaves to be judged.)
#[derive(Clone, Debug, Default)]
pub struct Execution {
    pub algorithm: String,
    pub nodes: Vec<NodeId>,
    pub params: Value,
    /// All nodes' records, ordered by time (ties: node, then Lamport clock).
    pub records: Vec<TraceRecord>,
    pub faults: Vec<FaultRecord>,
    pub start: Nanos,
    pub end: Nanos,
}

impl Execution {
    /// Builds a run from per-node traces and the fault log; start and end come from the
    /// `run_start`/`run_end` records when present, else from the traces.
    pub fn new(
        algorithm: &str,
        nodes: Vec<NodeId>,
        params: Value,
        mut records: Vec<TraceRecord>,
        faults: Vec<FaultRecord>,
    ) -> Execution {
        records.sort_by_key(|r| (r.t, r.node, r.lc));
        let first = records.first().map_or(0, |r| r.t);
        let last = records.last().map_or(0, |r| r.t);
        let start = faults
            .iter()
            .find_map(|f| matches!(f.fault, AppliedFault::RunStart { .. }).then_some(f.t))
            .unwrap_or(first);
        let end = faults
            .iter()
            .find_map(|f| matches!(f.fault, AppliedFault::RunEnd).then_some(f.t))
            .unwrap_or(last.max(start));
        Execution { algorithm: algorithm.to_string(), nodes, params, records, faults, start, end }
    }

    /// Milliseconds since the run started, for details a person reads.
    pub fn ms(&self, t: Nanos) -> f64 {
        (t.saturating_sub(self.start)) as f64 / MS as f64
    }

    /// Every fault that changed the cluster (all but the run's start and end), in order.
    pub fn disturbances(&self) -> Vec<&FaultRecord> {
        self.faults
            .iter()
            .filter(|f| !matches!(f.fault, AppliedFault::RunStart { .. } | AppliedFault::RunEnd))
            .collect()
    }

    /// The directed links cut at `t`, by a partition (the last one in force) or a one-way link fault.
    pub fn cut_at(&self, t: Nanos) -> BTreeSet<(NodeId, NodeId)> {
        let (mut partition, mut links) = (BTreeSet::new(), BTreeSet::new());
        for f in self.faults.iter().take_while(|f| f.t <= t) {
            match &f.fault {
                AppliedFault::Partition { cut, .. } => partition = cut.iter().copied().collect(),
                AppliedFault::Heal => {
                    partition.clear();
                    links.clear();
                }
                AppliedFault::Link(spec) if spec.cut => {
                    links.insert((spec.from, spec.to));
                }
                AppliedFault::Link(spec) => {
                    links.remove(&(spec.from, spec.to));
                }
                _ => {}
            }
        }
        partition.union(&links).copied().collect()
    }

    /// Whether some link is cut at `t`.
    pub fn partitioned_at(&self, t: Nanos) -> bool {
        !self.cut_at(t).is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Held,
    Violated,
    /// The run did not give the checker what it needs to judge (e.g. no long enough period).
    Unknown,
    /// The algorithm does not promise this property with the run's parameters (e.g. Raft's
    /// rejoin without disruption, which only PreVote promises). It does not count towards the
    /// run's verdict, and it is never `held`.
    NotPromised,
}

/// Points at one trace record: `(node, lc)` is unique within a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub node: NodeId,
    pub lc: u64,
}

impl EventRef {
    pub fn of(r: &TraceRecord) -> EventRef {
        EventRef { node: r.node, lc: r.lc }
    }
}

/// A property's verdict on one run, and why.
///
/// Built only by [`PropertyResult::held`], [`PropertyResult::violated`] and
/// [`PropertyResult::unknown`]: a checker cannot say `held` without saying how many cases
/// (elections, periods, entries, takeovers, ...) it judged, and `held` of nothing is `unknown`.
/// No evidence, no `held`.
// A private field rather than `#[non_exhaustive]`: that would still let the checkers in this crate
// write results by hand.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyResult {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    /// How many cases the checker judged: at least one when `held`, none when `unknown`, and for
    /// `violated` the one case its detail names (checkers stop at the first).
    #[serde(default)]
    pub judged: usize,
    /// The records that show a violation (or, for held liveness properties, the witnesses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EventRef>,
    /// Keeps the fields from being filled in by hand outside this module: use the constructors.
    #[serde(skip)]
    sealed: (),
}

impl PropertyResult {
    /// The property held over `judged` cases; with none it is `unknown`, "nothing to judge: no
    /// {what}" (`what` names the missing cases: "election compared with the bound").
    pub fn held(name: &str, judged: usize, what: &str, detail: impl Into<String>) -> Self {
        if judged == 0 {
            return PropertyResult::unknown(name, format!("nothing to judge: no {what}"));
        }
        PropertyResult {
            name: name.to_string(),
            verdict: Verdict::Held,
            detail: detail.into(),
            judged,
            evidence: vec![],
            sealed: (),
        }
    }

    /// The property broke; `evidence` holds the records that show it.
    pub fn violated(name: &str, detail: impl Into<String>, evidence: Vec<EventRef>) -> Self {
        PropertyResult {
            name: name.to_string(),
            verdict: Verdict::Violated,
            detail: detail.into(),
            judged: 1,
            evidence,
            sealed: (),
        }
    }

    /// The run gave the checker nothing it could judge; `reason` says what was missing.
    pub fn unknown(name: &str, reason: impl Into<String>) -> Self {
        PropertyResult {
            name: name.to_string(),
            verdict: Verdict::Unknown,
            detail: reason.into(),
            judged: 0,
            evidence: vec![],
            sealed: (),
        }
    }

    /// The property is declared but not promised with these parameters; `why` says so.
    pub fn not_promised(name: &str, why: impl Into<String>) -> Self {
        PropertyResult {
            name: name.to_string(),
            verdict: Verdict::NotPromised,
            detail: why.into(),
            judged: 0,
            evidence: vec![],
            sealed: (),
        }
    }

    /// The same result with these records as its evidence (a held liveness property's witnesses).
    pub fn with_evidence(mut self, evidence: Vec<EventRef>) -> Self {
        self.evidence = evidence;
        self
    }
}

/// What a checker concludes about a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub properties: Vec<PropertyResult>,
    /// Named figures, e.g. `election_ms`, `messages_per_election`.
    pub metrics: BTreeMap<String, Value>,
}

impl CheckReport {
    /// Violated if any property is; unknown if any could not be judged (or none was promised);
    /// held otherwise. Properties not promised with the run's parameters do not count.
    pub fn verdict(&self) -> Verdict {
        let verdicts: Vec<_> =
            self.properties.iter().map(|p| p.verdict).filter(|v| *v != Verdict::NotPromised).collect();
        if verdicts.contains(&Verdict::Violated) {
            Verdict::Violated
        } else if verdicts.contains(&Verdict::Unknown) || verdicts.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Held
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_property_not_promised_does_not_count_but_is_never_held() {
        let held = PropertyResult::held("a", 3, "case", "3 cases");
        let na = PropertyResult::not_promised("b", "only with pre_vote");
        let report = CheckReport { properties: vec![held, na.clone()], ..Default::default() };
        assert_eq!(report.verdict(), Verdict::Held);
        let report = CheckReport { properties: vec![na], ..Default::default() };
        assert_eq!(report.verdict(), Verdict::Unknown, "nothing promised, nothing judged");
    }

    #[test]
    fn held_of_nothing_is_unknown_and_says_what_was_missing() {
        let p = PropertyResult::held("cost", 0, "election compared with the bound", "0 elections");
        assert_eq!((p.verdict, p.judged), (Verdict::Unknown, 0));
        assert_eq!(p.detail, "nothing to judge: no election compared with the bound");
        let p = PropertyResult::held("cost", 3, "election compared with the bound", "3 elections");
        assert_eq!((p.verdict, p.judged, p.detail.as_str()), (Verdict::Held, 3, "3 elections"));
    }

    #[test]
    fn summaries_carry_judged_and_old_ones_still_read() {
        let p = PropertyResult::held("cost", 3, "election", "3 elections");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, serde_json::json!({"name": "cost", "verdict": "held", "detail": "3 elections", "judged": 3}));
        assert_eq!(serde_json::from_value::<PropertyResult>(json).unwrap(), p);
        let old = serde_json::json!({"name": "cost", "verdict": "unknown", "detail": "no election"});
        assert_eq!(serde_json::from_value::<PropertyResult>(old).unwrap().judged, 0);
    }
}

//! Checkers judge runs from their traces alone, so real runs, simulated runs and third-party
//! nodes are held to the same properties. This module holds what every checker shares: the run,
//! verdicts, message counts, and who was alive and who each node believed was leader, when.

pub mod history;

use crate::process::{Nanos, NodeId, MS};
use crate::trace::{AppliedFault, FaultRecord, TraceRecord, What};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a checker may look at: traces of every node and the faults applied.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub algorithm: String,
    pub nodes: Vec<NodeId>,
    pub params: Value,
    /// All nodes' records, ordered by time (ties: node, then Lamport clock).
    pub records: Vec<TraceRecord>,
    pub faults: Vec<FaultRecord>,
    pub start: Nanos,
    pub end: Nanos,
}

impl Run {
    /// Builds a run from per-node traces and the fault log; start and end come from the
    /// `run_start`/`run_end` records when present, else from the traces.
    pub fn new(
        algorithm: &str,
        nodes: Vec<NodeId>,
        params: Value,
        mut records: Vec<TraceRecord>,
        faults: Vec<FaultRecord>,
    ) -> Run {
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
        Run { algorithm: algorithm.to_string(), nodes, params, records, faults, start, end }
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyResult {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    /// The records that show a violation (or, for held liveness properties, the witnesses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EventRef>,
}

impl PropertyResult {
    pub fn new(name: &str, verdict: Verdict, detail: impl Into<String>) -> Self {
        PropertyResult { name: name.to_string(), verdict, detail: detail.into(), evidence: vec![] }
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
    /// Violated if any property is; unknown if any could not be judged; held otherwise.
    pub fn verdict(&self) -> Verdict {
        let verdicts: Vec<_> = self.properties.iter().map(|p| p.verdict).collect();
        if verdicts.contains(&Verdict::Violated) {
            Verdict::Violated
        } else if verdicts.contains(&Verdict::Unknown) || verdicts.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Held
        }
    }
}

/// Messages sent in a run: the total and by message type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageCounts {
    pub total: u64,
    pub by_type: BTreeMap<String, u64>,
    /// Sends with a matching receive in the traces.
    pub delivered: u64,
}

pub fn count_messages(records: &[TraceRecord]) -> MessageCounts {
    let mut counts = MessageCounts::default();
    let mut received = BTreeSet::new();
    for r in records {
        if let What::Recv { from, msg_lc, .. } = &r.what {
            received.insert((*from, *msg_lc));
        }
    }
    for r in records {
        if let What::Send { msg_type, .. } = &r.what {
            counts.total += 1;
            *counts.by_type.entry(msg_type.clone()).or_default() += 1;
            if received.contains(&(r.node, r.lc)) {
                counts.delivered += 1;
            }
        }
    }
    counts
}

/// What one node believed at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Not running (not started yet, killed or stopped).
    Down,
    NoLeader,
    Leader(NodeId),
}

/// Every node's view of the leader over time, from `leader`/`leader_lost` events, process starts,
/// stops and kills. Algorithms with a leader report it with `leader {"leader": id}` when their view
/// changes and `leader_lost` when they stop believing in one.
pub struct LeaderViews {
    /// Per node: (time, view, the record that set it), in time order.
    changes: BTreeMap<NodeId, Vec<ViewChange>>,
}

/// When a node's view changed, to what, and which record changed it (none for a kill or pause).
type ViewChange = (Nanos, View, Option<EventRef>);

impl LeaderViews {
    pub fn from_run(run: &Run) -> LeaderViews {
        let mut changes: BTreeMap<NodeId, Vec<ViewChange>> =
            run.nodes.iter().map(|n| (*n, vec![(0, View::Down, None)])).collect();
        // Records and process faults interleave by time; a kill comes after every record of the
        // killed process, since a dead process writes nothing. A paused process counts as down
        // (it acts on nothing) and gets its last view back when it resumes.
        let mut process_faults = run.faults.iter().filter_map(|f| match f.fault {
            AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => Some((f.t, node, true)),
            AppliedFault::Pause { node } => Some((f.t, node, true)),
            AppliedFault::Resume { node } => Some((f.t, node, false)),
            _ => None,
        });
        let mut next_fault = process_faults.next();
        let mut before_pause: BTreeMap<NodeId, (View, Option<EventRef>)> = BTreeMap::new();
        let mut apply = |changes: &mut BTreeMap<NodeId, Vec<ViewChange>>, (t, node, down): (Nanos, NodeId, bool)| {
            let list = changes.entry(node).or_default();
            if down {
                if let Some((_, view, at)) = list.last() {
                    before_pause.insert(node, (*view, at.clone()));
                }
                list.push((t, View::Down, None));
            } else if let Some((view, at)) = before_pause.remove(&node) {
                list.push((t, view, at));
            }
        };
        for r in &run.records {
            while let Some(f) = next_fault.filter(|(t, _, _)| *t <= r.t) {
                apply(&mut changes, f);
                next_fault = process_faults.next();
            }
            let view = match &r.what {
                What::Start { .. } => Some(View::NoLeader),
                What::Stop { .. } => Some(View::Down),
                What::Event { name, data } if name == "leader" => {
                    data.get("leader").and_then(Value::as_u64).map(|l| View::Leader(l as NodeId))
                }
                What::Event { name, .. } if name == "leader_lost" => Some(View::NoLeader),
                _ => None,
            };
            if let Some(view) = view {
                changes.entry(r.node).or_default().push((r.t, view, Some(EventRef::of(r))));
            }
        }
        while let Some(f) = next_fault {
            apply(&mut changes, f);
            next_fault = process_faults.next();
        }
        LeaderViews { changes }
    }

    /// The view of `node` at time `t` (after every change at or before `t`).
    pub fn at(&self, node: NodeId, t: Nanos) -> View {
        self.changes
            .get(&node)
            .and_then(|c| c.iter().take_while(|(at, _, _)| *at <= t).last())
            .map_or(View::Down, |(_, v, _)| *v)
    }

    /// The record that set `node`'s view at `t`, if a record did.
    pub fn cause(&self, node: NodeId, t: Nanos) -> Option<EventRef> {
        self.changes
            .get(&node)
            .and_then(|c| c.iter().take_while(|(at, _, _)| *at <= t).last())
            .and_then(|(_, _, r)| r.clone())
    }
}

/// Summary statistics of a list of figures, as stored in `summary.json` metrics.
pub fn stats(values: &[f64]) -> Value {
    if values.is_empty() {
        return serde_json::json!({ "count": 0 });
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let round = |v: f64| (v * 10.0).round() / 10.0;
    serde_json::json!({
        "count": sorted.len(),
        "mean": round(sorted.iter().sum::<f64>() / sorted.len() as f64),
        "p50": round(pick(0.5)),
        "p90": round(pick(0.9)),
        "p99": round(pick(0.99)),
        "max": round(*sorted.last().unwrap()),
        "values": values.iter().map(|v| round(*v)).collect::<Vec<_>>(),
    })
}

//! Queries over a run that checkers of every family ask: the events of one type, how many
//! messages of each type, who believed whom was leader when, and summary statistics of a list of
//! figures.

use super::events::ElectionEvent;
use super::metric::{Distribution, Metric};
use super::{EventRef, Execution};
use crate::core::event::Event;
use crate::core::process::{Nanos, NodeId};
use crate::core::trace::{TraceRecord, What};
use crate::faults::AppliedFault;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The records that are events of type `E`, each with the event read back, in record order;
/// records of other types (and events whose data does not fit `E`) are left out.
pub fn events_of<E: Event>(records: &[TraceRecord]) -> impl Iterator<Item = (&TraceRecord, E)> {
    records.iter().filter_map(|r| r.event_as::<E>().map(|e| (r, e)))
}

impl Execution {
    /// The run's events of type `E` (see [`events_of`]).
    pub fn events<E: Event>(&self) -> impl Iterator<Item = (&TraceRecord, E)> {
        events_of(&self.records)
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

/// Every node's view of the leader over time, from `leader`/`leader_lost` events
/// ([`ElectionEvent`]), process starts,
/// stops and kills. Algorithms with a leader report it with `leader {"leader": id}` when their view
/// changes and `leader_lost` when they stop believing in one.
pub struct LeaderViews {
    /// Per node: (time, view, the record that set it), in time order.
    changes: BTreeMap<NodeId, Vec<ViewChange>>,
}

/// When a node's view changed, to what, and which record changed it (none for a kill or pause).
type ViewChange = (Nanos, View, Option<EventRef>);

impl LeaderViews {
    pub fn from_run(run: &Execution) -> LeaderViews {
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
                What::Event { .. } => match r.event_as::<ElectionEvent>() {
                    Some(ElectionEvent::Leader(view)) => Some(View::Leader(view.leader)),
                    Some(ElectionEvent::LeaderLost(_)) => Some(View::NoLeader),
                    _ => None,
                },
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
        self.change_at(node, t).map_or(View::Down, |(_, v, _)| *v)
    }

    /// The record that set `node`'s view at `t`, if a record did.
    pub fn cause(&self, node: NodeId, t: Nanos) -> Option<EventRef> {
        self.change_at(node, t).and_then(|(_, _, r)| r.clone())
    }

    /// The last change of `node`'s view at or before `t`: a binary search, since checkers ask at
    /// every moment of a run and the changes are in time order.
    fn change_at(&self, node: NodeId, t: Nanos) -> Option<&ViewChange> {
        let changes = self.changes.get(&node)?;
        changes.partition_point(|(at, _, _)| *at <= t).checked_sub(1).map(|i| &changes[i])
    }
}

/// Summary statistics of a list of figures, as stored in `summary.json` metrics (a
/// [`Distribution`]).
pub fn stats(values: &[f64]) -> Value {
    Metric::Distribution(Distribution::of(values)).to_value()
}

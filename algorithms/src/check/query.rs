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
use std::collections::BTreeMap;

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
    // Received message ids, sorted for lookup; types counted under borrowed names (a run has a
    // handful of types and millions of sends: no string is copied per send).
    let mut received: Vec<(NodeId, u64)> = records
        .iter()
        .filter_map(|r| match &r.what {
            What::Recv { from, msg_lc, .. } => Some((*from, *msg_lc)),
            _ => None,
        })
        .collect();
    received.sort_unstable();
    let mut by_type: Vec<(&str, u64)> = Vec::new();
    let (mut total, mut delivered) = (0, 0);
    for r in records {
        if let What::Send { msg_type, .. } = &r.what {
            total += 1;
            match by_type.iter_mut().find(|(t, _)| *t == msg_type.as_str()) {
                Some((_, n)) => *n += 1,
                None => by_type.push((msg_type, 1)),
            }
            if received.binary_search(&(r.node, r.lc)).is_ok() {
                delivered += 1;
            }
        }
    }
    let by_type = by_type.into_iter().map(|(t, n)| (t.to_string(), n)).collect();
    MessageCounts { total, by_type, delivered }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::process::MS;
    use crate::core::trace::Clocks;
    use crate::faults::FaultRecord;

    /// The views found by binary search are those of the definition ("the last change at or
    /// before `t`"), on a trace long enough that a scan per question would be quadratic: three
    /// nodes changing their minds 20,000 times, with kills and restarts between.
    fn event(e: ElectionEvent) -> What {
        let (name, data) = e.to_parts();
        What::Event { name, data }
    }

    #[test]
    fn views_of_a_long_run_are_the_last_change_at_or_before_each_moment() {
        let mut clocks: Vec<Clocks> = (1..=3).map(Clocks::new).collect();
        let mut records = Vec::new();
        let mut faults = vec![FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: vec![1, 2, 3] } }];
        for step in 0..20_000u64 {
            let node = (step % 3) as usize;
            let t = step * MS;
            let what = match step % 7 {
                0 => What::Start { incarnation: 1 },
                3 => event(ElectionEvent::leader_lost(1, "timeout")),
                _ => event(ElectionEvent::leader((step % 3 + 1) as NodeId)),
            };
            records.push(clocks[node].stamp(t, "x", what));
            if step % 1000 == 500 {
                faults.push(FaultRecord { t: t + MS / 2, fault: AppliedFault::Kill { node: 2, was_leader: false } });
            }
        }
        faults.push(FaultRecord { t: 20_000 * MS, fault: AppliedFault::RunEnd });
        let run = Execution::new("x", vec![1, 2, 3], Value::Null, records, faults);
        let views = LeaderViews::from_run(&run);
        // The definition, walked forward once: per node, the changes passed so far.
        let mut passed = [0usize; 3];
        let mut leaders = 0;
        for t in (0..20_001 * MS).step_by((MS / 3) as usize) {
            for node in 1..=3 {
                let changes = &views.changes[&node];
                let seen = &mut passed[node as usize - 1];
                while changes.get(*seen).is_some_and(|(at, _, _)| *at <= t) {
                    *seen += 1;
                }
                let expected = seen.checked_sub(1).map_or((View::Down, None), |i| (changes[i].1, changes[i].2.clone()));
                assert_eq!((views.at(node, t), views.cause(node, t)), expected, "node {node} at {t}");
                leaders += matches!(expected.0, View::Leader(_)) as usize;
            }
        }
        assert!(leaders > 50_000, "the trace names leaders: {leaders}");
    }
}

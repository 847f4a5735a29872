//! The checks every replicated service shares (see [`crate::service`]): its clients' history is
//! linearizable, no server applies a client's command twice, and operations complete while a
//! connected majority of servers is there to serve them.
//!
//! A service's run has its servers in [`Execution::nodes`] and its client nodes (ids after the
//! servers) in the records only: the clients' `op` events are the history
//! ([`History::from_run`]), the servers' [`ServiceEvent::Applied`] events are what they applied.

use crate::check::election::components;
use crate::check::history::{check, CheckOptions, History, ModelKind, Outcome, Status};
use crate::check::{EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Nanos, NodeId, MS};
use crate::faults::AppliedFault;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a server of any service records for the checkers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// The server applied `client`'s command `seq` to its state machine (not a duplicate answered
    /// from the session table). `index` is where: the log position for a replicated log, a
    /// per-server counter (kept across restarts) for an unreplicated server. A server that
    /// rebuilds its state by replaying its log applies the same index again, which is no
    /// duplicate; the same `(client, seq)` at two indexes is.
    Applied { index: u64, client: NodeId, seq: u64, f: String, key: String },
}

impl Event for ServiceEvent {}

/// The clients' history is linearizable under the `kv` model; `unknown` when no operation
/// completed, with the checker's explanation of the first key that fails in the detail.
pub fn linearizable(run: &Execution) -> PropertyResult {
    linearizable_as(run, ModelKind::Kv)
}

/// [`linearizable`] under another model (Maelstrom's lin-kv: `cas-register` per key).
pub fn linearizable_as(run: &Execution, model: ModelKind) -> PropertyResult {
    const NAME: &str = "linearizable";
    let history = History::from_run(run);
    let completed = history.ops().iter().filter(|op| op.status == Status::Ok).count();
    if completed == 0 {
        return PropertyResult::unknown(NAME, "nothing to judge: no operation completed");
    }
    let report = match check(&history, model, CheckOptions::default()) {
        Ok(report) => report,
        Err(e) => {
            return PropertyResult::unknown(
                NAME,
                format!("the clients' history is not a {} history: {e}", model.name()),
            )
        }
    };
    match report.outcome {
        Outcome::Linearizable => PropertyResult::held(
            NAME,
            completed,
            "operation completed",
            format!(
                "{} operations ({completed} ok) over {} keys have a linearization",
                history.ops().len(),
                report.keys
            ),
        ),
        Outcome::NotLinearizable => {
            let v = &report.violations[0];
            let detail = format!(
                "key {}: {} ({} keys not linearizable)",
                crate::check::history::key_label(v.key.as_ref()),
                v.explain(&history, model),
                report.violations.len()
            );
            PropertyResult::violated(NAME, detail, vec![])
        }
        Outcome::Unknown => PropertyResult::unknown(NAME, "the linearizability check was stopped before it decided"),
    }
}

/// No server applies one `(client, seq)` at two indexes; judged over the servers' `applied`
/// events.
pub fn exactly_once(run: &Execution) -> PropertyResult {
    const NAME: &str = "exactly_once";
    // (server, client, seq) → the first index it was applied at, and where.
    let mut first: BTreeMap<(NodeId, NodeId, u64), (u64, EventRef)> = BTreeMap::new();
    let mut applied = 0;
    let mut commands: BTreeSet<(NodeId, u64)> = BTreeSet::new();
    for r in &run.records {
        let Some(ServiceEvent::Applied { index, client, seq, f, key }) = r.event_as::<ServiceEvent>() else {
            continue;
        };
        applied += 1;
        commands.insert((client, seq));
        match first.get(&(r.node, client, seq)) {
            Some((earlier, at)) if *earlier != index => {
                let detail = format!(
                    "server {} applied client {client}'s command {seq} ({f} {key}) twice: at index {earlier} and again at index {index} ({:.1} ms)",
                    r.node,
                    run.ms(r.t)
                );
                return PropertyResult::violated(NAME, detail, vec![at.clone(), EventRef::of(r)]);
            }
            Some(_) => {}
            None => {
                first.insert((r.node, client, seq), (index, EventRef::of(r)));
            }
        }
    }
    PropertyResult::held(
        NAME,
        applied,
        "command applied by a server",
        format!(
            "{} distinct commands, {applied} applications over the servers (a restarted server replays its own), none twice by one server",
            commands.len()
        ),
    )
}

/// Which servers are running (not killed, exited or paused) over the run, from the fault log.
struct Servers<'a> {
    run: &'a Execution,
    /// Every moment the servers or the links changed, in order.
    changes: Vec<Nanos>,
}

impl<'a> Servers<'a> {
    fn new(run: &'a Execution) -> Servers<'a> {
        let mut changes: Vec<Nanos> = run.disturbances().iter().map(|f| f.t).collect();
        changes.dedup();
        Servers { run, changes }
    }

    /// Nodes down at `t` (killed, exited or paused, and not yet back).
    fn down_at(&self, t: Nanos) -> BTreeSet<NodeId> {
        let mut down = BTreeSet::new();
        for f in self.run.faults.iter().take_while(|f| f.t <= t) {
            match f.fault {
                AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } | AppliedFault::Pause { node } => {
                    down.insert(node);
                }
                AppliedFault::Restart { node } | AppliedFault::Resume { node } => {
                    down.remove(&node);
                }
                _ => {}
            }
        }
        down
    }

    /// The running servers `client` can reach both ways at `t` (directly or through each other),
    /// when they are a majority of the servers; `None` otherwise.
    fn majority_for(&self, client: NodeId, t: Nanos) -> Option<Vec<NodeId>> {
        let down = self.down_at(t);
        if down.contains(&client) {
            return None;
        }
        let mut up: Vec<NodeId> = self.run.nodes.iter().copied().filter(|n| !down.contains(n)).collect();
        up.push(client);
        let cut = self.run.cut_at(t);
        let group = components(&up, &cut).into_iter().find(|g| g.contains(&client))?;
        let servers: Vec<NodeId> = group.into_iter().filter(|n| *n != client).collect();
        (servers.len() > self.run.nodes.len() / 2).then_some(servers)
    }

    /// The servers that stayed up and connected to `client` (and to each other) throughout
    /// `[from, to]`, when they are a majority; `None` otherwise. One majority that stays, not a
    /// majority whose members change: a service may need a new leader when a member leaves,
    /// and an election does not fit in the bound of the operation it interrupts.
    fn majority_throughout(&self, client: NodeId, from: Nanos, to: Nanos) -> Option<Vec<NodeId>> {
        let mut all_along = self.majority_for(client, from)?;
        for t in self.changes.iter().copied().filter(|t| *t > from && *t <= to) {
            let now = self.majority_for(client, t)?;
            all_along.retain(|n| now.contains(n));
        }
        (all_along.len() > self.run.nodes.len() / 2).then_some(all_along)
    }
}

/// Liveness: every operation invoked while its client and a majority of servers are up and
/// connected to each other completes (`ok` or `fail`) within `bound`, if that majority stays
/// for the whole bound. Operations whose bound runs past the end, or during which faults leave
/// no connected majority (or take the client down), are not judged.
pub fn operations_complete(run: &Execution, bound: Nanos) -> PropertyResult {
    const NAME: &str = "operations_complete";
    let history = History::from_run(run);
    let servers = Servers::new(run);
    let (mut judged, mut excused, mut late) = (0, 0, 0);
    let mut first_late: Option<String> = None;
    for op in history.ops() {
        let Some(invoked) = history.time(op.invoke) else { continue };
        let completed = match op.status {
            Status::Ok | Status::Fail => op.complete.and_then(|c| history.time(c)),
            Status::Info => None,
        };
        if completed.is_some_and(|c| c - invoked <= bound) {
            judged += 1;
            continue;
        }
        if invoked + bound > run.end {
            continue;
        }
        let client = op.process as NodeId;
        let Some(majority) = servers.majority_throughout(client, invoked, invoked + bound) else {
            excused += 1;
            continue;
        };
        judged += 1;
        late += 1;
        if first_late.is_none() {
            let what = match completed {
                Some(c) => format!("completed only after {:.1} ms", (c - invoked) as f64 / MS as f64),
                None => "never completed".to_string(),
            };
            first_late = Some(format!(
                "client {client}'s {} (invoked at {:.1} ms) {what}, though a majority of the {} servers was up and connected to it for the whole {} ms bound (servers {majority:?} all along)",
                op.describe(),
                run.ms(invoked),
                run.nodes.len(),
                bound / MS,
            ));
        }
    }
    if let Some(first) = first_late {
        return PropertyResult::violated(
            NAME,
            format!("{first}; {late} of {judged} operations judged did not complete in time"),
            vec![],
        );
    }
    PropertyResult::held(
        NAME,
        judged,
        "operation invoked with a connected majority of servers for its whole bound",
        format!(
            "{judged} operations completed within {} ms; {excused} not judged (no connected majority for their whole bound)",
            bound / MS
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::trace::{Clocks, TraceRecord, What};
    use serde_json::{json, Value};

    fn op(c: &mut Clocks, ms: u64, kind: &str, f: &str, key: &str, value: Value) -> TraceRecord {
        c.stamp(
            ms * MS,
            "x",
            What::Event { name: "op".into(), data: json!({"type": kind, "f": f, "key": key, "value": value}) },
        )
    }

    fn applied(c: &mut Clocks, ms: u64, index: u64, client: NodeId, seq: u64) -> TraceRecord {
        let e = ServiceEvent::Applied { index, client, seq, f: "put".into(), key: "x".into() };
        let (name, data) = e.to_parts();
        c.stamp(ms * MS, "x", What::Event { name, data })
    }

    fn run(records: Vec<TraceRecord>, faults: Vec<crate::faults::FaultRecord>, end_ms: u64) -> Execution {
        let mut faults = faults;
        faults.push(crate::faults::FaultRecord { t: end_ms * MS, fault: AppliedFault::RunEnd });
        Execution::new("kv-single", vec![1, 2, 3], Value::Null, records, faults)
    }

    #[test]
    fn the_applied_event_reads_back_by_type() {
        let e = ServiceEvent::Applied { index: 4, client: 7, seq: 2, f: "cas".into(), key: "k".into() };
        let (name, data) = e.to_parts();
        assert_eq!(name, "applied");
        assert_eq!(data, json!({"index": 4, "client": 7, "seq": 2, "f": "cas", "key": "k"}));
        assert_eq!(ServiceEvent::from_parts(&name, &data), Some(e));
    }

    #[test]
    fn a_stale_read_is_not_linearizable_and_the_detail_says_why() {
        let (mut a, mut b) = (Clocks::new(4), Clocks::new(5));
        let records = vec![
            op(&mut a, 10, "invoke", "put", "x", json!("c4-1")),
            op(&mut a, 20, "ok", "put", "x", json!("c4-1")),
            op(&mut b, 30, "invoke", "get", "x", Value::Null),
            op(&mut b, 40, "ok", "get", "x", Value::Null),
        ];
        let p = linearizable(&run(records, vec![], 100));
        assert_eq!(p.verdict, Verdict::Violated, "{p:?}");
        assert!(p.detail.starts_with("key x: ") && p.detail.contains("process 5"), "{}", p.detail);
    }

    #[test]
    fn the_same_index_replayed_is_no_duplicate_but_another_index_is() {
        let mut s = Clocks::new(1);
        let replay = vec![applied(&mut s, 10, 1, 4, 1), applied(&mut s, 50, 1, 4, 1)];
        assert_eq!(exactly_once(&run(replay, vec![], 100)).verdict, Verdict::Held);
        let mut s = Clocks::new(1);
        let twice = vec![applied(&mut s, 10, 1, 4, 1), applied(&mut s, 50, 2, 4, 1)];
        let p = exactly_once(&run(twice, vec![], 100));
        assert_eq!((p.verdict, p.evidence.len()), (Verdict::Violated, 2), "{p:?}");
        assert!(p.detail.contains("index 1") && p.detail.contains("index 2"), "{}", p.detail);
    }

    #[test]
    fn an_operation_stuck_while_a_majority_is_up_is_late_and_one_without_is_excused() {
        let mut c = Clocks::new(4);
        let records = vec![op(&mut c, 100, "invoke", "put", "x", json!("c4-1"))];
        let kill =
            |node, ms| crate::faults::FaultRecord { t: ms * MS, fault: AppliedFault::Kill { node, was_leader: false } };
        // Node 1 down: servers 2 and 3 are a majority, the operation should have completed.
        let p = operations_complete(&run(records.clone(), vec![kill(1, 50)], 5000), 1000 * MS);
        assert_eq!(p.verdict, Verdict::Violated, "{p:?}");
        assert!(p.detail.contains("servers [2, 3] all along") && p.detail.contains("never completed"), "{}", p.detail);
        // Nodes 1 and 2 down: no majority, nothing judged.
        let p = operations_complete(&run(records.clone(), vec![kill(1, 50), kill(2, 60)], 5000), 1000 * MS);
        assert_eq!(p.verdict, Verdict::Unknown, "{p:?}");
        // The second kill inside the bound also excuses it.
        let p = operations_complete(&run(records.clone(), vec![kill(1, 50), kill(2, 900)], 5000), 1000 * MS);
        assert_eq!(p.verdict, Verdict::Unknown, "{p:?}");
        // A majority at every moment, but not the same one: {2, 3}, then {1, 3} once node 1 is back
        // and node 2 is down. The service may need a new leader then; not judged.
        let restart = crate::faults::FaultRecord { t: 400 * MS, fault: AppliedFault::Restart { node: 1 } };
        let p = operations_complete(&run(records, vec![kill(1, 50), restart, kill(2, 500)], 5000), 1000 * MS);
        assert_eq!(p.verdict, Verdict::Unknown, "{p:?}");
    }
}

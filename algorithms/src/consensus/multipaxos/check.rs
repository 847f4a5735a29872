//! Multi-Paxos's checker, from traces alone: what was chosen in each slot (a value accepted by a
//! majority of acceptors in one ballot, from the acceptors' own `accepted` events, not from what
//! leaders claim), where each chosen value came from (the leaders' `proposed` events and the
//! clients' requests), what the servers applied, and what a command cost.

use super::{digest, Ballot, MultiPaxosEvent, MultiPaxosParams, Op, Origin};
use crate::algorithm::PropertyInfo;
use crate::check::election::shown;
use crate::check::metric::{EntryCost, Metric};
use crate::check::service;
use crate::check::{events_of, CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use crate::election::ElectionEvent;
use crate::service::ClientMsg;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: "agreement",
            promise: "at most one value is chosen (accepted by a majority in one ballot) in each slot",
        },
        PropertyInfo {
            name: "validity",
            promise: "a chosen value is a command some client sent, or a no-op, proposed by the leader of its ballot",
        },
        PropertyInfo {
            name: "state_machine_safety",
            promise: "no two servers apply different values in the same slot",
        },
        PropertyInfo { name: "linearizable", promise: "the clients' history is linearizable as a key-value store" },
        PropertyInfo { name: "exactly_once", promise: "no server applies a client's command (client, seq) twice" },
        PropertyInfo {
            name: "operations_complete",
            promise: "with a connected majority of servers, every operation completes within operation_bound_ms",
        },
    ]
}

/// A value accepted by a majority of acceptors in one ballot.
pub struct Chosen {
    pub slot: u64,
    pub ballot: Ballot,
    pub digest: String,
    pub acceptors: Vec<NodeId>,
    pub evidence: Vec<EventRef>,
}

/// A leader's proposal, from its `proposed` event.
struct Proposal {
    leader: NodeId,
    digest: String,
    op: String,
    origin: Origin,
    at: EventRef,
}

/// Every (slot, ballot, value) accepted by a majority of distinct `servers`, in slot then ballot
/// order (the report's slot view reads it too).
pub fn chosen(records: &[TraceRecord], servers: &[NodeId]) -> Vec<Chosen> {
    let majority = servers.len() / 2 + 1;
    let mut accepts: BTreeMap<(u64, Ballot, String), BTreeMap<NodeId, EventRef>> = BTreeMap::new();
    for (r, e) in events_of::<MultiPaxosEvent>(records) {
        if let MultiPaxosEvent::Accepted { slot, ballot, digest } = e {
            if servers.contains(&r.node) {
                accepts.entry((slot, ballot, digest)).or_default().entry(r.node).or_insert_with(|| EventRef::of(r));
            }
        }
    }
    accepts
        .into_iter()
        .filter(|(_, by)| by.len() >= majority)
        .map(|((slot, ballot, digest), by)| Chosen {
            slot,
            ballot,
            digest,
            acceptors: by.keys().copied().collect(),
            evidence: by.into_values().collect(),
        })
        .collect()
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(8)]
}

pub fn check_multipaxos(run: &Execution, params: &MultiPaxosParams) -> CheckReport {
    let chosen = chosen(&run.records, &run.nodes);
    let mut proposals: BTreeMap<(u64, Ballot), Proposal> = BTreeMap::new();
    for (r, e) in run.events::<MultiPaxosEvent>() {
        if let MultiPaxosEvent::Proposed { slot, ballot, digest, op, origin } = e {
            let at = EventRef::of(r);
            proposals.entry((slot, ballot)).or_insert(Proposal { leader: r.node, digest, op, origin, at });
        }
    }
    let name = |slot: u64, ballot: Ballot, digest: &str| match proposals.get(&(slot, ballot)) {
        Some(p) if p.digest == digest => format!("{} ({})", p.op, short(digest)),
        _ => format!("value {}", short(digest)),
    };
    let properties = vec![
        agreement(&chosen, &name),
        validity(run, &chosen, &proposals),
        state_machine_safety(run),
        service::linearizable(run),
        service::exactly_once(run),
        service::operations_complete(run, params.operation_bound_ms * MS),
    ];
    let mut report = CheckReport { properties, ..Default::default() };
    report.metrics.insert("messages_per_command".into(), command_cost(run, &proposals));
    report
}

fn agreement(chosen: &[Chosen], name: &dyn Fn(u64, Ballot, &str) -> String) -> PropertyResult {
    const NAME: &str = "agreement";
    let mut first: BTreeMap<u64, &Chosen> = BTreeMap::new();
    for c in chosen {
        match first.get(&c.slot) {
            Some(f) if f.digest != c.digest => {
                let detail = format!(
                    "slot {}: {} was chosen in ballot {} (accepted by {:?}), then {} in ballot {} (accepted by {:?})",
                    c.slot,
                    name(f.slot, f.ballot, &f.digest),
                    f.ballot,
                    f.acceptors,
                    name(c.slot, c.ballot, &c.digest),
                    c.ballot,
                    c.acceptors
                );
                return PropertyResult::violated(NAME, detail, [f.evidence.clone(), c.evidence.clone()].concat());
            }
            Some(_) => {}
            None => {
                first.insert(c.slot, c);
            }
        }
    }
    let detail = format!(
        "{} slot(s) with a chosen value, one value each ({} ballot(s) chose in them)",
        first.len(),
        chosen.iter().map(|c| c.ballot).collect::<BTreeSet<_>>().len()
    );
    PropertyResult::held(NAME, first.len(), "slot with a value accepted by a majority in one ballot", detail)
}

/// Every request a client sent, as the digest of the value a leader would propose for it (ZAB's
/// transactions are digested the same way).
pub(crate) fn requests(run: &Execution) -> BTreeSet<(NodeId, u64, String)> {
    let mut sent = BTreeSet::new();
    for r in run.records.iter().filter(|r| !run.nodes.contains(&r.node)) {
        if let Some(ClientMsg::Request(request)) = shown::<ClientMsg>(r) {
            let (client, seq) = (request.client, request.seq);
            sent.insert((client, seq, digest(&Op::Client(request))));
        }
    }
    sent
}

/// Follows a chosen value back through the ballots that adopted it to a client's request or a
/// leader's no-op; `Err` says where the trail breaks.
fn source(
    slot: u64,
    ballot: Ballot,
    value: &str,
    proposals: &BTreeMap<(u64, Ballot), Proposal>,
    accepted: &BTreeSet<(u64, Ballot, String)>,
    requests: &BTreeSet<(NodeId, u64, String)>,
) -> Result<(), (String, Vec<EventRef>)> {
    let mut ballot = ballot;
    loop {
        let Some(p) = proposals.get(&(slot, ballot)) else {
            return Err((format!("the leader of ballot {ballot} never proposed anything in slot {slot}"), vec![]));
        };
        if p.leader != ballot.proposer || p.digest != value {
            let detail = format!(
                "in ballot {ballot} node {} proposed {} ({}) in slot {slot}, not this value",
                p.leader,
                p.op,
                short(&p.digest)
            );
            return Err((detail, vec![p.at.clone()]));
        }
        match &p.origin {
            Origin::Noop if value == digest(&Op::Noop) => return Ok(()),
            Origin::Noop => {
                return Err((format!("node {} called it a no-op, but it is not", p.leader), vec![p.at.clone()]))
            }
            Origin::Client { client, seq } if requests.contains(&(*client, *seq, value.to_string())) => return Ok(()),
            Origin::Client { client, seq } => {
                let detail = format!(
                    "node {} proposed it as client {client}'s seq {seq}, which that client never sent",
                    p.leader
                );
                return Err((detail, vec![p.at.clone()]));
            }
            Origin::Adopted { ballot: earlier }
                if *earlier < ballot && accepted.contains(&(slot, *earlier, value.to_string())) =>
            {
                ballot = *earlier;
            }
            Origin::Adopted { ballot: earlier } => {
                let detail = format!(
                    "node {} adopted it from ballot {earlier}, in which no acceptor had accepted it in slot {slot}",
                    p.leader
                );
                return Err((detail, vec![p.at.clone()]));
            }
        }
    }
}

fn validity(run: &Execution, chosen: &[Chosen], proposals: &BTreeMap<(u64, Ballot), Proposal>) -> PropertyResult {
    const NAME: &str = "validity";
    let requests = requests(run);
    let accepted: BTreeSet<(u64, Ballot, String)> = run
        .events::<MultiPaxosEvent>()
        .filter_map(|(_, e)| match e {
            MultiPaxosEvent::Accepted { slot, ballot, digest } => Some((slot, ballot, digest)),
            _ => None,
        })
        .collect();
    let (mut commands, mut noops) = (0, 0);
    for c in chosen {
        if let Err((why, evidence)) = source(c.slot, c.ballot, &c.digest, proposals, &accepted, &requests) {
            let detail = format!(
                "slot {}: the value {} chosen in ballot {} (accepted by {:?}) is no client's command and no leader's no-op: {why}",
                c.slot,
                short(&c.digest),
                c.ballot,
                c.acceptors
            );
            return PropertyResult::violated(NAME, detail, [c.evidence.clone(), evidence].concat());
        }
        if c.digest == digest(&Op::Noop) {
            noops += 1;
        } else {
            commands += 1;
        }
    }
    let detail = format!(
        "{} chosen value(s) traced to their source: {commands} client command(s), {noops} no-op(s)",
        chosen.len()
    );
    PropertyResult::held(NAME, chosen.len(), "value accepted by a majority in one ballot", detail)
}

fn state_machine_safety(run: &Execution) -> PropertyResult {
    const NAME: &str = "state_machine_safety";
    let mut first: BTreeMap<u64, (String, NodeId, EventRef)> = BTreeMap::new();
    let mut judged = 0;
    for (r, e) in run.events::<MultiPaxosEvent>() {
        let MultiPaxosEvent::AppliedSlot { slot, digest } = e else { continue };
        match first.get(&slot) {
            None => {
                first.insert(slot, (digest, r.node, EventRef::of(r)));
            }
            Some((d, node, at)) => {
                judged += 1;
                if *d != digest {
                    let detail = format!(
                        "slot {slot}: node {node} applied {}, node {} applied {} ({:.1} ms)",
                        short(d),
                        r.node,
                        short(&digest),
                        run.ms(r.t)
                    );
                    return PropertyResult::violated(NAME, detail, vec![at.clone(), EventRef::of(r)]);
                }
            }
        }
    }
    let detail = format!(
        "{} slot(s) applied; {judged} time(s) a slot was applied again (by another server, or after a restart): the same value each time",
        first.len()
    );
    PropertyResult::held(NAME, judged, "slot applied by two servers", detail)
}

/// What a command cost: Accepts and Accepted answers per slot chosen, against the textbook
/// 2(N−1) with a stable leader; phase 1 (Prepare, Promise, Nack), heartbeats (which carry the
/// decisions) and catch-up are counted apart.
fn command_cost(run: &Execution, proposals: &BTreeMap<(u64, Ballot), Proposal>) -> serde_json::Value {
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for r in run.records.iter().filter(|r| run.nodes.contains(&r.node)) {
        if let What::Send { msg_type, .. } = &r.what {
            *sent.entry(msg_type.clone()).or_default() += 1;
        }
    }
    let count = |kind: &str| sent.get(kind).copied().unwrap_or(0);
    let mut slots: BTreeSet<u64> = BTreeSet::new();
    let (mut commands, mut noops) = (0u64, 0u64);
    for (_, e) in run.events::<MultiPaxosEvent>() {
        if let MultiPaxosEvent::Chosen { slot, ballot, .. } = e {
            if slots.insert(slot) {
                match proposals.get(&(slot, ballot)).map(|p| &p.origin) {
                    Some(Origin::Noop) => noops += 1,
                    _ => commands += 1,
                }
            }
        }
    }
    let leaders = run.events::<ElectionEvent>().filter(|(_, e)| matches!(e, ElectionEvent::Elected(_))).count();
    let entries = slots.len();
    let per_command = 2 * (run.nodes.len() as u64).saturating_sub(1);
    let per = |n: u64| if entries == 0 { 0.0 } else { (n as f64 / entries as f64 * 100.0).round() / 100.0 };
    let (accepts, answers) = (count("accept"), count("accepted"));
    let extra = [
        ("commands", commands),
        ("noops", noops),
        ("leaders_elected", leaders as u64),
        ("phase1", count("prepare") + count("promise")),
        ("nacks", count("nack")),
        ("heartbeats", count("heartbeat")),
        ("catch_up", count("catch_up") + count("decisions")),
    ];
    Metric::PerEntry(EntryCost {
        entries,
        messages: accepts + answers,
        measured: per(accepts + answers),
        textbook: format!(
            "2(N−1) = {per_command} per command with a stable leader (decisions ride on the next Accept or heartbeat); phase 1 once per leader change"
        ),
        textbook_value: Some(per_command as f64),
        by_type: [("accept", per(accepts)), ("accepted", per(answers))]
            .into_iter()
            .map(|(kind, figure)| (kind.to_string(), figure))
            .collect(),
        extra: extra.into_iter().map(|(name, n)| (name.to_string(), json!(n))).collect(),
    })
    .to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::multipaxos::describe;

    #[test]
    fn values_read_as_a_person_would_say_them() {
        use crate::service::{Command, Request};
        let put =
            Op::Client(Request { client: 6, seq: 3, command: Command::Put { key: "k1".into(), value: "c6-3".into() } });
        assert_eq!(describe(&put), "put k1 c6-3 (client 6, seq 3)");
        assert_eq!(describe(&Op::Noop), "noop");
        assert_ne!(digest(&put), digest(&Op::Noop));
    }
}

//! Paxos's checker: what was chosen (a value accepted by a majority of acceptors in one ballot,
//! from the acceptors' own `accepted` events) and learned, judged for validity, agreement,
//! integrity, termination with a lone proposer, and the messages each ballot cost.

use super::{Ballot, PaxosEvent, PaxosMsg, PaxosParams};
use crate::check::election::{components, shown, Elections};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// A value accepted by a majority in one ballot: the acceptors and their `accepted` records.
struct Chosen {
    ballot: Ballot,
    value: String,
    evidence: Vec<EventRef>,
}

/// Every (ballot, value) accepted by a majority of distinct acceptors, in ballot order.
fn chosen(run: &Execution, majority: usize) -> Vec<Chosen> {
    let mut accepts: BTreeMap<(Ballot, String), BTreeMap<NodeId, EventRef>> = BTreeMap::new();
    for r in &run.records {
        if let Some(PaxosEvent::Accepted { ballot, value }) = r.event_as() {
            accepts.entry((ballot, value)).or_default().entry(r.node).or_insert_with(|| EventRef::of(r));
        }
    }
    accepts
        .into_iter()
        .filter(|(_, by)| by.len() >= majority)
        .map(|((ballot, value), by)| Chosen { ballot, value, evidence: by.into_values().collect() })
        .collect()
}

struct Learn<'r> {
    record: &'r TraceRecord,
    ballot: Ballot,
    value: String,
}

fn learns(run: &Execution) -> Vec<Learn<'_>> {
    let learned = |r: &TraceRecord| match r.event_as() {
        Some(PaxosEvent::Learned { ballot, value }) => Some((ballot, value)),
        _ => None,
    };
    run.records.iter().filter_map(|r| learned(r).map(|(ballot, value)| Learn { record: r, ballot, value })).collect()
}

pub fn check_paxos(run: &Execution, params: &PaxosParams) -> CheckReport {
    let n = run.nodes.len();
    let majority = n / 2 + 1;
    let chosen = chosen(run, majority);
    let learns = learns(run);
    let proposed: BTreeSet<String> = run
        .records
        .iter()
        .filter_map(|r| match r.event_as() {
            Some(PaxosEvent::BallotStarted { value, .. }) => Some(value),
            _ => None,
        })
        .collect();
    let (cost, metric) = message_cost(run, &chosen, n);
    let mut report = CheckReport {
        properties: vec![
            validity(&chosen, &learns, &proposed),
            agreement(&chosen, &learns),
            integrity(&learns),
            termination(run, params, &learns, majority),
            cost,
        ],
        ..Default::default()
    };
    report.metrics.insert("messages_per_decision".into(), metric);
    let decided = learns.iter().map(|l| run.ms(l.record.t)).reduce(f64::min);
    report.metrics.insert(
        "decision".into(),
        json!({
            "chosen": chosen.iter().map(|c| json!({"ballot": c.ballot, "value": c.value})).collect::<Vec<_>>(),
            "first_learned_ms": decided,
            "learners": learns.iter().map(|l| l.record.node).collect::<BTreeSet<_>>().len(),
            "ballots_started": ballots(run).len(),
        }),
    );
    report
}

fn validity(chosen: &[Chosen], learns: &[Learn], proposed: &BTreeSet<String>) -> PropertyResult {
    const NAME: &str = "validity";
    if let Some(c) = chosen.iter().find(|c| !proposed.contains(&c.value)) {
        let detail = format!(
            "{:?} was chosen in ballot {} but no proposer proposed it (proposed: {proposed:?})",
            c.value, c.ballot
        );
        return PropertyResult::violated(NAME, detail, c.evidence.clone());
    }
    if let Some(l) = learns.iter().find(|l| !proposed.contains(&l.value)) {
        let detail = format!(
            "node {} learned {:?}, which no proposer proposed (proposed: {proposed:?})",
            l.record.node, l.value
        );
        return PropertyResult::violated(NAME, detail, vec![EventRef::of(l.record)]);
    }
    let detail =
        format!("{} chosen and {} learned value(s), all among the proposed {proposed:?}", chosen.len(), learns.len());
    PropertyResult::held(NAME, chosen.len() + learns.len(), "value chosen or learned", detail)
}

fn agreement(chosen: &[Chosen], learns: &[Learn]) -> PropertyResult {
    const NAME: &str = "agreement";
    if let Some(second) = chosen.iter().find(|c| c.value != chosen[0].value) {
        let first = &chosen[0];
        let detail = format!(
            "two values chosen: {:?} by a majority in ballot {} and {:?} in ballot {}",
            first.value, first.ballot, second.value, second.ballot
        );
        return PropertyResult::violated(NAME, detail, [first.evidence.clone(), second.evidence.clone()].concat());
    }
    let reference = chosen.first().map(|c| c.value.clone()).or_else(|| learns.first().map(|l| l.value.clone()));
    if let Some(l) = learns.iter().find(|l| Some(&l.value) != reference.as_ref()) {
        let mut evidence: Vec<EventRef> = learns.iter().take(1).map(|l| EventRef::of(l.record)).collect();
        evidence.push(EventRef::of(l.record));
        let detail = format!(
            "node {} learned {:?} in ballot {}, but {:?} was chosen or learned first",
            l.record.node,
            l.value,
            l.ballot,
            reference.unwrap_or_default()
        );
        return PropertyResult::violated(NAME, detail, evidence);
    }
    let detail = format!(
        "one value {:?}: chosen in {} ballot(s), learned by {} learner event(s)",
        reference.unwrap_or_default(),
        chosen.len(),
        learns.len()
    );
    PropertyResult::held(NAME, chosen.len() + learns.len(), "value accepted by a majority or learned", detail)
}

fn integrity(learns: &[Learn]) -> PropertyResult {
    const NAME: &str = "integrity";
    let mut first: BTreeMap<NodeId, &Learn> = BTreeMap::new();
    for l in learns {
        if let Some(before) = first.get(&l.record.node) {
            let detail = format!(
                "node {} learned twice: {:?} in ballot {} at {} ms, then {:?} in ballot {}",
                l.record.node,
                before.value,
                before.ballot,
                before.record.t / MS,
                l.value,
                l.ballot
            );
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(before.record), EventRef::of(l.record)]);
        }
        first.insert(l.record.node, l);
    }
    let detail = format!("{} learner(s), each learned once", first.len());
    PropertyResult::held(NAME, learns.len(), "learned value", detail)
}

/// Every ballot started, and what preempted it (if anything did), in order.
fn ballots(run: &Execution) -> Vec<(Ballot, Option<Ballot>)> {
    let mut started: BTreeMap<Ballot, Option<Ballot>> = BTreeMap::new();
    for r in &run.records {
        match r.event_as() {
            Some(PaxosEvent::BallotStarted { ballot, .. }) => {
                started.entry(ballot).or_insert(None);
            }
            Some(PaxosEvent::Preempted { ballot, by: Some(by) }) => {
                started.insert(ballot, Some(by));
            }
            _ => {}
        }
    }
    started.into_iter().collect()
}

/// With one proposer: the first period in which it is alive in a connected majority must see a
/// value learned within the bound of the period's start. With several, a decision is a decision;
/// no decision is `unknown`, with the ballots that preempted each other.
fn termination(run: &Execution, params: &PaxosParams, learns: &[Learn], majority: usize) -> PropertyResult {
    const NAME: &str = "termination";
    let bound = params.decision_bound();
    let first = learns.iter().map(|l| l.record).min_by_key(|r| r.t);
    if let [proposer] = params.proposers[..] {
        let el = Elections::new(run, run.nodes.clone());
        let mut short = 0;
        for (from, to) in el.periods() {
            let live = el.live(from);
            let cut = run.cut_at(from);
            let with_majority =
                components(&live, &cut).into_iter().any(|g| g.len() >= majority && g.contains(&proposer));
            if !with_majority {
                continue;
            }
            match first {
                Some(r) if r.t <= from + bound => {
                    let detail = format!(
                        "node {} learned at {:.0} ms; the lone proposer {proposer} had a connected majority from {:.0} ms; bound {} ms",
                        r.node,
                        run.ms(r.t),
                        run.ms(from),
                        bound / MS
                    );
                    return PropertyResult::held(NAME, 1, "", detail).with_evidence(vec![EventRef::of(r)]);
                }
                _ if to - from < bound => short += 1,
                _ => {
                    let when = first.map_or("nothing was learned".to_string(), |r| {
                        format!("the first value was learned only at {:.0} ms", run.ms(r.t))
                    });
                    let detail = format!(
                        "the lone proposer {proposer} had a connected majority from {:.0} ms to {:.0} ms, but {when}; bound {} ms",
                        run.ms(from),
                        run.ms(to),
                        bound / MS
                    );
                    return PropertyResult::violated(NAME, detail, vec![]);
                }
            }
        }
        let short = if short > 0 { format!(" ({short} too short to judge)") } else { String::new() };
        let what = format!(
            "period in which the lone proposer {proposer} was alive in a connected majority for the bound{short}"
        );
        return PropertyResult::held(NAME, 0, &what, "");
    }
    if let Some(r) = first {
        let detail = format!(
            "{} proposers {:?}; node {} learned at {:.0} ms",
            params.proposers.len(),
            params.proposers,
            r.node,
            run.ms(r.t)
        );
        return PropertyResult::held(NAME, 1, "", detail).with_evidence(vec![EventRef::of(r)]);
    }
    let duel: Vec<String> = ballots(run).iter().filter_map(|(b, by)| by.map(|by| format!("{b} by {by}"))).collect();
    let shown = if duel.len() > 8 {
        format!("{}, … {} more …, {}", duel[..4].join(", "), duel.len() - 8, duel[duel.len() - 4..].join(", "))
    } else {
        duel.join(", ")
    };
    PropertyResult::unknown(
        NAME,
        format!(
            "nothing to judge: no lone proposer (proposers {:?}) and no decision; {} ballot(s) preempted each other: {shown}",
            params.proposers,
            duel.len()
        ),
    )
}

/// The limits of one ballot, per message type, in a cluster of `n`.
fn limits(n: u64) -> [(&'static str, u64); 4] {
    [("prepare", n - 1), ("promise", n - 1), ("accept", n - 1), ("accepted", n * (n - 1))]
}

fn ballot_of(msg: &PaxosMsg) -> Ballot {
    match msg {
        PaxosMsg::Prepare { ballot }
        | PaxosMsg::Promise { ballot, .. }
        | PaxosMsg::Accept { ballot, .. }
        | PaxosMsg::Accepted { ballot, .. }
        | PaxosMsg::Nack { ballot, .. } => *ballot,
    }
}

/// Messages of each ballot by type (refusals, `nack`, are counted but not limited: a duplicated
/// Prepare is refused again), each ballot held to [`limits`]; the metric shows the deciding
/// ballot's count against 4(N−1) + (N−1)², and every message sent until the first decision.
fn message_cost(run: &Execution, chosen: &[Chosen], n: usize) -> (PropertyResult, serde_json::Value) {
    const NAME: &str = "message_cost";
    let n = n as u64;
    let mut per: BTreeMap<Ballot, BTreeMap<&'static str, u64>> = BTreeMap::new();
    let mut evidence: BTreeMap<Ballot, Vec<EventRef>> = BTreeMap::new();
    let decided: Option<Nanos> = learns(run).iter().map(|l| l.record.t).min();
    let mut before_decision = 0u64;
    for r in &run.records {
        let What::Send { .. } = &r.what else { continue };
        let Some(msg) = shown::<PaxosMsg>(r) else { continue };
        let b = ballot_of(&msg);
        use crate::core::process::Message;
        *per.entry(b).or_default().entry(msg.kind()).or_default() += 1;
        evidence.entry(b).or_default().push(EventRef::of(r));
        if decided.is_some_and(|d| r.t <= d) {
            before_decision += 1;
        }
    }
    let textbook = 4 * (n - 1) + (n - 1) * (n - 1);
    let deciding: Vec<serde_json::Value> = chosen
        .iter()
        .map(|c| {
            let counts = per.get(&c.ballot).cloned().unwrap_or_default();
            let total: u64 = counts.iter().filter(|(k, _)| **k != "nack").map(|(_, v)| v).sum();
            json!({"ballot": c.ballot, "messages": total, "by_type": counts})
        })
        .collect();
    let metric = json!({
        "deciding_ballots": deciding,
        "sent_until_first_decision": decided.map(|_| before_decision),
        "ballots": per.len(),
        "textbook": {
            "per_decision": textbook,
            "figure": format!("4(N−1) = {} (prepare, promise, accept, accepted to the proposer) + (N−1)² = {} accepted to the other learners", 4 * (n - 1), (n - 1) * (n - 1)),
        },
    });
    for (b, counts) in &per {
        for (kind, limit) in limits(n) {
            let sent = counts.get(kind).copied().unwrap_or(0);
            if sent > limit {
                let detail = format!("ballot {b} sent {sent} `{kind}` messages, above {limit} for N = {n}: {counts:?}");
                let ev = evidence.remove(b).unwrap_or_default();
                return (PropertyResult::violated(NAME, detail, ev), metric);
            }
        }
    }
    let totals: Vec<String> = deciding.iter().map(|d| d["messages"].to_string()).collect();
    let detail = format!(
        "{} ballot(s), each within its limits; the deciding ballot cost {} messages; textbook 4(N−1) + (N−1)² = {textbook}",
        per.len(),
        if totals.is_empty() { "—".to_string() } else { totals.join(", ") }
    );
    (PropertyResult::held(NAME, per.len(), "ballot with messages", detail), metric)
}

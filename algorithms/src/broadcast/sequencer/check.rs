//! The sequencer's checker, from the `multicast`, `sequenced`, `delivered` and `sequencer` events
//! alone:
//!
//! - **`total_order`**: no two deliveries (by any members, in any incarnation) put different
//!   messages at one position, no message is delivered at two positions, and each member's
//!   positions rise;
//! - **`integrity`**: no member delivers a message twice, and every delivered message was
//!   multicast by its origin with that payload;
//! - **`agreement`** and **`validity`**, judged only when the run ends in a quiet tail (no fault in
//!   the last `settle_ms`, no link cut): a message a correct member (never killed, paused or
//!   restarted) delivered before the tail is delivered by every correct member; a message a
//!   correct member multicast before the tail is delivered by it;
//! - **`election`**: the embedded election's checker on the election's part of the traces (its
//!   messages, its events, its timers without the `election:` prefix), with its parameters.
//!
//! Metrics: `messages_per_delivery` beside the textbook's 1 + (N−1), and `handover`: what became
//! of the messages still undelivered when each new sequencer took over.

use super::{find_election, SequencerParams, KINDS};
use crate::check::events::broadcast::{BroadcastEvent, Epoch, MsgId};
use crate::check::{CheckReport, EventRef, Execution, PropertyInfo, PropertyResult, Verdict};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use crate::faults::AppliedFault;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: "total_order",
            promise: "all members deliver in one order: no two deliver different messages at one position, each member's positions rise",
        },
        PropertyInfo {
            name: "agreement",
            promise: "a message one correct member delivers is delivered by every correct member (judged in the quiet tail)",
        },
        PropertyInfo {
            name: "integrity",
            promise: "a member delivers a message at most once, and only a message its origin multicast",
        },
        PropertyInfo {
            name: "validity",
            promise: "a correct member delivers every message it multicast (judged in the quiet tail)",
        },
        PropertyInfo { name: "election", promise: "the embedded election keeps its own properties" },
    ]
}

struct Delivery<'a> {
    r: &'a TraceRecord,
    seq: u64,
    id: MsgId,
    payload: String,
}

pub fn check_sequencer(run: &Execution, p: &SequencerParams) -> CheckReport {
    let mut multicasts: BTreeMap<MsgId, (&TraceRecord, String)> = BTreeMap::new();
    let mut deliveries = Vec::new();
    let mut sequenced: Vec<(&TraceRecord, u64, MsgId, Epoch)> = Vec::new();
    let mut takeovers: Vec<(&TraceRecord, Epoch)> = Vec::new();
    for (r, e) in run.events::<BroadcastEvent>() {
        match e {
            BroadcastEvent::Multicast { id, payload } => {
                multicasts.entry(id).or_insert((r, payload));
            }
            BroadcastEvent::Delivered { seq, id, payload } => deliveries.push(Delivery { r, seq, id, payload }),
            BroadcastEvent::Sequenced { seq, id, epoch } => sequenced.push((r, seq, id, epoch)),
            BroadcastEvent::Sequencer { epoch, .. } => takeovers.push((r, epoch)),
        }
    }
    let disturbed = disturbed_nodes(run);
    let correct: Vec<NodeId> = run.nodes.iter().copied().filter(|n| !disturbed.contains(n)).collect();
    let tail = quiet_tail(run, p.settle_ms * MS);

    let mut election_metrics = BTreeMap::new();
    let election = election(run, p, &mut election_metrics);
    let mut report = CheckReport {
        properties: vec![
            total_order(&deliveries),
            agreement(run, &deliveries, &correct, tail.clone()),
            integrity(&deliveries, &multicasts),
            validity(run, &deliveries, &multicasts, &correct, tail),
            election,
        ],
        ..Default::default()
    };
    for (name, value) in election_metrics {
        report.metrics.insert(format!("election.{name}"), value);
    }
    report.metrics.insert("messages_per_delivery".into(), cost(run, &deliveries));
    report.metrics.insert("handover".into(), handover(run, &multicasts, &deliveries, &sequenced, &takeovers));
    report
}

/// Nodes a process fault touched: not correct in the textbook's sense.
fn disturbed_nodes(run: &Execution) -> BTreeSet<NodeId> {
    run.disturbances()
        .iter()
        .filter_map(|f| match &f.fault {
            AppliedFault::Kill { node, .. }
            | AppliedFault::Restart { node }
            | AppliedFault::Exited { node, .. }
            | AppliedFault::Pause { node }
            | AppliedFault::Corrupt { node, .. } => Some(*node),
            _ => None,
        })
        .collect()
}

/// The start of the quiet tail, when the run ends with `settle` or more without faults and with
/// no link cut; `Err` says why there is none.
fn quiet_tail(run: &Execution, settle: Nanos) -> Result<Nanos, String> {
    let last = run.disturbances().last().map_or(run.start, |f| f.t).max(run.start);
    if run.partitioned_at(run.end) {
        return Err("links are still cut at the end".into());
    }
    if run.end.saturating_sub(last) < settle {
        return Err(format!(
            "only {:.0} ms without faults at the end (last at {:.0} ms), less than settle_ms = {}",
            (run.end.saturating_sub(last)) as f64 / MS as f64,
            run.ms(last),
            settle / MS
        ));
    }
    Ok(run.end - settle)
}

fn total_order(deliveries: &[Delivery]) -> PropertyResult {
    const NAME: &str = "total_order";
    let mut at: BTreeMap<u64, &Delivery> = BTreeMap::new();
    let mut position: BTreeMap<MsgId, &Delivery> = BTreeMap::new();
    let mut last: BTreeMap<NodeId, &Delivery> = BTreeMap::new();
    for d in deliveries {
        if let Some(first) = at.get(&d.seq).filter(|f| f.id != d.id) {
            let detail = format!(
                "position {}: node {} delivered {} but node {} delivered {}",
                d.seq, first.r.node, first.id, d.r.node, d.id
            );
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(first.r), EventRef::of(d.r)]);
        }
        if let Some(first) = position.get(&d.id).filter(|f| f.seq != d.seq) {
            let detail = format!(
                "message {} delivered at position {} by node {} and at {} by node {}",
                d.id, first.seq, first.r.node, d.seq, d.r.node
            );
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(first.r), EventRef::of(d.r)]);
        }
        if let Some(before) = last.get(&d.r.node).filter(|b| b.seq >= d.seq) {
            let detail = format!("node {} delivered position {} after position {}", d.r.node, d.seq, before.seq);
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(before.r), EventRef::of(d.r)]);
        }
        at.entry(d.seq).or_insert(d);
        position.entry(d.id).or_insert(d);
        last.insert(d.r.node, d);
    }
    let members = last.len();
    PropertyResult::held(
        NAME,
        at.len(),
        "delivery",
        format!("{} position(s) delivered by {members} member(s), one message at each", at.len()),
    )
}

fn agreement(
    run: &Execution,
    deliveries: &[Delivery],
    correct: &[NodeId],
    tail: Result<Nanos, String>,
) -> PropertyResult {
    const NAME: &str = "agreement";
    let tail = match tail {
        Ok(t) => t,
        Err(why) => return PropertyResult::unknown(NAME, format!("nothing to judge: no quiet tail ({why})")),
    };
    let mut by: BTreeMap<MsgId, BTreeSet<NodeId>> = BTreeMap::new();
    let mut first: BTreeMap<MsgId, &Delivery> = BTreeMap::new();
    for d in deliveries.iter().filter(|d| correct.contains(&d.r.node)) {
        by.entry(d.id).or_default().insert(d.r.node);
        first.entry(d.id).or_insert(d);
    }
    let judged: Vec<&Delivery> = first.values().copied().filter(|d| d.r.t <= tail).collect();
    for d in &judged {
        let missing: Vec<NodeId> = correct.iter().copied().filter(|n| !by[&d.id].contains(n)).collect();
        if !missing.is_empty() {
            let detail = format!(
                "message {} delivered by correct node {} at {:.0} ms, never by correct node(s) {missing:?}",
                d.id,
                d.r.node,
                run.ms(d.r.t)
            );
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(d.r)]);
        }
    }
    PropertyResult::held(
        NAME,
        judged.len(),
        "message delivered by a correct member before the quiet tail",
        format!("{} message(s) delivered by all {} correct member(s) {correct:?}", judged.len(), correct.len()),
    )
}

fn integrity(deliveries: &[Delivery], multicasts: &BTreeMap<MsgId, (&TraceRecord, String)>) -> PropertyResult {
    const NAME: &str = "integrity";
    let mut seen: BTreeMap<(NodeId, MsgId), &Delivery> = BTreeMap::new();
    for d in deliveries {
        if let Some(before) = seen.get(&(d.r.node, d.id)) {
            let detail = format!("node {} delivered {} twice (positions {} and {})", d.r.node, d.id, before.seq, d.seq);
            return PropertyResult::violated(NAME, detail, vec![EventRef::of(before.r), EventRef::of(d.r)]);
        }
        match multicasts.get(&d.id) {
            Some((m, payload)) if m.node == d.id.origin && *payload == d.payload => {}
            Some((m, payload)) => {
                let detail = format!(
                    "node {} delivered {} as {:?}; its origin multicast {payload:?}",
                    d.r.node, d.id, d.payload
                );
                return PropertyResult::violated(NAME, detail, vec![EventRef::of(m), EventRef::of(d.r)]);
            }
            None => {
                let detail =
                    format!("node {} delivered {}, which node {} never multicast", d.r.node, d.id, d.id.origin);
                return PropertyResult::violated(NAME, detail, vec![EventRef::of(d.r)]);
            }
        }
        seen.insert((d.r.node, d.id), d);
    }
    PropertyResult::held(
        NAME,
        deliveries.len(),
        "delivery",
        format!("{} deliveries, each once per member and of a message multicast", deliveries.len()),
    )
}

fn validity(
    run: &Execution,
    deliveries: &[Delivery],
    multicasts: &BTreeMap<MsgId, (&TraceRecord, String)>,
    correct: &[NodeId],
    tail: Result<Nanos, String>,
) -> PropertyResult {
    const NAME: &str = "validity";
    let tail = match tail {
        Ok(t) => t,
        Err(why) => return PropertyResult::unknown(NAME, format!("nothing to judge: no quiet tail ({why})")),
    };
    let own: BTreeSet<MsgId> = deliveries.iter().filter(|d| d.r.node == d.id.origin).map(|d| d.id).collect();
    let judged: Vec<(&MsgId, &TraceRecord)> = multicasts
        .iter()
        .filter(|(id, (m, _))| correct.contains(&id.origin) && m.t <= tail)
        .map(|(id, (m, _))| (id, *m))
        .collect();
    if let Some((id, m)) = judged.iter().find(|(id, _)| !own.contains(id)) {
        let detail = format!(
            "message {id} multicast by correct node {} at {:.0} ms is not delivered by it by the end ({:.0} ms)",
            m.node,
            run.ms(m.t),
            run.ms(run.end)
        );
        return PropertyResult::violated(NAME, detail, vec![EventRef::of(m)]);
    }
    PropertyResult::held(
        NAME,
        judged.len(),
        "multicast by a correct member before the quiet tail",
        format!("{} multicast(s) by correct members, each delivered by its origin", judged.len()),
    )
}

/// The election's part of the traces, as if it had run alone.
pub fn election_part(run: &Execution, p: &SequencerParams) -> Execution {
    let records = run
        .records
        .iter()
        .filter_map(|r| {
            let what = match &r.what {
                What::Send { msg_type, .. } | What::Recv { msg_type, .. } if KINDS.contains(&msg_type.as_str()) => {
                    return None
                }
                What::Event { .. } if r.event_as::<BroadcastEvent>().is_some() => return None,
                What::Timer { name } => What::Timer { name: name.strip_prefix("election:")?.to_string() },
                other => other.clone(),
            };
            Some(TraceRecord { what, ..r.clone() })
        })
        .collect();
    Execution { algorithm: p.election.clone(), params: p.election_params.clone(), records, ..run.clone() }
}

fn election(run: &Execution, p: &SequencerParams, metrics: &mut BTreeMap<String, serde_json::Value>) -> PropertyResult {
    const NAME: &str = "election";
    let election = match find_election(&p.election) {
        Ok(e) => e,
        Err(e) => return PropertyResult::unknown(NAME, format!("not judged: {e}")),
    };
    let inner = election.check(&election_part(run, p));
    *metrics = inner.metrics.clone();
    let verdict =
        |v: Verdict| serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let line = |r: &PropertyResult| format!("{} {}: {}", r.name, verdict(r.verdict), r.detail);
    if let Some(v) = inner.properties.iter().find(|r| r.verdict == Verdict::Violated) {
        return PropertyResult::violated(NAME, format!("{} {}", p.election, line(v)), v.evidence.clone());
    }
    let held: Vec<&PropertyResult> = inner.properties.iter().filter(|r| r.verdict == Verdict::Held).collect();
    let all: Vec<String> = inner.properties.iter().map(line).collect();
    PropertyResult::held(
        NAME,
        held.len(),
        &format!("property of the embedded {} judged ({})", p.election, all.join("; ")),
        format!("{}: {}", p.election, all.join("; ")),
    )
}

/// Messages of this algorithm's own kinds per message delivered, beside the textbook.
fn cost(run: &Execution, deliveries: &[Delivery]) -> serde_json::Value {
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &run.records {
        if let What::Send { msg_type, .. } = &r.what {
            if let Some(k) = KINDS.iter().find(|k| **k == msg_type.as_str()) {
                *by_type.entry(k).or_default() += 1;
            }
        }
    }
    let sent: u64 = by_type.values().sum();
    // A takeover's collection is paid once per sequencer, not per message.
    let recovery: u64 = ["collect", "state", "reject"].iter().filter_map(|k| by_type.get(k)).sum();
    let messages = deliveries.iter().map(|d| d.id).collect::<BTreeSet<_>>().len() as u64;
    let n = run.nodes.len() as u64;
    let per = (messages > 0).then(|| ((sent - recovery) as f64 / messages as f64 * 10.0).round() / 10.0);
    json!({
        "messages": messages,
        "sent": sent,
        "recovery": recovery,
        "per_message": per,
        "by_type": by_type,
        "textbook": n,
        "textbook_with_acks": 1 + 3 * n.saturating_sub(1),
        "note": "per_message leaves out the recovery (collect, state, reject); textbook 1 + (N−1): submit and order; with stability N−1 acks and up to N−1 stable more",
    })
}

/// For each sequencer after the first: the messages undelivered anywhere when it took over, and
/// what became of them (at most 20 listed per handover).
fn handover(
    run: &Execution,
    multicasts: &BTreeMap<MsgId, (&TraceRecord, String)>,
    deliveries: &[Delivery],
    sequenced: &[(&TraceRecord, u64, MsgId, Epoch)],
    takeovers: &[(&TraceRecord, Epoch)],
) -> serde_json::Value {
    let first_delivery = |id: MsgId| deliveries.iter().find(|d| d.id == id);
    let killed = |node: NodeId, after: Nanos| {
        run.faults.iter().any(|f| f.t >= after && matches!(f.fault, AppliedFault::Kill { node: k, .. } if k == node))
    };
    let mut out = Vec::new();
    for pair in takeovers.windows(2) {
        let ((old_r, old), (new_r, new)) = (pair[0], pair[1]);
        let (mut kept, mut resent, mut lost, mut undelivered, mut listed) = (0, 0, 0, 0, Vec::new());
        for (id, (m, _)) in multicasts.iter().filter(|(_, (m, _))| m.t < new_r.t) {
            let delivered = first_delivery(*id);
            if delivered.is_some_and(|d| d.r.t < new_r.t) {
                continue;
            }
            let by_old = sequenced.iter().find(|(_, _, s, e)| s == id && *e == old);
            let fate = match delivered {
                Some(d) if by_old.is_some_and(|(_, seq, _, _)| *seq == d.seq) => {
                    kept += 1;
                    format!("numbered {} by {old}, kept by {new} and delivered there", d.seq)
                }
                Some(d) => {
                    resent += 1;
                    format!("delivered at {} ({:.0} ms)", d.seq, run.ms(d.r.t))
                }
                None if killed(m.node, m.t) => {
                    lost += 1;
                    format!("lost with its origin, node {}, killed", m.node)
                }
                None => {
                    undelivered += 1;
                    "never delivered".to_string()
                }
            };
            if listed.len() < 20 {
                listed.push(json!({ "id": id.to_string(), "fate": fate }));
            }
        }
        out.push(json!({
            "at_ms": (run.ms(new_r.t) * 10.0).round() / 10.0,
            "from": old_r.node,
            "to": new_r.node,
            "epoch": new.to_string(),
            "kept": kept,
            "resent_and_delivered": resent,
            "lost_with_origin": lost,
            "never_delivered": undelivered,
            "messages": listed,
        }));
    }
    json!({ "sequencers": takeovers.len(), "handovers": out })
}

//! ZAB's checker, from traces alone: what each server delivered, in order, per run of the
//! process (a restarted server delivers its history again from the first); what the leaders
//! proposed and committed; the history each leader started broadcasting with; and what a write
//! cost. A transaction is named by its zxid and digest, so two different transactions under one
//! zxid are two transactions.

use super::{Origin, ZabEvent, ZabParams, Zxid};
use crate::algorithm::PropertyInfo;
use crate::check::metric::{EntryCost, Metric};
use crate::check::service;
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::consensus::multipaxos::check::requests;
use crate::core::process::{NodeId, MS};
use crate::core::trace::What;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    let mut all = zab_property_info();
    all.extend([
        PropertyInfo { name: "linearizable", promise: "the clients' history is linearizable as a key-value store" },
        PropertyInfo { name: "exactly_once", promise: "no server applies a client's command (client, seq) twice" },
        PropertyInfo {
            name: "operations_complete",
            promise: "with a connected majority of servers, every operation completes within operation_bound_ms",
        },
    ]);
    all
}

/// What [`zab_properties`] judges: ZAB's own promises, whatever machine it replicates.
pub fn zab_property_info() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: "integrity",
            promise: "a server delivers only a transaction a leader proposed, for a command a client sent",
        },
        PropertyInfo {
            name: "total_order",
            promise: "if a server delivers a before b, every server that delivers b delivers a before it",
        },
        PropertyInfo {
            name: "agreement",
            promise: "every server delivers a prefix of the same sequence of transactions",
        },
        PropertyInfo {
            name: "primary_order",
            promise: "a server delivers each leader's transactions in the order it proposed them, none skipped, epochs in order",
        },
        PropertyInfo {
            name: "primary_integrity",
            promise: "a transaction delivered under one leader is in the history of every later leader when it starts to broadcast",
        },
    ]
}

/// A transaction: its zxid and the digest of its operation.
type Tx = (Zxid, String);

/// What one run of one server delivered, in order.
struct Deliveries {
    node: NodeId,
    /// 1 for the first start, 2 after the first restart, …
    incarnation: u64,
    txns: Vec<(Tx, EventRef)>,
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(8)]
}

fn named(tx: &Tx, ops: &BTreeMap<Tx, String>) -> String {
    match ops.get(tx) {
        Some(op) => format!("{} {op} ({})", tx.0, short(&tx.1)),
        None => format!("{} ({})", tx.0, short(&tx.1)),
    }
}

fn deliveries(run: &Execution) -> Vec<Deliveries> {
    let mut runs: Vec<Deliveries> = Vec::new();
    let mut current: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (r, e) in run.events::<ZabEvent>() {
        match e {
            ZabEvent::Restored { .. } => {
                let incarnation = runs.iter().filter(|d| d.node == r.node).count() as u64 + 1;
                current.insert(r.node, runs.len());
                runs.push(Deliveries { node: r.node, incarnation, txns: vec![] });
            }
            ZabEvent::Delivered { zxid, digest } => {
                let i = *current.entry(r.node).or_insert_with(|| {
                    runs.push(Deliveries { node: r.node, incarnation: 1, txns: vec![] });
                    runs.len() - 1
                });
                runs[i].txns.push(((zxid, digest), EventRef::of(r)));
            }
            _ => {}
        }
    }
    runs.retain(|d| !d.txns.is_empty());
    runs
}

fn who(d: &Deliveries) -> String {
    if d.incarnation == 1 {
        format!("node {}", d.node)
    } else {
        format!("node {} (start {})", d.node, d.incarnation)
    }
}

pub fn check_zab(run: &Execution, params: &ZabParams) -> CheckReport {
    let mut properties = zab_properties(run, &requests(run));
    properties.extend([
        service::linearizable(run),
        service::exactly_once(run),
        service::operations_complete(run, params.operation_bound_ms * MS),
    ]);
    let mut report = CheckReport { properties, ..Default::default() };
    report.metrics.insert("messages_per_write".into(), write_cost(run));
    report
}

/// The properties of ZAB itself, whatever machine it replicates: `requests` are what the clients
/// sent, as (client, seq, digest of the transaction a leader would propose for it).
pub fn zab_properties(run: &Execution, requests: &BTreeSet<(NodeId, u64, String)>) -> Vec<PropertyResult> {
    let runs = deliveries(run);
    let mut ops: BTreeMap<Tx, String> = BTreeMap::new();
    let mut proposals: BTreeMap<Tx, (NodeId, Origin, EventRef)> = BTreeMap::new();
    for (r, e) in run.events::<ZabEvent>() {
        if let ZabEvent::Proposed { zxid, digest, op, origin } = e {
            ops.insert((zxid, digest.clone()), op);
            proposals.entry((zxid, digest)).or_insert((r.node, origin, EventRef::of(r)));
        }
    }
    vec![
        integrity(requests, &runs, &proposals, &ops),
        total_order(&runs, &ops),
        agreement(&runs, &ops),
        primary_order(&runs, &ops),
        primary_integrity(run, &runs, &ops),
    ]
}

fn integrity(
    requests: &BTreeSet<(NodeId, u64, String)>,
    runs: &[Deliveries],
    proposals: &BTreeMap<Tx, (NodeId, Origin, EventRef)>,
    ops: &BTreeMap<Tx, String>,
) -> PropertyResult {
    const NAME: &str = "integrity";
    let mut judged: BTreeSet<&Tx> = BTreeSet::new();
    for d in runs {
        for (tx, at) in &d.txns {
            if !judged.insert(tx) {
                continue;
            }
            let Some((leader, origin, proposed)) = proposals.get(tx) else {
                let detail = format!("{} delivered {} {}, which no leader proposed", who(d), tx.0, short(&tx.1));
                return PropertyResult::violated(NAME, detail, vec![at.clone()]);
            };
            let Origin::Client { client, seq } = origin else { continue }; // the leader's own
            if !requests.contains(&(*client, *seq, tx.1.clone())) {
                let detail = format!(
                    "{} delivered {}, which node {leader} proposed as client {client}'s seq {seq}: that client never sent it",
                    who(d),
                    named(tx, ops)
                );
                return PropertyResult::violated(NAME, detail, vec![proposed.clone(), at.clone()]);
            }
        }
    }
    let detail =
        format!("{} distinct transaction(s) delivered, each proposed by a leader for a client's command", judged.len());
    PropertyResult::held(NAME, judged.len(), "transaction delivered", detail)
}

/// For two runs of servers: if `a` delivers x before y and `b` delivers y, `b` delivered x before
/// it. `Err` names the two transactions.
fn ordered(a: &Deliveries, b: &Deliveries) -> Result<usize, (Tx, Tx, bool)> {
    let pos: BTreeMap<&Tx, usize> = b.txns.iter().enumerate().map(|(i, (tx, _))| (tx, i)).collect();
    let (mut missing, mut latest): (Option<&Tx>, Option<(&Tx, usize)>) = (None, None);
    let mut judged = 0;
    for (tx, _) in &a.txns {
        let Some(&p) = pos.get(tx) else {
            missing.get_or_insert(tx);
            continue;
        };
        judged += 1;
        if let Some(m) = missing {
            return Err((m.clone(), tx.clone(), true));
        }
        if let Some((earlier, q)) = latest {
            if q > p {
                return Err((earlier.clone(), tx.clone(), false));
            }
        }
        if latest.is_none_or(|(_, q)| p > q) {
            latest = Some((tx, p));
        }
    }
    Ok(judged)
}

fn total_order(runs: &[Deliveries], ops: &BTreeMap<Tx, String>) -> PropertyResult {
    const NAME: &str = "total_order";
    let mut judged = 0;
    for a in runs {
        for b in runs.iter().filter(|b| !std::ptr::eq(*b, a)) {
            match ordered(a, b) {
                Ok(n) => judged += n,
                Err((x, y, missing)) => {
                    let at = |d: &Deliveries, tx: &Tx| d.txns.iter().find(|(t, _)| t == tx).map(|(_, at)| at.clone());
                    let evidence: Vec<EventRef> =
                        [at(a, &x), at(a, &y), at(b, &y), at(b, &x)].into_iter().flatten().collect();
                    let how =
                        if missing { "without delivering it at all: a committed transaction lost" } else { "after it" };
                    let detail = format!(
                        "{} delivered {} before {}; {} delivered {} {how}",
                        who(a),
                        named(&x, ops),
                        named(&y, ops),
                        who(b),
                        named(&y, ops)
                    );
                    return PropertyResult::violated(NAME, detail, evidence);
                }
            }
        }
    }
    let detail =
        format!("{} run(s) of servers compared pairwise over the transactions both delivered: one order", runs.len());
    PropertyResult::held(NAME, judged, "transaction delivered by two servers", detail)
}

fn agreement(runs: &[Deliveries], ops: &BTreeMap<Tx, String>) -> PropertyResult {
    const NAME: &str = "agreement";
    let Some(longest) = runs.iter().max_by_key(|d| d.txns.len()) else {
        return PropertyResult::held(NAME, 0, "transaction delivered", "");
    };
    let mut judged = 0;
    for d in runs.iter().filter(|d| !std::ptr::eq(*d, longest)) {
        judged += 1;
        let split = longest.txns.iter().zip(&d.txns).position(|((x, _), (y, _))| x != y);
        if let Some(i) = split {
            let (x, at_x) = &longest.txns[i];
            let (y, at_y) = &d.txns[i];
            let detail = format!(
                "delivery {}: {} delivered {}, {} delivered {}: the two are not prefixes of one sequence",
                i + 1,
                who(longest),
                named(x, ops),
                who(d),
                named(y, ops)
            );
            return PropertyResult::violated(NAME, detail, vec![at_x.clone(), at_y.clone()]);
        }
    }
    let detail = format!(
        "{} run(s) of servers, each a prefix of {}'s {} deliveries",
        runs.len(),
        who(longest),
        longest.txns.len()
    );
    PropertyResult::held(NAME, judged, "second server that delivered anything", detail)
}

fn primary_order(runs: &[Deliveries], ops: &BTreeMap<Tx, String>) -> PropertyResult {
    const NAME: &str = "primary_order";
    let mut judged = 0;
    for d in runs {
        let mut last = Zxid::ZERO;
        for (tx, at) in &d.txns {
            judged += 1;
            let z = tx.0;
            let follows = if z.epoch == last.epoch {
                z.counter == last.counter + 1
            } else {
                z.epoch > last.epoch && z.counter == 1
            };
            if !follows {
                let missed = if z <= last {
                    format!("after {last}: out of zxid order")
                } else if z.epoch == last.epoch {
                    format!(
                        "after {last}: the leader of epoch {} proposed {} before it",
                        z.epoch,
                        Zxid::new(z.epoch, last.counter + 1)
                    )
                } else {
                    format!("after {last}: the leader of epoch {} proposed {} first", z.epoch, Zxid::new(z.epoch, 1))
                };
                let detail = format!("{} delivered {} {missed}", who(d), named(tx, ops));
                return PropertyResult::violated(NAME, detail, vec![at.clone()]);
            }
            last = z;
        }
    }
    let detail = format!("{judged} delivery(ies) over {} run(s) of servers, each leader's in its order", runs.len());
    PropertyResult::held(NAME, judged, "transaction delivered", detail)
}

fn primary_integrity(run: &Execution, runs: &[Deliveries], ops: &BTreeMap<Tx, String>) -> PropertyResult {
    const NAME: &str = "primary_integrity";
    let mut delivered: BTreeMap<&Tx, (String, EventRef)> = BTreeMap::new();
    for d in runs {
        for (tx, at) in &d.txns {
            delivered.entry(tx).or_insert((who(d), at.clone()));
        }
    }
    let mut judged = 0;
    let mut leaders = 0;
    for (r, e) in run.events::<ZabEvent>() {
        let ZabEvent::Established { epoch, history } = e else { continue };
        leaders += 1;
        let has: BTreeSet<&Tx> = history.iter().collect();
        for (tx, (by, at)) in delivered.iter().filter(|(tx, _)| tx.0.epoch < epoch) {
            judged += 1;
            if !has.contains(*tx) {
                let detail = format!(
                    "{by} delivered {}, committed in epoch {}; node {}, the leader of epoch {epoch}, started broadcasting without it (its history ends at {}): a committed transaction lost",
                    named(tx, ops),
                    tx.0.epoch,
                    r.node,
                    history.last().map_or(Zxid::ZERO, |t| t.0)
                );
                return PropertyResult::violated(NAME, detail, vec![at.clone(), EventRef::of(r)]);
            }
        }
    }
    let detail = format!(
        "{leaders} leader(s) established; {judged} time(s) a transaction delivered under an earlier leader was looked for in a later one's history, found each time"
    );
    PropertyResult::held(NAME, judged, "transaction delivered under an earlier leader than one established", detail)
}

/// What a write cost: PROPOSAL, ACK and COMMIT per committed transaction, against the textbook
/// 3(N−1); forwarding, the election, discovery, synchronization and pings are counted apart.
pub fn write_cost(run: &Execution) -> serde_json::Value {
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for r in run.records.iter().filter(|r| run.nodes.contains(&r.node)) {
        if let What::Send { msg_type, .. } = &r.what {
            *sent.entry(msg_type.clone()).or_default() += 1;
        }
    }
    let count = |kinds: &[&str]| kinds.iter().map(|k| sent.get(*k).copied().unwrap_or(0)).sum::<u64>();
    let mut committed: BTreeSet<Zxid> = BTreeSet::new();
    let mut leaders = 0u64;
    for (_, e) in run.events::<ZabEvent>() {
        match e {
            ZabEvent::Committed { zxid, .. } => {
                committed.insert(zxid);
            }
            ZabEvent::Established { .. } => leaders += 1,
            _ => {}
        }
    }
    let entries = committed.len();
    let per_write = 3 * (run.nodes.len() as u64).saturating_sub(1);
    let per = |n: u64| if entries == 0 { 0.0 } else { (n as f64 / entries as f64 * 100.0).round() / 100.0 };
    let (proposals, acks, commits) = (count(&["proposal"]), count(&["ack"]), count(&["commit"]));
    let extra = [
        ("leaders_established", leaders),
        ("forwarded", count(&["forward"])),
        ("election", count(&["notification"])),
        ("discovery", count(&["follower_info", "new_epoch", "ack_epoch"])),
        ("synchronization", count(&["sync", "new_leader", "ack_new_leader", "up_to_date"])),
        ("pings", count(&["ping", "pong"])),
    ];
    Metric::PerEntry(EntryCost {
        entries,
        messages: proposals + acks + commits,
        measured: per(proposals + acks + commits),
        textbook: format!("3(N−1) = {per_write} per write with an established leader (proposal, ack, commit)"),
        textbook_value: Some(per_write as f64),
        by_type: [("proposal", per(proposals)), ("ack", per(acks)), ("commit", per(commits))]
            .into_iter()
            .map(|(kind, figure)| (kind.to_string(), figure))
            .collect(),
        extra: extra.into_iter().map(|(name, n)| (name.to_string(), json!(n))).collect(),
    })
    .to_value()
}

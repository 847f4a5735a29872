//! The coordination service's checker: ZAB's own properties ([`zab_properties`]) over the
//! service's transactions, and ZooKeeper's guarantees to its clients, from the clients' traces
//! (`zk_invoke`, `zk_done`): every completed operation carries the zxid it completed at (a
//! write's own, a read's server state).
//!
//! - `linearizable_writes`: writes take effect in one order (the zxids) that agrees with real
//!   time: a write that completed before another was invoked has the smaller zxid.
//! - `client_order`: each client's operations take effect in the order it issued them: its
//!   zxids never go back, and each write's is above every earlier one's.
//! - `reads_see_own_writes`: no read is answered from a state older than the client's own last
//!   write or sync.
//!
//! Figures: `writes_per_s` (the clients' completed creates, sets and deletes over the time from
//! the first one's invocation to the last one's completion), `read_ms_at_leader` and
//! `read_ms_at_follower` (each read's invocation to completion, by the role of the server that
//! answered it: the one the client was attached to then, a leader being the last server
//! established before it).

use super::client::{shown_zxid, ZkClientMsg};
use super::service::{Call, ZkEvent, ZkMachine, ZkOp};
use crate::algorithm::PropertyInfo;
use crate::check::election::shown;
use crate::check::metric::{Distribution, Metric};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::consensus::zab::{write_cost, zab_properties, zab_property_info, Machine, ZabEvent, ZabParams};
use crate::core::process::{Nanos, NodeId, MS};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    let mut all = zab_property_info();
    all.extend([
        PropertyInfo {
            name: "linearizable_writes",
            promise: "a write that completed before another was invoked took effect first (smaller zxid)",
        },
        PropertyInfo {
            name: "client_order",
            promise: "each session's operations take effect in the order its client issued them",
        },
        PropertyInfo {
            name: "reads_see_own_writes",
            promise: "no read is older than the client's own last write or sync",
        },
    ]);
    all
}

/// One completed operation of a client.
#[derive(Clone, Debug)]
pub struct Done {
    pub client: NodeId,
    pub session: u64,
    pub seq: u64,
    pub f: String,
    pub path: String,
    pub invoked: Nanos,
    pub completed: Nanos,
    pub zxid: u64,
    pub write: bool,
    pub at: EventRef,
}

fn is_write(f: &str) -> bool {
    matches!(f, "create" | "delete" | "set" | "sync")
}

/// Every completed operation, in each session's order (a restarted client opens a new session
/// and numbers its operations from 1 again).
pub fn completed(run: &Execution) -> Vec<Done> {
    let mut invoked: BTreeMap<(NodeId, u64, u64), Nanos> = BTreeMap::new();
    let mut done = Vec::new();
    for (r, e) in run.events::<ZkEvent>() {
        match e {
            ZkEvent::ZkInvoke { session, seq, .. } => {
                invoked.insert((r.node, session, seq), r.t);
            }
            ZkEvent::ZkDone { session, seq, f, path, zxid, .. } => {
                let Some(&at) = invoked.get(&(r.node, session, seq)) else { continue };
                let write = is_write(&f);
                done.push(Done {
                    client: r.node,
                    session,
                    seq,
                    f,
                    path,
                    invoked: at,
                    completed: r.t,
                    zxid,
                    write,
                    at: EventRef::of(r),
                });
            }
            _ => {}
        }
    }
    done.sort_by_key(|d| (d.client, d.session, d.seq));
    done
}

fn name(d: &Done) -> String {
    format!("client {}'s {} {} (seq {}, zxid {})", d.client, d.f, d.path, d.seq, shown_zxid(d.zxid))
}

pub fn linearizable_writes(done: &[Done]) -> PropertyResult {
    const NAME: &str = "linearizable_writes";
    let mut writes: Vec<&Done> = done.iter().filter(|d| d.write).collect();
    let mut by_completion = writes.clone();
    by_completion.sort_by_key(|d| d.completed);
    writes.sort_by_key(|d| d.invoked);
    let (mut i, mut latest): (usize, Option<&Done>) = (0, None);
    let mut judged = 0;
    for w in &writes {
        while i < by_completion.len() && by_completion[i].completed < w.invoked {
            if latest.is_none_or(|l| by_completion[i].zxid > l.zxid) {
                latest = Some(by_completion[i]);
            }
            i += 1;
        }
        let Some(before) = latest else { continue };
        judged += 1;
        if before.zxid >= w.zxid {
            let detail = format!(
                "{} completed before {} was invoked, yet took effect at a zxid not below it",
                name(before),
                name(w)
            );
            return PropertyResult::violated(NAME, detail, vec![before.at.clone(), w.at.clone()]);
        }
    }
    let detail = format!("{judged} write(s) invoked after another completed, each ordered after it");
    PropertyResult::held(NAME, judged, "write invoked after another completed", detail)
}

pub fn client_order(done: &[Done]) -> PropertyResult {
    const NAME: &str = "client_order";
    let mut judged = 0;
    for pair in done.windows(2).filter(|p| (p[0].client, p[0].session) == (p[1].client, p[1].session)) {
        let (a, b) = (&pair[0], &pair[1]);
        judged += 1;
        let bad = if b.write && a.write { b.zxid <= a.zxid } else { b.zxid < a.zxid };
        if bad {
            let detail = format!("{} came after {}, yet took effect before it", name(b), name(a));
            return PropertyResult::violated(NAME, detail, vec![a.at.clone(), b.at.clone()]);
        }
    }
    let detail = format!("{judged} operation(s) after a client's earlier one, none taking effect before it");
    PropertyResult::held(NAME, judged, "operation after an earlier one of its client", detail)
}

pub fn reads_see_own_writes(done: &[Done]) -> PropertyResult {
    const NAME: &str = "reads_see_own_writes";
    let mut last: BTreeMap<(NodeId, u64), &Done> = BTreeMap::new();
    let mut judged = 0;
    for d in done {
        if d.write {
            last.insert((d.client, d.session), d);
            continue;
        }
        let Some(w) = last.get(&(d.client, d.session)) else { continue };
        judged += 1;
        if d.zxid < w.zxid {
            let detail = format!("{} was answered from a state older than its own {}", name(d), name(w));
            return PropertyResult::violated(NAME, detail, vec![w.at.clone(), d.at.clone()]);
        }
    }
    let detail = format!("{judged} read(s) after the client's own write or sync, none older than it");
    PropertyResult::held(NAME, judged, "read after a write or sync of its client", detail)
}

/// What the clients sent that a leader would order, as (client, seq, digest of its transaction).
fn requests(run: &Execution) -> BTreeSet<(NodeId, u64, String)> {
    let mut sent = BTreeSet::new();
    for r in run.records.iter().filter(|r| !run.nodes.contains(&r.node)) {
        if let Some(ZkClientMsg::Request(request)) = shown::<ZkClientMsg>(r) {
            if request.call.is_write() && request.call != Call::Ping {
                let (client, seq) = (request.client, request.seq);
                sent.insert((client, seq, ZkMachine::digest(&ZkOp::Client(request))));
            }
        }
    }
    sent
}

/// The latest `(time, value)` at or before `t` in a time-ordered list.
fn as_of<T: Copy>(changes: &[(Nanos, T)], t: Nanos) -> Option<T> {
    changes.iter().take_while(|(at, _)| *at <= t).last().map(|(_, v)| *v)
}

/// `writes_per_s`, `read_ms_at_leader`, `read_ms_at_follower` (see the module doc).
pub fn figures(run: &Execution, done: &[Done]) -> BTreeMap<String, Value> {
    let mut leaders: Vec<(Nanos, NodeId)> = Vec::new();
    for (r, e) in run.events::<ZabEvent>() {
        if let ZabEvent::Established { .. } = e {
            leaders.push((r.t, r.node));
        }
    }
    let mut attached: BTreeMap<NodeId, Vec<(Nanos, NodeId)>> = BTreeMap::new();
    for (r, e) in run.events::<ZkEvent>() {
        match e {
            ZkEvent::SessionOpened { server, .. } => attached.entry(r.node).or_default().push((r.t, server)),
            ZkEvent::Reconnected { to, .. } => attached.entry(r.node).or_default().push((r.t, to)),
            _ => {}
        }
    }
    leaders.sort();
    attached.values_mut().for_each(|v| v.sort());
    let (mut at_leader, mut at_follower) = (Vec::new(), Vec::new());
    for d in done.iter().filter(|d| !d.write) {
        let server = attached.get(&d.client).and_then(|a| as_of(a, d.completed));
        let (Some(server), Some(leader)) = (server, as_of(&leaders, d.completed)) else { continue };
        let ms = (d.completed - d.invoked) as f64 / MS as f64;
        if server == leader {
            at_leader.push(ms);
        } else {
            at_follower.push(ms);
        }
    }
    let shown = |values: &[f64]| {
        let mut d = Distribution::of(values);
        d.values.clear();
        Metric::Distribution(d).to_value()
    };
    let mut out = BTreeMap::from([
        ("read_ms_at_leader".to_string(), shown(&at_leader)),
        ("read_ms_at_follower".to_string(), shown(&at_follower)),
    ]);
    let writes: Vec<&Done> = done.iter().filter(|d| matches!(d.f.as_str(), "create" | "set" | "delete")).collect();
    let first = writes.iter().map(|d| d.invoked).min();
    let last = writes.iter().map(|d| d.completed).max();
    if let (Some(first), Some(last)) = (first, last) {
        if last > first {
            let per_s = writes.len() as f64 / ((last - first) as f64 / 1e9);
            out.insert("writes_per_s".into(), Metric::Figure((per_s * 10.0).round() / 10.0).to_value());
        }
    }
    out
}

pub fn check_coordination(run: &Execution, _params: &ZabParams) -> CheckReport {
    let mut properties = zab_properties(run, &requests(run));
    let done = completed(run);
    properties.extend([linearizable_writes(&done), client_order(&done), reads_see_own_writes(&done)]);
    let mut report = CheckReport { properties, ..Default::default() };
    report.metrics.insert("messages_per_write".into(), write_cost(run));
    report.metrics.extend(figures(run, &done));
    report
}

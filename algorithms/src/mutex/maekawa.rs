//! Maekawa (1985): permission from a quorum instead of from everyone. Any two quorums share a
//! member, and a member votes for one request at a time, so two requests can never both collect
//! all their votes.
//!
//! Rules (Maekawa, "A √N algorithm for mutual exclusion in decentralized systems", 1985, with
//! the INQUIRE/YIELD/FAILED messages that keep it from deadlocking):
//! - Quorums: the nodes sit in a grid of ⌈√N⌉ columns; node i's quorum S_i is its row and its
//!   column, about 2√N nodes. Two rows or a row and a column always cross, so S_i ∩ S_j ≠ ∅.
//! - Request R: send REQUEST(R, T, i) (T a Lamport timestamp; `(T, id)` orders requests, earlier
//!   first) to every member of S_i, itself included; enter once every member has sent GRANT.
//! - A member that has not voted for R votes: GRANT to the requester. Otherwise it queues the
//!   request and, if it is earlier than its vote and everything queued, sends INQUIRE to the node
//!   it voted for (once); if not, it answers FAILED (and a queued request overtaken by an earlier
//!   one is told FAILED too, so no waiting node goes untold).
//! - A node asked INQUIRE gives the vote back with YIELD if it cannot win now: it got a FAILED,
//!   or has yielded a vote it has not got back. Inside the critical section it ignores INQUIRE
//!   (its RELEASE will come); otherwise it waits until a FAILED arrives (then yields) or it gets
//!   every vote (then enters).
//! - A member that gets YIELD queues the yielder's request again and votes for the earliest one.
//! - Release: RELEASE to every member of S_i; each then votes for its earliest queued request.
//!
//! Promise: mutual exclusion; quorums pairwise intersect; a voter has at most one outstanding
//! vote per resource; every request is granted. Cost with K = |S_i|: 3(K−1) messages per entry
//! without contention (REQUEST, GRANT, RELEASE to the other members), up to about 5(K−1) with
//! INQUIRE, YIELD and FAILED. The textbook's 3√N–5√N assumes K ≈ √N (projective-plane quorums);
//! the grid's K ≈ 2√N − 1 trades messages for quorums anyone can build.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{common_report, request_of, Cost, History, LIVENESS, MUTUAL_EXCLUSION};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Message, NoState, NoTimer, NodeId};
use crate::core::trace::TraceRecord;
use crate::mutex::event::Request;
use crate::mutex::host::{Cs, MutexCtx, MutexNode, MutexRules};
use crate::mutex::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Every message names the request it is about by its timestamp `ts` (the requester is the
/// sender or the receiver).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MaekawaMsg {
    Request { resource: String, ts: u64 },
    Grant { resource: String, ts: u64 },
    Failed { resource: String, ts: u64 },
    Inquire { resource: String, ts: u64 },
    Yield { resource: String, ts: u64 },
    Release { resource: String, ts: u64 },
}

impl Message for MaekawaMsg {
    fn kind(&self) -> &'static str {
        match self {
            MaekawaMsg::Request { .. } => "request",
            MaekawaMsg::Grant { .. } => "grant",
            MaekawaMsg::Failed { .. } => "failed",
            MaekawaMsg::Inquire { .. } => "inquire",
            MaekawaMsg::Yield { .. } => "yield",
            MaekawaMsg::Release { .. } => "release",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaekawaParams {
    pub workload: Workload,
}

impl Params for MaekawaParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()
    }
}

/// The grid quorum of `me` among `ids`: its row and its column in a grid of ⌈√N⌉ columns.
pub fn grid_quorum(me: NodeId, ids: &[NodeId]) -> Vec<NodeId> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let columns = (ids.len() as f64).sqrt().ceil().max(1.0) as usize;
    let at = ids.iter().position(|id| *id == me).expect("me among ids");
    let (row, column) = (at / columns, at % columns);
    ids.iter().enumerate().filter(|(i, _)| i / columns == row || i % columns == column).map(|(_, id)| *id).collect()
}

/// A request's priority: earlier `(T, id)` first.
type Stamp = (u64, NodeId);

/// This node as a voter for one resource.
#[derive(Debug, Default)]
struct Voter {
    voted_for: Option<Stamp>,
    queue: BTreeSet<Stamp>,
    /// Queued requests already told they cannot have the vote now (FAILED, or they yielded it).
    told: BTreeSet<Stamp>,
    /// An INQUIRE to the node voted for is on its way.
    inquired: bool,
}

/// This node as a requester of one resource.
#[derive(Debug, Default)]
struct Ask {
    ts: u64,
    votes: BTreeSet<NodeId>,
    /// Members that said FAILED, or that we yielded to and have not voted for us again.
    failed: BTreeSet<NodeId>,
    /// Members whose INQUIRE waits for our answer.
    inquiries: BTreeSet<NodeId>,
}

/// Maekawa's own events: the node's quorum (`quorum`), and a voter's vote given (`vote`) or
/// taken back (`unvote`, on a release or a yield), `for` the candidate's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum MaekawaEvent {
    Quorum {
        members: Vec<NodeId>,
    },
    Vote {
        resource: String,
        #[serde(rename = "for")]
        candidate: NodeId,
        ts: u64,
    },
    Unvote {
        resource: String,
        #[serde(rename = "for")]
        candidate: NodeId,
        ts: u64,
        /// Not needed to judge a vote taken back, so a trace may leave it out.
        #[serde(default)]
        reason: String,
    },
}

impl Event for MaekawaEvent {}

pub struct MaekawaNode {
    me: NodeId,
    quorum: Vec<NodeId>,
    clock: u64,
    voters: BTreeMap<String, Voter>,
    asks: BTreeMap<String, Ask>,
}

impl MaekawaNode {
    pub fn new(me: NodeId, peers: &[NodeId]) -> Self {
        let mut ids = peers.to_vec();
        ids.push(me);
        MaekawaNode { me, quorum: grid_quorum(me, &ids), clock: 0, voters: BTreeMap::new(), asks: BTreeMap::new() }
    }

    /// Sends `msg` to `to`; a message to itself is handled at once, without the network.
    fn deliver(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, to: NodeId, msg: MaekawaMsg) {
        if to == self.me {
            self.handle(ctx, cs, to, msg);
        } else {
            ctx.send(to, &msg);
        }
    }

    /// As a voter: vote for `stamp`.
    fn vote(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str, stamp: Stamp) {
        let voter = self.voters.entry(resource.to_string()).or_default();
        voter.voted_for = Some(stamp);
        voter.queue.remove(&stamp);
        voter.told.remove(&stamp);
        voter.inquired = false;
        // Everyone still queued comes after the vote: make sure each knows it failed for now.
        let untold: Vec<Stamp> = voter.queue.difference(&voter.told).copied().collect();
        voter.told.extend(untold.iter().copied());
        ctx.emit(&MaekawaEvent::Vote { resource: resource.into(), candidate: stamp.1, ts: stamp.0 });
        self.deliver(ctx, cs, stamp.1, MaekawaMsg::Grant { resource: resource.into(), ts: stamp.0 });
        for (ts, who) in untold {
            self.deliver(ctx, cs, who, MaekawaMsg::Failed { resource: resource.into(), ts });
        }
    }

    /// As a voter: the vote for `stamp` is back (released or yielded); vote for the earliest.
    fn vote_again(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str, stamp: Stamp, reason: &str) {
        ctx.emit(&MaekawaEvent::Unvote {
            resource: resource.into(),
            candidate: stamp.1,
            ts: stamp.0,
            reason: reason.into(),
        });
        let voter = self.voters.entry(resource.to_string()).or_default();
        voter.voted_for = None;
        voter.inquired = false;
        if let Some(next) = voter.queue.first().copied() {
            self.vote(ctx, cs, resource, next);
        }
    }

    fn on_request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str, stamp: Stamp) {
        let voter = self.voters.entry(resource.to_string()).or_default();
        let Some(current) = voter.voted_for else {
            return self.vote(ctx, cs, resource, stamp);
        };
        let earliest_before = voter.queue.first().copied();
        voter.queue.insert(stamp);
        if stamp < current && earliest_before.is_none_or(|e| stamp < e) {
            // Earlier than the vote and everything queued: ask the holder to give the vote back.
            let ask_holder = !voter.inquired;
            voter.inquired = true;
            // The request it overtook is no longer first in line: it fails for now.
            let overtaken = earliest_before.filter(|e| voter.told.insert(*e));
            if ask_holder {
                self.deliver(ctx, cs, current.1, MaekawaMsg::Inquire { resource: resource.into(), ts: current.0 });
            }
            if let Some((ts, who)) = overtaken {
                self.deliver(ctx, cs, who, MaekawaMsg::Failed { resource: resource.into(), ts });
            }
        } else {
            voter.told.insert(stamp);
            self.deliver(ctx, cs, stamp.1, MaekawaMsg::Failed { resource: resource.into(), ts: stamp.0 });
        }
    }

    /// As a requester: give the vote of `voter` back, since we cannot win now.
    fn yield_to(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str, voter: NodeId) {
        let Some(ask) = self.asks.get_mut(resource) else { return };
        if !ask.votes.remove(&voter) {
            return;
        }
        ask.failed.insert(voter);
        let ts = ask.ts;
        self.deliver(ctx, cs, voter, MaekawaMsg::Yield { resource: resource.into(), ts });
    }

    /// As a requester: a FAILED came (or we yielded): answer every waiting INQUIRE with YIELD.
    fn yield_to_inquirers(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let Some(ask) = self.asks.get_mut(resource) else { return };
        for voter in std::mem::take(&mut ask.inquiries) {
            self.yield_to(ctx, cs, resource, voter);
        }
    }

    /// Our current request for `resource`, if `ts` names it.
    fn current(&mut self, resource: &str, ts: u64) -> Option<&mut Ask> {
        self.asks.get_mut(resource).filter(|a| a.ts == ts)
    }

    fn handle(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: MaekawaMsg) {
        match msg {
            MaekawaMsg::Request { resource, ts } => {
                self.clock = self.clock.max(ts);
                self.on_request(ctx, cs, &resource, (ts, from));
            }
            MaekawaMsg::Grant { resource, ts } => {
                let quorum = self.quorum.len();
                let Some(ask) = self.current(&resource, ts) else {
                    // A vote for a request we no longer have: give it straight back.
                    return self.deliver(ctx, cs, from, MaekawaMsg::Release { resource, ts });
                };
                ask.votes.insert(from);
                ask.failed.remove(&from);
                if ask.votes.len() == quorum && cs.wants(&resource) {
                    ask.inquiries.clear(); // inside, we answer them with RELEASE
                    cs.enter(ctx, &resource);
                }
            }
            MaekawaMsg::Failed { resource, ts } => {
                let Some(ask) = self.current(&resource, ts) else { return };
                ask.failed.insert(from);
                self.yield_to_inquirers(ctx, cs, &resource);
            }
            MaekawaMsg::Inquire { resource, ts } => {
                let inside = cs.holds(&resource);
                let Some(ask) = self.current(&resource, ts) else { return };
                if inside || !ask.votes.contains(&from) {
                    return; // stale, or inside: our RELEASE answers it
                }
                if ask.failed.is_empty() {
                    ask.inquiries.insert(from); // we may still win: answer later
                } else {
                    self.yield_to(ctx, cs, &resource, from);
                }
            }
            MaekawaMsg::Yield { resource, ts } => {
                let voter = self.voters.entry(resource.clone()).or_default();
                if voter.voted_for != Some((ts, from)) {
                    return;
                }
                voter.queue.insert((ts, from));
                voter.told.insert((ts, from));
                self.vote_again(ctx, cs, &resource, (ts, from), "yield");
            }
            MaekawaMsg::Release { resource, ts } => {
                let voter = self.voters.entry(resource.clone()).or_default();
                if voter.voted_for == Some((ts, from)) {
                    self.vote_again(ctx, cs, &resource, (ts, from), "release");
                } else {
                    voter.queue.remove(&(ts, from));
                    voter.told.remove(&(ts, from));
                }
            }
        }
    }
}

impl MutexRules for MaekawaNode {
    type Msg = MaekawaMsg;
    type Timer = NoTimer;
    type Durable = NoState;

    fn start(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, _: Option<NoState>) {
        self.clock = 0;
        self.voters.clear();
        self.asks.clear();
        ctx.emit(&MaekawaEvent::Quorum { members: self.quorum.clone() });
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        self.clock += 1;
        let ts = self.clock;
        cs.requested(ctx, Request { ts: Some(ts), quorum: Some(self.quorum.len() as u64), ..Request::of(resource) });
        self.asks.insert(resource.to_string(), Ask { ts, ..Ask::default() });
        for member in self.quorum.clone() {
            self.deliver(ctx, cs, member, MaekawaMsg::Request { resource: resource.into(), ts });
        }
    }

    fn release(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let Some(ask) = self.asks.remove(resource) else { return };
        for member in self.quorum.clone() {
            self.deliver(ctx, cs, member, MaekawaMsg::Release { resource: resource.into(), ts: ask.ts });
        }
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: MaekawaMsg) {
        self.handle(ctx, cs, from, msg);
    }

    fn state(&self) -> Value {
        let voters: serde_json::Map<String, Value> = self
            .voters
            .iter()
            .map(|(r, v)| (r.clone(), json!({ "voted_for": v.voted_for, "queue": v.queue, "inquired": v.inquired })))
            .collect();
        let asks: serde_json::Map<String, Value> = self
            .asks
            .iter()
            .map(|(r, a)| (r.clone(), json!({ "ts": a.ts, "votes": a.votes, "failed": a.failed })))
            .collect();
        json!({ "quorum": self.quorum, "clock": self.clock, "voters": voters, "asks": asks })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Maekawa;

pub const QUORUMS_INTERSECT: PropertyInfo =
    PropertyInfo { name: "quorums_intersect", promise: "every two nodes' quorums share at least one member" };
pub const ONE_VOTE: PropertyInfo =
    PropertyInfo { name: "one_vote", promise: "a voter has at most one outstanding vote per resource" };

impl Spec for Maekawa {
    const NAME: &'static str = "maekawa";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "Maekawa mutex: votes from a grid quorum of ~2√N, INQUIRE/YIELD/FAILED against deadlock (3(K−1)–5(K−1) per entry)";
    type Params = MaekawaParams;

    fn build(me: NodeId, peers: &[NodeId], p: &MaekawaParams) -> Result<impl crate::Process, String> {
        Ok(MutexNode::new(MaekawaNode::new(me, peers), p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            QUORUMS_INTERSECT,
            ONE_VOTE,
            PropertyInfo {
                name: "message_cost",
                promise:
                    "between 3(K−1) and 5(K−1) messages per entry, K the requester's quorum size (≈ 3√N–5√N for K ≈ √N)",
            },
        ]
    }

    fn check(run: &Execution, _p: &MaekawaParams) -> CheckReport {
        let h = History::from_run(run);
        let mut report = common_report(run, &h);
        report.properties.push(quorums_intersect(run));
        report.properties.push(one_vote(run));
        // The quorum size K of each request is in its `request` event.
        let others = |r: &TraceRecord| request_of(r).and_then(|q| q.quorum).unwrap_or(1).saturating_sub(1);
        let (mut lower, mut upper, mut k_sum) = (0, 0, 0);
        for s in &h.sections {
            let k1 = s.request.map_or(0, others);
            lower += if s.end_record().is_some() { 3 * k1 } else { 2 * k1 };
            upper += 5 * k1;
            k_sum += k1;
        }
        for w in &h.pending {
            lower += others(w.request);
            upper += 5 * others(w.request);
        }
        let n = run.nodes.len() as f64;
        let k1 = if h.sections.is_empty() { 0.0 } else { k_sum as f64 / h.sections.len() as f64 };
        let short = format!("3(K−1)–5(K−1) = {:.0}–{:.0}, K = {:.1}", 3.0 * k1, 5.0 * k1, k1 + 1.0);
        let textbook = format!("{short} (3√N–5√N = {:.1}–{:.1} for quorums of √N)", 3.0 * n.sqrt(), 5.0 * n.sqrt());
        let cost = Cost::of(run, &h, &[]);
        report.properties.push(cost.judge("message_cost", lower, upper, &textbook));
        let mut metric = cost.metric(&short, Some(3.0 * k1));
        metric["quorum_size"] = json!(k1 + 1.0);
        report.metrics.insert("messages_per_entry".into(), metric);
        report
    }
}

/// Every pair of quorums (from the `quorum` events) shares a member.
fn quorums_intersect(run: &Execution) -> PropertyResult {
    let mut quorums: BTreeMap<NodeId, (&TraceRecord, BTreeSet<NodeId>)> = BTreeMap::new();
    for (r, e) in run.events::<MaekawaEvent>() {
        if let MaekawaEvent::Quorum { members } = e {
            quorums.insert(r.node, (r, members.into_iter().collect()));
        }
    }
    let list: Vec<_> = quorums.iter().collect();
    for (i, (a, (ra, qa))) in list.iter().enumerate() {
        for (b, (rb, qb)) in &list[i + 1..] {
            if qa.is_disjoint(qb) {
                let detail = format!("the quorums of node {a} {qa:?} and node {b} {qb:?} share no member");
                return PropertyResult::violated(
                    QUORUMS_INTERSECT.name,
                    detail,
                    vec![EventRef::of(ra), EventRef::of(rb)],
                );
            }
        }
    }
    let sizes: Vec<usize> = quorums.values().map(|(_, q)| q.len()).collect();
    let detail = format!(
        "{} quorums of {}–{} members, every pair intersects",
        quorums.len(),
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0)
    );
    let pairs = quorums.len() * quorums.len().saturating_sub(1) / 2;
    PropertyResult::held(QUORUMS_INTERSECT.name, pairs, "two quorums announced to compare", detail)
}

/// No voter votes for a second request of a resource before its vote for the first came back.
fn one_vote(run: &Execution) -> PropertyResult {
    // Per voter and resource: the vote still out, and for whom.
    let mut outstanding: BTreeMap<(NodeId, String), (&TraceRecord, NodeId)> = BTreeMap::new();
    let mut votes = 0;
    for r in &run.records {
        if matches!(r.what, crate::core::trace::What::Start { .. }) {
            outstanding.retain(|(voter, _), _| *voter != r.node); // a restart forgets its votes
            continue;
        }
        let (resource, candidate) = match r.event_as::<MaekawaEvent>() {
            Some(MaekawaEvent::Vote { resource, candidate, .. }) => (resource, candidate),
            Some(MaekawaEvent::Unvote { resource, .. }) => {
                outstanding.remove(&(r.node, resource));
                continue;
            }
            _ => continue,
        };
        votes += 1;
        if let Some((earlier, before)) = outstanding.insert((r.node, resource.clone()), (r, candidate)) {
            let detail = format!(
                "node {} voted for node {candidate} on {resource:?} at {:.1} ms while its vote for node {before} (at {:.1} ms) was still out",
                r.node,
                run.ms(r.t),
                run.ms(earlier.t)
            );
            return PropertyResult::violated(ONE_VOTE.name, detail, vec![EventRef::of(earlier), EventRef::of(r)]);
        }
    }
    let detail = format!("{votes} vote(s), never two outstanding at one voter for one resource");
    PropertyResult::held(ONE_VOTE.name, votes, "vote was cast", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_quorums_intersect_for_every_cluster_size() {
        for n in 1..=40u32 {
            let ids: Vec<NodeId> = (1..=n).collect();
            let quorums: Vec<BTreeSet<NodeId>> =
                ids.iter().map(|i| grid_quorum(*i, &ids).into_iter().collect()).collect();
            for (i, a) in quorums.iter().enumerate() {
                assert!(a.contains(&ids[i]), "n={n}: node {} is in its own quorum", ids[i]);
                for b in &quorums {
                    assert!(!a.is_disjoint(b), "n={n}: {a:?} and {b:?}");
                }
            }
            let k = (n as f64).sqrt().ceil() as usize;
            assert!(quorums.iter().all(|q| q.len() < 2 * k), "n={n}: at most a row and a column");
        }
    }
}

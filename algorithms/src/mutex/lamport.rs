//! Lamport's mutual exclusion (1978): every process keeps the same queue of requests, ordered by
//! totally ordered Lamport timestamps, and the request at the head goes first.
//!
//! Rules, as the course states them:
//! - Each process keeps a Lamport clock: it ticks before every send, every message carries it, and
//!   a receive sets it to `max(own, received) + 1`. Ties break by process id, so `(T, id)` orders
//!   all requests totally and every process decides the same way.
//! - Request R: P_i sends REQUEST(R, T_i) to all and puts the request on its own queue for R.
//! - P_j receiving a REQUEST puts it on its queue for R and returns a timestamped REPLY.
//! - P_i enters when its request heads its queue for R and it has received a message later than
//!   T_i from every other process (every REPLY is in; channels are FIFO, so no request with an
//!   earlier timestamp can still be on its way).
//! - Release: P_i removes its request and sends RELEASE(R) to all, who remove it from their queues.
//!
//! Promise: mutual exclusion; entries in `(T, id)` order; 3(N−1) messages per entry (N−1 each of
//! REQUEST, REPLY, RELEASE). Needs reliable FIFO channels and live processes: one crash blocks all.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{permission_report, FAIRNESS, LIVENESS, MUTUAL_EXCLUSION};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Message, NoState, NoTimer, NodeId};
use crate::mutex::event::Request;
use crate::mutex::host::{Cs, MutexCtx, MutexNode, MutexRules};
use crate::mutex::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Every message carries the sender's Lamport clock `ts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LamportMsg {
    Request { resource: String, ts: u64 },
    Reply { resource: String, ts: u64 },
    Release { resource: String, ts: u64 },
}

impl Message for LamportMsg {
    fn kind(&self) -> &'static str {
        match self {
            LamportMsg::Request { .. } => "request",
            LamportMsg::Reply { .. } => "reply",
            LamportMsg::Release { .. } => "release",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LamportParams {
    pub workload: Workload,
}

impl Params for LamportParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()
    }
}

pub struct LamportNode {
    me: NodeId,
    peers: Vec<NodeId>,
    /// The Lamport clock.
    clock: u64,
    /// The latest timestamp received from each peer, on any message.
    latest: BTreeMap<NodeId, u64>,
    /// The replicated queue of each resource: `(T, id)` of every request not yet released.
    queues: BTreeMap<String, BTreeSet<(u64, NodeId)>>,
    /// This node's own open request per resource: its timestamp.
    mine: BTreeMap<String, u64>,
}

impl LamportNode {
    pub fn new(me: NodeId, peers: &[NodeId]) -> Self {
        LamportNode {
            me,
            peers: peers.to_vec(),
            clock: 0,
            latest: BTreeMap::new(),
            queues: BTreeMap::new(),
            mine: BTreeMap::new(),
        }
    }

    /// Ticks the clock for a send and returns the message's timestamp.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// A message stamped `ts` arrived from `from`.
    fn receive(&mut self, from: NodeId, ts: u64) {
        self.clock = self.clock.max(ts) + 1;
        let latest = self.latest.entry(from).or_insert(0);
        *latest = (*latest).max(ts);
    }

    /// Enters every resource whose own request heads the queue and is acknowledged by all.
    fn enter_if_first(&mut self, ctx: &mut MutexCtx, cs: &mut Cs) {
        for (resource, &ts) in &self.mine {
            let heads = self.queues.get(resource).and_then(|q| q.first()) == Some(&(ts, self.me));
            let all_later = self.peers.iter().all(|p| self.latest.get(p).is_some_and(|l| *l > ts));
            if heads && all_later && cs.wants(resource) {
                cs.enter(ctx, resource);
            }
        }
    }
}

impl MutexRules for LamportNode {
    type Msg = LamportMsg;
    type Timer = NoTimer;
    type Durable = NoState;

    fn start(&mut self, _ctx: &mut MutexCtx, _cs: &mut Cs, _: Option<NoState>) {
        *self = LamportNode::new(self.me, &self.peers);
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let ts = self.tick();
        cs.requested(ctx, Request { ts: Some(ts), ..Request::of(resource) });
        self.mine.insert(resource.to_string(), ts);
        self.queues.entry(resource.to_string()).or_default().insert((ts, self.me));
        ctx.broadcast(&LamportMsg::Request { resource: resource.into(), ts });
        self.enter_if_first(ctx, cs); // alone in the cluster: nobody to wait for
    }

    fn release(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, resource: &str) {
        if let Some(ts) = self.mine.remove(resource) {
            self.queues.entry(resource.to_string()).or_default().remove(&(ts, self.me));
        }
        let ts = self.tick();
        ctx.broadcast(&LamportMsg::Release { resource: resource.into(), ts });
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: LamportMsg) {
        match msg {
            LamportMsg::Request { resource, ts } => {
                self.receive(from, ts);
                self.queues.entry(resource.clone()).or_default().insert((ts, from));
                let reply = self.tick();
                ctx.send(from, &LamportMsg::Reply { resource, ts: reply });
            }
            LamportMsg::Reply { ts, .. } => self.receive(from, ts),
            LamportMsg::Release { resource, ts } => {
                self.receive(from, ts);
                // `from` has at most one request per resource in the queue.
                self.queues.entry(resource).or_default().retain(|(_, id)| *id != from);
            }
        }
        self.enter_if_first(ctx, cs);
    }

    fn state(&self) -> Value {
        let queues: serde_json::Map<String, Value> =
            self.queues.iter().map(|(r, q)| (r.clone(), json!(q.iter().collect::<Vec<_>>()))).collect();
        json!({ "clock": self.clock, "queues": queues, "mine": self.mine })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Lamport;

impl Spec for Lamport {
    const NAME: &'static str = "lamport";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "Lamport's mutex: replicated request queues in Lamport-timestamp order (3(N−1) messages per entry)";
    type Params = LamportParams;

    fn build(me: NodeId, peers: &[NodeId], p: &LamportParams) -> Result<impl crate::Process, String> {
        Ok(MutexNode::new(LamportNode::new(me, peers), p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            FAIRNESS,
            PropertyInfo {
                name: "message_cost",
                promise: "3(N−1) messages per entry: N−1 requests, N−1 replies, N−1 releases",
            },
        ]
    }

    fn check(run: &Execution, _p: &LamportParams) -> CheckReport {
        // Left: 3(N−1). Inside at the end: requests and replies, 2(N−1).
        permission_report(run, 3, 2, "3(N−1)")
    }
}

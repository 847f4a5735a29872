//! Ricart–Agrawala (1981): permission from everyone, with replies held back instead of releases.
//!
//! Rules, as the course states them:
//! - To enter R, P_i multicasts REQUEST(R, i, T_i), with T_i a Lamport timestamp (one more than
//!   the highest it has seen; ties broken by id, so `(T, id)` orders requests totally), and waits
//!   until every other process has sent a REPLY.
//! - P_j receiving REQUEST(R, i, T_i):
//!   - not interested in R: reply at once;
//!   - in the critical section of R: do not reply; queue the request;
//!   - also waiting for R: the earlier `(T, id)` wins. If P_j loses, it replies; if it wins, it
//!     queues the request without replying.
//! - On leaving R: reply to every queued request.
//!
//! Promise: mutual exclusion (two competing processes never reply to each other); entries in
//! `(T, id)` order; 2(N−1) messages per entry, against Lamport's 3(N−1): the deferred reply
//! doubles as the release.

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaMsg {
    Request { resource: String, ts: u64 },
    Reply { resource: String },
}

impl Message for RaMsg {
    fn kind(&self) -> &'static str {
        match self {
            RaMsg::Request { .. } => "request",
            RaMsg::Reply { .. } => "reply",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaParams {
    pub workload: Workload,
}

impl Params for RaParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()
    }
}

/// This node's interest in one resource.
#[derive(Debug, Default)]
struct Interest {
    /// Our request's timestamp while we want or hold the resource.
    ts: Option<u64>,
    /// Peers that replied to our request.
    replies: BTreeSet<NodeId>,
    /// Requests we hold back until we leave.
    deferred: Vec<NodeId>,
}

pub struct RaNode {
    me: NodeId,
    peers: Vec<NodeId>,
    /// The highest timestamp seen, ours included.
    highest: u64,
    interests: BTreeMap<String, Interest>,
}

impl RaNode {
    pub fn new(me: NodeId, peers: &[NodeId]) -> Self {
        RaNode { me, peers: peers.to_vec(), highest: 0, interests: BTreeMap::new() }
    }

    fn enter_if_everyone_replied(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let everyone = self.interests.get(resource).is_some_and(|i| i.replies.len() == self.peers.len());
        if everyone && cs.wants(resource) {
            cs.enter(ctx, resource);
        }
    }
}

impl MutexRules for RaNode {
    type Msg = RaMsg;
    type Timer = NoTimer;
    type Durable = NoState;

    fn start(&mut self, _ctx: &mut MutexCtx, _cs: &mut Cs, _: Option<NoState>) {
        *self = RaNode::new(self.me, &self.peers);
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        self.highest += 1;
        let ts = self.highest;
        cs.requested(ctx, Request { ts: Some(ts), ..Request::of(resource) });
        let interest = self.interests.entry(resource.to_string()).or_default();
        interest.ts = Some(ts);
        interest.replies.clear();
        ctx.broadcast(&RaMsg::Request { resource: resource.into(), ts });
        self.enter_if_everyone_replied(ctx, cs, resource); // alone in the cluster
    }

    fn release(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, resource: &str) {
        let interest = self.interests.entry(resource.to_string()).or_default();
        interest.ts = None;
        for to in std::mem::take(&mut interest.deferred) {
            ctx.send(to, &RaMsg::Reply { resource: resource.into() });
        }
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: RaMsg) {
        match msg {
            RaMsg::Request { resource, ts } => {
                self.highest = self.highest.max(ts);
                let me = self.me;
                let interest = self.interests.entry(resource.clone()).or_default();
                // We hold it, or we want it and our request is the earlier one: we win, and wait.
                let we_win = match interest.ts {
                    Some(_) if cs.holds(&resource) => true,
                    Some(ours) => (ours, me) < (ts, from),
                    None => false,
                };
                if we_win {
                    interest.deferred.push(from);
                } else {
                    ctx.send(from, &RaMsg::Reply { resource });
                }
            }
            RaMsg::Reply { resource } => {
                let interest = self.interests.entry(resource.clone()).or_default();
                if interest.ts.is_some() {
                    interest.replies.insert(from);
                }
                self.enter_if_everyone_replied(ctx, cs, &resource);
            }
        }
    }

    fn state(&self) -> Value {
        let interests: serde_json::Map<String, Value> = self
            .interests
            .iter()
            .map(|(r, i)| (r.clone(), json!({ "ts": i.ts, "replies": i.replies, "deferred": i.deferred })))
            .collect();
        json!({ "highest": self.highest, "interests": interests })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct RicartAgrawala;

impl Spec for RicartAgrawala {
    const NAME: &'static str = "ricart-agrawala";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "Ricart–Agrawala mutex: permission from all, replies deferred by the winner (2(N−1) messages per entry)";
    type Params = RaParams;

    fn build(me: NodeId, peers: &[NodeId], p: &RaParams) -> Result<impl crate::Process, String> {
        Ok(MutexNode::new(RaNode::new(me, peers), p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            FAIRNESS,
            PropertyInfo {
                name: "message_cost", promise: "2(N−1) messages per entry: N−1 requests, N−1 replies"
            },
        ]
    }

    fn check(run: &Execution, _p: &RaParams) -> CheckReport {
        // Entered (left or not): 2(N−1); a request still waiting has fewer than N−1 replies (the
        // last one may be on its way).
        permission_report(run, 2, 2, "2(N−1)")
    }
}

//! Centralized mutual exclusion: one coordinator hands out each resource, like a lock server.
//!
//! Rules, as the course states them ("Centralized Algorithms"):
//! - A process that wants resource R sends REQUEST(R) to the coordinator C and waits.
//! - C answers GRANT(R) if nobody holds R. Otherwise C does not reply: it puts the request at the
//!   back of R's FIFO queue.
//! - The holder uses R, then sends RELEASE(R) to C, which grants R to the head of the queue.
//! - C is a client too: its own requests join the same queue without any message.
//!
//! Promise: mutual exclusion; grants in the order requests arrived at C; 3 messages per entry
//! (2 to enter, 1 to exit); synchronization delay 2T (a release, then a grant). The coordinator is
//! a single point of failure: when it dies every resource is blocked, so no crash is claimed.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{common_report, message_field, sends_by_id, Cost, History, LIVENESS, MUTUAL_EXCLUSION};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{Message, NoState, NoTimer, NodeId};
use crate::core::trace::What;
use crate::mutex::event::{MutexEvent, Request};
use crate::mutex::host::{Cs, MutexCtx, MutexNode, MutexRules};
use crate::mutex::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CentralMsg {
    Request { resource: String },
    Grant { resource: String },
    Release { resource: String },
}

impl Message for CentralMsg {
    fn kind(&self) -> &'static str {
        match self {
            CentralMsg::Request { .. } => "request",
            CentralMsg::Grant { .. } => "grant",
            CentralMsg::Release { .. } => "release",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CentralParams {
    pub workload: Workload,
    /// The coordinator's id. It serves and does not run the workload (commands still work there).
    pub coordinator: NodeId,
}

impl Default for CentralParams {
    fn default() -> Self {
        CentralParams { workload: Workload::default(), coordinator: 1 }
    }
}

impl Params for CentralParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()
    }
}

/// The coordinator's book for one resource.
#[derive(Debug, Default)]
struct Lock {
    holder: Option<NodeId>,
    queue: VecDeque<NodeId>,
}

pub struct CentralNode {
    me: NodeId,
    coordinator: NodeId,
    /// Only used at the coordinator.
    locks: BTreeMap<String, Lock>,
}

impl CentralNode {
    fn is_coordinator(&self) -> bool {
        self.me == self.coordinator
    }

    /// At the coordinator: `who` asks for `resource`.
    fn on_request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, who: NodeId, resource: &str) {
        let lock = self.locks.entry(resource.to_string()).or_default();
        if lock.holder.is_none() {
            lock.holder = Some(who);
            self.grant(ctx, cs, who, resource);
        } else {
            lock.queue.push_back(who);
        }
    }

    /// At the coordinator: `who` gives `resource` back; the head of the queue gets it.
    fn on_release(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, who: NodeId, resource: &str) {
        let lock = self.locks.entry(resource.to_string()).or_default();
        if lock.holder != Some(who) {
            return; // not the holder: nothing to give back
        }
        lock.holder = lock.queue.pop_front();
        if let Some(next) = lock.holder {
            self.grant(ctx, cs, next, resource);
        }
    }

    fn grant(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, to: NodeId, resource: &str) {
        if to == self.me {
            cs.enter(ctx, resource);
        } else {
            ctx.send(to, &CentralMsg::Grant { resource: resource.into() });
        }
    }
}

impl MutexRules for CentralNode {
    type Msg = CentralMsg;
    type Timer = NoTimer;
    type Durable = NoState;

    fn start(&mut self, _ctx: &mut MutexCtx, _cs: &mut Cs, _: Option<NoState>) {
        self.locks.clear();
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        cs.requested(ctx, Request::of(resource));
        if self.is_coordinator() {
            self.on_request(ctx, cs, self.me, resource);
        } else {
            ctx.send(self.coordinator, &CentralMsg::Request { resource: resource.into() });
        }
    }

    fn release(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        if self.is_coordinator() {
            self.on_release(ctx, cs, self.me, resource);
        } else {
            ctx.send(self.coordinator, &CentralMsg::Release { resource: resource.into() });
        }
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: CentralMsg) {
        match msg {
            CentralMsg::Request { resource } if self.is_coordinator() => self.on_request(ctx, cs, from, &resource),
            CentralMsg::Release { resource } if self.is_coordinator() => self.on_release(ctx, cs, from, &resource),
            CentralMsg::Grant { resource } if from == self.coordinator && cs.wants(&resource) => {
                cs.enter(ctx, &resource)
            }
            _ => {} // misdirected or stale: ignore
        }
    }

    fn runs_workload(&self) -> bool {
        !self.is_coordinator()
    }

    fn leader(&self) -> Option<NodeId> {
        Some(self.coordinator)
    }

    fn state(&self) -> Value {
        let locks: serde_json::Map<String, Value> =
            self.locks.iter().map(|(r, l)| (r.clone(), json!({ "holder": l.holder, "queue": l.queue }))).collect();
        json!({ "coordinator": self.coordinator, "locks": locks })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Central;

pub const FIFO_GRANTS: PropertyInfo = PropertyInfo {
    name: "fifo_grants",
    promise: "the coordinator grants each resource in the order the requests arrived",
};

impl Spec for Central {
    const NAME: &'static str = "central";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "centralized mutex: a coordinator grants each resource from a FIFO queue (3 messages per entry)";
    type Params = CentralParams;

    fn build(me: NodeId, peers: &[NodeId], p: &CentralParams) -> Result<impl crate::Process, String> {
        if p.coordinator != me && !peers.contains(&p.coordinator) {
            return Err(format!("params.coordinator: node {} is not in the cluster", p.coordinator));
        }
        let rules = CentralNode { me, coordinator: p.coordinator, locks: BTreeMap::new() };
        Ok(MutexNode::new(rules, p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            FIFO_GRANTS,
            PropertyInfo { name: "message_cost", promise: "3 messages per entry: request, grant, release" },
        ]
    }

    fn check(run: &Execution, p: &CentralParams) -> CheckReport {
        let h = History::from_run(run);
        let mut report = common_report(run, &h);
        report.properties.push(fifo_grants(run, p.coordinator));
        // The coordinator's own entries cost nothing; every other entry exactly 3 messages, and
        // a request still open at the end 1 or 2 (request, and maybe its grant).
        let remote = |node: NodeId| node != p.coordinator;
        let entered = h.sections.iter().filter(|s| remote(s.node)).count() as u64;
        let exited = h.sections.iter().filter(|s| remote(s.node) && s.end_record().is_some()).count() as u64;
        let waiting = h.pending.iter().filter(|w| remote(w.node)).count() as u64;
        let mut cost = Cost::of(run, &h, &[]);
        cost.entries = entered as usize;
        let lower = 3 * exited + 2 * (entered - exited) + waiting;
        let upper = 3 * entered + 2 * waiting;
        report.properties.push(cost.judge("message_cost", lower, upper, "3 per entry (request, grant, release)"));
        report.metrics.insert("messages_per_entry".into(), cost.metric("3", Some(3.0)));
        report
    }
}

/// At the coordinator, the grants of each resource follow the order its requests arrived.
fn fifo_grants(run: &Execution, coordinator: NodeId) -> PropertyResult {
    let sends = sends_by_id(run);
    let mut queues: BTreeMap<String, VecDeque<(NodeId, EventRef)>> = BTreeMap::new();
    let mut grants = 0;
    for r in run.records.iter().filter(|r| r.node == coordinator) {
        // (who asked or was granted, resource, whether it is a grant)
        let step = match &r.what {
            What::Start { .. } => {
                queues.clear(); // a restarted coordinator starts with empty queues
                continue;
            }
            What::Recv { from, msg_type, msg_lc } if msg_type == "request" => {
                sends.get(&(*from, *msg_lc)).and_then(|m| message_field(m, "resource")).map(|res| (*from, res, false))
            }
            What::Send { to, msg_type, msg } if msg_type == "grant" => {
                message_field(msg, "resource").map(|res| (*to, res, true))
            }
            What::Event { .. } => match r.event_as::<MutexEvent>() {
                Some(MutexEvent::Request(Request { resource, .. })) => Some((coordinator, resource, false)),
                Some(MutexEvent::EnterCs { resource }) => Some((coordinator, resource, true)),
                _ => None,
            },
            _ => None,
        };
        let Some((who, resource, is_grant)) = step else { continue };
        let queue = queues.entry(resource.clone()).or_default();
        if !is_grant {
            queue.push_back((who, EventRef::of(r)));
            continue;
        }
        grants += 1;
        match queue.pop_front() {
            Some((first, _)) if first == who => {}
            first => {
                let detail = match &first {
                    Some((first, _)) => format!(
                        "{resource:?} granted to node {who} at {:.1} ms, but node {first}'s request had arrived first",
                        run.ms(r.t)
                    ),
                    None => format!("{resource:?} granted to node {who} at {:.1} ms without a request", run.ms(r.t)),
                };
                let evidence = first.into_iter().map(|(_, e)| e).chain([EventRef::of(r)]).collect();
                return PropertyResult::violated(FIFO_GRANTS.name, detail, evidence);
            }
        }
    }
    let detail = format!("{grants} grant(s) by coordinator {coordinator}, each to the oldest waiting request");
    PropertyResult::held(FIFO_GRANTS.name, grants, &format!("grant: coordinator {coordinator} granted nothing"), detail)
}

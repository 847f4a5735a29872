//! LeLann's ring election (1977), as the course presents it: the election message collects every
//! id on its way round the ring, and the initiator, when it comes back, picks the highest.
//!
//! Rules, as the course states them (the ring is the id order; see [`crate::election::ring`] for how a dead
//! successor is skipped):
//! - An initiator marks itself a *participant* and sends ELECTION([its id]) to its successor.
//! - A process receiving someone else's ELECTION(ids) marks itself a participant (so it calls no
//!   election of its own meanwhile), appends its id and passes the message on: every id travels
//!   the rest of the way round the ring.
//! - When its own ELECTION comes back, the initiator holds every live id: it picks the highest as
//!   leader and sends COORDINATOR(leader) round the ring; every process records the leader and
//!   stops being a participant; the message stops when it is back at the initiator. The process
//!   picked learns it is *elected*.
//! - Several initiators run their elections side by side: each message goes all the way round, and
//!   each initiator announces the same highest id.
//! - A process that hears a lower id announced knows the election skipped it (it looked dead):
//!   it swallows the announcement and calls a new election, as the bully algorithm's higher
//!   processes do.
//! - Processes call an election when they start and when the leader's heartbeats stop; a
//!   participant that sees no result within `election_timeout` calls one itself. Each election
//!   message carries a random tag, so one from an earlier election that comes back is dropped.
//!
//! By attribute, every process appends its attribute beside its id, and the initiator picks the
//! best (attribute, id); the announcement carries the leader's attribute for the same comparison.
//!
//! Promise: exactly one process is elected, the highest live id, and every live process learns
//! it. Cost: 2n messages per initiator (n ELECTION hops, n COORDINATOR hops), so 2n² = O(n²) when
//! all initiate.

use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, Message, NodeId, MS};
use crate::election::event::{ElectionEvent, Started};
use crate::election::ring::{check_ring, Ring, RingElection, RingFacts, RingNode, RingParams, RingTimer, Watch};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LeLannMsg {
    /// An initiator's election: the ids it has passed, the initiator's first, and in an election
    /// by attribute their attributes in the same order (empty, and left off the wire, without).
    Election {
        ids: Vec<NodeId>,
        tag: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attributes: Vec<u64>,
    },
    /// The initiator's pick, on its way round, with its attribute (0 without attributes).
    Coordinator {
        leader: NodeId,
        initiator: NodeId,
        #[serde(default, skip_serializing_if = "is_zero")]
        attribute: u64,
    },
}

fn is_zero(a: &u64) -> bool {
    *a == 0
}

impl Message for LeLannMsg {
    fn kind(&self) -> &'static str {
        match self {
            LeLannMsg::Election { .. } => "election",
            LeLannMsg::Coordinator { .. } => "coordinator",
        }
    }
}

pub struct LeLannNode {
    me: NodeId,
    params: RingParams,
    ring: Ring<LeLannMsg>,
    watch: Watch,
    participant: bool,
    /// The tag of this process's own election while its message is on its way round.
    initiated: Option<u32>,
}

impl LeLannNode {
    pub fn new(me: NodeId, peers: &[NodeId], params: RingParams) -> Self {
        let ring = Ring::new(me, peers, params.ack_timeout_ms * MS);
        let watch = Watch::new(me, params.clone());
        LeLannNode { me, params, ring, watch, participant: false, initiated: None }
    }

    fn initiate(&mut self, ctx: &mut Ctx<RingTimer>) {
        if self.participate(ctx, true) {
            let tag = ctx.rng().random();
            self.initiated = Some(tag);
            let attributes = self.my_attribute().into_iter().collect();
            let back = self.ring.send(ctx, LeLannMsg::Election { ids: vec![self.me], tag, attributes });
            self.bounced(ctx, back);
        }
    }

    /// This process's attribute, in an election by attribute.
    fn my_attribute(&self) -> Option<u64> {
        (!self.params.attributes.is_empty()).then(|| self.params.attributes.of(self.me))
    }

    /// Becomes a participant; false if it already was one.
    fn participate(&mut self, ctx: &mut Ctx<RingTimer>, initiator: bool) -> bool {
        if self.participant {
            return false;
        }
        self.participant = true;
        self.ring.fresh_round();
        ctx.emit(&ElectionEvent::ElectionStarted(Started { initiator: Some(initiator), ..Started::default() }));
        self.watch.hold(ctx);
        ctx.set_timer(RingTimer::Election, self.params.election_timeout_ms * MS);
        true
    }

    fn take_leader(&mut self, ctx: &mut Ctx<RingTimer>, leader: NodeId) {
        self.participant = false;
        ctx.cancel_timer(RingTimer::Election);
        if leader == self.me && self.watch.leader() != Some(self.me) {
            ctx.emit(&ElectionEvent::elected_by(self.me, &self.params.attributes));
        }
        self.watch.take::<LeLannMsg>(ctx, leader);
    }

    fn on_ring(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, msg: LeLannMsg) {
        let back = match msg {
            LeLannMsg::Election { mut ids, tag, mut attributes } => {
                for id in &ids {
                    self.ring.alive(*id);
                }
                if ids[0] != self.me {
                    self.participate(ctx, false);
                    ids.push(self.me);
                    attributes.extend(self.my_attribute());
                    self.ring.forward(ctx, hops, LeLannMsg::Election { ids, tag, attributes })
                } else if self.initiated == Some(tag) {
                    // Home: it passed every live process; the best (attribute, id) leads.
                    self.initiated = None;
                    let ranks = ids.iter().enumerate().map(|(i, id)| (attributes.get(i).copied().unwrap_or(0), *id));
                    let (attribute, leader) = ranks.max().expect("its own id at least");
                    self.take_leader(ctx, leader);
                    self.ring.send(ctx, LeLannMsg::Coordinator { leader, initiator: self.me, attribute })
                } else {
                    None // an election of an earlier life or an abandoned one
                }
            }
            LeLannMsg::Coordinator { initiator, .. } if initiator == self.me => None,
            // A lower id announced to a live higher one: the election skipped this process (a
            // lost acknowledgement made it look dead). It calls a new one, which it will win.
            LeLannMsg::Coordinator { leader, attribute, .. }
                if (attribute, leader) < (self.params.attributes.of(self.me), self.me) =>
            {
                self.ring.alive(leader);
                self.participant = false;
                self.initiate(ctx);
                None
            }
            LeLannMsg::Coordinator { leader, initiator, attribute } => {
                self.ring.alive(leader);
                self.take_leader(ctx, leader);
                self.ring.forward(ctx, hops, LeLannMsg::Coordinator { leader, initiator, attribute })
            }
        };
        self.bounced(ctx, back);
    }
}

impl RingElection for LeLannNode {
    type Body = LeLannMsg;
    const NAME: &'static str = "lelann";

    fn me(&self) -> NodeId {
        self.me
    }

    fn ring(&mut self) -> &mut Ring<LeLannMsg> {
        &mut self.ring
    }

    fn watch(&self) -> &Watch {
        &self.watch
    }

    fn watch_mut(&mut self) -> &mut Watch {
        &mut self.watch
    }

    fn participant(&self) -> bool {
        self.participant
    }

    fn initiate(&mut self, ctx: &mut Ctx<RingTimer>) {
        LeLannNode::initiate(self, ctx)
    }

    fn on_ring(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, msg: LeLannMsg) {
        LeLannNode::on_ring(self, ctx, hops, msg)
    }

    fn abandon(&mut self) {
        self.participant = false;
        self.initiated = None;
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct LeLann;

pub const FACTS: RingFacts = RingFacts {
    election_types: &["election", "coordinator"],
    worst: |n, initiators| 2 * n * initiators,
    textbook: |n| {
        json!({
            "per_initiator": 2 * n,
            "all_initiating": 2 * n * n,
            "figure": format!(
                "2n = {} per initiator (n ELECTION + n COORDINATOR hops); 2n² = {} with all initiating, O(n²); acknowledgements of the ring's repair counted apart",
                2 * n,
                2 * n * n
            ),
        })
    },
};

impl Spec for LeLann {
    const NAME: &'static str = "lelann";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "LeLann ring election: the message collects every id (and attribute) round the ring; the initiator picks the best";
    const BY_ATTRIBUTE: bool = true;
    type Params = RingParams;

    fn build(me: NodeId, peers: &[NodeId], params: &RingParams) -> Result<impl crate::Process, String> {
        Ok(RingNode(LeLannNode::new(me, peers, params.clone())))
    }

    fn properties() -> Vec<PropertyInfo> {
        crate::election::ring::properties(
            "an election costs at most 2n messages per initiator (2n² with all initiating)",
        )
    }

    fn check(run: &Execution, params: &RingParams) -> CheckReport {
        check_ring(run, params, &FACTS)
    }
}

//! Chang–Roberts ring election (1979): the highest id wins, and smaller ids are swallowed on the
//! way, so far fewer messages travel than in LeLann's algorithm.
//!
//! By attribute, ELECTION and ELECTED carry (attribute, id) and "above"/"below" compare those
//! pairs: the best attribute wins, ties to the higher id.
//!
//! Rules, as the course states them (the ring is the id order; see [`crate::election::ring`] for how a dead
//! successor is skipped):
//! - An initiator marks itself a *participant* and sends ELECTION(its id) to its successor.
//! - A process receiving ELECTION(j):
//!   - j above its own id: it passes the message on and becomes a participant;
//!   - j below its own id: if not yet a participant it replaces j by its own id, passes that on
//!     and becomes a participant; if already a participant it swallows the message;
//!   - j its own id: its id went all the way round, so it is the highest: it is *elected*, stops
//!     being a participant and sends ELECTED(its id) round the ring.
//! - A process receiving ELECTED(j) for another j records j as leader, stops being a participant
//!   and passes it on; the leader, receiving its own ELECTED back, knows everyone has heard.
//! - A process that hears a lower id announced knows the election skipped it (it looked dead):
//!   it swallows the announcement and calls a new election, as the bully algorithm's higher
//!   processes do.
//! - Processes call an election when they start (a restarted process does not know the leader,
//!   and may be the highest) and when the leader's heartbeats stop; a participant that sees no
//!   result within `election_timeout` starts over.
//!
//! Promise: exactly one process is elected, the highest live id, and every live process learns
//! it. Cost: with one initiator at most 3n−1 messages (n−1 to reach the highest, n for its own id,
//! n for ELECTED); with all initiating n·H(n) ≈ n ln n election messages on average and n(n+1)/2
//! at worst, plus n for ELECTED.

use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::election::Rank;
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, Message, NodeId, MS};
use crate::election::event::{ElectionEvent, Started};
use crate::election::ring::{check_ring, Ring, RingElection, RingFacts, RingNode, RingParams, RingTimer, Watch};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `attribute` is the candidate's, in an election by attribute (0, and left off the wire, without).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CrMsg {
    Election {
        id: NodeId,
        #[serde(default, skip_serializing_if = "is_zero")]
        attribute: u64,
    },
    Elected {
        id: NodeId,
        #[serde(default, skip_serializing_if = "is_zero")]
        attribute: u64,
    },
}

fn is_zero(a: &u64) -> bool {
    *a == 0
}

impl Message for CrMsg {
    fn kind(&self) -> &'static str {
        match self {
            CrMsg::Election { .. } => "election",
            CrMsg::Elected { .. } => "elected",
        }
    }
}

pub struct ChangRobertsNode {
    me: NodeId,
    params: RingParams,
    ring: Ring<CrMsg>,
    watch: Watch,
    participant: bool,
}

impl ChangRobertsNode {
    pub fn new(me: NodeId, peers: &[NodeId], params: RingParams) -> Self {
        let ring = Ring::new(me, peers, params.ack_timeout_ms * MS);
        let watch = Watch::new(me, params.clone());
        ChangRobertsNode { me, params, ring, watch, participant: false }
    }

    fn initiate(&mut self, ctx: &mut Ctx<RingTimer>) {
        if self.participate(ctx, true) {
            let back = self.ring.send(ctx, CrMsg::Election { id: self.me, attribute: self.attribute() });
            self.bounced(ctx, back);
        }
    }

    fn attribute(&self) -> u64 {
        self.params.attributes.of(self.me)
    }

    /// This process's (attribute, id), to compare with a message's.
    fn rank(&self) -> Rank {
        (self.attribute(), self.me)
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

    fn on_ring(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, msg: CrMsg) {
        let back = match msg {
            CrMsg::Election { id, attribute } => {
                self.ring.alive(id);
                if (attribute, id) > self.rank() {
                    self.participate(ctx, false);
                    self.ring.forward(ctx, hops, msg)
                } else if id != self.me {
                    if self.participate(ctx, false) {
                        self.ring.send(ctx, CrMsg::Election { id: self.me, attribute: self.attribute() })
                    } else {
                        None // swallowed: this process's own, higher id is already on its way
                    }
                } else {
                    self.participant = false;
                    ctx.cancel_timer(RingTimer::Election);
                    ctx.emit(&ElectionEvent::elected_by(self.me, &self.params.attributes));
                    self.watch.take::<CrMsg>(ctx, self.me);
                    self.ring.send(ctx, CrMsg::Elected { id: self.me, attribute: self.attribute() })
                }
            }
            // The announcement came back: every live process has heard it.
            CrMsg::Elected { id, .. } if id == self.me => None,
            // A lower id announced to a live higher one: the election skipped this process (a
            // lost acknowledgement made it look dead). It calls a new one, which it will win.
            CrMsg::Elected { id, attribute } if (attribute, id) < self.rank() => {
                self.ring.alive(id);
                self.participant = false;
                self.initiate(ctx);
                None
            }
            CrMsg::Elected { id, .. } => {
                self.ring.alive(id);
                self.participant = false;
                ctx.cancel_timer(RingTimer::Election);
                self.watch.take::<CrMsg>(ctx, id);
                self.ring.forward(ctx, hops, msg)
            }
        };
        self.bounced(ctx, back);
    }
}

impl RingElection for ChangRobertsNode {
    type Body = CrMsg;
    const NAME: &'static str = "chang-roberts";

    fn me(&self) -> NodeId {
        self.me
    }

    fn ring(&mut self) -> &mut Ring<CrMsg> {
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
        ChangRobertsNode::initiate(self, ctx)
    }

    fn on_ring(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, msg: CrMsg) {
        ChangRobertsNode::on_ring(self, ctx, hops, msg)
    }

    fn abandon(&mut self) {
        self.participant = false;
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct ChangRoberts;

pub const FACTS: RingFacts = RingFacts {
    election_types: &["election", "elected"],
    worst: |n, initiators| if initiators <= 1 { 3 * n - 1 } else { n * (n + 1) / 2 + n },
    textbook: |n| {
        let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        json!({
            "one_initiator_worst": 3 * n - 1,
            "all_initiating_average": (n as f64 * harmonic * 10.0).round() / 10.0 + n as f64,
            "all_initiating_worst": n * (n + 1) / 2 + n,
            "figure": format!(
                "one initiator ≤ 3n−1 = {}; all initiating n·H(n) + n ≈ {:.1} on average (O(n log n)), n(n+1)/2 + n = {} at worst (O(n²)); acknowledgements of the ring's repair counted apart",
                3 * n - 1,
                n as f64 * harmonic + n as f64,
                n * (n + 1) / 2 + n
            ),
        })
    },
};

impl Spec for ChangRoberts {
    const NAME: &'static str = "chang-roberts";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "Chang–Roberts ring election: smaller ids (or attributes) are swallowed, the best one's message comes home";
    const BY_ATTRIBUTE: bool = true;
    type Params = RingParams;

    fn build(me: NodeId, peers: &[NodeId], params: &RingParams) -> Result<impl crate::Process, String> {
        Ok(RingNode(ChangRobertsNode::new(me, peers, params.clone())))
    }

    fn properties() -> Vec<PropertyInfo> {
        crate::election::ring::properties(
            "after a failure an election costs at most 3n−1 messages with one initiator, n(n+1)/2 + n with several",
        )
    }

    fn check(run: &Execution, params: &RingParams) -> CheckReport {
        check_ring(run, params, &FACTS)
    }
}

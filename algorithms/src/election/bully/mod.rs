//! The bully election (Garcia-Molina): the highest live id becomes coordinator.
//!
//! By attribute (`attributes = { 1 = 40, 2 = 90 }` in the experiment, see
//! [`Attributes`]): every comparison of ids below compares (attribute, id) instead, so the
//! best live attribute becomes coordinator, ties to the higher id; "higher" reads "better".
//!
//! Rules, as the course states them:
//! - A process that notices the coordinator is dead (no heartbeat for `leader_timeout`) holds an
//!   election: it sends ELECTION to every higher id. If no ANSWER comes back within
//!   `answer_timeout`, it wins and announces itself with COORDINATOR to everyone.
//! - A process that receives ELECTION from a lower id answers ANSWER (the "OK") and holds its own
//!   election, unless it already is.
//! - A process that got an ANSWER waits `coordinator_timeout` for the COORDINATOR, and holds a new
//!   election if none comes.
//! - A process that starts (or restarts) holds an election, so a recovering higher id takes over:
//!   it "bullies" the current coordinator out, as does any process that hears from a lower leader.
//! - The coordinator sends HEARTBEAT every `heartbeat`; this is the failure detector: a fixed
//!   `leader_timeout` by default, or φ-accrual over the heartbeats with `detector = "phi"`.
//!
//! Promise: in every stable period all live nodes agree on one leader, the highest live id; an
//! election finishes within a bound after the leader dies. Cost: best case n−2 messages (the next
//! highest notices and just announces), worst case O(n²) (the lowest notices first).
//! Not safe under false suspicion or partitions: each side elects its own highest id. While an
//! election runs (under its timing assumption, a reliable round trip within `answer_timeout`): no
//! node declares itself coordinator while a higher id is up and reachable, and every ELECTION from
//! a lower id is answered (`check.rs` judges both at the step that breaks them).

pub mod check;

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::election::Attributes;
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Process, Status, Timer, MS};
use crate::detection::leader::{DetectorChoice, LeaderDetector};
use crate::election::ElectionEvent;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BullyMsg {
    Election,
    Answer,
    Coordinator,
    Heartbeat,
}

impl Message for BullyMsg {
    fn kind(&self) -> &'static str {
        match self {
            BullyMsg::Election => "election",
            BullyMsg::Answer => "answer",
            BullyMsg::Coordinator => "coordinator",
            BullyMsg::Heartbeat => "heartbeat",
        }
    }
}

/// The answer and coordinator timeouts of an election, the leader's heartbeat, and the
/// followers' wait for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BullyTimer {
    Answer,
    Coordinator,
    Heartbeat,
    LeaderTimeout,
}

impl Timer for BullyTimer {}

/// The messages an election costs (heartbeats are the failure detector, not the election).
const ELECTION_MESSAGES: [&str; 3] = ["election", "answer", "coordinator"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BullyParams {
    pub heartbeat_ms: u64,
    /// A follower suspects the leader after this long without a heartbeat ...
    pub leader_timeout_ms: u64,
    /// ... plus a random extra up to this, so that followers do not all suspect at once.
    pub timeout_jitter_ms: u64,
    pub answer_timeout_ms: u64,
    pub coordinator_timeout_ms: u64,
    /// Longest acceptable time from a leader's death to agreement on the next; derived from the
    /// timeouts when not given.
    pub election_bound_ms: Option<u64>,
    /// Each node's attribute (filled from the experiment's `attributes`): the best leads.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// How a follower suspects its leader: `timeout` (after `leader_timeout_ms`) or `phi`
    /// (φ-accrual over the leader's heartbeats, at `phi_threshold`); the jitter is added to both.
    pub detector: DetectorChoice,
    pub phi_threshold: f64,
}

impl Default for BullyParams {
    fn default() -> Self {
        BullyParams {
            heartbeat_ms: 50,
            leader_timeout_ms: 250,
            timeout_jitter_ms: 100,
            answer_timeout_ms: 100,
            coordinator_timeout_ms: 200,
            election_bound_ms: None,
            attributes: Attributes::default(),
            detector: DetectorChoice::Timeout,
            phi_threshold: 8.0,
        }
    }
}

impl BullyParams {
    /// Detection (timeout + jitter), one election round that may lose its coordinator
    /// (answer + coordinator timeouts), a second round, and 100 ms for delivery and scheduling.
    pub fn election_bound(&self) -> Nanos {
        let detection =
            LeaderDetector::patience_ms(self.detector, self.heartbeat_ms, self.leader_timeout_ms, self.phi_threshold);
        let derived =
            detection + self.timeout_jitter_ms + 2 * self.answer_timeout_ms + self.coordinator_timeout_ms + 100;
        self.election_bound_ms.unwrap_or(derived) * MS
    }
}

impl Params for BullyParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        self.attributes.validate(nodes)?;
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.leader_timeout_ms {
            return Err(format!(
                "params.heartbeat_ms ({}) must be above 0 and below params.leader_timeout_ms ({})",
                self.heartbeat_ms, self.leader_timeout_ms
            ));
        }
        if self.answer_timeout_ms == 0 || self.coordinator_timeout_ms == 0 {
            return Err("params.answer_timeout_ms and params.coordinator_timeout_ms must be above 0".into());
        }
        LeaderDetector::validate(self.detector, self.phi_threshold)
    }
}

pub struct BullyNode {
    me: NodeId,
    params: BullyParams,
    leader: Option<NodeId>,
    /// Holding an election: sent ELECTION, waiting for an ANSWER or the COORDINATOR.
    electing: bool,
    /// The failure detector of the leader, fed its heartbeats.
    detector: LeaderDetector,
}

impl BullyNode {
    pub fn new(me: NodeId, params: BullyParams) -> Self {
        let detector =
            LeaderDetector::new(params.detector, params.heartbeat_ms, params.leader_timeout_ms, params.phi_threshold);
        BullyNode { me, params, leader: None, electing: false, detector }
    }

    fn hold_election(&mut self, ctx: &mut Ctx<BullyTimer>) {
        if self.electing {
            return;
        }
        self.electing = true;
        ctx.emit(&ElectionEvent::started());
        ctx.cancel_timer(BullyTimer::LeaderTimeout);
        let better = |p: &NodeId| self.params.attributes.better(*p, ctx.me());
        let higher: Vec<NodeId> = ctx.peers().iter().copied().filter(better).collect();
        if higher.is_empty() {
            return self.become_coordinator(ctx);
        }
        for peer in higher {
            ctx.send(peer, &BullyMsg::Election);
        }
        ctx.set_timer(BullyTimer::Answer, self.params.answer_timeout_ms * MS);
    }

    fn become_coordinator(&mut self, ctx: &mut Ctx<BullyTimer>) {
        self.electing = false;
        ctx.cancel_timer(BullyTimer::Answer);
        ctx.cancel_timer(BullyTimer::Coordinator);
        ctx.cancel_timer(BullyTimer::LeaderTimeout);
        ctx.emit(&ElectionEvent::elected_by(ctx.me(), &self.params.attributes));
        self.set_leader(ctx, ctx.me());
        ctx.broadcast(&BullyMsg::Coordinator);
        ctx.set_timer(BullyTimer::Heartbeat, self.params.heartbeat_ms * MS);
    }

    fn follow(&mut self, ctx: &mut Ctx<BullyTimer>, leader: NodeId) {
        self.electing = false;
        ctx.cancel_timer(BullyTimer::Answer);
        ctx.cancel_timer(BullyTimer::Coordinator);
        ctx.cancel_timer(BullyTimer::Heartbeat);
        self.set_leader(ctx, leader);
        self.expect_heartbeat(ctx);
    }

    fn set_leader(&mut self, ctx: &mut Ctx<BullyTimer>, leader: NodeId) {
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::leader(leader));
        }
    }

    /// `a` is higher than `b`: by id, or by (attribute, id) in an election by attribute.
    fn outranks(&self, a: NodeId, b: NodeId) -> bool {
        self.params.attributes.better(a, b)
    }

    /// The leader was heard from: wait for its next heartbeat as long as the detector says.
    fn expect_heartbeat(&mut self, ctx: &mut Ctx<BullyTimer>) {
        let jitter = ctx.rng().random_range(0..=self.params.timeout_jitter_ms);
        let Some(leader) = self.leader else { return };
        let wait = self.detector.heard(leader, ctx.now());
        ctx.set_timer(BullyTimer::LeaderTimeout, wait + jitter * MS);
    }
}

impl Process for BullyNode {
    type Msg = BullyMsg;
    type Timer = BullyTimer;
    type Durable = NoState;

    fn on_start(&mut self, ctx: &mut Ctx<BullyTimer>, _: Option<NoState>) {
        self.hold_election(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<BullyTimer>, from: NodeId, msg: BullyMsg) {
        match msg {
            BullyMsg::Election if self.outranks(ctx.me(), from) => {
                ctx.send(from, &BullyMsg::Answer);
                if self.leader == Some(ctx.me()) {
                    // Already coordinator: the lower node missed it; the others know.
                    ctx.send(from, &BullyMsg::Coordinator);
                } else {
                    self.hold_election(ctx);
                }
            }
            BullyMsg::Answer if self.electing => {
                ctx.cancel_timer(BullyTimer::Answer);
                ctx.set_timer(BullyTimer::Coordinator, self.params.coordinator_timeout_ms * MS);
            }
            // From a higher id (it will win), or a late answer to an election already over.
            BullyMsg::Election | BullyMsg::Answer => {}
            BullyMsg::Coordinator | BullyMsg::Heartbeat if self.outranks(from, ctx.me()) => {
                if self.leader == Some(from) && !self.electing {
                    self.expect_heartbeat(ctx);
                } else {
                    self.follow(ctx, from);
                }
            }
            // A lower id claims to lead while this node lives: bully it out. A leader tells the
            // claimant alone; the claimant's followers hear this leader's heartbeats anyway.
            BullyMsg::Coordinator | BullyMsg::Heartbeat => {
                if self.leader == Some(ctx.me()) {
                    ctx.send(from, &BullyMsg::Coordinator);
                } else {
                    self.hold_election(ctx);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<BullyTimer>, timer: BullyTimer) {
        match timer {
            BullyTimer::Answer => self.become_coordinator(ctx),
            BullyTimer::Coordinator => {
                self.electing = false;
                self.hold_election(ctx);
            }
            BullyTimer::Heartbeat if self.leader == Some(ctx.me()) => {
                ctx.broadcast(&BullyMsg::Heartbeat);
                ctx.set_timer(BullyTimer::Heartbeat, self.params.heartbeat_ms * MS);
            }
            BullyTimer::Heartbeat => {} // no longer leader
            BullyTimer::LeaderTimeout => {
                if let Some(dead) = self.leader.take() {
                    ctx.emit(&ElectionEvent::leader_lost(dead, "no heartbeat"));
                }
                self.hold_election(ctx);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<BullyTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") => {
                self.electing = false;
                self.hold_election(ctx);
                Ok("election started".into())
            }
            _ => Err(format!("unknown command {args:?}; bully knows: elect")),
        }
    }

    fn status(&self) -> Status {
        let role = match (self.leader, self.electing) {
            (_, true) => "electing",
            (Some(leader), false) if leader == self.me => "leader",
            (Some(_), false) => "follower",
            (None, false) => "idle",
        };
        Status { role: role.into(), leader: self.leader, term: None }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Bully;

impl Spec for Bully {
    const NAME: &'static str = "bully";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "bully election: the highest live id (or best attribute) leads; heartbeats detect a dead leader";
    const BY_ATTRIBUTE: bool = true;
    type Params = BullyParams;

    fn build(me: NodeId, _peers: &[NodeId], params: &BullyParams) -> Result<impl Process, String> {
        Ok(BullyNode::new(me, params.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo {
                name: "stable_agreement",
                promise: "in every stable period all live nodes agree on one leader, the highest live id (the best live attribute, with attributes)",
            },
            PropertyInfo {
                name: "election_within_bound",
                promise: "after the leader dies (or at start, or when a higher id returns) agreement on the new leader comes within the bound",
            },
            PropertyInfo {
                name: "election_message_cost",
                promise: "messages per election stay within the textbook worst case, n²−1 for n nodes",
            },
            PropertyInfo {
                name: check::NO_PREMATURE_COORDINATOR,
                promise: "no node declares itself coordinator while a higher id has been up and reachable since one answer timeout before its election round began",
            },
            PropertyInfo {
                name: check::ELECTIONS_ANSWERED,
                promise: "every ELECTION from a lower id is answered in the same step, and one sent to a higher id up and reachable is answered within the answer timeout",
            },
        ]
    }

    fn check(run: &Execution, params: &BullyParams) -> CheckReport {
        check::check_bully(run, params)
    }
}

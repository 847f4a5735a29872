//! What the two ring elections ([`crate::election::ring::lelann`], [`crate::election::ring::chang_roberts`]) share: the logical
//! ring and its repair, the leader's heartbeat as failure detector, their parameters, and their
//! checker.
//!
//! In an election by attribute (`params.attributes`, see [`Attributes`]) the election messages
//! carry (attribute, id) and every comparison of ids compares those pairs; the ring itself stays
//! in id order.
//!
//! The ring is the id order: every process sends to the next higher id, the highest to the lowest.
//! The course repairs a ring around a dead process by skipping it ("P5 is dead: skip to P0"), so
//! every hop is acknowledged: a successor that does not acknowledge within `ack_timeout` is taken
//! for dead, and the message (with every later one still unacknowledged) goes on to the next id
//! round the ring. Suspicions last for one election: a process that joins a new election probes
//! its direct successor again, so a restarted process is back in the ring at the next election.
//! A message that has gone once round the ring without being consumed is dropped (the process
//! that would consume it is gone); a process whose every successor is silent gets its messages
//! back, as a ring of one.

pub mod chang_roberts;
pub mod lelann;

mod check;
use crate::check::election::Attributes;
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Timer, MS};
use crate::detection::leader::{DetectorChoice, LeaderDetector};
use crate::election::ElectionEvent;
pub use check::{check_ring, properties, RingFacts};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};

/// A ring algorithm's messages: its own (`body`) travel hop by hop; acknowledgements repair the
/// ring; heartbeats keep the leader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RingMsg<P> {
    /// One hop of a ring message. `seq` names the hop for its acknowledgement; `hops` counts the
    /// hops the message has made so far, this one included.
    Pass {
        seq: u64,
        hops: u32,
        body: P,
    },
    Ack {
        seq: u64,
    },
    /// From the leader to every process, every `heartbeat_ms`.
    Heartbeat,
}

impl<P: Message> Message for RingMsg<P> {
    fn kind(&self) -> &'static str {
        match self {
            RingMsg::Pass { body, .. } => body.kind(),
            RingMsg::Ack { .. } => "ack",
            RingMsg::Heartbeat => "heartbeat",
        }
    }
}

/// The timers of both ring elections: the oldest unacknowledged hop, the leader's heartbeat, the
/// wait for it, and a participant's wait for the election's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RingTimer {
    Ack,
    Heartbeat,
    LeaderTimeout,
    Election,
}

impl Timer for RingTimer {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingParams {
    pub heartbeat_ms: u64,
    /// A process suspects the leader after this long without a heartbeat ...
    pub leader_timeout_ms: u64,
    /// ... plus a random extra up to this, so that not every process calls an election at once.
    pub timeout_jitter_ms: u64,
    /// A successor that does not acknowledge a hop within this is skipped.
    pub ack_timeout_ms: u64,
    /// A process that takes part in an election and sees no result within this starts over.
    pub election_timeout_ms: u64,
    /// Longest acceptable time from a leader's death to agreement on the next; derived from the
    /// timeouts when not given.
    pub election_bound_ms: Option<u64>,
    /// Each node's attribute (filled from the experiment's `attributes`): the best is elected.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    /// How a process suspects its leader: `timeout` (after `leader_timeout_ms`) or `phi`
    /// (φ-accrual over the leader's heartbeats, at `phi_threshold`); the jitter is added to both.
    pub detector: DetectorChoice,
    pub phi_threshold: f64,
}

impl Default for RingParams {
    fn default() -> Self {
        RingParams {
            heartbeat_ms: 50,
            leader_timeout_ms: 250,
            timeout_jitter_ms: 100,
            ack_timeout_ms: 30,
            election_timeout_ms: 300,
            election_bound_ms: None,
            attributes: Attributes::default(),
            detector: DetectorChoice::Timeout,
            phi_threshold: 8.0,
        }
    }
}

impl RingParams {
    /// Detection (timeout + jitter), one election that may fail with a process dying in it
    /// (election timeout), a second one, and 100 ms for delivery and scheduling.
    pub fn election_bound(&self) -> Nanos {
        let detection =
            LeaderDetector::patience_ms(self.detector, self.heartbeat_ms, self.leader_timeout_ms, self.phi_threshold);
        let derived = detection + self.timeout_jitter_ms + 2 * self.election_timeout_ms + 100;
        self.election_bound_ms.unwrap_or(derived) * MS
    }
}

impl crate::algorithm::Params for RingParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        self.attributes.validate(nodes)?;
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.leader_timeout_ms {
            return Err(format!(
                "params.heartbeat_ms ({}) must be above 0 and below params.leader_timeout_ms ({})",
                self.heartbeat_ms, self.leader_timeout_ms
            ));
        }
        if self.ack_timeout_ms == 0 || self.election_timeout_ms <= self.ack_timeout_ms {
            return Err(format!(
                "params.ack_timeout_ms ({}) must be above 0 and below params.election_timeout_ms ({})",
                self.ack_timeout_ms, self.election_timeout_ms
            ));
        }
        LeaderDetector::validate(self.detector, self.phi_threshold)
    }
}

/// The rings' own events: a message dropped after a whole round unconsumed (`ring_dropped`), and a
/// successor taken for dead (`successor_suspected`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RingEvent {
    RingDropped { kind: String, hops: u32 },
    SuccessorSuspected { node: NodeId },
}

impl Event for RingEvent {}

/// A hop sent but not yet acknowledged.
#[derive(Clone, Debug)]
struct Pending<P> {
    seq: u64,
    to: NodeId,
    hops: u32,
    body: P,
    sent_at: Nanos,
}

/// One process's place in the ring: its successors, whom it suspects, and its unacknowledged hops.
pub struct Ring<P> {
    me: NodeId,
    /// Every id of the cluster, ascending: the ring.
    order: Vec<NodeId>,
    suspected: BTreeSet<NodeId>,
    unacked: VecDeque<Pending<P>>,
    next_seq: u64,
    ack_timeout: Nanos,
}

/// A message that came back because no other process could take it, and how far it had gone.
pub type Bounced<P> = Option<(u32, P)>;

impl<P: Message + Clone> Ring<P> {
    pub fn new(me: NodeId, peers: &[NodeId], ack_timeout: Nanos) -> Ring<P> {
        let mut order: Vec<NodeId> = peers.iter().copied().chain([me]).collect();
        order.sort_unstable();
        Ring { me, order, suspected: BTreeSet::new(), unacked: VecDeque::new(), next_seq: 0, ack_timeout }
    }

    /// The next id round the ring that is not suspected, `None` when all others are.
    pub fn successor(&self) -> Option<NodeId> {
        let at = self.order.iter().position(|n| *n == self.me).expect("me is in the ring");
        (1..self.order.len()).map(|i| self.order[(at + i) % self.order.len()]).find(|n| !self.suspected.contains(n))
    }

    /// A new election: probe the whole ring again.
    pub fn fresh_round(&mut self) {
        self.suspected.clear();
    }

    /// `id` has been heard from (directly, or its id travels in a message): it is alive.
    pub fn alive(&mut self, id: NodeId) {
        self.suspected.remove(&id);
    }

    /// Starts `body` on its way round the ring.
    pub fn send(&mut self, ctx: &mut Ctx<RingTimer>, body: P) -> Bounced<P> {
        self.hop(ctx, 1, body)
    }

    /// Passes on a message that has made `hops` hops. One that has made a whole round without
    /// being consumed is dropped.
    pub fn forward(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, body: P) -> Bounced<P> {
        if hops as usize >= self.order.len() {
            ctx.emit(&RingEvent::RingDropped { kind: body.kind().into(), hops });
            return None;
        }
        self.hop(ctx, hops + 1, body)
    }

    fn hop(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, body: P) -> Bounced<P> {
        let Some(to) = self.successor() else { return Some((hops, body)) };
        self.hop_to(ctx, to, hops, body);
        None
    }

    fn hop_to(&mut self, ctx: &mut Ctx<RingTimer>, to: NodeId, hops: u32, body: P) {
        self.next_seq += 1;
        let seq = self.next_seq;
        ctx.send(to, &RingMsg::Pass { seq, hops, body: body.clone() });
        self.unacked.push_back(Pending { seq, to, hops, body, sent_at: ctx.now() });
        if self.unacked.len() == 1 {
            self.arm(ctx);
        }
    }

    /// The acknowledgement of a hop this process received; sent before acting on it.
    pub fn ack(&self, ctx: &mut Ctx<RingTimer>, from: NodeId, seq: u64) {
        ctx.send(from, &RingMsg::<P>::Ack { seq });
    }

    /// An acknowledgement arrived: the hop is done. Links are FIFO, so an earlier hop to the same
    /// process still unacknowledged was lost (it reached the process before it was running): the
    /// process is alive, and gets that hop again.
    pub fn acked(&mut self, ctx: &mut Ctx<RingTimer>, from: NodeId, seq: u64) {
        let (lost, rest): (Vec<_>, Vec<_>) = self
            .unacked
            .drain(..)
            .filter(|p| !(p.to == from && p.seq == seq))
            .partition(|p| p.to == from && p.seq < seq);
        self.unacked = rest.into();
        for p in lost {
            self.hop_to(ctx, from, p.hops, p.body);
        }
        self.arm(ctx);
    }

    /// The oldest hop was not acknowledged in time: its successor is taken for dead, and every
    /// hop still waiting on that successor goes on to the next, in order. Returns what came back.
    pub fn timed_out(&mut self, ctx: &mut Ctx<RingTimer>) -> Vec<(u32, P)> {
        let Some(dead) = self.unacked.front().map(|p| p.to) else { return vec![] };
        self.suspected.insert(dead);
        ctx.emit(&RingEvent::SuccessorSuspected { node: dead });
        let (stalled, waiting): (Vec<_>, Vec<_>) = self.unacked.drain(..).partition(|p| p.to == dead);
        self.unacked = waiting.into();
        let mut back = Vec::new();
        for p in stalled {
            back.extend(self.hop(ctx, p.hops, p.body));
        }
        self.arm(ctx);
        back
    }

    fn arm(&self, ctx: &mut Ctx<RingTimer>) {
        match self.unacked.front() {
            Some(p) => ctx.set_timer(RingTimer::Ack, (p.sent_at + self.ack_timeout).saturating_sub(ctx.now()).max(1)),
            None => ctx.cancel_timer(RingTimer::Ack),
        }
    }
}

/// The failure detector of both ring elections: the leader sends a heartbeat to every process
/// every `heartbeat_ms`; a process that hears none from its leader for as long as its detector
/// says (`leader_timeout_ms`, or until φ reaches `phi_threshold`; plus a random jitter) presumes it
/// dead and calls an election.
pub struct Watch {
    me: NodeId,
    leader: Option<NodeId>,
    params: RingParams,
    detector: LeaderDetector,
}

impl Watch {
    pub fn new(me: NodeId, params: RingParams) -> Watch {
        let detector =
            LeaderDetector::new(params.detector, params.heartbeat_ms, params.leader_timeout_ms, params.phi_threshold);
        Watch { me, leader: None, params, detector }
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// An election's result: lead (heartbeats start) or follow (heartbeats are expected).
    pub fn take<P: Message>(&mut self, ctx: &mut Ctx<RingTimer>, leader: NodeId) {
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::leader(leader));
        }
        if leader == self.me {
            ctx.cancel_timer(RingTimer::LeaderTimeout);
            self.beat::<P>(ctx);
        } else {
            ctx.cancel_timer(RingTimer::Heartbeat);
            self.expect(ctx);
        }
    }

    /// The leader was heard from: (re)starts the wait for its next heartbeat, as long as the
    /// detector says.
    pub fn expect(&mut self, ctx: &mut Ctx<RingTimer>) {
        let jitter = ctx.rng().random_range(0..=self.params.timeout_jitter_ms);
        let Some(leader) = self.leader else { return };
        let wait = self.detector.heard(leader, ctx.now());
        ctx.set_timer(RingTimer::LeaderTimeout, wait + jitter * MS);
    }

    /// An election is running: its result will come; stop suspecting meanwhile.
    pub fn hold(&self, ctx: &mut Ctx<RingTimer>) {
        ctx.cancel_timer(RingTimer::LeaderTimeout);
    }

    /// The leader is presumed dead.
    pub fn lose(&mut self, ctx: &mut Ctx<RingTimer>, reason: &str) {
        if let Some(old) = self.leader.take() {
            ctx.emit(&ElectionEvent::leader_lost(old, reason));
        }
    }

    /// The `heartbeat` timer: a leader's heartbeat to everyone.
    pub fn beat<P: Message>(&self, ctx: &mut Ctx<RingTimer>) {
        if self.leader == Some(self.me) {
            ctx.broadcast(&RingMsg::<P>::Heartbeat);
            ctx.set_timer(RingTimer::Heartbeat, self.params.heartbeat_ms * MS);
        }
    }

    /// A heartbeat from `from`. Returns true when it shows a rival leader that outranks this
    /// one's own leadership (two sides of a healed partition), which calls for an election.
    pub fn heard(&mut self, ctx: &mut Ctx<RingTimer>, from: NodeId) -> bool {
        if self.leader == Some(from) {
            self.expect(ctx);
            return false;
        }
        self.leader == Some(self.me) && self.params.attributes.better(from, self.me)
    }
}

/// The rules of one ring election; [`RingNode`] hosts them: acknowledged hops, the leader's
/// heartbeats, the timers, the `elect` command and the status are the same for every ring.
pub trait RingElection: 'static {
    type Body: Message + Clone;

    /// The algorithm's name, for command errors.
    const NAME: &'static str;

    fn me(&self) -> NodeId;
    fn ring(&mut self) -> &mut Ring<Self::Body>;
    fn watch(&self) -> &Watch;
    fn watch_mut(&mut self) -> &mut Watch;
    /// Taking part in an election that has not ended yet.
    fn participant(&self) -> bool;

    /// Calls an election (unless this process already takes part in one).
    fn initiate(&mut self, ctx: &mut Ctx<RingTimer>);
    /// A ring message arrived, after `hops` hops.
    fn on_ring(&mut self, ctx: &mut Ctx<RingTimer>, hops: u32, msg: Self::Body);
    /// The election ran out of time: forget it, so that `initiate` starts afresh.
    fn abandon(&mut self);

    /// A message no other process could take comes back here, as in a ring of one.
    fn bounced(&mut self, ctx: &mut Ctx<RingTimer>, back: Bounced<Self::Body>) {
        if let Some((hops, msg)) = back {
            self.on_ring(ctx, hops, msg);
        }
    }
}

/// A ring election as a process.
pub struct RingNode<E: RingElection>(pub E);

impl<E: RingElection> crate::Process for RingNode<E>
where
    E::Body: Serialize + serde::de::DeserializeOwned,
{
    type Msg = RingMsg<E::Body>;
    type Timer = RingTimer;
    type Durable = NoState;

    fn on_start(&mut self, ctx: &mut Ctx<RingTimer>, _: Option<NoState>) {
        self.0.initiate(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<RingTimer>, from: NodeId, msg: Self::Msg) {
        let election = &mut self.0;
        election.ring().alive(from);
        match msg {
            RingMsg::Pass { seq, hops, body } => {
                election.ring().ack(ctx, from, seq);
                election.on_ring(ctx, hops, body);
            }
            RingMsg::Ack { seq } => election.ring().acked(ctx, from, seq),
            RingMsg::Heartbeat => {
                if election.watch_mut().heard(ctx, from) {
                    election.initiate(ctx);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<RingTimer>, timer: RingTimer) {
        let election = &mut self.0;
        match timer {
            RingTimer::Ack => {
                for (hops, msg) in election.ring().timed_out(ctx) {
                    election.on_ring(ctx, hops, msg);
                }
            }
            RingTimer::Heartbeat => election.watch().beat::<E::Body>(ctx),
            RingTimer::LeaderTimeout => {
                election.watch_mut().lose(ctx, "no heartbeat");
                election.initiate(ctx);
            }
            RingTimer::Election => {
                election.abandon();
                election.initiate(ctx);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<RingTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") => {
                self.0.initiate(ctx);
                Ok("election started".into())
            }
            _ => Err(format!("unknown command {args:?}; {} knows: elect", E::NAME)),
        }
    }

    fn status(&self) -> crate::Status {
        let leader = self.0.watch().leader();
        let role = match (self.0.participant(), leader) {
            (true, _) => "electing",
            (false, Some(l)) if l == self.0.me() => "leader",
            (false, Some(_)) => "follower",
            (false, None) => "idle",
        };
        crate::Status { role: role.into(), leader, term: None }
    }
}

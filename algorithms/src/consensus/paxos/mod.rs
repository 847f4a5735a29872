//! Single-decree Paxos (Lamport, "Paxos Made Simple", 2001): the nodes choose one value.
//!
//! Roles: every node is an acceptor and a learner; the nodes in `params.proposers` also propose,
//! each its own value `v<id>`. Rules, as the paper states them:
//! - A ballot is `(round, proposer id)`, totally ordered by round, then id: two proposers never
//!   use the same ballot.
//! - Phase 1: a proposer picks a ballot above every one it has used or seen and sends
//!   Prepare(b) to every acceptor. An acceptor that has promised nothing higher promises b and
//!   answers Promise(b, its highest accepted (b', v), if any); otherwise it answers Nack(b, its
//!   promise).
//! - Phase 2: with promises from a majority the proposer sends Accept(b, v), v the value of the
//!   highest b' among the promises, or its own if none had accepted anything. An acceptor that has
//!   promised nothing above b accepts (b, v) and sends Accepted(b, v) to the proposer and every
//!   learner; otherwise it answers Nack.
//! - An acceptor writes its promise and acceptance to stable storage before the reply that depends
//!   on it (a restart cannot make it forget a promise); a proposer persists its round before
//!   using it (a restart cannot reuse a ballot with another value).
//! - A learner learns v once a majority of acceptors sent Accepted for one ballot with v.
//! - A proposer abandons its ballot when it learns of a higher one (a Nack, or its own acceptor
//!   promising another proposer's higher ballot: "a proposer should abandon a proposal if some
//!   proposer has begun trying to issue a higher-numbered one"), or when its phase does not
//!   complete within `phase_timeout_ms`; it retries with a higher round after `retry_ms`: at once and always the same delay with
//!   `backoff = "none"`, so two proposers can preempt each other forever (FLP in practice: the
//!   duel); a random delay that grows with each attempt with `backoff = "random"` (the cure). A
//!   proposer stops once it has learned a value.
//!
//! Promise: validity (only a proposed value is chosen), agreement (at most one value is chosen,
//! and learners never learn different values), integrity (a learner learns at most once), and
//! termination when one proposer runs alone with a connected majority. Cost of one ballot that
//! decides with every acceptor answering: N−1 Prepare, N−1 Promise, N−1 Accept and N−1 Accepted
//! to the proposer — the textbook's 4(N−1) — plus (N−1)² Accepted to the other learners.

mod check;
use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
pub use check::check_paxos;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A ballot: ordered by round, then by proposer id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u64,
    pub proposer: NodeId,
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.round, self.proposer)
    }
}

/// A value an acceptor accepted, in the ballot it accepted it in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub ballot: Ballot,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PaxosMsg {
    Prepare {
        ballot: Ballot,
    },
    /// "I promise to accept nothing below `ballot`; this is the highest I accepted."
    Promise {
        ballot: Ballot,
        accepted: Option<Accepted>,
    },
    Accept {
        ballot: Ballot,
        value: String,
    },
    /// To the proposer and every learner.
    Accepted {
        ballot: Ballot,
        value: String,
    },
    /// A refusal of `ballot` (its Prepare or its Accept): the acceptor promised `promised`.
    Nack {
        ballot: Ballot,
        promised: Ballot,
    },
}

impl Message for PaxosMsg {
    fn kind(&self) -> &'static str {
        match self {
            PaxosMsg::Prepare { .. } => "prepare",
            PaxosMsg::Promise { .. } => "promise",
            PaxosMsg::Accept { .. } => "accept",
            PaxosMsg::Accepted { .. } => "accepted",
            PaxosMsg::Nack { .. } => "nack",
        }
    }
}

/// The proposer's timers: its phase did not complete (`phase`), and the pause before it tries
/// again (`retry`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaxosTimer {
    Phase,
    Retry,
}

impl Timer for PaxosTimer {}

/// What the checkers read: a proposer's ballots and what became of them, an acceptor's promises
/// and acceptances, a learner's decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum PaxosEvent {
    /// A proposer started phase 1 of `ballot`; its own value is `value`.
    BallotStarted {
        ballot: Ballot,
        value: String,
    },
    /// A proposer has a majority of promises and asks to accept `value` (`adopted`: the value came
    /// from a promise, accepted in that ballot).
    Proposed {
        ballot: Ballot,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adopted: Option<Ballot>,
    },
    /// A proposer gave `ballot` up: refused by an acceptor that promised `by`, or timed out
    /// (`by` absent).
    Preempted {
        ballot: Ballot,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Ballot>,
    },
    Promised {
        ballot: Ballot,
    },
    /// An acceptor accepted (`ballot`, `value`).
    Accepted {
        ballot: Ballot,
        value: String,
    },
    /// A learner learned `value`, chosen in `ballot`.
    Learned {
        ballot: Ballot,
        value: String,
    },
}

impl Event for PaxosEvent {}

/// How a proposer waits before it tries again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// Always `retry_ms`: duelling proposers can preempt each other forever.
    #[default]
    None,
    /// Uniform in `[retry_ms, retry_ms · 2^attempt]` (at most 2^6): one of two duellists soon
    /// waits long enough for the other to finish both phases.
    Random,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaxosParams {
    /// The nodes that propose. One distinguished proposer (node 1) by default: the paper's own
    /// cure for duels ("a distinguished proposer ... is the only one to try issuing proposals"),
    /// so a default run decides; list two to see them duel.
    pub proposers: Vec<NodeId>,
    /// How long a phase may take before the proposer gives its ballot up.
    pub phase_timeout_ms: u64,
    /// The pause before a new ballot after a refusal or a timeout.
    pub retry_ms: u64,
    pub backoff: Backoff,
    /// Longest acceptable time for a lone proposer with a connected majority to get a value
    /// learned; derived from the timeouts when not given.
    pub decision_bound_ms: Option<u64>,
}

impl Default for PaxosParams {
    fn default() -> Self {
        PaxosParams {
            proposers: vec![1],
            phase_timeout_ms: 100,
            retry_ms: 10,
            backoff: Backoff::None,
            decision_bound_ms: None,
        }
    }
}

impl PaxosParams {
    /// Two full attempts (each a phase timeout for each phase and a retry pause) and 100 ms for
    /// delivery: with the defaults, 520 ms.
    pub fn decision_bound(&self) -> Nanos {
        self.decision_bound_ms.unwrap_or(2 * (2 * self.phase_timeout_ms + self.retry_ms) + 100) * MS
    }
}

impl Params for PaxosParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        if self.proposers.is_empty() {
            return Err("params.proposers must name at least one node".into());
        }
        if let Some(p) = self.proposers.iter().find(|p| **p == 0 || **p as usize > nodes) {
            return Err(format!("params.proposers: node {p} is not in the cluster of {nodes} nodes (ids 1..={nodes})"));
        }
        if self.proposers.iter().collect::<BTreeSet<_>>().len() != self.proposers.len() {
            return Err(format!("params.proposers lists a node twice: {:?}", self.proposers));
        }
        if self.phase_timeout_ms == 0 || self.retry_ms == 0 {
            return Err(format!(
                "params.phase_timeout_ms ({}) and params.retry_ms ({}) must be above 0",
                self.phase_timeout_ms, self.retry_ms
            ));
        }
        Ok(())
    }
}

/// What survives a crash: the acceptor's promise and acceptance, the proposer's highest round,
/// the learner's decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub promised: Option<Ballot>,
    pub accepted: Option<Accepted>,
    pub round: u64,
    pub learned: Option<Accepted>,
}

/// Where the proposer is with its current ballot.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    /// Phase 1: the promises so far, by acceptor.
    Preparing(BTreeMap<NodeId, Option<Accepted>>),
    /// Phase 2: waiting for a majority to accept.
    Accepting,
}

pub struct PaxosNode {
    me: NodeId,
    params: PaxosParams,
    durable: Durable,
    ballot: Ballot,
    phase: Phase,
    /// Ballots given up so far: the attempt count for backoff.
    attempts: u32,
    /// The highest ballot this node has heard of, its own included.
    highest_seen: Ballot,
    /// The learner's count: acceptors that sent Accepted, by ballot, with the value.
    votes: BTreeMap<Ballot, (String, BTreeSet<NodeId>)>,
}

impl PaxosNode {
    pub fn new(me: NodeId, params: PaxosParams) -> Self {
        PaxosNode {
            me,
            params,
            durable: Durable::default(),
            ballot: Ballot::default(),
            phase: Phase::Idle,
            attempts: 0,
            highest_seen: Ballot::default(),
            votes: BTreeMap::new(),
        }
    }

    fn proposes(&self) -> bool {
        self.params.proposers.contains(&self.me)
    }

    fn value(&self) -> String {
        format!("v{}", self.me)
    }

    fn majority(ctx: &Ctx<PaxosTimer>) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    /// Sends to `to`, or hands the message to this node's own acceptor or learner.
    fn send(&mut self, ctx: &mut Ctx<PaxosTimer>, to: NodeId, msg: PaxosMsg) {
        if to == self.me {
            self.on_message(ctx, to, msg);
        } else {
            ctx.send(to, &msg);
        }
    }

    /// To every node, this one first.
    fn send_all(&mut self, ctx: &mut Ctx<PaxosTimer>, msg: PaxosMsg) {
        ctx.broadcast(&msg);
        self.on_message(ctx, self.me, msg);
    }

    /// Phase 1 of a new ballot above every one used or seen; the round is persisted first.
    fn start_ballot(&mut self, ctx: &mut Ctx<PaxosTimer>) {
        let round =
            self.durable.round.max(self.highest_seen.round).max(self.durable.promised.map_or(0, |b| b.round)) + 1;
        self.durable.round = round;
        ctx.persist(&self.durable);
        self.ballot = Ballot { round, proposer: self.me };
        self.highest_seen = self.highest_seen.max(self.ballot);
        self.phase = Phase::Preparing(BTreeMap::new());
        ctx.emit(&PaxosEvent::BallotStarted { ballot: self.ballot, value: self.value() });
        ctx.set_timer(PaxosTimer::Phase, self.params.phase_timeout_ms * MS);
        self.send_all(ctx, PaxosMsg::Prepare { ballot: self.ballot });
    }

    /// Gives the current ballot up and schedules the next one.
    fn give_up(&mut self, ctx: &mut Ctx<PaxosTimer>, by: Option<Ballot>) {
        ctx.emit(&PaxosEvent::Preempted { ballot: self.ballot, by });
        self.phase = Phase::Idle;
        ctx.cancel_timer(PaxosTimer::Phase);
        let retry = self.params.retry_ms * MS;
        let pause = match self.params.backoff {
            Backoff::None => retry,
            Backoff::Random => ctx.rng().random_range(retry..=retry << self.attempts.min(6)),
        };
        self.attempts += 1;
        ctx.set_timer(PaxosTimer::Retry, pause);
    }

    fn on_promise(&mut self, ctx: &mut Ctx<PaxosTimer>, from: NodeId, ballot: Ballot, accepted: Option<Accepted>) {
        let Phase::Preparing(promises) = &mut self.phase else { return };
        if ballot != self.ballot {
            return;
        }
        promises.insert(from, accepted);
        if promises.len() < Self::majority(ctx) {
            return;
        }
        let highest = promises.values().flatten().max_by_key(|a| a.ballot).cloned();
        let (value, adopted) = match highest {
            Some(a) => (a.value, Some(a.ballot)),
            None => (self.value(), None),
        };
        self.phase = Phase::Accepting;
        ctx.emit(&PaxosEvent::Proposed { ballot, value: value.clone(), adopted });
        ctx.set_timer(PaxosTimer::Phase, self.params.phase_timeout_ms * MS);
        self.send_all(ctx, PaxosMsg::Accept { ballot, value });
    }

    /// The acceptor's phase 1 rule. A Prepare of the ballot already promised (a duplicate) is
    /// not answered again.
    fn on_prepare(&mut self, ctx: &mut Ctx<PaxosTimer>, from: NodeId, ballot: Ballot) {
        match self.durable.promised {
            Some(p) if p == ballot => {}
            Some(p) if p > ballot => self.send(ctx, from, PaxosMsg::Nack { ballot, promised: p }),
            _ => {
                self.durable.promised = Some(ballot);
                ctx.persist(&self.durable);
                ctx.emit(&PaxosEvent::Promised { ballot });
                let accepted = self.durable.accepted.clone();
                self.send(ctx, from, PaxosMsg::Promise { ballot, accepted });
                // "A proposer should abandon a proposal if some proposer has begun trying to
                // issue a higher-numbered one": its own acceptor just promised that one.
                if ballot > self.ballot && self.phase != Phase::Idle {
                    self.give_up(ctx, Some(ballot));
                }
            }
        }
    }

    /// The acceptor's phase 2 rule. An Accept already accepted (a duplicate) is not answered again.
    fn on_accept(&mut self, ctx: &mut Ctx<PaxosTimer>, from: NodeId, ballot: Ballot, value: String) {
        if self.durable.accepted.as_ref().is_some_and(|a| a.ballot == ballot) {
            return;
        }
        match self.durable.promised {
            Some(p) if p > ballot => self.send(ctx, from, PaxosMsg::Nack { ballot, promised: p }),
            _ => {
                self.durable.promised = Some(ballot);
                self.durable.accepted = Some(Accepted { ballot, value: value.clone() });
                ctx.persist(&self.durable);
                ctx.emit(&PaxosEvent::Accepted { ballot, value: value.clone() });
                self.send_all(ctx, PaxosMsg::Accepted { ballot, value });
            }
        }
    }

    /// The learner's rule: a majority of Accepted for one ballot.
    fn on_accepted(&mut self, ctx: &mut Ctx<PaxosTimer>, from: NodeId, ballot: Ballot, value: String) {
        if self.durable.learned.is_some() {
            return;
        }
        let (v, from_acceptors) = self.votes.entry(ballot).or_insert_with(|| (value.clone(), BTreeSet::new()));
        if *v != value {
            return; // one ballot has one value; a second one is no acceptor's doing
        }
        from_acceptors.insert(from);
        if from_acceptors.len() < Self::majority(ctx) {
            return;
        }
        self.durable.learned = Some(Accepted { ballot, value: value.clone() });
        ctx.persist(&self.durable);
        ctx.emit(&PaxosEvent::Learned { ballot, value });
        if self.proposes() {
            self.phase = Phase::Idle;
            ctx.cancel_timer(PaxosTimer::Phase);
            ctx.cancel_timer(PaxosTimer::Retry);
        }
    }
}

impl Process for PaxosNode {
    type Msg = PaxosMsg;
    type Timer = PaxosTimer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Ctx<PaxosTimer>, recovered: Option<Durable>) {
        self.durable = recovered.unwrap_or_default(); // none: the first boot, nothing promised
        if self.proposes() && self.durable.learned.is_none() {
            self.start_ballot(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<PaxosTimer>, from: NodeId, msg: PaxosMsg) {
        match msg {
            PaxosMsg::Prepare { ballot } => {
                self.highest_seen = self.highest_seen.max(ballot);
                self.on_prepare(ctx, from, ballot);
            }
            PaxosMsg::Promise { ballot, accepted } => self.on_promise(ctx, from, ballot, accepted),
            PaxosMsg::Accept { ballot, value } => {
                self.highest_seen = self.highest_seen.max(ballot);
                self.on_accept(ctx, from, ballot, value);
            }
            PaxosMsg::Accepted { ballot, value } => self.on_accepted(ctx, from, ballot, value),
            PaxosMsg::Nack { ballot, promised } => {
                self.highest_seen = self.highest_seen.max(promised);
                if ballot == self.ballot && self.phase != Phase::Idle {
                    self.give_up(ctx, Some(promised));
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<PaxosTimer>, timer: PaxosTimer) {
        match timer {
            PaxosTimer::Phase if self.phase != Phase::Idle => self.give_up(ctx, None),
            PaxosTimer::Retry if self.durable.learned.is_none() => self.start_ballot(ctx),
            PaxosTimer::Phase | PaxosTimer::Retry => {}
        }
    }

    fn status(&self) -> Status {
        let role = match (&self.durable.learned, &self.phase) {
            (Some(_), _) => "learned",
            (None, Phase::Preparing(_)) => "preparing",
            (None, Phase::Accepting) => "accepting",
            (None, Phase::Idle) if self.proposes() => "proposer",
            (None, Phase::Idle) => "acceptor",
        };
        Status { role: role.into(), leader: None, term: Some(self.durable.promised.map_or(0, |b| b.round)) }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Paxos;

impl Spec for Paxos {
    const NAME: &'static str = "paxos";
    const FAMILY: Family = Family::Consensus;
    const SUMMARY: &'static str =
        "single-decree Paxos: ballots, prepare/promise, accept/accepted, persisted acceptors; duelling proposers and randomized backoff";
    type Params = PaxosParams;

    fn build(me: NodeId, _peers: &[NodeId], p: &PaxosParams) -> Result<impl Process, String> {
        Ok(PaxosNode::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo { name: "validity", promise: "only a value some proposer proposed is chosen or learned" },
            PropertyInfo {
                name: "agreement",
                promise: "at most one value is chosen (accepted by a majority in one ballot), and no two learners learn different values",
            },
            PropertyInfo { name: "integrity", promise: "a learner learns at most once, across restarts too" },
            PropertyInfo {
                name: "termination",
                promise: "when one proposer runs alone with a connected majority, a value is learned within the bound",
            },
            PropertyInfo {
                name: "message_cost",
                promise: "a ballot costs at most N−1 prepares, N−1 promises, N−1 accepts and N(N−1) accepteds: 4(N−1) + (N−1)² when it decides",
            },
        ]
    }

    fn check(run: &Execution, p: &PaxosParams) -> CheckReport {
        check_paxos(run, p)
    }
}

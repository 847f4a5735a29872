//! Multi-Paxos (Lamport, "Paxos Made Simple" §3; van Renesse & Altinbuken, "Paxos Made
//! Moderately Complex") with a key-value store: the servers agree on a log of slots, one Paxos
//! instance per slot, and apply the chosen commands in slot order to
//! [`crate::service::kv::KvStore`] with the shared client sessions (exactly once).
//!
//! Every server is an acceptor, a learner and a would-be leader. Rules:
//! - **Ballots** are `(round, node id)`, ordered by round, then id: two leaders never share one.
//! - **Phase 1, once for all slots.** A server that hears no heartbeat for its election timeout
//!   (random in `[min, max]`) picks a ballot above every one it has promised or seen, promises it
//!   itself, and sends Prepare(b, from) with `from` its first undecided slot. An acceptor that has
//!   promised nothing higher promises b and answers Promise(b, every (slot, ballot, value) it
//!   accepted at or after `from`); otherwise it answers Nack(b, its promise).
//! - **Adopt, fill, take over.** With promises from a majority the server leads: for each slot
//!   from `from` to the highest slot any promise names it proposes the value of the highest ballot
//!   accepted there, and a no-op where no promise had one (a gap). `unsafe_skip_adopt` switches
//!   adoption off (the new leader proposes new commands from `from` on, over whatever was
//!   chosen there): meant to fail.
//! - **Phase 2 only, while the ballot stands.** A client's command goes to the next free slot:
//!   the leader accepts it itself and sends Accept(b, slot, value, commit) to every other server.
//!   An acceptor that has promised nothing above b accepts, and answers Accepted(b, slot) to the
//!   leader (again for a duplicate: the first answer may be lost); otherwise it answers Nack. With
//!   a majority of Accepted in b the value is chosen. An Accept unanswered for a whole heartbeat
//!   interval is sent again with the next heartbeat.
//! - **Persistence.** An acceptor writes its promise and what it accepted to stable storage
//!   before the answer that depends on them; what it learned is not persisted but learned again.
//! - **Learning, in slot order.** Accepts and heartbeats carry `commit`: every slot up to it is
//!   chosen. A server that accepted slot s in the same ballot holds the chosen value; one that
//!   did not (it missed the Accept, or restarted) asks the leader with CatchUp(from) and gets
//!   the chosen values from there (at most `max_batch` a time). Chosen commands are applied in
//!   slot order; the leader answers the client once the command is applied.
//! - **Leaders** send a heartbeat every `heartbeat_ms`. A leader (or a would-be leader) that
//!   sees a higher ballot (a Nack, a Prepare its own acceptor promises) steps down.
//! - **Clients** (the service convention): a server that does not lead answers `NotLeader` with
//!   the leader it follows; a would-be leader in phase 1 holds requests until it knows.
//!
//! Promise: agreement (at most one value is chosen per slot), validity (a chosen value is a
//! client's command or a leader's no-op), state machine safety (no two servers apply different
//! commands in one slot), and the services' linearizable, exactly-once and complete operations.
//! Cost: with a stable leader 2(N−1) messages per command (Accept to each other server, Accepted
//! back), the decision riding on the next Accept or heartbeat; after a leader change one phase 1,
//! 2(N−1) messages (Prepare, Promise) for all slots at once, plus phase 2 for the slots it
//! re-proposes.

pub(crate) mod check;

pub use check::{check_multipaxos, chosen, Chosen};

use crate::algorithm::{ClientFactory, Family, Params, PropertyInfo, Spec};
use crate::check::service::ServiceEvent;
use crate::check::{CheckReport, Execution};
pub use crate::consensus::paxos::Ballot;
use crate::consensus::raft::Entry;
pub use crate::consensus::raft::Op;
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::election::event::{Elected, ElectionEvent, LeaderLost, LeaderView, Started};
use crate::service::kv::KvStore;
use crate::service::{client, Outcome, Reply, Request};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A value an acceptor accepted in a slot, in the ballot it accepted it in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub ballot: Ballot,
    pub value: Op,
}

/// One slot's accepted value, as a Promise reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotVote {
    pub slot: u64,
    pub ballot: Ballot,
    pub value: Op,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MultiPaxosMsg {
    /// Phase 1 for every slot from `from` on.
    Prepare {
        ballot: Ballot,
        from: u64,
    },
    /// "I promise to accept nothing below `ballot`; this is what I accepted from `from` on."
    Promise {
        ballot: Ballot,
        from: u64,
        accepted: Vec<SlotVote>,
    },
    /// Phase 2 for one slot; `commit`: every slot up to it is chosen.
    Accept {
        ballot: Ballot,
        slot: u64,
        value: Op,
        commit: u64,
    },
    Accepted {
        ballot: Ballot,
        slot: u64,
    },
    /// A refusal of `ballot` (its Prepare, Accept or heartbeat): the acceptor promised `promised`.
    Nack {
        ballot: Ballot,
        promised: Ballot,
    },
    Heartbeat {
        ballot: Ballot,
        commit: u64,
    },
    /// "Send me the chosen values from `from` on."
    CatchUp {
        from: u64,
    },
    /// The chosen values of the slots `from`, `from + 1`, …
    Decisions {
        from: u64,
        values: Vec<Op>,
    },
    /// A client's command (the service convention: see [`crate::service`]).
    Request(Request),
    Reply(Reply),
}

impl Message for MultiPaxosMsg {
    fn kind(&self) -> &'static str {
        match self {
            MultiPaxosMsg::Prepare { .. } => "prepare",
            MultiPaxosMsg::Promise { .. } => "promise",
            MultiPaxosMsg::Accept { .. } => "accept",
            MultiPaxosMsg::Accepted { .. } => "accepted",
            MultiPaxosMsg::Nack { .. } => "nack",
            MultiPaxosMsg::Heartbeat { .. } => "heartbeat",
            MultiPaxosMsg::CatchUp { .. } => "catch_up",
            MultiPaxosMsg::Decisions { .. } => "decisions",
            MultiPaxosMsg::Request(_) => "request",
            MultiPaxosMsg::Reply(_) => "reply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiPaxosTimer {
    /// A follower's (or a would-be leader's) wait for a leader.
    Election,
    Heartbeat,
}

impl Timer for MultiPaxosTimer {}

/// Where a leader's proposal came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A client's request.
    Client { client: NodeId, seq: u64 },
    /// Adopted in phase 1: the value accepted in `ballot`, the highest a promise reported.
    Adopted { ballot: Ballot },
    /// A gap after a leader change, filled with a no-op.
    Noop,
}

/// What the checkers and the report read, beside the election's shared events (`elected`,
/// `leader`, `leader_lost`, `election_started`) and the services' `applied`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum MultiPaxosEvent {
    /// At start: what the data directory held.
    Restored { promised: Ballot, accepted: usize },
    /// An acceptor promised `ballot`.
    Promised { ballot: Ballot },
    /// A leader proposed `digest` (`op`, for a person) for `slot` in its ballot.
    Proposed { slot: u64, ballot: Ballot, digest: String, op: String, origin: Origin },
    /// An acceptor accepted the value `digest` for `slot` in `ballot`.
    Accepted { slot: u64, ballot: Ballot, digest: String },
    /// A leader saw a majority accept its value for `slot`.
    Chosen { slot: u64, ballot: Ballot, digest: String },
    /// A server applied the chosen value of `slot` to its state machine (a restarted server
    /// applies its slots again, from the first).
    AppliedSlot { slot: u64, digest: String },
}

impl Event for MultiPaxosEvent {}

/// The short, stable fingerprint traces name a value by: Raft's entry digest, which covers the
/// operation only.
pub fn digest(op: &Op) -> String {
    Entry { term: 0, op: op.clone() }.digest()
}

/// A value as a person reads it: `noop`, or `put k1 c6-3 (client 6, seq 3)`.
pub fn describe(op: &Op) -> String {
    use crate::service::Command;
    match op {
        Op::Noop => "noop".into(),
        // Raft's membership entries; Multi-Paxos here has a fixed set of servers and never proposes one.
        Op::Config { members } => format!("config {members:?}"),
        Op::Client(Request { client, seq, command }) => {
            let what = match command {
                Command::Get { key } | Command::Delete { key } => format!("{} {key}", command.f()),
                Command::Put { key, value } | Command::Append { key, value } => {
                    format!("{} {key} {value}", command.f())
                }
                Command::Cas { key, from, to } => format!("cas {key} {} → {to}", from.as_deref().unwrap_or("-")),
            };
            format!("{what} (client {client}, seq {seq})")
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiPaxosParams {
    /// A follower's wait for a heartbeat is drawn uniformly from `[min, max]`.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// The leader's heartbeat (and Accept retry) interval, well below the election timeout.
    pub heartbeat_ms: u64,
    /// The most chosen values one Decisions carries, and the most Accepts one heartbeat resends.
    pub max_batch: usize,
    /// With a connected majority, an operation completes within this long.
    pub operation_bound_ms: u64,
    /// A new leader ignores the values its promises report and proposes new commands from its
    /// first undecided slot: a chosen value can be overwritten. Meant to fail.
    pub unsafe_skip_adopt: bool,
}

impl Default for MultiPaxosParams {
    fn default() -> Self {
        MultiPaxosParams {
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_ms: 50,
            max_batch: 64,
            operation_bound_ms: 2000,
            unsafe_skip_adopt: false,
        }
    }
}

impl Params for MultiPaxosParams {
    /// The timeouts follow raft-election's rules (same keys, same messages).
    fn validate(&self, nodes: usize) -> Result<(), String> {
        let election = crate::election::raft::RaftParams {
            election_timeout_min_ms: self.election_timeout_min_ms,
            election_timeout_max_ms: self.election_timeout_max_ms,
            heartbeat_ms: self.heartbeat_ms,
            ..Default::default()
        };
        election.validate(nodes)?;
        if self.max_batch == 0 {
            return Err("params.max_batch must be at least 1".into());
        }
        Ok(())
    }
}

/// What survives a crash: the acceptor's promise and every value it accepted, by slot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub promised: Ballot,
    /// As `[slot, accepted]` pairs: JSON (a trace, a test) cannot hold integer map keys.
    #[serde(with = "crate::service::kv::pairs")]
    pub accepted: BTreeMap<u64, Accepted>,
}

/// A leader's value for a slot not chosen yet.
#[derive(Clone, Debug)]
struct Proposal {
    value: Op,
    /// Acceptors that accepted it in this ballot, the leader included.
    acks: BTreeSet<NodeId>,
    /// When its Accepts last went out (on this node's clock).
    sent_at: Nanos,
}

#[derive(Clone, Debug, PartialEq)]
enum Role {
    Follower,
    /// Phase 1 of `ballot`: the promises so far, by acceptor.
    Candidate {
        from: u64,
        promises: BTreeMap<NodeId, Vec<SlotVote>>,
    },
    Leader,
}

pub struct MultiPaxosServer {
    me: NodeId,
    params: MultiPaxosParams,
    durable: Durable,
    role: Role,
    /// This server's own ballot (as a candidate or leader).
    ballot: Ballot,
    /// The highest ballot this server has heard of.
    highest_seen: Ballot,
    leader: Option<NodeId>,
    /// Chosen values this server knows, by slot.
    decided: BTreeMap<u64, Op>,
    /// Every slot up to this one is in `decided`.
    decided_upto: u64,
    /// The highest `commit` a leader announced.
    known_commit: u64,
    applied: u64,
    store: KvStore,
    /// Leaders only: the values of slots not chosen yet, and the next free slot.
    proposals: BTreeMap<u64, Proposal>,
    next_slot: u64,
    /// Would-be leaders only: requests held until phase 1 ends.
    held: Vec<Request>,
}

impl MultiPaxosServer {
    pub fn new(me: NodeId, params: MultiPaxosParams) -> Self {
        MultiPaxosServer {
            me,
            params,
            durable: Durable::default(),
            role: Role::Follower,
            ballot: Ballot::default(),
            highest_seen: Ballot::default(),
            leader: None,
            decided: BTreeMap::new(),
            decided_upto: 0,
            known_commit: 0,
            applied: 0,
            store: KvStore::new(),
            proposals: BTreeMap::new(),
            next_slot: 1,
            held: Vec::new(),
        }
    }

    fn majority(ctx: &Ctx<MultiPaxosTimer>) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    fn reset_election_timer(&mut self, ctx: &mut Ctx<MultiPaxosTimer>) {
        let (min, max) = (self.params.election_timeout_min_ms, self.params.election_timeout_max_ms);
        let timeout = ctx.rng().random_range(min * MS..=max * MS);
        ctx.set_timer(MultiPaxosTimer::Election, timeout);
    }

    fn persist(&self, ctx: &mut Ctx<MultiPaxosTimer>) {
        ctx.persist(&self.durable);
    }

    /// Every value this acceptor accepted from `from` on.
    fn votes_from(&self, from: u64) -> Vec<SlotVote> {
        let accepted = self.durable.accepted.range(from..);
        accepted.map(|(slot, a)| SlotVote { slot: *slot, ballot: a.ballot, value: a.value.clone() }).collect()
    }

    /// A leader or would-be leader gives its ballot up: held and pending clients are told to
    /// look elsewhere (a pending command may still be chosen; its retry is answered from the
    /// session table).
    fn step_down(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, reason: &str) {
        if self.role == Role::Leader {
            ctx.cancel_timer(MultiPaxosTimer::Heartbeat);
        }
        if self.role != Role::Follower {
            self.reset_election_timer(ctx);
        }
        self.role = Role::Follower;
        self.proposals.clear();
        if let Some(old) = self.leader.take() {
            ctx.emit(&ElectionEvent::LeaderLost(LeaderLost { leader: old, reason: reason.into(), term: None }));
        }
        for request in std::mem::take(&mut self.held) {
            let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader: None } };
            ctx.send(request.client, &MultiPaxosMsg::Reply(reply));
        }
    }

    /// Any ballot heard of: a leader or would-be leader preempted by a higher one steps down.
    fn observe(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, ballot: Ballot) {
        self.highest_seen = self.highest_seen.max(ballot);
        if self.role != Role::Follower && ballot > self.ballot {
            self.step_down(ctx, &format!("preempted by ballot {ballot}"));
        }
    }

    /// The leader of `ballot` spoke: follow it and restart the wait.
    fn follow(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, ballot: Ballot) {
        let leader = ballot.proposer;
        if leader == self.me {
            return;
        }
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::Leader(LeaderView { leader, term: None, round: Some(ballot.round) }));
        }
        self.reset_election_timer(ctx);
    }

    /// Phase 1 of a new ballot above every one promised or seen, for every slot from the first
    /// undecided one; this server's own acceptor promises first.
    fn start_phase1(&mut self, ctx: &mut Ctx<MultiPaxosTimer>) {
        let round = self.durable.promised.round.max(self.highest_seen.round) + 1;
        self.ballot = Ballot { round, proposer: self.me };
        self.highest_seen = self.ballot;
        self.durable.promised = self.ballot;
        self.persist(ctx);
        if let Some(old) = self.leader.take() {
            let reason = "no heartbeat".to_string();
            ctx.emit(&ElectionEvent::LeaderLost(LeaderLost { leader: old, reason, term: None }));
        }
        ctx.emit(&MultiPaxosEvent::Promised { ballot: self.ballot });
        ctx.emit(&ElectionEvent::ElectionStarted(Started { round: Some(round), ..Started::default() }));
        let from = self.decided_upto + 1;
        let promises = BTreeMap::from([(self.me, self.votes_from(from))]);
        self.role = Role::Candidate { from, promises };
        ctx.broadcast(&MultiPaxosMsg::Prepare { ballot: self.ballot, from });
        self.reset_election_timer(ctx);
        self.try_lead(ctx);
    }

    /// With promises from a majority: adopt, fill the gaps, propose, then lead.
    fn try_lead(&mut self, ctx: &mut Ctx<MultiPaxosTimer>) {
        let Role::Candidate { from, promises } = &self.role else { return };
        if promises.len() < Self::majority(ctx) {
            return;
        }
        let from = *from;
        let voters: Vec<NodeId> = promises.keys().copied().collect();
        // For each slot, the value of the highest ballot any promise reports.
        let mut adopted: BTreeMap<u64, (Ballot, Op)> = BTreeMap::new();
        if !self.params.unsafe_skip_adopt {
            for vote in promises.values().flatten() {
                let higher = adopted.get(&vote.slot).is_none_or(|(b, _)| vote.ballot > *b);
                if higher {
                    adopted.insert(vote.slot, (vote.ballot, vote.value.clone()));
                }
            }
        }
        self.role = Role::Leader;
        self.leader = Some(self.me);
        ctx.cancel_timer(MultiPaxosTimer::Election);
        let round = Some(self.ballot.round);
        ctx.emit(&ElectionEvent::Elected(Elected {
            leader: self.me,
            votes: Some(voters),
            round,
            ..Elected::default()
        }));
        ctx.emit(&ElectionEvent::Leader(LeaderView { leader: self.me, term: None, round }));
        let last = adopted.keys().next_back().copied().unwrap_or(from - 1);
        self.next_slot = from;
        for slot in from..=last {
            let (value, origin) = match adopted.remove(&slot) {
                Some((ballot, value)) => (value, Origin::Adopted { ballot }),
                None => (Op::Noop, Origin::Noop),
            };
            self.propose(ctx, value, origin);
        }
        ctx.set_timer(MultiPaxosTimer::Heartbeat, self.params.heartbeat_ms * MS);
        for request in std::mem::take(&mut self.held) {
            self.on_client_request(ctx, request);
        }
    }

    /// Phase 2 for the next free slot: the leader accepts its own value (persisted first), then
    /// asks every other server.
    fn propose(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, value: Op, origin: Origin) {
        let (slot, ballot) = (self.next_slot, self.ballot);
        self.next_slot += 1;
        let digest = digest(&value);
        ctx.emit(&MultiPaxosEvent::Proposed { slot, ballot, digest: digest.clone(), op: describe(&value), origin });
        self.durable.accepted.insert(slot, Accepted { ballot, value: value.clone() });
        self.persist(ctx);
        ctx.emit(&MultiPaxosEvent::Accepted { slot, ballot, digest });
        let commit = self.decided_upto;
        ctx.broadcast(&MultiPaxosMsg::Accept { ballot, slot, value: value.clone(), commit });
        let acks = BTreeSet::from([self.me]);
        self.proposals.insert(slot, Proposal { value, acks, sent_at: ctx.now() });
        self.check_chosen(ctx, slot); // a cluster of one chooses alone
    }

    fn check_chosen(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, slot: u64) {
        let Some(p) = self.proposals.get(&slot) else { return };
        if p.acks.len() < Self::majority(ctx) {
            return;
        }
        let p = self.proposals.remove(&slot).expect("just seen");
        ctx.emit(&MultiPaxosEvent::Chosen { slot, ballot: self.ballot, digest: digest(&p.value) });
        self.decided.entry(slot).or_insert(p.value);
        self.advance(ctx);
    }

    /// Moves the decided prefix forward over the values now known and applies them in order.
    fn advance(&mut self, ctx: &mut Ctx<MultiPaxosTimer>) {
        while self.decided.contains_key(&(self.decided_upto + 1)) {
            self.decided_upto += 1;
        }
        while self.applied < self.decided_upto {
            self.applied += 1;
            let slot = self.applied;
            let op = self.decided[&slot].clone();
            ctx.emit(&MultiPaxosEvent::AppliedSlot { slot, digest: digest(&op) });
            let Op::Client(request) = op else { continue };
            let applied = self.store.apply_tracked(&request);
            if applied.is_fresh() {
                let (client, seq) = (request.client, request.seq);
                let (f, key) = (request.command.f().to_string(), request.command.key().to_string());
                ctx.emit(&ServiceEvent::Applied { index: slot, client, seq, f, key });
            }
            if self.role == Role::Leader {
                let reply = Reply { seq: request.seq, outcome: applied.into_outcome() };
                ctx.send(request.client, &MultiPaxosMsg::Reply(reply));
            }
        }
    }

    /// A leader of `ballot` says every slot up to `commit` is chosen: the slots this acceptor
    /// accepted in that ballot hold the chosen values. Returns the first slot it still lacks.
    fn learn(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, ballot: Ballot, commit: u64) -> Option<u64> {
        self.known_commit = self.known_commit.max(commit);
        for slot in self.decided_upto + 1..=commit {
            if self.decided.contains_key(&slot) {
                continue;
            }
            match self.durable.accepted.get(&slot) {
                Some(a) if a.ballot == ballot => {
                    self.decided.insert(slot, a.value.clone());
                }
                _ => break,
            }
        }
        self.advance(ctx);
        (self.decided_upto < self.known_commit).then_some(self.decided_upto + 1)
    }

    /// The acceptor's phase 1 rule.
    fn on_prepare(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, ballot: Ballot, first: u64) {
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            ctx.send(from, &MultiPaxosMsg::Nack { ballot, promised });
            return;
        }
        if ballot > self.durable.promised {
            self.durable.promised = ballot;
            self.persist(ctx);
            ctx.emit(&MultiPaxosEvent::Promised { ballot });
            self.observe(ctx, ballot);
            if let Some(old) = self.leader.take() {
                let reason = format!("promised ballot {ballot}");
                ctx.emit(&ElectionEvent::LeaderLost(LeaderLost { leader: old, reason, term: None }));
            }
            self.reset_election_timer(ctx); // give the would-be leader its chance
        }
        // A duplicate Prepare of the ballot promised is answered again: its first answer may be lost.
        let accepted = self.votes_from(first);
        ctx.send(from, &MultiPaxosMsg::Promise { ballot, from: first, accepted });
    }

    /// The acceptor's phase 2 rule, and the learner's: `commit` names the chosen slots.
    fn on_accept(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, accept: (Ballot, u64, Op, u64)) {
        let (ballot, slot, value, commit) = accept;
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            ctx.send(from, &MultiPaxosMsg::Nack { ballot, promised });
            return;
        }
        self.observe(ctx, ballot);
        let mine = Accepted { ballot, value };
        if self.durable.accepted.get(&slot) != Some(&mine) {
            let digest = digest(&mine.value);
            self.durable.promised = ballot;
            self.durable.accepted.insert(slot, mine);
            self.persist(ctx);
            ctx.emit(&MultiPaxosEvent::Accepted { slot, ballot, digest });
        }
        ctx.send(from, &MultiPaxosMsg::Accepted { ballot, slot });
        self.follow(ctx, ballot);
        self.learn(ctx, ballot, commit);
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, ballot: Ballot, commit: u64) {
        if ballot < self.durable.promised {
            let promised = self.durable.promised;
            ctx.send(from, &MultiPaxosMsg::Nack { ballot, promised });
            return;
        }
        self.observe(ctx, ballot);
        self.follow(ctx, ballot);
        if let Some(missing) = self.learn(ctx, ballot, commit) {
            ctx.send(from, &MultiPaxosMsg::CatchUp { from: missing });
        }
    }

    fn on_promise(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, ballot: Ballot, votes: Vec<SlotVote>) {
        let Role::Candidate { promises, .. } = &mut self.role else { return };
        if ballot != self.ballot {
            return;
        }
        promises.insert(from, votes);
        self.try_lead(ctx);
    }

    fn on_accepted(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, ballot: Ballot, slot: u64) {
        if self.role != Role::Leader || ballot != self.ballot {
            return;
        }
        if let Some(p) = self.proposals.get_mut(&slot) {
            p.acks.insert(from);
            self.check_chosen(ctx, slot);
        }
    }

    /// Chosen values from `from` on, as many as this server knows in a row (at most `max_batch`).
    fn on_catch_up(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, to: NodeId, from: u64) {
        let values: Vec<Op> =
            (from..).map_while(|slot| self.decided.get(&slot).cloned()).take(self.params.max_batch).collect();
        if !values.is_empty() {
            ctx.send(to, &MultiPaxosMsg::Decisions { from, values });
        }
    }

    fn on_decisions(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, leader: NodeId, from: u64, values: Vec<Op>) {
        let full = values.len() == self.params.max_batch;
        for (slot, value) in (from..).zip(values) {
            self.decided.entry(slot).or_insert(value);
        }
        self.advance(ctx);
        if full && self.decided_upto < self.known_commit {
            ctx.send(leader, &MultiPaxosMsg::CatchUp { from: self.decided_upto + 1 });
        }
    }

    fn on_client_request(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, request: Request) {
        match self.role {
            Role::Leader => {
                let origin = Origin::Client { client: request.client, seq: request.seq };
                self.propose(ctx, Op::Client(request), origin);
            }
            Role::Candidate { .. } => self.held.push(request),
            Role::Follower => {
                let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader: self.leader } };
                ctx.send(request.client, &MultiPaxosMsg::Reply(reply));
            }
        }
    }

    /// Every heartbeat: the commit point to everyone, and Accepts not answered within a heartbeat
    /// again (at most `max_batch` slots), to the servers that have not accepted them.
    fn heartbeat(&mut self, ctx: &mut Ctx<MultiPaxosTimer>) {
        let (ballot, commit, now) = (self.ballot, self.decided_upto, ctx.now());
        ctx.broadcast(&MultiPaxosMsg::Heartbeat { ballot, commit });
        let interval = self.params.heartbeat_ms * MS;
        let peers = ctx.peers().to_vec();
        let due = self.proposals.iter_mut().filter(|(_, p)| p.sent_at + interval <= now);
        for (slot, p) in due.take(self.params.max_batch) {
            p.sent_at = now;
            for peer in peers.iter().filter(|peer| !p.acks.contains(peer)) {
                let msg = MultiPaxosMsg::Accept { ballot, slot: *slot, value: p.value.clone(), commit };
                ctx.send(*peer, &msg);
            }
        }
    }
}

impl Process for MultiPaxosServer {
    type Msg = MultiPaxosMsg;
    type Timer = MultiPaxosTimer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, recovered: Option<Durable>) {
        self.durable = recovered.unwrap_or_default(); // none: the first boot, nothing promised
        self.highest_seen = self.durable.promised;
        let (promised, accepted) = (self.durable.promised, self.durable.accepted.len());
        ctx.emit(&MultiPaxosEvent::Restored { promised, accepted });
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, from: NodeId, msg: MultiPaxosMsg) {
        match msg {
            MultiPaxosMsg::Prepare { ballot, from: first } => self.on_prepare(ctx, from, ballot, first),
            MultiPaxosMsg::Promise { ballot, accepted, .. } => self.on_promise(ctx, from, ballot, accepted),
            MultiPaxosMsg::Accept { ballot, slot, value, commit } => {
                self.on_accept(ctx, from, (ballot, slot, value, commit))
            }
            MultiPaxosMsg::Accepted { ballot, slot } => self.on_accepted(ctx, from, ballot, slot),
            MultiPaxosMsg::Nack { ballot, promised } => {
                self.highest_seen = self.highest_seen.max(promised);
                if ballot == self.ballot && self.role != Role::Follower {
                    self.step_down(ctx, &format!("nack: node {from} promised ballot {promised}"));
                }
            }
            MultiPaxosMsg::Heartbeat { ballot, commit } => self.on_heartbeat(ctx, from, ballot, commit),
            MultiPaxosMsg::CatchUp { from: first } => self.on_catch_up(ctx, from, first),
            MultiPaxosMsg::Decisions { from: first, values } => self.on_decisions(ctx, from, first, values),
            MultiPaxosMsg::Request(request) => self.on_client_request(ctx, request),
            MultiPaxosMsg::Reply(_) => {} // servers send replies; they do not take them
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, timer: MultiPaxosTimer) {
        match timer {
            MultiPaxosTimer::Election if self.role != Role::Leader => {
                if matches!(self.role, Role::Candidate { .. }) {
                    self.step_down(ctx, "phase 1 timed out");
                }
                self.start_phase1(ctx);
            }
            MultiPaxosTimer::Heartbeat if self.role == Role::Leader => {
                self.heartbeat(ctx);
                ctx.set_timer(MultiPaxosTimer::Heartbeat, self.params.heartbeat_ms * MS);
            }
            MultiPaxosTimer::Election | MultiPaxosTimer::Heartbeat => {} // a leader's wait, a follower's beat
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<MultiPaxosTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") if self.role != Role::Leader => {
                self.start_phase1(ctx);
                Ok(format!("phase 1 of ballot {}", self.ballot))
            }
            Some("elect") => Ok(format!("already leader of ballot {}", self.ballot)),
            Some("log") => Ok(format!(
                "promised {}, {} slot(s) accepted, decided up to {}, applied {}",
                self.durable.promised,
                self.durable.accepted.len(),
                self.decided_upto,
                self.applied
            )),
            _ => Err(format!("unknown command {args:?}; multi-paxos knows: elect, log")),
        }
    }

    fn status(&self) -> Status {
        let role = match self.role {
            Role::Follower => "follower",
            Role::Candidate { .. } => "candidate",
            Role::Leader => "leader",
        };
        Status { role: role.into(), leader: self.leader, term: Some(self.durable.promised.round) }
    }
}

/// The catalogue entry.
pub struct MultiPaxos;

impl Spec for MultiPaxos {
    const NAME: &'static str = "multi-paxos";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "Multi-Paxos: a stable leader runs phase 1 once for all slots, no-ops fill gaps, a key-value store";
    type Params = MultiPaxosParams;
    const CLIENT: Option<ClientFactory> = Some(client::kv_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &MultiPaxosParams) -> Result<impl Process, String> {
        Ok(MultiPaxosServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        check::properties()
    }

    fn check(run: &Execution, p: &MultiPaxosParams) -> CheckReport {
        check_multipaxos(run, p)
    }
}

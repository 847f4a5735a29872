//! ZAB, the ZooKeeper atomic broadcast (Junqueira, Reed, Serafini, "Zab: High-performance
//! broadcast for primary-backup systems", DSN 2011), with ZooKeeper's fast leader election, and
//! the shared key-value store as its first state machine: every server applies the committed
//! transactions in zxid order to [`crate::service::kv::KvStore`] with the clients' sessions.
//!
//! Every server is a voter, a follower and a would-be leader. Rules:
//! - **Zxids** are `(epoch, counter)`: the leader of epoch e numbers its transactions (e, 1),
//!   (e, 2), …; a server's *history* is its transactions in zxid order.
//! - **Fast leader election.** A server that knows no leader is *looking*: it raises its election
//!   round and sends everyone a notification with its vote, at first for itself as (current
//!   epoch, last zxid, id). A notification of a higher round makes it adopt that round; in its
//!   round it switches to any vote higher than its own and tells everyone. When a majority's
//!   votes in its round equal its own, it waits `finalize_ms` for a better one and then leads (its
//!   own vote) or follows. A server that is following or leading answers a looking one with its
//!   leader; a looking server told so by the leader itself follows it.
//! - **Discovery.** A follower sends FOLLOWERINFO(accepted epoch). With a majority of them (its
//!   own included) the prospective leader picks a new epoch above every accepted one and sends
//!   NEWEPOCH(e). A follower whose accepted epoch is below e accepts e (persisted) and answers
//!   ACKEPOCH(current epoch, last zxid, its history's epochs). A leader that hears from a
//!   follower more recent than itself gives up.
//! - **Synchronization.** With a majority of ACKEPOCH the leader takes e as its current epoch and
//!   brings each follower to its own history: DIFF (the transactions after the follower's last,
//!   when the follower's history is a prefix of the leader's), TRUNC (drop what the leader does
//!   not have, then the difference) or SNAP (the whole history, when the difference is longer
//!   than `max_diff`), then NEWLEADER(e). The follower takes the history and e as its current
//!   epoch (persisted) and acknowledges. With a majority of NEWLEADER acknowledgements the leader
//!   commits its whole history (UPTODATE) and starts broadcasting. `unsafe_skip_sync` tells
//!   every follower it is up to date and broadcasts at once: meant to fail.
//! - **Broadcast, in zxid order.** A client's write (a follower forwards it to the leader) becomes
//!   PROPOSAL(zxid, txn) to every synced follower; a follower logs it (persisted) and ACKs; with
//!   a majority of acks the leader sends COMMIT(zxid), and each server applies in zxid order and
//!   answers the client it got the request from. A follower that sees a gap in the proposals
//!   looks again (and is synchronized anew).
//! - **Liveness.** The leader pings its followers every `tick_ms`; a follower that hears nothing
//!   from its leader for `sync_limit_ms`, or a leader that hears from no majority for as long, or
//!   one not established within `init_limit_ms`, looks again.
//!
//! Promise: integrity (only proposed transactions are delivered), total order and agreement
//! (every server delivers a prefix of one sequence), primary order (a leader's transactions in
//! the order it proposed them), primary integrity (a transaction committed under one leader is in
//! every later leader's history), and the services' linearizable, exactly-once and complete
//! operations (every operation, reads included, is a transaction). Cost: 3(N−1) messages per
//! write with an established leader (PROPOSAL, ACK, COMMIT), plus one FORWARD when the client's
//! server follows; after a leader change an election of O(N²) notifications, then 3(N−1) for
//! discovery and 3(N−1) plus the difference for synchronization.

mod check;
pub mod machine;

pub use check::{check_zab, write_cost, zab_properties, zab_property_info};
pub use machine::{KvMachine, Machine};

use crate::algorithm::{ClientFactory, Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
pub use crate::consensus::raft::Op;
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::election::event::{ElectionEvent, LeaderLost, LeaderView, Started};
use crate::service::client;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A transaction's id: the epoch of the leader that proposed it, and its number in that epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl Zxid {
    pub const ZERO: Zxid = Zxid { epoch: 0, counter: 0 };

    pub fn new(epoch: u64, counter: u64) -> Zxid {
        Zxid { epoch, counter }
    }

    /// One number per zxid, for the services' `applied` index.
    pub fn packed(self) -> u64 {
        (self.epoch << 32) | (self.counter & 0xffff_ffff)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "({}, {})", self.epoch, self.counter)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn<O = Op> {
    pub zxid: Zxid,
    pub op: O,
}

/// A vote in the fast leader election, ordered as ZooKeeper orders them: by the candidate's
/// current epoch, then its last zxid, then its id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Vote {
    pub epoch: u64,
    pub zxid: Zxid,
    pub leader: NodeId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Looking,
    Following,
    Leading,
}

/// How a leader brings a follower to its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// The follower's history is a prefix of the leader's: the transactions after it follow.
    Diff,
    /// The follower drops every transaction after `to`, then the leader's after `to` follow.
    Trunc { to: Zxid },
    /// The leader's whole history replaces the follower's.
    Snap,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ZabMsg<M: Machine = KvMachine> {
    /// The fast leader election's message: `vote` in election `round`, from a server in `state`.
    Notification {
        vote: Vote,
        round: u64,
        state: ServerState,
    },
    /// Discovery: a follower's accepted epoch (FOLLOWERINFO).
    FollowerInfo {
        accepted_epoch: u64,
    },
    /// Discovery: the prospective leader's new epoch (NEWEPOCH, ZooKeeper's LEADERINFO).
    NewEpoch {
        epoch: u64,
    },
    /// Discovery: a follower accepted `epoch`; its current epoch, last zxid, and the last zxid of
    /// each epoch in its history (what the leader needs to find where their histories part).
    AckEpoch {
        epoch: u64,
        current_epoch: u64,
        last: Zxid,
        segments: Vec<Zxid>,
    },
    /// Synchronization: DIFF, TRUNC or SNAP, with the transactions that follow.
    Sync {
        epoch: u64,
        mode: SyncMode,
        txns: Vec<Txn<M::Op>>,
    },
    /// Synchronization: "my history ends at `last`; take it and `epoch`."
    NewLeader {
        epoch: u64,
        last: Zxid,
    },
    AckNewLeader {
        epoch: u64,
        last: Zxid,
    },
    /// Everything up to `commit` is committed (ZooKeeper's UPTODATE; the leader is established).
    UpToDate {
        epoch: u64,
        commit: Zxid,
    },
    Proposal {
        txn: Txn<M::Op>,
    },
    /// Cumulative: the follower has logged every transaction up to `zxid`.
    Ack {
        epoch: u64,
        zxid: Zxid,
    },
    /// Cumulative: every transaction up to `zxid` is committed.
    Commit {
        zxid: Zxid,
    },
    Ping {
        epoch: u64,
        commit: Zxid,
    },
    /// A follower's answer to a ping: alive, and logged up to `last`.
    Pong {
        epoch: u64,
        last: Zxid,
    },
    /// A follower's news for its leader (which sessions its clients kept alive), with its pong.
    Touch {
        sessions: Vec<u64>,
    },
    /// A client's request, from the follower it reached to the leader.
    Forward(M::Request),
    /// A client's command (the service convention: see [`crate::service`]).
    Request(M::Request),
    Reply(M::Reply),
}

impl<M: Machine> Message for ZabMsg<M> {
    fn kind(&self) -> &'static str {
        match self {
            ZabMsg::Notification { .. } => "notification",
            ZabMsg::FollowerInfo { .. } => "follower_info",
            ZabMsg::NewEpoch { .. } => "new_epoch",
            ZabMsg::AckEpoch { .. } => "ack_epoch",
            ZabMsg::Sync { .. } => "sync",
            ZabMsg::NewLeader { .. } => "new_leader",
            ZabMsg::AckNewLeader { .. } => "ack_new_leader",
            ZabMsg::UpToDate { .. } => "up_to_date",
            ZabMsg::Proposal { .. } => "proposal",
            ZabMsg::Ack { .. } => "ack",
            ZabMsg::Commit { .. } => "commit",
            ZabMsg::Ping { .. } => "ping",
            ZabMsg::Pong { .. } => "pong",
            ZabMsg::Touch { .. } => "touch",
            ZabMsg::Forward(_) => "forward",
            ZabMsg::Request(_) => "request",
            ZabMsg::Reply(_) => "reply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZabTimer {
    /// A looking server sends its notification again.
    Notify,
    /// A majority agrees with this server's vote: decide, unless a better vote came.
    Finalize,
    /// A follower in discovery sends FOLLOWERINFO again (its leader may not have decided yet).
    Connect,
    /// A follower's wait for its leader (`init_limit_ms` before it is synced, `sync_limit_ms`
    /// after).
    LeaderSilent,
    /// A leader's ping and its check that a majority is still there.
    Tick,
}

impl Timer for ZabTimer {}

/// Where a leader's transaction came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Client {
        client: NodeId,
        seq: u64,
    },
    /// The leader's own transaction (a session's expiry).
    Leader,
}

/// What the checkers and the report read, beside the election's shared events (`leader`,
/// `leader_lost`, `election_started`) and the services' `applied`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum ZabEvent {
    /// At start: what the data directory held.
    Restored { accepted_epoch: u64, current_epoch: u64, last: Zxid, txns: usize },
    /// A looking server decided to lead (`leader` itself) or follow.
    Decided { leader: NodeId, round: u64, vote: Vote },
    /// A prospective leader picked `epoch`, above the accepted epochs of `from`.
    EpochChosen { epoch: u64, from: Vec<NodeId> },
    /// A leader sent `follower` a DIFF, TRUNC or SNAP of `txns` transactions.
    SyncSent { follower: NodeId, mode: SyncMode, txns: usize },
    /// A follower took its leader's history (ending at `last`) and epoch.
    Synced { leader: NodeId, epoch: u64, last: Zxid },
    /// A leader was acknowledged by a majority: `history` (zxid and digest of each transaction)
    /// is committed, and it broadcasts from now on.
    Established { epoch: u64, history: Vec<(Zxid, String)> },
    /// A leader proposed `digest` (`op`, for a person) as `zxid`.
    Proposed { zxid: Zxid, digest: String, op: String, origin: Origin },
    /// A leader saw a majority acknowledge `zxid`.
    Committed { zxid: Zxid, digest: String },
    /// A server delivered (applied) `zxid`; a restarted server delivers its history again, from
    /// the first.
    Delivered { zxid: Zxid, digest: String },
}

impl Event for ZabEvent {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZabParams {
    /// The leader's ping interval.
    pub tick_ms: u64,
    /// Discovery and synchronization must end within this long, or the server looks again.
    pub init_limit_ms: u64,
    /// A follower (or a leader) that hears nothing from its leader (from a majority) for this
    /// long looks again.
    pub sync_limit_ms: u64,
    /// A looking server's notification interval.
    pub notify_ms: u64,
    /// A looking server whose vote a majority shares waits this long for a better one.
    pub finalize_ms: u64,
    /// A difference longer than this is sent as a SNAP of the whole history.
    pub max_diff: usize,
    /// With a connected majority, an operation completes within this long.
    pub operation_bound_ms: u64,
    /// The leader skips synchronization: it tells every follower it is up to date and
    /// broadcasts at once. Meant to fail.
    pub unsafe_skip_sync: bool,
}

impl Default for ZabParams {
    fn default() -> Self {
        ZabParams {
            tick_ms: 50,
            init_limit_ms: 1000,
            sync_limit_ms: 250,
            notify_ms: 100,
            finalize_ms: 20,
            max_diff: 50,
            operation_bound_ms: 2000,
            unsafe_skip_sync: false,
        }
    }
}

impl Params for ZabParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        let positive = [
            ("tick_ms", self.tick_ms),
            ("init_limit_ms", self.init_limit_ms),
            ("sync_limit_ms", self.sync_limit_ms),
            ("notify_ms", self.notify_ms),
            ("operation_bound_ms", self.operation_bound_ms),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("params.{key} must be above 0"));
        }
        if self.tick_ms * 2 > self.sync_limit_ms {
            return Err(format!(
                "params.sync_limit_ms ({}) must be at least twice params.tick_ms ({}): a follower would look again between two pings",
                self.sync_limit_ms, self.tick_ms
            ));
        }
        if self.finalize_ms >= self.notify_ms {
            return Err(format!(
                "params.finalize_ms ({}) must be below params.notify_ms ({})",
                self.finalize_ms, self.notify_ms
            ));
        }
        if self.max_diff == 0 {
            return Err("params.max_diff must be at least 1".into());
        }
        Ok(())
    }
}

/// What survives a crash: the accepted and current epochs and the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawDurable<O>", bound(serialize = "O: Serialize", deserialize = "O: serde::de::DeserializeOwned"))]
pub struct Durable<O = Op> {
    /// The last NEWEPOCH this server accepted (the paper's f.p).
    pub accepted_epoch: u64,
    /// The last NEWLEADER this server took (the paper's f.a).
    pub current_epoch: u64,
    pub history: Vec<Txn<O>>,
}

/// [`Durable`] as stored, checked before it is trusted.
#[derive(Deserialize)]
struct RawDurable<O> {
    accepted_epoch: u64,
    current_epoch: u64,
    history: Vec<Txn<O>>,
}

impl<O> TryFrom<RawDurable<O>> for Durable<O> {
    type Error = String;

    /// A history out of zxid order, or epochs that contradict it, is corrupt state, not a default.
    fn try_from(raw: RawDurable<O>) -> Result<Durable<O>, String> {
        if raw.current_epoch > raw.accepted_epoch {
            return Err(format!("current_epoch {} is above accepted_epoch {}", raw.current_epoch, raw.accepted_epoch));
        }
        if let Some(w) = raw.history.windows(2).find(|w| w[0].zxid >= w[1].zxid) {
            return Err(format!("history: zxid {} is followed by {}", w[0].zxid, w[1].zxid));
        }
        if let Some(last) = raw.history.last().filter(|t| t.zxid.epoch > raw.current_epoch) {
            return Err(format!(
                "history: zxid {} is of an epoch above current_epoch {}",
                last.zxid, raw.current_epoch
            ));
        }
        Ok(Durable { accepted_epoch: raw.accepted_epoch, current_epoch: raw.current_epoch, history: raw.history })
    }
}

impl<O> Default for Durable<O> {
    fn default() -> Self {
        Durable { accepted_epoch: 0, current_epoch: 0, history: Vec::new() }
    }
}

impl<O> Durable<O> {
    pub fn last(&self) -> Zxid {
        self.history.last().map_or(Zxid::ZERO, |t| t.zxid)
    }

    /// The last zxid of each epoch in the history.
    pub fn segments(&self) -> Vec<Zxid> {
        let mut ends: Vec<Zxid> = Vec::new();
        for t in &self.history {
            match ends.last_mut() {
                Some(end) if end.epoch == t.zxid.epoch => *end = t.zxid,
                _ => ends.push(t.zxid),
            }
        }
        ends
    }
}

/// Where a follower's history parts from the leader's: the leader's last transaction the
/// follower also has. Each epoch's transactions come from that epoch's one leader, numbered from
/// 1 without gaps, so the follower has (e, c) exactly when its epoch-e segment reaches c.
pub fn common_point<O>(history: &[Txn<O>], segments: &[Zxid]) -> Zxid {
    let has = |z: Zxid| segments.iter().any(|s| s.epoch == z.epoch && s.counter >= z.counter);
    history.iter().rev().map(|t| t.zxid).find(|z| has(*z)).unwrap_or(Zxid::ZERO)
}

/// A follower's progress with its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// FOLLOWERINFO sent, waiting for NEWEPOCH.
    Discovery,
    /// ACKEPOCH sent, waiting for the history and NEWLEADER.
    Sync,
    /// Synced: logging proposals.
    Broadcast,
}

/// A leader's state, from its decision to lead.
#[derive(Clone, Debug, Default)]
struct Leading {
    /// The new epoch, once a majority's FOLLOWERINFO chose it.
    epoch: Option<u64>,
    /// Accepted epochs reported in FOLLOWERINFO, this server's own included.
    infos: BTreeMap<NodeId, u64>,
    /// Followers whose ACKEPOCH came, before a majority did (they are synced then).
    waiting: BTreeMap<NodeId, (u64, Zxid, Vec<Zxid>)>,
    /// A majority acknowledged the epoch.
    discovered: bool,
    /// Followers sent the history: they get every proposal from then on.
    forwarding: BTreeSet<NodeId>,
    /// Followers that took the history (acknowledged NEWLEADER), this server included.
    synced: BTreeSet<NodeId>,
    established: bool,
    /// When each follower was last heard from.
    heard: BTreeMap<NodeId, Nanos>,
    /// Proposals not committed yet, with the servers that logged them.
    pending: BTreeMap<Zxid, BTreeSet<NodeId>>,
    counter: u64,
    since: Nanos,
}

#[derive(Clone, Debug)]
enum Role {
    /// In the election: the votes of this round, by voter.
    Looking {
        votes: BTreeMap<NodeId, Vote>,
        finalizing: bool,
    },
    Following {
        leader: NodeId,
        phase: Phase,
    },
    Leading(Box<Leading>),
}

pub struct ZabServer<M: Machine = KvMachine> {
    me: NodeId,
    params: ZabParams,
    durable: Durable<M::Op>,
    role: Role,
    /// The election's logical clock.
    round: u64,
    vote: Vote,
    /// NEWEPOCH acknowledged since this start: (epoch, leader); an epoch is acknowledged to
    /// one leader only.
    epoch_acked: Option<(u64, NodeId)>,
    /// A follower's history received in synchronization, taken at NEWLEADER.
    incoming: Option<Vec<Txn<M::Op>>>,
    /// Every transaction up to this one is committed.
    commit: Zxid,
    /// The last transaction applied.
    applied: Zxid,
    /// The replicated state, and what this server's clients wait for.
    machine: M,
    /// A leader's requests held until it is established.
    held: Vec<M::Request>,
}

impl<M: Machine> ZabServer<M> {
    pub fn new(me: NodeId, params: ZabParams) -> Self {
        ZabServer {
            me,
            params,
            durable: Durable::default(),
            role: Role::Looking { votes: BTreeMap::new(), finalizing: false },
            round: 0,
            vote: Vote { epoch: 0, zxid: Zxid::ZERO, leader: me },
            epoch_acked: None,
            incoming: None,
            commit: Zxid::ZERO,
            applied: Zxid::ZERO,
            machine: M::default(),
            held: Vec::new(),
        }
    }

    fn majority(ctx: &Ctx<ZabTimer>) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    fn persist(&self, ctx: &mut Ctx<ZabTimer>) {
        ctx.persist(&self.durable);
    }

    fn own_vote(&self) -> Vote {
        Vote { epoch: self.durable.current_epoch, zxid: self.durable.last(), leader: self.me }
    }

    fn state(&self) -> ServerState {
        match self.role {
            Role::Looking { .. } => ServerState::Looking,
            Role::Following { .. } => ServerState::Following,
            Role::Leading(_) => ServerState::Leading,
        }
    }

    fn notification(&self) -> ZabMsg<M> {
        ZabMsg::Notification { vote: self.vote, round: self.round, state: self.state() }
    }

    /// The leader this server follows or is, once synced or established.
    fn known_leader(&self) -> Option<NodeId> {
        match &self.role {
            Role::Following { leader, phase: Phase::Broadcast } => Some(*leader),
            Role::Leading(l) if l.established => Some(self.me),
            _ => None,
        }
    }

    /// Leaves whatever this server was doing and enters a new election round.
    fn look(&mut self, ctx: &mut Ctx<ZabTimer>, reason: &str) {
        if let Some(old) = self.known_leader() {
            let reason = reason.to_string();
            ctx.emit(&ElectionEvent::LeaderLost(LeaderLost {
                leader: old,
                reason,
                term: Some(self.durable.current_epoch),
            }));
        }
        if matches!(self.role, Role::Leading(_)) {
            ctx.cancel_timer(ZabTimer::Tick);
            for request in std::mem::take(&mut self.held) {
                self.machine.refuse(ctx, &request, None);
            }
        }
        if matches!(self.role, Role::Following { .. }) {
            ctx.cancel_timer(ZabTimer::LeaderSilent);
            ctx.cancel_timer(ZabTimer::Connect);
        }
        self.incoming = None;
        self.round += 1;
        self.vote = self.own_vote();
        let votes = BTreeMap::from([(self.me, self.vote)]);
        self.role = Role::Looking { votes, finalizing: false };
        ctx.emit(&ElectionEvent::ElectionStarted(Started { term: Some(self.round), ..Started::default() }));
        ctx.broadcast(&self.notification());
        ctx.set_timer(ZabTimer::Notify, self.params.notify_ms * MS);
        self.check_quorum(ctx);
    }

    /// A majority of this round's votes equal this server's: wait `finalize_ms` for a better one.
    fn check_quorum(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let majority = Self::majority(ctx);
        let Role::Looking { votes, finalizing, .. } = &mut self.role else { return };
        let agree = votes.values().filter(|v| **v == self.vote).count();
        if agree >= majority && !*finalizing {
            *finalizing = true;
            ctx.set_timer(ZabTimer::Finalize, self.params.finalize_ms * MS);
        }
    }

    fn on_notification(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, vote: Vote, round: u64, state: ServerState) {
        let Role::Looking { votes, .. } = &mut self.role else {
            // An established ensemble tells a looking server who leads.
            if state == ServerState::Looking {
                ctx.send(from, &self.notification());
            }
            return;
        };
        match state {
            ServerState::Looking => {
                if round < self.round {
                    ctx.send(from, &self.notification());
                    return;
                }
                let mut changed = false;
                if round > self.round {
                    self.round = round;
                    votes.clear();
                    self.vote = Vote { epoch: self.durable.current_epoch, zxid: self.durable.last(), leader: self.me };
                    changed = true;
                }
                if vote > self.vote {
                    self.vote = vote;
                    changed = true;
                }
                votes.insert(from, vote);
                votes.insert(self.me, self.vote);
                if changed {
                    ctx.broadcast(&self.notification());
                }
                self.check_quorum(ctx);
            }
            // A follower's word is not enough: its leader may be the one that just died.
            ServerState::Following => {}
            ServerState::Leading if vote.leader == from => {
                self.vote = vote;
                self.decide(ctx);
            }
            ServerState::Leading => {}
        }
    }

    fn on_finalize(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let majority = Self::majority(ctx);
        let Role::Looking { votes, finalizing, .. } = &mut self.role else { return };
        *finalizing = false;
        if votes.values().filter(|v| **v == self.vote).count() >= majority {
            self.decide(ctx);
        }
    }

    /// The election is over for this server: lead (its own vote won) or follow.
    fn decide(&mut self, ctx: &mut Ctx<ZabTimer>) {
        ctx.cancel_timer(ZabTimer::Notify);
        ctx.cancel_timer(ZabTimer::Finalize);
        let leader = self.vote.leader;
        ctx.emit(&ZabEvent::Decided { leader, round: self.round, vote: self.vote });
        if leader == self.me {
            let infos = BTreeMap::from([(self.me, self.durable.accepted_epoch)]);
            self.role = Role::Leading(Box::new(Leading { infos, since: ctx.now(), ..Leading::default() }));
            ctx.set_timer(ZabTimer::Tick, self.params.tick_ms * MS);
            self.choose_epoch(ctx);
        } else {
            self.role = Role::Following { leader, phase: Phase::Discovery };
            ctx.send(leader, &ZabMsg::<M>::FollowerInfo { accepted_epoch: self.durable.accepted_epoch });
            ctx.set_timer(ZabTimer::Connect, self.params.tick_ms * MS);
            ctx.set_timer(ZabTimer::LeaderSilent, self.params.init_limit_ms * MS);
        }
    }

    fn leading(&mut self) -> Option<&mut Leading> {
        match &mut self.role {
            Role::Leading(l) => Some(l),
            _ => None,
        }
    }

    // ---- the leader ----

    /// With a majority's FOLLOWERINFO: a new epoch above every accepted one, accepted by this
    /// server (persisted) and sent to the followers.
    fn choose_epoch(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let majority = Self::majority(ctx);
        let me = self.me;
        let Some(l) = self.leading() else { return };
        if l.epoch.is_some() || l.infos.len() < majority {
            return;
        }
        let epoch = l.infos.values().max().copied().unwrap_or(0) + 1;
        l.epoch = Some(epoch);
        let from: Vec<NodeId> = l.infos.keys().copied().collect();
        self.durable.accepted_epoch = epoch;
        self.epoch_acked = Some((epoch, me));
        self.persist(ctx);
        ctx.emit(&ZabEvent::EpochChosen { epoch, from: from.clone() });
        for f in from.into_iter().filter(|f| *f != me) {
            ctx.send(f, &ZabMsg::<M>::NewEpoch { epoch });
        }
        let own = (self.durable.current_epoch, self.durable.last(), self.durable.segments());
        self.on_ack_epoch(ctx, me, epoch, own);
    }

    fn on_follower_info(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, accepted_epoch: u64) {
        let now = ctx.now();
        let Some(l) = self.leading() else { return };
        // A follower that comes again starts again: it is synchronized anew.
        l.forwarding.remove(&from);
        l.synced.remove(&from);
        l.waiting.remove(&from);
        l.heard.insert(from, now);
        match l.epoch {
            Some(epoch) => ctx.send(from, &ZabMsg::<M>::NewEpoch { epoch }),
            None => {
                l.infos.insert(from, accepted_epoch);
                self.choose_epoch(ctx);
            }
        }
    }

    fn on_ack_epoch(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, summary: (u64, Zxid, Vec<Zxid>)) {
        let majority = Self::majority(ctx);
        let mine = (self.durable.current_epoch, self.durable.last());
        let now = ctx.now();
        let Some(l) = self.leading() else { return };
        if l.epoch != Some(epoch) {
            return;
        }
        l.heard.insert(from, now);
        if (summary.0, summary.1) > mine {
            let reason = format!(
                "node {from} is more recent (epoch {}, last zxid {}) than this leader (epoch {}, last zxid {})",
                summary.0, summary.1, mine.0, mine.1
            );
            self.look(ctx, &reason);
            return;
        }
        if l.discovered {
            self.sync_follower(ctx, from, summary);
            return;
        }
        l.waiting.insert(from, summary);
        if l.waiting.len() < majority {
            return;
        }
        l.discovered = true;
        let waiting = std::mem::take(&mut l.waiting);
        self.durable.current_epoch = epoch;
        self.persist(ctx);
        for (f, summary) in waiting {
            self.sync_follower(ctx, f, summary);
        }
        if self.params.unsafe_skip_sync {
            self.establish(ctx);
        }
    }

    /// Brings one follower to this leader's history: DIFF, TRUNC or SNAP, then NEWLEADER. The
    /// leader itself is synced already.
    fn sync_follower(&mut self, ctx: &mut Ctx<ZabTimer>, follower: NodeId, summary: (u64, Zxid, Vec<Zxid>)) {
        let me = self.me;
        let epoch = self.durable.current_epoch;
        let (commit, last) = (self.commit, self.durable.last());
        let skip = self.params.unsafe_skip_sync;
        let max_diff = self.params.max_diff;
        let (mode, txns) = {
            let history = &self.durable.history;
            let common = common_point(history, &summary.2);
            let after: Vec<Txn<M::Op>> = history.iter().filter(|t| t.zxid > common).cloned().collect();
            if after.len() > max_diff {
                (SyncMode::Snap, history.clone())
            } else if common < summary.1 {
                (SyncMode::Trunc { to: common }, after)
            } else {
                (SyncMode::Diff, after)
            }
        };
        let Some(l) = self.leading() else { return };
        if follower == me {
            l.synced.insert(me);
            return;
        }
        l.forwarding.insert(follower);
        if skip {
            // Meant to fail: "you are up to date", whatever the follower holds.
            ctx.send(follower, &ZabMsg::<M>::Sync { epoch, mode: SyncMode::Diff, txns: vec![] });
            ctx.send(follower, &ZabMsg::<M>::NewLeader { epoch, last: summary.1 });
            l.synced.insert(follower);
            if l.established {
                ctx.send(follower, &ZabMsg::<M>::UpToDate { epoch, commit });
            }
            return;
        }
        ctx.emit(&ZabEvent::SyncSent { follower, mode, txns: txns.len() });
        ctx.send(follower, &ZabMsg::<M>::Sync { epoch, mode, txns });
        ctx.send(follower, &ZabMsg::<M>::NewLeader { epoch, last });
    }

    fn on_ack_new_leader(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, last: Zxid) {
        let majority = Self::majority(ctx);
        let now = ctx.now();
        let commit = self.commit;
        let Some(l) = self.leading() else { return };
        if l.epoch != Some(epoch) || !l.forwarding.contains(&from) {
            return;
        }
        l.heard.insert(from, now);
        l.synced.insert(from);
        if l.established {
            ctx.send(from, &ZabMsg::<M>::UpToDate { epoch, commit });
            self.acked(ctx, from, last);
        } else if l.synced.len() >= majority {
            self.establish(ctx);
        }
    }

    /// A majority took this leader's history: all of it is committed, and broadcast begins.
    fn establish(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let epoch = self.durable.current_epoch;
        let last = self.durable.last();
        let history = self.durable.history.iter().map(|t| (t.zxid, M::digest(&t.op))).collect();
        let Some(l) = self.leading() else { return };
        l.established = true;
        l.counter = 0;
        let synced: Vec<NodeId> = l.synced.iter().copied().collect();
        ctx.emit(&ZabEvent::Established { epoch, history });
        ctx.emit(&ElectionEvent::Leader(LeaderView { leader: self.me, term: Some(epoch), ..LeaderView::default() }));
        for f in synced.into_iter().filter(|f| *f != self.me) {
            ctx.send(f, &ZabMsg::<M>::UpToDate { epoch, commit: last });
        }
        self.learn_commit(ctx, last);
        self.machine.established(ctx.now());
        for request in std::mem::take(&mut self.held) {
            self.propose(ctx, request);
        }
    }

    /// A new transaction: logged by the leader (persisted first), then proposed to every synced
    /// follower.
    fn propose(&mut self, ctx: &mut Ctx<ZabTimer>, request: M::Request) {
        self.propose_op(ctx, M::order(request));
    }

    fn propose_op(&mut self, ctx: &mut Ctx<ZabTimer>, op: M::Op) {
        let me = self.me;
        let epoch = self.durable.current_epoch;
        let Some(l) = self.leading() else { return };
        l.counter += 1;
        let zxid = Zxid::new(epoch, l.counter);
        l.pending.insert(zxid, BTreeSet::from([me]));
        let to: Vec<NodeId> = l.forwarding.iter().copied().collect();
        let origin = M::origin(&op);
        let txn = Txn { zxid, op };
        self.durable.history.push(txn.clone());
        self.persist(ctx);
        ctx.emit(&ZabEvent::Proposed { zxid, digest: M::digest(&txn.op), op: M::describe(&txn.op), origin });
        for f in to {
            ctx.send(f, &ZabMsg::<M>::Proposal { txn: txn.clone() });
        }
        self.try_commit(ctx); // a cluster of one commits alone
    }

    /// `from` has logged every transaction up to `upto`.
    fn acked(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, upto: Zxid) {
        let Some(l) = self.leading() else { return };
        for (_, acks) in l.pending.range_mut(..=upto) {
            acks.insert(from);
        }
        self.try_commit(ctx);
    }

    /// Commits, in zxid order, every proposal a majority logged.
    fn try_commit(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let majority = Self::majority(ctx);
        let Some(l) = self.leading() else { return };
        let mut upto = None;
        while let Some(entry) = l.pending.first_entry() {
            if entry.get().len() < majority {
                break;
            }
            upto = Some(entry.remove_entry().0);
        }
        let Some(upto) = upto else { return };
        let to: Vec<NodeId> = l.forwarding.iter().copied().collect();
        let newly: Vec<(Zxid, String)> = self
            .durable
            .history
            .iter()
            .filter(|t| t.zxid > self.commit && t.zxid <= upto)
            .map(|t| (t.zxid, M::digest(&t.op)))
            .collect();
        for (zxid, digest) in newly {
            ctx.emit(&ZabEvent::Committed { zxid, digest });
            for f in &to {
                ctx.send(*f, &ZabMsg::<M>::Commit { zxid });
            }
        }
        self.learn_commit(ctx, upto);
    }

    fn on_ack(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, zxid: Zxid) {
        let now = ctx.now();
        let Some(l) = self.leading() else { return };
        if l.epoch != Some(epoch) || !l.forwarding.contains(&from) {
            return;
        }
        // A follower acknowledges proposals only once it took the history.
        l.synced.insert(from);
        l.heard.insert(from, now);
        self.acked(ctx, from, zxid);
    }

    fn on_tick(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let majority = Self::majority(ctx);
        let (now, me) = (ctx.now(), self.me);
        let (init, sync) = (self.params.init_limit_ms * MS, self.params.sync_limit_ms * MS);
        let epoch = self.durable.current_epoch;
        let commit = self.commit;
        let Some(l) = self.leading() else { return };
        if !l.established {
            if now >= l.since + init {
                let reason = format!("not established within init_limit_ms ({} ms)", init / MS);
                self.look(ctx, &reason);
                return;
            }
        } else {
            let alive =
                l.synced.iter().filter(|f| **f == me || l.heard.get(f).is_some_and(|t| now < *t + sync)).count();
            if alive < majority {
                let reason = format!("heard from {alive} synced server(s) within sync_limit_ms, fewer than a majority");
                self.look(ctx, &reason);
                return;
            }
            for f in l.forwarding.clone() {
                ctx.send(f, &ZabMsg::<M>::Ping { epoch, commit });
            }
            for op in self.machine.tick(now) {
                self.propose_op(ctx, op);
            }
        }
        ctx.set_timer(ZabTimer::Tick, self.params.tick_ms * MS);
    }

    // ---- the follower ----

    fn following(&self, from: NodeId) -> Option<Phase> {
        match self.role {
            Role::Following { leader, phase } if leader == from => Some(phase),
            _ => None,
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        if let Role::Following { phase: p, .. } = &mut self.role {
            *p = phase;
        }
    }

    fn heard_leader(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let limit = match self.role {
            Role::Following { phase: Phase::Broadcast, .. } => self.params.sync_limit_ms,
            _ => self.params.init_limit_ms,
        };
        ctx.set_timer(ZabTimer::LeaderSilent, limit * MS);
    }

    fn on_new_epoch(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64) {
        if self.following(from) != Some(Phase::Discovery) {
            return;
        }
        let again = self.epoch_acked == Some((epoch, from));
        if epoch < self.durable.accepted_epoch || (epoch == self.durable.accepted_epoch && !again) {
            let reason = format!(
                "node {from} offered epoch {epoch}, not above the accepted epoch {}",
                self.durable.accepted_epoch
            );
            self.look(ctx, &reason);
            return;
        }
        if epoch > self.durable.accepted_epoch {
            self.durable.accepted_epoch = epoch;
            self.persist(ctx);
        }
        self.epoch_acked = Some((epoch, from));
        let (current_epoch, last, segments) =
            (self.durable.current_epoch, self.durable.last(), self.durable.segments());
        ctx.send(from, &ZabMsg::<M>::AckEpoch { epoch, current_epoch, last, segments });
        self.set_phase(Phase::Sync);
        self.heard_leader(ctx);
    }

    fn on_sync(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, mode: SyncMode, txns: Vec<Txn<M::Op>>) {
        if self.following(from) != Some(Phase::Sync) || epoch != self.durable.accepted_epoch {
            return;
        }
        let mut history = match mode {
            SyncMode::Diff => self.durable.history.clone(),
            SyncMode::Trunc { to } => self.durable.history.iter().filter(|t| t.zxid <= to).cloned().collect(),
            SyncMode::Snap => Vec::new(),
        };
        let last = history.last().map_or(Zxid::ZERO, |t| t.zxid);
        if txns.first().is_some_and(|t| t.zxid <= last) {
            self.look(ctx, &format!("the {mode:?} from node {from} does not continue this history (last zxid {last})"));
            return;
        }
        history.extend(txns);
        self.incoming = Some(history);
        self.heard_leader(ctx);
    }

    fn on_new_leader(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, last: Zxid) {
        if self.following(from) != Some(Phase::Sync) || epoch != self.durable.accepted_epoch {
            return;
        }
        let history = self.incoming.take().unwrap_or_else(|| self.durable.history.clone());
        let mine = history.last().map_or(Zxid::ZERO, |t| t.zxid);
        if mine != last {
            let reason = format!("the history from node {from} ends at {mine}, not at {last}: a sync was lost");
            self.look(ctx, &reason);
            return;
        }
        self.durable.history = history;
        self.durable.current_epoch = epoch;
        self.persist(ctx);
        ctx.emit(&ZabEvent::Synced { leader: from, epoch, last });
        ctx.emit(&ElectionEvent::Leader(LeaderView { leader: from, term: Some(epoch), ..LeaderView::default() }));
        self.set_phase(Phase::Broadcast);
        ctx.send(from, &ZabMsg::<M>::AckNewLeader { epoch, last });
        self.heard_leader(ctx);
    }

    fn on_proposal(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, txn: Txn<M::Op>) {
        if self.following(from) != Some(Phase::Broadcast) {
            return;
        }
        self.heard_leader(ctx);
        let (epoch, last) = (self.durable.current_epoch, self.durable.last());
        let expected = if last.epoch == epoch { Zxid::new(epoch, last.counter + 1) } else { Zxid::new(epoch, 1) };
        if txn.zxid <= last {
            return; // a duplicate
        }
        if txn.zxid != expected {
            let reason = format!("proposal {} from node {from} after {last}: one was lost", txn.zxid);
            self.look(ctx, &reason);
            return;
        }
        let zxid = txn.zxid;
        self.durable.history.push(txn);
        self.persist(ctx);
        ctx.send(from, &ZabMsg::<M>::Ack { epoch, zxid });
    }

    fn on_leader_says_committed(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, commit: Zxid) {
        if self.following(from) != Some(Phase::Broadcast) {
            return;
        }
        self.heard_leader(ctx);
        self.learn_commit(ctx, commit);
    }

    fn on_ping(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, epoch: u64, commit: Zxid) {
        if self.following(from) != Some(Phase::Broadcast) || epoch != self.durable.current_epoch {
            return;
        }
        self.on_leader_says_committed(ctx, from, commit);
        ctx.send(from, &ZabMsg::<M>::Pong { epoch, last: self.durable.last() });
        let sessions = self.machine.touches();
        if !sessions.is_empty() {
            ctx.send(from, &ZabMsg::<M>::Touch { sessions });
        }
    }

    // ---- every server ----

    /// Everything up to `commit` is committed: apply it in zxid order, answering this server's
    /// clients.
    fn learn_commit(&mut self, ctx: &mut Ctx<ZabTimer>, commit: Zxid) {
        self.commit = self.commit.max(commit);
        let due: Vec<Txn<M::Op>> =
            self.durable.history.iter().filter(|t| t.zxid > self.applied && t.zxid <= self.commit).cloned().collect();
        for txn in due {
            self.applied = txn.zxid;
            ctx.emit(&ZabEvent::Delivered { zxid: txn.zxid, digest: M::digest(&txn.op) });
            self.machine.apply(ctx, txn.zxid, &txn.op);
        }
    }

    /// Whether this server can answer clients now: it leads, established, or follows a leader.
    fn serving(&self) -> bool {
        self.known_leader().is_some()
    }

    fn on_client_request(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, request: M::Request) {
        let serving = self.serving();
        let Some(request) = self.machine.route(ctx, from, request, serving) else { return };
        match &self.role {
            Role::Leading(l) => {
                if l.established {
                    self.propose(ctx, request);
                } else {
                    self.held.push(request);
                }
            }
            Role::Following { leader, phase: Phase::Broadcast } => {
                let leader = *leader;
                ctx.send(leader, &ZabMsg::<M>::Forward(request));
            }
            Role::Following { leader, .. } => {
                let leader = Some(*leader);
                self.machine.refuse(ctx, &request, leader);
            }
            Role::Looking { .. } => self.machine.refuse(ctx, &request, None),
        }
    }

    fn on_forward(&mut self, ctx: &mut Ctx<ZabTimer>, request: M::Request) {
        match &self.role {
            Role::Leading(l) if l.established => self.propose(ctx, request),
            Role::Leading(_) => self.held.push(request),
            _ => {} // the follower's client times out and tries elsewhere
        }
    }

    fn on_touch(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, sessions: &[u64]) {
        let now = ctx.now();
        let Some(l) = self.leading() else { return };
        if l.established && l.synced.contains(&from) {
            self.machine.touched(now, sessions);
        }
    }
}

impl<M: Machine> Process for ZabServer<M> {
    type Msg = ZabMsg<M>;
    type Timer = ZabTimer;
    type Durable = Durable<M::Op>;

    fn on_start(&mut self, ctx: &mut Ctx<ZabTimer>, recovered: Option<Durable<M::Op>>) {
        self.durable = recovered.unwrap_or_default(); // none: the first boot, an empty history
        let d = &self.durable;
        let (accepted_epoch, current_epoch, last, txns) =
            (d.accepted_epoch, d.current_epoch, d.last(), d.history.len());
        ctx.emit(&ZabEvent::Restored { accepted_epoch, current_epoch, last, txns });
        self.look(ctx, "started");
    }

    fn on_message(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, msg: ZabMsg<M>) {
        match msg {
            ZabMsg::Notification { vote, round, state } => self.on_notification(ctx, from, vote, round, state),
            ZabMsg::FollowerInfo { accepted_epoch } => self.on_follower_info(ctx, from, accepted_epoch),
            ZabMsg::NewEpoch { epoch } => self.on_new_epoch(ctx, from, epoch),
            ZabMsg::AckEpoch { epoch, current_epoch, last, segments } => {
                self.on_ack_epoch(ctx, from, epoch, (current_epoch, last, segments))
            }
            ZabMsg::Sync { epoch, mode, txns } => self.on_sync(ctx, from, epoch, mode, txns),
            ZabMsg::NewLeader { epoch, last } => self.on_new_leader(ctx, from, epoch, last),
            ZabMsg::AckNewLeader { epoch, last } => self.on_ack_new_leader(ctx, from, epoch, last),
            ZabMsg::UpToDate { epoch, commit } if epoch == self.durable.current_epoch => {
                self.on_leader_says_committed(ctx, from, commit)
            }
            ZabMsg::UpToDate { .. } => {}
            ZabMsg::Proposal { txn } => self.on_proposal(ctx, from, txn),
            ZabMsg::Ack { epoch, zxid } => self.on_ack(ctx, from, epoch, zxid),
            ZabMsg::Commit { zxid } => self.on_leader_says_committed(ctx, from, zxid),
            ZabMsg::Ping { epoch, commit } => self.on_ping(ctx, from, epoch, commit),
            ZabMsg::Pong { epoch, last } => self.on_ack(ctx, from, epoch, last),
            ZabMsg::Forward(request) => self.on_forward(ctx, request),
            ZabMsg::Touch { sessions } => self.on_touch(ctx, from, &sessions),
            ZabMsg::Request(request) => self.on_client_request(ctx, from, request),
            ZabMsg::Reply(_) => {} // servers send replies; they do not take them
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<ZabTimer>, timer: ZabTimer) {
        match (timer, &self.role) {
            (ZabTimer::Notify, Role::Looking { .. }) => {
                ctx.broadcast(&self.notification());
                ctx.set_timer(ZabTimer::Notify, self.params.notify_ms * MS);
            }
            (ZabTimer::Finalize, Role::Looking { .. }) => self.on_finalize(ctx),
            (ZabTimer::LeaderSilent, Role::Following { leader, .. }) => {
                let reason = format!("no word from leader {leader} in time");
                self.look(ctx, &reason);
            }
            (ZabTimer::Connect, Role::Following { leader, phase: Phase::Discovery }) => {
                ctx.send(*leader, &ZabMsg::<M>::FollowerInfo { accepted_epoch: self.durable.accepted_epoch });
                ctx.set_timer(ZabTimer::Connect, self.params.tick_ms * MS);
            }
            (ZabTimer::Tick, Role::Leading(_)) => self.on_tick(ctx),
            _ => {} // a timer of a role left
        }
    }

    fn on_command(&mut self, _ctx: &mut Ctx<ZabTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("log") => Ok(format!(
                "accepted epoch {}, current epoch {}, {} transaction(s) up to {}, committed up to {}, applied up to {}",
                self.durable.accepted_epoch,
                self.durable.current_epoch,
                self.durable.history.len(),
                self.durable.last(),
                self.commit,
                self.applied
            )),
            _ => Err(format!("unknown command {args:?}; zab knows: log")),
        }
    }

    fn status(&self) -> Status {
        let role = match &self.role {
            Role::Looking { .. } => "looking",
            Role::Following { phase: Phase::Broadcast, .. } => "following",
            Role::Following { .. } => "syncing",
            Role::Leading(l) if l.established => "leading",
            Role::Leading(_) => "establishing",
        };
        Status { role: role.into(), leader: self.known_leader(), term: Some(self.durable.current_epoch) }
    }
}

/// The catalogue entry.
pub struct Zab;

impl Spec for Zab {
    const NAME: &'static str = "zab";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "ZAB: fast leader election, discovery, synchronization (diff, trunc, snap), broadcast in zxid order, a key-value store";
    type Params = ZabParams;
    const CLIENT: Option<ClientFactory> = Some(client::kv_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZabServer::<KvMachine>::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        check::properties()
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        check_zab(run, p)
    }
}

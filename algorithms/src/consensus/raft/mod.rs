//! Raft (Ongaro & Ousterhout 2014) in full: leader election with the election restriction, log
//! replication, the commitment rule, persistence, and a key-value state machine with client
//! sessions on top ([`crate::service::kv::KvStore`]). The election-only teaching variant is
//! `raft-election` ([`crate::election::raft`]).
//!
//! Rules, as Figure 2 of the paper states them:
//! - **All servers.** If a request or response carries a term T > currentTerm: set currentTerm =
//!   T, convert to follower. If commitIndex > lastApplied: apply log[lastApplied+1] and increment
//!   lastApplied. currentTerm, votedFor and the log are persisted before any reply or request that
//!   depends on them is sent: appended as [`Record`]s (a changed term or vote; the entries written
//!   past an index), so a write costs what changed, not the whole log; a snapshot rewrites the
//!   durable state whole.
//! - **Followers** answer RPCs; one that hears nothing from a leader for its election timeout
//!   (random in `[T, 2T]`) becomes a candidate.
//! - **Candidates** increment currentTerm, vote for themselves, send RequestVote carrying their
//!   last log index and term; with votes from a majority they become leader; AppendEntries from a
//!   leader of their term makes them followers again; a timeout starts a new election.
//! - **RequestVote.** Refuse if term < currentTerm. Grant if votedFor is null or the candidate,
//!   and the candidate's log is at least as up to date as the voter's (§5.4.1: the later last
//!   term wins; with equal last terms, the longer log).
//! - **Leaders** append a no-op entry at the start of their term (§8) and send AppendEntries to
//!   each server: entries from nextIndex on (at most `max_batch`), or none as a heartbeat. A
//!   client command is appended to the local log and answered after it is applied. On success
//!   matchIndex and nextIndex advance; on a rejection nextIndex goes back by one and the leader
//!   retries (with `fast_backup`, it skips a whole conflicting term at once, §5.3). If there is an
//!   N > commitIndex that a majority has (matchIndex ≥ N) and `log[N].term` == currentTerm, set
//!   commitIndex = N (§5.4.2: entries of earlier terms are committed only indirectly;
//!   `unsafe_commit_previous_term` switches this off to show Figure 8).
//! - **AppendEntries.** Refuse if term < currentTerm, or if the log has no entry at prevLogIndex
//!   whose term is prevLogTerm (the consistency check). An existing entry that conflicts with a
//!   new one (same index, other term) is deleted with all that follow it; new entries are
//!   appended; if leaderCommit > commitIndex, commitIndex = min(leaderCommit, index of the last
//!   new entry).
//! - **Clients** (§8): a server that is not the leader answers `NotLeader` with the leader it
//!   knows of; the state machine's session table applies each `(client, seq)` at most once.
//! - **Reads** (`read`): with `log` a get is a command like any other. With `read_index` (thesis
//!   §6.4) the leader records its commitIndex as the read's index (once an entry of its own term
//!   is committed: until then it waits for its no-op), starts a heartbeat round, and answers the
//!   get from its state machine, without a log entry, once a majority has acknowledged that
//!   round (it was still leader after the read arrived) and lastApplied ≥ the read's index. With
//!   `lease` (thesis §6.4.1) it answers at once while it holds a lease: a majority acknowledged a
//!   heartbeat sent less than `lease_ms` ago on its own clock; otherwise as `read_index`. A lease
//!   is safe only while clocks run at the same rate: a leader whose clock runs slow keeps its
//!   lease after the others have elected a new leader, and serves stale reads.
//!
//! - **Leadership transfer** (thesis §3.10, `transfer-leadership M`): the leader stops taking
//!   client commands (it answers `NotLeader` naming M), brings M's log up to date, and sends it
//!   TimeoutNow; M starts an election at once, its RequestVote flagged so that voters hear it
//!   within the minimum election timeout (§4.2.3). The leader gives up after the maximum
//!   election timeout and takes commands again.
//! - **Log compaction** (§7, `snapshot_threshold`): see [`snapshot`] for taking, sending,
//!   installing and recovering from snapshots.
//!
//! Promise (Figure 3): Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
//! State Machine Safety. Cost: an election 2(N−1) messages per candidate; a command with a
//! stable leader 2(N−1) messages (AppendEntries to each follower and its reply), fewer per command
//! when several ride in one batch. A ReadIndex read costs one heartbeat round, 2(N−1) messages
//! (shared by the reads of one round); a lease read none.

mod check;
mod check_membership;
mod event;
mod log;
mod membership;
mod snapshot;
mod transfer;

pub use check::check_raft;
pub use event::{EntryId, RaftEvent};
pub(crate) use log::fnv;
pub use log::{Entry, Log, Op};
pub use membership::{Change, Config};
pub use snapshot::Snapshot;

use crate::algorithm::{ClientFactory, Family, MemberFactory, Params, PropertyInfo, Spec};
use crate::check::service::ServiceEvent;
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, Hosted, Message, NodeId, Process, Status, Timer, MS};
use crate::election::event::{Elected, ElectionEvent, LeaderLost, LeaderView, Started};
/// The term and vote events are raft-election's: the same rules, the same trace.
use crate::election::raft::RaftEvent as TermEvent;
use crate::service::kv::KvStore;
use crate::service::{client, Outcome, Reply, Request};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaftMsg {
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
        /// Sent on a TimeoutNow (thesis §3.10): voters hear it even within the minimum election
        /// timeout of their leader's last message (§4.2.3 would have them ignore it).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        transfer: bool,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// The leader's heartbeat round when it sent this, echoed in the reply: an
        /// acknowledgement of round r proves the leader was leader when it sent round r.
        round: u64,
    },
    /// On success `index` is the last index now known to match the leader's log. On a rejection
    /// it is where the leader should try next: the rejected prevLogIndex (back by one), or with
    /// `fast_backup` the first index of the conflicting term (`conflict_term`), or the
    /// follower's last index + 1 when its log is too short (`conflict_term` none).
    AppendEntriesReply {
        term: u64,
        success: bool,
        index: u64,
        conflict_term: Option<u64>,
        /// The round of the AppendEntries this answers.
        round: u64,
    },
    /// A client's command (the service convention: see [`crate::service`]).
    Request(Request),
    /// The answer to a client.
    Reply(Reply),
    /// Leadership transfer (thesis §3.10): the leader of `term` asks an up-to-date follower to
    /// start an election at once.
    TimeoutNow {
        term: u64,
    },
    /// §7: the leader's snapshot, for a follower whose next entry it has compacted (in one
    /// message: see [`snapshot`]). `round` as in AppendEntries.
    InstallSnapshot {
        term: u64,
        snapshot: Snapshot,
        round: u64,
    },
    /// `index`: the snapshot's, now matched by the follower's state (0 from a newer term).
    InstallSnapshotReply {
        term: u64,
        index: u64,
        round: u64,
    },
}

impl Message for RaftMsg {
    fn kind(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "request_vote",
            RaftMsg::Vote { .. } => "vote",
            RaftMsg::AppendEntries { .. } => "append_entries",
            RaftMsg::AppendEntriesReply { .. } => "append_entries_reply",
            RaftMsg::Request(_) => "request",
            RaftMsg::Reply(_) => "reply",
            RaftMsg::TimeoutNow { .. } => "timeout_now",
            RaftMsg::InstallSnapshot { .. } => "install_snapshot",
            RaftMsg::InstallSnapshotReply { .. } => "install_snapshot_reply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaftTimer {
    Election,
    Heartbeat,
    /// A leadership transfer gives up when this fires (an election timeout after it began).
    Transfer,
}

impl Timer for RaftTimer {}

/// How a leader answers a get (see the module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Through the log, like a write.
    #[default]
    Log,
    /// ReadIndex: a heartbeat round acknowledged by a majority, then the local state machine.
    ReadIndex,
    /// While a lease holds, locally at once; unsafe under clock drift.
    Lease,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftParams {
    /// The election timeout is drawn uniformly from `[min, max]`, the paper's `[T, 2T]`.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// The leader's heartbeat (and retry) interval, well below the election timeout.
    pub heartbeat_ms: u64,
    /// The most entries one AppendEntries carries.
    pub max_batch: usize,
    /// On a rejection, skip back over the follower's whole conflicting term at once (the
    /// conflict-term hint of §5.3) instead of one entry per round trip.
    pub fast_backup: bool,
    /// Count replicas of entries from earlier terms too: the rule of §5.4.2 switched off, so that
    /// Figure 8 can happen. Meant to fail.
    pub unsafe_commit_previous_term: bool,
    /// The liveness bound: with a connected majority, an operation completes within this long
    /// (an election after the leader's death, then a client's timeout and retry).
    pub operation_bound_ms: u64,
    /// How gets are answered: `log`, `read_index` or `lease`.
    pub read: ReadMode,
    /// With `read = "lease"`: how long after sending a heartbeat that a majority acknowledged the
    /// leader may answer gets alone, on its own clock. Below the minimum election timeout, so
    /// that (with clocks at one rate) no follower that acknowledged it can have voted for
    /// another leader yet.
    pub lease_ms: u64,
    /// Log compaction (§7): a server snapshots its state machine once it has applied this many
    /// entries past its last snapshot, and discards the log up to it. 0 (the default): never,
    /// so that every shipped config keeps its traces as they were (a default of 1000 would be
    /// reached by the longer runs and benchmarks, and change what they show).
    pub snapshot_threshold: u64,
    /// Snapshot the whole log, committed or not (the rule of §7 broken). Meant to fail: a
    /// deposed leader's snapshot holds entries that the next leader overwrites.
    pub unsafe_snapshot_uncommitted: bool,
}

impl Default for RaftParams {
    fn default() -> Self {
        RaftParams {
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_ms: 50,
            max_batch: 64,
            fast_backup: false,
            unsafe_commit_previous_term: false,
            operation_bound_ms: 2000,
            read: ReadMode::Log,
            lease_ms: 100,
            snapshot_threshold: 0,
            unsafe_snapshot_uncommitted: false,
        }
    }
}

impl Params for RaftParams {
    /// The timeouts are raft-election's, checked by its rules (same keys, same messages).
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
        if self.unsafe_snapshot_uncommitted && self.snapshot_threshold == 0 {
            return Err("params.unsafe_snapshot_uncommitted needs params.snapshot_threshold above 0: without snapshots it changes nothing".into());
        }
        if self.read == ReadMode::Lease && (self.lease_ms == 0 || self.lease_ms >= self.election_timeout_min_ms) {
            return Err(format!(
                "params.lease_ms ({}) must be at least 1 and below params.election_timeout_min_ms ({}): a longer \
                 lease outlives a follower's promise not to elect another leader",
                self.lease_ms, self.election_timeout_min_ms
            ));
        }
        Ok(())
    }
}

/// What survives a crash (Figure 2, "persistent state on all servers"), and the snapshot the
/// log follows (§7).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub current_term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

/// What a server appends to its durable state between two whole rewrites (a snapshot taken or
/// installed rewrites it whole): the hosts write a record, not the log, on every change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    /// currentTerm and votedFor, after either changed.
    HardState { term: u64, voted_for: Option<NodeId> },
    /// The log from index `after + 1` on: the entries past `after` are deleted (a conflicting
    /// suffix, or none), then these appended.
    Entries { after: u64, entries: Vec<Entry> },
}

impl Durable {
    /// One record, replayed at restart in the order it was appended.
    pub fn apply(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::HardState { term, voted_for } => {
                self.current_term = term;
                self.voted_for = voted_for;
            }
            Record::Entries { after, entries } => {
                if let Some(s) = &self.snapshot {
                    if self.log.offset() != s.index {
                        self.log = std::mem::take(&mut self.log).rebase(s.index, s.term);
                    }
                }
                let (offset, last) = (self.log.offset(), self.log.last_index());
                if after < offset || after > last {
                    return Err(format!(
                        "a record writes the log after index {after}, but the log holds indexes {offset} to {last}"
                    ));
                }
                self.log.truncate_from(after + 1);
                for entry in entries {
                    self.log.push(entry);
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

pub struct RaftServer {
    me: NodeId,
    params: RaftParams,
    /// The initial configuration (thesis §4.1): the members given to [`RaftServer::with_members`],
    /// or (`initial_given` false) every server of the cluster, known once started.
    initial: BTreeSet<NodeId>,
    initial_given: bool,
    /// The configuration in force: the latest in the log, else `initial` (see [`membership`]).
    config: Config,
    durable: Durable,
    role: Role,
    leader: Option<NodeId>,
    /// Votes granted to this node's current candidacy, its own included.
    votes: BTreeSet<NodeId>,
    commit_index: u64,
    last_applied: u64,
    store: KvStore,
    /// Leaders only: for each follower, the next entry to send and the highest known to match.
    next_index: BTreeMap<NodeId, u64>,
    match_index: BTreeMap<NodeId, u64>,
    /// The highest index sent to each follower since it last acknowledged or refused: new
    /// entries go out behind it, without resending what is in flight.
    sent: BTreeMap<NodeId, u64>,
    /// Followers sent entries since the last heartbeat.
    recent: BTreeSet<NodeId>,
    /// Leaders only: the current heartbeat round, when each recent round was sent (on this
    /// node's clock), the highest round each follower acknowledged, and the gets waiting on a
    /// round (`read_index`, or `lease` without a lease).
    round: u64,
    round_sent: BTreeMap<u64, u64>,
    acked_round: BTreeMap<NodeId, u64>,
    reads: Vec<PendingRead>,
    /// Followers, with `read = "lease"`: when the current leader was last heard from.
    heard_leader_at: Option<u64>,
    /// Leaders only: a leadership transfer under way, to whom, and whether TimeoutNow was sent.
    transfer: Option<(NodeId, bool)>,
}

/// A get that waits for a heartbeat round (and, until the leader's no-op commits, for its index).
#[derive(Clone, Debug)]
struct PendingRead {
    request: Request,
    /// The commitIndex when it was recorded; none while no entry of this term is committed.
    index: Option<u64>,
    /// The round a majority must acknowledge: the first one sent after the read arrived.
    round: u64,
}

impl RaftServer {
    /// A server of a cluster whose initial configuration is every server.
    pub fn new(me: NodeId, params: RaftParams) -> Self {
        RaftServer {
            me,
            params,
            initial: BTreeSet::new(),
            initial_given: false,
            config: Config::default(),
            durable: Durable::default(),
            role: Role::Follower,
            leader: None,
            votes: BTreeSet::new(),
            commit_index: 0,
            last_applied: 0,
            store: KvStore::new(),
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            sent: BTreeMap::new(),
            recent: BTreeSet::new(),
            round: 0,
            round_sent: BTreeMap::new(),
            acked_round: BTreeMap::new(),
            reads: Vec::new(),
            heard_leader_at: None,
            transfer: None,
        }
    }

    /// A server whose initial configuration is `members`; the cluster's other servers are
    /// spares, outside it until a leader adds them.
    pub fn with_members(me: NodeId, params: RaftParams, members: &[NodeId]) -> Self {
        let mut server = RaftServer::new(me, params);
        server.initial = members.iter().copied().collect();
        server.initial_given = true;
        server
    }

    fn term(&self) -> u64 {
        self.durable.current_term
    }

    fn log(&self) -> &Log {
        &self.durable.log
    }

    /// The other members of the configuration in force: whom a leader replicates to.
    fn followers(&self) -> Vec<NodeId> {
        self.config.members.iter().copied().filter(|m| *m != self.me).collect()
    }

    /// A fresh random timeout in `[T, 2T]`: rarely do two followers time out together.
    fn reset_election_timer(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let (min, max) = (self.params.election_timeout_min_ms, self.params.election_timeout_max_ms);
        let timeout = ctx.rng().random_range(min * MS..=max * MS);
        ctx.set_timer(RaftTimer::Election, timeout);
    }

    /// Term, vote, snapshot and log go to stable storage, whole, before any later effect is
    /// carried out: after a snapshot, which replaces the log's beginning.
    fn persist_whole(&self, ctx: &mut Ctx<RaftTimer>) {
        ctx.persist(&self.durable);
    }

    /// A changed term or vote goes to stable storage before any later effect.
    fn persist_hard_state(&self, ctx: &mut Ctx<RaftTimer>) {
        ctx.persist_append(&Record::HardState { term: self.term(), voted_for: self.durable.voted_for });
    }

    /// The log from `from` to its end, just written (appended, or replacing a conflicting
    /// suffix), goes to stable storage before any later effect.
    fn persist_entries(&self, ctx: &mut Ctx<RaftTimer>, from: u64) {
        let entries = self.log().slice(from, usize::MAX);
        ctx.persist_append(&Record::Entries { after: from - 1, entries });
    }

    fn lose_leader(&mut self, ctx: &mut Ctx<RaftTimer>, reason: &str) {
        if let Some(old) = self.leader.take() {
            ctx.emit(&ElectionEvent::LeaderLost(LeaderLost {
                leader: old,
                reason: reason.into(),
                term: Some(self.term()),
            }));
        }
    }

    /// "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert
    /// to follower." Returns whether the term changed.
    fn observe_term(&mut self, ctx: &mut Ctx<RaftTimer>, term: u64, from: NodeId) -> bool {
        if term <= self.term() {
            return false;
        }
        let was_leader = self.role == Role::Leader;
        self.lose_leader(ctx, "higher term");
        self.durable.current_term = term;
        self.durable.voted_for = None;
        self.persist_hard_state(ctx);
        ctx.emit(&TermEvent::Term { term, reason: format!("higher term from node {from}"), voted_for: None });
        self.role = Role::Follower;
        if was_leader {
            self.leave_leadership(ctx);
        }
        true
    }

    /// "Increment currentTerm, vote for self, send RequestVote RPCs to all other servers."
    /// `transfer`: on a TimeoutNow, the RequestVote flagged as a leadership transfer's.
    fn start_election(&mut self, ctx: &mut Ctx<RaftTimer>, transfer: bool) {
        self.role = Role::Candidate;
        self.durable.current_term += 1;
        self.durable.voted_for = Some(self.me);
        self.persist_hard_state(ctx);
        let term = self.term();
        ctx.emit(&TermEvent::Term { term, reason: "candidate".into(), voted_for: None });
        ctx.emit(&TermEvent::Voted { term, candidate: self.me });
        ctx.emit(&ElectionEvent::ElectionStarted(Started {
            term: Some(term),
            pre_vote: Some(false),
            ..Started::default()
        }));
        self.votes = BTreeSet::from([self.me]);
        let (last_log_index, last_log_term) = (self.log().last_index(), self.log().last_term());
        let request = RaftMsg::RequestVote { term, last_log_index, last_log_term, transfer };
        for peer in self.followers() {
            ctx.send(peer, &request); // the members of its configuration: only their votes count
        }
        self.reset_election_timer(ctx);
        if self.config.is_quorum(&self.votes) {
            self.become_leader(ctx);
        }
    }

    /// Leader state starts afresh: nextIndex just past the log, matchIndex 0; then the no-op of
    /// the new term, sent to everyone at once.
    fn become_leader(&mut self, ctx: &mut Ctx<RaftTimer>) {
        self.role = Role::Leader;
        self.leader = Some(self.me);
        let term = self.term();
        ctx.cancel_timer(RaftTimer::Election);
        let votes = Some(self.votes.iter().copied().collect());
        ctx.emit(&ElectionEvent::Elected(Elected { leader: self.me, term: Some(term), votes, ..Elected::default() }));
        ctx.emit(&ElectionEvent::Leader(LeaderView { leader: self.me, term: Some(term), round: None }));
        let next = self.log().last_index() + 1;
        self.next_index = ctx.peers().iter().map(|p| (*p, next)).collect();
        self.match_index = ctx.peers().iter().map(|p| (*p, 0)).collect();
        self.sent = ctx.peers().iter().map(|p| (*p, next - 1)).collect();
        self.acked_round = ctx.peers().iter().map(|p| (*p, 0)).collect();
        self.round_sent.clear();
        self.reads.clear();
        self.append(ctx, Op::Noop);
        ctx.set_timer(RaftTimer::Heartbeat, self.params.heartbeat_ms * MS);
    }

    /// The leader appends `op` in its term, persists, and sends it on to every follower.
    fn append(&mut self, ctx: &mut Ctx<RaftTimer>, op: Op) {
        let entry = Entry { term: self.term(), op };
        let id = EntryId { index: self.log().last_index() + 1, term: entry.term, digest: entry.digest() };
        let index = self.durable.log.push(entry);
        self.persist_entries(ctx, index);
        ctx.emit(&RaftEvent::Appended(id));
        self.refresh_config(ctx);
        self.replicate(ctx);
        self.advance_commit(ctx); // a cluster of one commits alone
        if self.params.unsafe_snapshot_uncommitted {
            self.maybe_snapshot(ctx);
        }
    }

    /// After an append: each follower gets the entries it has not been sent yet (pipelined
    /// behind those in flight), at most `max_batch` at a time. A follower that needs the snapshot
    /// gets nothing until it has acknowledged one (the heartbeat resends it): entries past a
    /// snapshot it lacks would only be refused.
    fn replicate(&mut self, ctx: &mut Ctx<RaftTimer>) {
        for peer in self.followers() {
            if self.next_index[&peer] <= self.log().offset() {
                continue;
            }
            let from = self.next_index[&peer].max(self.sent[&peer] + 1);
            if from <= self.log().last_index() {
                self.send_append(ctx, peer, from, self.params.max_batch);
            }
        }
    }

    /// Every heartbeat: a follower that was sent entries since the last one gets a bare
    /// heartbeat (they are still on their way); any other gets everything from its nextIndex on
    /// again (none: a bare heartbeat), so that what was lost is retried within two heartbeats.
    /// Each heartbeat starts a new round (see [`RaftServer::round`]).
    fn heartbeat(&mut self, ctx: &mut Ctx<RaftTimer>) {
        self.round += 1;
        let now = ctx.now();
        self.round_sent.insert(self.round, now);
        // Rounds sent longer ago than any lease lasts can confirm nothing any more.
        let horizon = now.saturating_sub(self.params.election_timeout_max_ms * MS);
        self.round_sent.retain(|_, sent| *sent >= horizon);
        let recent = std::mem::take(&mut self.recent);
        for peer in self.followers() {
            let max = if recent.contains(&peer) { 0 } else { self.params.max_batch };
            self.send_append(ctx, peer, self.next_index[&peer], max);
        }
    }

    /// AppendEntries to `peer` with up to `max` entries from `from` on; InstallSnapshot in its
    /// place when those entries are compacted, or (a heartbeat, `max` 0) an AppendEntries after
    /// the snapshot's last entry.
    fn send_append(&mut self, ctx: &mut Ctx<RaftTimer>, peer: NodeId, from: u64, max: usize) {
        if from <= self.log().offset() && max > 0 {
            return self.send_snapshot(ctx, peer);
        }
        let from = from.max(self.log().offset() + 1);
        let prev_log_index = from - 1;
        let prev_log_term = self.log().term_at(prev_log_index).expect("nextIndex is at most one past the log");
        let entries = self.log().slice(from, max);
        if !entries.is_empty() {
            self.recent.insert(peer);
        }
        let sent = self.sent.entry(peer).or_insert(0);
        *sent = (*sent).max(prev_log_index + entries.len() as u64);
        let msg = RaftMsg::AppendEntries {
            term: self.term(),
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
            round: self.round,
        };
        ctx.send(peer, &msg);
    }

    /// The commitment rule: the highest N that a majority of the configuration holds (the
    /// leader counting itself only if it is a member), if its entry is of this term (of any
    /// term with `unsafe_commit_previous_term`).
    fn advance_commit(&mut self, ctx: &mut Ctx<RaftTimer>) {
        for n in (self.commit_index + 1..=self.log().last_index()).rev() {
            let Some(term) = self.log().term_at(n) else {
                break; // compacted uncommitted (`unsafe_snapshot_uncommitted`): not counted
            };
            if term != self.term() && !self.params.unsafe_commit_previous_term {
                break; // terms only grow along the log: no earlier entry is of this term either
            }
            let holders = self.match_index.iter().filter(|(_, m)| **m >= n).map(|(id, _)| id);
            if self.config.is_quorum(holders.chain([&self.me])) {
                self.commit_to(ctx, n);
                return;
            }
        }
    }

    fn commit_to(&mut self, ctx: &mut Ctx<RaftTimer>, index: u64) {
        if index <= self.commit_index {
            return;
        }
        self.commit_index = index;
        // An index inside the snapshot (only `unsafe_snapshot_uncommitted` commits there) has no
        // term left to trace: its snapshot was traced instead.
        let term = self.log().term_at(index).unwrap_or(0);
        if index >= self.log().offset() {
            ctx.emit(&RaftEvent::Committed { index, term });
        }
        self.apply_committed(ctx);
        if self.role == Role::Leader && term == self.term() {
            // An entry of this term is committed: reads that waited for one get their index.
            for read in self.reads.iter_mut().filter(|r| r.index.is_none()) {
                read.index = Some(index);
            }
        }
        if self.role == Role::Leader {
            self.serve_reads(ctx);
        }
        self.step_down_if_removed(ctx);
    }

    /// Whether an entry of the leader's own term is committed: only then is its commitIndex
    /// known to cover every entry committed before (§8, the no-op).
    fn committed_own_term(&self) -> bool {
        self.log().term_at(self.commit_index) == Some(self.term())
    }

    /// The highest round acknowledged by a majority of the configuration, the leader counting
    /// itself if it is a member.
    fn confirmed_round(&self) -> u64 {
        let mut acked: Vec<u64> =
            self.followers().iter().map(|f| self.acked_round.get(f).copied().unwrap_or(0)).collect();
        if self.config.has(self.me) {
            acked.push(self.round);
        }
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked.get(self.config.majority() - 1).copied().unwrap_or(0)
    }

    /// Lease reads: a majority acknowledged a round sent less than `lease_ms` ago (own clock).
    fn holds_lease(&self, ctx: &Ctx<RaftTimer>) -> bool {
        let confirmed = self.confirmed_round();
        let sent = self.round_sent.range(..=confirmed).next_back().map(|(_, t)| *t);
        sent.is_some_and(|t| ctx.now() < t + self.params.lease_ms * MS) && self.committed_own_term()
    }

    /// A get from the local state machine, without a log entry.
    fn answer_read(&self, ctx: &mut Ctx<RaftTimer>, request: &Request) {
        let value = self.store.get(request.command.key()).map(str::to_string);
        let reply = Reply { seq: request.seq, outcome: Outcome::Ok { value } };
        ctx.send(request.client, &RaftMsg::Reply(reply));
    }

    /// Answers the waiting reads whose round a majority acknowledged and whose index is applied.
    fn serve_reads(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let confirmed = self.confirmed_round();
        let applied = self.last_applied;
        let (ready, waiting) = std::mem::take(&mut self.reads)
            .into_iter()
            .partition(|r| r.round <= confirmed && r.index.is_some_and(|i| i <= applied));
        self.reads = waiting;
        for read in ready {
            self.answer_read(ctx, &read.request);
        }
    }

    /// A get at a leader with `read_index` (or `lease` without a lease): recorded with its index,
    /// and a heartbeat round started at once so that it need not wait for the next one.
    fn read_index(&mut self, ctx: &mut Ctx<RaftTimer>, request: Request) {
        let index = self.committed_own_term().then_some(self.commit_index);
        self.reads.push(PendingRead { request, index, round: self.round + 1 });
        self.heartbeat(ctx);
        self.serve_reads(ctx); // a cluster of one confirms alone
    }

    /// Applies every committed entry not applied yet, in order; the leader answers the client.
    fn apply_committed(&mut self, ctx: &mut Ctx<RaftTimer>) {
        while self.last_applied < self.commit_index {
            self.last_applied += 1;
            let index = self.last_applied;
            let entry = self.log().get(index).expect("a committed entry is in the log").clone();
            let id = EntryId { index, term: entry.term, digest: entry.digest() };
            ctx.emit(&RaftEvent::AppliedEntry(id));
            if let Op::Client(request) = &entry.op {
                let applied = self.store.apply_tracked(request);
                if applied.is_fresh() {
                    let (client, seq) = (request.client, request.seq);
                    let (f, key) = (request.command.f().to_string(), request.command.key().to_string());
                    ctx.emit(&ServiceEvent::Applied { index, client, seq, f, key });
                }
                if self.role == Role::Leader {
                    let reply = Reply { seq: request.seq, outcome: applied.into_outcome() };
                    ctx.send(request.client, &RaftMsg::Reply(reply));
                }
            }
        }
        self.maybe_snapshot(ctx);
    }

    /// A leader of the current term spoke: follow it and restart the timeout.
    fn follow(&mut self, ctx: &mut Ctx<RaftTimer>, leader: NodeId) {
        self.role = Role::Follower;
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::Leader(LeaderView { leader, term: Some(self.term()), round: None }));
        }
        self.heard_leader_at = Some(ctx.now());
        self.reset_election_timer(ctx);
    }

    /// A follower that heard from its leader less than the minimum election timeout ago ignores
    /// RequestVote (thesis §4.2.3), with leases (the leader's lease rests on that promise, since
    /// a candidate could otherwise win the votes of the very majority that granted it) and while
    /// membership changes are in play (a removed server that never learnt of its removal must
    /// not depose the leader: a leader then ignores RequestVote too).
    fn leader_recently_heard(&self, ctx: &Ctx<RaftTimer>) -> bool {
        let window = self.params.election_timeout_min_ms * MS;
        let heard = self.role == Role::Follower
            && self.leader.is_some()
            && self.heard_leader_at.is_some_and(|t| ctx.now() < t + window);
        let membership = self.membership_in_play(ctx) && (heard || self.role == Role::Leader);
        (self.params.read == ReadMode::Lease && heard) || membership
    }

    fn on_request_vote(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, vote: VoteRequest) {
        let VoteRequest { term, last_index, last_term, transfer } = vote;
        if !transfer && self.leader_recently_heard(ctx) {
            return;
        }
        self.observe_term(ctx, term, from);
        let grant = term == self.term()
            && self.durable.voted_for.is_none_or(|v| v == from)
            && self.log().admits_candidate(last_term, last_index);
        if grant {
            self.durable.voted_for = Some(from);
            self.persist_hard_state(ctx);
            ctx.emit(&TermEvent::Voted { term, candidate: from });
            self.reset_election_timer(ctx);
        }
        ctx.send(from, &RaftMsg::Vote { term: self.term(), granted: grant });
    }

    fn on_append_entries(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, append: AppendEntries) {
        let AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round } = append;
        let reject = |term, index, conflict_term| RaftMsg::AppendEntriesReply {
            term,
            success: false,
            index,
            conflict_term,
            round,
        };
        if term < self.term() {
            // A stale leader: the reply tells it about the newer term.
            ctx.send(from, &reject(self.term(), prev_log_index, None));
            return;
        }
        self.observe_term(ctx, term, from);
        if self.role == Role::Leader {
            ctx.emit(&TermEvent::Conflict { term, other_leader: from });
            return;
        }
        self.follow(ctx, from);
        // Entries at or below the snapshot are committed here, hence the leader's too: only
        // those past it are compared and appended.
        let offset = self.log().offset();
        let (prev_log_index, prev_log_term, entries) = if prev_log_index < offset {
            let covered = ((offset - prev_log_index) as usize).min(entries.len());
            let term = self.log().term_at(offset).expect("the offset's term is known");
            (offset, term, entries[covered..].to_vec())
        } else {
            (prev_log_index, prev_log_term, entries)
        };
        if !self.log().matches(prev_log_index, prev_log_term) {
            let term = self.term();
            let hint = match self.log().term_at(prev_log_index) {
                _ if !self.params.fast_backup => reject(term, prev_log_index, None),
                None => reject(term, self.log().last_index() + 1, None),
                Some(t) => reject(term, self.log().first_index_of_term(prev_log_index), Some(t)),
            };
            ctx.send(from, &hint);
            return;
        }
        // Delete what conflicts, append what is new; entries already there are left alone (a
        // duplicated or late AppendEntries must not cut off entries that came after it).
        let mut changes = Vec::new();
        let mut first_written = None;
        for (k, entry) in entries.iter().enumerate() {
            let index = prev_log_index + 1 + k as u64;
            match self.log().term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    let removed = self.durable.log.truncate_from(index);
                    let removed = (index..).zip(&removed);
                    let removed = removed.map(|(i, e)| EntryId { index: i, term: e.term, digest: e.digest() });
                    changes.push(RaftEvent::Truncated { from: index, removed: removed.collect() });
                }
                None => {}
            }
            changes.push(RaftEvent::Appended(EntryId { index, term: entry.term, digest: entry.digest() }));
            first_written.get_or_insert(index);
            self.durable.log.push(entry.clone());
        }
        if let Some(from) = first_written {
            self.persist_entries(ctx, from); // everything past `from` is new: the log's suffix
        }
        for change in &changes {
            ctx.emit(change);
        }
        self.refresh_config(ctx);
        if self.params.unsafe_snapshot_uncommitted && !changes.is_empty() {
            self.maybe_snapshot(ctx);
        }
        let last_new = prev_log_index + entries.len() as u64;
        if leader_commit > self.commit_index {
            self.commit_to(ctx, leader_commit.min(last_new));
        }
        let ok = RaftMsg::AppendEntriesReply {
            term: self.term(),
            success: true,
            index: last_new,
            conflict_term: None,
            round,
        };
        ctx.send(from, &ok);
    }

    fn on_append_reply(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, reply: AppendReply) {
        let AppendReply { term, success, index, conflict_term: hint, round } = reply;
        if self.observe_term(ctx, term, from) || self.role != Role::Leader || term != self.term() {
            return;
        }
        // Accepted or refused, a reply in this term acknowledges the round it answers.
        if let Some(acked) = self.acked_round.get_mut(&from) {
            if round > *acked {
                *acked = round;
                self.serve_reads(ctx);
            }
        }
        let matched = self.match_index.get(&from).copied().unwrap_or(0);
        let next = self.next_index.get(&from).copied().unwrap_or(1);
        if success {
            if index <= matched {
                return; // a duplicate or late reply: it tells nothing new
            }
            self.match_index.insert(from, index);
            self.next_index.insert(from, next.max(index + 1));
            self.advance_commit(ctx);
            if self.role != Role::Leader {
                return; // its removal committed: it no longer leads
            }
            self.timeout_now_if_caught_up(ctx);
            let sent = self.sent[&from];
            if sent < self.log().last_index() {
                self.send_append(ctx, from, (index + 1).max(sent + 1), self.params.max_batch);
                // the next batch at once
            }
            return;
        }
        // Back off nextIndex; a rejection that would not move it back is a stale one.
        let to = match hint {
            Some(t) if self.params.fast_backup => self.log().last_index_of_term(t).map_or(index, |last| last + 1),
            _ => index,
        };
        let to = to.max(matched + 1).max(1);
        if to < next {
            self.next_index.insert(from, to);
            self.sent.insert(from, to - 1); // what was in flight past it is lost for good
            self.send_append(ctx, from, to, self.params.max_batch);
        }
    }

    fn on_client_request(&mut self, ctx: &mut Ctx<RaftTimer>, request: Request) {
        let read = request.command.read_only();
        if let Some((to, _)) = self.transfer.filter(|_| self.role == Role::Leader) {
            // Transferring: no new commands (nor reads: the transfer overrides the promise a
            // lease rests on), the client is sent on to the next leader.
            let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader: Some(to) } };
            ctx.send(request.client, &RaftMsg::Reply(reply));
        } else if self.role == Role::Leader && read && self.params.read == ReadMode::Lease && self.holds_lease(ctx) {
            self.answer_read(ctx, &request);
        } else if self.role == Role::Leader && read && self.params.read != ReadMode::Log {
            self.read_index(ctx, request);
        } else if self.role == Role::Leader {
            self.append(ctx, Op::Client(request));
        } else {
            let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader: self.leader } };
            ctx.send(request.client, &RaftMsg::Reply(reply));
        }
    }
}

/// A RequestVote's fields, for its handler.
struct VoteRequest {
    term: u64,
    last_index: u64,
    last_term: u64,
    transfer: bool,
}

/// An AppendEntries request's fields, for its handler.
struct AppendEntries {
    term: u64,
    prev_log_index: u64,
    prev_log_term: u64,
    entries: Vec<Entry>,
    leader_commit: u64,
    round: u64,
}

/// An AppendEntries reply's fields, for its handler.
struct AppendReply {
    term: u64,
    success: bool,
    index: u64,
    conflict_term: Option<u64>,
    round: u64,
}

impl Process for RaftServer {
    type Msg = RaftMsg;
    type Timer = RaftTimer;
    type Durable = Durable;

    fn replay(state: Option<Durable>, record: &[u8]) -> Result<Durable, String> {
        let record: Record = rmp_serde::from_slice(record).map_err(|e| format!("a record does not decode: {e}"))?;
        let mut durable = state.unwrap_or_default(); // records before any whole state: the first boot's
        durable.apply(record)?;
        Ok(durable)
    }

    fn on_start(&mut self, ctx: &mut Ctx<RaftTimer>, recovered: Option<Durable>) {
        self.durable = recovered.unwrap_or_default(); // none: the first boot, term 0, no vote, no log
        ctx.emit(&TermEvent::Term {
            term: self.term(),
            reason: "start".into(),
            voted_for: Some(self.durable.voted_for),
        });
        if !self.initial_given {
            self.initial = ctx.peers().iter().copied().chain([self.me]).collect();
        }
        self.restore_snapshot(ctx);
        let (last_index, last_term) = (self.log().last_index(), self.log().last_term());
        ctx.emit(&RaftEvent::LogRestored { last_index, last_term });
        self.config = Config::of(self.log(), last_index, &self.base_config());
        if self.membership_in_play(ctx) {
            self.trace_config(ctx); // the checkers' starting point; without it, every server
        }
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, msg: RaftMsg) {
        match msg {
            RaftMsg::RequestVote { term, last_log_index, last_log_term, transfer } => {
                let vote = VoteRequest { term, last_index: last_log_index, last_term: last_log_term, transfer };
                self.on_request_vote(ctx, from, vote)
            }
            RaftMsg::TimeoutNow { term } => self.on_timeout_now(ctx, from, term),
            RaftMsg::Vote { term, granted } => {
                if !self.observe_term(ctx, term, from) && self.role == Role::Candidate && term == self.term() && granted
                {
                    self.votes.insert(from);
                    if self.config.is_quorum(&self.votes) {
                        self.become_leader(ctx);
                    }
                }
            }
            RaftMsg::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round } => {
                let append = AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round };
                self.on_append_entries(ctx, from, append)
            }
            RaftMsg::AppendEntriesReply { term, success, index, conflict_term, round } => {
                let reply = AppendReply { term, success, index, conflict_term, round };
                self.on_append_reply(ctx, from, reply)
            }
            RaftMsg::InstallSnapshot { term, snapshot, round } => {
                self.on_install_snapshot(ctx, from, term, snapshot, round)
            }
            // The snapshot's index now matches: for the leader, an AppendEntries accepted up to it.
            RaftMsg::InstallSnapshotReply { term, index, round } => {
                let reply = AppendReply { term, success: true, index, conflict_term: None, round };
                self.on_append_reply(ctx, from, reply)
            }
            RaftMsg::Request(request) => self.on_client_request(ctx, request),
            RaftMsg::Reply(_) => {} // servers send replies; they do not take them
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<RaftTimer>, timer: RaftTimer) {
        match timer {
            // Outside its configuration a server never stands (a spare, or a removed server).
            RaftTimer::Election if self.role != Role::Leader && !self.config.has(self.me) => {
                self.reset_election_timer(ctx);
            }
            RaftTimer::Election if self.role != Role::Leader => {
                self.lose_leader(ctx, "election timeout");
                self.start_election(ctx, false);
            }
            RaftTimer::Transfer => self.abandon_transfer(ctx),
            RaftTimer::Heartbeat if self.role == Role::Leader => {
                self.heartbeat(ctx);
                ctx.set_timer(RaftTimer::Heartbeat, self.params.heartbeat_ms * MS);
            }
            RaftTimer::Election | RaftTimer::Heartbeat => {} // a leader's election timer, a follower's heartbeat
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<RaftTimer>, args: &[String]) -> Result<String, String> {
        if let Some(change) = Change::parse(args) {
            return self.change_membership(ctx, change?);
        }
        match args.first().map(String::as_str) {
            Some("transfer-leadership") => self.transfer_leadership(ctx, args),
            Some("elect") if !self.config.has(self.me) => {
                Err(format!("node {} is not in the configuration {:?}: it never stands", self.me, self.config.members))
            }
            Some("elect") if self.role != Role::Leader => {
                self.lose_leader(ctx, "election requested");
                self.start_election(ctx, false);
                Ok(format!("standing in term {}", self.term()))
            }
            Some("elect") => Ok(format!("already leader of term {}", self.term())),
            Some("log") => Ok(format!(
                "term {}, log ends at index {} (term {}), commit index {}, applied {}, snapshot at index {}",
                self.term(),
                self.log().last_index(),
                self.log().last_term(),
                self.commit_index,
                self.last_applied,
                self.log().offset()
            )),
            Some("config") => Ok(format!(
                "configuration {:?} (index {}, {})",
                self.config.members,
                self.config.index,
                if self.config.index <= self.commit_index { "committed" } else { "not committed yet" }
            )),
            _ => Err(format!(
                "unknown command {args:?}; raft knows: elect, log, config, add-server <id>, remove-server <id>, transfer-leadership <id>"
            )),
        }
    }

    fn status(&self) -> Status {
        let role = match self.role {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        Status { role: role.into(), leader: self.leader, term: Some(self.term()) }
    }
}

/// The catalogue entry.
pub struct Raft;

impl Spec for Raft {
    const NAME: &'static str = "raft";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "Raft: election with the log restriction, log replication, the commitment rule, persistence, a key-value store";
    type Params = RaftParams;
    const CLIENT: Option<ClientFactory> = Some(client::kv_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &RaftParams) -> Result<impl Process, String> {
        Ok(RaftServer::new(me, p.clone()))
    }

    const MEMBERSHIP: Option<MemberFactory<RaftParams>> =
        Some(|me, _peers, members, p| Ok(Hosted::boxed(RaftServer::with_members(me, p.clone(), members))));

    fn properties() -> Vec<PropertyInfo> {
        check::properties()
    }

    fn check(run: &Execution, p: &RaftParams) -> CheckReport {
        check_raft(run, p)
    }
}

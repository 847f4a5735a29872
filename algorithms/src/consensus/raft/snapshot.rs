//! Log compaction by snapshot (§7 of the paper), the rules as this server follows them:
//! - **Taking one.** A server whose state machine has applied `snapshot_threshold` entries past
//!   its last snapshot writes a new one: the key-value data and the session table (so that a
//!   retried command is still answered once, §8), the configuration in force at its last entry,
//!   and that entry's index and term (lastIncludedIndex/Term). It persists it and discards the
//!   log up to it. Only applied (hence committed) entries go into a snapshot;
//!   `unsafe_snapshot_uncommitted` snapshots the whole log instead, committed or not (meant to
//!   fail: a leader that is deposed has snapshotted entries the next leader overwrites).
//! - **InstallSnapshot.** A leader whose follower needs entries the leader has compacted sends
//!   its snapshot in place of AppendEntries (a heartbeat to such a follower is an empty
//!   AppendEntries after the snapshot's last entry, which only acknowledges the round). The
//!   follower ignores it if its term is stale; a snapshot no newer than its commitIndex tells it
//!   nothing (it holds those entries, committed, or a snapshot of them) and is only answered.
//!   Otherwise the follower persists it, keeps the log entries after the snapshot if its log has
//!   the snapshot's last entry (same index and term), else discards its whole log, loads the state
//!   machine from the snapshot, and answers with the snapshot's index: the leader sets matchIndex
//!   to it and nextIndex just past it.
//! - **Recovery.** A restarted server loads the snapshot, then the log after it: commitIndex and
//!   lastApplied start at the snapshot's index, not at 0.
//!
//! The snapshot goes in one message, not in the paper's chunks: a chunk matters when a snapshot
//! outgrows one frame or holds up a link for longer than a heartbeat — tens of megabytes on a
//! local network — while this store holds a few keys and one session per client (hundreds of
//! bytes). Cost: one InstallSnapshot and its reply per follower brought up, in place of the
//! AppendEntries the compacted entries would have taken.

use super::event::{EntryId, RaftEvent, SnapshotId};
use super::log::{fnv, Op};
use super::membership::Config;
use super::{RaftMsg, RaftServer, RaftTimer, Role};
use crate::core::process::{Ctx, NodeId};
use crate::service::kv::KvStore;
use serde::{Deserialize, Serialize};

/// The state machine after applying every entry up to `index`, and what a server needs to go on
/// from there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// lastIncludedIndex and lastIncludedTerm.
    pub index: u64,
    pub term: u64,
    /// The digest of the entry at `index`: the checkers compare it with what others applied there.
    pub digest: String,
    /// The configuration in force at `index`: where the log set it (0: the initial one), and its
    /// members.
    pub config_index: u64,
    pub members: Vec<NodeId>,
    /// The data and the session table.
    pub store: KvStore,
}

impl Snapshot {
    /// How the trace names it: its last entry, its size encoded, a digest of its state.
    pub fn id(&self) -> SnapshotId {
        let bytes = rmp_serde::to_vec_named(self).expect("snapshots always encode");
        let state = rmp_serde::to_vec_named(&self.store).expect("stores always encode");
        SnapshotId {
            index: self.index,
            term: self.term,
            digest: self.digest.clone(),
            bytes: bytes.len() as u64,
            state: format!("{:016x}", fnv(&state)),
        }
    }

    pub fn config(&self) -> Config {
        Config { index: self.config_index, members: self.members.iter().copied().collect() }
    }
}

impl RaftServer {
    /// After entries are applied (or, unsafely, appended): a snapshot once `snapshot_threshold`
    /// entries are past the last one.
    pub(super) fn maybe_snapshot(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let threshold = self.params.snapshot_threshold;
        let upto = if self.params.unsafe_snapshot_uncommitted { self.log().last_index() } else { self.last_applied };
        if threshold == 0 || upto < self.log().offset() + threshold {
            return;
        }
        // Unsafely, the entries not applied yet go into the state machine now, committed or not.
        for index in self.last_applied + 1..=upto {
            if let Some(Op::Client(request)) = self.log().get(index).map(|e| e.op.clone()) {
                self.store.apply_tracked(&request);
            }
        }
        self.last_applied = upto;
        let entry = self.log().get(upto).expect("the snapshot's last entry is past the offset");
        let snapshot = Snapshot {
            index: upto,
            term: entry.term,
            digest: entry.digest(),
            config_index: 0,
            members: Vec::new(),
            store: self.store.clone(),
        };
        let config = Config::of(self.log(), upto, &self.base_config());
        let snapshot =
            Snapshot { config_index: config.index, members: config.members.into_iter().collect(), ..snapshot };
        let id = snapshot.id();
        self.durable.log.compact(upto);
        self.durable.snapshot = Some(snapshot);
        self.persist_whole(ctx);
        ctx.emit(&RaftEvent::SnapshotTaken(id));
    }

    /// The configuration before the log's first entry: the snapshot's, else the initial one.
    pub(super) fn base_config(&self) -> Config {
        match &self.durable.snapshot {
            Some(s) => s.config(),
            None => Config { index: 0, members: self.initial.clone() },
        }
    }

    /// The leader, for a follower whose next entry it has compacted.
    pub(super) fn send_snapshot(&mut self, ctx: &mut Ctx<RaftTimer>, peer: NodeId) {
        let snapshot = self.durable.snapshot.clone().expect("a log with an offset has a snapshot");
        self.recent.insert(peer);
        let sent = self.sent.entry(peer).or_insert(0);
        *sent = (*sent).max(snapshot.index);
        ctx.send(peer, &RaftMsg::InstallSnapshot { term: self.term(), snapshot, round: self.round });
    }

    pub(super) fn on_install_snapshot(
        &mut self,
        ctx: &mut Ctx<RaftTimer>,
        from: NodeId,
        term: u64,
        snapshot: Snapshot,
        round: u64,
    ) {
        let reply = |term, index| RaftMsg::InstallSnapshotReply { term, index, round };
        if term < self.term() {
            ctx.send(from, &reply(self.term(), 0)); // a stale leader: the reply tells it the term
            return;
        }
        self.observe_term(ctx, term, from);
        if self.role == Role::Leader {
            ctx.emit(&crate::election::raft::RaftEvent::Conflict { term, other_leader: from });
            return;
        }
        self.follow(ctx, from);
        let index = snapshot.index;
        // Nothing new: those entries are committed here (or, unsafely, snapshotted already).
        if index <= self.commit_index.max(self.last_applied) {
            ctx.send(from, &reply(self.term(), index));
            return;
        }
        let removed = self.durable.log.install(index, snapshot.term);
        self.store = snapshot.store.clone();
        self.commit_index = index;
        self.last_applied = index;
        let id = snapshot.id();
        self.durable.snapshot = Some(snapshot);
        self.persist_whole(ctx);
        if !removed.is_empty() {
            let removed = (index + 1..).zip(&removed);
            let removed = removed.map(|(i, e)| EntryId { index: i, term: e.term, digest: e.digest() }).collect();
            ctx.emit(&RaftEvent::Truncated { from: index + 1, removed });
        }
        ctx.emit(&RaftEvent::SnapshotInstalled { from, snapshot: id });
        self.refresh_config(ctx);
        ctx.send(from, &reply(self.term(), index));
    }

    /// At start: the snapshot, if one was persisted, is the state machine, and the log follows it.
    pub(super) fn restore_snapshot(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let Some(snapshot) = &self.durable.snapshot else { return };
        let log = std::mem::take(&mut self.durable.log);
        self.durable.log = log.rebase(snapshot.index, snapshot.term);
        self.store = snapshot.store.clone();
        self.commit_index = snapshot.index;
        self.last_applied = snapshot.index;
        ctx.emit(&RaftEvent::SnapshotRestored(snapshot.id()));
    }
}

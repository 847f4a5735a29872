//! What a Raft server records for the checkers, beside the election's shared events
//! ([`crate::election::ElectionEvent`]: `election_started`, `elected`, `leader`, `leader_lost`)
//! and raft-election's `term` and `voted` ([`crate::election::raft::RaftEvent`]).
//!
//! Every change to a server's log is traced, after it is persisted: `log_restored` at each start
//! (what the data directory held), `appended` for each entry added, `truncated` for each suffix
//! deleted. From these alone a checker rebuilds every server's log at every moment, which is what
//! Log Matching, Leader Append-Only and Leader Completeness are judged on. A snapshot (§7) is
//! traced when taken, installed from a leader, or restored at a start: it stands for every entry
//! up to its index, of which the trace names the last.

use crate::core::event::Event;
use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};

/// One log entry as traces name it: its position, its term and a digest of its operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryId {
    pub index: u64,
    pub term: u64,
    pub digest: String,
}

/// A snapshot as traces name it: its last entry (lastIncludedIndex/Term and the entry's digest),
/// its size encoded, and a digest of the state machine it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotId {
    pub index: u64,
    pub term: u64,
    pub digest: String,
    pub bytes: u64,
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RaftEvent {
    /// At start: the log the server recovered ends at `(last_index, last_term)`.
    LogRestored { last_index: u64, last_term: u64 },
    /// An entry was added at the end of the log.
    Appended(EntryId),
    /// The entries from `from` on were deleted (they conflicted with the leader's).
    Truncated { from: u64, removed: Vec<EntryId> },
    /// The server's commitIndex advanced to `index`, whose entry has `term`.
    Committed { index: u64, term: u64 },
    /// The entry was applied to the state machine (a no-op, a client's command, or a retry
    /// answered from the session table); for a client's command applied afresh the server also
    /// records the services' shared `applied` event ([`crate::check::service::ServiceEvent`]).
    AppliedEntry(EntryId),
    /// The configuration in force changed (thesis §4.1): the latest configuration entry of the
    /// log is at `index` (0: none, the initial configuration) and names `members`. Traced after
    /// the log change that caused it, and at start when membership changes are in play.
    Config { index: u64, members: Vec<NodeId> },
    /// The server snapshotted its state machine and discarded its log up to the snapshot's index.
    SnapshotTaken(SnapshotId),
    /// The server installed the snapshot a leader sent (after persisting it): its state machine
    /// is the snapshot's, its log what followed the snapshot's last entry, if it held that entry.
    SnapshotInstalled {
        from: NodeId,
        #[serde(flatten)]
        snapshot: SnapshotId,
    },
    /// At start, before `log_restored`: the persisted snapshot the server resumes from.
    SnapshotRestored(SnapshotId),
    /// A leadership transfer to `to` (thesis §3.10): `started`, or `gave up` after an election
    /// timeout with this server still leading.
    Transfer { to: NodeId, outcome: String },
}

impl Event for RaftEvent {}

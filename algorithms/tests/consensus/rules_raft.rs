//! Raft's rules one at a time (Ongaro & Ousterhout 2014, Figure 2, §5.3–5.4, §8), as
//! `consensus/raft/mod.rs` states them: one handler called on node 1 of five, the exact effects
//! compared. The election rules it shares with `raft-election` are tested there
//! (`tests/election/rules_raft.rs`); here are those that the log changes.

use crate::common::rules::{append as append_record, *};
use algorithms::consensus::raft::{Durable, Entry, Log, Op, RaftMsg, RaftParams, RaftServer, ReadMode, Snapshot};
use algorithms::service::kv::KvStore;
use algorithms::service::{Command, Outcome, Reply, Request};
use algorithms::{NodeId, Status};
use serde_json::{json, Value};

use RaftMsg::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, RequestVote, TimeoutNow, Vote,
};

const PEERS: [NodeId; 4] = [2, 3, 4, 5];

/// A timeout range of one value (150 ms), so the effects leave nothing to chance.
fn params() -> RaftParams {
    RaftParams { election_timeout_min_ms: 150, election_timeout_max_ms: 150, heartbeat_ms: 50, ..Default::default() }
}

fn noop(term: u64) -> Entry {
    Entry { term, op: Op::Noop }
}

fn request(client: NodeId, seq: u64, key: &str, value: &str) -> Request {
    Request { client, seq, command: Command::Put { key: key.into(), value: value.into() } }
}

fn put(term: u64, client: NodeId, seq: u64, value: &str) -> Entry {
    Entry { term, op: Op::Client(request(client, seq, "x", value)) }
}

/// An entry as the persisted state shows it (JSON of its MessagePack).
fn shown(e: &Entry) -> Value {
    serde_json::to_value(e).unwrap()
}

/// The record a changed term or vote appends to stable storage.
pub(crate) fn hard_state(term: u64, voted_for: Option<NodeId>) -> Fx<RaftMsg> {
    append_record(json!({ "hard_state": { "term": term, "voted_for": voted_for } }))
}

/// The record that writes the log past index `after`: `entries` from `after + 1` on.
pub(crate) fn entries_after(after: u64, entries: &[Entry]) -> Fx<RaftMsg> {
    let entries: Vec<Value> = entries.iter().map(shown).collect();
    append_record(json!({ "entries": { "after": after, "entries": entries } }))
}

fn id(index: u64, e: &Entry) -> Value {
    json!({ "index": index, "term": e.term, "digest": e.digest() })
}

fn appended(index: u64, e: &Entry) -> Fx<RaftMsg> {
    event("appended", id(index, e))
}

/// Node 1 of five, restarted from stable storage with this term, vote and log; `p` its params.
fn server_with(term: u64, voted_for: Option<NodeId>, log: &[Entry], p: RaftParams) -> Node<RaftServer> {
    let mut n = Node::new(1, &PEERS, RaftServer::new(1, p));
    let state = Durable { current_term: term, voted_for, log: Log::from_entries(log.to_vec()), snapshot: None };
    n.stored = Some(rmp_serde::to_vec_named(&state).unwrap());
    n.start();
    n
}

fn server(term: u64, log: &[Entry]) -> Node<RaftServer> {
    server_with(term, None, log, params())
}

/// Node 1 elected by nodes 2 and 3 in `term + 1`, from a log `log` of `term`.
fn leader_with(term: u64, log: &[Entry], p: RaftParams) -> Node<RaftServer> {
    let mut n = server_with(term, None, log, p);
    fire(&mut n, "election");
    n.deliver(2, Vote { term: term + 1, granted: true });
    n.deliver(3, Vote { term: term + 1, granted: true });
    assert_eq!(n.status().role, "leader");
    n
}

fn leader(term: u64, log: &[Entry]) -> Node<RaftServer> {
    leader_with(term, log, params())
}

fn append(term: u64, prev: (u64, u64), entries: Vec<Entry>, leader_commit: u64) -> RaftMsg {
    AppendEntries { term, prev_log_index: prev.0, prev_log_term: prev.1, entries, leader_commit, round: 0 }
}

/// `msg` (an AppendEntries or its reply) as sent in heartbeat round `r`.
fn in_round(msg: RaftMsg, r: u64) -> RaftMsg {
    match msg {
        AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, .. } => {
            AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round: r }
        }
        AppendEntriesReply { term, success, index, conflict_term, .. } => {
            AppendEntriesReply { term, success, index, conflict_term, round: r }
        }
        other => other,
    }
}

fn ok(term: u64, index: u64) -> RaftMsg {
    AppendEntriesReply { term, success: true, index, conflict_term: None, round: 0 }
}

fn refused(term: u64, index: u64, conflict_term: Option<u64>) -> RaftMsg {
    AppendEntriesReply { term, success: false, index, conflict_term, round: 0 }
}

fn status(role: &str, leader: Option<NodeId>, term: u64) -> Status {
    Status { role: role.into(), leader, term: Some(term) }
}

// ---- persistence and start ----

/// Figure 2: currentTerm, votedFor and log[] are persistent state; a server that restarts
/// resumes from them as a follower, with commitIndex and lastApplied back at 0 (volatile).
#[test]
fn a_restarted_server_resumes_term_vote_and_log_from_stable_storage() {
    let mut n = Node::new(1, &PEERS, RaftServer::new(1, params()));
    let log = [noop(1), put(2, 6, 1, "a")];
    n.stored = Some(
        rmp_serde::to_vec_named(&Durable {
            current_term: 3,
            voted_for: Some(2),
            log: Log::from_entries(log.to_vec()),
            snapshot: None,
        })
        .unwrap(),
    );
    assert_eq!(
        n.start(),
        vec![
            event("term", json!({ "term": 3, "reason": "start", "voted_for": 2 })),
            event("log_restored", json!({ "last_index": 2, "last_term": 2 })),
            set_timer("election", 150),
        ]
    );
    assert_eq!(n.status(), status("follower", None, 3));
    // Its vote of term 3 still stands.
    let fx = n.deliver(4, RequestVote { term: 3, last_log_index: 9, last_log_term: 9, transfer: false });
    assert_eq!(messages(&fx), vec![(4, Vote { term: 3, granted: false })]);
}

/// Persistence in records: a term, a vote and the entries are appended as records (not the whole
/// log rewritten), and a restart replays them, in order, over the last whole state: a conflicting
/// suffix replaced by a later record is gone, the vote of the latest term stands.
#[test]
fn a_restart_replays_the_appended_records_over_the_last_whole_state() {
    let mut n = server(1, &[noop(1), put(1, 6, 1, "a")]);
    n.deliver(2, append(2, (2, 1), vec![noop(2)], 0));
    n.deliver(3, append(3, (1, 1), vec![noop(3)], 0)); // index 2 and 3 replaced
    n.deliver(4, RequestVote { term: 4, last_log_index: 2, last_log_term: 3, transfer: false });
    assert_eq!(n.appended.len(), 6, "per term: its hard state, then the entries or the vote");
    let mut replayed: Durable = rmp_serde::from_slice(n.stored.as_ref().unwrap()).unwrap();
    for record in &n.appended {
        replayed = <RaftServer as algorithms::Process>::replay(Some(replayed), record).unwrap();
    }
    assert_eq!((replayed.current_term, replayed.voted_for), (4, Some(4)));
    assert_eq!(replayed.log, Log::from_entries(vec![noop(1), noop(3)]));
    let fx = n.restart(RaftServer::new(1, params()));
    assert_eq!(fx[0], event("term", json!({ "term": 4, "reason": "start", "voted_for": 4 })));
    assert_eq!(fx[1], event("log_restored", json!({ "last_index": 2, "last_term": 3 })));
}

/// A record that writes past the end of the log it follows (a record lost in between) is no
/// state: the replay fails, naming the indexes, and the host stops.
#[test]
fn a_record_past_the_end_of_the_log_does_not_replay() {
    let gap =
        rmp_serde::to_vec_named(&algorithms::consensus::raft::Record::Entries { after: 3, entries: vec![noop(1)] })
            .unwrap();
    let err = <RaftServer as algorithms::Process>::replay(None, &gap).unwrap_err();
    assert!(err.contains("after index 3") && err.contains("indexes 0 to 0"), "{err}");
    let err = <RaftServer as algorithms::Process>::replay(None, b"\x92\xa3not a record").unwrap_err();
    assert!(err.contains("does not decode"), "{err}");
}

/// §5.2 with §5.4.1: a candidate's RequestVote carries the index and term of its last entry;
/// term, vote and log go to stable storage first.
#[test]
fn a_candidate_asks_for_votes_with_its_last_log_index_and_term() {
    let log = [noop(1), noop(2)];
    let mut n = server(2, &log);
    let mut want = vec![
        hard_state(3, Some(1)),
        event("term", json!({ "term": 3, "reason": "candidate" })),
        event("voted", json!({ "term": 3, "for": 1 })),
        event("election_started", json!({ "term": 3, "pre_vote": false })),
    ];
    want.extend(sends(&PEERS, RequestVote { term: 3, last_log_index: 2, last_log_term: 2, transfer: false }));
    want.push(set_timer("election", 150));
    assert_eq!(fire(&mut n, "election"), want);
}

// ---- §5.4.1: the election restriction ----

/// §5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the
/// candidate": a lower last term loses however long the log; with equal last terms the longer
/// log wins. A vote granted is persisted before the reply.
#[test]
fn a_voter_refuses_a_candidate_whose_log_is_less_up_to_date() {
    let log = [noop(1), noop(2), noop(2)];
    for (last_index, last_term, granted) in [(9, 1, false), (2, 2, false), (3, 2, true), (1, 3, true)] {
        let mut n = server(2, &log);
        let fx = n
            .deliver(3, RequestVote { term: 3, last_log_index: last_index, last_log_term: last_term, transfer: false });
        let mut want =
            vec![hard_state(3, None), event("term", json!({ "term": 3, "reason": "higher term from node 3" }))];
        if granted {
            want.push(hard_state(3, Some(3)));
            want.push(event("voted", json!({ "term": 3, "for": 3 })));
            want.push(set_timer("election", 150));
        }
        want.push(send(3, Vote { term: 3, granted }));
        assert_eq!(fx, want, "candidate's log ends at ({last_index}, term {last_term})");
    }
}

// ---- leaders: the no-op, nextIndex, matchIndex ----

/// §5.3 and §8: a new leader sets nextIndex just past its log for every follower, appends a
/// no-op entry of its term (persisted first) and sends it to everyone with the entry before it as
/// prevLogIndex/prevLogTerm.
#[test]
fn a_new_leader_appends_a_no_op_of_its_term_and_sends_it_to_every_follower() {
    let log = [noop(1), put(1, 6, 1, "a")];
    let mut n = server(1, &log);
    fire(&mut n, "election");
    n.deliver(2, Vote { term: 2, granted: true });
    let mut full = log.to_vec();
    full.push(noop(2));
    let mut want = vec![
        cancel_timer("election"),
        event("elected", json!({ "leader": 1, "term": 2, "votes": [1, 2, 3] })),
        event("leader", json!({ "leader": 1, "term": 2 })),
        entries_after(2, &full[2..]),
        appended(3, &noop(2)),
    ];
    want.extend(sends(&PEERS, append(2, (2, 1), vec![noop(2)], 0)));
    want.push(set_timer("heartbeat", 50));
    assert_eq!(n.deliver(3, Vote { term: 2, granted: true }), want);
    assert_eq!(n.status(), status("leader", Some(1), 2));
}

/// §5.3: "If followers crash or run slowly, or if network packets are lost, the leader retries
/// AppendEntries RPCs indefinitely": a heartbeat resends what a follower has not acknowledged,
/// from its nextIndex on, unless entries went to it since the last heartbeat (they are still on
/// their way: it gets a bare heartbeat, and the retry comes one heartbeat later).
#[test]
fn a_heartbeat_resends_every_entry_a_follower_has_not_acknowledged_since_the_last_one() {
    let mut n = leader(1, &[noop(1)]);
    n.deliver(2, ok(2, 2));
    let bare = |s: &mut Vec<Fx<RaftMsg>>, r| {
        s.insert(0, send(2, in_round(append(2, (2, 2), vec![], 0), r)));
        s.push(set_timer("heartbeat", 50));
    };
    let mut first = sends(&[3, 4, 5], in_round(append(2, (1, 1), vec![], 0), 1));
    bare(&mut first, 1);
    assert_eq!(fire(&mut n, "heartbeat"), first, "the no-op went out just now");
    let mut second = sends(&[3, 4, 5], in_round(append(2, (1, 1), vec![noop(2)], 0), 2));
    bare(&mut second, 2);
    assert_eq!(fire(&mut n, "heartbeat"), second, "a heartbeat later, it is sent again");
}

/// `max_batch`: one AppendEntries carries at most that many entries; the next batch goes as soon
/// as the follower acknowledges the first.
#[test]
fn entries_go_in_batches_of_max_batch_and_the_next_batch_follows_the_acknowledgement() {
    let log: Vec<Entry> = (1..=5).map(|i| put(1, 6, i, "v")).collect();
    let mut n = leader_with(1, &log, RaftParams { max_batch: 2, ..params() });
    // Node 2's log is empty: from index 1 on, two entries at a time.
    assert_eq!(n.deliver(2, refused(2, 0, None)), vec![send(2, append(2, (0, 0), log[..2].to_vec(), 0))]);
    assert_eq!(n.deliver(2, ok(2, 2)), vec![send(2, append(2, (2, 1), log[2..4].to_vec(), 0))]);
}

/// §5.3: "After a rejection, the leader decrements nextIndex and retries the AppendEntries RPC";
/// a rejection that would not move nextIndex back (a duplicate, or a late one) changes nothing.
#[test]
fn a_rejection_moves_next_index_back_by_one_and_retries_at_once() {
    let log = [noop(1), noop(1), noop(1)];
    let mut n = leader(1, &log);
    assert_eq!(n.deliver(2, refused(2, 3, None)), vec![send(2, append(2, (2, 1), vec![noop(1), noop(2)], 0))]);
    assert_eq!(n.deliver(2, refused(2, 2, None)), vec![send(2, append(2, (1, 1), vec![noop(1), noop(1), noop(2)], 0))]);
    assert_eq!(n.deliver(2, refused(2, 2, None)), vec![], "a duplicate of the last rejection");
    assert_eq!(n.deliver(2, refused(2, 3, None)), vec![], "a late rejection of an earlier try");
}

/// §5.3's optimization (`fast_backup`): the follower names the term of its conflicting entry and
/// the first index it holds of that term; the leader skips to just past its own last entry of
/// that term, or to the follower's first index of it when it has none; a follower whose log is
/// too short names its length.
#[test]
fn with_fast_backup_one_rejection_skips_a_whole_conflicting_term() {
    let fast = RaftParams { fast_backup: true, ..params() };
    // The follower's side.
    let mut f = server_with(3, None, &[noop(1), noop(2), noop(2), noop(2)], fast.clone());
    assert_eq!(messages(&f.deliver(2, append(4, (4, 3), vec![], 0))), vec![(2, refused(4, 2, Some(2)))]);
    assert_eq!(messages(&f.deliver(2, append(4, (7, 3), vec![], 0))), vec![(2, refused(4, 5, None))]);
    // The leader's side: it has term 1 up to index 2, so it retries from index 3.
    let log = [noop(1), noop(1), noop(3), noop(3), noop(3)];
    let mut n = leader_with(3, &log, fast.clone());
    assert_eq!(
        n.deliver(2, refused(4, 2, Some(1))),
        vec![send(2, append(4, (2, 1), vec![noop(3), noop(3), noop(3), noop(4)], 0))]
    );
    // A term the leader does not have: back to the follower's first index of it.
    let mut n = leader_with(3, &log, fast);
    assert_eq!(
        n.deliver(2, refused(4, 2, Some(2))),
        vec![send(2, append(4, (1, 1), log[1..].iter().cloned().chain([noop(4)]).collect(), 0))]
    );
}

// ---- followers: the consistency check, conflicts, commitIndex ----

/// Figure 2, AppendEntries 2: "Reply false if log doesn't contain an entry at prevLogIndex whose
/// term matches prevLogTerm"; the reply says where the leader should try next (the rejected
/// prevLogIndex). The leader is still followed: its term is current.
#[test]
fn a_follower_refuses_entries_whose_predecessor_it_does_not_hold() {
    let mut n = server(2, &[noop(1), noop(1)]);
    let fx = n.deliver(2, append(2, (2, 2), vec![noop(2)], 0));
    assert_eq!(
        fx,
        vec![
            event("leader", json!({ "leader": 2, "term": 2 })),
            set_timer("election", 150),
            send(2, refused(2, 2, None))
        ]
    );
    let fx = n.deliver(2, append(2, (5, 2), vec![], 0));
    assert_eq!(messages(&fx), vec![(2, refused(2, 5, None))], "no entry at all at index 5");
}

/// Figure 2, AppendEntries 1: "Reply false if term < currentTerm"; the reply carries the newer
/// term, so the stale leader steps down.
#[test]
fn append_entries_from_a_stale_leader_is_refused_with_the_current_term() {
    let mut n = server(5, &[noop(1)]);
    assert_eq!(n.deliver(2, append(3, (1, 1), vec![noop(3)], 1)), vec![send(2, refused(5, 1, None))]);
}

/// Figure 2, AppendEntries 3 and 4: "If an existing entry conflicts with a new one (same index
/// but different terms), delete the existing entry and all that follow it. Append any new
/// entries not already in the log." Persisted before the reply, traced after it is persisted.
#[test]
fn a_conflicting_entry_is_deleted_with_all_that_follow_and_the_new_ones_appended() {
    let old = [noop(1), put(1, 6, 1, "a"), put(1, 6, 2, "b")];
    let mut n = server(1, &old);
    n.deliver(2, append(2, (0, 0), vec![], 0)); // follows node 2
    let new = vec![noop(1), noop(2)];
    let fx = n.deliver(2, append(2, (0, 0), new.clone(), 0));
    let removed: Vec<Value> = vec![id(2, &old[1]), id(3, &old[2])];
    assert_eq!(
        fx,
        vec![
            set_timer("election", 150),
            entries_after(1, &new[1..]),
            event("truncated", json!({ "from": 2, "removed": removed })),
            appended(2, &noop(2)),
            send(2, ok(2, 2)),
        ]
    );
}

/// A duplicated or late AppendEntries whose entries are all there already changes nothing, and
/// in particular does not cut off the entries that came after it.
#[test]
fn a_late_append_entries_does_not_truncate_what_came_after_it() {
    let log = [noop(1), noop(2), put(2, 6, 1, "a")];
    let mut n = server(2, &log);
    let fx = n.deliver(2, append(2, (0, 0), vec![noop(1)], 0));
    assert_eq!(
        fx,
        vec![event("leader", json!({ "leader": 2, "term": 2 })), set_timer("election", 150), send(2, ok(2, 1))]
    );
    assert!(n.appended.is_empty(), "nothing written: {:?}", n.appended);
}

/// Figure 2, AppendEntries 5: "If leaderCommit > commitIndex, set commitIndex = min(leaderCommit,
/// index of last new entry)", then apply what is committed, in order (a follower does not answer
/// clients).
#[test]
fn a_follower_commits_up_to_the_leaders_commit_index_but_not_past_what_it_checked() {
    let mut n = server(2, &[]);
    n.deliver(2, append(2, (0, 0), vec![], 0));
    let entries = [noop(2), put(2, 6, 1, "a"), put(2, 7, 1, "b")];
    let fx = n.deliver(2, append(2, (0, 0), entries[..2].to_vec(), 3));
    assert_eq!(
        fx,
        vec![
            set_timer("election", 150),
            entries_after(0, &entries[..2]),
            appended(1, &entries[0]),
            appended(2, &entries[1]),
            event("committed", json!({ "index": 2, "term": 2 })),
            event("applied_entry", id(1, &entries[0])),
            event("applied_entry", id(2, &entries[1])),
            event("applied", json!({ "index": 2, "client": 6, "seq": 1, "f": "put", "key": "x" })),
            send(2, ok(2, 2)),
        ],
        "leaderCommit 3, but only index 2 is known to match the leader's log"
    );
}

// ---- §5.4.2: the commitment rule ----

/// §5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log
/// entries from the leader's current term are committed by counting replicas"; once one is,
/// every entry before it is committed too.
#[test]
fn only_an_entry_of_the_current_term_commits_by_counting_replicas() {
    let mut n = leader(1, &[put(1, 6, 1, "a")]);
    // Nodes 2 and 3 hold index 1 (term 1): a majority with the leader, but of an earlier term.
    // (Their replies are to a heartbeat; the no-op is in flight to them already.)
    assert_eq!(n.deliver(2, ok(2, 1)), vec![]);
    assert_eq!(n.deliver(3, ok(2, 1)), vec![]);
    // Index 2, the no-op of term 2, on a majority: both commit; the leader answers the client.
    assert_eq!(n.deliver(2, ok(2, 2)), vec![]);
    assert_eq!(
        n.deliver(3, ok(2, 2)),
        vec![
            event("committed", json!({ "index": 2, "term": 2 })),
            event("applied_entry", id(1, &put(1, 6, 1, "a"))),
            event("applied", json!({ "index": 1, "client": 6, "seq": 1, "f": "put", "key": "x" })),
            send(6, RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::Ok { value: None } })),
            event("applied_entry", id(2, &noop(2))),
        ]
    );
}

/// `unsafe_commit_previous_term = true`: the rule switched off, an entry of an earlier term
/// commits as soon as a majority holds it (what Figure 8 shows to be unsafe).
#[test]
fn with_the_unsafe_rule_an_entry_of_an_earlier_term_commits_by_counting() {
    let mut n = leader_with(1, &[put(1, 6, 1, "a")], RaftParams { unsafe_commit_previous_term: true, ..params() });
    n.deliver(2, ok(2, 1));
    let fx = n.deliver(3, ok(2, 1));
    assert_eq!(&fx[..1], &[event("committed", json!({ "index": 1, "term": 1 }))], "{fx:#?}");
}

/// §5.1: a leader that learns of a higher term from a reply steps down.
#[test]
fn a_leader_that_sees_a_higher_term_in_a_reply_steps_down() {
    let mut n = leader(1, &[]);
    let fx = n.deliver(4, refused(7, 0, None));
    assert_eq!(
        fx,
        vec![
            event("leader_lost", json!({ "leader": 1, "reason": "higher term", "term": 2 })),
            hard_state(7, None),
            event("term", json!({ "term": 7, "reason": "higher term from node 4" })),
            cancel_timer("heartbeat"),
            set_timer("election", 150),
        ]
    );
    assert_eq!(n.status(), status("follower", None, 7));
}

// ---- §8: clients ----

/// §8: "If the client contacts a follower, the follower will reject the client's request and
/// supply information about the most recent leader it has heard from."
#[test]
fn a_follower_redirects_a_client_to_the_leader_it_knows() {
    let mut n = server(2, &[]);
    assert_eq!(
        n.deliver(6, RaftMsg::Request(request(6, 1, "x", "1"))),
        vec![send(6, RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::NotLeader { leader: None } }))]
    );
    n.deliver(3, append(2, (0, 0), vec![], 0));
    assert_eq!(
        messages(&n.deliver(6, RaftMsg::Request(request(6, 1, "x", "1")))),
        vec![(6, RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::NotLeader { leader: Some(3) } }))]
    );
}

/// §5.3: "The leader appends the command to its log as a new entry, then issues AppendEntries
/// RPCs in parallel to each of the other servers"; it answers once the entry is applied. Reads go
/// through the log the same way. Entries are pipelined: a follower gets the new entry behind those
/// already in flight to it (nodes 4 and 5 have not acknowledged the no-op yet), not them again.
#[test]
fn the_leader_appends_a_command_replicates_it_and_answers_once_it_is_applied() {
    let mut n = leader(0, &[]);
    for p in [2, 3] {
        n.deliver(p, ok(1, 1));
    }
    let cmd = put(1, 6, 1, "a");
    let fx = n.deliver(6, RaftMsg::Request(request(6, 1, "x", "a")));
    let mut want = vec![entries_after(1, std::slice::from_ref(&cmd)), appended(2, &cmd)];
    want.extend(sends(&PEERS, append(1, (1, 1), vec![cmd.clone()], 1)));
    assert_eq!(fx, want);
    n.deliver(2, ok(1, 2));
    let fx = n.deliver(3, ok(1, 2));
    assert_eq!(messages(&fx), vec![(6, RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::Ok { value: None } }))]);
    let get = Request { client: 7, seq: 1, command: Command::Get { key: "x".into() } };
    n.deliver(7, RaftMsg::Request(get));
    n.deliver(2, ok(1, 3));
    let fx = n.deliver(3, ok(1, 3));
    assert_eq!(
        messages(&fx),
        vec![(7, RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::Ok { value: Some("a".into()) } }))]
    );
}

/// §8: a command retried with the same `(client, seq)` is appended again but applied once: the
/// second entry is answered from the session table, without an `applied` event of its own.
#[test]
fn a_retried_command_is_applied_once_and_answered_from_the_session_table() {
    let mut n = leader(0, &[]);
    let retry = || {
        RaftMsg::Request(Request { client: 6, seq: 1, command: Command::Append { key: "x".into(), value: "a".into() } })
    };
    n.deliver(6, retry());
    n.deliver(6, retry());
    n.deliver(2, ok(1, 3));
    let fx = n.deliver(3, ok(1, 3));
    let named = |name: &str| fx.iter().filter(|f| matches!(f, Fx::Event(n, _) if n == name)).count();
    assert_eq!(
        (named("applied_entry"), named("applied")),
        (3, 1),
        "the no-op, the command, its retry; one applied afresh"
    );
    let replies = messages(&fx);
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0], replies[1], "the retry gets the first answer");
}

// ---- thesis §6.4: reads without a log entry ----

fn reads(read: ReadMode) -> RaftParams {
    RaftParams { read, lease_ms: 100, ..params() }
}

fn get(client: NodeId, seq: u64) -> RaftMsg {
    RaftMsg::Request(Request { client, seq, command: Command::Get { key: "x".into() } })
}

fn answer(client: NodeId, seq: u64, value: Option<&str>) -> (NodeId, RaftMsg) {
    (client, RaftMsg::Reply(Reply { seq, outcome: Outcome::Ok { value: value.map(str::to_string) } }))
}

/// ReadIndex: the leader records its commitIndex, starts a heartbeat round at once, and answers
/// the get from its state machine once a majority (itself included) has acknowledged that round;
/// an acknowledgement of an earlier round proves nothing about leadership after the read came.
/// No entry is appended, nothing persisted.
#[test]
fn a_read_index_get_is_answered_once_a_majority_acknowledges_a_round_sent_after_it() {
    let mut n = leader_with(0, &[], reads(ReadMode::ReadIndex));
    n.deliver(2, ok(1, 1));
    n.deliver(3, ok(1, 1)); // the no-op commits: an entry of this term
    let mut round = sends(&[2, 3], in_round(append(1, (1, 1), vec![], 1), 1));
    round.extend(sends(&[4, 5], in_round(append(1, (0, 0), vec![], 1), 1)));
    assert_eq!(n.deliver(7, get(7, 1)), round, "a heartbeat round, no log entry");
    assert_eq!(n.deliver(2, in_round(ok(1, 1), 0)), vec![], "an earlier round confirms nothing");
    assert_eq!(n.deliver(2, in_round(ok(1, 1), 1)), vec![], "two of five");
    assert_eq!(messages(&n.deliver(3, in_round(refused(1, 1, None), 1))), vec![answer(7, 1, None)]);
}

/// A new leader whose no-op is not committed yet does not know the commitIndex (§8): a get waits
/// for an entry of its term to commit, and then for the state machine to apply up to it.
#[test]
fn a_read_index_get_at_a_new_leader_waits_for_its_no_op_to_commit() {
    let mut n = leader_with(1, &[put(1, 6, 1, "a")], reads(ReadMode::ReadIndex));
    n.deliver(7, get(7, 1));
    n.deliver(2, in_round(ok(2, 1), 1));
    assert_eq!(n.deliver(3, in_round(ok(2, 1), 1)), vec![], "confirmed leader, but its commitIndex is not known");
    n.deliver(2, ok(2, 2));
    let fx = n.deliver(3, ok(2, 2));
    assert_eq!(messages(&fx), vec![answer(6, 1, None), answer(7, 1, Some("a"))], "the put, then the read after it");
}

/// A leader that steps down with reads waiting answers them NotLeader: the clients retry at
/// once rather than time out.
#[test]
fn a_leader_that_steps_down_fails_its_waiting_reads() {
    let mut n = leader_with(0, &[], reads(ReadMode::ReadIndex));
    n.deliver(7, get(7, 1));
    let fx = n.deliver(2, RequestVote { term: 5, last_log_index: 9, last_log_term: 4, transfer: false });
    let not_leader = RaftMsg::Reply(Reply { seq: 1, outcome: Outcome::NotLeader { leader: None } });
    assert!(messages(&fx).contains(&(7, not_leader)), "{fx:#?}");
}

/// Lease reads: a majority acknowledged a heartbeat sent less than `lease_ms` ago on the
/// leader's clock, so the get is answered at once, without a message; past the lease it goes the
/// ReadIndex way.
#[test]
fn a_lease_read_is_answered_at_once_while_the_lease_holds_and_by_read_index_after() {
    let mut n = leader_with(0, &[], reads(ReadMode::Lease));
    n.at(10);
    fire(&mut n, "heartbeat"); // round 1, sent at 10 ms
    n.deliver(2, in_round(ok(1, 1), 1));
    n.deliver(3, in_round(ok(1, 1), 1));
    n.at(109);
    assert_eq!(messages(&n.deliver(7, get(7, 1))), vec![answer(7, 1, None)], "within the lease");
    n.at(110);
    let fx = n.deliver(7, get(7, 2));
    assert_eq!(messages(&fx).len(), 4, "the lease ran out: a heartbeat round to each follower, no answer yet");
    assert!(messages(&fx).iter().all(|(to, _)| PEERS.contains(to)), "{fx:#?}");
}

/// With leases, a follower that heard from its leader less than the minimum election timeout
/// ago ignores RequestVote (thesis §4.2.3): the promise every lease rests on.
#[test]
fn with_leases_a_follower_that_heard_its_leader_recently_ignores_request_vote() {
    let mut n = server_with(1, None, &[], reads(ReadMode::Lease));
    n.at(10);
    n.deliver(2, append(1, (0, 0), vec![], 0));
    n.at(159);
    assert_eq!(n.deliver(3, RequestVote { term: 2, last_log_index: 0, last_log_term: 0, transfer: false }), vec![]);
    n.at(160);
    let fx = n.deliver(3, RequestVote { term: 2, last_log_index: 0, last_log_term: 0, transfer: false });
    assert!(messages(&fx).contains(&(3, Vote { term: 2, granted: true })), "{fx:#?}");
}

/// `lease_ms` must stay below the minimum election timeout; the error names both keys.
#[test]
fn a_lease_as_long_as_the_election_timeout_is_refused() {
    use algorithms::algorithm::Params;
    let err = RaftParams { lease_ms: 150, ..reads(ReadMode::Lease) }.validate(5).unwrap_err();
    assert!(err.contains("params.lease_ms") && err.contains("params.election_timeout_min_ms"), "{err}");
    assert_eq!(RaftParams { lease_ms: 150, ..reads(ReadMode::ReadIndex) }.validate(5), Ok(()));
}

// ---- §7: log compaction by snapshot ----

/// A snapshot of the state machine `store` up to `last` (at `index`), all five servers members.
fn snapshot(index: u64, last: &Entry, store: KvStore) -> Snapshot {
    Snapshot { index, term: last.term, digest: last.digest(), config_index: 0, members: vec![1, 2, 3, 4, 5], store }
}

/// The state after `put(_, 6, 1, "a")`.
fn store_a() -> KvStore {
    let mut store = KvStore::new();
    store.apply(&request(6, 1, "x", "a"));
    store
}

fn with_snapshot(term: u64, log: &[Entry], snapshot: &Snapshot) -> Durable {
    let log = Log::from_entries(log.to_vec());
    Durable { current_term: term, voted_for: None, log, snapshot: Some(snapshot.clone()) }
}

/// Node 1 restarted from `durable`, with a snapshot threshold of 2.
fn restored(durable: &Durable) -> Node<RaftServer> {
    let mut n = Node::new(1, &PEERS, RaftServer::new(1, RaftParams { snapshot_threshold: 2, ..params() }));
    n.stored = Some(rmp_serde::to_vec_named(durable).unwrap());
    n.start();
    n
}

fn snapshot_event(name: &str, s: &Snapshot) -> Fx<RaftMsg> {
    event(name, serde_json::to_value(s.id()).unwrap())
}

/// `snapshot_installed`: the snapshot's name, and the leader it came from.
fn installed(s: &Snapshot, from: NodeId) -> Fx<RaftMsg> {
    let mut data = serde_json::to_value(s.id()).unwrap();
    data["from"] = json!(from);
    event("snapshot_installed", data)
}

/// §7: once `snapshot_threshold` entries are applied past the last snapshot, the server writes a
/// snapshot of its store and session table, with the last entry's index and term and the
/// configuration in force, persists it with the log after it, and traces it.
#[test]
fn a_server_snapshots_once_it_has_applied_the_threshold_and_discards_the_log_up_to_it() {
    let log = [noop(1), put(1, 6, 1, "a"), noop(1)];
    let mut n = Node::new(1, &PEERS, RaftServer::new(1, RaftParams { snapshot_threshold: 2, ..params() }));
    n.stored = Some(
        rmp_serde::to_vec_named(&Durable {
            current_term: 1,
            log: Log::from_entries(log.to_vec()),
            ..Default::default()
        })
        .unwrap(),
    );
    n.start();
    let taken = snapshot(2, &log[1], store_a());
    let fx = n.deliver(2, append(1, (3, 1), vec![], 2));
    let want = vec![
        event("leader", json!({ "leader": 2, "term": 1 })),
        set_timer("election", 150),
        event("committed", json!({ "index": 2, "term": 1 })),
        event("applied_entry", id(1, &log[0])),
        event("applied_entry", id(2, &log[1])),
        event("applied", json!({ "index": 2, "client": 6, "seq": 1, "f": "put", "key": "x" })),
        persist(serde_json::to_value(with_snapshot(1, &log[2..], &taken)).unwrap()),
        snapshot_event("snapshot_taken", &taken),
        send(2, ok(1, 3)),
    ];
    assert_eq!(fx, want);
    let (answer, _) = n.command(&["log"]);
    assert_eq!(answer.unwrap(), "term 1, log ends at index 3 (term 1), commit index 2, applied 2, snapshot at index 2");
}

/// §7: a leader whose follower needs an entry it has compacted sends InstallSnapshot in place
/// of AppendEntries; on the reply, matchIndex is the snapshot's index and the entries after it
/// follow at once.
#[test]
fn a_leader_sends_its_snapshot_to_a_follower_that_needs_compacted_entries_then_the_entries_after_it() {
    let snap = snapshot(2, &put(1, 6, 1, "a"), store_a());
    let mut n = restored(&with_snapshot(1, &[noop(1)], &snap));
    fire(&mut n, "election");
    n.deliver(2, Vote { term: 2, granted: true });
    n.deliver(3, Vote { term: 2, granted: true });
    assert_eq!(n.status(), status("leader", Some(1), 2));
    // Node 2's log is too short for index 3: back to index 1, inside the snapshot.
    let fx = n.deliver(2, refused(2, 1, None));
    assert_eq!(fx, vec![send(2, InstallSnapshot { term: 2, snapshot: snap.clone(), round: 0 })]);
    let fx = n.deliver(2, InstallSnapshotReply { term: 2, index: 2, round: 0 });
    assert_eq!(fx, vec![send(2, append(2, (2, 1), vec![noop(1), noop(2)], 2))]);
    // Until then, a heartbeat to a follower that needs the snapshot goes after its last entry.
    let fx = n.deliver(3, refused(2, 1, None));
    assert_eq!(fx, vec![send(3, InstallSnapshot { term: 2, snapshot: snap, round: 0 })]);
    let beat = fire(&mut n, "heartbeat");
    assert!(beat.contains(&send(3, in_round(append(2, (2, 1), vec![], 2), 1))), "{beat:?}");
}

/// §7, the follower: a snapshot whose last entry its log holds keeps the entries after it; the
/// snapshot and the log go to stable storage before the reply.
#[test]
fn a_follower_installing_a_snapshot_keeps_the_suffix_that_matches() {
    let log = [noop(1), put(1, 6, 1, "a"), noop(2)];
    let mut n = server(2, &log);
    let snap = snapshot(2, &log[1], store_a());
    let fx = n.deliver(2, InstallSnapshot { term: 2, snapshot: snap.clone(), round: 4 });
    let want = vec![
        event("leader", json!({ "leader": 2, "term": 2 })),
        set_timer("election", 150),
        persist(serde_json::to_value(with_snapshot(2, &log[2..], &snap)).unwrap()),
        installed(&snap, 2),
        send(2, InstallSnapshotReply { term: 2, index: 2, round: 4 }),
    ];
    assert_eq!(fx, want);
    let (answer, _) = n.command(&["log"]);
    assert_eq!(answer.unwrap(), "term 2, log ends at index 3 (term 2), commit index 2, applied 2, snapshot at index 2");
}

/// §7: "if the existing log entry has the same index and term as the snapshot's last included
/// entry, retain log entries following it"; otherwise the whole log goes (what followed the
/// conflicting entry is traced as `truncated`).
#[test]
fn a_follower_installing_a_snapshot_that_conflicts_discards_its_whole_log() {
    let log = [noop(1), noop(1), noop(2), noop(2)];
    let mut n = server(3, &log);
    let snap = snapshot(3, &put(3, 6, 1, "a"), store_a());
    let fx = n.deliver(2, InstallSnapshot { term: 3, snapshot: snap.clone(), round: 0 });
    let want = vec![
        event("leader", json!({ "leader": 2, "term": 3 })),
        set_timer("election", 150),
        persist(serde_json::to_value(with_snapshot(3, &[], &snap)).unwrap()),
        event("truncated", json!({ "from": 4, "removed": [id(4, &noop(2))] })),
        installed(&snap, 2),
        send(2, InstallSnapshotReply { term: 3, index: 3, round: 0 }),
    ];
    assert_eq!(fx, want);
}

/// A snapshot no newer than what the follower has committed (a late or duplicated one) changes
/// nothing: it is only answered. From a stale term it is refused with the newer term.
#[test]
fn an_older_snapshot_is_ignored_and_a_stale_leaders_refused() {
    let newer = snapshot(3, &put(2, 6, 1, "a"), store_a());
    let mut n = restored(&with_snapshot(2, &[noop(2)], &newer));
    let older = snapshot(2, &noop(1), KvStore::new());
    let fx = n.deliver(2, InstallSnapshot { term: 2, snapshot: older.clone(), round: 0 });
    let want = vec![
        event("leader", json!({ "leader": 2, "term": 2 })),
        set_timer("election", 150),
        send(2, InstallSnapshotReply { term: 2, index: 2, round: 0 }),
    ];
    assert_eq!(fx, want);
    let fx = n.deliver(3, InstallSnapshot { term: 1, snapshot: older, round: 0 });
    assert_eq!(fx, vec![send(3, InstallSnapshotReply { term: 2, index: 0, round: 0 })]);
}

/// A restarted server resumes from its snapshot and the log after it: commitIndex and
/// lastApplied at the snapshot's index, the store the snapshot's. An AppendEntries that starts
/// inside the snapshot is compared from past it.
#[test]
fn a_restarted_server_recovers_from_snapshot_and_log() {
    let snap = snapshot(2, &put(1, 6, 1, "a"), store_a());
    let durable = with_snapshot(2, &[noop(2)], &snap);
    let mut n = Node::new(1, &PEERS, RaftServer::new(1, params()));
    n.stored = Some(rmp_serde::to_vec_named(&durable).unwrap());
    let want = vec![
        event("term", json!({ "term": 2, "reason": "start", "voted_for": null })),
        snapshot_event("snapshot_restored", &snap),
        event("log_restored", json!({ "last_index": 3, "last_term": 2 })),
        set_timer("election", 150),
    ];
    assert_eq!(n.start(), want);
    let (answer, _) = n.command(&["log"]);
    assert_eq!(answer.unwrap(), "term 2, log ends at index 3 (term 2), commit index 2, applied 2, snapshot at index 2");
    let fx = n.deliver(2, append(2, (1, 1), vec![put(1, 6, 1, "a"), noop(2), noop(2)], 3));
    assert_eq!(messages(&fx), vec![(2, ok(2, 4))], "only index 4 is new");
    assert!(fx.contains(&appended(4, &noop(2))) && fx.contains(&event("committed", json!({ "index": 3, "term": 2 }))));
}

// ---- thesis §3.10: leadership transfer ----

fn transfer(to: NodeId, outcome: &str) -> Fx<RaftMsg> {
    event("transfer", json!({ "to": to, "outcome": outcome }))
}

/// §3.10: with the target up to date, the leader sends TimeoutNow at once; while the transfer
/// is under way it takes no client command (the client is sent on to the target); after an
/// election timeout with no new leader it gives up and takes commands again.
#[test]
fn a_leader_transfers_to_an_up_to_date_follower_at_once_and_takes_no_commands_until_it_gives_up() {
    let mut n = leader(1, &[noop(1)]);
    n.deliver(2, ok(2, 2));
    let (answer, fx) = n.command(&["transfer-leadership", "2"]);
    assert_eq!(answer, Ok("transferring the leadership of term 2 to node 2".into()));
    assert_eq!(fx, vec![transfer(2, "started"), set_timer("transfer", 150), send(2, TimeoutNow { term: 2 })]);
    let refused = Reply { seq: 1, outcome: Outcome::NotLeader { leader: Some(2) } };
    assert_eq!(n.deliver(6, RaftMsg::Request(request(6, 1, "x", "a"))), vec![send(6, RaftMsg::Reply(refused))]);
    assert_eq!(n.command(&["transfer-leadership", "3"]).0, Err("a transfer to node 2 is under way".into()));
    assert_eq!(fire(&mut n, "transfer"), vec![transfer(2, "gave up")]);
    let fx = n.deliver(6, RaftMsg::Request(request(6, 1, "x", "a")));
    assert!(fx.contains(&appended(3, &put(2, 6, 1, "a"))), "commands are taken again: {fx:?}");
}

/// §3.10: a target that lags is first brought up by AppendEntries; TimeoutNow goes once its
/// matchIndex is the leader's last index.
#[test]
fn a_leader_brings_a_lagging_target_up_to_date_before_sending_timeout_now() {
    let mut n = leader(1, &[noop(1)]);
    let (answer, fx) = n.command(&["transfer-leadership", "3"]);
    assert!(answer.is_ok());
    assert_eq!(
        fx,
        vec![transfer(3, "started"), set_timer("transfer", 150), send(3, append(2, (1, 1), vec![noop(2)], 0))]
    );
    assert_eq!(n.deliver(3, ok(2, 2)), vec![send(3, TimeoutNow { term: 2 })]);
    assert_eq!(n.deliver(3, ok(2, 2)), vec![], "a duplicate reply sends nothing more");
}

/// §3.10: on TimeoutNow of its term a follower stands at once, its RequestVote flagged as a
/// transfer's; a stale TimeoutNow is ignored.
#[test]
fn timeout_now_starts_an_election_at_once_with_the_transfer_flag() {
    let log = [noop(1), noop(2)];
    let mut n = server(2, &log);
    assert_eq!(n.deliver(2, TimeoutNow { term: 1 }), vec![], "from an older term");
    let mut want = vec![
        hard_state(3, Some(1)),
        event("term", json!({ "term": 3, "reason": "candidate" })),
        event("voted", json!({ "term": 3, "for": 1 })),
        event("election_started", json!({ "term": 3, "pre_vote": false })),
    ];
    want.extend(sends(&PEERS, RequestVote { term: 3, last_log_index: 2, last_log_term: 2, transfer: true }));
    want.push(set_timer("election", 150));
    assert_eq!(n.deliver(2, TimeoutNow { term: 2 }), want);
}

/// §3.10 with §4.2.3: a follower that heard its leader within the minimum election timeout
/// ignores a RequestVote, but not one flagged as a leadership transfer's.
#[test]
fn a_transfer_vote_is_heard_within_the_minimum_election_timeout() {
    let mut n = server_with(1, None, &[], RaftParams { read: ReadMode::Lease, ..params() });
    n.deliver(2, append(1, (0, 0), vec![], 0));
    let vote = |transfer| RequestVote { term: 2, last_log_index: 0, last_log_term: 0, transfer };
    assert_eq!(n.deliver(3, vote(false)), vec![], "its leader spoke just now");
    assert_eq!(messages(&n.deliver(3, vote(true))), vec![(3, Vote { term: 2, granted: true })]);
}

/// Refusals say why: not the leader, a target outside the configuration, a bad id; a transfer
/// to the leader itself has nothing to do.
#[test]
fn transfer_leadership_refuses_what_makes_no_sense() {
    let mut f = server(1, &[]);
    let not_leader = "not the leader, and no leader is known in term 1".to_string();
    assert_eq!(f.command(&["transfer-leadership", "2"]).0, Err(not_leader));
    let mut n = leader(1, &[]);
    assert_eq!(n.command(&["transfer-leadership", "1"]).0, Ok("node 1 already leads term 2".into()));
    let outside = "node 9 is not in the configuration {1, 2, 3, 4, 5}: it cannot lead".to_string();
    assert_eq!(n.command(&["transfer-leadership", "9"]).0, Err(outside));
    assert_eq!(n.command(&["transfer-leadership", "x"]).0, Err("transfer-leadership: \"x\" is not a node id".into()));
    assert!(n.command(&["transfer-leadership"]).0.unwrap_err().contains("takes one node id"));
}

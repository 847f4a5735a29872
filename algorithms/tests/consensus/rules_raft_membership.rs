//! Raft's single-server membership changes one rule at a time (Ongaro's thesis §4.1–4.2.3), as
//! `consensus/raft/membership.rs` states them: node 1 of five servers whose initial
//! configuration is {1, 2, 3} (4 and 5 are spares), one handler called, the exact effects compared.

use crate::common::rules::*;
use crate::rules_raft::entries_after;
use algorithms::consensus::raft::{Entry, Op, RaftMsg, RaftParams, RaftServer};
use algorithms::{NodeId, Status};
use serde_json::{json, Value};

use RaftMsg::{AppendEntries, AppendEntriesReply, RequestVote, Vote};

const PEERS: [NodeId; 4] = [2, 3, 4, 5];
const MEMBERS: [NodeId; 3] = [1, 2, 3];

fn params() -> RaftParams {
    RaftParams { election_timeout_min_ms: 150, election_timeout_max_ms: 150, heartbeat_ms: 50, ..Default::default() }
}

fn noop(term: u64) -> Entry {
    Entry { term, op: Op::Noop }
}

fn config(term: u64, members: &[NodeId]) -> Entry {
    Entry { term, op: Op::Config { members: members.to_vec() } }
}

fn id(index: u64, e: &Entry) -> Value {
    json!({ "index": index, "term": e.term, "digest": e.digest() })
}

fn config_event(index: u64, members: &[NodeId]) -> Fx<RaftMsg> {
    event("config", json!({ "index": index, "members": members }))
}

fn append(term: u64, prev: (u64, u64), entries: Vec<Entry>, leader_commit: u64) -> RaftMsg {
    AppendEntries { term, prev_log_index: prev.0, prev_log_term: prev.1, entries, leader_commit, round: 0 }
}

fn ok(term: u64, index: u64) -> RaftMsg {
    AppendEntriesReply { term, success: true, index, conflict_term: None, round: 0 }
}

fn committed(index: u64, e: &Entry) -> Vec<Fx<RaftMsg>> {
    vec![event("committed", json!({ "index": index, "term": e.term })), event("applied_entry", id(index, e))]
}

/// Server `me` of 1..=5 with the initial configuration {1, 2, 3}, started afresh.
fn server(me: NodeId) -> Node<RaftServer> {
    let peers: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, RaftServer::with_members(me, params(), &MEMBERS));
    n.start();
    n
}

/// Node 1 elected in term 1 by node 2, its no-op (index 1) committed with node 2's copy.
fn leader() -> Node<RaftServer> {
    let mut n = server(1);
    fire(&mut n, "election");
    n.deliver(2, Vote { term: 1, granted: true });
    assert_eq!(n.status().role, "leader");
    n.deliver(2, ok(1, 1));
    n
}

/// With spares, the configuration in force is traced at start: the checkers' starting point.
#[test]
fn a_server_with_spares_traces_its_initial_configuration_at_start() {
    let mut n = Node::new(1, &PEERS, RaftServer::with_members(1, params(), &MEMBERS));
    assert_eq!(
        n.start(),
        vec![
            event("term", json!({ "term": 0, "reason": "start", "voted_for": null })),
            event("log_restored", json!({ "last_index": 0, "last_term": 0 })),
            config_event(0, &MEMBERS),
            set_timer("election", 150),
        ]
    );
}

/// §4.1: a server outside its configuration (here the spare 4) never starts an election; its
/// timer only comes round again, and `elect` is refused.
#[test]
fn a_server_outside_its_configuration_never_stands() {
    let mut n = server(4);
    assert_eq!(fire(&mut n, "election"), vec![set_timer("election", 150)]);
    let (reply, fx) = n.command(&["elect"]);
    assert!(reply.unwrap_err().contains("not in the configuration"));
    assert_eq!(fx, vec![]);
    assert_eq!(n.status(), Status { role: "follower".into(), leader: None, term: Some(0) });
}

/// §4.1: elections count a majority of the configuration in force: RequestVote goes to its
/// members, a spare's vote does not count, two of {1, 2, 3} elect; the no-op goes to members only.
#[test]
fn an_election_asks_and_counts_the_members_of_the_configuration_only() {
    let mut n = server(1);
    let fx = fire(&mut n, "election");
    let request = RequestVote { term: 1, last_log_index: 0, last_log_term: 0, transfer: false };
    assert_eq!(messages(&fx), vec![(2, request.clone()), (3, request)]);
    assert_eq!(n.deliver(4, Vote { term: 1, granted: true }), vec![], "a spare's vote counts for nothing");
    assert_eq!(n.status().role, "candidate");
    let fx = n.deliver(2, Vote { term: 1, granted: true });
    assert_eq!(messages(&fx), vec![(2, append(1, (0, 0), vec![noop(1)], 0)), (3, append(1, (0, 0), vec![noop(1)], 0))]);
    assert_eq!(n.status().role, "leader");
}

/// §4.1 with the fix found after it: a leader changes the configuration only once it has
/// committed an entry of its own term.
#[test]
fn a_leader_refuses_a_change_before_an_entry_of_its_term_is_committed() {
    let mut n = server(1);
    fire(&mut n, "election");
    n.deliver(2, Vote { term: 1, granted: true });
    let (reply, fx) = n.command(&["add-server", "4"]);
    assert_eq!(
        reply,
        Err("no entry of term 1 is committed yet (a leader changes the configuration only after committing one of its own term)".into())
    );
    assert_eq!(fx, vec![]);
}

/// §4.1: `add-server 4` appends the new configuration, in force at once: it goes to every member
/// of the new one (node 4 from its nextIndex, the start of the log), and from then on commitment
/// needs three of {1, 2, 3, 4}. A second change waits until the first is committed.
#[test]
fn an_added_server_counts_at_once_and_one_change_waits_for_the_last_to_commit() {
    let mut n = leader();
    let (reply, fx) = n.command(&["add-server", "4"]);
    assert_eq!(reply, Ok("configuration [1, 2, 3, 4] appended at index 2 in term 1".into()));
    let c = config(1, &[1, 2, 3, 4]);
    assert_eq!(
        fx,
        vec![
            entries_after(1, std::slice::from_ref(&c)),
            event("appended", id(2, &c)),
            config_event(2, &[1, 2, 3, 4]),
            send(2, append(1, (1, 1), vec![c.clone()], 1)),
            send(3, append(1, (1, 1), vec![c.clone()], 1)),
            send(4, append(1, (0, 0), vec![noop(1), c.clone()], 1)),
        ]
    );
    let (reply, fx) = n.command(&["add-server", "5"]);
    assert_eq!(reply, Err("the configuration at index 2 is not committed yet (one change at a time)".into()));
    assert_eq!(fx, vec![]);
    assert_eq!(n.deliver(2, ok(1, 2)), vec![], "1 and 2 are no majority of four");
    assert_eq!(n.deliver(4, ok(1, 2)), committed(2, &c), "1, 2 and 4 are");
    assert!(n.command(&["add-server", "5"]).0.is_ok(), "the first change is committed: the next may go");
}

/// Changes that make no sense, and changes asked of a server that does not lead, are refused
/// with the reason (the leader it knows, if any).
#[test]
fn a_change_elsewhere_than_at_the_leader_or_to_no_effect_is_refused() {
    let mut n = leader();
    assert_eq!(n.command(&["add-server", "2"]).0, Err("node 2 is already in the configuration".into()));
    assert_eq!(n.command(&["remove-server", "5"]).0, Err("node 5 is not in the configuration".into()));
    assert!(n.command(&["add-server", "9"]).0.unwrap_err().starts_with("node 9 is not a server of this cluster"));
    let mut f = server(3);
    assert_eq!(f.command(&["add-server", "4"]).0, Err("not the leader, and no leader is known in term 0".into()));
    f.deliver(1, append(1, (0, 0), vec![], 0));
    assert_eq!(f.command(&["remove-server", "2"]).0, Err("not the leader: node 1 leads term 1".into()));
}

/// §4.2.2: a leader that removes itself keeps leading until the removal commits, counting a
/// majority of the new configuration without itself, then steps down and never stands again.
#[test]
fn a_removed_leader_commits_its_removal_without_counting_itself_then_steps_down() {
    let mut n = leader();
    let (reply, fx) = n.command(&["remove-server", "1"]);
    assert!(reply.is_ok(), "{reply:?}");
    let c = config(1, &[2, 3]);
    let sent: Vec<NodeId> = messages(&fx).iter().map(|(to, _)| *to).collect();
    assert_eq!(sent, vec![2, 3], "replicated to the new configuration's members");
    assert!(fx.contains(&config_event(2, &[2, 3])));
    assert_eq!(n.status().role, "leader", "it leads until the removal commits");
    assert_eq!(n.deliver(2, ok(1, 2)), vec![], "node 2 alone is no majority of {{2, 3}}; the leader does not count");
    let mut want = committed(2, &c);
    want.extend([
        event("leader_lost", json!({ "leader": 1, "reason": "removed from the configuration", "term": 1 })),
        cancel_timer("heartbeat"),
        set_timer("election", 150),
    ]);
    assert_eq!(n.deliver(3, ok(1, 2)), want);
    assert_eq!(n.status(), Status { role: "follower".into(), leader: None, term: Some(1) });
    assert_eq!(fire(&mut n, "election"), vec![set_timer("election", 150)], "outside its configuration");
}

/// §4.1: a follower uses a configuration as soon as it is in its log, committed or not, and goes
/// back to the one before when the entry is deleted as conflicting.
#[test]
fn a_follower_uses_the_latest_configuration_in_its_log_and_reverts_when_it_is_deleted() {
    let mut n = server(1);
    let c = config(1, &[1, 2, 3, 4]);
    let fx = n.deliver(2, append(1, (0, 0), vec![noop(1), c.clone()], 0));
    let configs: Vec<_> = fx.iter().filter(|e| matches!(e, Fx::Event(name, _) if name == "config")).collect();
    assert_eq!(configs, vec![&config_event(2, &[1, 2, 3, 4])]);
    let fx = n.deliver(3, append(2, (1, 1), vec![noop(2)], 0));
    let configs: Vec<_> = fx.iter().filter(|e| matches!(e, Fx::Event(name, _) if name == "config")).collect();
    assert_eq!(configs, vec![&config_event(0, &MEMBERS)], "the initial configuration again");
}

/// §4.2.2: a server outside the configuration still answers AppendEntries, so it can catch up
/// before (or while) it is added.
#[test]
fn a_spare_answers_append_entries() {
    let mut n = server(4);
    let fx = n.deliver(1, append(1, (0, 0), vec![noop(1)], 1));
    assert_eq!(messages(&fx), vec![(1, ok(1, 1))]);
}

/// §4.2.3: with membership changes in play, a follower that heard from its leader less than the
/// minimum election timeout ago ignores RequestVote (neither its term nor its vote changes), and
/// a leader ignores it always: a removed server that never learnt of its removal cannot depose
/// them.
#[test]
fn a_server_that_heard_a_leader_recently_and_a_leader_ignore_request_vote() {
    let mut n = server(2);
    n.at(10);
    n.deliver(1, append(1, (0, 0), vec![], 0));
    n.at(159);
    assert_eq!(n.deliver(3, RequestVote { term: 7, last_log_index: 9, last_log_term: 9, transfer: false }), vec![]);
    n.at(160);
    let fx = n.deliver(3, RequestVote { term: 7, last_log_index: 9, last_log_term: 9, transfer: false });
    assert!(messages(&fx).contains(&(3, Vote { term: 7, granted: true })), "{fx:#?}");
    let mut l = leader();
    l.at(10_000);
    assert_eq!(l.deliver(3, RequestVote { term: 9, last_log_index: 9, last_log_term: 9, transfer: false }), vec![]);
    assert_eq!(l.status().role, "leader");
}

/// The parse of the two commands: one node id, named in the error.
#[test]
fn membership_commands_take_one_node_id() {
    let mut n = leader();
    assert_eq!(n.command(&["add-server"]).0, Err("add-server takes one node id, e.g. `add-server 4`".into()));
    assert_eq!(n.command(&["remove-server", "two"]).0, Err("remove-server: \"two\" is not a node id".into()));
}

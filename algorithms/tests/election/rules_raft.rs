//! Raft's election rules one at a time (Ongaro & Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", §5.1–5.2 and Figure 2; PreVote from the thesis, §9.6), as
//! `election/raft/mod.rs` states them: one handler called on node 1 of five, the exact effects
//! compared.

use crate::common::rules::*;
use algorithms::election::raft::{Durable, RaftMsg, RaftNode, RaftParams};
use algorithms::{NodeId, Status, MS};
use serde_json::json;

use RaftMsg::{AppendEntries, AppendEntriesReply, PreVote, PreVoteReply, RequestVote, Vote};

const PEERS: [NodeId; 4] = [2, 3, 4, 5];

/// A timeout range of one value (150 ms), so the effects leave nothing to chance.
fn params(pre_vote: bool) -> RaftParams {
    RaftParams {
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 150,
        heartbeat_ms: 50,
        pre_vote,
        ..Default::default()
    }
}

/// Node 1 of five in `term`, from stable storage, having voted for `voted_for`; started.
fn in_term(term: u64, voted_for: Option<NodeId>, pre_vote: bool) -> Node<RaftNode> {
    let mut n = Node::new(1, &PEERS, RaftNode::new(1, params(pre_vote)));
    n.stored = Some(rmp_serde::to_vec_named(&Durable { current_term: term, voted_for }).unwrap());
    n.start();
    n
}

/// Node 1 on first boot: a follower of term 0.
fn follower(pre_vote: bool) -> Node<RaftNode> {
    in_term(0, None, pre_vote)
}

/// Node 1 after one election timeout: the candidate of term 1.
fn candidate() -> Node<RaftNode> {
    let mut n = follower(false);
    fire(&mut n, "election");
    n
}

/// Node 1 elected in term 1 by nodes 2 and 3.
fn leader() -> Node<RaftNode> {
    let mut n = candidate();
    n.deliver(2, Vote { term: 1, granted: true });
    n.deliver(3, Vote { term: 1, granted: true });
    assert_eq!(n.status().role, "leader");
    n
}

fn status(role: &str, leader: Option<NodeId>, term: u64) -> Status {
    Status { role: role.into(), leader, term: Some(term) }
}

/// What a server does when it becomes the candidate of `term`: term and self-vote to stable
/// storage, then RequestVote to every other server and a fresh election timer.
fn stands_in(term: u64) -> Vec<Fx<RaftMsg>> {
    let mut fx = vec![
        persist(json!({ "current_term": term, "voted_for": 1 })),
        event("term", json!({ "term": term, "reason": "candidate" })),
        event("voted", json!({ "term": term, "for": 1 })),
        event("election_started", json!({ "term": term, "pre_vote": false })),
    ];
    fx.extend(sends(&PEERS, RequestVote { term }));
    fx.push(set_timer("election", 150));
    fx
}

// ---- §5.2: followers, timeouts, candidates ----

/// §5.2: "When servers start up, they begin as followers", with the election timer running; the
/// term comes from stable storage (0 on first boot).
#[test]
fn a_server_starts_as_a_follower_with_its_election_timer_running() {
    let mut n = Node::new(1, &PEERS, RaftNode::new(1, params(false)));
    assert_eq!(
        n.start(),
        vec![event("term", json!({ "term": 0, "reason": "start", "voted_for": null })), set_timer("election", 150)]
    );
    assert_eq!(n.status(), status("follower", None, 0));
}

/// §5.2: "If a follower receives no communication over a period of time called the election
/// timeout, then it assumes there is no viable leader and begins an election": it increments its
/// term, votes for itself, and sends RequestVote to each of the other servers.
#[test]
fn a_follower_whose_election_timeout_passes_becomes_a_candidate_of_the_next_term() {
    let mut n = follower(false);
    assert_eq!(fire(&mut n, "election"), stands_in(1));
    assert_eq!(n.status(), status("candidate", None, 1));
}

/// §5.2: "election timeouts are chosen randomly from a fixed interval (e.g., 150–300 ms)", drawn
/// afresh each time the timer is reset.
#[test]
fn the_election_timeout_is_drawn_afresh_from_t_to_2t() {
    let mut n = Node::new(1, &PEERS, RaftNode::new(1, RaftParams::default()));
    let mut drawn = Vec::new();
    for fx in std::iter::once(n.start()).chain((0..20).map(|_| fire(&mut n, "election"))) {
        match fx.last() {
            Some(Fx::SetTimer(name, after)) if name == "election" => drawn.push(*after),
            other => panic!("the election timer is reset last: {other:?}"),
        }
    }
    assert!(drawn.iter().all(|after| (150 * MS..=300 * MS).contains(after)), "{drawn:?}");
    drawn.sort_unstable();
    drawn.dedup();
    assert!(drawn.len() > 10, "21 draws from 150..=300 ms should mostly differ: {drawn:?}");
}

/// §5.2: "If many followers become candidates at the same time, votes could be split so that no
/// candidate obtains a majority. When this happens, each candidate will time out and start a new
/// election by incrementing its term".
#[test]
fn a_candidate_whose_timeout_passes_without_a_winner_stands_again_in_the_next_term() {
    let mut n = candidate();
    assert_eq!(n.deliver(2, Vote { term: 1, granted: true }), vec![], "2 votes of 5 are no majority");
    assert_eq!(fire(&mut n, "election"), stands_in(2));
    assert_eq!(n.status(), status("candidate", None, 2));
}

/// §5.2: "A candidate wins an election if it receives votes from a majority of the servers in the
/// full cluster for the same term ... Once a candidate wins an election, it becomes leader. It
/// then sends heartbeat messages to all of the other servers". A server's vote counts once.
#[test]
fn a_candidate_with_votes_from_a_majority_becomes_leader_and_sends_heartbeats() {
    let mut n = candidate();
    assert_eq!(n.deliver(2, Vote { term: 1, granted: true }), vec![]);
    assert_eq!(n.deliver(2, Vote { term: 1, granted: true }), vec![], "node 2's vote again: still two");
    assert_eq!(n.deliver(4, Vote { term: 1, granted: false }), vec![], "a refusal is no vote");
    let mut won = vec![
        cancel_timer("election"),
        event("elected", json!({ "leader": 1, "term": 1, "votes": [1, 2, 3] })),
        event("leader", json!({ "leader": 1, "term": 1 })),
    ];
    won.extend(sends(&PEERS, AppendEntries { term: 1 }));
    won.push(set_timer("heartbeat", 50));
    assert_eq!(n.deliver(3, Vote { term: 1, granted: true }), won);
    assert_eq!(n.status(), status("leader", Some(1), 1));
}

/// §5.2, "for the same term": votes granted in an earlier term do not count towards this one.
#[test]
fn votes_from_an_earlier_term_do_not_count() {
    let mut n = candidate();
    fire(&mut n, "election"); // term 2
    assert_eq!(n.deliver(2, Vote { term: 1, granted: true }), vec![]);
    assert_eq!(n.deliver(3, Vote { term: 1, granted: true }), vec![]);
    assert_eq!(n.status(), status("candidate", None, 2));
}

/// §5.2: leaders "send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
/// followers in order to maintain their authority". A leader does not stand for election.
#[test]
fn a_leader_sends_heartbeats_every_heartbeat_interval_and_never_times_out() {
    let mut n = leader();
    let mut beat = sends(&PEERS, AppendEntries { term: 1 });
    beat.push(set_timer("heartbeat", 50));
    assert_eq!(fire(&mut n, "heartbeat"), beat);
    assert_eq!(fire(&mut n, "election"), vec![]);
    assert_eq!(n.status(), status("leader", Some(1), 1));
}

/// §5.2: "A server remains in follower state as long as it receives valid RPCs from a leader":
/// each heartbeat restarts the election timer (the leader is announced once).
#[test]
fn a_heartbeat_from_the_leader_restarts_the_followers_election_timer() {
    let mut n = in_term(2, None, false);
    assert_eq!(
        n.deliver(3, AppendEntries { term: 2 }),
        vec![
            event("leader", json!({ "leader": 3, "term": 2 })),
            set_timer("election", 150),
            send(3, AppendEntriesReply { term: 2, success: true })
        ]
    );
    assert_eq!(
        n.deliver(3, AppendEntries { term: 2 }),
        vec![set_timer("election", 150), send(3, AppendEntriesReply { term: 2, success: true })]
    );
    assert_eq!(n.status(), status("follower", Some(3), 2));
}

/// §5.2: "If the leader's term (included in its RPC) is at least as large as the candidate's
/// current term, then the candidate recognizes the leader as legitimate and returns to follower
/// state."
#[test]
fn a_candidate_that_hears_a_leader_of_its_term_returns_to_follower() {
    let mut n = candidate();
    assert_eq!(
        n.deliver(3, AppendEntries { term: 1 }),
        vec![
            event("leader", json!({ "leader": 3, "term": 1 })),
            set_timer("election", 150),
            send(3, AppendEntriesReply { term: 1, success: true })
        ]
    );
    assert_eq!(n.status(), status("follower", Some(3), 1));
}

/// §5.2 with §5.1: a leader of a newer term is legitimate too; the candidate takes its term.
#[test]
fn a_candidate_that_hears_a_leader_of_a_newer_term_takes_the_term_and_follows() {
    let mut n = candidate();
    assert_eq!(
        n.deliver(3, AppendEntries { term: 4 }),
        vec![
            persist(json!({ "current_term": 4, "voted_for": null })),
            event("term", json!({ "term": 4, "reason": "higher term from node 3" })),
            event("leader", json!({ "leader": 3, "term": 4 })),
            set_timer("election", 150),
            send(3, AppendEntriesReply { term: 4, success: true })
        ]
    );
    assert_eq!(n.status(), status("follower", Some(3), 4));
}

// ---- §5.1: terms ----

/// §5.1: "If a server receives a request with a stale term number, it rejects the request", and
/// (Figure 2) the reply carries its current term "for candidate to update itself".
#[test]
fn a_request_vote_with_a_stale_term_is_rejected_with_the_current_term() {
    let mut n = in_term(3, None, false);
    assert_eq!(n.deliver(2, RequestVote { term: 2 }), vec![send(2, Vote { term: 3, granted: false })]);
    assert_eq!(n.status(), status("follower", None, 3));
}

/// §5.1, for AppendEntries: a stale leader is refused and told the newer term.
#[test]
fn append_entries_from_a_stale_leader_is_rejected_with_the_current_term() {
    let mut n = in_term(3, None, false);
    assert_eq!(n.deliver(2, AppendEntries { term: 2 }), vec![send(2, AppendEntriesReply { term: 3, success: false })]);
    assert_eq!(n.status(), status("follower", None, 3));
}

/// §5.1: "If one server's current term is smaller than the other's, then it updates its current
/// term to the larger value. If a candidate or leader discovers that its term is out of date, it
/// immediately reverts to follower state." A candidate that hears of term 5 takes it (to stable
/// storage, its vote of term 1 gone) and, not having voted in term 5, grants the request.
#[test]
fn a_candidate_that_sees_a_higher_term_takes_it_reverts_to_follower_and_may_vote() {
    let mut n = candidate();
    assert_eq!(
        n.deliver(3, RequestVote { term: 5 }),
        vec![
            persist(json!({ "current_term": 5, "voted_for": null })),
            event("term", json!({ "term": 5, "reason": "higher term from node 3" })),
            persist(json!({ "current_term": 5, "voted_for": 3 })),
            event("voted", json!({ "term": 5, "for": 3 })),
            set_timer("election", 150),
            send(3, Vote { term: 5, granted: true })
        ]
    );
    assert_eq!(n.status(), status("follower", None, 5));
}

/// §5.1, for a leader: a reply with a newer term deposes it; it stops its heartbeats and waits
/// for an election like any follower.
#[test]
fn a_leader_that_sees_a_higher_term_steps_down() {
    let mut n = leader();
    assert_eq!(
        n.deliver(2, AppendEntriesReply { term: 2, success: false }),
        vec![
            event("leader_lost", json!({ "leader": 1, "term": 1, "reason": "higher term" })),
            persist(json!({ "current_term": 2, "voted_for": null })),
            event("term", json!({ "term": 2, "reason": "higher term from node 2" })),
            cancel_timer("heartbeat"),
            set_timer("election", 150)
        ]
    );
    assert_eq!(n.status(), status("follower", None, 2));
}

// ---- §5.2 and Figure 2: one vote per term, on stable storage ----

/// §5.2: "Each server will vote for at most one candidate in a given term, on a
/// first-come-first-served basis": voted for another in this term ⇒ deny.
#[test]
fn voted_for_another_in_this_term_then_deny() {
    let mut n = follower(false);
    assert_eq!(
        n.deliver(2, RequestVote { term: 1 }),
        vec![
            persist(json!({ "current_term": 1, "voted_for": null })),
            event("term", json!({ "term": 1, "reason": "higher term from node 2" })),
            persist(json!({ "current_term": 1, "voted_for": 2 })),
            event("voted", json!({ "term": 1, "for": 2 })),
            set_timer("election", 150),
            send(2, Vote { term: 1, granted: true })
        ]
    );
    assert_eq!(n.deliver(3, RequestVote { term: 1 }), vec![send(3, Vote { term: 1, granted: false })]);
}

/// §5.2: a candidate "votes for itself", so it denies every rival of its term.
#[test]
fn a_candidate_has_voted_for_itself_and_denies_a_rival_of_its_term() {
    let mut n = candidate();
    assert_eq!(n.deliver(2, RequestVote { term: 1 }), vec![send(2, Vote { term: 1, granted: false })]);
    assert_eq!(n.status(), status("candidate", None, 1));
}

/// Figure 2, RequestVote: "If votedFor is null or candidateId ... grant vote": the candidate
/// already voted for asks again (its vote was lost) and gets the same vote again.
#[test]
fn the_candidate_voted_for_gets_the_vote_again() {
    let mut n = in_term(1, Some(2), false);
    assert_eq!(
        n.deliver(2, RequestVote { term: 1 }),
        vec![
            persist(json!({ "current_term": 1, "voted_for": 2 })),
            event("voted", json!({ "term": 1, "for": 2 })),
            set_timer("election", 150),
            send(2, Vote { term: 1, granted: true })
        ]
    );
}

/// Figure 2: currentTerm and votedFor are "updated on stable storage before responding to RPCs",
/// so a server that crashes after voting and restarts in the same term cannot vote twice.
#[test]
fn the_vote_is_persisted_before_the_reply_and_a_restart_cannot_vote_twice() {
    let mut n = follower(false);
    let fx = n.deliver(2, RequestVote { term: 1 });
    let stored = fx.iter().position(|e| *e == persist(json!({ "current_term": 1, "voted_for": 2 })));
    let replied = fx.iter().position(|e| *e == send(2, Vote { term: 1, granted: true }));
    assert!(stored.unwrap() < replied.unwrap(), "{fx:#?}");

    assert_eq!(
        n.restart(RaftNode::new(1, params(false))),
        vec![event("term", json!({ "term": 1, "reason": "start", "voted_for": 2 })), set_timer("election", 150)]
    );
    assert_eq!(n.deliver(3, RequestVote { term: 1 }), vec![send(3, Vote { term: 1, granted: false })]);
}

// ---- PreVote (thesis §9.6) ----

/// §9.6: before standing, a would-be candidate asks whether it could win, for its term + 1,
/// without incrementing its term (nothing is persisted).
#[test]
fn with_pre_vote_a_timeout_asks_for_pre_votes_without_changing_the_term() {
    let mut n = follower(true);
    let mut asks = vec![event("election_started", json!({ "term": 1, "pre_vote": true }))];
    asks.extend(sends(&PEERS, PreVote { term: 1 }));
    asks.push(set_timer("election", 150));
    assert_eq!(fire(&mut n, "election"), asks);
    assert_eq!(n.status(), status("pre_candidate", None, 0));
}

/// §9.6: a pre-vote is granted only for a term above the voter's own; granting it changes
/// nothing on the voter (no term, no vote, nothing persisted).
#[test]
fn a_pre_vote_is_granted_only_for_a_higher_term_and_changes_nothing() {
    let mut n = in_term(1, None, true);
    assert_eq!(n.deliver(2, PreVote { term: 2 }), vec![send(2, PreVoteReply { term: 2, granted: true })]);
    assert_eq!(n.deliver(2, PreVote { term: 1 }), vec![send(2, PreVoteReply { term: 1, granted: false })]);
    assert_eq!(n.status(), status("follower", None, 1));
    assert_eq!(n.stored, Some(rmp_serde::to_vec_named(&Durable { current_term: 1, voted_for: None }).unwrap()));
}

/// §9.6: a server "grants a pre-vote only if it has not heard from a live leader within the
/// minimum election timeout" — so a node back from isolation cannot win pre-votes while the
/// others follow a leader. A leader grants none.
#[test]
fn a_pre_vote_is_refused_while_a_leader_was_heard_within_the_minimum_election_timeout() {
    let mut n = in_term(1, None, true);
    n.at(1000).deliver(3, AppendEntries { term: 1 });
    assert_eq!(n.at(1149).deliver(2, PreVote { term: 2 }), vec![send(2, PreVoteReply { term: 1, granted: false })]);
    assert_eq!(n.at(1150).deliver(2, PreVote { term: 2 }), vec![send(2, PreVoteReply { term: 2, granted: true })]);

    let mut l = leader();
    assert_eq!(l.deliver(2, PreVote { term: 2 }), vec![send(2, PreVoteReply { term: 1, granted: false })]);
}

/// §9.6: with pre-votes from a majority the pre-candidate stands for real: term + 1, its own vote
/// persisted, RequestVote to all.
#[test]
fn a_pre_candidate_with_pre_votes_from_a_majority_stands_for_election() {
    let mut n = follower(true);
    fire(&mut n, "election");
    assert_eq!(n.deliver(2, PreVoteReply { term: 1, granted: true }), vec![]);
    assert_eq!(n.deliver(2, PreVoteReply { term: 1, granted: true }), vec![], "node 2 counts once");
    assert_eq!(n.deliver(3, PreVoteReply { term: 1, granted: true }), stands_in(1));
}

/// §9.6 with §5.1: a refusal carries the voter's term; a higher one makes the pre-candidate take
/// it and go back to follower.
#[test]
fn a_pre_vote_refused_with_a_higher_term_sends_the_pre_candidate_back_to_follower() {
    let mut n = follower(true);
    fire(&mut n, "election");
    assert_eq!(
        n.deliver(2, PreVoteReply { term: 3, granted: false }),
        vec![
            persist(json!({ "current_term": 3, "voted_for": null })),
            event("term", json!({ "term": 3, "reason": "higher term from node 2" }))
        ]
    );
    assert_eq!(n.status(), status("follower", None, 3));
}

/// §9.6: "A node returning from isolation therefore cannot win pre-votes while the others follow
/// a leader, never increments its term": refused pre-votes of its own term change nothing, and
/// its next timeout asks again for the same term.
#[test]
fn a_pre_candidate_refused_by_everyone_never_increments_its_term() {
    let mut n = in_term(4, None, true);
    fire(&mut n, "election");
    for peer in PEERS {
        assert_eq!(n.deliver(peer, PreVoteReply { term: 4, granted: false }), vec![]);
    }
    let mut again = vec![event("election_started", json!({ "term": 5, "pre_vote": true }))];
    again.extend(sends(&PEERS, PreVote { term: 5 }));
    again.push(set_timer("election", 150));
    assert_eq!(fire(&mut n, "election"), again);
    assert_eq!(n.status(), status("pre_candidate", None, 4));
}

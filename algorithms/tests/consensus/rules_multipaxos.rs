//! Multi-Paxos's rules one at a time, as `consensus/multipaxos/mod.rs` states them: one handler
//! called on node 1 of five, the exact effects compared.

use crate::common::rules::*;
use algorithms::consensus::multipaxos::{
    describe, digest, Accepted, Ballot, Durable, MultiPaxosMsg, MultiPaxosParams, MultiPaxosServer, Op, SlotVote,
};
use algorithms::service::{Command, Outcome, Reply, Request};
use algorithms::{NodeId, Status};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use MultiPaxosMsg::{Accept, CatchUp, Decisions, Heartbeat, Nack, Prepare, Promise};

const PEERS: [NodeId; 4] = [2, 3, 4, 5];

/// A timeout range of one value (150 ms), so the effects leave nothing to chance.
fn params() -> MultiPaxosParams {
    MultiPaxosParams {
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 150,
        heartbeat_ms: 50,
        ..Default::default()
    }
}

fn b(round: u64, proposer: NodeId) -> Ballot {
    Ballot { round, proposer }
}

fn request(seq: u64) -> Request {
    Request { client: 6, seq, command: Command::Put { key: "x".into(), value: format!("c6-{seq}") } }
}

fn put(seq: u64) -> Op {
    Op::Client(request(seq))
}

fn ballot_json(ballot: Ballot) -> Value {
    json!({ "round": ballot.round, "proposer": ballot.proposer })
}

/// The persisted state as its MessagePack reads back: the promise and `[slot, accepted]` pairs.
fn durable(promised: Ballot, accepted: &[(u64, Ballot, &Op)]) -> Value {
    let pairs: Vec<Value> = accepted
        .iter()
        .map(|(slot, ballot, op)| json!([slot, { "ballot": ballot_json(*ballot), "value": serde_json::to_value(op).unwrap() }]))
        .collect();
    json!({ "promised": ballot_json(promised), "accepted": pairs })
}

fn stored(promised: Ballot, accepted: &[(u64, Ballot, Op)]) -> Vec<u8> {
    let accepted: BTreeMap<u64, Accepted> =
        accepted.iter().map(|(s, ballot, value)| (*s, Accepted { ballot: *ballot, value: value.clone() })).collect();
    rmp_serde::to_vec_named(&Durable { promised, accepted }).unwrap()
}

/// Node 1 of five, started from this stable storage (none: a first boot).
fn server_with(state: Option<Vec<u8>>, p: MultiPaxosParams) -> Node<MultiPaxosServer> {
    let mut n = Node::new(1, &PEERS, MultiPaxosServer::new(1, p));
    n.stored = state;
    n.start();
    n
}

fn server() -> Node<MultiPaxosServer> {
    server_with(None, params())
}

/// Node 1 leading ballot (1, 1) with the empty promises of nodes 2 and 3.
fn leader() -> Node<MultiPaxosServer> {
    let mut n = server();
    fire(&mut n, "election");
    for from in [2, 3] {
        n.deliver(from, Promise { ballot: b(1, 1), from: 1, accepted: vec![] });
    }
    assert_eq!(n.status().role, "leader");
    n
}

fn status(role: &str, leader: Option<NodeId>, round: u64) -> Status {
    Status { role: role.into(), leader, term: Some(round) }
}

/// What a leader of `ballot` does to propose `op` in `slot`: trace it, accept it itself (persisted
/// first, with what it had accepted before), and send it to every other server.
fn proposes(
    slot: u64,
    ballot: Ballot,
    op: &Op,
    origin: Value,
    accepted: &[(u64, Ballot, &Op)],
    commit: u64,
) -> Vec<Fx<MultiPaxosMsg>> {
    let mut all = accepted.to_vec();
    all.push((slot, ballot, op));
    let mut fx = vec![
        event(
            "proposed",
            json!({ "slot": slot, "ballot": ballot_json(ballot), "digest": digest(op), "op": describe(op), "origin": origin }),
        ),
        persist(durable(ballot, &all)),
        event("accepted", json!({ "slot": slot, "ballot": ballot_json(ballot), "digest": digest(op) })),
    ];
    fx.extend(sends(&PEERS, Accept { ballot, slot, value: op.clone(), commit }));
    fx
}

fn elected(round: u64, votes: &[NodeId]) -> Vec<Fx<MultiPaxosMsg>> {
    vec![
        cancel_timer("election"),
        event("elected", json!({ "leader": 1, "votes": votes, "round": round })),
        event("leader", json!({ "leader": 1, "round": round })),
    ]
}

// ---- persistence ----

/// An acceptor's promise and accepted values are stable storage: a restarted server resumes them
/// as a follower, and refuses what its old promise forbids.
#[test]
fn a_restarted_server_resumes_its_promise_and_accepted_values() {
    let state = stored(b(2, 3), &[(1, b(2, 3), put(1))]);
    let mut n = Node::new(1, &PEERS, MultiPaxosServer::new(1, params()));
    n.stored = Some(state);
    assert_eq!(
        n.start(),
        vec![event("restored", json!({ "promised": ballot_json(b(2, 3)), "accepted": 1 })), set_timer("election", 150),]
    );
    assert_eq!(n.status(), status("follower", None, 2));
    assert_eq!(
        n.deliver(2, Prepare { ballot: b(1, 2), from: 1 }),
        vec![send(2, Nack { ballot: b(1, 2), promised: b(2, 3) })]
    );
    let accept = Accept { ballot: b(2, 1), slot: 2, value: put(2), commit: 0 };
    assert_eq!(n.deliver(4, accept), vec![send(4, Nack { ballot: b(2, 1), promised: b(2, 3) })]);
}

// ---- phase 1 ----

/// No heartbeat for the election timeout: a ballot above every one promised, promised by the
/// server's own acceptor (persisted first), and one Prepare for every slot from the first
/// undecided one.
#[test]
fn a_follower_that_hears_no_leader_prepares_a_higher_ballot_for_all_slots_at_once() {
    let mut n = server_with(Some(stored(b(2, 3), &[(1, b(2, 3), put(1))])), params());
    let mut want = vec![
        persist(durable(b(3, 1), &[(1, b(2, 3), &put(1))])),
        event("promised", json!({ "ballot": ballot_json(b(3, 1)) })),
        event("election_started", json!({ "round": 3 })),
    ];
    want.extend(sends(&PEERS, Prepare { ballot: b(3, 1), from: 1 }));
    want.push(set_timer("election", 150));
    assert_eq!(fire(&mut n, "election"), want);
    assert_eq!(n.status(), status("candidate", None, 3));
}

/// An acceptor promises a higher ballot (persisted before the answer) and reports every value it
/// accepted from the Prepare's slot on; it waits for the would-be leader before campaigning.
#[test]
fn an_acceptor_promises_a_higher_ballot_and_reports_what_it_accepted_from_the_slot_on() {
    let accepted = [(1, b(1, 2), put(1)), (2, b(1, 2), put(2)), (3, b(2, 3), put(3))];
    let mut n = server_with(Some(stored(b(2, 3), &accepted)), params());
    let shown: Vec<(u64, Ballot, &Op)> = accepted.iter().map(|(s, ballot, op)| (*s, *ballot, op)).collect();
    let votes = vec![
        SlotVote { slot: 2, ballot: b(1, 2), value: put(2) },
        SlotVote { slot: 3, ballot: b(2, 3), value: put(3) },
    ];
    assert_eq!(
        n.deliver(4, Prepare { ballot: b(3, 4), from: 2 }),
        vec![
            persist(durable(b(3, 4), &shown)),
            event("promised", json!({ "ballot": ballot_json(b(3, 4)) })),
            set_timer("election", 150),
            send(4, Promise { ballot: b(3, 4), from: 2, accepted: votes.clone() }),
        ]
    );
    // The same Prepare again (a duplicate, or a retry after a lost Promise): the same answer,
    // nothing persisted.
    assert_eq!(
        n.deliver(4, Prepare { ballot: b(3, 4), from: 2 }),
        vec![send(4, Promise { ballot: b(3, 4), from: 2, accepted: votes })]
    );
    // A lower ballot is refused with the promise.
    assert_eq!(
        n.deliver(2, Prepare { ballot: b(2, 2), from: 1 }),
        vec![send(2, Nack { ballot: b(2, 2), promised: b(3, 4) })]
    );
}

/// With promises from a majority, for each slot the value of the highest ballot any promise
/// reports is proposed again, a gap gets a no-op, and the server leads.
#[test]
fn a_new_leader_adopts_the_highest_accepted_value_per_slot_and_fills_gaps_with_no_ops() {
    let mut n = server_with(Some(stored(b(2, 3), &[])), params());
    fire(&mut n, "election");
    let from_2 = vec![
        SlotVote { slot: 1, ballot: b(1, 2), value: put(1) },
        SlotVote { slot: 3, ballot: b(2, 3), value: put(3) },
    ];
    assert_eq!(n.deliver(2, Promise { ballot: b(3, 1), from: 1, accepted: from_2 }), vec![], "two promises of three");
    let from_3 = vec![SlotVote { slot: 1, ballot: b(2, 3), value: put(9) }];
    let mut want = elected(3, &[1, 2, 3]);
    let (ballot, adopted) =
        (b(3, 1), |round, proposer| json!({ "adopted": { "ballot": ballot_json(b(round, proposer)) } }));
    want.extend(proposes(1, ballot, &put(9), adopted(2, 3), &[], 0));
    want.extend(proposes(2, ballot, &Op::Noop, json!("noop"), &[(1, ballot, &put(9))], 0));
    want.extend(proposes(3, ballot, &put(3), adopted(2, 3), &[(1, ballot, &put(9)), (2, ballot, &Op::Noop)], 0));
    want.push(set_timer("heartbeat", 50));
    assert_eq!(n.deliver(3, Promise { ballot, from: 1, accepted: from_3 }), want);
    assert_eq!(n.status(), status("leader", Some(1), 3));
}

/// `unsafe_skip_adopt`: the same promises, and nothing is proposed again; the next client's
/// command goes to slot 1, over whatever was chosen there.
#[test]
fn with_unsafe_skip_adopt_a_new_leader_ignores_what_its_promises_report() {
    let p = MultiPaxosParams { unsafe_skip_adopt: true, ..params() };
    let mut n = server_with(Some(stored(b(2, 3), &[])), p);
    fire(&mut n, "election");
    n.deliver(
        2,
        Promise { ballot: b(3, 1), from: 1, accepted: vec![SlotVote { slot: 1, ballot: b(2, 3), value: put(9) }] },
    );
    let mut want = elected(3, &[1, 2, 3]);
    want.push(set_timer("heartbeat", 50));
    assert_eq!(n.deliver(3, Promise { ballot: b(3, 1), from: 1, accepted: vec![] }), want);
    let fx = n.deliver(6, MultiPaxosMsg::Request(request(1)));
    assert_eq!(fx, proposes(1, b(3, 1), &put(1), json!({ "client": { "client": 6, "seq": 1 } }), &[], 0));
}

/// A would-be leader holds client requests during phase 1 and proposes them once it leads.
#[test]
fn a_would_be_leader_holds_requests_until_it_leads() {
    let mut n = server();
    fire(&mut n, "election");
    assert_eq!(n.deliver(6, MultiPaxosMsg::Request(request(1))), vec![]);
    n.deliver(2, Promise { ballot: b(1, 1), from: 1, accepted: vec![] });
    let mut want = elected(1, &[1, 2, 3]);
    want.push(set_timer("heartbeat", 50));
    want.extend(proposes(1, b(1, 1), &put(1), json!({ "client": { "client": 6, "seq": 1 } }), &[], 0));
    assert_eq!(n.deliver(3, Promise { ballot: b(1, 1), from: 1, accepted: vec![] }), want);
}

// ---- phase 2 with a stable leader ----

/// The stable leader skips phase 1: a command goes straight to Accept in the next slot; with a
/// majority of Accepted (the leader's own included) it is chosen, applied and answered, and the
/// next Accept carries the commit point.
#[test]
fn a_stable_leader_runs_only_phase_2_and_answers_once_a_majority_accepted() {
    let mut n = leader();
    let client = |seq| json!({ "client": { "client": 6, "seq": seq } });
    assert_eq!(n.deliver(6, MultiPaxosMsg::Request(request(1))), proposes(1, b(1, 1), &put(1), client(1), &[], 0));
    assert_eq!(n.deliver(2, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 }), vec![], "two of five");
    assert_eq!(
        n.deliver(3, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 }),
        vec![
            event("chosen", json!({ "slot": 1, "ballot": ballot_json(b(1, 1)), "digest": digest(&put(1)) })),
            event("applied_slot", json!({ "slot": 1, "digest": digest(&put(1)) })),
            event("applied", json!({ "index": 1, "client": 6, "seq": 1, "f": "put", "key": "x" })),
            send(6, MultiPaxosMsg::Reply(Reply { seq: 1, outcome: Outcome::Ok { value: None } })),
        ]
    );
    assert_eq!(
        n.deliver(4, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 }),
        vec![],
        "a late answer tells nothing new"
    );
    let next = n.deliver(6, MultiPaxosMsg::Request(request(2)));
    assert_eq!(next, proposes(2, b(1, 1), &put(2), client(2), &[(1, b(1, 1), &put(1))], 1));
    assert!(messages(&next).iter().all(|(_, m)| !matches!(m, Prepare { .. })), "no phase 1");
}

/// An acceptor accepts what its promise allows (persisted before the answer), follows the
/// leader, answers a duplicate again (its first answer may be lost), and refuses a lower ballot.
#[test]
fn an_acceptor_accepts_persists_answers_and_follows_the_leader() {
    let mut n = server();
    let accept = Accept { ballot: b(1, 2), slot: 1, value: put(1), commit: 0 };
    assert_eq!(
        n.deliver(2, accept.clone()),
        vec![
            persist(durable(b(1, 2), &[(1, b(1, 2), &put(1))])),
            event("accepted", json!({ "slot": 1, "ballot": ballot_json(b(1, 2)), "digest": digest(&put(1)) })),
            send(2, MultiPaxosMsg::Accepted { ballot: b(1, 2), slot: 1 }),
            event("leader", json!({ "leader": 2, "round": 1 })),
            set_timer("election", 150),
        ]
    );
    assert_eq!(n.status(), status("follower", Some(2), 1));
    assert_eq!(
        n.deliver(2, accept),
        vec![send(2, MultiPaxosMsg::Accepted { ballot: b(1, 2), slot: 1 }), set_timer("election", 150)]
    );
    n.deliver(3, Prepare { ballot: b(2, 3), from: 1 });
    let stale = Accept { ballot: b(1, 2), slot: 2, value: put(2), commit: 1 };
    assert_eq!(n.deliver(2, stale), vec![send(2, Nack { ballot: b(1, 2), promised: b(2, 3) })]);
}

/// Followers redirect clients to the leader they follow.
#[test]
fn a_follower_redirects_a_client_to_its_leader() {
    let mut n = server();
    n.deliver(2, Heartbeat { ballot: b(1, 2), commit: 0 });
    let fx = n.deliver(6, MultiPaxosMsg::Request(request(1)));
    assert_eq!(
        fx,
        vec![send(6, MultiPaxosMsg::Reply(Reply { seq: 1, outcome: Outcome::NotLeader { leader: Some(2) } }))]
    );
}

// ---- learning in slot order, and catching up ----

/// The commit point names the chosen slots; a slot accepted in the leader's ballot holds the
/// chosen value, but a slot not held stops the applying (slot order) until CatchUp brings it.
#[test]
fn a_learner_applies_in_slot_order_and_catches_up_on_what_it_lacks() {
    let mut n = server();
    n.deliver(2, Accept { ballot: b(1, 2), slot: 2, value: put(2), commit: 0 });
    assert_eq!(
        n.deliver(2, Heartbeat { ballot: b(1, 2), commit: 2 }),
        vec![set_timer("election", 150), send(2, CatchUp { from: 1 })],
        "slot 1 missing: slot 2 waits"
    );
    let applied = |slot: u64, op: &Op, seq: u64| {
        vec![
            event("applied_slot", json!({ "slot": slot, "digest": digest(op) })),
            event("applied", json!({ "index": slot, "client": 6, "seq": seq, "f": "put", "key": "x" })),
        ]
    };
    assert_eq!(n.deliver(2, Decisions { from: 1, values: vec![put(1)] }), applied(1, &put(1), 1));
    let mut want = vec![set_timer("election", 150)];
    want.extend(applied(2, &put(2), 2));
    assert_eq!(n.deliver(2, Heartbeat { ballot: b(1, 2), commit: 2 }), want);
}

/// A value accepted in an older ballot is not known to be the chosen one: the learner asks.
#[test]
fn a_value_accepted_in_another_ballot_is_not_learned_from_the_commit_point() {
    let mut n = server_with(Some(stored(b(1, 3), &[(1, b(1, 3), put(1))])), params());
    let fx = n.deliver(2, Heartbeat { ballot: b(2, 2), commit: 1 });
    assert_eq!(
        fx,
        vec![
            event("leader", json!({ "leader": 2, "round": 2 })),
            set_timer("election", 150),
            send(2, CatchUp { from: 1 })
        ]
    );
}

/// Anyone who knows chosen values answers CatchUp with them, in a row from the slot asked for.
#[test]
fn the_leader_answers_catch_up_with_the_chosen_values() {
    let mut n = leader();
    n.deliver(6, MultiPaxosMsg::Request(request(1)));
    n.deliver(2, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 });
    n.deliver(3, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 });
    assert_eq!(n.deliver(4, CatchUp { from: 1 }), vec![send(4, Decisions { from: 1, values: vec![put(1)] })]);
    assert_eq!(n.deliver(4, CatchUp { from: 2 }), vec![], "nothing chosen from slot 2 on");
}

// ---- heartbeats and stepping down ----

/// Every heartbeat carries the commit point to every server; an Accept unanswered for a whole
/// heartbeat goes again, only to those that have not accepted it.
#[test]
fn heartbeats_carry_the_commit_point_and_resend_unanswered_accepts() {
    let mut n = leader();
    n.deliver(6, MultiPaxosMsg::Request(request(1)));
    n.deliver(2, MultiPaxosMsg::Accepted { ballot: b(1, 1), slot: 1 });
    let mut want = sends(&PEERS, Heartbeat { ballot: b(1, 1), commit: 0 });
    want.push(set_timer("heartbeat", 50));
    assert_eq!(fire(n.at(20), "heartbeat"), want, "sent 20 ms ago: still on its way");
    let mut want = sends(&PEERS, Heartbeat { ballot: b(1, 1), commit: 0 });
    want.extend(sends(&[3, 4, 5], Accept { ballot: b(1, 1), slot: 1, value: put(1), commit: 0 }));
    want.push(set_timer("heartbeat", 50));
    assert_eq!(fire(n.at(50), "heartbeat"), want);
}

/// A Nack of its ballot tells a leader a higher one exists: it steps down and waits.
#[test]
fn a_leader_nacked_steps_down() {
    let mut n = leader();
    assert_eq!(
        n.deliver(2, Nack { ballot: b(1, 1), promised: b(2, 3) }),
        vec![
            cancel_timer("heartbeat"),
            set_timer("election", 150),
            event("leader_lost", json!({ "leader": 1, "reason": "nack: node 2 promised ballot (2, 3)" })),
        ]
    );
    assert_eq!(n.status(), status("follower", None, 1));
    // Its next ballot is above the one that preempted it.
    let fx = fire(&mut n, "election");
    assert!(fx.contains(&send(2, Prepare { ballot: b(3, 1), from: 1 })), "{fx:?}");
}

/// A leader whose own acceptor promises a higher ballot steps down before it promises.
#[test]
fn a_leader_whose_acceptor_promises_a_higher_ballot_steps_down() {
    let mut n = leader();
    assert_eq!(
        n.deliver(3, Prepare { ballot: b(2, 3), from: 1 }),
        vec![
            persist(durable(b(2, 3), &[])),
            event("promised", json!({ "ballot": ballot_json(b(2, 3)) })),
            cancel_timer("heartbeat"),
            set_timer("election", 150),
            event("leader_lost", json!({ "leader": 1, "reason": "preempted by ballot (2, 3)" })),
            set_timer("election", 150),
            send(3, Promise { ballot: b(2, 3), from: 1, accepted: vec![] }),
        ]
    );
    assert_eq!(n.status(), status("follower", None, 2));
}

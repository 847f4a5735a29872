//! Paxos's rules one at a time (Lamport, "Paxos Made Simple", §2.2–2.3), as
//! `consensus/paxos/mod.rs` states them: one handler called on one node, the exact effects compared.

use crate::common::rules::*;
use algorithms::consensus::paxos::{Accepted, Backoff, Ballot, Durable, PaxosMsg, PaxosNode, PaxosParams};
use algorithms::{NodeId, MS};
use serde_json::{json, Value};

use PaxosMsg::{Accept, Nack, Prepare, Promise};

fn b(round: u64, proposer: NodeId) -> Ballot {
    Ballot { round, proposer }
}

fn bj(round: u64, proposer: NodeId) -> Value {
    json!({ "round": round, "proposer": proposer })
}

fn acc(round: u64, proposer: NodeId, value: &str) -> Accepted {
    Accepted { ballot: b(round, proposer), value: value.into() }
}

fn params(proposers: &[NodeId]) -> PaxosParams {
    PaxosParams { proposers: proposers.to_vec(), ..Default::default() }
}

/// Node `me` of five, started from `durable` (as stable storage hands it back).
fn node(me: NodeId, proposers: &[NodeId], durable: Durable) -> Node<PaxosNode> {
    let peers: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, PaxosNode::new(me, params(proposers)));
    n.stored = Some(rmp_serde::to_vec_named(&durable).unwrap());
    n.start();
    n
}

/// An acceptor (node 2) that promised (1, 1) and accepted "v1" in it.
fn acceptor_with_v1() -> Node<PaxosNode> {
    let durable = Durable { promised: Some(b(1, 1)), accepted: Some(acc(1, 1, "v1")), ..Default::default() };
    node(2, &[1], durable)
}

/// Phase 1b: an acceptor promises a higher ballot, persists the promise, then answers with the
/// highest value it accepted.
#[test]
fn a_prepare_above_the_promise_is_promised_with_the_accepted_value() {
    let mut n = acceptor_with_v1();
    let fx = n.deliver(3, Prepare { ballot: b(2, 3) });
    let accepted = json!({ "ballot": bj(1, 1), "value": "v1" });
    assert_eq!(
        fx,
        vec![
            persist(json!({ "promised": bj(2, 3), "accepted": accepted, "round": 0, "learned": null })),
            event("promised", json!({ "ballot": bj(2, 3) })),
            send(3, Promise { ballot: b(2, 3), accepted: Some(acc(1, 1, "v1")) }),
        ]
    );
}

/// "It promises never again to accept a proposal numbered less than n": a lower Prepare and a
/// lower Accept are refused with the promise, and nothing is persisted.
#[test]
fn a_lower_ballot_is_refused_with_the_promise() {
    let mut n = acceptor_with_v1();
    n.deliver(3, Prepare { ballot: b(2, 3) });
    assert_eq!(n.deliver(1, Prepare { ballot: b(2, 1) }), vec![send(1, Nack { ballot: b(2, 1), promised: b(2, 3) })]);
    let fx = n.deliver(1, Accept { ballot: b(1, 2), value: "v2".into() });
    assert_eq!(fx, vec![send(1, Nack { ballot: b(1, 2), promised: b(2, 3) })]);
}

/// A duplicated Prepare of the ballot already promised is not answered twice (the message cost
/// stays exact under duplication), and a restarted acceptor keeps its promise.
#[test]
fn a_promise_survives_a_restart_and_a_duplicate_is_not_answered_again() {
    let mut n = acceptor_with_v1();
    n.deliver(3, Prepare { ballot: b(2, 3) });
    assert_eq!(n.deliver(3, Prepare { ballot: b(2, 3) }), vec![]);
    n.restart(PaxosNode::new(2, params(&[1])));
    assert_eq!(n.deliver(1, Prepare { ballot: b(2, 1) }), vec![send(1, Nack { ballot: b(2, 1), promised: b(2, 3) })]);
}

/// Phase 1a: a proposer's ballot is one round above every round it used or promised, persisted
/// before the Prepares; its own acceptor promises it first.
#[test]
fn a_proposer_starts_a_ballot_above_every_round_it_knows() {
    let peers = [2, 3, 4, 5];
    let mut n = Node::new(1, &peers, PaxosNode::new(1, params(&[1])));
    n.stored =
        Some(rmp_serde::to_vec_named(&Durable { round: 2, promised: Some(b(4, 2)), ..Default::default() }).unwrap());
    let fx = n.start();
    let mut expected = vec![
        persist(json!({ "promised": bj(4, 2), "accepted": null, "round": 5, "learned": null })),
        event("ballot_started", json!({ "ballot": bj(5, 1), "value": "v1" })),
        set_timer("phase", 100),
    ];
    expected.extend(sends(&peers, Prepare { ballot: b(5, 1) }));
    expected.push(persist(json!({ "promised": bj(5, 1), "accepted": null, "round": 5, "learned": null })));
    expected.push(event("promised", json!({ "ballot": bj(5, 1) })));
    assert_eq!(fx, expected);
}

/// Phase 2a: with promises from a majority the proposer asks to accept the value of the highest
/// ballot among them (not its own, not the first it heard), and its own acceptor accepts it.
#[test]
fn the_proposer_adopts_the_value_of_the_highest_accepted_ballot() {
    let peers = [2, 3, 4, 5];
    let mut n = node(1, &[1], Durable { round: 4, ..Default::default() });
    assert_eq!(n.deliver(2, Promise { ballot: b(5, 1), accepted: Some(acc(2, 3, "v3")) }), vec![]);
    let fx = n.deliver(3, Promise { ballot: b(5, 1), accepted: Some(acc(4, 2, "v2")) });
    let mut expected = vec![
        event("proposed", json!({ "ballot": bj(5, 1), "value": "v2", "adopted": bj(4, 2) })),
        set_timer("phase", 100),
    ];
    expected.extend(sends(&peers, Accept { ballot: b(5, 1), value: "v2".into() }));
    let accepted = json!({ "ballot": bj(5, 1), "value": "v2" });
    expected.push(persist(json!({ "promised": bj(5, 1), "accepted": accepted, "round": 5, "learned": null })));
    expected.push(event("accepted", json!({ "ballot": bj(5, 1), "value": "v2" })));
    expected.extend(sends(&peers, PaxosMsg::Accepted { ballot: b(5, 1), value: "v2".into() }));
    assert_eq!(fx, expected);
}

/// With no accepted value among the promises, the proposer proposes its own.
#[test]
fn with_nothing_accepted_the_proposer_proposes_its_own_value() {
    let mut n = node(1, &[1], Durable::default());
    n.deliver(2, Promise { ballot: b(1, 1), accepted: None });
    let fx = n.deliver(3, Promise { ballot: b(1, 1), accepted: None });
    assert_eq!(fx[0], event("proposed", json!({ "ballot": bj(1, 1), "value": "v1" })));
}

/// "To learn that a value has been chosen, a learner must find out that a proposal has been
/// accepted by a majority of acceptors": three Accepted of one ballot out of five, one of another
/// ballot not counted with them; the decision is persisted.
#[test]
fn a_learner_learns_once_a_majority_accepted_one_ballot() {
    let mut n = node(3, &[1], Durable::default());
    let accepted =
        |round, proposer, value: &str| PaxosMsg::Accepted { ballot: b(round, proposer), value: value.into() };
    assert_eq!(n.deliver(1, accepted(1, 1, "v1")), vec![]);
    assert_eq!(n.deliver(2, accepted(1, 1, "v1")), vec![]);
    assert_eq!(n.deliver(4, accepted(2, 2, "v1")), vec![], "another ballot is another count");
    let learned = json!({ "ballot": bj(1, 1), "value": "v1" });
    assert_eq!(
        n.deliver(5, accepted(1, 1, "v1")),
        vec![
            persist(json!({ "promised": null, "accepted": null, "round": 0, "learned": learned })),
            event("learned", json!({ "ballot": bj(1, 1), "value": "v1" })),
        ]
    );
    assert_eq!(n.deliver(4, accepted(1, 1, "v1")), vec![], "a learner learns once");
    assert_eq!(n.status().role, "learned");
}

/// A refused proposer gives its ballot up and, without backoff, tries again after exactly
/// `retry_ms` with a round above the ballot that refused it.
#[test]
fn a_refused_proposer_retries_above_the_refusing_ballot_after_retry_ms() {
    let mut n = node(1, &[1], Durable::default());
    let fx = n.deliver(2, Nack { ballot: b(1, 1), promised: b(3, 2) });
    assert_eq!(
        fx,
        vec![
            event("preempted", json!({ "ballot": bj(1, 1), "by": bj(3, 2) })),
            cancel_timer("phase"),
            set_timer("retry", 10),
        ]
    );
    let fx = fire(&mut n, "retry");
    assert_eq!(fx[1], event("ballot_started", json!({ "ballot": bj(4, 1), "value": "v1" })));
}

/// "A proposer should abandon a proposal if some proposer has begun trying to issue a
/// higher-numbered one": its own acceptor's promise to a higher ballot is enough.
#[test]
fn a_proposer_abandons_its_ballot_when_its_acceptor_promises_a_higher_one() {
    let mut n = node(1, &[1, 2], Durable::default());
    let fx = n.deliver(2, Prepare { ballot: b(1, 2) });
    assert_eq!(fx.last(), Some(&set_timer("retry", 10)));
    assert!(fx.contains(&event("preempted", json!({ "ballot": bj(1, 1), "by": bj(1, 2) }))), "{fx:?}");
    assert!(fx.contains(&send(2, Promise { ballot: b(1, 2), accepted: None })), "{fx:?}");
}

/// Randomized backoff: the pause is drawn in [retry_ms, retry_ms · 2^attempt], capped at 2^6.
#[test]
fn random_backoff_draws_a_pause_that_grows_with_the_attempts() {
    let p = PaxosParams { backoff: Backoff::Random, ..params(&[1]) };
    let mut n = Node::new(1, &[2, 3, 4, 5], PaxosNode::new(1, p));
    n.start();
    let mut pauses = Vec::new();
    for _ in 0..12 {
        let fx = fire(&mut n, "phase");
        match fx.last() {
            Some(Fx::SetTimer(name, after)) if name == "retry" => pauses.push(*after),
            other => panic!("a retry is scheduled last: {other:?}"),
        }
        fire(&mut n, "retry");
    }
    assert_eq!(pauses[0], 10 * MS, "the first pause: 2^0 × retry_ms");
    assert!(pauses.iter().all(|p| (10 * MS..=640 * MS).contains(p)), "{pauses:?}");
    assert!(pauses[6..].iter().any(|p| *p > 80 * MS), "later pauses range up to 640 ms: {pauses:?}");
}

#[test]
fn bad_params_name_their_key() {
    let paxos = algorithms::find("paxos").unwrap();
    let err = paxos.build(1, &[2, 3], &json!({ "proposers": [4] })).err().unwrap();
    assert!(err.contains("params.proposers") && err.contains("node 4"), "{err}");
    let err = paxos.build(1, &[2, 3], &json!({ "backoff": "exponential" })).err().unwrap();
    assert!(err.contains("backoff"), "{err}");
    let err = paxos.build(1, &[2, 3], &json!({ "retry_ms": 0 })).err().unwrap();
    assert!(err.contains("params.retry_ms"), "{err}");
}

/// Corrupt acceptor state is an error, never a forgotten promise.
#[test]
fn a_corrupt_acceptor_state_is_an_error() {
    use algorithms::process::{DynProcess, Hosted};
    let mut p = Hosted::new(PaxosNode::new(2, params(&[1])));
    let err = p.recover(b"\x92\xa3not a ballot").unwrap_err().to_string();
    assert!(err.contains("paxos::Durable"), "{err}");
}

//! Chang–Roberts's rules one at a time (Chang & Roberts 1979), as `election/ring/chang_roberts.rs`
//! states them, and the ring's repair as `election/ring/mod.rs` states it (shared with LeLann):
//! one handler called on node 3 of the ring 1 → 2 → 3 → 4 → 5 → 1, the exact effects compared.
//!
//! Every hop travels as `Pass { seq, hops, body }` and is acknowledged; node 3's own hops are
//! numbered 1, 2, ... in the order it sends them.

use crate::common::rules::ring::{hop, participates, pass};
use crate::common::rules::*;
use algorithms::election::ring::chang_roberts::{ChangRobertsNode, CrMsg};
use algorithms::election::ring::{RingMsg, RingNode, RingParams};
use algorithms::NodeId;
use serde_json::json;

use CrMsg::{Elected, Election};
use RingMsg::{Ack, Heartbeat};

type Cr = RingNode<ChangRobertsNode>;
type Msg = RingMsg<CrMsg>;

/// No jitter, so the leader timeout is exactly 250 ms.
fn params() -> RingParams {
    RingParams {
        heartbeat_ms: 50,
        leader_timeout_ms: 250,
        timeout_jitter_ms: 0,
        ack_timeout_ms: 30,
        election_timeout_ms: 300,
        election_bound_ms: None,
        ..RingParams::default()
    }
}

fn node(me: NodeId, n: NodeId) -> Node<Cr> {
    let peers: Vec<NodeId> = (1..=n).filter(|p| *p != me).collect();
    Node::new(me, &peers, RingNode(ChangRobertsNode::new(me, &peers, params())))
}

/// Node 3, started: the initiator of an election, its ELECTION(3) (hop 1) acknowledged by 4.
fn initiator() -> Node<Cr> {
    let mut n = node(3, 5);
    n.start();
    n.deliver(4, Ack { seq: 1 });
    n
}

/// Node 3, no longer a participant: it follows node 5 (it passed ELECTED(5) on as hop 2, acked).
fn follower_of_5() -> Node<Cr> {
    let mut n = initiator();
    n.deliver(2, pass(40, 3, Elected { id: 5 }));
    n.deliver(4, Ack { seq: 2 });
    assert_eq!(n.status(), status("follower", Some(5)));
    n
}

/// Node 3 initiates: it becomes a participant and sends ELECTION(3) to its successor as hop `seq`.
fn initiates(seq: u64) -> Vec<Fx<Msg>> {
    [participates(true), hop(seq, 1, Election { id: 3 })].concat()
}

// ---- Chang–Roberts ----

/// "An initiator marks itself a participant and sends ELECTION(its id) to its successor";
/// "processes call an election when they start".
#[test]
fn a_starting_process_initiates_sending_election_with_its_id_to_its_successor() {
    let mut n = node(3, 5);
    assert_eq!(n.start(), initiates(1));
    assert_eq!(n.status(), status("electing", None));
}

/// "j above its own id: it passes the message on and becomes a participant". The hop is
/// acknowledged first.
#[test]
fn a_higher_id_is_passed_on_and_the_receiver_becomes_a_participant() {
    let mut n = follower_of_5();
    let fx = [vec![send(2, Ack { seq: 9 })], participates(false), hop(3, 3, Election { id: 5 })].concat();
    assert_eq!(n.deliver(2, pass(9, 2, Election { id: 5 })), fx);
    assert_eq!(n.status().role, "electing");

    // Already a participant: passed on all the same.
    let mut p = initiator();
    let fx = [vec![send(2, Ack { seq: 9 })], hop(2, 3, Election { id: 5 })].concat();
    assert_eq!(p.deliver(2, pass(9, 2, Election { id: 5 })), fx);
}

/// "j below its own id: if not yet a participant it replaces j by its own id, passes that on and
/// becomes a participant".
#[test]
fn a_lower_id_reaching_a_non_participant_is_replaced_by_its_own() {
    let mut n = follower_of_5();
    let fx = [vec![send(2, Ack { seq: 9 })], participates(false), hop(3, 1, Election { id: 3 })].concat();
    assert_eq!(n.deliver(2, pass(9, 2, Election { id: 1 })), fx);
}

/// "... if already a participant it swallows the message."
#[test]
fn a_lower_id_reaching_a_participant_is_swallowed() {
    let mut n = initiator();
    assert_eq!(n.deliver(2, pass(9, 1, Election { id: 2 })), vec![send(2, Ack { seq: 9 })]);
    assert_eq!(n.deliver(2, pass(10, 2, Election { id: 1 })), vec![send(2, Ack { seq: 10 })]);
}

/// "j its own id: its id went all the way round, so it is the highest: it is elected, stops being
/// a participant and sends ELECTED(its id) round the ring." As leader it starts heartbeats.
#[test]
fn its_own_id_back_means_elected_and_elected_is_sent_round_the_ring() {
    let mut n = initiator();
    let fx = [
        vec![
            send(2, Ack { seq: 9 }),
            cancel_timer("election"),
            event("elected", json!({ "leader": 3 })),
            event("leader", json!({ "leader": 3 })),
            cancel_timer("leader_timeout"),
        ],
        sends(&[1, 2, 4, 5], Heartbeat),
        vec![set_timer("heartbeat", 50)],
        hop(2, 1, Elected { id: 3 }),
    ]
    .concat();
    assert_eq!(n.deliver(2, pass(9, 5, Election { id: 3 })), fx);
    assert_eq!(n.status(), status("leader", Some(3)));
}

/// "A process receiving ELECTED(j) for another j records j as leader, stops being a participant
/// and passes it on"; it waits for j's heartbeats.
#[test]
fn elected_for_a_higher_id_is_recorded_and_passed_on() {
    let mut n = initiator();
    let fx = [
        vec![
            send(2, Ack { seq: 9 }),
            cancel_timer("election"),
            event("leader", json!({ "leader": 5 })),
            cancel_timer("heartbeat"),
            set_timer("leader_timeout", 250),
        ],
        hop(2, 3, Elected { id: 5 }),
    ]
    .concat();
    assert_eq!(n.deliver(2, pass(9, 2, Elected { id: 5 })), fx);
    assert_eq!(n.status(), status("follower", Some(5)));
}

/// "... the leader, receiving its own ELECTED back, knows everyone has heard": it stops it.
#[test]
fn its_own_elected_back_stops_there() {
    let mut n = initiator();
    n.deliver(2, pass(9, 5, Election { id: 3 }));
    n.deliver(4, Ack { seq: 2 });
    assert_eq!(n.deliver(2, pass(10, 5, Elected { id: 3 })), vec![send(2, Ack { seq: 10 })]);
    assert_eq!(n.status(), status("leader", Some(3)));
}

/// "A process that hears a lower id announced knows the election skipped it: it swallows the
/// announcement and calls a new election".
#[test]
fn a_lower_id_announced_is_swallowed_and_a_new_election_called() {
    let mut n = follower_of_5();
    let fx = [vec![send(2, Ack { seq: 9 })], initiates(3)].concat();
    assert_eq!(n.deliver(2, pass(9, 1, Elected { id: 2 })), fx);
    assert_eq!(n.status().role, "electing");
}

/// "Processes call an election ... when the leader's heartbeats stop."
#[test]
fn no_heartbeat_for_the_leader_timeout_then_an_election() {
    let mut n = follower_of_5();
    assert_eq!(n.deliver(5, Heartbeat), vec![set_timer("leader_timeout", 250)], "a heartbeat restarts the wait");
    let fx = [vec![event("leader_lost", json!({ "leader": 5, "reason": "no heartbeat" }))], initiates(3)].concat();
    assert_eq!(fire(&mut n, "leader_timeout"), fx);
}

/// "A participant that sees no result within `election_timeout` starts over."
#[test]
fn a_participant_without_a_result_within_the_election_timeout_starts_over() {
    let mut n = initiator();
    assert_eq!(fire(&mut n, "election"), initiates(2));
}

// ---- the ring's repair (ring/mod.rs) ----

/// "A successor that does not acknowledge within `ack_timeout` is taken for dead, and the message
/// goes on to the next id round the ring" ("P5 is dead: skip to P0"). The acknowledgement timer
/// is armed for the new hop, and again for the oldest unacknowledged one (the same).
#[test]
fn a_successor_that_does_not_acknowledge_in_time_is_skipped() {
    let mut n = node(3, 5);
    n.start();
    let fx = vec![
        event("successor_suspected", json!({ "node": 4 })),
        send(5, pass(2, 1, Election { id: 3 })),
        set_timer("ack", 30),
        set_timer("ack", 30),
    ];
    assert_eq!(fire(&mut n, "ack"), fx);
}

/// "Suspicions last for one election: a process that joins a new election probes its direct
/// successor again."
#[test]
fn a_new_election_probes_the_direct_successor_again() {
    let mut n = node(3, 5);
    n.start();
    fire(&mut n, "ack"); // 4 suspected, hop 2 to 5
    n.deliver(5, Ack { seq: 2 });
    assert_eq!(fire(&mut n, "election"), initiates(3));
}

/// "Links are FIFO, so an earlier hop to the same process still unacknowledged was lost": an
/// acknowledgement of a later hop sends the earlier one again.
#[test]
fn an_acknowledgement_of_a_later_hop_resends_an_earlier_lost_one() {
    let mut n = node(3, 5);
    n.start(); // hop 1 to 4, unacknowledged
    n.deliver(2, pass(9, 2, Election { id: 5 })); // hop 2 to 4
    let fx = vec![send(4, pass(3, 1, Election { id: 3 })), set_timer("ack", 30), set_timer("ack", 30)];
    assert_eq!(n.deliver(4, Ack { seq: 2 }), fx);
}

/// "A message that has gone once round the ring without being consumed is dropped (the process
/// that would consume it is gone)."
#[test]
fn a_message_that_went_once_round_unconsumed_is_dropped() {
    let mut n = follower_of_5();
    let fx = [
        vec![send(2, Ack { seq: 9 })],
        participates(false),
        vec![event("ring_dropped", json!({ "kind": "election", "hops": 5 }))],
    ]
    .concat();
    assert_eq!(n.deliver(2, pass(9, 5, Election { id: 5 })), fx);
}

/// "A process whose every successor is silent gets its messages back, as a ring of one": its own
/// ELECTION comes straight back, so it is elected, and its ELECTED comes back too.
#[test]
fn a_process_whose_every_successor_is_silent_is_a_ring_of_one() {
    let mut n = node(1, 2);
    assert_eq!(
        n.start(),
        [participates(true), vec![send(2, pass(1, 1, Election { id: 1 })), set_timer("ack", 30)]].concat()
    );
    let fx = vec![
        event("successor_suspected", json!({ "node": 2 })),
        cancel_timer("ack"),
        cancel_timer("election"),
        event("elected", json!({ "leader": 1 })),
        event("leader", json!({ "leader": 1 })),
        cancel_timer("leader_timeout"),
        send(2, Heartbeat),
        set_timer("heartbeat", 50),
    ];
    assert_eq!(fire(&mut n, "ack"), fx);
    assert_eq!(n.status(), status("leader", Some(1)));
}

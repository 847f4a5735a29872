//! The timestamp election's rules one at a time (the course's "Lamport's algorithm"), as
//! `election/timestamp.rs` states them: one handler called on node 3 of five, the exact effects
//! compared, the Lamport clock read with the `clock` command.

use crate::common::rules::*;
use algorithms::election::timestamp::{TimestampMsg, TimestampNode, TimestampParams};
use algorithms::NodeId;
use serde_json::json;

use TimestampMsg::{Coordinator, Election, Heartbeat, Reply};

/// No jitter, so the leader timeout is exactly 250 ms.
fn params() -> TimestampParams {
    TimestampParams { timeout_jitter_ms: 0, ..TimestampParams::default() }
}

const OTHERS: [NodeId; 4] = [1, 2, 4, 5];

/// Node 3 of 1..=5, started: listening for a leader.
fn started() -> Node<TimestampNode> {
    let mut n = Node::new(3, &OTHERS, TimestampNode::new(3, params()));
    assert_eq!(n.start(), vec![set_timer("leader_timeout", 250)], "a started node listens before it stands");
    n
}

fn clock(n: &mut Node<TimestampNode>) -> u64 {
    n.command(&["clock"]).0.unwrap().parse().unwrap()
}

/// Node 3 standing with timestamp `ts` (its clock then).
fn stands(ts: u64) -> Vec<Fx<TimestampMsg>> {
    let mut fx =
        vec![event("election_started", json!({})), cancel_timer("leader_timeout"), cancel_timer("coordinator")];
    fx.extend(sends(&OTHERS, Election { ts }));
    fx.push(set_timer("reply", 100));
    fx
}

/// Node 3 standing with timestamp 1, after its leader timeout at start.
fn candidate() -> Node<TimestampNode> {
    let mut n = started();
    assert_eq!(fire(&mut n, "leader_timeout"), stands(1));
    n
}

/// Node 3 following node 5, its clock at 8.
fn following_5() -> Node<TimestampNode> {
    let mut n = started();
    n.deliver(5, Coordinator { ts: 7 });
    assert_eq!(clock(&mut n), 8);
    n
}

/// "When a process believes the leader has failed, it broadcasts an election message containing
/// its own timestamp": the clock ticks for the broadcast, and the new value is the timestamp.
#[test]
fn a_process_without_a_leader_stands_with_its_ticked_clock() {
    let mut n = following_5();
    let mut expected = vec![event("leader_lost", json!({ "leader": 5, "reason": "no heartbeat" }))];
    expected.extend(stands(9));
    assert_eq!(fire(&mut n, "leader_timeout"), expected);
    assert_eq!(n.status().role, "electing");
}

/// A receive sets the clock to max(own, received) + 1, whatever the message.
#[test]
fn a_receive_merges_the_clock() {
    let mut n = following_5();
    n.deliver(5, Heartbeat { ts: 20 });
    assert_eq!(clock(&mut n), 21);
    n.deliver(5, Heartbeat { ts: 3 });
    assert_eq!(clock(&mut n), 22);
}

/// "Each process compares the timestamp of the message and sends a response if its timestamp is
/// higher": node 3 at clock 8 gets ELECTION(5) from node 2, replies, and stands itself.
#[test]
fn a_higher_process_replies_and_stands() {
    let mut n = following_5();
    let mut expected = vec![
        event("leader_lost", json!({ "leader": 5, "reason": "election" })),
        cancel_timer("leader_timeout"),
        cancel_timer("heartbeat"),
        send(2, Reply { ts: 10 }),
    ];
    expected.extend(stands(11));
    assert_eq!(n.deliver(2, Election { ts: 5 }), expected);
}

/// Ties are broken by id: (8, 3) is below (8, 4), so node 3 stays quiet and waits for the winner.
#[test]
fn a_lower_process_stays_quiet_and_waits_for_the_coordinator() {
    let mut n = following_5();
    assert_eq!(
        n.deliver(4, Election { ts: 8 }),
        vec![
            event("leader_lost", json!({ "leader": 5, "reason": "election" })),
            cancel_timer("leader_timeout"),
            cancel_timer("heartbeat"),
            cancel_timer("reply"),
            set_timer("coordinator", 200)
        ]
    );
    assert_eq!(n.status().role, "idle");
    // Deferred, it stays quiet for a lower bid although its clock (9) is above it now ...
    let quiet = vec![cancel_timer("leader_timeout"), cancel_timer("heartbeat")];
    assert_eq!(n.deliver(1, Election { ts: 6 }), quiet);
    // ... and with no coordinator within the timeout it stands (clock 10 after that receive).
    assert_eq!(fire(&mut n, "coordinator"), stands(11));
}

/// A candidate compares with its standing bid, not its clock: standing at 1, a REPLY or an ELECTION
/// from higher makes it withdraw; a lower ELECTION gets a REPLY and nothing more.
#[test]
fn a_candidate_withdraws_for_higher_bids_and_answers_lower_ones() {
    let mut n = candidate();
    let answer = vec![cancel_timer("leader_timeout"), cancel_timer("heartbeat"), send(1, Reply { ts: 3 })];
    assert_eq!(n.deliver(1, Election { ts: 1 }), answer, "(1, 3) beats (1, 1)");
    assert_eq!(n.deliver(4, Reply { ts: 2 }), vec![cancel_timer("reply"), set_timer("coordinator", 200)]);
    assert_eq!(n.status().role, "idle");
}

/// "The process with the highest timestamp eventually wins": no higher bid within the reply
/// timeout, and the candidate announces itself, then heartbeats.
#[test]
fn a_candidate_that_hears_of_no_higher_bid_wins() {
    let mut n = candidate();
    let mut expected =
        vec![cancel_timer("reply"), event("elected", json!({ "leader": 3 })), event("leader", json!({ "leader": 3 }))];
    expected.extend(sends(&OTHERS, Coordinator { ts: 2 }));
    expected.push(set_timer("heartbeat", 50));
    assert_eq!(fire(&mut n, "reply"), expected);
    assert_eq!(n.status().role, "leader");
    let mut beat = sends(&OTHERS, Heartbeat { ts: 3 });
    beat.push(set_timer("heartbeat", 50));
    assert_eq!(fire(&mut n, "heartbeat"), beat);
}

/// A COORDINATOR is followed, unless the receiver stands with a higher bid (its own announcement
/// will overrule it).
#[test]
fn a_coordinator_is_followed_unless_the_receiver_stands_higher() {
    let mut n = candidate();
    assert_eq!(n.deliver(1, Coordinator { ts: 1 }), vec![], "(1, 3) stands above (1, 1)");
    assert_eq!(
        n.deliver(4, Coordinator { ts: 2 }),
        vec![
            cancel_timer("reply"),
            cancel_timer("coordinator"),
            cancel_timer("heartbeat"),
            event("leader", json!({ "leader": 4 })),
            set_timer("leader_timeout", 250)
        ]
    );
}

/// Heartbeats: the leader's renew the timeout; another leader's make a leader stand.
#[test]
fn heartbeats_renew_the_timeout_and_a_second_leader_calls_an_election() {
    let mut n = following_5();
    assert_eq!(n.deliver(5, Heartbeat { ts: 9 }), vec![set_timer("leader_timeout", 250)]);
    assert_eq!(n.deliver(4, Heartbeat { ts: 9 }), vec![], "a follower leaves a rival to its leader");
    let mut leader = candidate();
    fire(&mut leader, "reply");
    let mut expected = vec![event("leader_lost", json!({ "leader": 3, "reason": "election" }))];
    expected.extend(stands(5));
    assert_eq!(leader.deliver(5, Heartbeat { ts: 3 }), expected);
}

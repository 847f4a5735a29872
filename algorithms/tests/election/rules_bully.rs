//! The bully election's rules one at a time (Garcia-Molina 1982), as `election/bully/mod.rs` states
//! them: one handler called on node 3 of five (two ids below it, two above), the exact effects
//! compared.

use crate::common::rules::*;
use algorithms::election::bully::{BullyMsg, BullyNode, BullyParams};
use algorithms::{NodeId, Status};
use serde_json::json;

use BullyMsg::{Answer, Coordinator, Election, Heartbeat};

/// No jitter, so the leader timeout is exactly 250 ms.
fn params() -> BullyParams {
    BullyParams {
        heartbeat_ms: 50,
        leader_timeout_ms: 250,
        timeout_jitter_ms: 0,
        answer_timeout_ms: 100,
        coordinator_timeout_ms: 200,
        election_bound_ms: None,
        ..BullyParams::default()
    }
}

/// Node `me` of 1..=5, started: holding its first election.
fn started(me: NodeId) -> Node<BullyNode> {
    let peers: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, BullyNode::new(me, params()));
    n.start();
    n
}

/// Node 3, following node 5.
fn following_5() -> Node<BullyNode> {
    let mut n = started(3);
    n.deliver(5, Coordinator);
    assert_eq!(n.status().leader, Some(5));
    n
}

/// Node 3, coordinator after no higher id answered.
fn coordinator() -> Node<BullyNode> {
    let mut n = started(3);
    fire(&mut n, "answer");
    assert_eq!(n.status().role, "leader");
    n
}

fn status(role: &str, leader: Option<NodeId>) -> Status {
    Status { role: role.into(), leader, term: None }
}

/// Node 3 holds an election: ELECTION to the higher ids 4 and 5, then waits for an ANSWER.
fn holds_election() -> Vec<Fx<BullyMsg>> {
    vec![
        event("election_started", json!({})),
        cancel_timer("leader_timeout"),
        send(4, Election),
        send(5, Election),
        set_timer("answer", 100),
    ]
}

/// Node `me` wins: COORDINATOR to every other process, and heartbeats from now on.
fn wins(me: NodeId) -> Vec<Fx<BullyMsg>> {
    let mut fx = vec![
        cancel_timer("answer"),
        cancel_timer("coordinator"),
        cancel_timer("leader_timeout"),
        event("elected", json!({ "leader": me })),
        event("leader", json!({ "leader": me })),
    ];
    let others: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    fx.extend(sends(&others, Coordinator));
    fx.push(set_timer("heartbeat", 50));
    fx
}

/// "A process that starts (or restarts) holds an election": ELECTION goes to every higher id,
/// and to no lower one.
#[test]
fn a_starting_process_holds_an_election_sending_election_to_higher_ids_only() {
    let mut n = Node::new(3, &[1, 2, 4, 5], BullyNode::new(3, params()));
    assert_eq!(n.start(), holds_election());
    assert_eq!(n.status(), status("electing", None));
}

/// The highest id has nobody to ask: it announces itself at once ("the next highest notices
/// and just announces", the best case).
#[test]
fn the_highest_id_wins_at_once_without_asking_anyone() {
    let mut n = Node::new(5, &[1, 2, 3, 4], BullyNode::new(5, params()));
    let mut fx = vec![event("election_started", json!({})), cancel_timer("leader_timeout")];
    fx.extend(wins(5));
    assert_eq!(n.start(), fx);
    assert_eq!(n.status(), status("leader", Some(5)));
}

/// "If no ANSWER comes back within `answer_timeout`, it wins and announces itself with
/// COORDINATOR to everyone."
#[test]
fn no_answer_within_the_answer_timeout_then_declare_self_coordinator_to_everyone() {
    let mut n = started(3);
    assert_eq!(fire(&mut n, "answer"), wins(3));
    assert_eq!(n.status(), status("leader", Some(3)));
}

/// "A process that receives ELECTION from a lower id answers ANSWER and holds its own election".
#[test]
fn an_election_from_a_lower_id_is_answered_and_the_receiver_holds_its_own() {
    let mut n = following_5();
    let mut fx = vec![send(1, Answer)];
    fx.extend(holds_election());
    assert_eq!(n.deliver(1, Election), fx);
    assert_eq!(n.status(), status("electing", Some(5)));
}

/// "... unless it already is": a process already holding an election only answers.
#[test]
fn a_process_already_holding_an_election_only_answers() {
    let mut n = started(3);
    assert_eq!(n.deliver(2, Election), vec![send(2, Answer)]);
    assert_eq!(n.deliver(1, Election), vec![send(1, Answer)]);
}

/// ELECTION goes to higher ids only; one from a higher id (which will win anyway) is not answered.
#[test]
fn an_election_from_a_higher_id_is_not_answered() {
    let mut n = started(3);
    assert_eq!(n.deliver(4, Election), vec![]);
    let mut f = following_5();
    assert_eq!(f.deliver(4, Election), vec![]);
}

/// A coordinator that gets ELECTION from a lower id (which missed the announcement) answers it and
/// tells it who leads; it holds no election, the others know already.
#[test]
fn a_coordinator_answers_a_lower_ids_election_and_tells_it_who_leads() {
    let mut n = coordinator();
    assert_eq!(n.deliver(1, Election), vec![send(1, Answer), send(1, Coordinator)]);
    assert_eq!(n.status(), status("leader", Some(3)));
}

/// "A process that got an ANSWER waits `coordinator_timeout` for the COORDINATOR".
#[test]
fn an_answer_stops_the_answer_timer_and_starts_the_wait_for_the_coordinator() {
    let mut n = started(3);
    assert_eq!(n.deliver(5, Answer), vec![cancel_timer("answer"), set_timer("coordinator", 200)]);
    assert_eq!(n.status(), status("electing", None));
}

/// "... and holds a new election if none comes."
#[test]
fn no_coordinator_within_the_coordinator_timeout_then_a_new_election() {
    let mut n = started(3);
    n.deliver(5, Answer);
    assert_eq!(fire(&mut n, "coordinator"), holds_election());
}

/// An ANSWER that comes after the election is over changes nothing.
#[test]
fn a_late_answer_is_ignored() {
    let mut n = following_5();
    assert_eq!(n.deliver(4, Answer), vec![]);
    assert_eq!(n.status(), status("follower", Some(5)));
}

/// COORDINATOR from a higher id ends the election: follow it, and expect its heartbeats.
#[test]
fn a_coordinator_message_from_a_higher_id_is_followed() {
    let mut n = started(3);
    assert_eq!(
        n.deliver(5, Coordinator),
        vec![
            cancel_timer("answer"),
            cancel_timer("coordinator"),
            cancel_timer("heartbeat"),
            event("leader", json!({ "leader": 5 })),
            set_timer("leader_timeout", 250)
        ]
    );
    assert_eq!(n.status(), status("follower", Some(5)));
}

/// "A recovering higher id takes over: it bullies the current coordinator out": a coordinator
/// that hears COORDINATOR from a higher id stops leading and follows it.
#[test]
fn a_coordinator_that_hears_a_higher_coordinator_steps_down_and_follows_it() {
    let mut n = coordinator();
    assert_eq!(
        n.deliver(4, Coordinator),
        vec![
            cancel_timer("answer"),
            cancel_timer("coordinator"),
            cancel_timer("heartbeat"),
            event("leader", json!({ "leader": 4 })),
            set_timer("leader_timeout", 250)
        ]
    );
    assert_eq!(n.status(), status("follower", Some(4)));
}

/// "The coordinator sends HEARTBEAT every `heartbeat`" to every process.
#[test]
fn the_coordinator_sends_a_heartbeat_to_everyone_every_heartbeat_interval() {
    let mut n = coordinator();
    let mut fx = sends(&[1, 2, 4, 5], Heartbeat);
    fx.push(set_timer("heartbeat", 50));
    assert_eq!(fire(&mut n, "heartbeat"), fx);
}

/// The heartbeat is the failure detector: each one from the leader restarts the wait.
#[test]
fn a_heartbeat_from_the_leader_restarts_the_leader_timeout() {
    let mut n = following_5();
    assert_eq!(n.deliver(5, Heartbeat), vec![set_timer("leader_timeout", 250)]);
}

/// "A process that notices the coordinator is dead (no heartbeat for `leader_timeout`) holds an
/// election".
#[test]
fn no_heartbeat_for_the_leader_timeout_then_the_leader_is_lost_and_an_election_held() {
    let mut n = following_5();
    let mut fx = vec![event("leader_lost", json!({ "leader": 5, "reason": "no heartbeat" }))];
    fx.extend(holds_election());
    assert_eq!(fire(&mut n, "leader_timeout"), fx);
    assert_eq!(n.status(), status("electing", None));
}

/// "... as does any process that hears from a lower leader": a lower id claiming to lead is
/// bullied out by an election; a coordinator tells the claimant alone who leads.
#[test]
fn a_lower_id_claiming_to_lead_is_bullied_out() {
    let mut n = following_5();
    assert_eq!(n.deliver(2, Coordinator), holds_election());

    let mut c = coordinator();
    assert_eq!(c.deliver(2, Heartbeat), vec![send(2, Coordinator)]);
    assert_eq!(c.deliver(1, Coordinator), vec![send(1, Coordinator)]);
    assert_eq!(c.status(), status("leader", Some(3)));
}

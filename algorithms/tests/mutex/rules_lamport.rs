//! Lamport's mutual exclusion rules one at a time (Lamport 1978, "Time, Clocks, and the Ordering
//! of Events"), as `mutex/lamport.rs` states them: one handler called on node 2 of three, the
//! client driven by `acquire` and `release` commands, the exact effects compared, the queues read
//! with the `state` command.

use crate::common::rules::*;
use algorithms::mutex::host::MutexNode;
use algorithms::mutex::lamport::{LamportMsg, LamportNode};
use serde_json::{json, Value};

type Lamport = MutexNode<LamportNode>;

fn request(resource: &str, ts: u64) -> LamportMsg {
    LamportMsg::Request { resource: resource.into(), ts }
}

fn reply(resource: &str, ts: u64) -> LamportMsg {
    LamportMsg::Reply { resource: resource.into(), ts }
}

fn release(resource: &str, ts: u64) -> LamportMsg {
    LamportMsg::Release { resource: resource.into(), ts }
}

fn entered() -> Vec<Fx<LamportMsg>> {
    vec![event("enter_cs", json!({ "resource": "printer" }))]
}

/// Node 2 of 1..=3, started, with no workload: it asks only when told to.
fn idle() -> Node<Lamport> {
    mutex::idle(LamportNode::new(2, &[1, 3]))
}

/// Node 2, waiting for the printer with its request stamped 1.
fn waiting() -> Node<Lamport> {
    mutex::waiting(LamportNode::new(2, &[1, 3]))
}

/// Node 2 in the printer's critical section (its request (1, 2), replies stamped 3; clock 5).
fn inside() -> Node<Lamport> {
    let mut n = waiting();
    n.deliver(1, reply("printer", 3));
    assert_eq!(n.deliver(3, reply("printer", 3)), entered());
    n
}

/// The rules' state: the Lamport clock and the queue of `(T, id)` for the printer.
fn clock_and_queue(n: &mut Node<Lamport>) -> (u64, Value) {
    let (state, _) = n.command(&["state"]);
    let state: Value = serde_json::from_str(&state.unwrap()).unwrap();
    let rules = &state["rules"];
    (rules["clock"].as_u64().unwrap(), rules["queues"].get("printer").cloned().unwrap_or(json!([])))
}

/// "Request R: P_i sends REQUEST(R, T_i) to all and puts the request on its own queue for R";
/// the clock ticks before the send.
#[test]
fn a_request_is_timestamped_queued_and_sent_to_all() {
    let mut n = idle();
    let (answer, fx) = n.command(&["acquire", "printer"]);
    assert_eq!(answer, Ok("requested printer; waiting".into()));
    assert_eq!(
        fx,
        vec![
            event("request", json!({ "resource": "printer", "ts": 1 })),
            send(1, request("printer", 1)),
            send(3, request("printer", 1))
        ]
    );
    assert_eq!(clock_and_queue(&mut n), (1, json!([[1, 2]])));
}

/// "P_j receiving a REQUEST puts it on its queue for R and returns a timestamped REPLY"; "a
/// receive sets it to max(own, received) + 1", and the clock ticks again for the reply.
#[test]
fn a_request_is_queued_and_answered_with_a_timestamped_reply() {
    let mut n = idle();
    assert_eq!(n.deliver(1, request("printer", 5)), vec![send(1, reply("printer", 7))]);
    assert_eq!(clock_and_queue(&mut n), (7, json!([[5, 1]])));
}

/// Unlike Ricart–Agrawala, every request is answered at once, from inside the critical section
/// too: the release, not the reply, lets the next process in.
#[test]
fn every_request_is_answered_even_from_inside_the_critical_section() {
    let mut n = inside(); // clock 5: max(5, 2) + 1 = 6 on receipt, 7 for the reply
    assert_eq!(n.deliver(1, request("printer", 2)), vec![send(1, reply("printer", 7))]);
    assert_eq!(clock_and_queue(&mut n), (7, json!([[1, 2], [2, 1]])));
    assert_eq!(n.status().role, "in_cs");
}

/// "P_i enters when its request heads its queue for R and it has received a message later than
/// T_i from every other process."
#[test]
fn a_process_enters_when_its_request_heads_the_queue_and_every_other_sent_something_later() {
    let mut n = waiting();
    assert_eq!(n.deliver(1, reply("printer", 3)), vec![], "nothing later from node 3 yet");
    assert_eq!(n.deliver(3, reply("printer", 2)), entered());
    assert_eq!(n.status().role, "in_cs");
}

/// "... a message later than T_i": any message counts, not only a reply — here node 1's own
/// later request, which queues behind ours.
#[test]
fn any_later_message_counts_not_only_a_reply() {
    let mut n = waiting();
    assert_eq!(n.deliver(1, request("printer", 5)), vec![send(1, reply("printer", 7))]);
    assert_eq!(n.deliver(3, reply("printer", 2)), entered());
    assert_eq!(clock_and_queue(&mut n).1, json!([[1, 2], [5, 1]]));
}

/// A message stamped T_i or earlier is not later: no entry without a later message from each.
#[test]
fn a_message_not_later_than_the_request_does_not_count() {
    let mut n = waiting();
    n.deliver(1, reply("printer", 3));
    // Node 3's own request, stamped 1 like ours: queued behind (1, 2), answered, not later.
    assert_eq!(n.deliver(3, request("printer", 1)), vec![send(3, reply("printer", 6))]);
    assert_eq!(n.status().role, "waiting");
    assert_eq!(n.deliver(3, reply("printer", 2)), entered());
}

/// "Ties break by process id, so (T, id) orders all requests totally": with equal timestamps the
/// lower id goes first.
#[test]
fn equal_timestamps_are_ordered_by_id() {
    let mut n = waiting(); // (1, 2)
    n.deliver(1, request("printer", 1)); // (1, 1) heads the queue
    n.deliver(1, reply("printer", 4));
    assert_eq!(n.deliver(3, reply("printer", 4)), vec![], "(1, 1) is ahead of (1, 2)");
    assert_eq!(clock_and_queue(&mut n).1, json!([[1, 1], [1, 2]]));
    assert_eq!(n.deliver(1, release("printer", 6)), entered());
}

/// An earlier request at the head of the queue keeps the process out, however many replies it
/// has; the release of that request lets it in.
#[test]
fn no_entry_while_an_earlier_request_heads_the_queue() {
    let mut n = idle();
    n.deliver(1, request("printer", 1)); // clock 2, reply 3
    let (_, fx) = n.command(&["acquire", "printer"]);
    assert_eq!(fx[0], event("request", json!({ "resource": "printer", "ts": 4 })));
    assert_eq!(n.deliver(1, reply("printer", 5)), vec![]);
    assert_eq!(n.deliver(3, reply("printer", 5)), vec![]);
    assert_eq!(n.deliver(1, release("printer", 6)), entered());
}

/// "Release: P_i removes its request and sends RELEASE(R) to all"; the exit is traced first.
#[test]
fn a_release_removes_the_own_request_and_is_sent_to_all() {
    let mut n = inside(); // clock 5
    let (answer, fx) = n.command(&["release", "printer"]);
    assert_eq!(answer, Ok("released printer".into()));
    assert_eq!(
        fx,
        vec![
            cancel_timer("hold:printer"),
            event("exit_cs", json!({ "resource": "printer" })),
            send(1, release("printer", 6)),
            send(3, release("printer", 6))
        ]
    );
    assert_eq!(clock_and_queue(&mut n), (6, json!([])));
}

/// "... to all, who remove it from their queues."
#[test]
fn a_release_removes_the_senders_request_from_the_queue() {
    let mut n = idle();
    n.deliver(1, request("printer", 5));
    n.deliver(3, request("printer", 6));
    assert_eq!(n.deliver(1, release("printer", 9)), vec![]);
    assert_eq!(clock_and_queue(&mut n).1, json!([[6, 3]]));
}

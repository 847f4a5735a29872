//! Ricart–Agrawala's rules one at a time (Ricart & Agrawala 1981), as `mutex/ricart_agrawala.rs`
//! states them: one handler called on node 2 of three, the client driven by `acquire` and
//! `release` commands, the exact effects compared.

use crate::common::rules::*;
use algorithms::mutex::host::MutexNode;
use algorithms::mutex::ricart_agrawala::{RaMsg, RaNode};
use serde_json::json;

type Ra = MutexNode<RaNode>;

fn request(resource: &str, ts: u64) -> RaMsg {
    RaMsg::Request { resource: resource.into(), ts }
}

fn reply(resource: &str) -> RaMsg {
    RaMsg::Reply { resource: resource.into() }
}

/// Node 2 of 1..=3, started, with no workload: it asks only when told to.
fn idle() -> Node<Ra> {
    mutex::idle(RaNode::new(2, &[1, 3]))
}

/// Node 2, waiting for the printer with its request stamped 1.
fn waiting() -> Node<Ra> {
    mutex::waiting(RaNode::new(2, &[1, 3]))
}

/// Node 2 in the printer's critical section.
fn inside() -> Node<Ra> {
    let mut n = waiting();
    n.deliver(1, reply("printer"));
    n.deliver(3, reply("printer"));
    assert_eq!(n.status().role, "in_cs");
    n
}

/// "To enter R, P_i multicasts REQUEST(R, i, T_i), with T_i a Lamport timestamp".
#[test]
fn a_request_is_timestamped_and_multicast_to_every_other_process() {
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
    assert_eq!(n.status().role, "waiting");
}

/// "T_i ... one more than the highest it has seen".
#[test]
fn the_timestamp_is_one_more_than_the_highest_seen() {
    let mut n = idle();
    n.deliver(1, request("printer", 7));
    let (_, fx) = n.command(&["acquire", "printer"]);
    assert_eq!(fx[0], event("request", json!({ "resource": "printer", "ts": 8 })));
}

/// "P_j receiving REQUEST(R, i, T_i): not interested in R: reply at once".
#[test]
fn a_process_not_interested_replies_at_once() {
    let mut n = idle();
    assert_eq!(n.deliver(1, request("printer", 5)), vec![send(1, reply("printer"))]);
    // Interest is per resource: waiting for the printer says nothing about the scanner.
    let mut w = waiting();
    assert_eq!(w.deliver(1, request("scanner", 5)), vec![send(1, reply("scanner"))]);
}

/// "... and waits until every other process has sent a REPLY" (each counted once).
#[test]
fn a_process_enters_once_every_other_process_replied() {
    let mut n = waiting();
    assert_eq!(n.deliver(1, reply("printer")), vec![]);
    assert_eq!(n.deliver(1, reply("printer")), vec![], "node 1 again: still one reply");
    assert_eq!(n.deliver(3, reply("scanner")), vec![], "a reply about another resource");
    assert_eq!(n.deliver(3, reply("printer")), vec![event("enter_cs", json!({ "resource": "printer" }))]);
    assert_eq!(n.status().role, "in_cs");
}

/// "In the critical section of R: do not reply; queue the request."
#[test]
fn in_the_critical_section_a_request_is_deferred() {
    let mut n = inside();
    assert_eq!(n.deliver(1, request("printer", 9)), vec![]);
    assert_eq!(n.deliver(3, request("printer", 1)), vec![], "even an earlier timestamp waits");
}

/// "Also waiting for R: the earlier (T, id) wins ... if it wins, it queues the request without
/// replying" — by timestamp, and on equal timestamps by id.
#[test]
fn waiting_with_the_earlier_timestamp_and_id_defers_the_reply() {
    let mut n = waiting(); // (1, 2)
    assert_eq!(n.deliver(3, request("printer", 2)), vec![], "(1, 2) < (2, 3)");
    let mut m = waiting();
    assert_eq!(m.deliver(3, request("printer", 1)), vec![], "(1, 2) < (1, 3)");
}

/// "If P_j loses, it replies": the competitor with the earlier (T, id) gets a reply at once.
#[test]
fn waiting_with_the_later_timestamp_and_id_replies_at_once() {
    let mut n = waiting(); // (1, 2)
    assert_eq!(n.deliver(1, request("printer", 1)), vec![send(1, reply("printer"))], "(1, 1) < (1, 2)");
    let mut m = idle();
    m.deliver(3, request("scanner", 4));
    m.command(&["acquire", "printer"]).0.unwrap(); // (5, 2)
    assert_eq!(m.deliver(1, request("printer", 3)), vec![send(1, reply("printer"))], "(3, 1) < (5, 2)");
}

/// "On leaving R: reply to every queued request", in the order they came; the exit is traced
/// first, so it happens-before every reply.
#[test]
fn on_exit_every_deferred_request_is_replied_to() {
    let mut n = inside();
    n.deliver(3, request("printer", 4));
    n.deliver(1, request("printer", 6));
    let (answer, fx) = n.command(&["release", "printer"]);
    assert_eq!(answer, Ok("released printer".into()));
    assert_eq!(
        fx,
        vec![
            cancel_timer("hold:printer"),
            event("exit_cs", json!({ "resource": "printer" })),
            send(3, reply("printer")),
            send(1, reply("printer"))
        ]
    );
    // Out of the critical section and not interested: the next request is answered at once.
    assert_eq!(n.deliver(1, request("printer", 9)), vec![send(1, reply("printer"))]);
}

/// A request deferred while waiting is answered on leaving too.
#[test]
fn a_request_deferred_while_waiting_is_replied_to_on_exit() {
    let mut n = waiting();
    n.deliver(3, request("printer", 2));
    n.deliver(1, reply("printer"));
    assert_eq!(n.deliver(3, reply("printer")), vec![event("enter_cs", json!({ "resource": "printer" }))]);
    let (_, fx) = n.command(&["release", "printer"]);
    assert_eq!(
        fx,
        vec![
            cancel_timer("hold:printer"),
            event("exit_cs", json!({ "resource": "printer" })),
            send(3, reply("printer"))
        ]
    );
}

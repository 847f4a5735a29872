//! Raymond's rules one at a time (Raymond 1989), as `mutex/raymond.rs` states them: five nodes
//! on the binary tree (1 the root with children 2 and 3; 2 with children 4 and 5), node 1 the
//! initial holder; one handler called, the exact effects compared, the rules' state read with the
//! `state` command.

use crate::common::rules::*;
use algorithms::mutex::host::MutexNode;
use algorithms::mutex::raymond::{RaymondMsg, RaymondNode};
use algorithms::mutex::workload::Workload;
use serde_json::{json, Value};

type Raymond = MutexNode<RaymondNode>;

fn request() -> RaymondMsg {
    RaymondMsg::Request { resource: "printer".into() }
}

fn privilege() -> RaymondMsg {
    RaymondMsg::Privilege { resource: "printer".into() }
}

fn token(op: &str, field: &str, node: u32) -> Fx<RaymondMsg> {
    event("token", json!({ "resource": "printer", "op": op, field: node }))
}

/// Node `me` of 1..=5, started, with no workload: it asks only when told to.
fn node(me: u32) -> Node<Raymond> {
    let quiet = Workload { rate_per_s: 0.0, resources: vec!["printer".into()], ..Default::default() };
    let peers: Vec<u32> = (1..=5).filter(|p| *p != me).collect();
    let rules = RaymondNode::new(me, &peers, 1, 2, &quiet.resources);
    Node::new(me, &peers, MutexNode::new(rules, quiet))
}

/// The printer's `holder`, `queue` and `asked` at the node.
fn printer(n: &mut Node<Raymond>) -> Value {
    let (state, _) = n.command(&["state"]);
    let state: Value = serde_json::from_str(&state.unwrap()).unwrap();
    state["rules"]["resources"]["printer"].clone()
}

/// Node 1 after its first start: it holds the printer's token.
fn root() -> Node<Raymond> {
    let mut n = node(1);
    let fx = n.start();
    assert_eq!(
        fx,
        vec![persist(json!([])), event("token", json!({ "resource": "printer", "op": "create", "reason": "initial" }))]
    );
    n
}

/// Every holder pointer starts toward the initial holder, along the tree.
#[test]
fn holder_pointers_start_toward_the_initial_holder() {
    for (me, holder) in [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)] {
        let mut n = node(me);
        n.start();
        assert_eq!(printer(&mut n), json!({ "holder": holder, "queue": [], "asked": false }), "node {me}");
    }
}

/// "To enter: append i to the queue, ASSIGN_PRIVILEGE, MAKE_REQUEST": without the token, one
/// REQUEST to the holder, and `asked` is set.
#[test]
fn a_request_without_the_token_goes_to_the_holder_once() {
    let mut n = node(4);
    n.start();
    let (answer, fx) = n.command(&["acquire", "printer"]);
    assert_eq!(answer, Ok("requested printer; waiting".into()));
    assert_eq!(fx, vec![event("request", json!({ "resource": "printer", "has_token": false })), send(2, request())]);
    assert_eq!(printer(&mut n), json!({ "holder": 2, "queue": [4], "asked": true }));
}

/// "On REQUEST from j: append j, ... MAKE_REQUEST": the first one is passed up, a second one waits
/// behind it without another REQUEST (`asked`).
#[test]
fn requests_from_children_are_queued_and_passed_up_once() {
    let mut n = node(2);
    n.start();
    assert_eq!(n.deliver(4, request()), vec![send(1, request())]);
    assert_eq!(n.deliver(5, request()), vec![]);
    assert_eq!(printer(&mut n), json!({ "holder": 1, "queue": [4, 5], "asked": true }));
}

/// "On PRIVILEGE: holder := i, ASSIGN_PRIVILEGE, MAKE_REQUEST": the token goes on to the queue's
/// head, and the node asks it straight back for the one still waiting.
#[test]
fn the_token_goes_to_the_queue_head_and_is_asked_back_for_the_rest() {
    let mut n = node(2);
    n.start();
    n.deliver(4, request());
    n.deliver(5, request());
    assert_eq!(
        n.deliver(1, privilege()),
        vec![token("receive", "from", 1), token("send", "to", 4), send(4, privilege()), send(4, request())]
    );
    assert_eq!(printer(&mut n), json!({ "holder": 4, "queue": [5], "asked": true }));
}

/// With the token idle at hand a node enters at once, with no message; a REQUEST that arrives
/// while it is inside waits until it leaves, and then the token goes.
#[test]
fn the_holder_enters_at_once_and_passes_the_token_on_leaving() {
    let mut n = root();
    let (_, fx) = n.command(&["acquire", "printer"]);
    assert_eq!(
        fx,
        vec![
            event("request", json!({ "resource": "printer", "has_token": true })),
            event("enter_cs", json!({ "resource": "printer" }))
        ]
    );
    assert_eq!(n.deliver(3, request()), vec![], "inside: the request waits");
    let (_, fx) = n.command(&["release", "printer"]);
    assert_eq!(
        fx,
        vec![
            cancel_timer("hold:printer"),
            event("exit_cs", json!({ "resource": "printer" })),
            token("send", "to", 3),
            send(3, privilege())
        ]
    );
    assert_eq!(printer(&mut n), json!({ "holder": 3, "queue": [], "asked": false }));
}

/// An idle holder hands the token to the requesting neighbour at once.
#[test]
fn an_idle_holder_hands_the_token_over_at_once() {
    let mut n = root();
    assert_eq!(n.deliver(2, request()), vec![token("send", "to", 2), send(2, privilege())]);
}

/// The token arrives for a node's own request: it enters, and keeps the token afterwards.
#[test]
fn the_token_for_ones_own_request_lets_one_in_and_stays() {
    let mut n = node(3);
    n.start();
    n.command(&["acquire", "printer"]).0.unwrap();
    assert_eq!(
        n.deliver(1, privilege()),
        vec![token("receive", "from", 1), event("enter_cs", json!({ "resource": "printer" }))]
    );
    n.command(&["release", "printer"]).0.unwrap();
    assert_eq!(printer(&mut n), json!({ "holder": 3, "queue": [], "asked": false }));
}

/// A restarted initial holder does not make a second token; it points at a neighbour instead.
#[test]
fn a_restarted_initial_holder_creates_no_second_token() {
    let mut n = root();
    let quiet = Workload { rate_per_s: 0.0, resources: vec!["printer".into()], ..Default::default() };
    let rules = RaymondNode::new(1, &[2, 3, 4, 5], 1, 2, &quiet.resources);
    assert_eq!(n.restart(MutexNode::new(rules, quiet)), vec![]);
    assert_eq!(printer(&mut n), json!({ "holder": 2, "queue": [], "asked": false }));
}

//! Dijkstra's rules one at a time, as `stabilizing/dijkstra.rs` states them: a ring of three
//! (node 1 the bottom), one handler called, the exact effects compared.

use crate::common::rules::*;
use algorithms::stabilizing::dijkstra::{DijkstraMsg, DijkstraNode};
use algorithms::NodeId;
use serde_json::{json, Value};

use DijkstraMsg::State;

/// Node `me` of the ring 1 → 2 → 3 → 1, K = 5, started; returns it and the counter it drew.
fn started(me: NodeId) -> (Node<DijkstraNode>, u64) {
    let peers: Vec<NodeId> = (1..=3).filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, DijkstraNode::new(me, &peers, 5, 20));
    let fx = n.start();
    let Some(Fx::Event(name, data)) = fx.first() else { panic!("{fx:?}") };
    assert_eq!((name.as_str(), &data["reason"]), ("state", &json!("start")));
    let x = data["x"].as_u64().unwrap();
    assert!(x < 5);
    let succ = me % 3 + 1;
    assert_eq!(fx[1..], [send(succ, State { x }), set_timer("period", 20)], "it tells its successor at once");
    (n, x)
}

fn moved(x: u64, from: u64) -> Fx<DijkstraMsg> {
    event("move", json!({ "x": x, "from": from }))
}

/// The bottom is privileged when its counter equals its predecessor's, and increments it mod K.
#[test]
fn the_bottom_moves_when_equal_to_its_predecessor() {
    let (mut n, x) = started(1);
    assert_eq!(n.deliver(3, State { x: (x + 1) % 5 }), vec![], "different: not privileged");
    assert_eq!(n.deliver(3, State { x }), vec![moved((x + 1) % 5, x)]);
}

/// Any other node is privileged when its counter differs from its predecessor's, and copies it.
#[test]
fn the_others_copy_a_different_predecessor() {
    let (mut n, x) = started(2);
    assert_eq!(n.deliver(1, State { x }), vec![], "equal: not privileged");
    let other = (x + 3) % 5;
    assert_eq!(n.deliver(1, State { x: other }), vec![moved(other, x)]);
    assert_eq!(n.deliver(1, State { x: other }), vec![], "now equal");
}

/// Only the predecessor's counter counts: a STATE from elsewhere changes nothing.
#[test]
fn readings_from_anyone_but_the_predecessor_are_ignored() {
    let (mut n, x) = started(2);
    assert_eq!(n.deliver(3, State { x: (x + 1) % 5 }), vec![]);
}

/// Every period the node sends its counter to its successor, whatever it is.
#[test]
fn every_period_the_counter_goes_to_the_successor() {
    let (mut n, x) = started(3);
    assert_eq!(fire(&mut n, "period"), vec![send(1, State { x }), set_timer("period", 20)]);
}

/// The corrupt fault draws an arbitrary counter, says so, and sends nothing: the next period does.
#[test]
fn corrupt_sets_an_arbitrary_counter() {
    let (mut n, _) = started(2);
    let fx = n.handle(|p, ctx| assert!(algorithms::Process::on_corrupt(p, ctx), "dijkstra-ring opts in"));
    let [Fx::Event(name, data)] = &fx[..] else { panic!("{fx:?}") };
    assert_eq!((name.as_str(), &data["reason"]), ("state", &json!("corrupt")));
    let x = data["x"].as_u64().unwrap();
    let (state, _) = n.command(&["state"]);
    let state: Value = serde_json::from_str(&state.unwrap()).unwrap();
    assert_eq!(state, json!({ "x": x, "k": 5, "pred": 1, "succ": 3 }));
}

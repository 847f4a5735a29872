//! kv-single's rules (`replication/single.rs`): a server other than node 1 redirects to node 1;
//! node 1 applies a fresh command, persists, records `applied` and replies; a duplicate is
//! answered from the session table with nothing applied, persisted or recorded; a restarted node
//! 1 has its data.

use crate::common::rules::*;
use algorithms::replication::single::{SingleMsg, SingleServer};
use algorithms::service::{Command, Outcome, Reply, Request};
use algorithms::NodeId;
use serde_json::json;

fn server(me: NodeId) -> Node<SingleServer> {
    let peers: Vec<NodeId> = [1, 2, 3].into_iter().filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, SingleServer::new(me));
    assert_eq!(n.start(), vec![]);
    n
}

fn request(seq: u64, command: Command) -> SingleMsg {
    SingleMsg::Request(Request { client: 5, seq, command })
}

fn put(seq: u64) -> SingleMsg {
    request(seq, Command::Put { key: "x".into(), value: format!("c5-{seq}") })
}

fn reply(seq: u64, outcome: Outcome) -> Fx<SingleMsg> {
    send(5, SingleMsg::Reply(Reply { seq, outcome }))
}

#[test]
fn a_server_other_than_node_1_redirects_to_node_1() {
    let mut s = server(2);
    assert_eq!(s.deliver(5, put(1)), vec![reply(1, Outcome::NotLeader { leader: Some(1) })]);
    assert_eq!(s.status().leader, Some(1));
}

#[test]
fn node_1_applies_persists_records_and_replies_and_answers_a_duplicate_from_the_table() {
    let mut s = server(1);
    let fx = s.deliver(5, put(1));
    let Fx::Persist(state) = &fx[0] else { panic!("{fx:?}") };
    assert_eq!(state["applied"], json!(1));
    assert_eq!(
        &fx[1..],
        [
            event("applied", json!({"index": 1, "client": 5, "seq": 1, "f": "put", "key": "x"})),
            reply(1, Outcome::Ok { value: None }),
        ]
    );
    assert_eq!(s.deliver(5, put(1)), vec![reply(1, Outcome::Ok { value: None })], "a retry: nothing applied again");
    let fx = s.deliver(5, request(2, Command::Get { key: "x".into() }));
    assert_eq!(fx[1], event("applied", json!({"index": 2, "client": 5, "seq": 2, "f": "get", "key": "x"})));
    assert_eq!(fx[2], reply(2, Outcome::Ok { value: Some("c5-1".into()) }));
}

#[test]
fn a_restarted_node_1_keeps_its_data_and_sessions() {
    let mut s = server(1);
    s.deliver(5, put(1));
    s.restart(SingleServer::new(1));
    assert_eq!(s.process.store().get("x"), Some("c5-1"));
    assert_eq!(s.deliver(5, put(1)), vec![reply(1, Outcome::Ok { value: None })], "the session survived");
    let fx = s.deliver(5, put(2));
    assert_eq!(
        fx[1],
        event("applied", json!({"index": 2, "client": 5, "seq": 2, "f": "put", "key": "x"})),
        "the index goes on"
    );
}

//! quorum's rules (`replication/quorum.rs`), one handler call at a time on server 1 of five with
//! majority quorums: a put queries every peer, writes a version above every one it was told of
//! and answers after W acks; a get takes the highest version of R replies and, with write-back,
//! stores it to W before answering; a replica keeps only a newer version; cas is rejected; a
//! retried put is answered from the session table, or written back if a replica stored it.

use crate::common::rules::*;
use algorithms::replication::quorum::{QuorumMsg, QuorumParams, QuorumServer, Register, Version};
use algorithms::service::{Command, Outcome, Reply, Request};
use algorithms::NodeId;

const PEERS: [NodeId; 4] = [2, 3, 4, 5];
const CLIENT: NodeId = 6;

fn server(params: QuorumParams) -> Node<QuorumServer> {
    let mut n = Node::new(1, &PEERS, QuorumServer::new(1, &PEERS, &params));
    assert_eq!(n.start(), vec![]);
    n
}

fn request(seq: u64, command: Command) -> QuorumMsg {
    QuorumMsg::Request(Request { client: CLIENT, seq, command })
}

fn put(seq: u64, value: &str) -> QuorumMsg {
    request(seq, Command::Put { key: "x".into(), value: value.into() })
}

fn get(seq: u64) -> QuorumMsg {
    request(seq, Command::Get { key: "x".into() })
}

fn reg(n: u64, writer: NodeId, value: &str) -> Register {
    Register { version: Version { n, writer }, value: Some(value.into()), by: None }
}

fn query_reply(register: Register) -> QuorumMsg {
    QuorumMsg::QueryReply { op: 1, register, stored: false }
}

/// The messages among the effects, without persists, events and timers.
fn sent(fx: Vec<Fx<QuorumMsg>>) -> Vec<Fx<QuorumMsg>> {
    fx.into_iter().filter(|f| matches!(f, Fx::Send(..))).collect()
}

fn reply(seq: u64, outcome: Outcome) -> Fx<QuorumMsg> {
    send(CLIENT, QuorumMsg::Reply(Reply { seq, outcome }))
}

#[test]
fn a_write_queries_every_peer_and_writes_a_version_above_every_one_it_was_told_of() {
    let mut s = server(QuorumParams::default());
    let query = QuorumMsg::Query { op: 1, attempt: 1, key: "x".into(), put: Some((CLIENT, 1)) };
    assert_eq!(sent(s.deliver(CLIENT, put(1, "a"))), sends(&PEERS, query));
    assert_eq!(sent(s.deliver(2, query_reply(reg(7, 4, "old")))), vec![], "two of three replies (itself and 2)");
    let fx = sent(s.deliver(3, query_reply(reg(3, 5, "older"))));
    let written = Register { version: Version { n: 8, writer: 1 }, value: Some("a".into()), by: Some((CLIENT, 1)) };
    let store = QuorumMsg::Store { op: 1, attempt: 1, key: "x".into(), register: written.clone() };
    assert_eq!(fx, sends(&PEERS, store), "stored to every peer, after its own copy");
    assert_eq!(s.process.register("x"), written, "its own replica holds the new version");
    assert_eq!(sent(s.deliver(4, QuorumMsg::StoreAck { op: 1 })), vec![]);
    assert_eq!(sent(s.deliver(5, QuorumMsg::StoreAck { op: 1 })), vec![reply(1, Outcome::Ok { value: None })]);
}

#[test]
fn a_read_takes_the_highest_of_r_replies_and_writes_it_back_before_the_reply() {
    let mut s = server(QuorumParams::default());
    s.deliver(CLIENT, get(1));
    s.deliver(4, query_reply(reg(2, 3, "two")));
    let fx = sent(s.deliver(5, query_reply(reg(5, 2, "five"))));
    let store = QuorumMsg::Store { op: 1, attempt: 1, key: "x".into(), register: reg(5, 2, "five") };
    assert_eq!(fx, sends(&PEERS, store), "write-back first, no reply yet");
    assert_eq!(sent(s.deliver(2, QuorumMsg::StoreAck { op: 1 })), vec![]);
    let fx = sent(s.deliver(3, QuorumMsg::StoreAck { op: 1 }));
    assert_eq!(fx, vec![reply(1, Outcome::Ok { value: Some("five".into()) })]);
    assert_eq!(sent(s.deliver(4, QuorumMsg::StoreAck { op: 1 })), vec![], "a late ack of a finished operation");
}

#[test]
fn without_write_back_a_read_answers_the_highest_of_r_replies_at_once() {
    let mut s = server(QuorumParams { write_back: false, ..QuorumParams::default() });
    s.deliver(CLIENT, get(1));
    s.deliver(4, query_reply(reg(5, 2, "five")));
    let fx = sent(s.deliver(5, query_reply(reg(2, 3, "two"))));
    assert_eq!(fx, vec![reply(1, Outcome::Ok { value: Some("five".into()) })]);
}

#[test]
fn a_replica_keeps_only_a_newer_version_and_acknowledges_every_store() {
    let mut s = server(QuorumParams::default());
    let store = |r: Register| QuorumMsg::Store { op: 9, attempt: 1, key: "x".into(), register: r };
    let fx = s.deliver(3, store(reg(4, 3, "four")));
    assert!(matches!(fx[0], Fx::Persist(_)), "persisted before the ack: {fx:?}");
    assert_eq!(sent(fx), vec![send(3, QuorumMsg::StoreAck { op: 9 })]);
    assert_eq!(sent(s.deliver(2, store(reg(4, 2, "lower writer")))), vec![send(2, QuorumMsg::StoreAck { op: 9 })]);
    assert_eq!(s.process.register("x"), reg(4, 3, "four"), "(4, 2) is below (4, 3)");
    let query = QuorumMsg::Query { op: 2, attempt: 1, key: "x".into(), put: None };
    let answer = QuorumMsg::QueryReply { op: 2, register: reg(4, 3, "four"), stored: false };
    assert_eq!(s.deliver(5, query), vec![send(5, answer)]);
}

#[test]
fn cas_and_append_are_rejected_saying_why() {
    let mut s = server(QuorumParams::default());
    let fx = s.deliver(CLIENT, request(1, Command::Cas { key: "x".into(), from: None, to: "1".into() }));
    let [Fx::Send(CLIENT, QuorumMsg::Reply(Reply { seq: 1, outcome: Outcome::Rejected { reason } }))] = &fx[..] else {
        panic!("{fx:?}")
    };
    assert!(reason.contains("cas") && reason.contains("read-modify-write"), "{reason}");
}

#[test]
fn a_retried_put_is_answered_from_the_session_table_and_one_a_replica_stored_is_written_back() {
    let mut s = server(QuorumParams::default());
    s.deliver(CLIENT, put(1, "a"));
    s.deliver(2, query_reply(reg(0, 0, "none")));
    s.deliver(3, query_reply(reg(0, 0, "none")));
    s.deliver(2, QuorumMsg::StoreAck { op: 1 });
    let done = s.deliver(3, QuorumMsg::StoreAck { op: 1 });
    assert!(done.iter().any(|f| matches!(f, Fx::Event(name, _) if name == "applied")), "{done:?}");
    assert_eq!(s.deliver(CLIENT, put(1, "a")), vec![reply(1, Outcome::Ok { value: None })], "nothing written again");

    // Client 6's put 2, first tried elsewhere, reached replica 4: retried here, it is written
    // back with the version replica 4 reported, not given a new one.
    s.deliver(CLIENT, put(2, "b"));
    let tried = Register { version: Version { n: 2, writer: 3 }, value: Some("b".into()), by: Some((CLIENT, 2)) };
    s.deliver(4, QuorumMsg::QueryReply { op: 2, register: tried.clone(), stored: true });
    let fx = sent(s.deliver(5, QuorumMsg::QueryReply { op: 2, register: reg(1, 1, "a"), stored: false }));
    assert_eq!(fx, sends(&PEERS, QuorumMsg::Store { op: 2, attempt: 1, key: "x".into(), register: tried }));
}

#[test]
fn a_phase_not_answered_in_time_is_resent_to_the_replicas_not_heard_from() {
    let mut s = server(QuorumParams::default());
    s.deliver(CLIENT, get(1));
    s.deliver(3, query_reply(reg(1, 3, "one")));
    let fx = sent(fire(&mut s, "phase:1"));
    assert_eq!(fx, sends(&[2, 4, 5], QuorumMsg::Query { op: 1, attempt: 2, key: "x".into(), put: None }));
}

#[test]
fn a_restarted_replica_keeps_its_registers_and_does_not_reuse_an_operation_id() {
    let mut s = server(QuorumParams::default());
    s.deliver(3, QuorumMsg::Store { op: 9, attempt: 1, key: "x".into(), register: reg(4, 3, "four") });
    s.deliver(CLIENT, get(1));
    s.restart(QuorumServer::new(1, &PEERS, &QuorumParams::default()));
    assert_eq!(s.process.register("x"), reg(4, 3, "four"));
    let fx = sent(
        s.deliver(7, QuorumMsg::Request(Request { client: 7, seq: 1, command: Command::Get { key: "x".into() } })),
    );
    assert_eq!(fx, sends(&PEERS, QuorumMsg::Query { op: 2, attempt: 1, key: "x".into(), put: None }));
}

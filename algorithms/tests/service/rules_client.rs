//! The shared client's rules (`service/client.rs`), one handler call at a time: a new operation
//! goes to the believed leader (a random server at first) with the next seq; `NotLeader` with a
//! leader redirects at once, without one retries after a tenth of the timeout; a timeout retries
//! the same seq at another server; `Ok` completes `ok`, `Rejected` completes `fail`; a restart
//! starts above the persisted seq reservation; by-hand commands go after the one in flight.

use crate::common::rules::*;
use algorithms::service::client::{KvClient, Mix, Workload, SEQ_BLOCK};
use algorithms::service::{ClientMsg, Command, Outcome, Reply, Request};
use algorithms::NodeId;
use serde_json::{json, Value};
use std::time::Duration;

const SERVERS: [NodeId; 3] = [1, 2, 3];

/// Client 4, gets of `k1` only, 100 ms timeout, closed loop.
fn workload() -> Workload {
    Workload {
        keys: 1,
        mix: Mix { get: 1.0, put: 0.0, cas: 0.0, append: 0.0 },
        timeout: Duration::from_millis(100),
        ..Workload::default()
    }
}

fn client(w: Workload) -> Node<KvClient> {
    Node::new(4, &SERVERS, KvClient::new(4, &SERVERS, w).unwrap())
}

fn get(seq: u64) -> ClientMsg {
    ClientMsg::Request(Request { client: 4, seq, command: Command::Get { key: "k1".into() } })
}

fn reply(seq: u64, outcome: Outcome) -> ClientMsg {
    ClientMsg::Reply(Reply { seq, outcome })
}

fn op(kind: &str, f: &str, key: &str, value: Value) -> Fx<ClientMsg> {
    event("op", json!({"type": kind, "f": f, "key": key, "value": value}))
}

/// The one server the effects send to.
fn target(effects: &[Fx<ClientMsg>]) -> NodeId {
    let sent = messages(effects);
    assert_eq!(sent.len(), 1, "{effects:?}");
    sent[0].0
}

/// A started client with its first operation (seq 1) in flight; returns the server it went to.
fn first_operation(c: &mut Node<KvClient>) -> NodeId {
    assert_eq!(c.start(), vec![set_timer("next", 100)], "the first operation waits start_after");
    let fx = fire(c, "next");
    let to = target(&fx);
    assert!(SERVERS.contains(&to));
    assert_eq!(
        fx,
        vec![
            persist(json!(SEQ_BLOCK)),
            op("invoke", "get", "k1", Value::Null),
            send(to, get(1)),
            set_timer("retry", 100),
        ]
    );
    to
}

#[test]
fn a_redirect_goes_to_the_named_leader_at_once_and_ok_completes_and_starts_the_next() {
    let mut c = client(workload());
    let first = first_operation(&mut c);
    let leader = if first == 2 { 3 } else { 2 };
    let fx = c.deliver(first, reply(1, Outcome::NotLeader { leader: Some(leader) }));
    assert_eq!(fx, vec![send(leader, get(1)), set_timer("retry", 100)], "the same seq, to the leader");
    let fx = c.deliver(leader, reply(1, Outcome::Ok { value: Some("c5-3".into()) }));
    assert_eq!(
        fx,
        vec![
            cancel_timer("retry"),
            op("ok", "get", "k1", json!("c5-3")),
            op("invoke", "get", "k1", Value::Null),
            send(leader, get(2)),
            set_timer("retry", 100),
        ],
        "closed loop: the next operation goes straight to the leader it learned"
    );
}

#[test]
fn a_timeout_retries_the_same_seq_at_another_server_and_a_late_reply_is_ignored() {
    let mut c = client(workload());
    let first = first_operation(&mut c);
    let fx = fire(&mut c, "retry");
    let second = target(&fx);
    assert_ne!(second, first, "another server");
    assert_eq!(fx, vec![send(second, get(1)), set_timer("retry", 100)]);
    c.deliver(second, reply(1, Outcome::Ok { value: None }));
    assert_eq!(
        c.deliver(first, reply(1, Outcome::Ok { value: None })),
        vec![],
        "seq 1 is done: a late reply changes nothing"
    );
}

#[test]
fn not_leader_without_a_leader_retries_after_a_tenth_of_the_timeout() {
    let mut c = client(workload());
    let first = first_operation(&mut c);
    assert_eq!(c.deliver(first, reply(1, Outcome::NotLeader { leader: None })), vec![set_timer("retry", 10)]);
    assert_eq!(
        c.deliver(first, reply(1, Outcome::NotLeader { leader: Some(first) })),
        vec![set_timer("retry", 10)],
        "a server naming itself while refusing is no lead to follow"
    );
}

#[test]
fn rejected_completes_fail_with_the_invocations_value() {
    let w = Workload { mix: Mix { get: 0.0, put: 0.0, cas: 1.0, append: 0.0 }, ops: Some(1), ..workload() };
    let mut c = client(w);
    c.start();
    let fx = fire(&mut c, "next");
    let to = target(&fx);
    let cas = json!([null, "c4-1"]);
    assert_eq!(fx[1], op("invoke", "cas", "k1", cas.clone()), "a cas from what the client knows (nothing: absent)");
    let fx = c.deliver(to, reply(1, Outcome::Rejected { reason: "cas: k1 is Some(\"x\")".into() }));
    assert_eq!(fx, vec![cancel_timer("retry"), op("fail", "cas", "k1", cas)], "ops = 1: no next operation");
}

#[test]
fn a_restarted_client_numbers_above_its_persisted_reservation() {
    let mut c = client(workload());
    first_operation(&mut c);
    c.restart(KvClient::new(4, &SERVERS, workload()).unwrap());
    let fx = fire(&mut c, "next");
    let to = target(&fx);
    assert_eq!(fx[0], persist(json!(2 * SEQ_BLOCK)), "a new block");
    assert_eq!(fx[2], send(to, get(SEQ_BLOCK + 1)), "above every seq the old incarnation may have used");
}

#[test]
fn by_hand_commands_run_after_the_one_in_flight_and_last_answers_the_outcome() {
    let mut c = client(Workload { ops: Some(0), ..workload() });
    assert_eq!(c.start(), vec![], "ops = 0: nothing of its own");
    assert_eq!(c.command(&["last"]).0, Err("no operation given by hand has completed".into()));
    let (answer, fx) = c.command(&["put", "x", "1"]);
    let to = target(&fx);
    assert_eq!(answer, Ok(format!("seq 1: put x sent to server {to}")));
    let put =
        ClientMsg::Request(Request { client: 4, seq: 1, command: Command::Put { key: "x".into(), value: "1".into() } });
    assert_eq!(
        fx,
        vec![persist(json!(SEQ_BLOCK)), op("invoke", "put", "x", json!("1")), send(to, put), set_timer("retry", 100)]
    );
    let (answer, fx) = c.command(&["get", "x"]);
    assert_eq!((answer, fx), (Ok("get x queued after 1 operation(s) in flight".into()), vec![]));
    assert_eq!(c.command(&["last"]).0, Ok("pending: 2 of the 2 operations given by hand".into()));
    let fx = c.deliver(to, reply(1, Outcome::Ok { value: None }));
    assert_eq!(fx[1], op("ok", "put", "x", json!("1")));
    assert_eq!(fx[2], op("invoke", "get", "x", Value::Null), "the queued get goes next");
    c.deliver(to, reply(2, Outcome::Ok { value: Some("1".into()) }));
    assert_eq!(c.command(&["last"]).0, Ok("seq 2: get x → ok \"1\"".into()));
    assert!(c.command(&["put", "x"]).0.unwrap_err().contains("put KEY VALUE"));
}

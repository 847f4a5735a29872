//! Maelstrom's workloads: the rules of the stand-in node and of the workload client, one handler
//! call at a time, and both in the simulator over seeds (the stand-in in place of a program).

use crate::common::rules::*;
use crate::common::*;
use algorithms::maelstrom::client::MaelstromClient;
use algorithms::maelstrom::standin::StandIn;
use algorithms::maelstrom::Body;
use algorithms::service::client::Workload;
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::json;
use std::time::Duration;

fn body(v: serde_json::Value) -> Body {
    Body(v)
}

#[test]
fn the_stand_in_echoes_generates_ids_above_what_it_reserved_and_refuses_the_rest() {
    let mut n = Node::new(2, &[1, 3, 4], StandIn::new(2));
    assert_eq!(n.start(), vec![set_timer("gossip", 200)], "the broadcast workload's gossip");
    let echo = n.deliver(4, body(json!({"type": "echo", "msg_id": 7, "echo": "hi"})));
    assert_eq!(echo, vec![send(4, body(json!({"type": "echo_ok", "echo": "hi", "in_reply_to": 7})))]);
    let first = n.deliver(4, body(json!({"type": "generate", "msg_id": 8})));
    assert_eq!(
        first,
        vec![persist(json!(1000)), send(4, body(json!({"type": "generate_ok", "id": "n2-1", "in_reply_to": 8})))],
        "a block of ids is reserved durably before the first is used"
    );
    let second = n.deliver(4, body(json!({"type": "generate", "msg_id": 9})));
    assert_eq!(second, vec![send(4, body(json!({"type": "generate_ok", "id": "n2-2", "in_reply_to": 9})))]);
    n.restart(StandIn::new(2));
    let after = n.deliver(4, body(json!({"type": "generate", "msg_id": 10})));
    assert_eq!(
        after,
        vec![persist(json!(2000)), send(4, body(json!({"type": "generate_ok", "id": "n2-1001", "in_reply_to": 10})))],
        "after a restart ids start above the reserved block: none repeats"
    );
    let odd = n.deliver(4, body(json!({"type": "txn", "msg_id": 11})));
    assert_eq!(
        odd,
        vec![send(
            4,
            body(json!({"type": "error", "code": 10, "text": "\"txn\" is not supported", "in_reply_to": 11}))
        )]
    );
    assert_eq!(n.deliver(1, body(json!({"type": "echo_ok", "in_reply_to": 3}))), vec![], "a reply is not answered");
}

fn op(kind: &str, f: &str, value: serde_json::Value) -> Fx<Body> {
    event("op", json!({"type": kind, "f": f, "key": "n1", "value": value}))
}

#[test]
fn the_client_invokes_completes_on_its_reply_and_times_out_to_info() {
    let workload = Workload {
        maelstrom: Some("echo".into()),
        clients: 1,
        timeout: Duration::from_millis(200),
        ..Workload::default()
    };
    let mut c = Node::new(4, &[1], MaelstromClient::new(4, &[1], workload).unwrap());
    assert_eq!(c.start(), vec![set_timer("next", 100)]);
    let sent = fire(&mut c, "next");
    assert_eq!(
        sent,
        vec![
            op("invoke", "echo", json!("c4-1")),
            send(1, body(json!({"type": "echo", "msg_id": 1, "echo": "c4-1"}))),
            set_timer("timeout", 200),
        ]
    );
    assert_eq!(c.deliver(1, body(json!({"type": "echo_ok", "echo": "c4-1", "in_reply_to": 0}))), vec![], "not ours");
    let done = c.deliver(1, body(json!({"type": "echo_ok", "echo": "c4-1", "in_reply_to": 1})));
    assert_eq!(done[..2], [cancel_timer("timeout"), op("ok", "echo", json!("c4-1"))], "closed loop: then the next");
    assert_eq!(done[3], send(1, body(json!({"type": "echo", "msg_id": 2, "echo": "c4-2"}))));
    let late = fire(&mut c, "timeout");
    assert_eq!(late[..2], [cancel_timer("timeout"), op("info", "echo", json!("c4-2"))], "unanswered: indeterminate");
    let refused = c.deliver(1, body(json!({"type": "error", "code": 11, "text": "busy", "in_reply_to": 3})));
    assert_eq!(refused[..2], [cancel_timer("timeout"), op("fail", "echo", json!({"code": 11, "text": "busy"}))]);
    let bad = Workload { maelstrom: Some("kafka".into()), ..Workload::default() };
    let err = MaelstromClient::new(4, &[1], bad).err().unwrap();
    assert!(err.starts_with("workload.maelstrom: unknown workload \"kafka\""), "{err}");
}

fn maelstrom(seed: u64, workload: &str) -> SimConfig {
    let cfg = experiment("maelstrom", 3, seed, 1.5, json!({}));
    let workload = Workload {
        maelstrom: Some(workload.into()),
        clients: 2,
        rate_per_s: Some(50.0),
        timeout: Duration::from_millis(100),
        ..Workload::default()
    };
    SimConfig { workload: Some(workload), ..cfg }
}

#[test]
fn the_stand_in_gossips_a_new_value_to_its_neighbours_until_they_acknowledge_it() {
    let mut n = Node::new(2, &[1, 3, 4], StandIn::new(2));
    assert_eq!(n.start(), vec![set_timer("gossip", 200)]);
    let topology = json!({"type": "topology", "msg_id": 1, "topology": {"n2": ["n1", "n3"]}});
    assert_eq!(n.deliver(5, body(topology)), vec![send(5, body(json!({"type": "topology_ok", "in_reply_to": 1})))]);
    let got = n.deliver(5, body(json!({"type": "broadcast", "msg_id": 2, "message": 7})));
    assert_eq!(
        got,
        vec![
            send(1, body(json!({"type": "gossip", "messages": [7]}))),
            send(3, body(json!({"type": "gossip", "messages": [7]}))),
            send(5, body(json!({"type": "broadcast_ok", "in_reply_to": 2}))),
        ],
        "to the neighbours of the topology only"
    );
    assert_eq!(n.deliver(1, body(json!({"type": "gossip_ok", "messages": [7]}))), vec![]);
    assert_eq!(
        fire(&mut n, "gossip"),
        vec![send(3, body(json!({"type": "gossip", "messages": [7]}))), set_timer("gossip", 200)],
        "only the neighbour that has not acknowledged it"
    );
    let from3 = n.deliver(3, body(json!({"type": "gossip", "messages": [7, 9]})));
    assert_eq!(
        from3,
        vec![
            send(1, body(json!({"type": "gossip", "messages": [9]}))),
            send(3, body(json!({"type": "gossip_ok", "messages": [7, 9]}))),
        ]
    );
    let read = n.deliver(5, body(json!({"type": "read", "msg_id": 3})));
    assert_eq!(read, vec![send(5, body(json!({"type": "read_ok", "messages": [7, 9], "in_reply_to": 3})))]);
}

#[test]
fn grid_topology_links_each_server_to_its_row_and_column_neighbours() {
    use algorithms::maelstrom::client::topology;
    let grid = topology(None, &[1, 2, 3, 4, 5]).unwrap();
    let as_vec: Vec<(u32, Vec<u32>)> = grid.into_iter().collect();
    assert_eq!(as_vec, vec![(1, vec![2, 4]), (2, vec![1, 3, 5]), (3, vec![2]), (4, vec![1, 5]), (5, vec![2, 4])]);
    let err = topology(Some("star"), &[1, 2]).err().unwrap();
    assert!(err.starts_with("workload.topology: unknown topology \"star\""), "{err}");
}

#[test]
fn echo_unique_ids_and_broadcast_hold_over_50_seeds_each_and_say_what_they_did_not_run() {
    for seed in 0..50 {
        for (workload, judged, other) in [
            ("echo", "echo_matches", "ids_unique"),
            ("unique-ids", "ids_unique", "echo_matches"),
            ("broadcast", "broadcast_all_read", "echo_matches"),
        ] {
            let (_, report) = run(&maelstrom(seed, workload));
            let p = property(&report, judged);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed} {workload}: {p:?}");
            assert!(p.judged > 5, "seed {seed} {workload}: {p:?}");
            assert_eq!(property(&report, other).verdict, Verdict::NotPromised, "seed {seed} {workload}");
        }
    }
}

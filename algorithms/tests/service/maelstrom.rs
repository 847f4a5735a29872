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
        vec![
            persist(json!({"ids": 1000, "count": 0})),
            send(4, body(json!({"type": "generate_ok", "id": "n2-1", "in_reply_to": 8})))
        ],
        "a block of ids is reserved durably before the first is used"
    );
    let second = n.deliver(4, body(json!({"type": "generate", "msg_id": 9})));
    assert_eq!(second, vec![send(4, body(json!({"type": "generate_ok", "id": "n2-2", "in_reply_to": 9})))]);
    n.restart(StandIn::new(2));
    let after = n.deliver(4, body(json!({"type": "generate", "msg_id": 10})));
    assert_eq!(
        after,
        vec![
            persist(json!({"ids": 2000, "count": 0})),
            send(4, body(json!({"type": "generate_ok", "id": "n2-1001", "in_reply_to": 10})))
        ],
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
    assert_eq!(read, vec![send(5, body(json!({"type": "read_ok", "messages": [7, 9], "value": 0, "in_reply_to": 3})))]);
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

#[test]
fn lin_kv_answers_reads_writes_and_cas_with_maelstrom_s_error_codes() {
    use algorithms::maelstrom::kv::Services;
    let mut kv = Services::default();
    let mut rng = algorithms::core::process::node_rng(1, 1, 1);
    let mut ask = |b: serde_json::Value| kv.handle("lin-kv", "n2", &b, &mut rng).unwrap();
    let missing = ask(json!({"type": "read", "key": 1, "msg_id": 1}));
    assert_eq!(missing, json!({"type": "error", "code": 20, "text": "key 1 does not exist", "in_reply_to": 1}));
    assert_eq!(ask(json!({"type": "cas", "key": 1, "from": 0, "to": 1, "msg_id": 2}))["code"], 20, "no key, no create");
    assert_eq!(
        ask(json!({"type": "write", "key": 1, "value": 5, "msg_id": 3})),
        json!({"type": "write_ok", "in_reply_to": 3})
    );
    assert_eq!(
        ask(json!({"type": "read", "key": 1, "msg_id": 4})),
        json!({"type": "read_ok", "value": 5, "in_reply_to": 4})
    );
    let failed = ask(json!({"type": "cas", "key": 1, "from": 4, "to": 6, "msg_id": 5}));
    assert_eq!(failed, json!({"type": "error", "code": 22, "text": "expected 4, but had 5", "in_reply_to": 5}));
    assert_eq!(ask(json!({"type": "cas", "key": 1, "from": 5, "to": 6, "msg_id": 6}))["type"], "cas_ok");
    assert_eq!(ask(json!({"type": "read", "key": 1, "msg_id": 7}))["value"], 6);
    let created =
        ask(json!({"type": "cas", "key": "k", "from": 0, "to": 9, "create_if_not_exists": true, "msg_id": 8}));
    assert_eq!(created["type"], "cas_ok", "create_if_not_exists makes the missing key");
    assert_eq!(ask(json!({"type": "write", "key": 1, "msg_id": 9}))["code"], 12, "a write without a value");
    assert_eq!(ask(json!({"type": "txn", "msg_id": 10}))["code"], 10);
    assert_eq!(kv.handle("lin-kv", "n2", &json!({"type": "read_ok", "in_reply_to": 3}), &mut rng), None, "a reply");
}

#[test]
fn seq_kv_may_read_stale_but_never_behind_what_the_client_has_seen() {
    use algorithms::maelstrom::kv::Services;
    let mut kv = Services::default();
    let mut rng = algorithms::core::process::node_rng(7, 1, 1);
    let write = |kv: &mut Services, rng: &mut _, v: u64| {
        kv.handle("seq-kv", "n1", &json!({"type": "write", "key": "x", "value": v}), rng).unwrap()
    };
    for v in 1..=3 {
        write(&mut kv, &mut rng, v);
    }
    let mut seen = Vec::new();
    for _ in 0..40 {
        let r = kv.handle("seq-kv", "n2", &json!({"type": "read", "key": "x"}), &mut rng).unwrap();
        seen.push(r["value"].as_u64().unwrap_or(0)); // 0: a read of the state before the first write
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "n2's reads never go back: {seen:?}");
    assert!(seen[0] < 3, "a fresh client can read an older state (seed 7): {seen:?}");
    for _ in 0..10 {
        let r = kv.handle("seq-kv", "n1", &json!({"type": "read", "key": "x"}), &mut rng).unwrap();
        assert_eq!(r["value"], 3, "the writer reads at least its own write");
    }
}

#[test]
fn lww_kv_replicas_agree_once_the_merges_have_gone_round() {
    use algorithms::maelstrom::kv::{Services, LWW_REPLICAS};
    let mut kv = Services::default();
    let mut rng = algorithms::core::process::node_rng(3, 1, 1);
    kv.handle("lww-kv", "n1", &json!({"type": "write", "key": "x", "value": 1}), &mut rng).unwrap();
    for _ in 0..2 * LWW_REPLICAS {
        kv.handle("lww-kv", "n1", &json!({"type": "write", "key": "y", "value": 0}), &mut rng).unwrap();
    }
    for _ in 0..10 {
        let r = kv.handle("lww-kv", "n2", &json!({"type": "read", "key": "x"}), &mut rng).unwrap();
        assert_eq!(r["value"], 1, "every replica has the write: {r}");
    }
}

/// The host persists the services' whole state as JSON: read back, the three stores answer as
/// the ones written would (the same rng drawn from both).
#[test]
fn the_services_state_survives_a_round_trip_through_its_json() {
    use algorithms::maelstrom::kv::Services;
    let mut kv = Services::default();
    let mut rng = algorithms::core::process::node_rng(5, 1, 1);
    for (service, value) in [("lin-kv", 1), ("seq-kv", 2), ("lww-kv", 3), ("seq-kv", 4)] {
        kv.handle(service, "n2", &json!({"type": "write", "key": "x", "value": value}), &mut rng).unwrap();
    }
    let bytes = serde_json::to_vec(&kv).unwrap();
    let mut back: Services = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, kv);
    let mut rng_back = rng.clone();
    for service in ["lin-kv", "seq-kv", "lww-kv"] {
        let read = json!({"type": "read", "key": "x"});
        let (a, b) = (kv.handle(service, "n2", &read, &mut rng), back.handle(service, "n2", &read, &mut rng_back));
        assert_eq!(a, b, "{service}");
    }
    assert!(serde_json::from_slice::<Services>(br#"{"lin": {"data": {}}, "extra": 1}"#).is_err(), "unknown fields");
}

#[test]
fn the_stand_in_counts_adds_in_a_g_counter_and_merges_the_others_counts() {
    let mut n = Node::new(2, &[1, 3], StandIn::new(2));
    n.start();
    let added = n.deliver(4, body(json!({"type": "add", "msg_id": 1, "delta": 3})));
    assert_eq!(
        added,
        vec![persist(json!({"ids": 0, "count": 3})), send(4, body(json!({"type": "add_ok", "in_reply_to": 1})))],
        "the node's own count is durable before the add is acknowledged"
    );
    let from1 = n.deliver(1, body(json!({"type": "counter", "counts": {"1": 5, "2": 1}})));
    assert_eq!(from1, vec![send(1, body(json!({"type": "counter_ok", "counts": {"1": 5, "2": 3}})))], "max per node");
    let read = n.deliver(4, body(json!({"type": "read", "msg_id": 2})));
    assert_eq!(read, vec![send(4, body(json!({"type": "read_ok", "messages": [], "value": 8, "in_reply_to": 2})))]);
    let gossip = fire(&mut n, "gossip");
    assert_eq!(
        gossip,
        vec![
            send(1, body(json!({"type": "counter", "counts": {"1": 5, "2": 3}}))),
            send(3, body(json!({"type": "counter", "counts": {"1": 5, "2": 3}}))),
            set_timer("gossip", 200),
        ],
        "to every other server whose last word differs"
    );
    n.deliver(1, body(json!({"type": "counter_ok", "counts": {"1": 5, "2": 3}})));
    n.deliver(3, body(json!({"type": "counter_ok", "counts": {"1": 5, "2": 3}})));
    assert_eq!(fire(&mut n, "gossip"), vec![set_timer("gossip", 200)], "everyone agrees: quiet");
}

#[test]
fn the_stand_in_forwards_lin_kv_requests_to_the_lowest_server_and_relays_the_answer() {
    let mut n2 = Node::new(2, &[1, 3], StandIn::new(2));
    n2.start();
    let forwarded = n2.deliver(4, body(json!({"type": "write", "msg_id": 9, "key": 0, "value": 2})));
    assert_eq!(forwarded, vec![send(1, body(json!({"type": "write", "msg_id": 1, "key": 0, "value": 2})))]);
    let relayed = n2.deliver(1, body(json!({"type": "write_ok", "in_reply_to": 1})));
    assert_eq!(relayed, vec![send(4, body(json!({"type": "write_ok", "in_reply_to": 9})))]);
    let mut n1 = Node::new(1, &[2, 3], StandIn::new(1));
    n1.start();
    let answered = n1.deliver(2, body(json!({"type": "read", "msg_id": 1, "key": 0})));
    assert_eq!(
        answered,
        vec![send(2, body(json!({"type": "error", "code": 20, "text": "key 0 does not exist", "in_reply_to": 1})))],
        "the lowest server holds the one copy"
    );
}

#[test]
fn g_counter_and_lin_kv_hold_over_10_seeds_each() {
    for seed in 0..10 {
        for (workload, judged) in [("g-counter", "counter_final_reads"), ("lin-kv", "linearizable")] {
            let cfg = maelstrom(seed, workload);
            let cfg = SimConfig { params: json!({"settle_ms": 300}), ..cfg };
            let (_, report) = run(&cfg);
            let p = property(&report, judged);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed} {workload}: {p:?}");
            assert!(p.judged > 5, "seed {seed} {workload}: {p:?}");
            assert_eq!(property(&report, "broadcast_all_read").verdict, Verdict::NotPromised, "seed {seed}");
        }
    }
}

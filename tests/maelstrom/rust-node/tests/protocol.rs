//! The node spoken to as Maelstrom speaks to it: JSON lines on stdin, replies on stdout.
//!
//! Besides checking the template, this test makes `cargo test --workspace` build the
//! `maelstrom-node` binary, which the end-to-end tests (`tests/byo_real.rs`) run under the
//! orchestrator.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Sends `requests` from client `c1` to a one-node cluster, closes stdin and returns every reply.
fn replies_to(requests: &[Value]) -> Vec<Value> {
    let mut node = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start maelstrom-node");
    let mut stdin = node.stdin.take().unwrap();
    let init =
        json!({"src": "c0", "dest": "n1", "body": {"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1"]}});
    writeln!(stdin, "{init}").unwrap();
    for (i, body) in requests.iter().enumerate() {
        let mut body = body.clone();
        body["msg_id"] = json!(i + 2);
        writeln!(stdin, "{}", json!({"src": "c1", "dest": "n1", "body": body})).unwrap();
    }
    writeln!(stdin, "this line is not JSON").unwrap();
    drop(stdin);
    let lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let replies = lines.map(|l| serde_json::from_str(&l.unwrap()).expect("every output line is JSON")).collect();
    assert!(node.wait().unwrap().success(), "the node exits 0 when stdin closes");
    replies
}

#[test]
fn it_answers_each_workload_in_order_and_rejects_what_it_does_not_know() {
    let replies = replies_to(&[
        json!({"type": "echo", "echo": "hello"}),
        json!({"type": "generate"}),
        json!({"type": "generate"}),
        json!({"type": "broadcast", "message": 7}),
        json!({"type": "broadcast", "message": 3}),
        json!({"type": "read"}),
        json!({"type": "frobnicate"}),
    ]);
    let bodies: Vec<&Value> = replies.iter().map(|r| &r["body"]).collect();
    assert_eq!(bodies.len(), 8, "{replies:#?}");
    assert_eq!(replies[0]["dest"], "c0");
    assert_eq!(bodies[0]["type"], "init_ok");
    assert_eq!(bodies[0]["in_reply_to"], 1);
    assert!(replies[1..].iter().all(|r| r["src"] == "n1" && r["dest"] == "c1"), "{replies:#?}");
    for (i, body) in bodies.iter().enumerate().skip(1) {
        assert_eq!(body["in_reply_to"], json!(i + 1), "reply {i} answers request {}", i + 1);
    }
    assert_eq!(bodies[1]["type"], "echo_ok");
    assert_eq!(bodies[1]["echo"], "hello");
    assert_eq!(bodies[2]["type"], "generate_ok");
    assert_ne!(bodies[2]["id"], bodies[3]["id"], "ids are unique");
    assert_eq!(bodies[4]["type"], "broadcast_ok");
    assert_eq!(bodies[6]["type"], "read_ok");
    assert_eq!(bodies[6]["messages"], json!([3, 7]));
    assert_eq!(bodies[7]["type"], "error");
    assert_eq!(bodies[7]["code"], 10, "Maelstrom's 'not supported'");
}

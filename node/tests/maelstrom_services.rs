//! The services `lin-kv`, `seq-kv` and `lww-kv` live on the lowest server's node: their state is
//! persisted in its data directory, so a SIGKILL and restart of that node keeps what they
//! acknowledged, and a state file that does not decode stops the node (exit 3) naming the file.

mod common;

use common::{wait_for, Cluster};
use nix::sys::signal::Signal;
use std::time::Duration;

/// A Maelstrom program that reads key `k` from `lin-kv` and `seq-kv` once it is initialised,
/// writes 42 where the key is missing, and says on stderr what it found and wrote.
const PROGRAM: &str = r#"
import json, sys
me = None
def send(dest, body):
    print(json.dumps({"src": me, "dest": dest, "body": body}), flush=True)
for line in sys.stdin:
    m = json.loads(line)
    b = m["body"]
    if b["type"] == "init":
        me = b["node_id"]
        send(m["src"], {"type": "init_ok", "in_reply_to": b["msg_id"]})
        send("lin-kv", {"type": "read", "key": "k", "msg_id": 1})
        send("seq-kv", {"type": "read", "key": "k", "msg_id": 2})
    elif b["type"] == "read_ok":
        print("found", m["src"], b["value"], file=sys.stderr, flush=True)
    elif b["type"] == "error":
        print("missing", m["src"], file=sys.stderr, flush=True)
        send(m["src"], {"type": "write", "key": "k", "value": 42, "msg_id": 3})
    elif b["type"] == "write_ok":
        print("wrote", m["src"], file=sys.stderr, flush=True)
"#;

fn python() -> bool {
    let found = std::process::Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: python3 is not installed (apt-get install python3)");
    }
    found
}

/// One node, the services' host, running [`PROGRAM`] (written into the cluster's directory).
fn host(name: &str) -> Cluster {
    let mut cluster = Cluster::configure(name, 1, "maelstrom", serde_json::json!({}));
    let script = cluster.dir.0.join("program.py");
    std::fs::write(&script, PROGRAM).unwrap();
    cluster.node(1).cfg.instances[0].params =
        serde_json::json!({"command": ["python3", script.to_str().unwrap()], "init_timeout_ms": 20000});
    cluster
}

#[test]
fn the_services_keep_their_values_across_a_kill_of_their_host() {
    if !python() {
        return;
    }
    let mut cluster = host("services-kill");
    cluster.spawn(1);
    let node = cluster.node(1);
    let wrote = |log: &str| log.contains("wrote lin-kv") && log.contains("wrote seq-kv");
    wait_for(Duration::from_secs(20), "the program's writes", || wrote(&node.stderr()).then_some(()));
    let log = node.stderr();
    assert!(log.contains("missing lin-kv") && log.contains("missing seq-kv"), "a fresh store has no k: {log}");
    let state = node.cfg.data_dir.join("maelstrom-services.state");
    assert!(state.is_file(), "the services' state is in the data directory");

    node.signal(Signal::SIGKILL);
    node.wait_exit(Duration::from_secs(5));
    cluster.spawn(1);
    let node = cluster.node(1);
    let found = |log: &str| log.contains("found lin-kv 42") && log.contains("found seq-kv 42");
    wait_for(Duration::from_secs(20), "the restarted program's reads", || found(&node.stderr()).then_some(()));
    let log = node.stderr();
    assert!(!log.contains("missing"), "the restarted host lost a value: {log}");
}

#[test]
fn a_services_state_that_does_not_decode_stops_the_host_naming_the_file() {
    if !python() {
        return;
    }
    let mut cluster = host("services-corrupt");
    let node = cluster.node(1);
    std::fs::create_dir_all(&node.cfg.data_dir).unwrap();
    let state = node.cfg.data_dir.join("maelstrom-services.state");
    std::fs::write(&state, b"{\"lin\": not json").unwrap();
    cluster.spawn(1);
    let node = cluster.node(1);
    let status = node.wait_exit(Duration::from_secs(10));
    let log = node.stderr();
    assert_eq!(status.code(), Some(3), "a runtime failure; {log}");
    assert!(log.contains(&state.display().to_string()) && log.contains("does not decode"), "{log}");
    assert_eq!(std::fs::read(&state).unwrap(), b"{\"lin\": not json", "the file is left for a person to look at");
}

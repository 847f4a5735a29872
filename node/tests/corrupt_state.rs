//! Persisted state that does not decode stops the node (exit 3) with a message naming the file:
//! a Raft voter must not start again as if it had never voted.

mod common;

use common::Cluster;
use std::time::Duration;

#[test]
fn a_corrupt_state_file_stops_the_node_naming_the_file() {
    let mut cluster = Cluster::configure("corrupt-state", 3, "raft-election", serde_json::json!({}));
    let node = cluster.node(1);
    let state = node.cfg.data_dir.join("raft-election.state");
    std::fs::create_dir_all(&node.cfg.data_dir).unwrap();
    std::fs::write(&state, b"\x92\xa3not a vote").unwrap();

    cluster.spawn(1);
    let node = cluster.node(1);
    let status = node.wait_exit(Duration::from_secs(10));
    let log = node.stderr();
    assert_eq!(status.code(), Some(3), "a runtime failure; {log}");
    assert!(log.contains(&state.display().to_string()), "the message names the file; {log}");
    assert!(log.contains("does not decode"), "and says what is wrong with it; {log}");
    assert_eq!(std::fs::read(&state).unwrap(), b"\x92\xa3not a vote", "the file is left for a person to look at");
}

//! Raft's persisted term, vote and log: a torn write (the last bytes of the state file missing)
//! stops the node with exit 3 and a message naming the file, rather than a server that starts
//! with no log and votes for anyone.

mod common;

use algorithms::consensus::raft::{Durable, Entry, Log, Op};
use common::Cluster;
use std::time::Duration;

#[test]
fn a_torn_raft_state_file_stops_the_node_naming_the_file() {
    let mut cluster = Cluster::configure("corrupt-raft-log", 3, "raft", serde_json::json!({}));
    let node = cluster.node(1);
    let state = node.cfg.data_dir.join("raft.state");
    let log = Log::from_entries(vec![Entry { term: 1, op: Op::Noop }, Entry { term: 2, op: Op::Noop }]);
    let whole = rmp_serde::to_vec_named(&Durable { current_term: 2, voted_for: Some(3), log, snapshot: None }).unwrap();
    let torn = &whole[..whole.len() - 3];
    std::fs::create_dir_all(&node.cfg.data_dir).unwrap();
    std::fs::write(&state, torn).unwrap();

    cluster.spawn(1);
    let node = cluster.node(1);
    let status = node.wait_exit(Duration::from_secs(10));
    let stderr = node.stderr();
    assert_eq!(status.code(), Some(3), "a runtime failure; {stderr}");
    assert!(stderr.contains(&state.display().to_string()), "the message names the file; {stderr}");
    assert!(stderr.contains("consensus::raft::Durable"), "and what did not decode; {stderr}");
    assert_eq!(std::fs::read(&state).unwrap(), torn, "the file is left for a person to look at");
}

/// Raft's append log with a record corrupt in the middle (a flipped bit, records after it): the
/// node stops with exit 3 and a message naming the file and the record, and leaves the file be.
#[test]
fn a_raft_append_log_corrupt_in_the_middle_stops_the_node_naming_the_file() {
    use algorithms::consensus::raft::Record;
    use node::durable::{frame, MAGIC};
    let mut cluster = Cluster::configure("corrupt-raft-wal", 3, "raft", serde_json::json!({}));
    let node = cluster.node(1);
    let wal = node.cfg.data_dir.join("raft.wal");
    let mut bytes = MAGIC.to_vec();
    bytes.extend(frame(&[0])); // the header: no whole state before these records
    for record in [
        Record::HardState { term: 2, voted_for: Some(3) },
        Record::Entries { after: 0, entries: vec![Entry { term: 1, op: Op::Noop }] },
    ] {
        bytes.extend(frame(&rmp_serde::to_vec_named(&record).unwrap()));
    }
    let flipped = MAGIC.len() + frame(&[0]).len() + 8;
    bytes[flipped] ^= 0x01;
    std::fs::create_dir_all(&node.cfg.data_dir).unwrap();
    std::fs::write(&wal, &bytes).unwrap();

    cluster.spawn(1);
    let node = cluster.node(1);
    let status = node.wait_exit(Duration::from_secs(10));
    let stderr = node.stderr();
    assert_eq!(status.code(), Some(3), "a runtime failure; {stderr}");
    assert!(stderr.contains(&wal.display().to_string()), "the message names the file; {stderr}");
    assert!(stderr.contains("is corrupt: record 1"), "and the record; {stderr}");
    assert_eq!(std::fs::read(&wal).unwrap(), bytes, "the file is left for a person to look at");
}

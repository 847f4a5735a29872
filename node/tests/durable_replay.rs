//! Raft's durable state through the node's own files (`node::durable`), as a node writes it and
//! reads it back at a restart: a Raft server's handlers are driven directly, their `Persist` and
//! `PersistAppend` carried out on the files in order (what `instance.rs` does), then a new server
//! is started from what the files hold, and its `log` command tells what it recovered.

mod common;

use algorithms::consensus::raft::{Entry, Op, RaftMsg, RaftParams, RaftServer};
use algorithms::process::{node_rng, Hosted, World};
use algorithms::service::{Command, Request};
use algorithms::{DynProcess, Effect, NodeId};
use common::TempDir;
use node::durable::StateFiles;
use std::path::Path;

const PEERS: [NodeId; 2] = [2, 3];

/// A snapshot once 2 entries are applied past the last one.
fn snapshots() -> RaftParams {
    RaftParams { snapshot_threshold: 2, ..Default::default() }
}

fn put(term: u64, seq: u64) -> Entry {
    let command = Command::Put { key: "x".into(), value: seq.to_string() };
    Entry { term, op: Op::Client(Request { client: 4, seq, command }) }
}

fn noop(term: u64) -> Entry {
    Entry { term, op: Op::Noop }
}

fn append(term: u64, prev: (u64, u64), entries: Vec<Entry>, leader_commit: u64) -> RaftMsg {
    RaftMsg::AppendEntries { term, prev_log_index: prev.0, prev_log_term: prev.1, entries, leader_commit, round: 0 }
}

/// Node 1 with its files: every persist effect goes to them, in order.
struct Host {
    process: Box<dyn DynProcess>,
    files: StateFiles,
    /// The kinds of persist effects carried out, in order: `whole` or `append`.
    persisted: Vec<&'static str>,
}

impl Host {
    fn world<'a>(rng: &'a mut rand_chacha::ChaCha8Rng) -> World<'a> {
        World { me: 1, peers: &PEERS, now: 0, rng }
    }

    /// A server started from what `dir` holds; also what loading mended.
    fn start(dir: &Path, params: RaftParams) -> Result<(Host, Vec<String>), String> {
        let mut files = StateFiles::new(dir, "raft");
        let loaded = files.load()?;
        let mut process = Hosted::boxed(RaftServer::new(1, params));
        if let Some(whole) = &loaded.whole {
            process.recover(whole).map_err(|e| e.to_string())?;
        }
        for record in &loaded.records {
            process.replay(record).map_err(|e| e.to_string())?;
        }
        let mut host = Host { process, files, persisted: Vec::new() };
        let mut rng = node_rng(1, 1, 1);
        let effects = host.process.on_start(Host::world(&mut rng));
        host.carry_out(effects);
        Ok((host, loaded.notes))
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Persist(bytes) => {
                    self.files.rewrite(&bytes).unwrap();
                    self.persisted.push("whole");
                }
                Effect::PersistAppend(record) => {
                    self.files.append(&record).unwrap();
                    self.persisted.push("append");
                }
                _ => {}
            }
        }
    }

    fn deliver(&mut self, from: NodeId, msg: RaftMsg) {
        let mut rng = node_rng(1, 1, 1);
        let body = rmp_serde::to_vec_named(&msg).unwrap();
        let effects = self.process.on_body(Host::world(&mut rng), from, &body).unwrap();
        self.carry_out(effects);
    }

    fn log(&mut self) -> String {
        let mut rng = node_rng(1, 1, 1);
        self.process.on_command(Host::world(&mut rng), &["log".to_string()]).0.unwrap()
    }
}

/// A follower's log of term 1, then a leader of term 2 whose entry conflicts at index 2.
fn with_a_conflict(dir: &Path) -> Host {
    let (mut host, _) = Host::start(dir, RaftParams::default()).unwrap();
    host.deliver(2, append(1, (0, 0), vec![noop(1), put(1, 1), put(1, 2)], 0));
    host.deliver(3, append(2, (1, 1), vec![noop(2)], 0));
    host
}

#[test]
fn a_restart_replays_the_records_and_a_conflicting_suffix_stays_truncated() {
    let dir = TempDir::new("replay-conflict");
    let host = with_a_conflict(&dir.0);
    assert_eq!(host.persisted, ["append"; 4], "term 1, entries 1–3, term 2, entry 2 over 2–3: records only");
    assert!(!dir.0.join("raft.state").exists(), "nothing rewritten whole");
    let (mut again, notes) = Host::start(&dir.0, RaftParams::default()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(again.log(), "term 2, log ends at index 2 (term 2), commit index 0, applied 0, snapshot at index 0");
}

#[test]
fn a_torn_last_record_is_truncated_and_the_server_starts_from_the_records_before_it() {
    let dir = TempDir::new("replay-torn");
    with_a_conflict(&dir.0);
    let wal = dir.0.join("raft.wal");
    let bytes = std::fs::read(&wal).unwrap();
    std::fs::write(&wal, &bytes[..bytes.len() - 3]).unwrap(); // the last write, cut short
    let (mut again, notes) = Host::start(&dir.0, RaftParams::default()).unwrap();
    assert!(notes.len() == 1 && notes[0].contains("truncated a torn last record"), "{notes:?}");
    assert_eq!(
        again.log(),
        "term 2, log ends at index 3 (term 1), commit index 0, applied 0, snapshot at index 0",
        "term 2 is durable, its entry was not"
    );
}

#[test]
fn a_record_corrupt_in_the_middle_stops_the_start_naming_the_file() {
    let dir = TempDir::new("replay-corrupt");
    with_a_conflict(&dir.0);
    let wal = dir.0.join("raft.wal");
    let mut bytes = std::fs::read(&wal).unwrap();
    let second = node::durable::MAGIC.len() + node::durable::frame(&[0]).len();
    bytes[second + 10] ^= 0xff; // inside the first record after the header: term 1
    std::fs::write(&wal, &bytes).unwrap();
    let err = Host::start(&dir.0, RaftParams::default()).err().expect("a corrupt record is no state");
    assert!(err.contains(&wal.display().to_string()) && err.contains("is corrupt: record 1"), "{err}");
}

#[test]
fn a_snapshot_rewrites_the_state_whole_and_the_records_start_again_after_it() {
    let dir = TempDir::new("replay-snapshot");
    let (mut host, _) = Host::start(&dir.0, snapshots()).unwrap();
    host.deliver(2, append(1, (0, 0), vec![noop(1), put(1, 1), put(1, 2)], 3));
    assert_eq!(host.persisted, ["append", "append", "whole"], "term, entries, then the snapshot");
    assert!(!dir.0.join("raft.wal").exists(), "the records the snapshot covers are gone");
    host.deliver(2, append(1, (3, 1), vec![put(1, 3)], 3));
    let (mut again, notes) = Host::start(&dir.0, snapshots()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(again.log(), "term 1, log ends at index 4 (term 1), commit index 3, applied 3, snapshot at index 3");
    let loaded = StateFiles::new(&dir.0, "raft").load().unwrap();
    assert_eq!(loaded.records.len(), 1, "one record after the snapshot: index 4");
}

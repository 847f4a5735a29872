//! Raft in full: its rules one handler call at a time (`rules_raft`), its checker fed hand-made
//! traces (`checkers`), and the simulator over hundreds of seeds with faults (`raft`).

#[path = "../common/mod.rs"]
mod common;

mod raft;
mod rules_raft;

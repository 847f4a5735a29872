//! The consensus algorithms: Paxos in the simulator over hundreds of seeds with crashes, loss and
//! duplication (`paxos`), and the rules its file states, one handler call at a time
//! (`rules_paxos`).

#[path = "../common/mod.rs"]
mod common;

mod paxos;
mod rules_paxos;

//! clusterlab's algorithms: sans-IO state machines, the deterministic simulator that drives them
//! in virtual time, and the checkers that judge a run from its traces.
//!
//! Nothing in this crate performs IO, reads a clock or draws OS randomness: the real `node`
//! binary and [`sim::simulate`] are the two hosts that give the same processes a world.

pub mod bench;
pub mod bully;
pub mod central;
pub mod chang_roberts;
pub mod check;
pub mod election_check;
pub mod lamport;
pub mod lease;
pub mod lelann;
pub mod maekawa;
pub mod mutex;
pub mod mutex_check;
pub mod process;
pub mod raft_election;
pub mod randomized;
pub mod registry;
pub mod ricart_agrawala;
pub mod ring;
pub mod schedule;
pub mod sim;
pub mod suzuki_kasami;
pub mod token_ring;
pub mod trace;
pub mod workload;

pub use check::{CheckReport, Run, Verdict};
pub use process::{Ctx, DynProcess, Effect, Message, Nanos, NodeId, Process, Status, MS};
pub use registry::{catalogue, find, Algorithm};

//! clusterlab's algorithms: sans-IO state machines, the deterministic simulator that drives them
//! in virtual time, and the checkers that judge a run from its traces.
//!
//! Nothing in this crate performs IO, reads a clock or draws OS randomness: the real `node`
//! binary and [`sim::simulate`] are the two hosts that give the same processes a world.
//!
//! Where things are, bottom to top (a module imports only from the ones above it in this list;
//! a test holds [`check`] to it):
//!
//! - [`core`]: the process interface ([`Process`], [`Ctx`], [`Effect`], typed timers), the trace
//!   format, and typed algorithm events ([`core::event::Event`]);
//! - [`faults`]: fault actions, targets, partition shapes, link faults, delays, the nemesis;
//! - [`check`]: a run's traces ([`Execution`]), verdicts, shared queries, the families' event
//!   vocabulary ([`check::events`]: what algorithms write and checkers read), and the election and
//!   mutual exclusion checks every algorithm of those families uses;
//! - [`service`]: what replicated services and their clients share (requests, replies, commands,
//!   the key-value store, the client and its workload);
//! - [`algorithm`]: what an algorithm declares once ([`algorithm::Spec`]: name, params, properties,
//!   build, check, the client of a service), and the object-safe [`Algorithm`] every `Spec` is;
//! - [`detection`]: failure detectors (the fixed timeout and φ-accrual) as a library the elections
//!   use and as algorithms of their own;
//! - the families: [`election`], [`mutex`], [`replication`] (the unreplicated key-value server),
//!   [`consensus`] (single-decree Paxos, and Raft with its key-value store), [`broadcast`] (the
//!   sequencer's total-order multicast), [`stabilizing`], and [`load`] (the transport
//!   benchmark's load);
//! - [`template`]: the bring-your-own example to copy (gossip by flooding, with its checker);
//! - [`sim`]: the deterministic simulator;
//! - [`catalogue`](mod@catalogue): every algorithm by name.

pub mod algorithm;
pub mod broadcast;
pub mod catalogue;
pub mod check;
pub mod consensus;
pub mod coordination;
pub mod core;
pub mod detection;
pub mod election;
pub mod faults;
pub mod load;
pub mod maelstrom;
pub mod mutex;
pub mod replication;
pub mod service;
pub mod sim;
pub mod stabilizing;
pub mod template;

pub use crate::core::{process, trace};
pub use algorithm::Algorithm;
pub use catalogue::{catalogue, find};
pub use check::{CheckReport, Execution, Verdict};
pub use process::{Ctx, DynProcess, Effect, Hosted, Message, Nanos, NodeId, Process, Status, MS};

//! Bring your own algorithm: a complete small example to copy.
//!
//! [`gossip`] is everything an algorithm of clusterlab is, in two short files: the rules as a
//! [`crate::Process`] (`gossip.rs`: messages, timers, events, handlers, the [`crate::algorithm::Spec`]
//! declaration) and its checker (`check.rs`: the properties, judged from traces only). With one
//! line in [`crate::catalogue()`] it gets, without any other code:
//!
//! - the deterministic simulator: `orchestrator sim configs/gossip.toml --seeds 50`;
//! - real processes over TCP with every fault: `orchestrator run configs/gossip.toml`;
//! - the checker on both, the run report, message counts, the ShiViz export, `orchestrator list`.
//!
//! To write your own: copy this folder to `algorithms/src/<yours>/`, rename `Gossip`, change the
//! rules and the properties, add `pub mod <yours>;` to `lib.rs` and one line to the catalogue, and
//! an experiment file to `configs/`. The README's "Bring your own node" walks through it.

pub mod check;
pub mod gossip;

pub use gossip::{Gossip, GossipDurable, GossipEvent, GossipMsg, GossipNode, GossipParams, GossipTimer};

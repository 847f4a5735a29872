//! Consensus and replicated state machines: Raft with a key-value store ([`raft`]).

pub mod raft;

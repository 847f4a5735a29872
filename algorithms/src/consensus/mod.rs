//! Agreement among the nodes: single-decree Paxos ([`paxos`], family Consensus: one value, no
//! clients) and Raft with a key-value store ([`raft`], family Replication: a log that clients use).

pub mod paxos;
pub mod raft;

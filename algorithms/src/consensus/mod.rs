//! Agreement among the nodes: single-decree Paxos ([`paxos`], family Consensus: one value, no
//! clients), Raft with a key-value store ([`raft`], family Replication: a log that clients use), and
//! Multi-Paxos with the same store ([`multipaxos`], family Replication: a log of Paxos slots).

pub mod multipaxos;
pub mod paxos;
pub mod raft;

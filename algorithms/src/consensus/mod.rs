//! Agreement among the nodes: single-decree Paxos ([`paxos`], family Consensus: one value, no
//! clients), Raft with a key-value store ([`raft`], family Replication: a log that clients use),
//! Multi-Paxos with the same store ([`multipaxos`], family Replication: a log of Paxos slots), and
//! ZAB with the same store ([`zab`], family Replication: a primary's history in zxid order).

pub mod multipaxos;
pub mod paxos;
pub mod raft;
pub mod zab;

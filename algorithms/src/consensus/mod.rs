//! Consensus: single-value or log agreement among the nodes, without clients.

pub mod paxos;

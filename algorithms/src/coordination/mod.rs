//! A ZooKeeper-like coordination service (issue 14), to be served on top of ZAB
//! ([`crate::consensus::zab`]): so far the znode tree every replica applies committed operations
//! to ([`tree`]). The service itself (sessions kept alive by pings and expired through ZAB, local
//! reads, `sync`, its client and checker) and the recipes are not built yet.

pub mod tree;

//! A ZooKeeper-like coordination service (issue 14) on top of ZAB ([`crate::consensus::zab`]):
//! the znode tree every replica applies committed operations to ([`tree`]), the service with its
//! sessions, local reads, `sync` and watches ([`service`]), its client ([`client`]) and its
//! checker ([`check`]); the recipes built on it ([`recipes`]).

pub mod check;
pub mod client;
pub mod recipes;
pub mod service;
pub mod tree;

//! The replication family and the shared client: each service in the simulator over hundreds of
//! seeds with its clients (`single`), and the rules the client and each service file state, one
//! handler call at a time (`rules_*`).

#[path = "../common/mod.rs"]
mod common;

mod maelstrom;
mod quorum;
mod rules_client;
mod rules_quorum;
mod rules_single;
mod single;

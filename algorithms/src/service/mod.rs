//! Replicated services and their clients: what every service of the catalogue that clients use
//! (Raft's key-value store, Multi-Paxos, quorum registers, the coordination service) shares.
//!
//! Clients are processes too (client nodes, ids after the servers), so faults reach them. A
//! client sends a [`Request`] to a server it believes can serve it and gets a [`Reply`]; the
//! request carries `(client, seq)` so that a service applies each command at most once and
//! answers a retried duplicate from its session table (Raft §8). Whatever the service, the
//! client records each operation's invocation and completion as `op` events, from which the run's
//! `history.jsonl` is derived and judged for linearizability ([`crate::check::history`]).
//!
//! # The wire convention
//!
//! A service's message enum has two variants spelled exactly `Request(service::Request)` and
//! `Reply(service::Reply)` beside its own peer messages. MessagePack encodes an enum as
//! `{variant: value}`, so a client's [`ClientMsg`] and the service's enum read each other's
//! requests and replies, and a client that receives a peer message counts it as a bad body.

pub mod client;
pub mod kv;

use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};

/// One operation on the key-value state machine, as a client asks for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Get {
        key: String,
    },
    Put {
        key: String,
        value: String,
    },
    Append {
        key: String,
        value: String,
    },
    /// Sets `key` to `to` if its value is `from` (`None`: absent); fails otherwise.
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    Delete {
        key: String,
    },
}

impl Command {
    pub fn key(&self) -> &str {
        match self {
            Command::Get { key }
            | Command::Put { key, .. }
            | Command::Append { key, .. }
            | Command::Cas { key, .. }
            | Command::Delete { key } => key,
        }
    }

    /// The operation's name in a history (`f`), as the `kv` model reads it.
    pub fn f(&self) -> &'static str {
        match self {
            Command::Get { .. } => "get",
            Command::Put { .. } => "put",
            Command::Append { .. } => "append",
            Command::Cas { .. } => "cas",
            Command::Delete { .. } => "delete",
        }
    }

    /// Whether the command changes nothing (a service may answer it without a log entry, e.g.
    /// by ReadIndex).
    pub fn read_only(&self) -> bool {
        matches!(self, Command::Get { .. })
    }
}

/// A client's command, numbered: `seq` grows by one per new operation of `client`, and a retry
/// of the same operation keeps its `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub client: NodeId,
    pub seq: u64,
    pub command: Command,
}

/// A server's answer to the request numbered `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub seq: u64,
    pub outcome: Outcome,
}

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Applied; `value` is a get's result (`None`: absent), `None` for the others.
    Ok { value: Option<String> },
    /// Applied, and it certainly changed nothing: a cas whose `from` did not match, a delete of
    /// an absent key. In a history this is `fail`.
    Rejected { reason: String },
    /// Not applied here: this server cannot serve requests; `leader` is the one it knows of.
    NotLeader { leader: Option<NodeId> },
}

/// The messages a client exchanges with any service (see the module doc for the convention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    Request(Request),
    Reply(Reply),
}

impl crate::core::process::Message for ClientMsg {
    fn kind(&self) -> &'static str {
        match self {
            ClientMsg::Request(_) => "request",
            ClientMsg::Reply(_) => "reply",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    /// A service's enum as the convention asks for it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum SomeService {
        Ping { n: u64 },
        Request(Request),
        Reply(Reply),
    }

    #[test]
    fn a_service_and_a_client_read_each_others_requests_and_replies() {
        let request = Request { client: 7, seq: 3, command: Command::Put { key: "x".into(), value: "1".into() } };
        let wire = rmp_serde::to_vec_named(&ClientMsg::Request(request.clone())).unwrap();
        assert_eq!(rmp_serde::from_slice::<SomeService>(&wire).unwrap(), SomeService::Request(request));

        let reply = Reply { seq: 3, outcome: Outcome::NotLeader { leader: Some(2) } };
        let wire = rmp_serde::to_vec_named(&SomeService::Reply(reply.clone())).unwrap();
        assert_eq!(rmp_serde::from_slice::<ClientMsg>(&wire).unwrap(), ClientMsg::Reply(reply));

        let peer = rmp_serde::to_vec_named(&SomeService::Ping { n: 1 }).unwrap();
        assert!(rmp_serde::from_slice::<ClientMsg>(&peer).is_err(), "a peer message is not a client's");
    }
}

//! The events every mutual exclusion algorithm records, which the shared checks in
//! [`crate::check::mutex`] read (re-exported as `crate::mutex::event`). On a trace line:
//!
//! ```text
//! request  {"resource": "printer"}   the client wants it; the rules add their stamp ("ts", ...)
//! enter_cs {"resource": "printer"}   the client entered
//! exit_cs  {"resource": "printer"}   the client left
//! token    {"resource": "printer", "op": "send", "to": 3, ...}   token algorithms: custody
//! ```

use crate::core::event::Event;
use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum MutexEvent {
    /// The client wants the resource (written by the rules, through the mutex host's `Cs::requested`).
    Request(Request),
    /// The client entered the resource's critical section.
    EnterCs { resource: String },
    /// The client left it (written by the host before the rules let anyone else in).
    ExitCs { resource: String },
    /// A token algorithm's token changed hands, from which
    /// [`crate::check::mutex::token_conservation`] rebuilds who held it when.
    Token(TokenEvent),
}

impl Event for MutexEvent {}

/// A request and the stamp the rules put on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub resource: String,
    /// Lamport, Ricart–Agrawala, Maekawa: the request's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
    /// Maekawa: the size of the requester's quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u64>,
    /// Suzuki–Kasami: whether the requester already held the token ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_token: Option<bool>,
    /// ... and, when it did not, the request's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

impl Request {
    /// A request with no stamp.
    pub fn of(resource: &str) -> Request {
        Request { resource: resource.to_string(), ..Request::default() }
    }
}

/// What happened to a token: `create`, `receive` and `reclaim` start a node's custody, `send` ends
/// it, and `discard` marks a stale copy thrown away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOp {
    Create,
    Send,
    Receive,
    Reclaim,
    Discard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenEvent {
    pub resource: String,
    pub op: TokenOp,
    /// `send`: to whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NodeId>,
    /// `receive`, `reclaim`: from whom (token ring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NodeId>,
    /// `create`: `initial` or `regenerated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Token ring: the token's generation and hop count ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<u64>,
    /// ... and, for a discarded copy, the newest `(gen, hop)` the node had seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<(u64, u64)>,
    /// Suzuki–Kasami: the waiting queue the token carries away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<Vec<NodeId>>,
}

impl TokenEvent {
    /// `op` on `resource`'s token, with no details.
    pub fn new(resource: &str, op: TokenOp) -> TokenEvent {
        TokenEvent {
            resource: resource.to_string(),
            op,
            to: None,
            from: None,
            reason: None,
            gen: None,
            hop: None,
            seen: None,
            queue: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_the_trace_lines_they_always_were() {
        let send = TokenEvent { to: Some(3), gen: Some(1), hop: Some(4), ..TokenEvent::new("printer", TokenOp::Send) };
        let discard = TokenEvent {
            gen: Some(1),
            hop: Some(2),
            seen: Some((1, 3)),
            ..TokenEvent::new("printer", TokenOp::Discard)
        };
        let cases = [
            (MutexEvent::Request(Request::of("printer")), "request", json!({ "resource": "printer" })),
            (
                MutexEvent::Request(Request { ts: Some(7), quorum: Some(3), ..Request::of("printer") }),
                "request",
                json!({ "resource": "printer", "ts": 7, "quorum": 3 }),
            ),
            (MutexEvent::EnterCs { resource: "printer".into() }, "enter_cs", json!({ "resource": "printer" })),
            (MutexEvent::ExitCs { resource: "printer".into() }, "exit_cs", json!({ "resource": "printer" })),
            (
                MutexEvent::Token(send),
                "token",
                json!({ "resource": "printer", "op": "send", "to": 3, "gen": 1, "hop": 4 }),
            ),
            (
                MutexEvent::Token(discard),
                "token",
                json!({ "resource": "printer", "op": "discard", "gen": 1, "hop": 2, "seen": [1, 3] }),
            ),
        ];
        for (event, name, data) in cases {
            assert_eq!(event.to_parts(), (name.to_string(), data.clone()));
            assert_eq!(MutexEvent::from_parts(name, &data), Some(event));
        }
    }
}

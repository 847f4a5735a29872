//! The events a total-order broadcast records, which its checker and the run report's delivery
//! view read (re-exported as `crate::broadcast::BroadcastEvent`). On a trace line:
//!
//! ```text
//! multicast   {"id": {"origin": 2, "n": 1}, "payload": "m2.1"}      the origin hands a message in
//! sequenced   {"seq": 4, "id": {..}, "epoch": {"round": 1, "node": 5}}   the sequencer numbers it
//! delivered   {"seq": 4, "id": {..}, "payload": "m2.1"}             a member delivers it
//! sequencer   {"epoch": {..}, "next": 5, "collected": [3, 4, 5], "reissued": 2}   a new sequencer
//!                                                                   took over the sequence
//! ```

use crate::core::event::Event;
use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};

/// A message's identity: its origin and the origin's own count, from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId {
    pub origin: NodeId,
    pub n: u64,
}

impl std::fmt::Display for MsgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.origin, self.n)
    }
}

/// A sequencer's term of office: ordered by round, then by node, so two sequencers never share one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch {
    pub round: u64,
    pub node: NodeId,
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.round, self.node)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum BroadcastEvent {
    /// The origin multicasts `payload` as message `id`.
    Multicast { id: MsgId, payload: String },
    /// The sequencer of `epoch` gave message `id` the number `seq`.
    Sequenced { seq: u64, id: MsgId, epoch: Epoch },
    /// A member delivered message `id` at position `seq` of the total order.
    Delivered { seq: u64, id: MsgId, payload: String },
    /// This node became the sequencer of `epoch`: it collected the state of `collected` (itself
    /// included), kept or re-issued `reissued` numbers above its own delivered prefix, and numbers
    /// new messages from `next`.
    Sequencer { epoch: Epoch, next: u64, collected: Vec<NodeId>, reissued: u64 },
}

impl Event for BroadcastEvent {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_the_trace_lines_the_module_doc_shows() {
        let id = MsgId { origin: 2, n: 1 };
        let e = BroadcastEvent::Delivered { seq: 4, id, payload: "m2.1".into() };
        let data = json!({ "seq": 4, "id": { "origin": 2, "n": 1 }, "payload": "m2.1" });
        assert_eq!(e.to_parts(), ("delivered".to_string(), data.clone()));
        assert_eq!(BroadcastEvent::from_parts("delivered", &data), Some(e));
        assert_eq!(BroadcastEvent::from_parts("leader", &json!({ "leader": 3 })), None);
    }
}

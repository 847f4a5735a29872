//! The trace format shared by real nodes and the simulator: one JSON object a line.
//!
//! Every record carries the node's monotonic time (`t`, nanoseconds), its Lamport clock (`lc`)
//! and its vector clock (`vc`). Each record is one event: the node's own entries in `lc` and `vc`
//! rise by exactly one per record, and a receive first takes the element-wise maximum with the
//! sender's clocks, as in the textbook (and as ShiViz checks). The `lc` of a `send` record is
//! also the message's id: `(node, lc)` names a message uniquely, so a `recv` names its send.

use crate::core::event::Event;
use crate::core::process::{Nanos, NodeId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A vector clock: node id → number of events of that node known to have happened before.
pub type VectorClock = BTreeMap<NodeId, u64>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    pub t: Nanos,
    pub node: NodeId,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instance: String,
    pub lc: u64,
    pub vc: VectorClock,
    #[serde(flatten)]
    pub what: What,
}

/// What happened. Serialized with a `kind` tag: `{"kind":"send","to":2,...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A process (re)started; `incarnation` counts starts of this node, from 1.
    Start { incarnation: u64 },
    /// The node stopped on request (a killed node leaves no such record).
    Stop { reason: String },
    /// A message left; its id is this record's `lc`.
    Send { to: NodeId, msg_type: String, msg: Value },
    /// A message arrived: the `send` record of `from` whose `lc` is `msg_lc`.
    Recv { from: NodeId, msg_type: String, msg_lc: u64 },
    /// A timer fired (stale fires are not recorded).
    Timer { name: String },
    /// Operator or client input and the process's answer.
    Command { args: Vec<String>, ok: bool, reply: String },
    /// An algorithm event: `elected`, `leader`, `leader_lost`, `enter_cs`, ...
    Event { name: String, data: Value },
    /// Bytes that were not a valid frame or body; counted and recorded, never fatal.
    Malformed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<NodeId>,
        reason: String,
    },
}

impl TraceRecord {
    pub fn to_json_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("trace records always encode");
        line.push('\n');
        line
    }

    /// Appends the record as one JSON line to `out`, a buffer the caller reuses.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("trace records always encode");
        out.push(b'\n');
    }

    /// The algorithm event's name, if this record is one.
    pub fn event_name(&self) -> Option<&str> {
        match &self.what {
            What::Event { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The algorithm event as type `E` (e.g. [`crate::check::events::ElectionEvent`]), if this record is
    /// one of `E`'s events and its data fits.
    pub fn event_as<E: Event>(&self) -> Option<E> {
        match &self.what {
            What::Event { name, data } => E::from_parts(name, data),
            _ => None,
        }
    }
}

/// Parses JSON lines; a line that does not parse is reported with its number.
pub fn parse_jsonl(text: &str) -> Result<Vec<TraceRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// One node's clocks and the rule that stamps every event it records.
#[derive(Clone, Debug)]
pub struct Clocks {
    me: NodeId,
    lc: u64,
    vc: VectorClock,
}

impl Clocks {
    pub fn new(me: NodeId) -> Self {
        Clocks { me, lc: 0, vc: VectorClock::new() }
    }

    /// Continues from the last record this node wrote (a restarted node keeps counting).
    pub fn resume(last: &TraceRecord) -> Self {
        Clocks { me: last.node, lc: last.lc, vc: last.vc.clone() }
    }

    /// Stamps a local or send event.
    pub fn stamp(&mut self, t: Nanos, instance: &str, what: What) -> TraceRecord {
        self.lc += 1;
        *self.vc.entry(self.me).or_insert(0) += 1;
        TraceRecord { t, node: self.me, instance: instance.to_string(), lc: self.lc, vc: self.vc.clone(), what }
    }

    /// Stamps a receive: element-wise maximum with the sender's clocks, then one tick.
    pub fn stamp_receive(
        &mut self,
        t: Nanos,
        instance: &str,
        sender_lc: u64,
        sender_vc: &VectorClock,
        what: What,
    ) -> TraceRecord {
        self.lc = self.lc.max(sender_lc);
        for (node, count) in sender_vc {
            let mine = self.vc.entry(*node).or_insert(0);
            *mine = (*mine).max(*count);
        }
        self.stamp(t, instance, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_takes_the_maximum_then_ticks() {
        let mut a = Clocks::new(1);
        let mut b = Clocks::new(2);
        b.stamp(0, "x", What::Timer { name: "t".into() });
        b.stamp(0, "x", What::Timer { name: "t".into() });
        let send = a.stamp(5, "x", What::Send { to: 2, msg_type: "m".into(), msg: Value::Null });
        let recv =
            b.stamp_receive(9, "x", send.lc, &send.vc, What::Recv { from: 1, msg_type: "m".into(), msg_lc: send.lc });
        assert_eq!(recv.lc, 3);
        assert_eq!(recv.vc, VectorClock::from([(1, 1), (2, 3)]));
    }

    #[test]
    fn records_round_trip_through_json_lines() {
        let mut c = Clocks::new(3);
        let r = c.stamp(42, "bully", What::Event { name: "elected".into(), data: serde_json::json!({"leader": 3}) });
        let line = r.to_json_line();
        assert!(line.contains(r#""kind":"event""#), "{line}");
        assert_eq!(parse_jsonl(&line).unwrap(), vec![r]);
    }
}

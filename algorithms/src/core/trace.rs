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
        let mut line = Vec::with_capacity(256);
        self.write_json_line(&mut line);
        String::from_utf8(line).expect("JSON is UTF-8")
    }

    /// Appends the record as one JSON line to `out`, a buffer the caller reuses.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        self.as_ref().write_json_line(out);
    }

    /// The record borrowed, as [`RecordRef`] writes it.
    pub fn as_ref(&self) -> RecordRef<'_> {
        let what = match &self.what {
            What::Send { to, msg_type, msg } => WhatRef::Send { to: *to, msg_type, msg },
            What::Recv { from, msg_type, msg_lc } => WhatRef::Recv { from: *from, msg_type, msg_lc: *msg_lc },
            other => WhatRef::Other(other),
        };
        RecordRef { t: self.t, node: self.node, instance: &self.instance, lc: self.lc, vc: &self.vc, what }
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

/// A record to write, borrowing its parts: a node writes its sends and receives straight from its
/// live clocks and the message on its way, with no [`TraceRecord`] built (and no vector clock,
/// message type or message copied) per record.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub t: Nanos,
    pub node: NodeId,
    pub instance: &'a str,
    pub lc: u64,
    pub vc: &'a VectorClock,
    pub what: WhatRef<'a>,
}

/// The event of a [`RecordRef`]: the two kinds written per message borrowed, any other as it is.
#[derive(Clone, Copy, Debug)]
pub enum WhatRef<'a> {
    Send { to: NodeId, msg_type: &'a str, msg: &'a Value },
    Recv { from: NodeId, msg_type: &'a str, msg_lc: u64 },
    Other(&'a What),
}

impl RecordRef<'_> {
    /// Appends the record as one JSON line to `out`: byte for byte what serde writes for the
    /// [`TraceRecord`] (a test holds it to that), so every reader reads it as before. Written by
    /// hand because the derive's `#[serde(flatten)]` buffers the event into a map of `Value`s per
    /// record; numbers go through `itoa` and strings that need no escaping are copied as they are.
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"{\"t\":");
        out.extend_from_slice(n.format(self.t).as_bytes());
        out.extend_from_slice(b",\"node\":");
        out.extend_from_slice(n.format(self.node).as_bytes());
        if !self.instance.is_empty() {
            out.extend_from_slice(b",\"instance\":");
            write_str(out, self.instance);
        }
        out.extend_from_slice(b",\"lc\":");
        out.extend_from_slice(n.format(self.lc).as_bytes());
        out.extend_from_slice(b",\"vc\":{");
        for (i, (node, count)) in self.vc.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(n.format(*node).as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(n.format(*count).as_bytes());
        }
        out.push(b'}');
        match self.what {
            WhatRef::Send { to, msg_type, msg } => {
                out.extend_from_slice(b",\"kind\":\"send\",\"to\":");
                out.extend_from_slice(n.format(to).as_bytes());
                out.extend_from_slice(b",\"msg_type\":");
                write_str(out, msg_type);
                out.extend_from_slice(b",\"msg\":");
                write_value(out, msg);
                out.push(b'}');
            }
            WhatRef::Recv { from, msg_type, msg_lc } => {
                out.extend_from_slice(b",\"kind\":\"recv\",\"from\":");
                out.extend_from_slice(n.format(from).as_bytes());
                out.extend_from_slice(b",\"msg_type\":");
                write_str(out, msg_type);
                out.extend_from_slice(b",\"msg_lc\":");
                out.extend_from_slice(n.format(msg_lc).as_bytes());
                out.push(b'}');
            }
            WhatRef::Other(what) => {
                // The event's own object, `{"kind":...}`, continues the record's: its opening
                // brace becomes the comma after `vc`.
                let start = out.len();
                serde_json::to_writer(&mut *out, what).expect("trace records always encode");
                out[start] = b',';
            }
        }
        out.push(b'\n');
    }
}

/// A JSON value as serde_json writes it, with its strings and keys through [`write_str`] (most
/// messages are small objects whose keys need no escaping); numbers stay serde_json's.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            serde_json::to_writer(&mut *out, value).expect("JSON values always encode")
        }
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping (the usual case:
/// names and message types), else escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("strings always encode");
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

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn lc(&self) -> u64 {
        self.lc
    }

    pub fn vc(&self) -> &VectorClock {
        &self.vc
    }

    /// Counts one event of this node (a local event, a send, or a receive after [`Self::merge`])
    /// and returns its `lc`: the clocks are then the event's, to read without copying them.
    pub fn tick(&mut self) -> u64 {
        self.lc += 1;
        *self.vc.entry(self.me).or_insert(0) += 1;
        self.lc
    }

    /// Takes in a received message's clocks (element-wise maximum), before the receive's tick.
    pub fn merge(&mut self, sender_lc: u64, sender_vc: &VectorClock) {
        self.lc = self.lc.max(sender_lc);
        for (node, count) in sender_vc {
            let mine = self.vc.entry(*node).or_insert(0);
            *mine = (*mine).max(*count);
        }
    }

    /// Stamps a local or send event.
    pub fn stamp(&mut self, t: Nanos, instance: &str, what: What) -> TraceRecord {
        self.tick();
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
        self.merge(sender_lc, sender_vc);
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

    /// The hand-written line is the derive's, byte for byte, for every kind of event and for
    /// strings that need escaping: readers see no change.
    #[test]
    fn the_written_line_is_what_serde_writes() {
        let nasty = "a \"quoted\" \\ back\nslash \u{1} é 名 \u{7f}";
        let whats = [
            What::Start { incarnation: 3 },
            What::Stop { reason: nasty.into() },
            What::Send { to: 2, msg_type: "vote".into(), msg: serde_json::json!({"Vote": {"term": 7, "ok": true}}) },
            What::Send { to: u32::MAX, msg_type: nasty.into(), msg: serde_json::json!([1.5, -0.0, 1e300, nasty]) },
            What::Send { to: 0, msg_type: String::new(), msg: Value::Null },
            What::Send {
                to: 5,
                msg_type: "append".into(),
                msg: serde_json::json!({"Append": {"entries": [{"k": nasty, "v": [true, null, -3, 2.5e-8]}], nasty: {}, "e": []}}),
            },
            What::Recv { from: 9, msg_type: "vote".into(), msg_lc: u64::MAX },
            What::Recv { from: 1, msg_type: nasty.into(), msg_lc: 0 },
            What::Timer { name: "election".into() },
            What::Command { args: vec!["put".into(), nasty.into()], ok: false, reply: String::new() },
            What::Event { name: "leader".into(), data: serde_json::json!({"leader": 3, "term": 2.25}) },
            What::Malformed { from: Some(4), reason: nasty.into() },
            What::Malformed { from: None, reason: "short frame".into() },
        ];
        let vcs =
            [VectorClock::new(), VectorClock::from([(3, 1)]), VectorClock::from([(1, 5), (10, u64::MAX), (2, 0)])];
        for (i, what) in whats.into_iter().enumerate() {
            for (j, vc) in vcs.iter().enumerate() {
                for instance in ["", "raft", nasty] {
                    let record = TraceRecord {
                        t: (i * j) as u64 * 1_000_003,
                        node: 3,
                        instance: instance.into(),
                        lc: 17,
                        vc: vc.clone(),
                        what: what.clone(),
                    };
                    let derived = serde_json::to_string(&record).unwrap() + "\n";
                    assert_eq!(record.to_json_line(), derived);
                }
            }
        }
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

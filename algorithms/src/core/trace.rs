//! The trace format shared by real nodes and the simulator: one JSON object a line.
//!
//! Every record carries the node's monotonic time (`t`, nanoseconds), its Lamport clock (`lc`)
//! and its vector clock (`vc`). Each record is one event: the node's own entries in `lc` and `vc`
//! rise by exactly one per record, and a receive first takes the element-wise maximum with the
//! sender's clocks, as in the textbook (and as ShiViz checks). The `lc` of a `send` record is
//! also the message's id: `(node, lc)` names a message uniquely, so a `recv` names its send.

use crate::core::event::Event;
use crate::core::process::{Nanos, NodeId};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// A vector clock: node id → number of events of that node known to have happened before (a node
/// absent counts 0). Kept as one sorted list of pairs: every record carries one, a run holds
/// millions, and clients count as nodes, so a map's nodes and pointers per record (about 1 KB at 35
/// nodes) would outweigh the rest of the record. Written as a JSON object, `{"1":4,"3":2}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VectorClock(Vec<(NodeId, u64)>);

impl VectorClock {
    pub fn new() -> VectorClock {
        VectorClock(Vec::new())
    }

    /// The count of `node`'s events (0 when the clock has never heard of it).
    pub fn get(&self, node: NodeId) -> u64 {
        self.0.binary_search_by_key(&node, |&(n, _)| n).map_or(0, |i| self.0[i].1)
    }

    /// The entries in ascending node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, u64)> + '_ {
        self.0.iter().copied()
    }

    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().map(|&(_, count)| count)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets `node`'s count.
    pub fn insert(&mut self, node: NodeId, count: u64) {
        *self.entry(node) = count;
    }

    /// Counts one more event of `node`.
    pub fn tick(&mut self, node: NodeId) {
        *self.entry(node) += 1;
    }

    /// The element-wise maximum with `other` (what a receive learns from the sender's clock).
    pub fn merge(&mut self, other: &VectorClock) {
        for &(node, count) in &other.0 {
            let mine = self.entry(node);
            *mine = (*mine).max(count);
        }
    }

    /// `node`'s count, made 0 in its place if the clock had none.
    fn entry(&mut self, node: NodeId) -> &mut u64 {
        let i = match self.0.binary_search_by_key(&node, |&(n, _)| n) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (node, 0));
                i
            }
        };
        &mut self.0[i].1
    }
}

impl FromIterator<(NodeId, u64)> for VectorClock {
    /// Entries in any order; of two for one node, the later one counts (as a map's insert).
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(entries: I) -> VectorClock {
        let mut list: Vec<(NodeId, u64)> = entries.into_iter().collect();
        list.reverse();
        list.sort_by_key(|&(node, _)| node); // stable: the last given of a node comes first
        list.dedup_by_key(|&mut (node, _)| node);
        list.shrink_to_fit();
        VectorClock(list)
    }
}

impl<const N: usize> From<[(NodeId, u64); N]> for VectorClock {
    fn from(entries: [(NodeId, u64); N]) -> VectorClock {
        entries.into_iter().collect()
    }
}

impl Serialize for VectorClock {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(node, count)| (node, count)))
    }
}

impl<'de> Deserialize<'de> for VectorClock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = VectorClock;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vector clock: a map of node id to count")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<VectorClock, A::Error> {
                // The length a peer's frame claims is not to be trusted: reserve only a little.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some(entry) = map.next_entry::<NodeId, u64>()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// What happened. Serialized with a `kind` tag: `{"kind":"send","to":2,...}`; read back by
/// [`TraceRecord`]'s own `Deserialize`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    /// A process (re)started; `incarnation` counts starts of this node, from 1.
    Start { incarnation: u64 },
    /// The node stopped on request (a killed node leaves no such record).
    Stop { reason: String },
    /// A message left; its id is this record's `lc`.
    Send { to: NodeId, msg_type: String, msg: ShownMsg },
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

/// A message as the trace shows it. A message sent here is kept as the MessagePack body it was
/// sent as (named fields, what [`crate::core::process::Ctx::send`] encodes), shared by a
/// broadcast's copies and by the envelopes in flight; one read from a trace is kept as its JSON
/// text. Runs hold millions of sends and few readers look inside one (a checker decoding its own
/// messages, the report's detail, a trace line written), so the JSON is made only then:
/// [`ShownMsg::write_json`] transcodes MessagePack to JSON straight into the output, with no tree
/// in between, and writes what serde_json writes for the message itself, byte for byte (a test
/// holds it to that; so did every message of a 3-seed sweep of every config). Two shapes
/// MessagePack does not keep apart would differ, and no message uses them: a unit struct
/// (`struct Ping;`, JSON `null`, shown `[]`) and 128-bit integers (shown as bytes).
#[derive(Clone)]
pub struct ShownMsg(Shown);

#[derive(Clone)]
enum Shown {
    /// MessagePack with named fields, as sent.
    Packed(Arc<[u8]>),
    /// JSON text, as read from a trace (or made from a JSON value).
    Json(Box<RawValue>),
}

impl ShownMsg {
    /// The message `msg` (encoded as MessagePack with named fields; `null` for a value that does
    /// not encode).
    pub fn of<M: Serialize + ?Sized>(msg: &M) -> ShownMsg {
        rmp_serde::to_vec_named(msg).map(|body| ShownMsg::packed(body.into())).unwrap_or_else(|_| ShownMsg::null())
    }

    /// The message whose MessagePack body (named fields) is `body`, shared, not copied.
    pub fn packed(body: Arc<[u8]>) -> ShownMsg {
        ShownMsg(Shown::Packed(body))
    }

    pub fn null() -> ShownMsg {
        ShownMsg(Shown::Json(RawValue::from_string("null".into()).expect("null is JSON")))
    }

    /// Appends the message's JSON to `out`: `null` for the rare value JSON cannot hold, e.g. a
    /// map with non-scalar keys (the trace must not fail because a message cannot be shown).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Shown::Json(json) => out.extend_from_slice(json.get().as_bytes()),
            Shown::Packed(body) => {
                let start = out.len();
                if crate::core::packed_json::write(body, out).is_ok() {
                    return;
                }
                out.truncate(start);
                let mut from = rmp_serde::Deserializer::from_read_ref(&body[..]);
                let mut to = serde_json::Serializer::new(&mut *out);
                if serde_transcode::transcode(&mut from, &mut to).is_err() {
                    out.truncate(start);
                    out.extend_from_slice(b"null");
                }
            }
        }
    }

    /// The JSON text, as written in the trace.
    pub fn json(&self) -> Cow<'_, str> {
        match &self.0 {
            Shown::Json(json) => Cow::Borrowed(json.get()),
            Shown::Packed(_) => {
                let mut out = Vec::new();
                self.write_json(&mut out);
                Cow::Owned(String::from_utf8(out).expect("JSON is UTF-8"))
            }
        }
    }

    /// The message as `M` (an algorithm's message type, or a type with the fields a reader needs
    /// of it), if it is one.
    pub fn decode<M: DeserializeOwned>(&self) -> Option<M> {
        match &self.0 {
            Shown::Json(json) => serde_json::from_str(json.get()).ok(),
            Shown::Packed(body) => rmp_serde::from_slice(body).ok(),
        }
    }

    /// The message as a JSON tree.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json()).unwrap_or(Value::Null)
    }
}

impl PartialEq for ShownMsg {
    /// The same JSON (equal bodies make equal JSON; anything else is compared as JSON text).
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Shown::Packed(a), Shown::Packed(b)) if a == b => true,
            _ => self.json() == other.json(),
        }
    }
}

impl std::fmt::Debug for ShownMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.json())
    }
}

impl Serialize for ShownMsg {
    /// The JSON text, as [`ShownMsg::write_json`] writes it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Shown::Json(json) => json.serialize(serializer),
            Shown::Packed(_) => {
                let json = RawValue::from_string(self.json().into_owned()).map_err(S::Error::custom)?;
                json.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for ShownMsg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(|json| ShownMsg(Shown::Json(json)))
    }
}

impl From<Value> for ShownMsg {
    fn from(value: Value) -> ShownMsg {
        serde_json::value::to_raw_value(&value)
            .map(|json| ShownMsg(Shown::Json(json)))
            .unwrap_or_else(|_| ShownMsg::null())
    }
}

/// A trace line's fields, every kind's in one flat struct: the record is read field by field with
/// no intermediate tree (serde's `flatten` and internal tags buffer each record as a map of
/// values, and cannot keep a message as text at all).
#[derive(Deserialize)]
struct Line<'a> {
    t: Nanos,
    node: NodeId,
    #[serde(default)]
    instance: String,
    lc: u64,
    vc: VectorClock,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    to: Option<NodeId>,
    from: Option<NodeId>,
    msg_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    msg: Option<ShownMsg>,
    msg_lc: Option<u64>,
    incarnation: Option<u64>,
    reason: Option<String>,
    name: Option<String>,
    args: Option<Vec<String>>,
    ok: Option<bool>,
    reply: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Value>,
}

/// A field that is there, `null` included (a plain `Option` would take `null` for absent).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl<'de> Deserialize<'de> for TraceRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let line = Line::deserialize(deserializer)?;
        fn field<T, E: serde::de::Error>(value: Option<T>, name: &'static str, kind: &str) -> Result<T, E> {
            value.ok_or_else(|| E::custom(format_args!("missing field `{name}` in a `{kind}` record")))
        }
        let kind = line.kind.as_ref();
        let what = match kind {
            "start" => What::Start { incarnation: field(line.incarnation, "incarnation", kind)? },
            "stop" => What::Stop { reason: field(line.reason, "reason", kind)? },
            "send" => What::Send {
                to: field(line.to, "to", kind)?,
                msg_type: field(line.msg_type, "msg_type", kind)?,
                msg: field(line.msg, "msg", kind)?,
            },
            "recv" => What::Recv {
                from: field(line.from, "from", kind)?,
                msg_type: field(line.msg_type, "msg_type", kind)?,
                msg_lc: field(line.msg_lc, "msg_lc", kind)?,
            },
            "timer" => What::Timer { name: field(line.name, "name", kind)? },
            "command" => What::Command {
                args: field(line.args, "args", kind)?,
                ok: field(line.ok, "ok", kind)?,
                reply: field(line.reply, "reply", kind)?,
            },
            "event" => What::Event { name: field(line.name, "name", kind)?, data: field(line.data, "data", kind)? },
            "malformed" => What::Malformed { from: line.from, reason: field(line.reason, "reason", kind)? },
            other => {
                return Err(D::Error::unknown_variant(
                    other,
                    &["start", "stop", "send", "recv", "timer", "command", "event", "malformed"],
                ))
            }
        };
        Ok(TraceRecord { t: line.t, node: line.node, instance: line.instance, lc: line.lc, vc: line.vc, what })
    }
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
    Send { to: NodeId, msg_type: &'a str, msg: &'a ShownMsg },
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
            out.extend_from_slice(n.format(node).as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(n.format(count).as_bytes());
        }
        out.push(b'}');
        match self.what {
            WhatRef::Send { to, msg_type, msg } => {
                out.extend_from_slice(b",\"kind\":\"send\",\"to\":");
                out.extend_from_slice(n.format(to).as_bytes());
                out.extend_from_slice(b",\"msg_type\":");
                write_str(out, msg_type);
                out.extend_from_slice(b",\"msg\":");
                msg.write_json(out);
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
        self.vc.tick(self.me);
        self.lc
    }

    /// Takes in a received message's clocks (element-wise maximum), before the receive's tick.
    pub fn merge(&mut self, sender_lc: u64, sender_vc: &VectorClock) {
        self.lc = self.lc.max(sender_lc);
        self.vc.merge(sender_vc);
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
        let send = a.stamp(5, "x", What::Send { to: 2, msg_type: "m".into(), msg: ShownMsg::null() });
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
            What::Send { to: 2, msg_type: "vote".into(), msg: serde_json::json!({"Vote": {"term": 7, "ok": true}}).into() },
            What::Send { to: u32::MAX, msg_type: nasty.into(), msg: serde_json::json!([1.5, -0.0, 1e300, nasty]).into() },
            What::Send { to: 0, msg_type: String::new(), msg: ShownMsg::null() },
            What::Send { to: 4, msg_type: "packed".into(), msg: ShownMsg::of(&(7u8, nasty, [1.5, -2.0], ())) },
            What::Send {
                to: 5,
                msg_type: "append".into(),
                msg: serde_json::json!({"Append": {"entries": [{"k": nasty, "v": [true, null, -3, 2.5e-8]}], nasty: {}, "e": []}}).into(),
            },
            What::Recv { from: 9, msg_type: "vote".into(), msg_lc: u64::MAX },
            What::Recv { from: 1, msg_type: nasty.into(), msg_lc: 0 },
            What::Timer { name: "election".into() },
            What::Command { args: vec!["put".into(), nasty.into()], ok: false, reply: String::new() },
            What::Event { name: "leader".into(), data: serde_json::json!({"leader": 3, "term": 2.25}) },
            What::Event { name: "quiet".into(), data: Value::Null },
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
                    assert_eq!(serde_json::from_str::<TraceRecord>(&derived).unwrap(), record, "read back");
                }
            }
        }
    }

    /// A message kept as MessagePack is written as the JSON serde_json writes for the message
    /// itself, byte for byte: enums of every shape, field order, integer map keys as strings,
    /// floats, escapes, and `null` for a map JSON cannot hold.
    #[test]
    fn a_packed_message_writes_the_json_of_the_message() {
        use std::collections::BTreeMap;
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Msg {
            Unit,
            Newtype(u64),
            Tuple(i32, String),
            Struct { term: u64, zeta: Option<u8>, alpha: Vec<f64>, by_node: BTreeMap<NodeId, bool>, small: f32 },
            Tagged(Tagged),
            Keys(BTreeMap<(u8, u8), u8>),
            Nested(Vec<Msg>, Option<Box<Msg>>),
        }
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Tagged {
            Put { key: String, value: i64, seq: u64 },
            Empty {},
        }
        let nasty = "a \"quoted\" \\ back\nslash \u{1} é 名 \u{7f}";
        let msgs = [
            Msg::Unit,
            Msg::Newtype(u64::MAX),
            Msg::Tuple(-7, nasty.into()),
            Msg::Struct {
                term: 3,
                zeta: None,
                alpha: vec![1.5, -0.0, 1e300, 2.0, f64::NAN, 0.1],
                by_node: BTreeMap::from([(1, true), (10, false), (2, true)]),
                small: 0.1,
            },
            Msg::Struct { term: 0, zeta: Some(255), alpha: vec![], by_node: BTreeMap::new(), small: -3.25e-12 },
            Msg::Tagged(Tagged::Put { key: nasty.into(), value: i64::MIN, seq: 128 }),
            Msg::Tagged(Tagged::Empty {}),
            Msg::Keys(BTreeMap::from([((1, 2), 3)])),
            Msg::Nested(vec![Msg::Unit, Msg::Newtype(0)], Some(Box::new(Msg::Tuple(i32::MAX, String::new())))),
        ];
        for msg in &msgs {
            let mut written = Vec::new();
            ShownMsg::of(msg).write_json(&mut written);
            let direct = serde_json::to_string(msg).unwrap_or_else(|_| "null".into());
            assert_eq!(String::from_utf8(written).unwrap(), direct);
            assert_eq!(ShownMsg::of(msg).json(), direct);
        }
        assert_eq!(ShownMsg::of(&msgs[7]).json(), "null", "a map with non-scalar keys");
        let value = serde_json::json!({"b": [1, -2, 2.5, null, true, nasty], "a": {}});
        assert_eq!(ShownMsg::of(&value), ShownMsg::from(value.clone()), "the same JSON, kept either way");
        assert_eq!(ShownMsg::of(&value).value(), value);
    }

    /// A message kept as MessagePack decodes as the type it was sent as, and as a type with only
    /// some of its fields, as its JSON does.
    #[test]
    fn a_packed_message_decodes_on_demand() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        enum Msg {
            Append { term: u64, entries: Vec<String> },
        }
        #[derive(Deserialize)]
        struct Shown {
            #[serde(rename = "Append")]
            append: Entries,
        }
        #[derive(Deserialize)]
        struct Entries {
            entries: Vec<String>,
        }
        let msg = Msg::Append { term: 2, entries: vec!["x".into(), "y".into()] };
        let shown = ShownMsg::of(&msg);
        assert_eq!(shown.decode::<Msg>(), Some(Msg::Append { term: 2, entries: vec!["x".into(), "y".into()] }));
        assert_eq!(shown.decode::<Shown>().map(|s| s.append.entries.len()), Some(2));
        assert_eq!(shown.decode::<u64>(), None, "not a number");
        let read: ShownMsg = serde_json::from_str(&shown.json()).unwrap();
        assert_eq!(read, shown, "read back from its JSON");
        assert_eq!(read.decode::<Msg>(), shown.decode::<Msg>());
    }

    #[test]
    fn records_round_trip_through_json_lines() {
        let mut c = Clocks::new(3);
        let r = c.stamp(42, "bully", What::Event { name: "elected".into(), data: serde_json::json!({"leader": 3}) });
        let line = r.to_json_line();
        assert!(line.contains(r#""kind":"event""#), "{line}");
        assert_eq!(parse_jsonl(&line).unwrap(), vec![r]);
    }

    /// A message is read back as its text, not rebuilt: what was written is what a reader sees,
    /// and it decodes on demand.
    #[test]
    fn a_message_stays_its_json_text() {
        let line = r#"{"t":1,"node":1,"lc":1,"vc":{"1":1},"kind":"send","to":2,"msg_type":"vote","msg":{"Vote":{"term":7, "ok":true}}}"#;
        let record: TraceRecord = serde_json::from_str(line).unwrap();
        let What::Send { msg, .. } = &record.what else { panic!("{record:?}") };
        assert_eq!(msg.json(), r#"{"Vote":{"term":7, "ok":true}}"#);
        assert_eq!(msg.value(), serde_json::json!({"Vote": {"term": 7, "ok": true}}));
        assert_eq!(
            msg.decode::<std::collections::BTreeMap<String, std::collections::BTreeMap<String, Value>>>().unwrap()
                ["Vote"]["term"],
            7
        );
        assert_eq!(msg.decode::<u64>(), None, "not a number");
    }

    /// A line that is not a record says which field of which kind it lacks, or which kind it has.
    #[test]
    fn a_bad_line_names_what_is_wrong() {
        let head = r#"{"t":1,"node":1,"lc":1,"vc":{}"#;
        let err =
            |rest: &str| serde_json::from_str::<TraceRecord>(&format!("{head},{rest}}}")).unwrap_err().to_string();
        assert!(err(r#""kind":"send","to":2,"msg_type":"m""#).contains("missing field `msg` in a `send` record"));
        assert!(err(r#""kind":"recv","from":2,"msg_lc":3"#).contains("missing field `msg_type` in a `recv` record"));
        assert!(err(r#""kind":"teleport""#).contains("unknown variant `teleport`"));
        assert!(serde_json::from_str::<TraceRecord>(&format!("{head}}}"))
            .unwrap_err()
            .to_string()
            .contains("missing field `kind`"));
        let fine = format!(r#"{head},"kind":"malformed","reason":"short","extra":[1]}}"#);
        assert_eq!(
            serde_json::from_str::<TraceRecord>(&fine).unwrap().what,
            What::Malformed { from: None, reason: "short".into() }
        );
    }

    #[test]
    fn a_vector_clock_ticks_merges_and_reads_like_a_map() {
        let mut a = VectorClock::from([(3, 2), (1, 5), (3, 4)]);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(1, 5), (3, 4)], "sorted; the later of two entries counts");
        a.tick(2);
        a.tick(3);
        a.merge(&VectorClock::from([(1, 2), (4, 9), (2, 7)]));
        assert_eq!(a, VectorClock::from([(1, 5), (2, 7), (3, 5), (4, 9)]));
        assert_eq!((a.get(4), a.get(8), a.len(), a.values().sum::<u64>()), (9, 0, 4, 26));
        a.insert(0, 1);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"0":1,"1":5,"2":7,"3":5,"4":9}"#);
        assert_eq!(serde_json::from_str::<VectorClock>(r#"{"4":9,"0":1,"3":5,"1":5,"2":7}"#).unwrap(), a, "any order");
        let packed = rmp_serde::to_vec_named(&a).unwrap();
        assert_eq!(rmp_serde::from_slice::<VectorClock>(&packed).unwrap(), a, "MessagePack: integer keys");
        assert!(serde_json::from_str::<VectorClock>(r#"{"x":1}"#).is_err());
    }
}

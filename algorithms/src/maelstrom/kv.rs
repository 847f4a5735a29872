//! Maelstrom's key-value services, provided by clusterlab itself: a program reaches them under
//! Maelstrom's names `lin-kv`, `seq-kv` and `lww-kv` (a message with `dest` "lin-kv").
//!
//! The requests are Maelstrom's: `read {key}` → `read_ok {value}`, `write {key, value}` →
//! `write_ok`, `cas {key, from, to, create_if_not_exists}` → `cas_ok`; errors are `error {code,
//! text}` with Maelstrom's codes: 20 key-does-not-exist (a read of a missing key, a cas of one
//! without `create_if_not_exists`), 22 precondition-failed (a cas whose `from` is not the value),
//! 12 malformed-request (no key, no value), 10 not-supported (any other type). Keys are any JSON
//! value (compared by their JSON text), values any JSON value.
//!
//! Consistency, one authoritative store per service (the node that hosts them, see
//! `node/src/external.rs`):
//!
//! - `lin-kv` is linearizable: one map, every operation applied to it as it arrives.
//! - `seq-kv` is sequentially consistent: every write and cas takes a new version of the store
//!   (one counter for all keys); a read may return the state of any version from the client's
//!   floor (the newest version it has written, or read, or seen a cas fail against) to the latest,
//!   drawn from the rng, and raises the floor to it. All operations then fit one total order (by
//!   version, reads after the write that made their version) that keeps each client's order: stale
//!   reads, never a client going back in time. Writes and cas act on the latest state.
//! - `lww-kv` is last-write-wins and eventually consistent: [`LWW_REPLICAS`] replicas, each
//!   operation served by one drawn from the rng, writes stamped with a rising timestamp; before each
//!   operation one replica merges into the next (round robin, the higher timestamp wins), so reads
//!   may be stale or go back and forth, and replicas agree once operations have gone round.
//!
//! A pure state machine: no IO, randomness only from the rng handed in.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The services' names, as a program addresses them.
pub const SERVICES: &[&str] = &["lin-kv", "seq-kv", "lww-kv"];
/// Maelstrom's error codes.
pub const NOT_SUPPORTED: u64 = 10;
pub const MALFORMED_REQUEST: u64 = 12;
pub const KEY_DOES_NOT_EXIST: u64 = 20;
pub const PRECONDITION_FAILED: u64 = 22;
/// Versions of a key `seq-kv` keeps for stale reads.
pub const SEQ_HISTORY: usize = 8;
/// `lww-kv`'s replicas.
pub const LWW_REPLICAS: usize = 3;

/// One request, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Read { key: String },
    Write { key: String, value: Value },
    Cas { key: String, from: Value, to: Value, create: bool },
}

/// An `error` reply's code and text.
pub type Refusal = (u64, String);

impl Op {
    /// Reads a request body; a body that is not a kv request is refused with its code.
    pub fn parse(body: &Value) -> Result<Op, Refusal> {
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "read" | "write" | "cas") {
            return Err((NOT_SUPPORTED, format!("{kind:?} is not supported: read, write and cas are")));
        }
        let key = body.get("key").ok_or((MALFORMED_REQUEST, format!("{kind} without a key")))?.to_string();
        let field = |name: &str| body.get(name).cloned().ok_or((MALFORMED_REQUEST, format!("{kind} without {name}")));
        Ok(match kind {
            "read" => Op::Read { key },
            "write" => Op::Write { key, value: field("value")? },
            _ => Op::Cas {
                key,
                from: field("from")?,
                to: field("to")?,
                create: body.get("create_if_not_exists").and_then(Value::as_bool).unwrap_or(false),
            },
        })
    }

    fn key(&self) -> &str {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => key,
        }
    }
}

/// What an operation did to a key whose current value is `current`: the reply body (without
/// `in_reply_to`) and, for a write or a successful cas, the new value.
pub fn apply(op: &Op, current: Option<&Value>) -> (Value, Option<Value>) {
    let refuse = |code: u64, text: String| (json!({"type": "error", "code": code, "text": text}), None);
    match (op, current) {
        (Op::Read { .. }, Some(v)) => (json!({"type": "read_ok", "value": v}), None),
        (Op::Read { key }, None) => refuse(KEY_DOES_NOT_EXIST, format!("key {key} does not exist")),
        (Op::Write { value, .. }, _) => (json!({"type": "write_ok"}), Some(value.clone())),
        (Op::Cas { to, .. }, None) if matches!(op, Op::Cas { create: true, .. }) => {
            (json!({"type": "cas_ok"}), Some(to.clone()))
        }
        (Op::Cas { key, .. }, None) => refuse(KEY_DOES_NOT_EXIST, format!("key {key} does not exist")),
        (Op::Cas { from, to, .. }, Some(v)) if v == from => (json!({"type": "cas_ok"}), Some(to.clone())),
        (Op::Cas { from, .. }, Some(v)) => refuse(PRECONDITION_FAILED, format!("expected {from}, but had {v}")),
    }
}

/// `lin-kv`: one map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinKv {
    data: BTreeMap<String, Value>,
}

impl LinKv {
    pub fn handle(&mut self, op: &Op) -> Value {
        let (reply, new) = apply(op, self.data.get(op.key()));
        if let Some(v) = new {
            self.data.insert(op.key().to_string(), v);
        }
        reply
    }
}

/// `seq-kv`: versions per key, a floor per client (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeqKv {
    version: u64,
    /// key → (version, value) from oldest to newest, the last [`SEQ_HISTORY`].
    history: BTreeMap<String, Vec<(u64, Value)>>,
    floor: BTreeMap<String, u64>,
}

impl SeqKv {
    pub fn handle(&mut self, client: &str, op: &Op, rng: &mut impl Rng) -> Value {
        let floor = self.floor.get(client).copied().unwrap_or(0);
        let versions = self.history.get(op.key()).map(Vec::as_slice).unwrap_or(&[]);
        if let Op::Read { .. } = op {
            // Any version from the floor on, but none older than the key's oldest kept version.
            let oldest = if versions.len() == SEQ_HISTORY { versions[0].0 } else { 0 };
            let at = rng.random_range(floor.max(oldest)..=self.version);
            let value = versions.iter().rev().find(|(v, _)| *v <= at).map(|(_, value)| value);
            self.floor.insert(client.to_string(), at);
            return apply(op, value).0;
        }
        let (reply, new) = apply(op, versions.last().map(|(_, v)| v));
        if let Some(value) = new {
            self.version += 1;
            let kept = self.history.entry(op.key().to_string()).or_default();
            kept.push((self.version, value));
            if kept.len() > SEQ_HISTORY {
                kept.remove(0);
            }
        }
        // A write, or a cas that compared with the latest state, saw the latest version.
        self.floor.insert(client.to_string(), self.version);
        reply
    }
}

/// `lww-kv`: replicas of (timestamp, value), merged round robin (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LwwKv {
    replicas: Vec<BTreeMap<String, (u64, Value)>>,
    clock: u64,
    step: usize,
}

impl Default for LwwKv {
    fn default() -> Self {
        LwwKv { replicas: vec![BTreeMap::new(); LWW_REPLICAS], clock: 0, step: 0 }
    }
}

impl LwwKv {
    pub fn handle(&mut self, op: &Op, rng: &mut impl Rng) -> Value {
        let (from, to) = (self.step % LWW_REPLICAS, (self.step + 1) % LWW_REPLICAS);
        self.step += 1;
        for (key, (ts, value)) in self.replicas[from].clone() {
            let slot = self.replicas[to].entry(key).or_insert((0, Value::Null));
            if ts > slot.0 {
                *slot = (ts, value);
            }
        }
        let replica = &mut self.replicas[rng.random_range(0..LWW_REPLICAS)];
        let (reply, new) = apply(op, replica.get(op.key()).map(|(_, v)| v));
        if let Some(value) = new {
            self.clock += 1;
            replica.insert(op.key().to_string(), (self.clock, value));
        }
        reply
    }
}

/// The three services one node hosts. Their whole state serializes (the host persists it after
/// every operation that changed it, so a restarted host serves what it acknowledged).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub lin: LinKv,
    pub seq: SeqKv,
    pub lww: LwwKv,
}

impl Services {
    /// The reply of `service` to `client`'s request `body` (`in_reply_to` set from its `msg_id`);
    /// `None` for a body that is itself a reply (answering it could loop) or an unknown service.
    pub fn handle(&mut self, service: &str, client: &str, body: &Value, rng: &mut impl Rng) -> Option<Value> {
        if body.get("in_reply_to").is_some() {
            return None;
        }
        let mut reply = match Op::parse(body) {
            Err((code, text)) => json!({"type": "error", "code": code, "text": text}),
            Ok(op) => match service {
                "lin-kv" => self.lin.handle(&op),
                "seq-kv" => self.seq.handle(client, &op, rng),
                "lww-kv" => self.lww.handle(&op, rng),
                _ => return None,
            },
        };
        if let Some(id) = body.get("msg_id") {
            reply["in_reply_to"] = id.clone();
        }
        Some(reply)
    }
}

//! A Maelstrom node in Rust, as a sans-IO process: what the simulator runs in place of a program,
//! and a real node runs when `params.command` is unset. It answers every workload the clients run:
//!
//! - `echo` → `echo_ok` with the same `echo`;
//! - `generate` → `generate_ok` with `id` `n<me>-<k>`: `k` counts up and survives restarts
//!   (blocks of [`ID_BLOCK`] are reserved in persisted state before use), so ids never repeat;
//! - `topology` → `topology_ok`, and the node's neighbours are the ones it names (before it: every
//!   other server);
//! - `broadcast` → `broadcast_ok`; a new value goes at once to every neighbour but the sender as
//!   `gossip`, and every [`GOSSIP_MS`] each neighbour gets the values it has not acknowledged
//!   (`gossip_ok`), so values lost to a partition arrive once it heals; `read` → `read_ok` with
//!   every value known (and, for `g-counter`, the counter's `value`);
//! - `add` (`g-counter`) → `add_ok`: the delta is added to this node's own count, persisted before
//!   the reply; the counter is a G-counter (one count per node, merged by maximum): every
//!   [`GOSSIP_MS`] a node sends its counts as `counter` to each server whose last word
//!   (`counter`, or the `counter_ok` it answers one with, carrying its merged counts) differed
//!   from them, and a `read` answers the sum of the counts it knows;
//! - `read {key}`, `write`, `cas` (`lin-kv`): the lowest server id holds the one copy
//!   ([`super::kv::LinKv`], the `lin-kv` service's store) and answers them; every other server
//!   forwards the request to it under a `msg_id` of its own and relays the answer (error codes
//!   included) to the client;
//! - any other request → `error` code 10 (not supported), as Maelstrom's protocol says; a reply
//!   (`in_reply_to` set) is ignored.
//!
//! Cost: one reply per request; a broadcast value costs one gossip and one acknowledgement per
//! edge of the topology when nothing is lost; a `lin-kv` request at a server other than the
//! lowest, one forward and one answer.

use super::kv::{LinKv, Op};
use super::{server_name, Body};
use crate::core::process::{Ctx, NodeId, Process, Status, Timer, MS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Ids reserved per persist.
pub const ID_BLOCK: u64 = 1000;
/// How often unacknowledged values are gossiped again.
pub const GOSSIP_MS: u64 = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandInTimer {
    Gossip,
}

impl Timer for StandInTimer {}

/// What a stand-in persists: the top of its reserved id block and its own count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub ids: u64,
    pub count: u64,
}

pub struct StandIn {
    me: NodeId,
    /// The G-counter: each node's count as this node knows it; what each server last sent.
    counts: BTreeMap<NodeId, u64>,
    their_counts: BTreeMap<NodeId, BTreeMap<NodeId, u64>>,
    /// The `lin-kv` copy (used on the lowest server only), and the requests forwarded to it:
    /// forward id → (client, the client's `msg_id`).
    store: LinKv,
    forwarded: BTreeMap<u64, (NodeId, Value)>,
    next_forward: u64,
    /// The last id counter used, and the top of the reserved block.
    next: u64,
    reserved: u64,
    /// `None` until a `topology` arrives: every other server.
    neighbours: Option<Vec<NodeId>>,
    values: BTreeSet<u64>,
    /// What each neighbour has acknowledged or sent.
    known: BTreeMap<NodeId, BTreeSet<u64>>,
}

impl StandIn {
    pub fn new(me: NodeId) -> StandIn {
        StandIn {
            me,
            counts: BTreeMap::new(),
            their_counts: BTreeMap::new(),
            store: LinKv::default(),
            forwarded: BTreeMap::new(),
            next_forward: 0,
            next: 0,
            reserved: 0,
            neighbours: None,
            values: BTreeSet::new(),
            known: BTreeMap::new(),
        }
    }

    fn durable(&self) -> Durable {
        Durable { ids: self.reserved, count: self.counts.get(&self.me).copied().unwrap_or(0) }
    }

    /// A `lin-kv` request: answered here on the lowest server, forwarded to it elsewhere.
    fn kv(&mut self, ctx: &mut Ctx<StandInTimer>, from: NodeId, body: &Body) {
        let host = ctx.peers().iter().copied().chain([self.me]).min().expect("me");
        if host == self.me {
            let reply = match Op::parse(&body.0) {
                Ok(op) => self.store.handle(&op),
                Err((code, text)) => json!({"type": "error", "code": code, "text": text}),
            };
            return Self::reply(ctx, from, body, reply);
        }
        self.next_forward += 1;
        let mut request = body.0.clone();
        request["msg_id"] = json!(self.next_forward);
        self.forwarded.insert(self.next_forward, (from, body.0.get("msg_id").cloned().unwrap_or(Value::Null)));
        ctx.send(host, &Body(request));
    }

    fn counts_json(&self) -> Value {
        json!(self.counts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<String, Value>>())
    }

    /// The sum of the counts known.
    fn counter(&self) -> u64 {
        self.counts.values().sum()
    }

    fn neighbours(&self, ctx: &Ctx<StandInTimer>) -> Vec<NodeId> {
        self.neighbours.clone().unwrap_or_else(|| ctx.peers().to_vec())
    }

    fn gossip(&mut self, ctx: &mut Ctx<StandInTimer>, to: NodeId, values: Vec<u64>) {
        if !values.is_empty() {
            ctx.send(to, &Body(json!({"type": "gossip", "messages": values})));
        }
    }

    fn reply(ctx: &mut Ctx<StandInTimer>, to: NodeId, request: &Body, mut body: serde_json::Value) {
        if let Some(id) = request.id("msg_id") {
            body["in_reply_to"] = json!(id);
        }
        ctx.send(to, &Body(body));
    }
}

impl Process for StandIn {
    type Msg = Body;
    type Timer = StandInTimer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Ctx<StandInTimer>, recovered: Option<Durable>) {
        let recovered = recovered.unwrap_or_default();
        self.next = recovered.ids;
        self.reserved = self.next;
        if recovered.count > 0 {
            self.counts.insert(self.me, recovered.count);
        }
        ctx.set_timer(StandInTimer::Gossip, GOSSIP_MS * MS);
    }

    fn on_message(&mut self, ctx: &mut Ctx<StandInTimer>, from: NodeId, body: Body) {
        let numbers = |field: &str| -> Vec<u64> {
            body.0.get(field).and_then(Value::as_array).map_or(vec![], |a| a.iter().filter_map(Value::as_u64).collect())
        };
        if let Some(id) = body.id("in_reply_to") {
            if let Some((client, their_id)) = self.forwarded.remove(&id) {
                let mut answer = body.0.clone();
                answer["in_reply_to"] = their_id;
                ctx.send(client, &Body(answer));
            }
            return; // a reply: answering it could loop
        }
        match body.type_name() {
            "read" | "write" | "cas" if body.0.get("key").is_some() => self.kv(ctx, from, &body),
            "add" => {
                let delta = body.0.get("delta").and_then(Value::as_u64).unwrap_or(0);
                *self.counts.entry(self.me).or_default() += delta;
                ctx.persist(&self.durable());
                Self::reply(ctx, from, &body, json!({"type": "add_ok"}));
            }
            kind @ ("counter" | "counter_ok") => {
                let theirs: BTreeMap<NodeId, u64> = body
                    .0
                    .get("counts")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?))).collect())
                    .unwrap_or_default();
                for (node, n) in &theirs {
                    let mine = self.counts.entry(*node).or_default();
                    *mine = (*mine).max(*n);
                }
                self.their_counts.insert(from, theirs);
                if kind == "counter" {
                    ctx.send(from, &Body(json!({"type": "counter_ok", "counts": self.counts_json()})));
                }
            }
            "topology" => {
                let mine = body.0.get("topology").and_then(|t| t.get(server_name(self.me))).and_then(Value::as_array);
                let ids = mine.map(|ns| {
                    ns.iter().filter_map(|n| n.as_str()?.strip_prefix('n')?.parse::<NodeId>().ok()).collect::<Vec<_>>()
                });
                self.neighbours = ids.or(self.neighbours.take());
                Self::reply(ctx, from, &body, json!({"type": "topology_ok"}));
            }
            "broadcast" => {
                if let Some(v) = body.0.get("message").and_then(Value::as_u64) {
                    if self.values.insert(v) {
                        for n in self.neighbours(ctx).into_iter().filter(|n| *n != from) {
                            self.gossip(ctx, n, vec![v]);
                        }
                    }
                }
                Self::reply(ctx, from, &body, json!({"type": "broadcast_ok"}));
            }
            "gossip" => {
                let got = numbers("messages");
                let new: Vec<u64> = got.iter().copied().filter(|v| self.values.insert(*v)).collect();
                self.known.entry(from).or_default().extend(&got);
                for n in self.neighbours(ctx).into_iter().filter(|n| *n != from) {
                    self.gossip(ctx, n, new.clone());
                }
                ctx.send(from, &Body(json!({"type": "gossip_ok", "messages": got})));
            }
            "gossip_ok" => self.known.entry(from).or_default().extend(numbers("messages")),
            "read" => {
                let values: Vec<u64> = self.values.iter().copied().collect();
                let reply = json!({"type": "read_ok", "messages": values, "value": self.counter()});
                Self::reply(ctx, from, &body, reply);
            }
            "echo" => {
                let echo = body.0.get("echo").cloned().unwrap_or_default();
                Self::reply(ctx, from, &body, json!({"type": "echo_ok", "echo": echo}));
            }
            "generate" => {
                self.next += 1;
                if self.next > self.reserved {
                    self.reserved = self.next + ID_BLOCK - 1;
                    ctx.persist(&self.durable());
                }
                let id = format!("{}-{}", server_name(self.me), self.next);
                Self::reply(ctx, from, &body, json!({"type": "generate_ok", "id": id}));
            }
            other => {
                let text = format!("{other:?} is not supported");
                Self::reply(ctx, from, &body, json!({"type": "error", "code": 10, "text": text}));
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<StandInTimer>, timer: StandInTimer) {
        match timer {
            StandInTimer::Gossip => {
                for n in self.neighbours(ctx) {
                    let known = self.known.get(&n);
                    let missing =
                        self.values.iter().copied().filter(|v| !known.is_some_and(|k| k.contains(v))).collect();
                    self.gossip(ctx, n, missing);
                }
                if !self.counts.is_empty() {
                    for server in ctx.peers().to_vec() {
                        if self.their_counts.get(&server) != Some(&self.counts) {
                            ctx.send(server, &Body(json!({"type": "counter", "counts": self.counts_json()})));
                        }
                    }
                }
                ctx.set_timer(StandInTimer::Gossip, GOSSIP_MS * MS);
            }
        }
    }

    fn status(&self) -> Status {
        Status { role: "serving".into(), leader: None, term: None }
    }
}

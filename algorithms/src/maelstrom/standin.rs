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
//!   every value known;
//! - any other request → `error` code 10 (not supported), as Maelstrom's protocol says; a reply
//!   (`in_reply_to` set) is ignored.
//!
//! Cost: one reply per request; a broadcast value costs one gossip and one acknowledgement per
//! edge of the topology when nothing is lost.

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

pub struct StandIn {
    me: NodeId,
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
        StandIn { me, next: 0, reserved: 0, neighbours: None, values: BTreeSet::new(), known: BTreeMap::new() }
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
    /// The top of the reserved id block.
    type Durable = u64;

    fn on_start(&mut self, ctx: &mut Ctx<StandInTimer>, recovered: Option<u64>) {
        self.next = recovered.unwrap_or(0);
        self.reserved = self.next;
        ctx.set_timer(StandInTimer::Gossip, GOSSIP_MS * MS);
    }

    fn on_message(&mut self, ctx: &mut Ctx<StandInTimer>, from: NodeId, body: Body) {
        let numbers = |field: &str| -> Vec<u64> {
            body.0.get(field).and_then(Value::as_array).map_or(vec![], |a| a.iter().filter_map(Value::as_u64).collect())
        };
        match body.type_name() {
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
                Self::reply(ctx, from, &body, json!({"type": "read_ok", "messages": values}));
            }
            "echo" => {
                let echo = body.0.get("echo").cloned().unwrap_or_default();
                Self::reply(ctx, from, &body, json!({"type": "echo_ok", "echo": echo}));
            }
            "generate" => {
                self.next += 1;
                if self.next > self.reserved {
                    self.reserved = self.next + ID_BLOCK - 1;
                    ctx.persist(&self.reserved);
                }
                let id = format!("{}-{}", server_name(self.me), self.next);
                Self::reply(ctx, from, &body, json!({"type": "generate_ok", "id": id}));
            }
            _ if body.id("in_reply_to").is_some() => {} // a reply: answering it could loop
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
                ctx.set_timer(StandInTimer::Gossip, GOSSIP_MS * MS);
            }
        }
    }

    fn status(&self) -> Status {
        Status { role: "serving".into(), leader: None, term: None }
    }
}

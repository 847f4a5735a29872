//! The client of a Maelstrom workload, on a client node: it sends the workload's requests to the
//! servers (Maelstrom's programs, or the stand-in) and records each operation as `op` events.
//!
//! One operation outstanding at a time, to a server drawn from the RNG; `msg_id` counts up. A reply
//! whose `in_reply_to` is the outstanding `msg_id` completes it: `ok` with what the workload reads
//! from the reply (`echo`: the echoed text, `unique-ids`: the id); an `error` body completes it
//! `fail` with its `code` and `text`; no reply within `workload.timeout` completes it `info` (it
//! may or may not have happened, as in Maelstrom). Arrivals: closed loop, or Poisson at
//! `workload.rate_per_s`.
//!
//! `broadcast`: the first client node sends every server Maelstrom's `topology` when it starts
//! (`workload.topology`, a grid by default); then each operation is a `broadcast` of a value unique
//! in the run (`1000000 × client + n`) or a `read`, half and half. The `op` event's `key` names
//! the server (`n2`), whose reads the checker follows.
//!
//! `g-counter`: half `add` of a delta from 1 to 5, half `read` (its `value`); `key` names the
//! server. `lin-kv`: `read`, `write` of a value from 0 to 4, or `cas` `[from, to]`, a third each,
//! on a key drawn from `0 .. workload.keys`; `key` is that key (the history is checked per key as a
//! `cas-register`). An `error` reply fails the operation (a read of a missing key, code 20; a cas
//! whose compare failed, code 22).

use super::Body;
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NoState, NodeId, Process, Status, Timer};
use crate::service::client::{ClientEvent, Workload};
use rand::Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Builds the client of node `me` (the [`crate::algorithm::Spec::CLIENT`] of `maelstrom`).
pub fn maelstrom_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    Ok(Hosted::boxed(MaelstromClient::new(me, servers, workload.clone())?))
}

/// Which workload a client runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Echo,
    UniqueIds,
    Broadcast,
    GCounter,
    LinKv,
}

impl Kind {
    /// `workload.maelstrom`'s value; unset is `echo`.
    pub fn parse(name: Option<&str>) -> Result<Kind, String> {
        match name.unwrap_or("echo") {
            "echo" => Ok(Kind::Echo),
            "unique-ids" => Ok(Kind::UniqueIds),
            "broadcast" => Ok(Kind::Broadcast),
            "g-counter" => Ok(Kind::GCounter),
            "lin-kv" => Ok(Kind::LinKv),
            other => Err(format!(
                "workload.maelstrom: unknown workload {other:?}; known workloads: {}",
                super::WORKLOADS.join(", ")
            )),
        }
    }

    /// The operation's name in the history (`f`).
    pub fn f(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::UniqueIds => "generate",
            Kind::Broadcast => "broadcast",
            Kind::GCounter => "add",
            Kind::LinKv => "write",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaelstromTimer {
    /// The workload's next operation.
    Next,
    /// The outstanding request went unanswered for `workload.timeout`.
    Timeout,
}

impl Timer for MaelstromTimer {}

#[derive(Clone, Debug)]
struct Pending {
    id: u64,
    f: &'static str,
    /// The history's key: the server, or the key of a `lin-kv` operation.
    key: String,
    sent: Value,
}

/// The client process (see the module doc).
pub struct MaelstromClient {
    me: NodeId,
    servers: Vec<NodeId>,
    workload: Workload,
    kind: Kind,
    msg_id: u64,
    /// The outstanding request: its `msg_id`, `f`, the server and what it sent.
    pending: Option<Pending>,
    issued: u64,
}

impl MaelstromClient {
    pub fn new(me: NodeId, servers: &[NodeId], workload: Workload) -> Result<MaelstromClient, String> {
        workload.validate()?;
        let kind = Kind::parse(workload.maelstrom.as_deref())?;
        if servers.is_empty() {
            return Err("workload: a client needs at least one server".into());
        }
        if kind == Kind::Broadcast {
            topology(workload.topology.as_deref(), servers)?;
        } else if workload.topology.is_some() {
            return Err("workload.topology: only the broadcast workload has a topology".into());
        }
        Ok(MaelstromClient { me, servers: servers.to_vec(), workload, kind, msg_id: 0, pending: None, issued: 0 })
    }

    fn more(&self) -> bool {
        self.workload.ops.is_none_or(|n| self.issued < n)
    }

    fn next(&mut self, ctx: &mut Ctx<MaelstromTimer>) {
        if self.pending.is_some() || !self.more() {
            return;
        }
        self.issued += 1;
        self.msg_id += 1;
        let id = self.msg_id;
        let (f, body, sent) = match self.kind {
            Kind::Echo => {
                let text = format!("c{}-{id}", self.me);
                ("echo", json!({"type": "echo", "msg_id": id, "echo": text}), json!(text))
            }
            Kind::UniqueIds => ("generate", json!({"type": "generate", "msg_id": id}), Value::Null),
            Kind::GCounter if ctx.rng().random_bool(0.5) => {
                let delta = ctx.rng().random_range(1..=5u64);
                ("add", json!({"type": "add", "msg_id": id, "delta": delta}), json!(delta))
            }
            Kind::Broadcast if ctx.rng().random_bool(0.5) => {
                let value = u64::from(self.me) * 1_000_000 + self.issued;
                ("broadcast", json!({"type": "broadcast", "msg_id": id, "message": value}), json!(value))
            }
            Kind::Broadcast | Kind::GCounter => ("read", json!({"type": "read", "msg_id": id}), Value::Null),
            Kind::LinKv => self.kv_request(ctx, id),
        };
        let server = self.servers[ctx.rng().random_range(0..self.servers.len())];
        let key = match self.kind {
            Kind::LinKv => body["key"].to_string(),
            _ => super::server_name(server),
        };
        ctx.emit(&op("invoke", f, key.clone(), sent.clone()));
        self.pending = Some(Pending { id, f, key, sent });
        ctx.send(server, &Body(body));
        ctx.set_timer(MaelstromTimer::Timeout, self.workload.timeout.as_nanos() as Nanos);
    }

    /// A `lin-kv` request: its `f`, body and the history's argument.
    fn kv_request(&self, ctx: &mut Ctx<MaelstromTimer>, id: u64) -> (&'static str, Value, Value) {
        let key = ctx.rng().random_range(0..self.workload.keys.max(1));
        let pick = ctx.rng().random_range(0..3);
        let mut value = || ctx.rng().random_range(0..5u64);
        match pick {
            0 => ("read", json!({"type": "read", "msg_id": id, "key": key}), Value::Null),
            1 => {
                let v = value();
                ("write", json!({"type": "write", "msg_id": id, "key": key, "value": v}), json!(v))
            }
            _ => {
                let (from, to) = (value(), value());
                ("cas", json!({"type": "cas", "msg_id": id, "key": key, "from": from, "to": to}), json!([from, to]))
            }
        }
    }

    fn complete(&mut self, ctx: &mut Ctx<MaelstromTimer>, kind: &str, value: Value) {
        let Some(p) = self.pending.take() else { return };
        ctx.cancel_timer(MaelstromTimer::Timeout);
        ctx.emit(&op(kind, p.f, p.key, value));
        if self.workload.rate_per_s.is_none() {
            self.next(ctx);
        }
    }

    fn schedule(&self, ctx: &mut Ctx<MaelstromTimer>) {
        if let Some(rate) = self.workload.rate_per_s.filter(|_| self.more()) {
            let gap = Exp::new(rate).expect("rate was validated").sample(ctx.rng());
            ctx.set_timer(MaelstromTimer::Next, (gap * 1e9) as Nanos);
        }
    }
}

/// An `op` event; `key` names the server it went to, or a `lin-kv` key.
fn op(kind: &str, f: &str, key: String, value: Value) -> ClientEvent {
    ClientEvent::Op { kind: kind.into(), f: f.into(), key, value }
}

/// Maelstrom's topologies over `servers`: who each server's neighbours are. `grid` (the default):
/// a square grid, rows of ⌈√n⌉; `line`; `tree2`/`tree3`/`tree4`: a tree of that fan-out; `total`:
/// everyone.
pub fn topology(name: Option<&str>, servers: &[NodeId]) -> Result<BTreeMap<NodeId, Vec<NodeId>>, String> {
    let n = servers.len();
    let mut edges: BTreeMap<NodeId, BTreeSet<NodeId>> = servers.iter().map(|s| (*s, BTreeSet::new())).collect();
    let mut link = |a: usize, b: usize| {
        edges.get_mut(&servers[a]).expect("a server").insert(servers[b]);
        edges.get_mut(&servers[b]).expect("a server").insert(servers[a]);
    };
    match name.unwrap_or("grid") {
        "grid" => {
            let width = (n as f64).sqrt().ceil().max(1.0) as usize;
            for i in 0..n {
                if (i + 1) % width != 0 && i + 1 < n {
                    link(i, i + 1);
                }
                if i + width < n {
                    link(i, i + width);
                }
            }
        }
        "line" => (1..n).for_each(|i| link(i - 1, i)),
        "total" => (0..n).for_each(|i| (i + 1..n).for_each(|j| link(i, j))),
        tree @ ("tree2" | "tree3" | "tree4") => {
            let fan: usize = tree[4..].parse().expect("a digit");
            (1..n).for_each(|i| link((i - 1) / fan, i));
        }
        other => {
            return Err(format!(
                "workload.topology: unknown topology {other:?}; known: grid, line, tree2, tree3, tree4, total"
            ))
        }
    }
    Ok(edges.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect())
}

impl Process for MaelstromClient {
    type Msg = Body;
    type Timer = MaelstromTimer;
    type Durable = NoState;

    fn on_start(&mut self, ctx: &mut Ctx<MaelstromTimer>, _: Option<NoState>) {
        let first_client = self.servers.iter().max().is_some_and(|s| self.me == s + 1);
        if self.kind == Kind::Broadcast && first_client {
            let edges = topology(self.workload.topology.as_deref(), &self.servers).expect("validated in new");
            let named: serde_json::Map<String, Value> = edges
                .iter()
                .map(|(k, ns)| {
                    (super::server_name(*k), json!(ns.iter().map(|n| super::server_name(*n)).collect::<Vec<_>>()))
                })
                .collect();
            for server in self.servers.clone() {
                self.msg_id += 1;
                ctx.send(server, &Body(json!({"type": "topology", "msg_id": self.msg_id, "topology": named})));
            }
        }
        if self.more() {
            ctx.set_timer(MaelstromTimer::Next, self.workload.start_after.as_nanos() as Nanos);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<MaelstromTimer>, _from: NodeId, body: Body) {
        let Some(p) = &self.pending else { return };
        if body.id("in_reply_to") != Some(p.id) {
            return; // a late reply to an operation already completed `info`
        }
        if body.type_name() == "error" {
            let code = body.0.get("code").cloned().unwrap_or(Value::Null);
            let text = body.0.get("text").cloned().unwrap_or(Value::Null);
            return self.complete(ctx, "fail", json!({"code": code, "text": text}));
        }
        let value = match p.f {
            "echo" => body.0.get("echo").cloned().unwrap_or(Value::Null),
            "generate" => body.0.get("id").cloned().unwrap_or(Value::Null),
            "read" if self.kind == Kind::Broadcast => body.0.get("messages").cloned().unwrap_or(Value::Null),
            "read" => body.0.get("value").cloned().unwrap_or(Value::Null),
            _ => p.sent.clone(),
        };
        self.complete(ctx, "ok", value);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<MaelstromTimer>, timer: MaelstromTimer) {
        match timer {
            MaelstromTimer::Next => {
                self.next(ctx);
                self.schedule(ctx);
            }
            MaelstromTimer::Timeout => {
                let Some(p) = self.pending.clone() else { return };
                self.complete(ctx, "info", p.sent);
            }
        }
    }

    fn status(&self) -> Status {
        let role = if self.pending.is_some() { "waiting" } else { "idle" };
        Status { role: role.into(), leader: None, term: None }
    }
}

//! quorum: a replicated register per key, read and written through quorums (Attiya, Bar-Noy and
//! Dolev's ABD, multi-writer). Every server is a replica and a coordinator: a client's request
//! goes to any server, which runs the protocol among the replicas (itself included) and replies.
//!
//! Values are versioned `(n, writer)`, ordered by `n` then by the writer's id. The rules:
//! - **put**: query R replicas for their version of the key; write `(max + 1, me)` to W replicas
//!   and answer once W acknowledged it.
//! - **get**: query R replicas, take the highest version; with `write_back` (ABD's read phase 2)
//!   write it to W replicas before answering, so that no later read returns an older value.
//! - **replica**: answers a query with its version and value; keeps a stored value only if its
//!   version is above the one it holds; acknowledges every store.
//! - cas and append are `Rejected`: a register without consensus cannot read-modify-write
//!   atomically.
//!
//! Properties: with R + W > N (every read quorum meets every write quorum) and write-back, the
//! history is linearizable; without write-back two reads can see new then old; with R + W ≤ N a
//! read can miss a completed write (`quorums_intersect`). A retried put is answered from the
//! coordinator's session table, not written twice (`exactly_once`). Cost per phase: N − 1
//! requests and N − 1 replies, 2(N − 1); a put and a read with write-back take two phases,
//! 4(N − 1). Replicas persist their registers before acknowledging a store.

use crate::algorithm::{ClientFactory, Family, Params, PropertyInfo, Spec};
use crate::check::election::shown;
use crate::check::service::{exactly_once, linearizable, operations_complete, ServiceEvent};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, MS};
use crate::core::trace::What;
use crate::service::{client, Command, Outcome, Reply, Request};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuorumParams {
    /// Replicas a read (and a put's first phase) waits for; `None`: a majority.
    pub r: Option<usize>,
    /// Replicas a store waits for; `None`: a majority.
    pub w: Option<usize>,
    /// ABD's read phase 2: a get writes the value it returns back to W replicas first.
    pub write_back: bool,
    /// A phase not answered by its quorum within this resends to the replicas not yet heard from.
    pub timeout_ms: u64,
    /// `operations_complete`'s bound.
    pub complete_within_ms: u64,
}

impl Default for QuorumParams {
    fn default() -> Self {
        QuorumParams { r: None, w: None, write_back: true, timeout_ms: 50, complete_within_ms: 1000 }
    }
}

impl QuorumParams {
    /// `(R, W)` for `n` replicas.
    pub fn quorums(&self, n: usize) -> (usize, usize) {
        let majority = n / 2 + 1;
        (self.r.unwrap_or(majority), self.w.unwrap_or(majority))
    }
}

impl Params for QuorumParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        for (key, q) in [("r", self.r), ("w", self.w)] {
            if let Some(q) = q.filter(|q| *q == 0 || *q > nodes) {
                return Err(format!("params.{key} = {q}: a quorum is between 1 and the {nodes} replicas"));
            }
        }
        if self.timeout_ms == 0 {
            return Err("params.timeout_ms must be above 0".into());
        }
        if self.complete_within_ms == 0 {
            return Err("params.complete_within_ms must be above 0".into());
        }
        Ok(())
    }
}

/// A register value's version: totally ordered, by `n` then by the writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Version {
    pub n: u64,
    pub writer: NodeId,
}

/// One register: its version and value (`None`: never written), and the put that wrote it
/// (`(client, seq)`), so that a retried put is recognised by the replicas it reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    pub version: Version,
    pub value: Option<String>,
    pub by: Option<(NodeId, u64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QuorumMsg {
    Request(Request),
    Reply(Reply),
    /// Phase 1 of coordinator operation `op`: what is your version of `key`?
    /// `put` names the put being made, `(client, seq)`, for a get `None`.
    Query {
        op: u64,
        attempt: u32,
        key: String,
        put: Option<(NodeId, u64)>,
    },
    /// `stored`: this replica has already stored a value of the put the query named.
    QueryReply {
        op: u64,
        register: Register,
        stored: bool,
    },
    /// Phase 2 of `op`: keep `register` if it is newer than yours.
    Store {
        op: u64,
        attempt: u32,
        key: String,
        register: Register,
    },
    StoreAck {
        op: u64,
    },
}

impl Message for QuorumMsg {
    fn kind(&self) -> &'static str {
        match self {
            QuorumMsg::Request(_) => "request",
            QuorumMsg::Reply(_) => "reply",
            QuorumMsg::Query { .. } => "query",
            QuorumMsg::QueryReply { .. } => "query_reply",
            QuorumMsg::Store { .. } => "store",
            QuorumMsg::StoreAck { .. } => "store_ack",
        }
    }
}

impl QuorumMsg {
    /// The coordinator operation a peer message belongs to.
    fn op(&self) -> Option<u64> {
        match self {
            QuorumMsg::Query { op, .. }
            | QuorumMsg::QueryReply { op, .. }
            | QuorumMsg::Store { op, .. }
            | QuorumMsg::StoreAck { op } => Some(*op),
            QuorumMsg::Request(_) | QuorumMsg::Reply(_) => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuorumTimer {
    /// Operation `op`'s phase was not answered by its quorum in time (`phase:<op>`).
    Phase(u64),
}

impl crate::core::process::Timer for QuorumTimer {}

/// What a coordinator records for `quorums_intersect` and the report's versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum QuorumEvent {
    /// Coordinator operation `op` (`f` get or put on `key`) sent its first query.
    Begin { op: u64, f: String, key: String },
    /// `op` answered: `version` is what it read (get) or wrote (put); `queried` the replicas whose
    /// replies phase 1 used, `stored` those that acknowledged phase 2 (empty: no phase 2).
    Done { op: u64, f: String, key: String, version: Version, queried: Vec<NodeId>, stored: Vec<NodeId> },
}

impl Event for QuorumEvent {}

/// A replica's registers and a coordinator's counters, persisted: a register is persisted before
/// its store is acknowledged, and the counters before an operation or a version is used, so that a
/// restarted server neither forgets an acknowledged value nor reuses an op id or a version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuorumState {
    pub registers: BTreeMap<String, Register>,
    /// The last coordinator operation id used.
    pub ops: u64,
    /// The highest `n` this coordinator wrote with.
    pub wrote: u64,
    /// Per client: the highest seq of its puts this replica has been sent a store of.
    #[serde(with = "pairs")]
    pub stored: BTreeMap<NodeId, u64>,
    /// Puts answered (the index of `applied` events).
    pub applied: u64,
    /// Per client: the last seq answered and its reply.
    #[serde(with = "pairs")]
    pub sessions: BTreeMap<NodeId, Reply>,
}

/// A map with integer keys as a list of `[key, value]` pairs, which JSON (a trace, a state shown
/// to a person) can hold.
mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<V: Serialize, S: Serializer>(map: &BTreeMap<u32, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, V: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, V>, D::Error> {
        Ok(Vec::<(u32, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Where an operation is.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Collecting query replies: replica → its register, and whether it stored this put already.
    Query(BTreeMap<NodeId, (Register, bool)>),
    /// Collecting store acks for `register`; `queried` is phase 1's repliers.
    Store { register: Register, queried: Vec<NodeId>, acked: BTreeSet<NodeId> },
}

#[derive(Clone, Debug, PartialEq)]
struct Operation {
    request: Request,
    from: NodeId,
    attempt: u32,
    phase: Phase,
}

pub struct QuorumServer {
    me: NodeId,
    peers: Vec<NodeId>,
    r: usize,
    w: usize,
    write_back: bool,
    timeout: Nanos,
    state: QuorumState,
    /// Operations in progress, by op id.
    ops: BTreeMap<u64, Operation>,
}

impl QuorumServer {
    pub fn new(me: NodeId, peers: &[NodeId], params: &QuorumParams) -> QuorumServer {
        let (r, w) = params.quorums(peers.len() + 1);
        QuorumServer {
            me,
            peers: peers.to_vec(),
            r,
            w,
            write_back: params.write_back,
            timeout: params.timeout_ms * MS,
            state: QuorumState::default(),
            ops: BTreeMap::new(),
        }
    }

    /// This replica's register for `key`.
    pub fn register(&self, key: &str) -> Register {
        self.state.registers.get(key).cloned().unwrap_or_default()
    }

    /// Whether this replica has been sent a store of `put`.
    fn has_stored(&self, put: Option<(NodeId, u64)>) -> bool {
        put.is_some_and(|(client, seq)| self.state.stored.get(&client).is_some_and(|s| *s >= seq))
    }

    /// The put a request makes, `(client, seq)`; `None` for a get.
    fn put_of(request: &Request) -> Option<(NodeId, u64)> {
        matches!(request.command, Command::Put { .. }).then_some((request.client, request.seq))
    }

    /// Records the store of `register` for `key`, keeping it if it is newer than the one held.
    fn keep(&mut self, key: &str, register: &Register) {
        if let Some((client, seq)) = register.by {
            let last = self.state.stored.entry(client).or_default();
            *last = (*last).max(seq);
        }
        let held = self.state.registers.entry(key.to_string()).or_default();
        if register.version > held.version {
            *held = register.clone();
        }
    }

    fn reply(&mut self, ctx: &mut Ctx<QuorumTimer>, to: NodeId, seq: u64, outcome: Outcome) {
        ctx.send(to, &QuorumMsg::Reply(Reply { seq, outcome }));
    }

    fn on_request(&mut self, ctx: &mut Ctx<QuorumTimer>, from: NodeId, request: Request) {
        if let Some(last) = self.state.sessions.get(&request.client) {
            if last.seq == request.seq {
                let last = last.clone();
                ctx.send(from, &QuorumMsg::Reply(last));
                return;
            }
            if request.seq < last.seq {
                let reason = format!(
                    "stale request: client {} seq {} is older than its last answered seq {}",
                    request.client, request.seq, last.seq
                );
                self.reply(ctx, from, request.seq, Outcome::Rejected { reason });
                return;
            }
        }
        if self.ops.values().any(|o| o.request.client == request.client && o.request.seq == request.seq) {
            return; // a retry of an operation in progress here: it will be answered when done
        }
        let key = match &request.command {
            Command::Get { key } | Command::Put { key, .. } => key.clone(),
            other => {
                let reason = format!(
                    "{} is not supported: a quorum register without consensus cannot read-modify-write atomically; use get and put",
                    other.f()
                );
                self.reply(ctx, from, request.seq, Outcome::Rejected { reason });
                return;
            }
        };
        self.state.ops += 1;
        let op = self.state.ops;
        ctx.persist(&self.state);
        ctx.emit(&QuorumEvent::Begin { op, f: request.command.f().into(), key: key.clone() });
        let mine = BTreeMap::from([(self.me, (self.register(&key), self.has_stored(Self::put_of(&request))))]);
        self.ops.insert(op, Operation { request, from, attempt: 1, phase: Phase::Query(mine) });
        self.send_phase(ctx, op, None);
        self.advance(ctx, op);
    }

    /// Sends operation `op`'s current phase to the replicas in `to` (`None`: every peer not yet
    /// heard from) and sets its timer.
    fn send_phase(&mut self, ctx: &mut Ctx<QuorumTimer>, op: u64, to: Option<Vec<NodeId>>) {
        let Some(o) = self.ops.get(&op) else { return };
        let key = o.request.command.key().to_string();
        let heard: BTreeSet<NodeId> = match &o.phase {
            Phase::Query(replies) => replies.keys().copied().collect(),
            Phase::Store { acked, .. } => acked.clone(),
        };
        let to = to.unwrap_or_else(|| self.peers.iter().copied().filter(|p| !heard.contains(p)).collect());
        let msg = match &o.phase {
            Phase::Query(_) => QuorumMsg::Query { op, attempt: o.attempt, key, put: Self::put_of(&o.request) },
            Phase::Store { register, .. } => {
                QuorumMsg::Store { op, attempt: o.attempt, key, register: register.clone() }
            }
        };
        for p in to {
            ctx.send(p, &msg);
        }
        ctx.set_timer(QuorumTimer::Phase(op), self.timeout);
    }

    /// Moves `op` on if its phase has its quorum: from the query to the store, or to the answer.
    fn advance(&mut self, ctx: &mut Ctx<QuorumTimer>, op: u64) {
        let Some(o) = self.ops.get(&op) else { return };
        match &o.phase {
            Phase::Query(replies) if replies.len() >= self.r => {
                let highest = replies.values().map(|(r, _)| r).max_by_key(|r| r.version).cloned().unwrap_or_default();
                let queried: Vec<NodeId> = replies.keys().copied().collect();
                // A retried put that a replica stored already (from a coordinator that failed, or
                // a read's write-back of it) is not written again with a new version: that would
                // make it take effect twice. Its phase 2 writes back the highest instead.
                let retried = replies.values().any(|(_, stored)| *stored);
                let register = match &o.request.command {
                    Command::Put { .. } if retried => highest,
                    Command::Put { value, .. } => {
                        // Above every version it was told of, and above every one it wrote before.
                        let n = highest.version.n.max(self.state.wrote) + 1;
                        self.state.wrote = n;
                        ctx.persist(&self.state);
                        let by = Self::put_of(&o.request);
                        Register { version: Version { n, writer: self.me }, value: Some(value.clone()), by }
                    }
                    _ if self.write_back => highest,
                    _ => return self.finish(ctx, op, highest, queried, vec![]),
                };
                let key = o.request.command.key().to_string();
                let o = self.ops.get_mut(&op).expect("looked up above");
                o.attempt = 1;
                o.phase = Phase::Store { register: register.clone(), queried, acked: BTreeSet::from([self.me]) };
                self.keep(&key, &register);
                ctx.persist(&self.state);
                self.send_phase(ctx, op, None);
                self.advance(ctx, op);
            }
            Phase::Store { register, queried, acked } if acked.len() >= self.w => {
                let (register, queried, stored) = (register.clone(), queried.clone(), acked.iter().copied().collect());
                self.finish(ctx, op, register, queried, stored);
            }
            _ => {}
        }
    }

    /// Answers `op` with `register` (a get's value; a put's is `None`).
    fn finish(
        &mut self,
        ctx: &mut Ctx<QuorumTimer>,
        op: u64,
        register: Register,
        queried: Vec<NodeId>,
        stored: Vec<NodeId>,
    ) {
        let Some(o) = self.ops.remove(&op) else { return };
        ctx.cancel_timer(QuorumTimer::Phase(op));
        let command = &o.request.command;
        let value = match command {
            Command::Get { .. } => register.value.clone(),
            _ => None,
        };
        ctx.emit(&QuorumEvent::Done {
            op,
            f: command.f().into(),
            key: command.key().into(),
            version: register.version,
            queried,
            stored,
        });
        let reply = Reply { seq: o.request.seq, outcome: Outcome::Ok { value } };
        if let Command::Put { .. } = command {
            self.state.applied += 1;
            ctx.emit(&ServiceEvent::Applied {
                index: self.state.applied,
                client: o.request.client,
                seq: o.request.seq,
                f: command.f().into(),
                key: command.key().into(),
            });
        }
        self.state.sessions.insert(o.request.client, reply.clone());
        ctx.persist(&self.state);
        ctx.send(o.from, &QuorumMsg::Reply(reply));
    }
}

impl Process for QuorumServer {
    type Msg = QuorumMsg;
    type Timer = QuorumTimer;
    type Durable = QuorumState;

    fn on_start(&mut self, _ctx: &mut Ctx<QuorumTimer>, recovered: Option<QuorumState>) {
        self.state = recovered.unwrap_or_default();
        self.ops.clear();
    }

    fn on_message(&mut self, ctx: &mut Ctx<QuorumTimer>, from: NodeId, msg: QuorumMsg) {
        match msg {
            QuorumMsg::Request(request) => self.on_request(ctx, from, request),
            QuorumMsg::Reply(_) => {}
            QuorumMsg::Query { op, key, put, .. } => {
                let register = self.register(&key);
                let stored = self.has_stored(put);
                ctx.send(from, &QuorumMsg::QueryReply { op, register, stored });
            }
            QuorumMsg::Store { op, key, register, .. } => {
                self.keep(&key, &register);
                ctx.persist(&self.state);
                ctx.send(from, &QuorumMsg::StoreAck { op });
            }
            QuorumMsg::QueryReply { op, register, stored } => {
                if let Some(Operation { phase: Phase::Query(replies), .. }) = self.ops.get_mut(&op) {
                    replies.insert(from, (register, stored));
                    self.advance(ctx, op);
                }
            }
            QuorumMsg::StoreAck { op } => {
                if let Some(Operation { phase: Phase::Store { acked, .. }, .. }) = self.ops.get_mut(&op) {
                    acked.insert(from);
                    self.advance(ctx, op);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<QuorumTimer>, timer: QuorumTimer) {
        let QuorumTimer::Phase(op) = timer;
        if let Some(o) = self.ops.get_mut(&op) {
            o.attempt += 1;
            self.send_phase(ctx, op, None);
        }
    }

    fn status(&self) -> Status {
        Status { role: "replica".into(), leader: None, term: None }
    }
}

pub struct Quorum;

impl Spec for Quorum {
    const NAME: &'static str = "quorum";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "quorum registers (ABD): versioned values read from R and written to W replicas, with write-back";
    type Params = QuorumParams;
    const CLIENT: Option<ClientFactory> = Some(client::kv_client);

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo { name: "linearizable", promise: "the clients' history is linearizable (model kv)" },
            PropertyInfo { name: "exactly_once", promise: "no server answers a client's put twice with two versions" },
            PropertyInfo {
                name: "operations_complete",
                promise: "with a connected majority of servers, every operation completes within complete_within_ms",
            },
            PropertyInfo {
                name: "quorums_intersect",
                promise:
                    "with R + W > N, no operation's R replies miss every replica of a write completed before it began",
            },
            PropertyInfo {
                name: "message_cost",
                promise: "each phase attempt sends at most N − 1 requests (2(N − 1) messages a phase with the replies)",
            },
        ]
    }

    fn build(me: NodeId, peers: &[NodeId], params: &QuorumParams) -> Result<impl Process, String> {
        Ok(QuorumServer::new(me, peers, params))
    }

    fn check(exec: &Execution, params: &QuorumParams) -> CheckReport {
        let n = exec.nodes.len();
        let (cost, metric) = message_cost(exec, n);
        let mut report = CheckReport {
            properties: vec![
                linearizable(exec),
                exactly_once(exec),
                operations_complete(exec, params.complete_within_ms * MS),
                quorums_intersect(exec, params, n),
                cost,
            ],
            ..Default::default()
        };
        report.metrics.insert("messages_per_operation".into(), metric);
        report
    }
}

/// A completed operation, as its coordinator recorded it.
struct Done {
    node: NodeId,
    began: Nanos,
    at: Nanos,
    f: String,
    key: String,
    version: Version,
    queried: Vec<NodeId>,
    stored: Vec<NodeId>,
    evidence: EventRef,
}

fn completed(run: &Execution) -> Vec<Done> {
    let mut began: BTreeMap<(NodeId, u64), Nanos> = BTreeMap::new();
    let mut done = vec![];
    for r in &run.records {
        match r.event_as::<QuorumEvent>() {
            Some(QuorumEvent::Begin { op, .. }) => {
                began.insert((r.node, op), r.t);
            }
            Some(QuorumEvent::Done { op, f, key, version, queried, stored }) => done.push(Done {
                node: r.node,
                began: began.get(&(r.node, op)).copied().unwrap_or(r.t),
                at: r.t,
                f,
                key,
                version,
                queried,
                stored,
                evidence: EventRef::of(r),
            }),
            None => {}
        }
    }
    done
}

/// Judged from the coordinators' `done` events: an operation that began after a write (a put, or
/// a read's write-back) had completed on its key must read a version at least as high. With
/// R + W ≤ N a miss is the expected failure; without one, the property is `not_promised`.
fn quorums_intersect(run: &Execution, params: &QuorumParams, n: usize) -> PropertyResult {
    const NAME: &str = "quorums_intersect";
    let (r, w) = params.quorums(n);
    let done = completed(run);
    let mut judged = 0;
    for op in &done {
        let earlier = done.iter().filter(|d| d.key == op.key && !d.stored.is_empty() && d.at < op.began);
        let Some(latest) = earlier.max_by_key(|d| d.version) else { continue };
        judged += 1;
        if op.version < latest.version {
            let detail = format!(
                "a {} of {} at server {} ({:.1} ms) read version {}.{} from replicas {:?}, which miss every replica {:?} of version {}.{} completed at {:.1} ms: R = {r} + W = {w} {} N = {n}, reads may miss the latest write",
                op.f,
                op.key,
                op.node,
                run.ms(op.began),
                op.version.n,
                op.version.writer,
                op.queried,
                latest.stored,
                latest.version.n,
                latest.version.writer,
                run.ms(latest.at),
                if r + w > n { ">" } else { "≤" },
            );
            return PropertyResult::violated(NAME, detail, vec![latest.evidence.clone(), op.evidence.clone()]);
        }
    }
    if r + w <= n {
        return PropertyResult::not_promised(
            NAME,
            format!("R = {r} + W = {w} ≤ N = {n}: reads may miss the latest write (none of {judged} did in this run)"),
        );
    }
    if judged == 0 {
        return PropertyResult::unknown(
            NAME,
            "nothing to judge: no operation began after a write completed on its key",
        );
    }
    PropertyResult::held(
        NAME,
        judged,
        "operation after a completed write",
        format!("R = {r} + W = {w} > N = {n}: {judged} operations each read at least the latest completed write"),
    )
}

/// Per coordinator operation, its phase requests by attempt and the replies to them; each phase
/// attempt is held to N − 1 requests (replies are counted, not limited: a duplicated request is
/// rightly answered twice).
/// The metric is the mean messages per answered put and get against the textbook 2(N − 1) a
/// phase.
fn message_cost(run: &Execution, n: usize) -> (PropertyResult, serde_json::Value) {
    const NAME: &str = "message_cost";
    #[derive(Default)]
    struct Cost {
        requests: BTreeMap<(&'static str, u32), u64>,
        replies: u64,
        evidence: Vec<EventRef>,
    }
    // (coordinator, op) → its cost; a reply's coordinator is its receiver.
    let mut per: BTreeMap<(NodeId, u64), Cost> = BTreeMap::new();
    for r in &run.records {
        let What::Send { to, .. } = &r.what else { continue };
        let Some(msg) = shown::<QuorumMsg>(r) else { continue };
        let Some(op) = msg.op() else { continue };
        match msg {
            QuorumMsg::Query { attempt, .. } | QuorumMsg::Store { attempt, .. } => {
                let c = per.entry((r.node, op)).or_default();
                *c.requests.entry((msg.kind(), attempt)).or_default() += 1;
                c.evidence.push(EventRef::of(r));
            }
            _ => per.entry((*to, op)).or_default().replies += 1,
        }
    }
    let peers = n.saturating_sub(1) as u64;
    let mut totals: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let kinds: BTreeMap<(NodeId, u64), String> = run
        .records
        .iter()
        .filter_map(|r| match r.event_as::<QuorumEvent>() {
            Some(QuorumEvent::Begin { op, f, .. }) => Some(((r.node, op), f)),
            _ => None,
        })
        .collect();
    let answered: BTreeSet<(NodeId, u64)> = run
        .records
        .iter()
        .filter_map(|r| match r.event_as::<QuorumEvent>() {
            Some(QuorumEvent::Done { op, .. }) => Some((r.node, op)),
            _ => None,
        })
        .collect();
    for ((node, op), c) in &mut per {
        for ((kind, attempt), sent) in &c.requests {
            if *sent > peers {
                let detail = format!(
                    "server {node}'s operation {op} sent {sent} `{kind}` messages in attempt {attempt}, above N − 1 = {peers}"
                );
                return (PropertyResult::violated(NAME, detail, std::mem::take(&mut c.evidence)), json!(null));
            }
        }
        if !answered.contains(&(*node, *op)) {
            continue; // cut short by a crash or the run's end: not an operation's whole cost
        }
        let f = match kinds.get(&(*node, *op)).map(String::as_str) {
            Some("put") => "put",
            _ => "get",
        };
        let total = totals.entry(f).or_default();
        total.0 += 1;
        total.1 += c.requests.values().sum::<u64>() + c.replies;
    }
    if per.is_empty() {
        let reason = "nothing to judge: no operation sent a phase message";
        return (PropertyResult::unknown(NAME, reason), json!(null));
    }
    let mean = |f: &str| totals.get(f).map(|(ops, msgs)| *msgs as f64 / *ops as f64);
    let metric = json!({
        "put": mean("put"),
        "get": mean("get"),
        "operations": per.len(),
        "textbook": {"per_phase": 2 * peers, "put": 4 * peers, "get_with_write_back": 4 * peers, "get": 2 * peers},
    });
    let show = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
    let detail = format!(
        "{} operations within N − 1 requests a phase attempt; mean messages per put {}, per get {} (textbook 2(N − 1) = {} a phase)",
        per.len(),
        show(mean("put")),
        show(mean("get")),
        2 * peers
    );
    (PropertyResult::held(NAME, per.len(), "operation with phase messages", detail), metric)
}

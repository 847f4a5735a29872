//! The coordination service's client: a session, kept alive by pings, attached to one server at a
//! time, and the seeded workload of [`crate::service::client::Workload`] as znode operations.
//!
//! - At `start_after` the client opens a session (id: its node id and a number from its RNG)
//!   with the workload's `session_timeout`, at a random server.
//! - It pings its server a third of the timeout apart; a server it has heard nothing from for
//!   two thirds of the timeout, or that says it cannot serve (at most once per operation
//!   timeout: during an election every server says so), is left for another one (the same
//!   session, the operation in flight sent again with its seq). An operation unanswered for the
//!   workload's `timeout` is sent again: to the same server if it answered anything within the
//!   last third of the session timeout (alive, only slow), else at another server.
//! - An operation's request carries the last zxid the client saw (replies and notifications), so
//!   no server answers it from an older state.
//! - SetWatches: the client keeps the watches it left and has not heard fire (each with the
//!   server it left it at); when it moves to another server it sends them there with the last
//!   zxid it saw, again with each ping until the server answers `watches_set`, and the server
//!   fires at once those whose znode changed since (ZooKeeper's SetWatches). A notification for a
//!   watch it does not hold (a stale copy left at a server it came back to) is dropped.
//! - An expired session fails its operation (`expired`), or is told by a ping's answer when
//!   nothing is in flight; the client opens a new one (`session_lost`).
//! - The workload's mix, on paths `/k1` … `/k<keys>`: `get` reads (leaving a watch one time in
//!   two), `put` sets (and creates the znode if it is absent), `cas` syncs, `append` creates an
//!   ephemeral sequential child.
//!
//! - A recipe ([`super::recipes`]) can take the workload's place: a [`Driver`] then says which
//!   operation comes next and hears every completion, notification and lost session; the
//!   session, its pings, reconnections and retries stay the client's.
//!
//! Traced: `zk_invoke` and `zk_done` per operation (with the zxid it completed at), `zk_watch`
//! per notification, `session_opened`, `reconnected`: the checker's history. Without a recipe,
//! also the history convention's `op` events for the writes a `znode` model judges ([`history_op`]):
//! `create` (not sequential), `set` and `delete`, keyed by path, with the expected version and
//! a set's version after; reads are left out (served locally, they may be stale by design).

use super::service::{Call, ZkEvent, ZkOutcome, ZkReply, ZkRequest};
use super::tree::{EventKind, SessionId, TreeOp, TreeResult, WatchList};
use crate::core::process::{Ctx, DynProcess, Hosted, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::service::client::{ClientEvent, Mix, Workload};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

/// The messages a client exchanges with a coordination server (the service convention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZkClientMsg {
    Request(ZkRequest),
    Reply(ZkReply),
}

impl Message for ZkClientMsg {
    fn kind(&self) -> &'static str {
        match self {
            ZkClientMsg::Request(_) => "request",
            ZkClientMsg::Reply(_) => "reply",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkTimer {
    Next,
    Retry,
    Ping,
    /// The recipe's own timer (see [`Driver::timer`]).
    Recipe,
}

impl Timer for ZkTimer {}

/// What drives a client's operations in the workload's place: a recipe (see [`super::recipes`]).
/// The client asks [`Driver::next`] whenever it has no operation in flight, and again after each
/// of the other calls.
pub trait Driver {
    /// The operation to issue now, if the recipe has one.
    fn next(&mut self, ctx: &mut Ctx<ZkTimer>) -> Option<Call>;
    /// The recipe's operation `call` completed at `zxid` (never `Expired`: that is
    /// [`Driver::session_lost`]).
    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, call: &Call, zxid: u64, outcome: &ZkOutcome);
    /// A watch the session left fired.
    fn watch(&mut self, ctx: &mut Ctx<ZkTimer>, path: &str, kind: EventKind);
    /// [`ZkTimer::Recipe`] fired.
    fn timer(&mut self, ctx: &mut Ctx<ZkTimer>);
    /// The session expired (its ephemerals and watches are gone); a new one is being opened.
    fn session_lost(&mut self, ctx: &mut Ctx<ZkTimer>);
    /// The session moved to another server (the client sends its watches there: SetWatches).
    fn moved(&mut self, _ctx: &mut Ctx<ZkTimer>) {}
}

/// The session timeout when the workload names none.
pub const DEFAULT_SESSION_MS: u64 = 1000;

/// A watch's sort, as SetWatches carries it (see [`WatchList`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Sort {
    Data,
    Exist,
    Child,
}

#[derive(Clone, Debug)]
struct Pending {
    seq: u64,
    call: Call,
    by_hand: bool,
}

pub struct ZkClient {
    me: NodeId,
    servers: Vec<NodeId>,
    workload: Workload,
    session_ms: u64,
    session: Option<SessionId>,
    /// Opening the session is under way.
    opening: bool,
    server: NodeId,
    seq: u64,
    /// The last zxid seen, packed.
    seen: u64,
    heard: Nanos,
    pending: Option<Pending>,
    queued: VecDeque<(Call, bool)>,
    issued: u64,
    hand_given: u64,
    hand_done: u64,
    last_by_hand: Option<String>,
    notifications: Vec<String>,
    /// The recipe in the workload's place, if any.
    driver: Option<Box<dyn Driver>>,
    /// The watches the session left and has not heard fire: the server each was left at, and the
    /// zxid of the state it was left on.
    watches: BTreeMap<(String, Sort), (NodeId, u64)>,
    /// The current server has not answered the SetWatches sent it yet.
    rewatch: bool,
    /// When the session last moved (`None`: never).
    moved_at: Option<Nanos>,
}

/// The [`crate::algorithm::Spec::CLIENT`] of `coordination`.
pub fn zk_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    if workload.recipe.is_some() {
        return Err("workload.recipe: coordination runs the workload's mix; a recipe is an algorithm of its own (zk-lock, zk-counter, zk-election, zk-members)".into());
    }
    Ok(Hosted::boxed(ZkClient::new(me, servers, workload.clone())?))
}

impl ZkClient {
    pub fn new(me: NodeId, servers: &[NodeId], workload: Workload) -> Result<ZkClient, String> {
        workload.validate()?;
        if servers.is_empty() {
            return Err("workload: a client needs at least one server".into());
        }
        let session_ms = workload.session_timeout.map_or(DEFAULT_SESSION_MS, |d| d.as_millis() as u64);
        if session_ms < 30 {
            return Err(format!("workload.session_timeout ({session_ms} ms) must be at least 30 ms"));
        }
        Ok(ZkClient {
            me,
            servers: servers.to_vec(),
            workload,
            session_ms,
            session: None,
            opening: false,
            server: servers[0],
            seq: 0,
            seen: 0,
            heard: 0,
            pending: None,
            queued: VecDeque::new(),
            issued: 0,
            hand_given: 0,
            hand_done: 0,
            last_by_hand: None,
            notifications: Vec::new(),
            driver: None,
            watches: BTreeMap::new(),
            rewatch: false,
            moved_at: None,
        })
    }

    /// The session open now, if any.
    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    /// The seq of the operation in flight, if any.
    pub fn in_flight(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.seq)
    }

    /// The client with `driver` in the workload's place (its mix is not drawn from).
    pub fn with_driver(mut self, driver: Box<dyn Driver>) -> ZkClient {
        self.driver = Some(driver);
        self
    }

    fn other_server(&self, ctx: &mut Ctx<ZkTimer>) -> NodeId {
        let others: Vec<NodeId> = self.servers.iter().copied().filter(|s| *s != self.server).collect();
        let from = if others.is_empty() { &self.servers } else { &others };
        from[ctx.rng().random_range(0..from.len())]
    }

    fn request(&self, seq: u64, call: Call) -> Option<ZkRequest> {
        Some(ZkRequest { client: self.me, session: self.session?, seq, seen: self.seen, call })
    }

    fn send_pending(&mut self, ctx: &mut Ctx<ZkTimer>) {
        let Some(p) = &self.pending else { return };
        if let Some(r) = self.request(p.seq, p.call.clone()) {
            ctx.send(self.server, &ZkClientMsg::Request(r));
        }
        ctx.set_timer(ZkTimer::Retry, self.workload.timeout.as_nanos() as Nanos);
    }

    /// A read that left a watch completed at `zxid`: the watch, by the sort its answer tells.
    fn note_watch(&mut self, call: &Call, zxid: u64, outcome: &ZkOutcome) {
        let ZkOutcome::Done(result) = outcome else { return };
        let sort = match (call, result) {
            (Call::Op(TreeOp::Exists { watch: true, .. }), TreeResult::Stat { .. }) => Sort::Data,
            (Call::Op(TreeOp::Exists { watch: true, .. }), TreeResult::NoNode { .. }) => Sort::Exist,
            (Call::Op(TreeOp::Get { watch: true, .. }), TreeResult::Data { .. }) => Sort::Data,
            (Call::Op(TreeOp::Children { watch: true, .. }), TreeResult::Children { .. }) => Sort::Child,
            _ => return,
        };
        self.watches.insert((call.path().to_string(), sort), (self.server, zxid));
    }

    /// The watch a notification of the change `zxid` fired, taken off the list: the server it
    /// was left at; `None` if the session holds no such watch left before that change (a stale
    /// copy's notification, from a server the client came back to).
    fn take_watch(&mut self, path: &str, kind: EventKind, zxid: u64) -> Option<NodeId> {
        let sorts: &[Sort] = match kind {
            EventKind::NodeCreated => &[Sort::Exist, Sort::Data],
            EventKind::NodeDataChanged => &[Sort::Data, Sort::Exist],
            EventKind::NodeChildrenChanged => &[Sort::Child],
            EventKind::NodeDeleted => &[Sort::Data, Sort::Child],
        };
        let key = sorts
            .iter()
            .map(|sort| (path.to_string(), *sort))
            .find(|key| self.watches.get(key).is_some_and(|(_, left_on)| *left_on < zxid))?;
        self.watches.remove(&key).map(|(server, _)| server)
    }

    /// Sends the current server the session's watches (SetWatches), if it holds any.
    fn send_watches(&mut self, ctx: &mut Ctx<ZkTimer>) {
        let mut list = WatchList::default();
        for (path, sort) in self.watches.keys() {
            let to = match sort {
                Sort::Data => &mut list.data,
                Sort::Exist => &mut list.exist,
                Sort::Child => &mut list.child,
            };
            to.push(path.clone());
        }
        self.rewatch = !list.is_empty();
        if let Some(r) = self.request(0, Call::SetWatches(list)).filter(|_| self.rewatch) {
            ctx.send(self.server, &ZkClientMsg::Request(r));
        }
    }

    fn open(&mut self, ctx: &mut Ctx<ZkTimer>) {
        // A new session: the old one's watches went with it.
        self.watches.clear();
        self.rewatch = false;
        let session = ((self.me as u64) << 32) | ctx.rng().random::<u32>() as u64;
        self.session = Some(session);
        self.opening = true;
        self.seq += 1;
        self.pending =
            Some(Pending { seq: self.seq, call: Call::Open { timeout_ms: self.session_ms }, by_hand: false });
        self.send_pending(ctx);
        ctx.set_timer(ZkTimer::Ping, self.session_ms * MS / 3);
        self.heard = ctx.now();
    }

    fn more_workload(&self) -> bool {
        self.workload.ops.is_none_or(|n| self.issued < n)
    }

    fn draw(&mut self, ctx: &mut Ctx<ZkTimer>) -> Call {
        let Mix { get, put, cas, append } = self.workload.mix;
        let path = format!("/{}", self.workload.key(ctx.rng().random_range(0..self.workload.keys)));
        let data = format!("c{}-{}", self.me, self.seq + 1);
        let mut pick = ctx.rng().random::<f64>() * (get + put + cas + append);
        for (weight, f) in [(get, 0), (put, 1), (cas, 2), (append, 3)] {
            if pick < weight {
                return match f {
                    0 => Call::Op(TreeOp::Get { path, watch: ctx.rng().random::<bool>() }),
                    1 => Call::Op(TreeOp::Set { path, data, version: None }),
                    2 => Call::Sync,
                    _ => {
                        Call::Op(TreeOp::Create { path: format!("{path}-e"), data, ephemeral: true, sequential: true })
                    }
                };
            }
            pick -= weight;
        }
        Call::Sync
    }

    /// Starts the next operation: one given by hand first, else the workload's.
    fn next(&mut self, ctx: &mut Ctx<ZkTimer>) {
        if self.pending.is_some() || self.session.is_none() || self.opening {
            return;
        }
        let (call, by_hand) = match self.queued.pop_front() {
            Some(q) => q,
            None if self.driver.is_some() => match self.driver.as_mut().and_then(|d| d.next(ctx)) {
                Some(call) => (call, false),
                None => return,
            },
            None if self.more_workload() => {
                self.issued += 1;
                (self.draw(ctx), false)
            }
            None => return,
        };
        self.seq += 1;
        let session = self.session.unwrap_or_default();
        let (f, path) = (call.f().to_string(), call.path().to_string());
        if let (None, Some((f, value))) = (&self.driver, history_op(&call)) {
            ctx.emit(&ClientEvent::Op { kind: "invoke".into(), f: f.into(), key: path.clone(), value });
        }
        ctx.emit(&ZkEvent::ZkInvoke { session, seq: self.seq, f, path });
        self.pending = Some(Pending { seq: self.seq, call, by_hand });
        self.send_pending(ctx);
    }

    /// Moves the session to another server (or `to`), sending the operation in flight again.
    fn reconnect(&mut self, ctx: &mut Ctx<ZkTimer>, to: Option<NodeId>, why: &str) {
        let to = to.filter(|t| self.servers.contains(t) && *t != self.server).unwrap_or_else(|| self.other_server(ctx));
        if let Some(session) = self.session {
            ctx.emit(&ZkEvent::Reconnected { session, from: self.server, to, why: why.into() });
        }
        self.server = to;
        self.heard = ctx.now();
        self.moved_at = Some(ctx.now());
        self.send_watches(ctx);
        self.send_pending(ctx);
        if let Some(driver) = self.driver.as_mut() {
            driver.moved(ctx);
            self.next(ctx);
        }
    }

    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, zxid: u64, outcome: ZkOutcome) {
        let Some(p) = self.pending.take() else { return };
        ctx.cancel_timer(ZkTimer::Retry);
        let session = self.session.unwrap_or_default();
        if let Call::Open { .. } = p.call {
            self.opening = false;
            if outcome == ZkOutcome::Opened {
                ctx.emit(&ZkEvent::SessionOpened { session, server: self.server });
            }
            return self.next(ctx);
        }
        let ok = !matches!(
            outcome,
            ZkOutcome::Expired
                | ZkOutcome::Done(
                    TreeResult::NoNode { .. }
                        | TreeResult::NodeExists { .. }
                        | TreeResult::BadVersion { .. }
                        | TreeResult::NotEmpty { .. }
                        | TreeResult::NoChildrenForEphemerals { .. }
                        | TreeResult::BadPath { .. }
                )
        );
        let result = match &outcome {
            ZkOutcome::Done(r) => serde_json::to_string(r).unwrap_or_default(),
            other => serde_json::to_string(other).unwrap_or_default(),
        };
        let (f, path) = (p.call.f().to_string(), p.call.path().to_string());
        if p.by_hand {
            self.hand_done += 1;
            self.last_by_hand =
                Some(format!("seq {}: {f} {path} → {} at zxid {}: {result}", p.seq, ok_word(ok), shown_zxid(zxid)));
        }
        self.note_watch(&p.call, zxid, &outcome);
        if let (None, Some((f, _))) = (&self.driver, history_op(&p.call)) {
            let (kind, value) = history_done(&outcome);
            ctx.emit(&ClientEvent::Op { kind: kind.into(), f: f.into(), key: path.clone(), value });
        }
        ctx.emit(&ZkEvent::ZkDone { session, seq: p.seq, f, path: path.clone(), zxid, ok, result });
        if let (Some(driver), false, false) = (self.driver.as_mut(), p.by_hand, outcome == ZkOutcome::Expired) {
            driver.done(ctx, &p.call, zxid, &outcome);
        }
        // A set of an absent znode creates it next (the workload's; a recipe sees to its own).
        let mine = self.driver.is_none() || p.by_hand;
        if let (true, Call::Op(TreeOp::Set { data, .. }), ZkOutcome::Done(TreeResult::NoNode { .. })) =
            (mine, &p.call, &outcome)
        {
            let create = TreeOp::Create { path, data: data.clone(), ephemeral: false, sequential: false };
            self.queued.push_front((Call::Op(create), p.by_hand));
            if p.by_hand {
                self.hand_given += 1;
            }
        }
        if outcome == ZkOutcome::Expired {
            ctx.emit(&ZkEvent::SessionLost { session });
            self.session = None;
            if let Some(driver) = self.driver.as_mut() {
                driver.session_lost(ctx);
            }
            return self.open(ctx);
        }
        match self.workload.rate_per_s {
            _ if self.driver.is_some() => self.next(ctx),
            None => self.next(ctx),
            Some(_) if !self.queued.is_empty() => self.next(ctx),
            Some(_) => {}
        }
    }
}

/// A call as the `znode` history model reads it (`f` and the invoke value), if it is one: a
/// create that is not sequential, a set, a delete.
pub fn history_op(call: &Call) -> Option<(&'static str, Value)> {
    match call {
        Call::Op(TreeOp::Create { sequential: false, .. }) => Some(("create", Value::Null)),
        Call::Op(TreeOp::Set { version, .. }) => Some(("set", json!(version))),
        Call::Op(TreeOp::Delete { version, .. }) => Some(("delete", json!(version))),
        _ => None,
    }
}

/// The history's completion of `call`: `ok` with a set's version after, `fail` for a tree
/// error (it changed nothing), `info` for an expired session (a retry of a write applied before
/// the expiry is answered so too).
fn history_done(outcome: &ZkOutcome) -> (&'static str, Value) {
    match outcome {
        ZkOutcome::Done(TreeResult::Stat { version }) => ("ok", json!(version)),
        ZkOutcome::Done(TreeResult::Created { .. } | TreeResult::Deleted) => ("ok", Value::Null),
        ZkOutcome::Done(_) => ("fail", Value::Null),
        _ => ("info", Value::Null),
    }
}

/// A packed zxid as `(epoch, counter)`.
pub fn shown_zxid(zxid: u64) -> String {
    format!("({}, {})", zxid >> 32, zxid & 0xffff_ffff)
}

fn ok_word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "fail"
    }
}

/// A by-hand command: `create PATH [DATA] [--ephemeral] [--sequential]`, `delete PATH [VERSION]`,
/// `set PATH DATA [VERSION]`, `get PATH`, `exists PATH`, `children PATH`, `sync`, `watch PATH`
/// (exists, leaving a watch).
pub fn parse_call(args: &[String]) -> Result<Call, String> {
    let flags: Vec<&str> = args.iter().map(String::as_str).filter(|a| a.starts_with("--")).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    let s = |w: &str| w.to_string();
    let version = |w: &str| w.parse::<u64>().map_err(|_| format!("version {w:?} is not a number"));
    if let Some(bad) = flags.iter().find(|f| !matches!(**f, "--ephemeral" | "--sequential")) {
        return Err(format!("unknown flag {bad}: create knows --ephemeral and --sequential"));
    }
    if !flags.is_empty() && words.first() != Some(&"create") {
        return Err("--ephemeral and --sequential are create's flags".into());
    }
    let (ephemeral, sequential) = (flags.contains(&"--ephemeral"), flags.contains(&"--sequential"));
    Ok(Call::Op(match words.as_slice() {
        ["create", path] => TreeOp::Create { path: s(path), data: String::new(), ephemeral, sequential },
        ["create", path, data] => TreeOp::Create { path: s(path), data: s(data), ephemeral, sequential },
        ["delete", path] => TreeOp::Delete { path: s(path), version: None },
        ["delete", path, v] => TreeOp::Delete { path: s(path), version: Some(version(v)?) },
        ["set", path, data] => TreeOp::Set { path: s(path), data: s(data), version: None },
        ["set", path, data, v] => TreeOp::Set { path: s(path), data: s(data), version: Some(version(v)?) },
        ["get", path] => TreeOp::Get { path: s(path), watch: false },
        ["exists", path] => TreeOp::Exists { path: s(path), watch: false },
        ["children", path] => TreeOp::Children { path: s(path), watch: false },
        ["watch", path] => TreeOp::Exists { path: s(path), watch: true },
        ["sync"] => return Ok(Call::Sync),
        _ => {
            return Err(format!(
                "unknown zk command {args:?}: create PATH [DATA] [--ephemeral] [--sequential] | delete PATH [VERSION] | set PATH DATA [VERSION] | get PATH | exists PATH | children PATH | sync | watch PATH | last | notifications"
            ))
        }
    }))
}

impl Process for ZkClient {
    type Msg = ZkClientMsg;
    type Timer = ZkTimer;
    type Durable = crate::core::process::NoState;

    fn on_start(&mut self, ctx: &mut Ctx<ZkTimer>, _: Option<crate::core::process::NoState>) {
        self.server = self.servers[ctx.rng().random_range(0..self.servers.len())];
        ctx.set_timer(ZkTimer::Next, self.workload.start_after.as_nanos() as Nanos);
    }

    fn on_message(&mut self, ctx: &mut Ctx<ZkTimer>, from: NodeId, msg: ZkClientMsg) {
        let ZkClientMsg::Reply(reply) = msg else { return };
        if from != self.server {
            return; // a server this client has left
        }
        self.heard = ctx.now();
        match reply {
            ZkReply::Watch { zxid, path, kind } => {
                let Some(set_at) = self.take_watch(&path, kind, zxid) else { return };
                self.seen = self.seen.max(zxid);
                let session = self.session.unwrap_or_default();
                self.notifications.push(format!("{kind:?} {path} at zxid {}", shown_zxid(zxid)));
                let server = self.server;
                ctx.emit(&ZkEvent::ZkWatch { session, zxid, path: path.clone(), kind, server, set_at });
                if let Some(driver) = self.driver.as_mut() {
                    driver.watch(ctx, &path, kind);
                    self.next(ctx);
                }
            }
            ZkReply::Answer { outcome: ZkOutcome::Pong, zxid, .. } => self.seen = self.seen.max(zxid),
            ZkReply::Answer { seq: 0, outcome: ZkOutcome::WatchesSet, .. } => self.rewatch = false,
            // The session expired while nothing was in flight (an operation in flight hears it
            // in its own reply).
            ZkReply::Answer { seq: 0, outcome: ZkOutcome::Expired, .. } => {
                if self.pending.is_none() && !self.opening {
                    if let Some(session) = self.session.take() {
                        ctx.emit(&ZkEvent::SessionLost { session });
                        if let Some(driver) = self.driver.as_mut() {
                            driver.session_lost(ctx);
                        }
                        self.open(ctx);
                    }
                }
            }
            ZkReply::Answer { seq, outcome: ZkOutcome::NotServing { leader }, .. } => {
                // At most one move per operation timeout: during an election every server may say
                // so, and moving at each answer would bounce the session between them at network
                // speed. A later answer waits for the retry (armed when the request was sent).
                let timeout = self.workload.timeout.as_nanos() as Nanos;
                let settled = self.moved_at.is_none_or(|t| ctx.now() >= t + timeout);
                if self.pending.as_ref().is_some_and(|p| p.seq == seq) && settled {
                    self.reconnect(ctx, leader, "not_serving");
                }
            }
            ZkReply::Answer { seq, zxid, outcome } => {
                if self.pending.as_ref().is_some_and(|p| p.seq == seq) {
                    self.seen = self.seen.max(zxid);
                    self.done(ctx, zxid, outcome);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<ZkTimer>, timer: ZkTimer) {
        match timer {
            ZkTimer::Next if self.session.is_none() => self.open(ctx),
            ZkTimer::Next => self.next(ctx),
            // A server that answered within a ping interval is alive, only slow (a loaded machine,
            // an election under way): the operation is sent to it again, the session stays.
            ZkTimer::Retry if ctx.now() < self.heard + self.session_ms * MS / 3 => self.send_pending(ctx),
            ZkTimer::Retry => self.reconnect(ctx, None, "timeout"),
            ZkTimer::Ping => {
                if ctx.now() >= self.heard + self.session_ms * MS * 2 / 3 {
                    self.reconnect(ctx, None, "silent");
                }
                if self.rewatch {
                    self.send_watches(ctx);
                }
                if let Some(r) = self.request(0, Call::Ping) {
                    ctx.send(self.server, &ZkClientMsg::Request(r));
                }
                ctx.set_timer(ZkTimer::Ping, self.session_ms * MS / 3);
            }
            ZkTimer::Recipe => {
                if let Some(driver) = self.driver.as_mut() {
                    driver.timer(ctx);
                }
                self.next(ctx);
            }
        }
        if let (ZkTimer::Next, Some(rate), None) = (timer, self.workload.rate_per_s, &self.driver) {
            if self.more_workload() {
                let gap = rand_distr::Distribution::sample(&rand_distr::Exp::new(rate).expect("validated"), ctx.rng());
                ctx.set_timer(ZkTimer::Next, (gap * 1e9) as Nanos);
            }
        }
    }

    /// `create /app1/p --ephemeral --sequential`, `children /app1`, … (see [`parse_call`]);
    /// `last` answers the last by-hand operation, `notifications` the watches that fired.
    fn on_command(&mut self, ctx: &mut Ctx<ZkTimer>, args: &[String]) -> Result<String, String> {
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["last"] => {
                let open = self.hand_given - self.hand_done;
                return match &self.last_by_hand {
                    _ if open > 0 => Ok(format!("pending: {open} of the {} operations given by hand", self.hand_given)),
                    Some(last) => Ok(last.clone()),
                    None => Err("no operation given by hand has completed".into()),
                };
            }
            ["notifications"] => return Ok(self.notifications.join("\n")),
            _ => {}
        }
        let call = parse_call(args)?;
        let text = format!("{} {}", call.f(), call.path());
        self.queued.push_back((call, true));
        self.hand_given += 1;
        self.next(ctx);
        Ok(format!("{text} given to session {:x} at server {}", self.session.unwrap_or_default(), self.server))
    }

    fn status(&self) -> Status {
        Status { role: "client".into(), leader: None, term: None }
    }
}

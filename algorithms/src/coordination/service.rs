//! The coordination service (`coordination`): ZAB ([`crate::consensus::zab`]) replicating the
//! znode tree ([`super::tree`]), with client sessions, as ZooKeeper serves it (Hunt et al.,
//! USENIX ATC 2010, §4).
//!
//! Rules, on every server:
//! - **Sessions.** A client opens a session (a write: `open`, with its timeout) and keeps it
//!   alive by pinging the server it is attached to; the server answers the ping (`expired` when it
//!   has applied as far as the client has seen and no longer has the session) and tells its
//!   leader with its next pong which sessions it heard from (the leader's own clients it notes
//!   itself). The leader expires a session it has not heard of for its timeout: the expiry is a
//!   write through ZAB like any other, which deletes the session's ephemerals (firing their
//!   watches) and drops its watches. A new leader gives every session a fresh timeout.
//! - **Writes** (create, delete, set, and `sync`) go to the leader (a follower forwards them) and
//!   are applied in zxid order everywhere; the server the client sent the request to answers it
//!   once applied, with the zxid. A retried write (same session and seq) is answered from the
//!   session table, not applied twice. A write of an expired session is refused.
//! - **Reads** (exists, get, children) are answered by the server the client is attached to,
//!   from its own tree, so they can be stale; but never older than what the client has seen: a
//!   request carries the last zxid the client saw, and a server behind it holds the read until it
//!   has applied that far. A read can leave a one-shot watch on that server.
//! - **`sync`** is a write that changes nothing: once the client's server applied it, it has
//!   applied everything committed before, so the next read is current.
//! - **Watch notifications** go from the server the watching client is attached to, in the order
//!   the transactions were applied, before the reply of the write that fired them.
//! - **A server that neither leads nor follows** refuses requests; its clients reconnect to
//!   another server within their session.
//! - **SetWatches.** A client that moved to this server sends the watches it left elsewhere and
//!   not yet heard fire, with the last zxid it saw; once this server has applied that far (held
//!   like a read), those whose znode changed since fire at once, the others are left here
//!   ([`super::tree::Tree::set_watches`]), and it answers `watches_set`.

use super::tree::{EventKind, SessionId, Tree, TreeOp, TreeResult, WatchList};
use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::consensus::raft::fnv;
use crate::consensus::zab::{Machine, Origin, ZabMsg, ZabParams, ZabServer, ZabTimer, Zxid};
use crate::core::event::Event;
use crate::core::process::{Ctx, Nanos, NodeId, Process, MS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a client asks its server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Opens the request's session, with this timeout.
    Open {
        timeout_ms: u64,
    },
    /// Keeps the session alive; answered at once.
    Ping,
    /// The next read is current.
    Sync,
    Op(TreeOp),
    /// Leaves these watches at this server again (the client moved here); answered at once
    /// with seq 0, like a ping.
    SetWatches(WatchList),
}

impl Call {
    /// Whether the leader orders it (a transaction), rather than the client's server answering it.
    pub fn is_write(&self) -> bool {
        match self {
            Call::Open { .. } | Call::Sync => true,
            Call::Ping | Call::SetWatches(_) => false,
            Call::Op(op) => !op.is_read(),
        }
    }

    /// The operation's name in traces: `create`, `get`, `sync`, …
    pub fn f(&self) -> &'static str {
        match self {
            Call::Open { .. } => "open",
            Call::Ping => "ping",
            Call::Sync => "sync",
            Call::SetWatches(_) => "set_watches",
            Call::Op(op) => match op {
                TreeOp::Create { .. } => "create",
                TreeOp::Delete { .. } => "delete",
                TreeOp::Set { .. } => "set",
                TreeOp::Exists { .. } => "exists",
                TreeOp::Get { .. } => "get",
                TreeOp::Children { .. } => "children",
                TreeOp::CloseSession => "close",
            },
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Call::Op(
                TreeOp::Create { path, .. }
                | TreeOp::Delete { path, .. }
                | TreeOp::Set { path, .. }
                | TreeOp::Exists { path, .. }
                | TreeOp::Get { path, .. }
                | TreeOp::Children { path, .. },
            ) => path,
            _ => "",
        }
    }
}

/// A client's request: `seq` grows by one per operation of the session (a retry keeps it);
/// `seen` is the last zxid the client saw, packed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkRequest {
    pub client: NodeId,
    pub session: SessionId,
    pub seq: u64,
    pub seen: u64,
    pub call: Call,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkOutcome {
    /// The tree's answer.
    Done(TreeResult),
    Opened,
    Pong,
    Synced,
    /// A SetWatches was done.
    WatchesSet,
    /// The session expired (or was never opened): the client must open a new one.
    Expired,
    /// This server cannot serve now; `leader` is the one it knows.
    NotServing {
        leader: Option<NodeId>,
    },
}

/// What a server sends a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkReply {
    /// The answer to request `seq`, at the server's applied point `zxid` (packed): a write's own
    /// zxid, a read's state.
    Answer { seq: u64, zxid: u64, outcome: ZkOutcome },
    /// A watch the client left fired, by the transaction `zxid`.
    Watch { zxid: u64, path: String, kind: EventKind },
}

/// A transaction of the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkOp {
    /// A client's write (or open, or sync), as it asked for it.
    Client(ZkRequest),
    /// The leader expires a session it has not heard of for its timeout.
    Expire { session: SessionId },
}

/// The service's events, beside ZAB's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum ZkEvent {
    /// A server applied a client's write (`applied` once per server).
    WriteApplied { zxid: u64, client: NodeId, session: SessionId, seq: u64, f: String, path: String },
    /// A server applied a session's expiry: these ephemerals went with it.
    SessionExpired { zxid: u64, session: SessionId, ephemerals: Vec<String> },
    /// A client invoked an operation (a client's trace).
    ZkInvoke { session: SessionId, seq: u64, f: String, path: String },
    /// The operation completed at the server's applied point `zxid`: `ok` or `fail` (`expired`,
    /// a tree error such as a bad version), with the result for a person.
    ZkDone { session: SessionId, seq: u64, f: String, path: String, zxid: u64, ok: bool, result: String },
    /// A watch notification reached the client, from `server`; the watch was left at `set_at`
    /// (by the read that set it), another server when SetWatches carried it over.
    ZkWatch {
        session: SessionId,
        zxid: u64,
        path: String,
        kind: EventKind,
        #[serde(default)]
        server: NodeId,
        #[serde(default)]
        set_at: NodeId,
    },
    /// A server did a client's SetWatches: `fired` at once (changed after `seen`), `left` here.
    WatchesSet { session: SessionId, seen: u64, fired: Vec<String>, left: usize },
    /// The client opened a session (its first, or a new one after an expiry).
    SessionOpened { session: SessionId, server: NodeId },
    /// The client learnt that its session expired (it opens a new one).
    SessionLost { session: SessionId },
    /// The client moved its session to another server, `why`: `timeout` (its operation went
    /// unanswered for the workload's timeout), `silent` (nothing heard for two thirds of the
    /// session timeout) or `not_serving` (the server said it cannot serve).
    Reconnected {
        session: SessionId,
        from: NodeId,
        to: NodeId,
        #[serde(default)]
        why: String,
    },
}

impl Event for ZkEvent {}

/// One server's share of the service (see the module doc): the replicated tree, sessions and
/// session table, and what is local to this server (its attached clients, held reads, the
/// leader's deadlines).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZkMachine {
    tree: Tree,
    /// Open sessions and their timeouts (replicated).
    sessions: BTreeMap<SessionId, Nanos>,
    /// Each session's last write: seq and outcome (replicated).
    last: BTreeMap<SessionId, (u64, ZkOutcome)>,
    applied: Zxid,
    /// Sessions attached to this server: their client.
    attached: BTreeMap<SessionId, NodeId>,
    /// Writes this server's clients wait for: (session) → seq.
    waiting: BTreeMap<SessionId, u64>,
    /// Reads that wait until this server has applied what the client saw.
    held: Vec<ZkRequest>,
    /// Sessions heard from since the last ping (a follower tells its leader).
    heard: BTreeSet<SessionId>,
    /// The leader's deadline for each session.
    deadlines: BTreeMap<SessionId, Nanos>,
    /// Expiries proposed, not applied yet.
    expiring: BTreeSet<SessionId>,
}

fn send(ctx: &mut Ctx<ZabTimer>, to: NodeId, reply: ZkReply) {
    ctx.send(to, &ZabMsg::<ZkMachine>::Reply(reply));
}

impl ZkMachine {
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    fn answer(&self, ctx: &mut Ctx<ZabTimer>, request: &ZkRequest, zxid: u64, outcome: ZkOutcome) {
        send(ctx, request.client, ZkReply::Answer { seq: request.seq, zxid, outcome });
    }

    /// A read, or a SetWatches, from this server's tree.
    fn read(&mut self, ctx: &mut Ctx<ZabTimer>, request: &ZkRequest) {
        let applied = self.applied.packed();
        match &request.call {
            Call::Op(op) => {
                let (result, _) = self.tree.apply(request.session, op);
                self.answer(ctx, request, applied, ZkOutcome::Done(result));
            }
            Call::SetWatches(list) => {
                let fired = self.tree.set_watches(request.session, request.seen, list);
                let (session, seen, left) = (request.session, request.seen, list.len() - fired.len());
                let paths = fired.iter().map(|(e, _)| e.path.clone()).collect();
                ctx.emit(&ZkEvent::WatchesSet { session, seen, fired: paths, left });
                for (event, zxid) in fired {
                    let watch = ZkReply::Watch { zxid: zxid.unwrap_or(applied), path: event.path, kind: event.kind };
                    send(ctx, request.client, watch);
                }
                self.answer(ctx, request, applied, ZkOutcome::WatchesSet);
            }
            _ => {}
        }
    }

    /// The watches `fired` for sessions attached here, as notifications.
    fn notify(&self, ctx: &mut Ctx<ZabTimer>, zxid: Zxid, fired: Vec<super::tree::WatchEvent>) {
        for event in fired {
            if let Some(&client) = self.attached.get(&event.session) {
                send(ctx, client, ZkReply::Watch { zxid: zxid.packed(), path: event.path, kind: event.kind });
            }
        }
    }

    fn execute(&mut self, ctx: &mut Ctx<ZabTimer>, zxid: Zxid, r: &ZkRequest) -> ZkOutcome {
        if let Call::Open { timeout_ms } = r.call {
            self.sessions.insert(r.session, timeout_ms * MS);
            self.deadlines.insert(r.session, ctx.now() + timeout_ms * MS);
            return ZkOutcome::Opened;
        }
        if !self.sessions.contains_key(&r.session) {
            return ZkOutcome::Expired;
        }
        match &r.call {
            Call::Op(op) => {
                let (result, fired) = self.tree.apply_at(zxid.packed(), r.session, op);
                let (f, path) = (r.call.f().to_string(), r.call.path().to_string());
                let (client, session, seq) = (r.client, r.session, r.seq);
                ctx.emit(&ZkEvent::WriteApplied { zxid: zxid.packed(), client, session, seq, f, path });
                self.notify(ctx, zxid, fired);
                ZkOutcome::Done(result)
            }
            _ => ZkOutcome::Synced,
        }
    }

    /// Reads held for this server to catch up, now due.
    fn release_held(&mut self, ctx: &mut Ctx<ZabTimer>) {
        let applied = self.applied.packed();
        let (due, still): (Vec<ZkRequest>, Vec<ZkRequest>) =
            std::mem::take(&mut self.held).into_iter().partition(|r| r.seen <= applied);
        self.held = still;
        for r in due {
            self.read(ctx, &r);
        }
    }
}

impl Machine for ZkMachine {
    type Op = ZkOp;
    type Request = ZkRequest;
    type Reply = ZkReply;

    fn digest(op: &ZkOp) -> String {
        format!("{:016x}", fnv(&rmp_serde::to_vec_named(op).expect("operations always encode")))
    }

    fn describe(op: &ZkOp) -> String {
        match op {
            ZkOp::Client(r) => {
                format!(
                    "{} {} (client {}, session {:x}, seq {})",
                    r.call.f(),
                    r.call.path(),
                    r.client,
                    r.session,
                    r.seq
                )
            }
            ZkOp::Expire { session } => format!("expire session {session:x}"),
        }
    }

    fn origin(op: &ZkOp) -> Origin {
        match op {
            ZkOp::Client(r) => Origin::Client { client: r.client, seq: r.seq },
            ZkOp::Expire { .. } => Origin::Leader,
        }
    }

    fn order(request: ZkRequest) -> ZkOp {
        ZkOp::Client(request)
    }

    fn route(&mut self, ctx: &mut Ctx<ZabTimer>, from: NodeId, r: ZkRequest, serving: bool) -> Option<ZkRequest> {
        if !serving && !r.call.is_write() {
            self.answer(ctx, &r, self.applied.packed(), ZkOutcome::NotServing { leader: None });
            return None;
        }
        if !serving {
            self.waiting.insert(r.session, r.seq);
            return Some(r);
        }
        self.attached.insert(r.session, from);
        self.heard.insert(r.session);
        if r.call.is_write() {
            self.waiting.insert(r.session, r.seq);
            return Some(r);
        }
        match r.call {
            // A session this server has applied past the client's view of, and no longer has,
            // expired: the client learns it from its ping, not only from its next operation.
            Call::Ping if r.seen > 0 && r.seen <= self.applied.packed() && !self.sessions.contains_key(&r.session) => {
                self.answer(ctx, &r, self.applied.packed(), ZkOutcome::Expired)
            }
            Call::Ping => self.answer(ctx, &r, self.applied.packed(), ZkOutcome::Pong),
            _ if r.seen > self.applied.packed() => self.held.push(r),
            _ => self.read(ctx, &r),
        }
        None
    }

    fn refuse(&mut self, ctx: &mut Ctx<ZabTimer>, r: &ZkRequest, leader: Option<NodeId>) {
        if self.waiting.get(&r.session) == Some(&r.seq) {
            self.waiting.remove(&r.session);
            self.answer(ctx, r, self.applied.packed(), ZkOutcome::NotServing { leader });
        }
    }

    fn apply(&mut self, ctx: &mut Ctx<ZabTimer>, zxid: Zxid, op: &ZkOp) {
        self.applied = zxid;
        match op {
            ZkOp::Client(r) => {
                let outcome = match self.last.get(&r.session) {
                    Some((seq, outcome)) if *seq >= r.seq => outcome.clone(), // a retry
                    _ => {
                        let outcome = self.execute(ctx, zxid, r);
                        self.last.insert(r.session, (r.seq, outcome.clone()));
                        outcome
                    }
                };
                if self.waiting.get(&r.session) == Some(&r.seq) {
                    self.waiting.remove(&r.session);
                    self.answer(ctx, r, zxid.packed(), outcome);
                }
            }
            ZkOp::Expire { session } => {
                self.expiring.remove(session);
                if self.sessions.remove(session).is_some() {
                    self.deadlines.remove(session);
                    self.last.remove(session);
                    let (result, fired) = self.tree.apply_at(zxid.packed(), *session, &TreeOp::CloseSession);
                    let TreeResult::Closed { ephemerals } = result else { unreachable!("a close answers Closed") };
                    ctx.emit(&ZkEvent::SessionExpired { zxid: zxid.packed(), session: *session, ephemerals });
                    self.notify(ctx, zxid, fired);
                }
            }
        }
        self.release_held(ctx);
    }

    fn tick(&mut self, now: Nanos) -> Vec<ZkOp> {
        let heard = std::mem::take(&mut self.heard);
        self.touched(now, &heard.into_iter().collect::<Vec<_>>());
        let due: Vec<SessionId> =
            self.deadlines.iter().filter(|(s, d)| **d <= now && !self.expiring.contains(s)).map(|(s, _)| *s).collect();
        self.expiring.extend(due.iter().copied());
        due.into_iter().map(|session| ZkOp::Expire { session }).collect()
    }

    fn touches(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.heard).into_iter().collect()
    }

    fn touched(&mut self, now: Nanos, sessions: &[u64]) {
        for s in sessions {
            if let Some(timeout) = self.sessions.get(s) {
                self.deadlines.insert(*s, now + timeout);
            }
        }
    }

    fn established(&mut self, now: Nanos) {
        self.expiring.clear();
        self.deadlines = self.sessions.iter().map(|(s, t)| (*s, now + t)).collect();
    }
}

/// A coordination server: ZAB with the znode tree.
pub type ZkServer = ZabServer<ZkMachine>;

/// The catalogue entry.
pub struct Coordination;

impl Spec for Coordination {
    const NAME: &'static str = "coordination";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "a ZooKeeper-like coordination service: ZAB replicating a znode tree, sessions expired through ZAB, local reads, sync, watches";
    type Params = ZabParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(super::client::zk_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZkServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        super::check::properties()
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        super::check::check_coordination(run, p)
    }
}

//! What ZAB replicates: a [`Machine`] is the state every server applies committed transactions
//! to, and the face it shows its clients. ZAB itself orders transactions and knows nothing of
//! their meaning; the machine says which client requests become transactions, what a committed
//! one does, and answers the clients attached to this server.
//!
//! Two machines: [`KvMachine`], the shared key-value store with its session table (every
//! operation, a get included, is a transaction), and the coordination service's znode tree
//! ([`crate::coordination::service`]), whose reads are answered by the server a client is
//! attached to, and whose sessions the leader expires.

use super::{Origin, ZabMsg, ZabTimer, Zxid};
use crate::check::service::ServiceEvent;
use crate::consensus::multipaxos::{describe, digest};
pub use crate::consensus::raft::Op;
use crate::core::process::{Ctx, Nanos, NodeId};
use crate::service::kv::KvStore;
use crate::service::{Outcome, Reply, Request};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// The state machine a ZAB ensemble replicates (see the module doc).
pub trait Machine: Default + Clone + Debug + PartialEq + 'static {
    /// A transaction's operation, as the history holds it.
    type Op: Clone + Debug + PartialEq + Eq + Serialize + DeserializeOwned;
    /// What a client sends; a follower forwards the ones that need ordering to the leader.
    type Request: Clone + Debug + PartialEq + Serialize + DeserializeOwned;
    type Reply: Clone + Debug + PartialEq + Serialize + DeserializeOwned;

    /// The operation's digest, which names a transaction in the trace (with its zxid).
    fn digest(op: &Self::Op) -> String;
    /// The operation as a person reads it.
    fn describe(op: &Self::Op) -> String;
    fn origin(op: &Self::Op) -> Origin;
    /// The transaction a leader proposes for a client's request.
    fn order(request: Self::Request) -> Self::Op;

    /// A client's request reached this server. `serving`: the server leads or follows a leader
    /// (it can answer and order). `None`: answered here; `Some`: to be ordered by the leader (or
    /// refused by a server that cannot).
    fn route(
        &mut self,
        ctx: &mut Ctx<ZabTimer>,
        client: NodeId,
        request: Self::Request,
        serving: bool,
    ) -> Option<Self::Request>;

    /// This server cannot have the request ordered: tell its client, if the client is attached
    /// here, who leads (`None`: an election under way).
    fn refuse(&mut self, ctx: &mut Ctx<ZabTimer>, request: &Self::Request, leader: Option<NodeId>);

    /// A committed transaction, applied in zxid order on every server.
    fn apply(&mut self, ctx: &mut Ctx<ZabTimer>, zxid: Zxid, op: &Self::Op);

    /// The established leader's tick: transactions it proposes on its own (a session's expiry).
    fn tick(&mut self, _now: Nanos) -> Vec<Self::Op> {
        Vec::new()
    }

    /// A follower's news for its leader since the last ping (sessions its clients kept alive).
    fn touches(&mut self) -> Vec<u64> {
        Vec::new()
    }

    /// The leader heard a follower's touches.
    fn touched(&mut self, _now: Nanos, _sessions: &[u64]) {}

    /// This server became the established leader at `now`.
    fn established(&mut self, _now: Nanos) {}
}

/// The key-value store as ZAB's machine: every command is a transaction; the server a client
/// sent its request to answers it once applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KvMachine {
    store: KvStore,
    /// Requests that came to this server from their clients: it answers them when applied.
    clients: BTreeMap<NodeId, u64>,
}

impl Machine for KvMachine {
    type Op = Op;
    type Request = Request;
    type Reply = Reply;

    fn digest(op: &Op) -> String {
        digest(op)
    }

    fn describe(op: &Op) -> String {
        describe(op)
    }

    fn origin(op: &Op) -> Origin {
        match op {
            Op::Client(r) => Origin::Client { client: r.client, seq: r.seq },
            Op::Noop | Op::Config { .. } => Origin::Leader,
        }
    }

    fn order(request: Request) -> Op {
        Op::Client(request)
    }

    fn route(&mut self, _: &mut Ctx<ZabTimer>, _from: NodeId, request: Request, _: bool) -> Option<Request> {
        self.clients.insert(request.client, request.seq);
        Some(request)
    }

    fn refuse(&mut self, ctx: &mut Ctx<ZabTimer>, request: &Request, leader: Option<NodeId>) {
        if self.clients.get(&request.client) == Some(&request.seq) {
            self.clients.remove(&request.client);
            let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader } };
            ctx.send(request.client, &ZabMsg::<KvMachine>::Reply(reply));
        }
    }

    fn apply(&mut self, ctx: &mut Ctx<ZabTimer>, zxid: Zxid, op: &Op) {
        let Op::Client(request) = op else { return };
        let applied = self.store.apply_tracked(request);
        if applied.is_fresh() {
            let (client, seq) = (request.client, request.seq);
            let (f, key) = (request.command.f().to_string(), request.command.key().to_string());
            ctx.emit(&ServiceEvent::Applied { index: zxid.packed(), client, seq, f, key });
        }
        if self.clients.get(&request.client) == Some(&request.seq) {
            self.clients.remove(&request.client);
            let reply = Reply { seq: request.seq, outcome: applied.into_outcome() };
            ctx.send(request.client, &ZabMsg::<KvMachine>::Reply(reply));
        }
    }
}

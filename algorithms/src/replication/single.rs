//! kv-single: the unreplicated key-value server the course starts from. Node 1 holds the data in
//! a [`KvStore`] and answers every request; every other server answers `NotLeader { leader:
//! Some(1) }`, so clients find node 1 after one redirect.
//!
//! Properties: the history is linearizable (one copy, applied in arrival order), no command is
//! applied twice (the session table, persisted with the data), and operations complete while node
//! 1 is up and reachable. That last one is the point of the experiment: with node 1 down, servers
//! 2 and 3 are a connected majority, yet nothing completes: `operations_complete` is violated,
//! the single point of failure shown. Cost: one request and one reply per operation (two more
//! for a redirect); the store is persisted whole after every command that changes it, before the
//! reply, so a restarted node 1 keeps its data and sessions.

use crate::algorithm::{ClientFactory, Family, Params, PropertyInfo, Spec};
use crate::check::service::{exactly_once, linearizable, operations_complete, ServiceEvent};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, Message, NoTimer, NodeId, Process, Status, MS};
use crate::service::kv::{Applied, KvStore};
use crate::service::{client, Outcome, Reply, Request};
use serde::{Deserialize, Serialize};

/// The one server that holds the data.
pub const SERVER: NodeId = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SingleParams {
    /// `operations_complete`'s bound: an operation invoked with node 1 reachable completes
    /// within this many milliseconds.
    pub complete_within_ms: u64,
}

impl Default for SingleParams {
    fn default() -> Self {
        SingleParams { complete_within_ms: 1000 }
    }
}

impl Params for SingleParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if self.complete_within_ms == 0 {
            return Err("params.complete_within_ms must be above 0".into());
        }
        Ok(())
    }
}

/// The service's messages: only the client convention's two (see [`crate::service`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SingleMsg {
    Request(Request),
    Reply(Reply),
}

impl Message for SingleMsg {
    fn kind(&self) -> &'static str {
        match self {
            SingleMsg::Request(_) => "request",
            SingleMsg::Reply(_) => "reply",
        }
    }
}

/// What node 1 persists: the data, the session table, and how many commands it applied (the
/// index of its `applied` events).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SingleState {
    pub store: KvStore,
    pub applied: u64,
}

pub struct SingleServer {
    me: NodeId,
    state: SingleState,
}

impl SingleServer {
    pub fn new(me: NodeId) -> SingleServer {
        SingleServer { me, state: SingleState::default() }
    }

    pub fn store(&self) -> &KvStore {
        &self.state.store
    }
}

impl Process for SingleServer {
    type Msg = SingleMsg;
    type Timer = NoTimer;
    type Durable = SingleState;

    fn on_start(&mut self, _ctx: &mut Ctx<NoTimer>, recovered: Option<SingleState>) {
        self.state = recovered.unwrap_or_default();
    }

    fn on_message(&mut self, ctx: &mut Ctx<NoTimer>, from: NodeId, msg: SingleMsg) {
        let SingleMsg::Request(request) = msg else { return };
        if self.me != SERVER {
            let reply = Reply { seq: request.seq, outcome: Outcome::NotLeader { leader: Some(SERVER) } };
            ctx.send(from, &SingleMsg::Reply(reply));
            return;
        }
        let applied = self.state.store.apply_tracked(&request);
        if let Applied::Fresh(_) = applied {
            self.state.applied += 1;
            ctx.persist(&self.state);
            let command = &request.command;
            ctx.emit(&ServiceEvent::Applied {
                index: self.state.applied,
                client: request.client,
                seq: request.seq,
                f: command.f().into(),
                key: command.key().into(),
            });
        }
        ctx.send(from, &SingleMsg::Reply(Reply { seq: request.seq, outcome: applied.into_outcome() }));
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<NoTimer>, timer: NoTimer) {
        match timer {}
    }

    fn status(&self) -> Status {
        let role = if self.me == SERVER { "leader" } else { "follower" };
        Status { role: role.into(), leader: Some(SERVER), term: None }
    }
}

pub struct KvSingle;

impl Spec for KvSingle {
    const NAME: &'static str = "kv-single";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str = "an unreplicated key-value server (node 1): the single point of failure";
    type Params = SingleParams;
    const CLIENT: Option<ClientFactory> = Some(client::kv_client);

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo { name: "linearizable", promise: "the clients' history is linearizable (model kv)" },
            PropertyInfo { name: "exactly_once", promise: "no server applies a client's command twice" },
            PropertyInfo {
                name: "operations_complete",
                promise: "with a connected majority of servers, every operation completes within complete_within_ms",
            },
        ]
    }

    fn build(me: NodeId, _peers: &[NodeId], _params: &SingleParams) -> Result<impl Process, String> {
        Ok(SingleServer::new(me))
    }

    fn check(exec: &Execution, params: &SingleParams) -> CheckReport {
        CheckReport {
            properties: vec![
                linearizable(exec),
                exactly_once(exec),
                operations_complete(exec, params.complete_within_ms * MS),
            ],
            ..Default::default()
        }
    }
}

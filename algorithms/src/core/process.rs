//! The sans-IO process interface every algorithm implements.
//!
//! A handler never touches a socket, a clock or the OS: it reads what the [`Ctx`] hands in (its
//! id, its peers, the current time, a seeded RNG, recovered state) and pushes [`Effect`]s that the
//! host (the real `node`, or the [`crate::sim`] simulator) carries out in order. Because both hosts
//! drive the same code through the same effects, a schedule found by the simulator replays on
//! real processes and the same checkers judge both.

use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Debug;

/// Node ids are small positive integers, `1..=N` in orchestrated runs.
pub type NodeId = u32;

/// Nanoseconds: the host's monotonic clock on real nodes, virtual time in the simulator.
pub type Nanos = u64;

/// Nanoseconds in one millisecond, for the `*_ms` parameters algorithms take.
pub const MS: Nanos = 1_000_000;

/// A message an algorithm sends. `kind` names its type in traces and message counts.
pub trait Message: Serialize + DeserializeOwned + Debug {
    fn kind(&self) -> &'static str;
}

/// A distributed algorithm as a state machine: one value per node and instance.
pub trait Process: 'static {
    type Msg: Message;

    /// The process starts (first boot or restart; `ctx.recovered()` holds persisted state).
    fn on_start(&mut self, ctx: &mut Ctx);

    /// A message from a peer arrived.
    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: Self::Msg);

    /// A timer set with [`Ctx::set_timer`] fired (never a stale or cancelled one).
    fn on_timer(&mut self, ctx: &mut Ctx, name: &str);

    /// Operator or client input, e.g. `["elect"]` or `["acquire", "printer"]`.
    fn on_command(&mut self, _ctx: &mut Ctx, args: &[String]) -> Result<String, String> {
        Err(format!("unknown command {args:?}"))
    }

    /// What the process believes right now, for `status` and for faults aimed at "the leader".
    fn status(&self) -> Status;
}

/// A process's own view, reported over the control endpoint and used to find "the leader".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// e.g. `leader`, `follower`, `candidate`, `electing`, `held`, `idle`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
}

/// What a handler asks its host to do, in the order it asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send one encoded message to one peer.
    Send(Outgoing),
    /// Fire `on_timer(name)` after `after` nanoseconds, replacing a timer of the same name.
    SetTimer { name: String, after: Nanos },
    /// Forget the timer of this name; a fire already on its way is ignored by the host.
    CancelTimer { name: String },
    /// Store this state durably before any later effect is carried out; handed back on restart.
    Persist(Vec<u8>),
    /// An algorithm event for the trace (`elected`, `leader`, `enter_cs`, ...).
    Event { name: String, data: Value },
}

/// An encoded message on its way out.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: NodeId,
    pub kind: &'static str,
    /// The message as MessagePack (rmp-serde, named fields): the envelope's body.
    pub body: Vec<u8>,
    /// The message as JSON, for the trace (what a person reads in the diagram).
    pub shown: Value,
}

/// What a handler sees of the world, and where it leaves its effects.
pub struct Ctx<'a> {
    me: NodeId,
    peers: &'a [NodeId],
    now: Nanos,
    rng: &'a mut ChaCha8Rng,
    recovered: Option<&'a [u8]>,
    effects: Vec<Effect>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        me: NodeId,
        peers: &'a [NodeId],
        now: Nanos,
        rng: &'a mut ChaCha8Rng,
        recovered: Option<&'a [u8]>,
    ) -> Self {
        Ctx { me, peers, now, rng, recovered, effects: Vec::new() }
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Every other node of the cluster, in ascending id order.
    pub fn peers(&self) -> &[NodeId] {
        self.peers
    }

    /// The cluster size, this node included.
    pub fn cluster_size(&self) -> usize {
        self.peers.len() + 1
    }

    pub fn now(&self) -> Nanos {
        self.now
    }

    /// The only source of randomness an algorithm may use: seeded from the run's seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }

    /// State persisted by an earlier incarnation of this process, if any.
    pub fn recovered(&self) -> Option<&[u8]> {
        self.recovered
    }

    /// Decodes persisted state written with [`Ctx::persist`].
    pub fn recovered_as<T: DeserializeOwned>(&self) -> Option<T> {
        self.recovered.and_then(|bytes| rmp_serde::from_slice(bytes).ok())
    }

    pub fn send<M: Message>(&mut self, to: NodeId, msg: &M) {
        let body = rmp_serde::to_vec_named(msg).expect("algorithm messages always encode");
        let shown = serde_json::to_value(msg).unwrap_or(Value::Null);
        self.effects.push(Effect::Send(Outgoing { to, kind: msg.kind(), body, shown }));
    }

    /// Sends to every peer (not to itself), in ascending id order.
    pub fn broadcast<M: Message>(&mut self, msg: &M) {
        for i in 0..self.peers.len() {
            self.send(self.peers[i], msg);
        }
    }

    pub fn set_timer(&mut self, name: &str, after: Nanos) {
        self.effects.push(Effect::SetTimer { name: name.to_string(), after });
    }

    pub fn cancel_timer(&mut self, name: &str) {
        self.effects.push(Effect::CancelTimer { name: name.to_string() });
    }

    pub fn persist<T: Serialize>(&mut self, state: &T) {
        let bytes = rmp_serde::to_vec_named(state).expect("persisted state always encodes");
        self.effects.push(Effect::Persist(bytes));
    }

    /// Records an algorithm event in the trace; checkers read these.
    pub fn event(&mut self, name: &str, data: Value) {
        self.effects.push(Effect::Event { name: name.to_string(), data });
    }

    pub fn into_effects(self) -> Vec<Effect> {
        self.effects
    }
}

/// A body that did not decode as the instance's message type.
#[derive(Debug, thiserror::Error)]
#[error("undecodable {instance_kind} message body: {reason}")]
pub struct BadBody {
    pub instance_kind: &'static str,
    pub reason: String,
}

/// [`Process`] with its message type erased, so a host can hold any algorithm.
pub trait DynProcess {
    fn on_start(&mut self, ctx: &mut Ctx);
    /// Decodes `body` and hands it to `on_message`; a body that does not decode changes nothing.
    fn on_body(&mut self, ctx: &mut Ctx, from: NodeId, body: &[u8]) -> Result<(), BadBody>;
    fn on_timer(&mut self, ctx: &mut Ctx, name: &str);
    fn on_command(&mut self, ctx: &mut Ctx, args: &[String]) -> Result<String, String>;
    fn status(&self) -> Status;
}

impl<P: Process> DynProcess for P {
    fn on_start(&mut self, ctx: &mut Ctx) {
        Process::on_start(self, ctx)
    }

    fn on_body(&mut self, ctx: &mut Ctx, from: NodeId, body: &[u8]) -> Result<(), BadBody> {
        let msg: P::Msg = rmp_serde::from_slice(body)
            .map_err(|e| BadBody { instance_kind: std::any::type_name::<P::Msg>(), reason: e.to_string() })?;
        Process::on_message(self, ctx, from, msg);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx, name: &str) {
        Process::on_timer(self, ctx, name)
    }

    fn on_command(&mut self, ctx: &mut Ctx, args: &[String]) -> Result<String, String> {
        Process::on_command(self, ctx, args)
    }

    fn status(&self) -> Status {
        Process::status(self)
    }
}

/// The RNG handed to node `node` in its `incarnation`-th life, derived from the run's seed: the
/// simulator and real nodes draw the same numbers for the same seed.
pub fn node_rng(seed: u64, node: NodeId, incarnation: u64) -> ChaCha8Rng {
    use rand::SeedableRng;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&node.to_le_bytes());
    key[12..20].copy_from_slice(&incarnation.to_le_bytes());
    key[20..].copy_from_slice(b"clusterlab!!");
    ChaCha8Rng::from_seed(key)
}

//! The sans-IO process interface every algorithm implements.
//!
//! A handler never touches a socket, a clock or the OS: it reads what the [`Ctx`] hands in (its
//! id, its peers, the current time, a seeded RNG) and pushes [`Effect`]s that the
//! host (the real `node`, or the [`crate::sim`] simulator) carries out in order. Because both hosts
//! drive the same code through the same effects, a schedule found by the simulator replays on
//! real processes and the same checkers judge both.

use crate::core::event::Event;
use crate::core::trace::ShownMsg;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

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

/// A process's timer: a small enum, e.g. `enum BullyTimer { Heartbeat, LeaderTimeout, .. }`, with
/// data where one timer exists per something (`Ack(seq)`, `Pass(resource)`).
///
/// Hosts keep live timers by [`Timer::key`], which is also the `name` of the trace's `timer`
/// record, and hand a fire back as the typed value, so a misspelt timer does not compile. The
/// default key comes from serde with `#[serde(rename_all = "snake_case")]`: a unit variant is its
/// name (`heartbeat`, `leader_timeout`), a variant with one value is `name:value` (`ack:3`,
/// `pass:printer`; the value is a string, a number or a struct). Override both methods for
/// another scheme, keeping `from_key(&t.key()) == Some(t)`.
pub trait Timer: Serialize + DeserializeOwned + Debug + 'static {
    fn key(&self) -> String {
        match serde_json::to_value(self).expect("timers always encode") {
            Value::String(name) => name,
            Value::Object(map) if map.len() == 1 => {
                let (name, value) = map.into_iter().next().expect("one entry");
                match value {
                    Value::String(text) => format!("{name}:{text}"),
                    other => format!("{name}:{other}"),
                }
            }
            other => panic!("a timer encodes as a name or as {{name: value}}, not {other}"),
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        let Some((name, value)) = key.split_once(':') else {
            return serde_json::from_value(Value::String(key.to_string())).ok();
        };
        let as_text = serde_json::json!({ name: value });
        serde_json::from_value(as_text).ok().or_else(|| {
            let parsed: Value = serde_json::from_str(value).ok()?;
            serde_json::from_value(serde_json::json!({ name: parsed })).ok()
        })
    }
}

/// The timer type of a process that sets none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoTimer {}

impl Timer for NoTimer {}

/// The durable state of a process that persists nothing: whatever a host holds for it reads
/// back as `NoState`, without looking at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NoState;

impl<'de> Deserialize<'de> for NoState {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(NoState)
    }
}

/// A distributed algorithm as a state machine: one value per node and instance.
pub trait Process: 'static {
    type Msg: Message;
    type Timer: Timer;
    /// What the process persists with [`Ctx::persist`] and gets back when it restarts
    /// ([`NoState`] for nothing). The host decodes it before `on_start`; state that does not decode
    /// stops the host with an error, it never becomes default state.
    type Durable: Serialize + DeserializeOwned;

    /// The process starts: first boot (`recovered` is `None`), or a restart with the state it last
    /// persisted.
    fn on_start(&mut self, ctx: &mut Ctx<Self::Timer>, recovered: Option<Self::Durable>);

    /// Rebuilds the durable state at restart from the last whole state persisted (`None`: none
    /// was) and one record appended after it with [`Ctx::persist_append`]; the host calls it for
    /// each record in the order they were appended, then hands the result to `on_start`. An
    /// error stops the host, as state that does not decode does. The default: the process
    /// appends no records, so one is an error.
    fn replay(state: Option<Self::Durable>, record: &[u8]) -> Result<Self::Durable, String> {
        let _ = (state, record);
        Err(format!("{} appends no records", std::any::type_name::<Self>()))
    }

    /// A message from a peer arrived.
    fn on_message(&mut self, ctx: &mut Ctx<Self::Timer>, from: NodeId, msg: Self::Msg);

    /// A timer set with [`Ctx::set_timer`] fired (never a stale or cancelled one).
    fn on_timer(&mut self, ctx: &mut Ctx<Self::Timer>, timer: Self::Timer);

    /// Operator or client input, e.g. `["elect"]` or `["acquire", "printer"]`.
    fn on_command(&mut self, _ctx: &mut Ctx<Self::Timer>, args: &[String]) -> Result<String, String> {
        Err(format!("unknown command {args:?}"))
    }

    /// The `corrupt` fault: set this process's state to arbitrary values (drawn from `ctx.rng()`),
    /// as a transient fault would, and say so with an event. Returns whether the algorithm supports
    /// it: only self-stabilizing algorithms promise anything after it, so the default refuses.
    fn on_corrupt(&mut self, _ctx: &mut Ctx<Self::Timer>) -> bool {
        false
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
    /// Fire `on_timer` after `after` nanoseconds, replacing a timer of the same name: the timer's
    /// [`Timer::key`].
    SetTimer { name: String, after: Nanos },
    /// Forget the timer of this name; a fire already on its way is ignored by the host.
    CancelTimer { name: String },
    /// Store this state durably, whole, before any later effect is carried out: it replaces what
    /// was persisted before (the last whole state and every record appended after it), and is
    /// handed back on restart.
    Persist(Vec<u8>),
    /// Append one record to the durable state, after the last whole state and the records
    /// appended since, before any later effect is carried out. On restart the host hands the
    /// whole state and then each record, in order, to [`Process::replay`]. What a write costs
    /// grows with the record, not with the state (a log appended to, not rewritten).
    PersistAppend(Vec<u8>),
    /// An algorithm event for the trace (`elected`, `leader`, `enter_cs`, ...).
    Event { name: String, data: Value },
}

/// An encoded message on its way out.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub to: NodeId,
    pub kind: &'static str,
    /// The message as MessagePack (rmp-serde, named fields): the envelope's body, shared by a
    /// broadcast's copies.
    pub body: Arc<[u8]>,
    /// The message for the trace (what a person reads in the diagram): for a message of this
    /// process, the same body, shared; its JSON is made only when a trace line is written.
    pub shown: ShownMsg,
}

/// What a host hands each handler: who the process is, the time on its clock and its RNG. A
/// [`Ctx`] wraps it for the handler.
pub struct World<'a> {
    pub me: NodeId,
    /// Every other node of the cluster, in ascending id order.
    pub peers: &'a [NodeId],
    pub now: Nanos,
    pub rng: &'a mut ChaCha8Rng,
}

/// What a handler sees of the world, and where it leaves its effects. `T` is the process's
/// [`Timer`] type: only its timers can be set or cancelled.
pub struct Ctx<'a, T> {
    world: World<'a>,
    effects: Vec<Effect>,
    timers: PhantomData<fn(T)>,
}

impl<'a, T: Timer> Ctx<'a, T> {
    pub fn new(me: NodeId, peers: &'a [NodeId], now: Nanos, rng: &'a mut ChaCha8Rng) -> Self {
        Ctx::of(World { me, peers, now, rng })
    }

    pub fn of(world: World<'a>) -> Self {
        Ctx { world, effects: Vec::new(), timers: PhantomData }
    }

    pub fn me(&self) -> NodeId {
        self.world.me
    }

    /// Every other node of the cluster, in ascending id order.
    pub fn peers(&self) -> &[NodeId] {
        self.world.peers
    }

    /// The cluster size, this node included.
    pub fn cluster_size(&self) -> usize {
        self.world.peers.len() + 1
    }

    pub fn now(&self) -> Nanos {
        self.world.now
    }

    /// The only source of randomness an algorithm may use: seeded from the run's seed.
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.world.rng
    }

    /// Sends `msg` to `to`. The message is encoded once, as MessagePack, and the trace shows that
    /// body: no JSON is made here (a host that writes no trace line never pays for it).
    pub fn send<M: Message>(&mut self, to: NodeId, msg: &M) {
        let body = encode(msg);
        self.effects.push(Effect::Send(Outgoing { to, kind: msg.kind(), shown: ShownMsg::packed(body.clone()), body }));
    }

    /// Sends to every peer (not to itself), in ascending id order. The message is encoded once
    /// and its copies share it: the same bytes as one `send` per peer, for less.
    pub fn broadcast<M: Message>(&mut self, msg: &M) {
        let peers = self.world.peers;
        if peers.is_empty() {
            return;
        }
        let body = encode(msg);
        let kind = msg.kind();
        self.effects.reserve(peers.len());
        for &to in peers {
            self.effects.push(Effect::Send(Outgoing {
                to,
                kind,
                body: body.clone(),
                shown: ShownMsg::packed(body.clone()),
            }));
        }
    }

    /// Fires `on_timer(timer)` after `after` nanoseconds on this node's clock, replacing the same
    /// timer if it is set.
    pub fn set_timer(&mut self, timer: impl Into<T>, after: Nanos) {
        self.effects.push(Effect::SetTimer { name: timer.into().key(), after });
    }

    pub fn cancel_timer(&mut self, timer: impl Into<T>) {
        self.effects.push(Effect::CancelTimer { name: timer.into().key() });
    }

    /// Stores the process's [`Process::Durable`] state before any later effect is carried out;
    /// the next incarnation gets it in `on_start`.
    pub fn persist<S: Serialize>(&mut self, state: &S) {
        let bytes = rmp_serde::to_vec_named(state).expect("persisted state always encodes");
        self.effects.push(Effect::Persist(bytes));
    }

    /// Appends `record` to the durable state ([`Effect::PersistAppend`]) before any later effect
    /// is carried out; the next incarnation gets it through [`Process::replay`].
    pub fn persist_append<R: Serialize>(&mut self, record: &R) {
        let bytes = rmp_serde::to_vec_named(record).expect("persisted records always encode");
        self.effects.push(Effect::PersistAppend(bytes));
    }

    /// [`Ctx::persist`] for state the process encoded itself (as MessagePack with named fields,
    /// what `persist` writes), e.g. to encode a large log without copying it first.
    pub fn push_persisted(&mut self, bytes: Vec<u8>) {
        self.effects.push(Effect::Persist(bytes));
    }

    /// Records an algorithm event in the trace (`elected`, `enter_cs`, ...); checkers read these.
    pub fn emit(&mut self, event: &impl Event) {
        let (name, data) = event.to_parts();
        self.effects.push(Effect::Event { name, data });
    }

    pub fn into_effects(self) -> Vec<Effect> {
        self.effects
    }

    /// The world this handler runs in, lent to a process nested inside this one (same id, peers,
    /// time and RNG). With [`Ctx::adopt`] it lets one process embed another algorithm (the
    /// sequencer embeds an election) and stay sans-IO: instances in a node do not talk to each
    /// other, and the simulator hosts one process per node, so the embedded one must travel inside.
    pub fn nested_world(&mut self) -> World<'_> {
        World { me: self.world.me, peers: self.world.peers, now: self.world.now, rng: &mut *self.world.rng }
    }

    /// Carries out the effects of a nested process (one driven through [`Ctx::nested_world`]) as
    /// this process's own, in their order:
    /// - a send travels inside this process's message type (`wrap` builds the message from the
    ///   nested body) but keeps the nested message's kind and shown JSON, so traces, message
    ///   counts and the nested algorithm's checkers read it as the nested algorithm's own;
    /// - a timer is set or cancelled as `timer(nested key)` (e.g. a variant `Election(String)`,
    ///   whose key is `election:<nested key>`);
    /// - a persist is handed to `persist`, which returns the bytes of this process's whole state
    ///   to persist in its place (the nested state lives inside it); a nested process persists
    ///   whole states only (its records would be replayed as the outer process's);
    /// - an event passes unchanged (an embedded election's `leader` is an election's `leader`).
    pub fn adopt<M: Message>(
        &mut self,
        effects: Vec<Effect>,
        wrap: impl Fn(Vec<u8>) -> M,
        timer: impl Fn(String) -> T,
        mut persist: impl FnMut(Vec<u8>) -> Vec<u8>,
    ) {
        for effect in effects {
            let adopted = match effect {
                Effect::Send(out) => {
                    let body = encode(&wrap(out.body.to_vec()));
                    Effect::Send(Outgoing { to: out.to, kind: out.kind, body, shown: out.shown })
                }
                Effect::SetTimer { name, after } => Effect::SetTimer { name: timer(name).key(), after },
                Effect::CancelTimer { name } => Effect::CancelTimer { name: timer(name).key() },
                Effect::Persist(bytes) => Effect::Persist(persist(bytes)),
                Effect::PersistAppend(_) => panic!("a nested process persists whole states only, never records"),
                event @ Effect::Event { .. } => event,
            };
            self.effects.push(adopted);
        }
    }
}

/// An algorithm message as MessagePack with named fields, the envelope's body.
fn encode<M: Serialize>(msg: &M) -> Arc<[u8]> {
    rmp_serde::to_vec_named(msg).expect("algorithm messages always encode").into()
}

/// A body that did not decode as the instance's message type.
#[derive(Debug, thiserror::Error)]
#[error("undecodable {instance_kind} message body: {reason}")]
pub struct BadBody {
    pub instance_kind: &'static str,
    pub reason: String,
}

/// Persisted state that did not decode as the process's [`Process::Durable`] type.
#[derive(Debug, thiserror::Error)]
#[error("persisted state does not decode as {type_name}: {reason}")]
pub struct RecoverError {
    pub type_name: &'static str,
    pub reason: String,
}

/// [`Process`] with its message, timer and state types erased, so a host can hold any algorithm.
/// Each handler gets the host's [`World`] and returns the effects to carry out, in order.
pub trait DynProcess {
    /// Decodes the state an earlier incarnation persisted, for `on_start`. A host calls it once,
    /// before `on_start`, and stops with the error (naming where the state came from) when the
    /// state does not decode.
    fn recover(&mut self, state: &[u8]) -> Result<(), RecoverError>;
    /// After [`DynProcess::recover`] (or without it, when no whole state was persisted): one
    /// record appended after that state, in the order appended ([`Process::replay`]).
    fn replay(&mut self, record: &[u8]) -> Result<(), RecoverError>;
    fn on_start(&mut self, world: World) -> Vec<Effect>;
    /// Decodes `body` and hands it to `on_message`; a body that does not decode changes nothing.
    fn on_body(&mut self, world: World, from: NodeId, body: &[u8]) -> Result<Vec<Effect>, BadBody>;
    /// The timer of this [`Timer::key`] fired. Hosts set only keys the process asked for, so a key
    /// always decodes.
    fn on_timer(&mut self, world: World, key: &str) -> Vec<Effect>;
    fn on_command(&mut self, world: World, args: &[String]) -> (Result<String, String>, Vec<Effect>);
    /// [`Process::on_corrupt`]: whether the process supports it, and its effects.
    fn on_corrupt(&mut self, world: World) -> (bool, Vec<Effect>);
    fn status(&self) -> Status;
}

/// A [`Process`] as a host holds it: with the state it recovered, until it starts.
pub struct Hosted<P: Process> {
    process: P,
    recovered: Option<P::Durable>,
}

impl<P: Process> Hosted<P> {
    pub fn new(process: P) -> Self {
        Hosted { process, recovered: None }
    }

    pub fn boxed(process: P) -> Box<dyn DynProcess> {
        Box::new(Hosted::new(process))
    }

    pub fn process(&self) -> &P {
        &self.process
    }
}

impl<P: Process> DynProcess for Hosted<P> {
    fn recover(&mut self, state: &[u8]) -> Result<(), RecoverError> {
        let state = rmp_serde::from_slice(state)
            .map_err(|e| RecoverError { type_name: std::any::type_name::<P::Durable>(), reason: e.to_string() })?;
        self.recovered = Some(state);
        Ok(())
    }

    fn replay(&mut self, record: &[u8]) -> Result<(), RecoverError> {
        let state = P::replay(self.recovered.take(), record)
            .map_err(|reason| RecoverError { type_name: std::any::type_name::<P::Durable>(), reason })?;
        self.recovered = Some(state);
        Ok(())
    }

    fn on_start(&mut self, world: World) -> Vec<Effect> {
        let mut ctx = Ctx::of(world);
        self.process.on_start(&mut ctx, self.recovered.take());
        ctx.into_effects()
    }

    fn on_body(&mut self, world: World, from: NodeId, body: &[u8]) -> Result<Vec<Effect>, BadBody> {
        let msg: P::Msg = rmp_serde::from_slice(body)
            .map_err(|e| BadBody { instance_kind: std::any::type_name::<P::Msg>(), reason: e.to_string() })?;
        let mut ctx = Ctx::of(world);
        self.process.on_message(&mut ctx, from, msg);
        Ok(ctx.into_effects())
    }

    fn on_timer(&mut self, world: World, key: &str) -> Vec<Effect> {
        let Some(timer) = P::Timer::from_key(key) else {
            debug_assert!(false, "timer key {key:?} does not decode as {}", std::any::type_name::<P::Timer>());
            return Vec::new();
        };
        let mut ctx = Ctx::of(world);
        self.process.on_timer(&mut ctx, timer);
        ctx.into_effects()
    }

    fn on_command(&mut self, world: World, args: &[String]) -> (Result<String, String>, Vec<Effect>) {
        let mut ctx = Ctx::of(world);
        let result = self.process.on_command(&mut ctx, args);
        (result, ctx.into_effects())
    }

    fn on_corrupt(&mut self, world: World) -> (bool, Vec<Effect>) {
        let mut ctx = Ctx::of(world);
        let supported = self.process.on_corrupt(&mut ctx);
        (supported, ctx.into_effects())
    }

    fn status(&self) -> Status {
        self.process.status()
    }
}

/// What a host holds durably for one process, as the simulator and the rule tests hold it in
/// memory: the last whole state and the records appended after it. The real node keeps the same
/// thing in files (`node/src/durable.rs`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    pub whole: Option<Vec<u8>>,
    pub appended: Vec<Vec<u8>>,
}

impl Stored {
    /// Carries out a persist effect (`Persist` replaces everything, `PersistAppend` adds a
    /// record); any other effect is handed back.
    pub fn store(&mut self, effect: Effect) -> Option<Effect> {
        match effect {
            Effect::Persist(bytes) => {
                self.whole = Some(bytes);
                self.appended.clear();
            }
            Effect::PersistAppend(record) => self.appended.push(record),
            other => return Some(other),
        }
        None
    }

    pub fn is_empty(&self) -> bool {
        self.whole.is_none() && self.appended.is_empty()
    }

    /// Hands what is stored to a process about to restart: the whole state, then each record.
    pub fn recover_into(&self, process: &mut dyn DynProcess) -> Result<(), RecoverError> {
        if let Some(whole) = &self.whole {
            process.recover(whole)?;
        }
        self.appended.iter().try_for_each(|record| process.replay(record))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum T {
        Heartbeat,
        LeaderTimeout,
        Ack(u64),
        Pass(String),
        Round { term: u64, node: NodeId },
    }

    impl Timer for T {}

    /// A nested process that pings its peers, sets a timer, persists and says so.
    struct Inner;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Ping(u32);

    impl Message for Ping {
        fn kind(&self) -> &'static str {
            "ping"
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum InnerTimer {
        Tick,
    }

    impl Timer for InnerTimer {}

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "name", content = "data", rename_all = "snake_case")]
    enum InnerEvent {
        Pinged { n: u32 },
    }

    impl crate::core::event::Event for InnerEvent {}

    impl Process for Inner {
        type Msg = Ping;
        type Timer = InnerTimer;
        type Durable = u32;
        fn on_start(&mut self, ctx: &mut Ctx<InnerTimer>, _: Option<u32>) {
            ctx.persist(&7u32);
            ctx.broadcast(&Ping(7));
            ctx.set_timer(InnerTimer::Tick, 5);
            ctx.cancel_timer(InnerTimer::Tick);
            ctx.emit(&InnerEvent::Pinged { n: 7 });
        }
        fn on_message(&mut self, _: &mut Ctx<InnerTimer>, _: NodeId, _: Ping) {}
        fn on_timer(&mut self, _: &mut Ctx<InnerTimer>, _: InnerTimer) {}
        fn status(&self) -> Status {
            Status::default()
        }
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    enum Outer {
        Inner(Vec<u8>),
    }

    impl Message for Outer {
        fn kind(&self) -> &'static str {
            "outer"
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum OuterTimer {
        Inner(String),
    }

    impl Timer for OuterTimer {}

    #[test]
    fn a_nested_process_effects_become_the_outer_ones_in_order() {
        let mut inner = Hosted::boxed(Inner);
        let mut rng = node_rng(1, 1, 1);
        let peers = [2, 3];
        let mut ctx: Ctx<OuterTimer> = Ctx::new(1, &peers, 0, &mut rng);
        let fx = inner.on_start(ctx.nested_world());
        ctx.adopt(fx, Outer::Inner, OuterTimer::Inner, |bytes| [b"outer:".as_slice(), &bytes].concat());
        let fx = ctx.into_effects();
        let inner_ping = rmp_serde::to_vec_named(&Ping(7)).unwrap();
        let Effect::Persist(state) = &fx[0] else { panic!("{fx:?}") };
        assert_eq!(state, &[b"outer:".as_slice(), &rmp_serde::to_vec_named(&7u32).unwrap()].concat());
        for (effect, to) in fx[1..3].iter().zip([2, 3]) {
            let Effect::Send(out) = effect else { panic!("{effect:?}") };
            assert_eq!((out.to, out.kind, &out.shown), (to, "ping", &ShownMsg::of(&7)), "the nested kind and JSON");
            let wrapped: Outer = rmp_serde::from_slice(&out.body).unwrap();
            assert_eq!(wrapped, Outer::Inner(inner_ping.clone()), "the body travels inside the outer message");
        }
        assert_eq!(fx[3], Effect::SetTimer { name: "inner:tick".into(), after: 5 });
        assert_eq!(fx[4], Effect::CancelTimer { name: "inner:tick".into() });
        assert_eq!(fx[5], Effect::Event { name: "pinged".into(), data: serde_json::json!({ "n": 7 }) });
        assert_eq!(fx.len(), 6);
    }

    #[test]
    fn timer_keys_read_as_names_and_round_trip() {
        let cases = [
            (T::Heartbeat, "heartbeat"),
            (T::LeaderTimeout, "leader_timeout"),
            (T::Ack(3), "ack:3"),
            (T::Pass("printer".into()), "pass:printer"),
            (T::Pass("table:employees;row:15".into()), "pass:table:employees;row:15"),
            (T::Pass("17".into()), "pass:17"),
            (T::Pass("\"quoted\"".into()), "pass:\"quoted\""),
            (T::Pass(String::new()), "pass:"),
            (T::Round { term: 2, node: 5 }, r#"round:{"node":5,"term":2}"#),
        ];
        for (timer, key) in cases {
            assert_eq!(timer.key(), key);
            assert_eq!(T::from_key(key), Some(timer), "{key}");
        }
        assert_eq!(T::from_key("heartbeet"), None);
        assert_eq!(T::from_key("ack:x"), None);
    }
}

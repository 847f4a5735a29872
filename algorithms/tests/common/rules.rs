//! Rule-level tests, in the style of raft-rs's paper tests and openraft's engine tests: one
//! node's handler is called directly and the exact effects it asks for are compared, decoded back
//! into something readable ([`Fx`]: a send as `(to, message)`, persisted state as JSON).
//!
//! [`Node`] is a host for one process with nothing around it: it hands the handler a [`Ctx`]
//! with the node's id, its peers, a time the test sets, a seeded RNG and what the node last
//! persisted, and returns the effects. Tests pick parameters that leave no randomness in what they
//! compare (a timeout range of one value, no jitter).
//!
//! Timers are typed; tests name them by their key (the name in traces, `heartbeat`, `ack:3`) and
//! [`fire`] turns the key back into the process's timer, so a misspelt one fails the test.

use algorithms::process::{node_rng, Timer};
use algorithms::{Ctx, Effect, Message, Nanos, NodeId, Process, Status, MS};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// One effect, decoded for comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Fx<M> {
    Send(NodeId, M),
    /// A timer by name, and its delay in nanoseconds.
    SetTimer(String, Nanos),
    CancelTimer(String),
    /// The persisted state, as the JSON its MessagePack decodes to.
    Persist(Value),
    /// A record appended to the durable state, as the JSON its MessagePack decodes to.
    Append(Value),
    Event(String, Value),
}

pub fn send<M>(to: NodeId, msg: M) -> Fx<M> {
    Fx::Send(to, msg)
}

/// The same message to each of `to`, in that order (what `ctx.broadcast` does to the peers).
pub fn sends<M: Clone>(to: &[NodeId], msg: M) -> Vec<Fx<M>> {
    to.iter().map(|t| Fx::Send(*t, msg.clone())).collect()
}

pub fn set_timer<M>(name: &str, after_ms: u64) -> Fx<M> {
    Fx::SetTimer(name.into(), after_ms * MS)
}

pub fn cancel_timer<M>(name: &str) -> Fx<M> {
    Fx::CancelTimer(name.into())
}

pub fn persist<M>(state: Value) -> Fx<M> {
    Fx::Persist(state)
}

pub fn append<M>(record: Value) -> Fx<M> {
    Fx::Append(record)
}

pub fn event<M>(name: &str, data: Value) -> Fx<M> {
    Fx::Event(name.into(), data)
}

/// Decodes a handler's effects. Sends must decode as the process's message type and carry its
/// kind.
pub fn decode<M: Message>(effects: Vec<Effect>) -> Vec<Fx<M>> {
    effects
        .into_iter()
        .map(|e| match e {
            Effect::Send(out) => {
                let msg: M = rmp_serde::from_slice(&out.body).expect("a send decodes as the process's message");
                assert_eq!(out.kind, msg.kind(), "a send's kind is its message's");
                Fx::Send(out.to, msg)
            }
            Effect::SetTimer { name, after } => Fx::SetTimer(name, after),
            Effect::CancelTimer { name } => Fx::CancelTimer(name),
            Effect::Persist(bytes) => Fx::Persist(rmp_serde::from_slice(&bytes).expect("persisted state decodes")),
            Effect::PersistAppend(bytes) => {
                Fx::Append(rmp_serde::from_slice(&bytes).expect("persisted records decode"))
            }
            Effect::Event { name, data } => Fx::Event(name, data),
        })
        .collect()
}

/// One process and the little world a host gives it.
pub struct Node<P: Process> {
    pub process: P,
    pub me: NodeId,
    pub peers: Vec<NodeId>,
    /// The time handlers see; tests move it with [`Node::at`].
    pub now: Nanos,
    rng: ChaCha8Rng,
    /// The last whole state the process persisted, and the records it appended after it:
    /// handed back to it on a start (as the hosts do).
    pub stored: Option<Vec<u8>>,
    pub appended: Vec<Vec<u8>>,
}

impl<P: Process> Node<P> {
    pub fn new(me: NodeId, peers: &[NodeId], process: P) -> Self {
        Node { process, me, peers: peers.to_vec(), now: 0, rng: node_rng(1, me, 1), stored: None, appended: Vec::new() }
    }

    /// Moves the clock to `ms` milliseconds.
    pub fn at(&mut self, ms: u64) -> &mut Self {
        self.now = ms * MS;
        self
    }

    /// Calls one handler and returns what it asked for; persisted state is kept for the next call.
    pub fn handle(&mut self, f: impl FnOnce(&mut P, &mut Ctx<P::Timer>)) -> Vec<Fx<P::Msg>> {
        let mut ctx = Ctx::new(self.me, &self.peers, self.now, &mut self.rng);
        f(&mut self.process, &mut ctx);
        let effects = ctx.into_effects();
        for effect in &effects {
            match effect {
                Effect::Persist(bytes) => {
                    self.stored = Some(bytes.clone());
                    self.appended.clear();
                }
                Effect::PersistAppend(record) => self.appended.push(record.clone()),
                _ => {}
            }
        }
        decode(effects)
    }

    /// Starts the process with what it last persisted, decoded as the hosts decode it: the whole
    /// state, then each record appended after it.
    pub fn start(&mut self) -> Vec<Fx<P::Msg>> {
        let mut recovered: Option<P::Durable> =
            self.stored.as_deref().map(|bytes| rmp_serde::from_slice(bytes).expect("persisted state decodes"));
        for record in &self.appended {
            recovered = Some(P::replay(recovered, record).expect("persisted records replay"));
        }
        self.handle(|p, ctx| p.on_start(ctx, recovered))
    }

    pub fn deliver(&mut self, from: NodeId, msg: P::Msg) -> Vec<Fx<P::Msg>> {
        self.handle(|p, ctx| p.on_message(ctx, from, msg))
    }

    pub fn command(&mut self, args: &[&str]) -> (Result<String, String>, Vec<Fx<P::Msg>>) {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut reply = Err(String::new());
        let effects = self.handle(|p, ctx| reply = p.on_command(ctx, &args));
        (reply, effects)
    }

    /// A crash and restart: a new process in place of the old, started with what the old one
    /// persisted, and a fresh RNG for the new incarnation.
    pub fn restart(&mut self, process: P) -> Vec<Fx<P::Msg>> {
        self.process = process;
        self.rng = node_rng(1, self.me, 2);
        self.start()
    }

    pub fn status(&self) -> Status {
        self.process.status()
    }
}

/// Fires the timer whose key (its name in traces) is `name`: the one place a test fires a timer.
pub fn fire<P: Process>(node: &mut Node<P>, name: &str) -> Vec<Fx<P::Msg>> {
    let timer = P::Timer::from_key(name).unwrap_or_else(|| panic!("{name:?} is no timer of this process"));
    node.handle(|p, ctx| p.on_timer(ctx, timer))
}

/// Only the sends among `effects`, in order.
pub fn messages<M: Clone>(effects: &[Fx<M>]) -> Vec<(NodeId, M)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Fx::Send(to, m) => Some((*to, m.clone())),
            _ => None,
        })
        .collect()
}

/// The status of a node that reports no term (every algorithm but Raft).
pub fn status(role: &str, leader: Option<NodeId>) -> Status {
    Status { role: role.into(), leader, term: None }
}

/// Setups for mutual exclusion rules: node 2 of 1..=3 on the shared mutex host.
pub mod mutex {
    use super::Node;
    use algorithms::mutex::host::{MutexNode, MutexRules};
    use algorithms::mutex::workload::Workload;

    /// Node 2 of 1..=3 running `rules` with no workload (its client asks only when told to),
    /// started: starting does nothing.
    pub fn idle<R: MutexRules>(rules: R) -> Node<MutexNode<R>>
    where
        R::Msg: PartialEq,
    {
        let quiet = Workload { rate_per_s: 0.0, ..Default::default() };
        let mut n = Node::new(2, &[1, 3], MutexNode::new(rules, quiet));
        assert_eq!(n.start(), vec![], "an idle node does nothing when it starts");
        n
    }

    /// The same node once its client asked for the printer.
    pub fn waiting<R: MutexRules>(rules: R) -> Node<MutexNode<R>>
    where
        R::Msg: PartialEq,
    {
        let mut n = idle(rules);
        n.command(&["acquire", "printer"]).0.unwrap();
        n
    }
}

/// Setups for the ring elections (LeLann, Chang–Roberts on the shared ring host), seen from node 3
/// of the ring 1 → 2 → 3 → 4 → 5 → 1 with the default election (300 ms) and acknowledgement
/// (30 ms) timeouts.
pub mod ring {
    use super::{cancel_timer, event, send, set_timer, Fx};
    use algorithms::election::ring::RingMsg;
    use serde_json::json;

    pub fn pass<B>(seq: u64, hops: u32, body: B) -> RingMsg<B> {
        RingMsg::Pass { seq, hops, body }
    }

    /// Becoming a participant: the leader's heartbeats are no longer awaited, the election's are.
    pub fn participates<B>(initiator: bool) -> Vec<Fx<RingMsg<B>>> {
        vec![
            event("election_started", json!({ "initiator": initiator })),
            cancel_timer("leader_timeout"),
            set_timer("election", 300),
        ]
    }

    /// A hop to node 3's successor, node 4, with the acknowledgement timer armed.
    pub fn hop<B>(seq: u64, hops: u32, body: B) -> Vec<Fx<RingMsg<B>>> {
        vec![send(4, pass(seq, hops, body)), set_timer("ack", 30)]
    }
}

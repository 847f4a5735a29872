//! The sequencer's rules one at a time, as `broadcast/sequencer.rs` states them: one handler
//! called on one member, its own effects compared exactly. The embedded election (bully, its
//! defaults) runs too; its effects (sends under its kinds, `election:` timers, its events) are
//! set aside here, as the election's own rule tests judge them.

use crate::common::rules::{decode, event, persist, send, set_timer, Fx};
use algorithms::broadcast::event::{Epoch, MsgId};
use algorithms::broadcast::sequencer::{Entry, Reply, SeqMsg, SequencerNode, SequencerParams, Slot};
use algorithms::election::bully::BullyMsg;
use algorithms::process::node_rng;
use algorithms::{Ctx, Effect, Hosted, NodeId, Process};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use SeqMsg::{Ack, Collect, Order, Reject, Stable, State, Submit};

const ELECTION_EVENTS: [&str; 4] = ["election_started", "elected", "leader", "leader_lost"];

/// Member `me` of `1..=n`, with no workload, and what it last persisted.
struct Member {
    process: SequencerNode,
    me: NodeId,
    peers: Vec<NodeId>,
    rng: ChaCha8Rng,
}

impl Member {
    fn new(me: NodeId, n: NodeId, params: SequencerParams) -> Member {
        let peers: Vec<NodeId> = (1..=n).filter(|p| *p != me).collect();
        let election = Hosted::boxed(algorithms::election::bully::BullyNode::new(me, Default::default()));
        Member { process: SequencerNode::new(me, params, election), me, peers, rng: node_rng(1, me, 1) }
    }

    /// Calls one handler; the election's effects are left out.
    fn call(
        &mut self,
        f: impl FnOnce(&mut SequencerNode, &mut Ctx<<SequencerNode as Process>::Timer>),
    ) -> Vec<Fx<SeqMsg>> {
        let mut ctx = Ctx::new(self.me, &self.peers, 0, &mut self.rng);
        f(&mut self.process, &mut ctx);
        let own = ctx.into_effects().into_iter().filter(|e| match e {
            Effect::Send(out) => !matches!(rmp_serde::from_slice(&out.body), Ok(SeqMsg::Election(_))),
            Effect::SetTimer { name, .. } | Effect::CancelTimer { name } => !name.starts_with("election:"),
            Effect::Event { name, .. } => !ELECTION_EVENTS.contains(&name.as_str()),
            Effect::Persist(_) | Effect::PersistAppend(_) => true,
        });
        decode(own.collect())
    }

    fn deliver(&mut self, from: NodeId, msg: SeqMsg) -> Vec<Fx<SeqMsg>> {
        self.call(|p, ctx| p.on_message(ctx, from, msg))
    }

    /// The embedded bully's message from `from`.
    fn bully(&mut self, from: NodeId, msg: BullyMsg) -> Vec<Fx<SeqMsg>> {
        self.deliver(from, SeqMsg::Election(rmp_serde::to_vec_named(&msg).unwrap()))
    }
}

fn quiet() -> SequencerParams {
    SequencerParams { rate_per_s: 0.0, ..Default::default() }
}

fn id(origin: NodeId, n: u64) -> MsgId {
    MsgId { origin, n }
}

fn entry(origin: NodeId, n: u64) -> Option<Entry> {
    Some(Entry { id: id(origin, n), payload: format!("m{origin}.{n}") })
}

fn epoch(round: u64, node: NodeId) -> Epoch {
    Epoch { round, node }
}

fn ej(round: u64, node: NodeId) -> Value {
    json!({ "round": round, "node": node })
}

fn slot(seq: u64, e: Epoch, body: Option<Entry>, fixed: bool) -> Slot {
    Slot { seq, epoch: e, body, fixed }
}

fn slot_json(seq: u64, e: Value, body: Option<(NodeId, u64)>, fixed: bool) -> Value {
    let body = body.map(|(o, n)| json!({ "id": { "origin": o, "n": n }, "payload": format!("m{o}.{n}") }));
    json!({ "seq": seq, "epoch": e, "body": body, "fixed": fixed })
}

fn durable(promised: Value, next_id: u64, delivered: u64, log: Vec<Value>) -> Value {
    json!({ "promised": promised, "next_id": next_id, "delivered": delivered, "log": log, "election": null })
}

/// Node 2 of 3, started, following node 3 (its COORDINATOR arrived).
fn follower() -> Member {
    let mut m = Member::new(2, 3, quiet());
    m.call(|p, ctx| p.on_start(ctx, None));
    m.bully(3, BullyMsg::Coordinator);
    assert_eq!(m.process.status().leader, Some(3));
    m
}

/// Node 3 of 3, the highest id: bully makes it leader as it starts, and it collects.
fn collecting(params: SequencerParams) -> (Member, Vec<Fx<SeqMsg>>) {
    let mut m = Member::new(3, 3, params);
    let fx = m.call(|p, ctx| p.on_start(ctx, None));
    (m, fx)
}

/// Node 3 sequencing in epoch (1, 3) with nothing delivered anywhere.
fn sequencing() -> Member {
    let (mut m, _) = collecting(quiet());
    m.deliver(1, State { epoch: epoch(1, 3), reply: Reply { delivered: 0, slots: vec![] } });
    assert_eq!(m.process.status().role, "sequencer");
    m
}

/// Multicast: the id's count is persisted first, then the message goes to the leader it knows,
/// and is kept for resending.
#[test]
fn a_multicast_is_persisted_recorded_and_sent_to_the_leader() {
    let mut m = follower();
    let args = vec!["multicast".to_string(), "hello".into(), "world".into()];
    let mut reply = Err(String::new());
    let fx = m.call(|p, ctx| reply = p.on_command(ctx, &args));
    assert_eq!(reply, Ok("multicast 2.1".into()));
    let hello = json!({ "id": { "origin": 2, "n": 1 }, "payload": "hello world" });
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(0, 0), 1, 0, vec![])),
            event("multicast", hello),
            send(3, Submit { id: id(2, 1), payload: "hello world".into() }),
            set_timer("resend", 100),
        ]
    );
}

/// Recovery starts with a collection: a new leader takes an epoch above every one it promised,
/// persists the promise and asks every member for its state.
#[test]
fn a_new_leader_promises_a_new_epoch_and_collects() {
    let (_, fx) = collecting(quiet());
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(1, 3), 0, 0, vec![])),
            send(1, Collect { epoch: epoch(1, 3), after: 0 }),
            send(2, Collect { epoch: epoch(1, 3), after: 0 }),
            set_timer("collect", 100),
        ]
    );
}

/// A member promises the newer epoch (persisted) and answers with its delivered prefix and every
/// entry above the collector's; an older epoch is refused with the promise.
#[test]
fn a_member_answers_a_collection_and_refuses_an_older_one() {
    let mut m = follower();
    m.deliver(3, Order { epoch: epoch(1, 3), seq: 1, body: entry(1, 1), stable: 0 });
    let fx = m.deliver(3, Collect { epoch: epoch(2, 3), after: 0 });
    let held = slot(1, epoch(1, 3), entry(1, 1), false);
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(2, 3), 0, 0, vec![slot_json(1, ej(1, 3), Some((1, 1)), false)])),
            send(3, State { epoch: epoch(2, 3), reply: Reply { delivered: 0, slots: vec![held] } }),
        ]
    );
    let fx = m.deliver(1, Collect { epoch: epoch(1, 1), after: 0 });
    assert_eq!(fx, vec![send(1, Reject { epoch: epoch(1, 1), promised: epoch(2, 3) })]);
}

/// With a majority's state, the new sequencer keeps every number held (the newest epoch's entry),
/// fills a number nobody holds with a no-op, re-issues them in its epoch, and numbers new messages
/// after the highest.
#[test]
fn recovery_keeps_what_a_majority_holds_and_numbers_after_it() {
    let (mut m, _) = collecting(quiet());
    let slots = vec![slot(1, epoch(0, 2), entry(1, 1), false), slot(3, epoch(0, 2), entry(2, 1), false)];
    let fx = m.deliver(1, State { epoch: epoch(1, 3), reply: Reply { delivered: 0, slots } });
    let order = |seq, body| Order { epoch: epoch(1, 3), seq, body, stable: 0 };
    let mut expected = vec![
        Fx::CancelTimer("collect".into()),
        event("sequencer", json!({ "epoch": ej(1, 3), "next": 4, "collected": [1, 3], "reissued": 3 })),
        persist(durable(
            ej(1, 3),
            0,
            0,
            vec![
                slot_json(1, ej(1, 3), Some((1, 1)), false),
                slot_json(2, ej(1, 3), None, false),
                slot_json(3, ej(1, 3), Some((2, 1)), false),
            ],
        )),
    ];
    for (seq, body) in [(1, entry(1, 1)), (2, None), (3, entry(2, 1))] {
        expected.push(send(1, order(seq, body.clone())));
        expected.push(send(2, order(seq, body)));
    }
    expected.push(set_timer("tick", 50));
    assert_eq!(fx, expected);
    let fx = m.deliver(2, Submit { id: id(2, 2), payload: "m2.2".into() });
    assert_eq!(fx[0], event("sequenced", json!({ "seq": 4, "id": { "origin": 2, "n": 2 }, "epoch": ej(1, 3) })));
}

/// Sequence: a message gets the next number, is persisted, and goes to every member with the
/// stability known; the same message resent is not numbered again.
#[test]
fn the_sequencer_numbers_a_message_once() {
    let mut m = sequencing();
    let fx = m.deliver(1, Submit { id: id(1, 1), payload: "m1.1".into() });
    let order = Order { epoch: epoch(1, 3), seq: 1, body: entry(1, 1), stable: 0 };
    assert_eq!(
        fx,
        vec![
            event("sequenced", json!({ "seq": 1, "id": { "origin": 1, "n": 1 }, "epoch": ej(1, 3) })),
            persist(durable(ej(1, 3), 0, 0, vec![slot_json(1, ej(1, 3), Some((1, 1)), false)])),
            send(1, order.clone()),
            send(2, order),
        ]
    );
    assert_eq!(m.deliver(1, Submit { id: id(1, 1), payload: "m1.1".into() }), vec![]);
}

/// Stability: with its own copy and one ACK (a majority of three) the entry is stable; the
/// sequencer delivers it (persisted first) and announces it after `announce_ms`.
#[test]
fn an_entry_held_by_a_majority_is_delivered_and_announced() {
    let mut m = sequencing();
    m.deliver(1, Submit { id: id(1, 1), payload: "m1.1".into() });
    let fx = m.deliver(2, Ack { epoch: epoch(1, 3), upto: 1 });
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(1, 3), 0, 1, vec![slot_json(1, ej(1, 3), Some((1, 1)), true)])),
            event("delivered", json!({ "seq": 1, "id": { "origin": 1, "n": 1 }, "payload": "m1.1" })),
            set_timer("announce", 2),
        ]
    );
}

/// Hold back: a member keeps an ORDER (persisted before its ACK) and delivers nothing until the
/// entry is announced stable; then it delivers in number order.
#[test]
fn a_member_holds_an_order_back_until_it_is_stable() {
    let mut m = follower();
    let fx = m.deliver(3, Order { epoch: epoch(1, 3), seq: 1, body: entry(1, 1), stable: 0 });
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(1, 3), 0, 0, vec![slot_json(1, ej(1, 3), Some((1, 1)), false)])),
            set_timer("gap", 30),
            send(3, Ack { epoch: epoch(1, 3), upto: 1 }),
        ]
    );
    let fx = m.deliver(3, Stable { epoch: epoch(1, 3), upto: 1 });
    assert_eq!(
        fx,
        vec![
            persist(durable(ej(1, 3), 0, 1, vec![slot_json(1, ej(1, 3), Some((1, 1)), true)])),
            event("delivered", json!({ "seq": 1, "id": { "origin": 1, "n": 1 }, "payload": "m1.1" })),
        ]
    );
}

/// An ORDER of an epoch older than the promise is refused, and nothing is held.
#[test]
fn an_order_of_an_older_epoch_is_refused() {
    let mut m = follower();
    m.deliver(3, Collect { epoch: epoch(2, 3), after: 0 });
    let fx = m.deliver(1, Order { epoch: epoch(1, 1), seq: 1, body: entry(1, 1), stable: 1 });
    assert_eq!(fx, vec![send(1, Reject { epoch: epoch(1, 1), promised: epoch(2, 3) })]);
}

/// Meant to fail: without recovery the new sequencer does not collect and numbers from its own
/// delivered count.
#[test]
fn without_recovery_a_new_sequencer_numbers_from_its_own_count() {
    let (_, fx) = collecting(SequencerParams { unsafe_no_recovery: true, ..quiet() });
    assert_eq!(
        fx,
        vec![
            event("sequencer", json!({ "epoch": ej(1, 3), "next": 1, "collected": [3], "reissued": 0 })),
            persist(durable(ej(1, 3), 0, 0, vec![])),
            set_timer("tick", 50),
        ]
    );
}

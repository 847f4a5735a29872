//! The coordination service: its rules one at a time on one server's machine (the handler
//! called directly, the exact effects compared), and seeded simulator runs with crashes (the
//! leader's too), restarts, partitions and a client's death, whose session the leader expires.

use crate::common::rules::{decode, fire, messages, send, Fx, Node};
use crate::common::*;
use crate::{clients, crashes_restarts_partitions, service};
use algorithms::consensus::zab::{Machine, ZabMsg, ZabTimer, Zxid};
use algorithms::coordination::client::{ZkClient, ZkClientMsg};
use algorithms::coordination::service::{Call, ZkMachine, ZkOp, ZkOutcome, ZkReply, ZkRequest};
use algorithms::coordination::tree::{EventKind, TreeOp, TreeResult, WatchList};
use algorithms::core::process::{node_rng, Ctx, MS};
use algorithms::faults::{Action, Target};
use algorithms::sim::SimConfig;
use algorithms::{NodeId, Verdict};
use serde_json::json;
use std::time::Duration;

type Msg = ZabMsg<ZkMachine>;

/// Runs `f` on server 1's machine at `ms`, returning its effects.
fn on(m: &mut ZkMachine, ms: u64, f: impl FnOnce(&mut ZkMachine, &mut Ctx<ZabTimer>)) -> Vec<Fx<Msg>> {
    let mut rng = node_rng(1, 1, 1);
    let peers = [2, 3];
    let mut ctx = Ctx::new(1, &peers, ms * MS, &mut rng);
    f(m, &mut ctx);
    decode(ctx.into_effects())
}

fn req(client: NodeId, seq: u64, seen: u64, call: Call) -> ZkRequest {
    ZkRequest { client, session: client as u64, seq, seen, call }
}

fn z(counter: u64) -> Zxid {
    Zxid::new(1, counter)
}

fn answer(to: NodeId, seq: u64, zxid: Zxid, outcome: ZkOutcome) -> Fx<Msg> {
    send(to, ZabMsg::Reply(ZkReply::Answer { seq, zxid: zxid.packed(), outcome }))
}

/// A server with client 4's session open (timeout 300 ms) and its ephemeral /e, applied at (1, 2).
fn with_session() -> ZkMachine {
    let mut m = ZkMachine::default();
    on(&mut m, 0, |m, ctx| {
        m.apply(ctx, z(1), &ZkOp::Client(req(4, 1, 0, Call::Open { timeout_ms: 300 })));
        let create = TreeOp::Create { path: "/e".into(), data: "x".into(), ephemeral: true, sequential: false };
        m.apply(ctx, z(2), &ZkOp::Client(req(4, 2, 0, Call::Op(create))));
    });
    m
}

#[test]
fn a_read_is_answered_by_the_clients_server_from_its_own_tree() {
    let mut m = with_session();
    let get = req(5, 1, 0, Call::Op(TreeOp::Get { path: "/e".into(), watch: false }));
    let mut routed = None;
    let fx = on(&mut m, 10, |m, ctx| routed = Some(m.route(ctx, 5, get, true)));
    assert_eq!(routed, Some(None), "not ordered by the leader");
    let data = ZkOutcome::Done(TreeResult::Data { data: "x".into(), version: 0 });
    assert_eq!(fx, vec![answer(5, 1, z(2), data)]);
}

#[test]
fn a_write_goes_to_the_leader_and_its_server_answers_once_applied() {
    let mut m = with_session();
    let set = req(4, 3, 0, Call::Op(TreeOp::Set { path: "/e".into(), data: "y".into(), version: Some(0) }));
    let mut routed = None;
    let fx = on(&mut m, 10, |m, ctx| routed = Some(m.route(ctx, 4, set.clone(), true)));
    assert_eq!((routed, fx), (Some(Some(set.clone())), vec![]), "to be ordered; no answer yet");
    let fx = on(&mut m, 20, |m, ctx| m.apply(ctx, z(3), &ZkMachine::order(set.clone())));
    assert_eq!(
        fx[0].clone(),
        Fx::Event(
            "write_applied".into(),
            json!({"zxid": z(3).packed(), "client": 4, "session": 4, "seq": 3, "f": "set", "path": "/e"})
        )
    );
    assert_eq!(fx[1..], [answer(4, 3, z(3), ZkOutcome::Done(TreeResult::Stat { version: 1 }))]);
    // The retry of the same seq, ordered again, is answered from the session table.
    on(&mut m, 30, |m, ctx| {
        m.route(ctx, 4, set.clone(), true);
    });
    let fx = on(&mut m, 40, |m, ctx| m.apply(ctx, z(4), &ZkMachine::order(set.clone())));
    assert_eq!(fx, vec![answer(4, 3, z(4), ZkOutcome::Done(TreeResult::Stat { version: 1 }))], "not set twice");
}

#[test]
fn a_read_from_a_client_that_saw_more_waits_until_the_server_applied_it() {
    let mut m = with_session();
    let exists = req(5, 1, z(3).packed(), Call::Op(TreeOp::Exists { path: "/e".into(), watch: false }));
    let fx = on(&mut m, 10, |m, ctx| {
        m.route(ctx, 5, exists, true);
    });
    assert_eq!(fx, vec![], "held: this server is at (1, 2), the client saw (1, 3)");
    let fx = on(&mut m, 20, |m, ctx| m.apply(ctx, z(3), &ZkOp::Client(req(6, 1, 0, Call::Open { timeout_ms: 300 }))));
    assert_eq!(fx, vec![answer(5, 1, z(3), ZkOutcome::Done(TreeResult::Stat { version: 0 }))]);
}

#[test]
fn the_leader_expires_a_silent_session_through_zab_deleting_its_ephemerals_and_firing_watches() {
    let mut m = with_session();
    on(&mut m, 0, |m, _| m.established(0));
    // Client 5 watches /e at this server.
    on(&mut m, 10, |m, ctx| {
        m.route(ctx, 5, req(5, 1, 0, Call::Op(TreeOp::Exists { path: "/e".into(), watch: true })), true);
    });
    assert_eq!(m.tick(299 * MS), vec![], "client 4's session lives until 300 ms; client 5 opened none");
    let mut touched = m.clone();
    touched.touched(100 * MS, &[4]);
    assert_eq!(touched.tick(350 * MS), vec![], "heard of at 100 ms: alive until 400 ms");
    assert_eq!(m.tick(300 * MS), vec![ZkOp::Expire { session: 4 }], "silent for its 300 ms");
    assert_eq!(m.tick(310 * MS), vec![], "proposed once");
    let fx = on(&mut m, 320, |m, ctx| m.apply(ctx, z(3), &ZkOp::Expire { session: 4 }));
    let expired = json!({"zxid": z(3).packed(), "session": 4, "ephemerals": ["/e"]});
    let watch = ZkReply::Watch { zxid: z(3).packed(), path: "/e".into(), kind: EventKind::NodeDeleted };
    assert_eq!(fx, vec![Fx::Event("session_expired".into(), expired), send(5, ZabMsg::Reply(watch))]);
    let late = req(4, 3, 0, Call::Op(TreeOp::Delete { path: "/x".into(), version: None }));
    let fx = on(&mut m, 330, |m, ctx| {
        m.route(ctx, 4, late.clone(), true);
        m.apply(ctx, z(4), &ZkMachine::order(late.clone()));
    });
    assert_eq!(fx, vec![answer(4, 3, z(4), ZkOutcome::Expired)], "an expired session's write is refused");
}

#[test]
fn a_ping_of_a_session_expired_at_this_server_is_answered_expired() {
    let mut m = with_session();
    on(&mut m, 0, |m, _| m.established(0));
    let seen = z(2).packed();
    let fx = on(&mut m, 10, |m, ctx| {
        m.route(ctx, 4, req(4, 0, seen, Call::Ping), true);
    });
    assert_eq!(fx, vec![answer(4, 0, z(2), ZkOutcome::Pong)], "alive");
    on(&mut m, 400, |m, ctx| m.apply(ctx, z(3), &ZkOp::Expire { session: 4 }));
    let fx = on(&mut m, 410, |m, ctx| {
        m.route(ctx, 4, req(4, 0, seen, Call::Ping), true);
    });
    assert_eq!(fx, vec![answer(4, 0, z(3), ZkOutcome::Expired)], "applied past what the client saw, and gone");
    // A server behind what the client saw may not have applied its open yet: it says nothing of it.
    let ahead = z(9).packed();
    let fx = on(&mut m, 420, |m, ctx| {
        m.route(ctx, 5, req(5, 0, ahead, Call::Ping), true);
    });
    assert_eq!(fx, vec![answer(5, 0, z(3), ZkOutcome::Pong)]);
}

#[test]
fn a_server_that_cannot_serve_sends_a_read_or_ping_away_at_once() {
    let mut m = with_session();
    let fx = on(&mut m, 10, |m, ctx| {
        m.route(ctx, 4, req(4, 0, 0, Call::Ping), false);
    });
    assert_eq!(fx, vec![answer(4, 0, z(2), ZkOutcome::NotServing { leader: None })]);
}

fn watch_of(zxid: Zxid, path: &str, kind: EventKind) -> ZkReply {
    ZkReply::Watch { zxid: zxid.packed(), path: path.into(), kind }
}

#[test]
fn set_watches_once_applied_as_far_as_the_client_saw_fires_what_changed_since_and_leaves_the_rest() {
    let mut m = with_session();
    // (1, 3) sets /e, (1, 4) creates /f; client 5 saw up to (1, 2) elsewhere and had left a data
    // watch on /e, an exist watch on /f and on /g, and a child watch on /.
    let set = TreeOp::Set { path: "/e".into(), data: "y".into(), version: None };
    let create = TreeOp::Create { path: "/f".into(), data: String::new(), ephemeral: false, sequential: false };
    on(&mut m, 5, |m, ctx| {
        m.apply(ctx, z(3), &ZkOp::Client(req(4, 3, 0, Call::Op(set))));
        m.apply(ctx, z(4), &ZkOp::Client(req(4, 4, 0, Call::Op(create))));
    });
    let list = WatchList { data: vec!["/e".into()], exist: vec!["/f".into(), "/g".into()], child: vec!["/".into()] };
    // Held while this server is behind what the client saw.
    let ahead = req(5, 0, z(5).packed(), Call::SetWatches(list.clone()));
    let mut behind = m.clone();
    let fx = on(&mut behind, 10, |m, ctx| {
        assert_eq!(m.route(ctx, 5, ahead, true), None);
    });
    assert_eq!(fx, vec![], "held: at (1, 4), the client saw (1, 5)");
    let fx =
        on(&mut behind, 20, |m, ctx| m.apply(ctx, z(5), &ZkOp::Client(req(6, 1, 0, Call::Open { timeout_ms: 300 }))));
    assert_eq!(fx.last(), Some(&answer(5, 0, z(5), ZkOutcome::WatchesSet)), "released once at (1, 5)");
    // From (1, 2): /e changed at (1, 3), /f created at (1, 4), / got a child at (1, 4): fired now.
    let fx = on(&mut m, 10, |m, ctx| {
        assert_eq!(m.route(ctx, 5, req(5, 0, z(2).packed(), Call::SetWatches(list.clone())), true), None);
    });
    let fired = json!({"session": 5, "seen": z(2).packed(), "fired": ["/e", "/f", "/"], "left": 1});
    assert_eq!(
        fx,
        vec![
            Fx::Event("watches_set".into(), fired),
            send(5, ZabMsg::Reply(watch_of(z(3), "/e", EventKind::NodeDataChanged))),
            send(5, ZabMsg::Reply(watch_of(z(4), "/f", EventKind::NodeCreated))),
            send(5, ZabMsg::Reply(watch_of(z(4), "/", EventKind::NodeChildrenChanged))),
            answer(5, 0, z(4), ZkOutcome::WatchesSet),
        ]
    );
    // /g's exist watch was left here: its creation fires it for client 5.
    let create = TreeOp::Create { path: "/g".into(), data: String::new(), ephemeral: false, sequential: false };
    let fx = on(&mut m, 20, |m, ctx| m.apply(ctx, z(6), &ZkOp::Client(req(4, 5, 0, Call::Op(create)))));
    assert_eq!(messages(&fx)[0], (5, ZabMsg::Reply(watch_of(z(6), "/g", EventKind::NodeCreated))));
}

/// Client 4 (servers 1–3, operations only by hand), with its session open at its first server.
fn client_with_session() -> (Node<ZkClient>, NodeId) {
    let workload = algorithms::service::client::Workload { ops: Some(0), ..clients() };
    let mut c = Node::new(4, &[1, 2, 3], ZkClient::new(4, &[1, 2, 3], workload).unwrap());
    c.start();
    let opened = fire(&mut c, "next");
    let (server, ZkClientMsg::Request(open)) = messages(&opened)[0].clone() else { panic!("{opened:?}") };
    let reply = ZkReply::Answer { seq: open.seq, zxid: z(1).packed(), outcome: ZkOutcome::Opened };
    c.deliver(server, ZkClientMsg::Reply(reply));
    (c, server)
}

fn client_answer(c: &mut Node<ZkClient>, from: NodeId, zxid: Zxid, outcome: ZkOutcome) -> Vec<Fx<ZkClientMsg>> {
    c.deliver(from, ZkClientMsg::Reply(ZkReply::Answer { seq: c_seq(c), zxid: zxid.packed(), outcome }))
}

/// The seq of the client's operation in flight: the last request it sent (seq 2 onwards here).
fn c_seq(c: &Node<ZkClient>) -> u64 {
    c.process.in_flight().expect("an operation in flight")
}

#[test]
fn a_client_that_moves_sends_its_watches_with_the_last_zxid_it_saw_until_the_server_answers() {
    let (mut c, first) = client_with_session();
    c.command(&["watch", "/a"]).0.unwrap();
    client_answer(&mut c, first, z(5), ZkOutcome::Done(TreeResult::Stat { version: 0 }));
    c.command(&["watch", "/b"]).0.unwrap();
    client_answer(&mut c, first, z(6), ZkOutcome::Done(TreeResult::NoNode { path: "/b".into() }));
    c.command(&["get", "/x"]).0.unwrap();
    let get = c_seq(&c);
    // Its server cannot serve, and names server `to`: the client moves there.
    let to = [1, 2, 3].into_iter().find(|s| *s != first).unwrap();
    let fx = client_answer(&mut c, first, z(6), ZkOutcome::NotServing { leader: Some(to) });
    let session = c.process.session().unwrap();
    let list = WatchList { data: vec!["/a".into()], exist: vec!["/b".into()], child: vec![] };
    let sent: Vec<(NodeId, ZkClientMsg)> = messages(&fx);
    assert_eq!(
        sent,
        vec![
            (
                to,
                ZkClientMsg::Request(ZkRequest {
                    client: 4,
                    session,
                    seq: 0,
                    seen: z(6).packed(),
                    call: Call::SetWatches(list.clone())
                })
            ),
            (
                to,
                ZkClientMsg::Request(ZkRequest {
                    client: 4,
                    session,
                    seq: get,
                    seen: z(6).packed(),
                    call: Call::Op(TreeOp::Get { path: "/x".into(), watch: false })
                })
            ),
        ],
        "SetWatches before the operation in flight, sent again"
    );
    // Unanswered: sent again with the next ping.
    c.at(250);
    let fx = fire(&mut c, "ping");
    assert_eq!(
        messages(&fx)[0],
        (
            to,
            ZkClientMsg::Request(ZkRequest {
                client: 4,
                session,
                seq: 0,
                seen: z(6).packed(),
                call: Call::SetWatches(list)
            })
        )
    );
    c.deliver(to, ZkClientMsg::Reply(ZkReply::Answer { seq: 0, zxid: z(6).packed(), outcome: ZkOutcome::WatchesSet }));
    c.at(500);
    let fx = fire(&mut c, "ping");
    assert!(
        messages(&fx)
            .iter()
            .all(|(_, m)| !matches!(m, ZkClientMsg::Request(ZkRequest { call: Call::SetWatches(_), .. }))),
        "answered: {fx:?}"
    );
    // /a's watch, left at the first server, fires from the new one; a second copy is dropped.
    let fired = watch_of(z(7), "/a", EventKind::NodeDataChanged);
    let fx = c.deliver(to, ZkClientMsg::Reply(fired.clone()));
    let event = json!({"session": session, "zxid": z(7).packed(), "path": "/a", "kind": "node_data_changed", "server": to, "set_at": first});
    assert_eq!(fx, vec![Fx::Event("zk_watch".into(), event)]);
    assert_eq!(c.deliver(to, ZkClientMsg::Reply(fired)), vec![], "one-shot: no watch on /a is left");
    // A notification of a change no newer than the state a watch was left on is a stale copy's.
    let stale = watch_of(z(6), "/b", EventKind::NodeCreated);
    assert_eq!(c.deliver(to, ZkClientMsg::Reply(stale)), vec![]);
}

fn coordination(seed: u64, faults: Vec<algorithms::faults::FaultSpec>, session_ms: u64) -> SimConfig {
    let cfg = service("coordination", 3, seed, 3.0, json!({}), faults);
    let workload =
        algorithms::service::client::Workload { session_timeout: Some(Duration::from_millis(session_ms)), ..clients() };
    SimConfig { workload: Some(workload), ..cfg }
}

#[test]
fn every_property_holds_over_12_seeds_with_crashes_restarts_and_partitions() {
    for seed in 0..12 {
        let (_, report) = run(&coordination(seed, crashes_restarts_partitions(), 600));
        for p in &report.properties {
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
    }
}

/// Client 4 dies at 1 s: its session expires about its timeout later, through ZAB, on every
/// server, and no other session does.
#[test]
fn a_dead_clients_session_expires_after_its_timeout_and_only_its() {
    for seed in 0..3 {
        let (out, report) = run(&coordination(seed, vec![fault(1.0, Action::Kill { node: Target::Id(4) })], 400));
        // No leader change: primary_integrity has nothing to judge.
        assert!(report.properties.iter().all(|p| p.verdict != Verdict::Violated), "seed {seed}: {report:#?}");
        let expiries: Vec<(u64, u64)> = out
            .run
            .records
            .iter()
            .filter_map(|r| match &r.what {
                algorithms::trace::What::Event { name, data } if name == "session_expired" => {
                    Some((r.t, data["session"].as_u64().unwrap()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(expiries.len(), 3, "seed {seed}: applied by each of the 3 servers: {expiries:?}");
        for (t, session) in expiries {
            assert_eq!(session >> 32, 4, "seed {seed}: client 4's session");
            let after = (t - 1_000 * MS) / MS;
            // The timeout runs from its last ping (up to a third of it before the kill); the leader
            // notices within a tick and commits within a round trip.
            assert!((400 - 134..=400 + 200).contains(&after), "seed {seed}: expired {after} ms after the kill");
        }
    }
}

/// The leader is killed twice: clients attached to it move, carrying their watches (SetWatches),
/// and watches left at the dead server fire from the new one. Every property still holds.
#[test]
fn watches_left_before_a_move_fire_after_it_over_20_seeds_with_leader_kills() {
    let faults = vec![
        lasting(1.0, 0.5, Action::Kill { node: Target::Leader }),
        lasting(2.0, 0.5, Action::Kill { node: Target::Leader }),
    ];
    let (mut moved, mut sent) = (0, 0);
    for seed in 0..20 {
        let (out, report) = run(&coordination(seed, faults.clone(), 600));
        for p in &report.properties {
            assert_ne!(p.verdict, Verdict::Violated, "seed {seed}: {p:#?}");
        }
        for r in &out.run.records {
            if let algorithms::trace::What::Event { name, data } = &r.what {
                match name.as_str() {
                    "zk_watch" if data["server"] != data["set_at"] => moved += 1,
                    "watches_set" => sent += 1,
                    _ => {}
                }
            }
        }
    }
    eprintln!("{sent} SetWatches done, {moved} watches fired at a server other than the one they were left at");
    assert!(moved >= 20, "{moved} watches fired after a move ({sent} SetWatches)");
}

fn znode_verdict(history: &algorithms::check::history::History) -> algorithms::check::history::Outcome {
    use algorithms::check::history::{check, CheckOptions, ModelKind};
    check(history, ModelKind::Znode, CheckOptions::default()).unwrap().outcome
}

/// The clients' writes as a history (`op` events): every znode's versions linearizable under
/// crashes, restarts and partitions, and the model the report picks for it is `znode`.
#[test]
fn the_clients_writes_make_a_history_the_znode_model_finds_linearizable() {
    use algorithms::check::history::{History, ModelKind, Outcome};
    for seed in 0..6 {
        let (out, _) = run(&coordination(seed, crashes_restarts_partitions(), 600));
        let history = History::from_run(&out.run);
        assert!(history.ops().len() > 10, "seed {seed}: {} operations", history.ops().len());
        assert!(history.ops().iter().all(|o| ["create", "set", "delete"].contains(&o.f.as_str())));
        assert_eq!(ModelKind::guess(&history), Some(ModelKind::Znode));
        assert_eq!(znode_verdict(&history), Outcome::Linearizable, "seed {seed}");
    }
}

/// Meant to fail: two sets that both answered version 2 (the second cannot follow the first).
#[test]
fn the_znode_model_finds_two_sets_answering_the_same_version_not_linearizable() {
    use algorithms::check::history::{History, Outcome};
    let lines = [
        r#"{"process": 4, "type": "invoke", "f": "create", "key": "/c", "value": null}"#,
        r#"{"process": 4, "type": "ok", "f": "create", "key": "/c", "value": null}"#,
        r#"{"process": 4, "type": "invoke", "f": "set", "key": "/c", "value": null}"#,
        r#"{"process": 4, "type": "ok", "f": "set", "key": "/c", "value": 1}"#,
        r#"{"process": 4, "type": "invoke", "f": "set", "key": "/c", "value": 1}"#,
        r#"{"process": 4, "type": "ok", "f": "set", "key": "/c", "value": 2}"#,
        r#"{"process": 5, "type": "invoke", "f": "set", "key": "/c", "value": null}"#,
        r#"{"process": 5, "type": "ok", "f": "set", "key": "/c", "value": 2}"#,
    ];
    let bad = History::parse(&lines.join("\n")).unwrap();
    assert_eq!(znode_verdict(&bad), Outcome::NotLinearizable);
    // Without the last set, and with a crashed set that may have taken effect, it is fine.
    let info = r#"{"process": 5, "type": "invoke", "f": "set", "key": "/c", "value": null}"#;
    let after = r#"{"process": 6, "type": "invoke", "f": "set", "key": "/c", "value": null}
{"process": 6, "type": "ok", "f": "set", "key": "/c", "value": 4}"#;
    let good = History::parse(&[&lines[..6].join("\n"), info, after].join("\n")).unwrap();
    assert_eq!(znode_verdict(&good), Outcome::Linearizable);
}

/// During an election every server answers "not serving": the session moves once, and a second
/// such answer within the operation timeout waits for the retry instead of bouncing on at
/// network speed (what gave the 70 reconnects of one loaded real run).
#[test]
fn a_client_told_not_serving_twice_within_its_timeout_moves_once() {
    let (mut c, first) = client_with_session();
    c.command(&["get", "/x"]).0.unwrap();
    let fx = client_answer(&mut c, first, z(1), ZkOutcome::NotServing { leader: None });
    let moved: Vec<NodeId> = messages(&fx).into_iter().map(|(to, _)| to).collect();
    assert_eq!(moved.len(), 1, "moved and sent again: {fx:?}");
    let second = moved[0];
    c.at(50);
    let fx = client_answer(&mut c, second, z(1), ZkOutcome::NotServing { leader: None });
    assert_eq!(fx, vec![], "50 ms after the move: stays until the retry");
    // The retry (200 ms): the server answered within a ping interval, so it is asked again.
    c.at(200);
    let fx = fire(&mut c, "retry");
    assert_eq!(messages(&fx).into_iter().map(|(to, _)| to).collect::<Vec<_>>(), vec![second]);
    // Its next "not serving", a timeout after the move, moves the session on.
    c.at(210);
    let fx = client_answer(&mut c, second, z(1), ZkOutcome::NotServing { leader: None });
    assert!(matches!(&fx[0], Fx::Event(name, data) if name == "reconnected" && data["why"] == "not_serving"), "{fx:?}");
}

/// The figures: reads split by the role of the server that answered them, and writes per second.
#[test]
fn the_figures_split_reads_by_the_answering_servers_role_and_count_writes_per_second() {
    let (mut at_leader, mut at_follower) = (0, 0);
    for seed in 0..4 {
        let (_, report) = run(&coordination(seed, vec![], 600));
        let count = |name: &str| report.metrics[name]["count"].as_u64().unwrap();
        (at_leader, at_follower) = (at_leader + count("read_ms_at_leader"), at_follower + count("read_ms_at_follower"));
        let per_s = report.metrics["writes_per_s"].as_f64().unwrap();
        // Three clients at 10 operations/s, 30 % of them sets (and the creates of absent znodes).
        assert!((3.0..20.0).contains(&per_s), "seed {seed}: {per_s}");
    }
    assert!(at_leader > 0 && at_follower > 0, "{at_leader} reads at the leader, {at_follower} at a follower");
}

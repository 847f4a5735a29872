//! ZAB's rules one at a time, as `consensus/zab/mod.rs` states them: one handler called on node
//! 1 of three, the exact effects compared.

use crate::common::rules::*;
use algorithms::consensus::multipaxos::{describe, digest};
use algorithms::consensus::zab::{
    common_point, Durable, Op, ServerState, SyncMode, Txn, Vote, ZabMsg, ZabParams, ZabServer, Zxid,
};
use algorithms::service::{Command, Outcome, Reply, Request};
use algorithms::NodeId;
use serde_json::{json, Value};

use ZabMsg::{
    Ack, AckEpoch, AckNewLeader, Commit, FollowerInfo, NewEpoch, NewLeader, Notification, Proposal, Sync, UpToDate,
};

const PEERS: [NodeId; 2] = [2, 3];

fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid::new(epoch, counter)
}

fn request(seq: u64) -> Request {
    Request { client: 4, seq, command: Command::Put { key: "x".into(), value: format!("c4-{seq}") } }
}

fn txn(epoch: u64, counter: u64, seq: u64) -> Txn {
    Txn { zxid: z(epoch, counter), op: Op::Client(request(seq)) }
}

fn zxid_json(zxid: Zxid) -> Value {
    json!({ "epoch": zxid.epoch, "counter": zxid.counter })
}

/// The persisted state as its MessagePack reads back.
fn durable(accepted: u64, current: u64, history: &[Txn]) -> Value {
    let history: Vec<Value> = history
        .iter()
        .map(|t| json!({ "zxid": zxid_json(t.zxid), "op": serde_json::to_value(&t.op).unwrap() }))
        .collect();
    json!({ "accepted_epoch": accepted, "current_epoch": current, "history": history })
}

fn stored(accepted: u64, current: u64, history: Vec<Txn>) -> Vec<u8> {
    rmp_serde::to_vec_named(&Durable { accepted_epoch: accepted, current_epoch: current, history }).unwrap()
}

fn vote(epoch: u64, zxid: Zxid, leader: NodeId) -> Vote {
    Vote { epoch, zxid, leader }
}

fn looking(vote: Vote, round: u64) -> ZabMsg {
    Notification { vote, round, state: ServerState::Looking }
}

/// Node 1 of three, started from this stable storage (none: a first boot).
fn server_with(state: Option<Vec<u8>>) -> Node<ZabServer> {
    let mut n = Node::new(1, &PEERS, ZabServer::new(1, ZabParams::default()));
    n.stored = state;
    n.start();
    n
}

/// Node 1, elected by node 2's vote in round 1, with an empty history.
fn prospective_leader() -> Node<ZabServer> {
    let mut n = server_with(None);
    n.deliver(2, looking(vote(0, Zxid::ZERO, 1), 1));
    fire(&mut n, "finalize");
    n
}

/// Node 1 leading epoch 1 with node 2 synced: established, empty history.
fn leader() -> Node<ZabServer> {
    let mut n = prospective_leader();
    n.deliver(2, FollowerInfo { accepted_epoch: 0 });
    n.deliver(2, AckEpoch { epoch: 1, current_epoch: 0, last: Zxid::ZERO, segments: vec![] });
    n.deliver(2, AckNewLeader { epoch: 1, last: Zxid::ZERO });
    assert_eq!(n.status().role, "leading");
    n
}

/// Node 1 following node 3 in epoch 2, with `history` taken from it.
fn follower(history: Vec<Txn>) -> Node<ZabServer> {
    let last = history.last().map_or(Zxid::ZERO, |t| t.zxid);
    let mut n = server_with(None);
    n.deliver(3, Notification { vote: vote(1, last, 3), round: 1, state: ServerState::Leading });
    n.deliver(3, NewEpoch { epoch: 2 });
    n.deliver(3, Sync { epoch: 2, mode: SyncMode::Snap, txns: history });
    n.deliver(3, NewLeader { epoch: 2, last });
    assert_eq!(n.status().role, "following");
    n
}

// ---- persistence ----

/// The epochs and the history are stable storage: a restarted server votes with them.
#[test]
fn a_restarted_server_votes_with_its_persisted_epoch_and_last_zxid() {
    let mut n = Node::new(1, &PEERS, ZabServer::new(1, ZabParams::default()));
    n.stored = Some(stored(3, 2, vec![txn(1, 1, 1), txn(2, 1, 2)]));
    let mut want = vec![
        event("restored", json!({ "accepted_epoch": 3, "current_epoch": 2, "last": zxid_json(z(2, 1)), "txns": 2 })),
        event("election_started", json!({ "term": 1 })),
    ];
    want.extend(sends(&PEERS, looking(vote(2, z(2, 1), 1), 1)));
    want.push(set_timer("notify", 100));
    assert_eq!(n.start(), want);
    assert_eq!(n.status().role, "looking");
}

/// A history out of zxid order, or an epoch that contradicts it, does not load.
#[test]
fn corrupt_persisted_state_is_an_error_not_a_default() {
    let out_of_order = stored(2, 2, vec![txn(2, 1, 1), txn(1, 5, 2)]);
    let err = rmp_serde::from_slice::<Durable>(&out_of_order).unwrap_err().to_string();
    assert!(err.contains("history: zxid (2, 1) is followed by (1, 5)"), "{err}");
    let epochs = stored(1, 2, vec![]);
    let err = rmp_serde::from_slice::<Durable>(&epochs).unwrap_err().to_string();
    assert!(err.contains("current_epoch 2 is above accepted_epoch 1"), "{err}");
}

// ---- fast leader election ----

/// A higher vote in the same round is adopted and sent to everyone; a lower one is not.
#[test]
fn a_looking_server_adopts_a_higher_vote_and_tells_everyone() {
    let mut n = server_with(Some(stored(1, 1, vec![txn(1, 1, 1)])));
    assert_eq!(n.deliver(2, looking(vote(1, Zxid::ZERO, 2), 1)), vec![]);
    let better = vote(1, z(1, 2), 3);
    let mut want = sends(&PEERS, looking(better, 1));
    want.push(set_timer("finalize", 20));
    assert_eq!(n.deliver(3, looking(better, 1)), want, "nodes 1 and 3 agree: a majority");
}

/// A notification of an older round is answered with this server's, so its sender catches up.
#[test]
fn an_older_round_is_answered_with_the_current_vote() {
    let mut n = server_with(None);
    n.deliver(2, looking(vote(0, Zxid::ZERO, 2), 3));
    let mine = vote(0, Zxid::ZERO, 2);
    assert_eq!(n.deliver(3, looking(vote(0, Zxid::ZERO, 3), 2)), vec![send(3, looking(mine, 3))]);
}

/// After the finalize wait, a majority still agreeing: the vote's server leads, or is followed.
#[test]
fn after_the_finalize_wait_the_server_follows_the_agreed_vote() {
    let mut n = server_with(None);
    let winner = vote(0, Zxid::ZERO, 3);
    n.deliver(3, looking(winner, 1));
    assert_eq!(
        fire(&mut n, "finalize"),
        vec![
            cancel_timer("notify"),
            cancel_timer("finalize"),
            event(
                "decided",
                json!({ "leader": 3, "round": 1, "vote": { "epoch": 0, "zxid": zxid_json(Zxid::ZERO), "leader": 3 } })
            ),
            send(3, FollowerInfo { accepted_epoch: 0 }),
            set_timer("connect", 50),
            set_timer("leader_silent", 1000),
        ]
    );
}

/// A server that leads answers a looking one; a looking one told so by the leader follows it.
#[test]
fn a_leader_answers_a_looking_server_which_follows_it() {
    let mut l = leader();
    let told = l.deliver(3, looking(vote(0, Zxid::ZERO, 3), 1));
    let leading = Notification { vote: vote(0, Zxid::ZERO, 1), round: 1, state: ServerState::Leading };
    assert_eq!(told, vec![send(3, leading.clone())]);
    let mut n = server_with(None);
    let fx = n.deliver(2, Notification { vote: vote(0, Zxid::ZERO, 2), round: 1, state: ServerState::Leading });
    assert_eq!(messages(&fx), vec![(2, FollowerInfo { accepted_epoch: 0 })]);
}

// ---- discovery ----

/// With a majority's FOLLOWERINFO the leader picks an epoch above every accepted one, accepts it
/// itself (persisted first) and sends NEWEPOCH.
#[test]
fn the_prospective_leader_picks_an_epoch_above_every_accepted_one() {
    let mut n = prospective_leader();
    assert_eq!(
        n.deliver(2, FollowerInfo { accepted_epoch: 4 }),
        vec![
            persist(durable(5, 0, &[])),
            event("epoch_chosen", json!({ "epoch": 5, "from": [1, 2] })),
            send(2, NewEpoch { epoch: 5 }),
        ]
    );
    // A latecomer gets the chosen epoch at once.
    assert_eq!(n.deliver(3, FollowerInfo { accepted_epoch: 0 }), vec![send(3, NewEpoch { epoch: 5 })]);
}

/// A follower accepts a higher epoch (persisted before it answers) and reports its current epoch,
/// last zxid and its history's epochs; an epoch not above the one it accepted makes it look again.
#[test]
fn a_follower_accepts_a_higher_epoch_and_reports_its_history() {
    let history = vec![txn(1, 1, 1), txn(1, 2, 2), txn(2, 1, 3)];
    let mut n = server_with(Some(stored(2, 2, history.clone())));
    n.deliver(3, Notification { vote: vote(2, z(2, 1), 3), round: 1, state: ServerState::Leading });
    assert_eq!(
        n.deliver(3, NewEpoch { epoch: 3 }),
        vec![
            persist(durable(3, 2, &history)),
            send(3, AckEpoch { epoch: 3, current_epoch: 2, last: z(2, 1), segments: vec![z(1, 2), z(2, 1)] }),
            set_timer("leader_silent", 1000),
        ]
    );
    let mut n = server_with(Some(stored(4, 2, history)));
    n.deliver(3, Notification { vote: vote(2, z(2, 1), 3), round: 1, state: ServerState::Leading });
    let fx = n.deliver(3, NewEpoch { epoch: 4 });
    assert!(fx.contains(&event("election_started", json!({ "term": 2 }))), "{fx:?}");
    assert_eq!(n.status().role, "looking");
}

/// A leader that hears from a follower more recent than itself gives up.
#[test]
fn a_leader_that_meets_a_more_recent_follower_looks_again() {
    let mut n = prospective_leader();
    n.deliver(2, FollowerInfo { accepted_epoch: 0 });
    let fx = n.deliver(2, AckEpoch { epoch: 1, current_epoch: 1, last: z(1, 3), segments: vec![z(1, 3)] });
    assert!(fx.contains(&event("election_started", json!({ "term": 2 }))), "{fx:?}");
    assert_eq!(n.status().role, "looking");
}

// ---- synchronization ----

/// Where two histories part: the leader's last transaction the follower also has.
#[test]
fn the_common_point_is_the_leaders_last_transaction_the_follower_has() {
    let leader = [txn(1, 1, 1), txn(1, 2, 2), txn(3, 1, 3), txn(3, 2, 4)];
    assert_eq!(common_point(&leader, &[z(1, 2)]), z(1, 2), "a prefix: DIFF");
    assert_eq!(common_point(&leader, &[z(1, 2), z(2, 4)]), z(1, 2), "epoch 2 is not the leader's: TRUNC");
    assert_eq!(common_point(&leader, &[z(1, 1)]), z(1, 1));
    assert_eq!(common_point(&leader, &[]), Zxid::ZERO);
}

fn d(t: &Txn) -> String {
    digest(&t.op)
}

/// What a server does when `t` is committed: deliver it and apply client 4's put (a fresh one).
fn delivers(t: &Txn, seq: u64) -> Vec<Fx<ZabMsg>> {
    vec![
        event("delivered", json!({ "zxid": zxid_json(t.zxid), "digest": d(t) })),
        event("applied", json!({ "index": t.zxid.packed(), "client": 4, "seq": seq, "f": "put", "key": "x" })),
    ]
}

/// TRUNC for a follower holding a transaction of a leader the others never followed, SNAP for one
/// too far behind (more than `max_diff`), then NEWLEADER; a majority's acknowledgements
/// establish the leader, which commits its whole history.
#[test]
fn the_leader_synchronizes_each_follower_by_trunc_or_snap_and_is_established_by_a_majority() {
    let history = vec![txn(1, 1, 1), txn(2, 1, 2)];
    let params = ZabParams { max_diff: 1, ..ZabParams::default() };
    let mut n = Node::new(1, &PEERS, ZabServer::new(1, params));
    n.stored = Some(stored(2, 2, history.clone()));
    n.start();
    n.deliver(2, looking(vote(2, z(2, 1), 1), 1));
    fire(&mut n, "finalize");
    n.deliver(2, FollowerInfo { accepted_epoch: 1 });
    // Node 2 has (1, 1) and a (1, 2) that was never committed: TRUNC to (1, 1), then (2, 1).
    let trunc = SyncMode::Trunc { to: z(1, 1) };
    assert_eq!(
        n.deliver(2, AckEpoch { epoch: 3, current_epoch: 1, last: z(1, 2), segments: vec![z(1, 2)] }),
        vec![
            persist(durable(3, 3, &history)),
            event("sync_sent", json!({ "follower": 2, "mode": { "trunc": { "to": zxid_json(z(1, 1)) } }, "txns": 1 })),
            send(2, Sync { epoch: 3, mode: trunc, txns: vec![txn(2, 1, 2)] }),
            send(2, NewLeader { epoch: 3, last: z(2, 1) }),
        ]
    );
    let established =
        json!({ "epoch": 3, "history": [[zxid_json(z(1, 1)), d(&history[0])], [zxid_json(z(2, 1)), d(&history[1])]] });
    let mut want = vec![
        event("established", established),
        event("leader", json!({ "leader": 1, "term": 3 })),
        send(2, UpToDate { epoch: 3, commit: z(2, 1) }),
    ];
    want.extend(delivers(&history[0], 1));
    want.extend(delivers(&history[1], 2));
    assert_eq!(n.deliver(2, AckNewLeader { epoch: 3, last: z(2, 1) }), want);
    assert_eq!(n.status().role, "leading");
    // Node 3 comes with nothing: the difference is longer than max_diff, a SNAP of it all.
    assert_eq!(n.deliver(3, FollowerInfo { accepted_epoch: 0 }), vec![send(3, NewEpoch { epoch: 3 })]);
    assert_eq!(
        n.deliver(3, AckEpoch { epoch: 3, current_epoch: 0, last: Zxid::ZERO, segments: vec![] }),
        vec![
            event("sync_sent", json!({ "follower": 3, "mode": "snap", "txns": 2 })),
            send(3, Sync { epoch: 3, mode: SyncMode::Snap, txns: history.clone() }),
            send(3, NewLeader { epoch: 3, last: z(2, 1) }),
        ]
    );
}

/// A follower takes the TRUNC and the difference, and at NEWLEADER persists the history with the
/// new epoch before it acknowledges; a NEWLEADER its history does not end at means a lost sync.
#[test]
fn a_follower_takes_the_leaders_history_and_epoch_at_newleader() {
    let mut n = server_with(Some(stored(1, 1, vec![txn(1, 1, 1), txn(1, 2, 2)])));
    n.deliver(3, Notification { vote: vote(2, z(2, 1), 3), round: 1, state: ServerState::Leading });
    n.deliver(3, NewEpoch { epoch: 3 });
    let sync = Sync { epoch: 3, mode: SyncMode::Trunc { to: z(1, 1) }, txns: vec![txn(2, 1, 3)] };
    assert_eq!(n.deliver(3, sync), vec![set_timer("leader_silent", 1000)]);
    let taken = [txn(1, 1, 1), txn(2, 1, 3)];
    assert_eq!(
        n.deliver(3, NewLeader { epoch: 3, last: z(2, 1) }),
        vec![
            persist(durable(3, 3, &taken)),
            event("synced", json!({ "leader": 3, "epoch": 3, "last": zxid_json(z(2, 1)) })),
            event("leader", json!({ "leader": 3, "term": 3 })),
            send(3, AckNewLeader { epoch: 3, last: z(2, 1) }),
            set_timer("leader_silent", 250),
        ]
    );
    assert_eq!(n.status().role, "following");

    let mut n = server_with(Some(stored(1, 1, vec![txn(1, 1, 1)])));
    n.deliver(3, Notification { vote: vote(2, z(2, 1), 3), round: 1, state: ServerState::Leading });
    n.deliver(3, NewEpoch { epoch: 3 });
    let fx = n.deliver(3, NewLeader { epoch: 3, last: z(2, 1) });
    assert!(fx.contains(&event("election_started", json!({ "term": 2 }))), "{fx:?}");
}

// ---- broadcast ----

/// A client's write at the leader: logged (persisted) and proposed to the synced followers; a
/// majority's ACK commits it: COMMIT to the followers, delivered, applied, the client answered.
#[test]
fn the_leader_proposes_a_write_and_commits_it_on_a_majoritys_ack() {
    let mut n = leader();
    let t = txn(1, 1, 1);
    assert_eq!(
        n.deliver(4, ZabMsg::Request(request(1))),
        vec![
            persist(durable(1, 1, std::slice::from_ref(&t))),
            event(
                "proposed",
                json!({ "zxid": zxid_json(z(1, 1)), "digest": d(&t), "op": describe(&t.op), "origin": { "client": { "client": 4, "seq": 1 } } })
            ),
            send(2, Proposal { txn: t.clone() }),
        ]
    );
    let mut want = vec![
        event("committed", json!({ "zxid": zxid_json(z(1, 1)), "digest": d(&t) })),
        send(2, Commit { zxid: z(1, 1) }),
    ];
    want.extend(delivers(&t, 1));
    want.push(send(4, ZabMsg::Reply(Reply { seq: 1, outcome: Outcome::Ok { value: None } })));
    assert_eq!(n.deliver(2, Ack { epoch: 1, zxid: z(1, 1) }), want);
}

/// A follower logs proposals in zxid order (persisted before the ACK), ignores a duplicate, and
/// looks again at a gap; a client's request goes to the leader, and the follower answers it when
/// the COMMIT comes.
#[test]
fn a_follower_logs_proposals_in_order_forwards_writes_and_answers_its_client_on_commit() {
    let mut n = follower(vec![txn(1, 1, 1)]);
    assert_eq!(n.deliver(4, ZabMsg::Request(request(2))), vec![send(3, ZabMsg::Forward(request(2)))]);
    let t = txn(2, 1, 2);
    assert_eq!(
        n.deliver(3, Proposal { txn: t.clone() }),
        vec![
            set_timer("leader_silent", 250),
            persist(durable(2, 2, &[txn(1, 1, 1), t.clone()])),
            send(3, Ack { epoch: 2, zxid: z(2, 1) }),
        ]
    );
    assert_eq!(n.deliver(3, Proposal { txn: t.clone() }), vec![set_timer("leader_silent", 250)], "a duplicate");
    let mut want = vec![set_timer("leader_silent", 250)];
    want.extend(delivers(&txn(1, 1, 1), 1));
    want.extend(delivers(&t, 2));
    want.push(send(4, ZabMsg::Reply(Reply { seq: 2, outcome: Outcome::Ok { value: None } })));
    assert_eq!(n.deliver(3, Commit { zxid: z(2, 1) }), want);
    let fx = n.deliver(3, Proposal { txn: txn(2, 3, 3) });
    assert!(fx.contains(&event("election_started", json!({ "term": 2 }))), "a gap: {fx:?}");
}

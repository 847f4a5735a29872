//! `lease-lock`'s rules one at a time, as `election/lease/lock.rs` states them: a handler called
//! on the storage (node 2) or on a lock client (node 3) of five, the exact effects compared. The
//! lease's own rules (reads, takeovers, renewals) are the lease election's.

use crate::common::rules::*;
use algorithms::election::lease::{LeaseMsg, LeaseNode, LeaseParams, LeaseRecord, Lock};
use serde_json::json;

use LeaseMsg::{Get, Record, Update, UpdateResult, Write, WriteResult};

fn node(me: u32, fencing: bool) -> Node<LeaseNode> {
    let peers: Vec<u32> = (1..=5).filter(|p| *p != me).collect();
    Node::new(me, &peers, LeaseNode::with_lock(me, LeaseParams::default(), Some(Lock { storage: 2, fencing })))
}

fn storage(fencing: bool) -> Node<LeaseNode> {
    let mut n = node(2, fencing);
    assert_eq!(n.start(), vec![], "the storage waits for writes");
    n
}

/// "The storage accepts a write only with a token at least as high as any it has accepted": a
/// higher token is accepted and persisted, an equal one accepted, a lower one rejected with a
/// `write_rejected` event and the answer that fences the writer off.
#[test]
fn the_storage_accepts_tokens_at_least_the_highest_and_rejects_lower_ones() {
    let mut n = storage(true);
    let fx = n.deliver(4, Write { token: 2, seq: 1 });
    let accepted = vec![
        persist(json!({ "storage": { "highest": 2 } })),
        event("write_accepted", json!({ "from": 4, "token": 2, "seq": 1 })),
        send(4, WriteResult { seq: 1, ok: true, highest: 2 }),
    ];
    assert_eq!(fx, accepted);
    let fx = n.deliver(4, Write { token: 2, seq: 2 });
    assert_eq!(
        fx,
        vec![
            event("write_accepted", json!({ "from": 4, "token": 2, "seq": 2 })),
            send(4, WriteResult { seq: 2, ok: true, highest: 2 }),
        ]
    );
    let fx = n.deliver(3, Write { token: 1, seq: 7 });
    assert_eq!(
        fx,
        vec![
            event("write_rejected", json!({ "from": 3, "token": 1, "seq": 7, "highest": 2 })),
            send(3, WriteResult { seq: 7, ok: false, highest: 2 }),
        ]
    );
}

/// Without fencing the storage accepts every write, a lower token too.
#[test]
fn without_fencing_the_storage_accepts_a_lower_token() {
    let mut n = storage(false);
    n.deliver(4, Write { token: 2, seq: 1 });
    let fx = n.deliver(3, Write { token: 1, seq: 7 });
    assert_eq!(
        fx,
        vec![
            event("write_accepted", json!({ "from": 3, "token": 1, "seq": 7 })),
            send(3, WriteResult { seq: 7, ok: true, highest: 2 }),
        ]
    );
}

/// The highest token survives a restart of the storage: it persisted it.
#[test]
fn a_restarted_storage_still_fences_the_tokens_below_its_highest() {
    let mut n = storage(true);
    n.deliver(4, Write { token: 5, seq: 1 });
    n.restart(LeaseNode::with_lock(2, LeaseParams::default(), Some(Lock { storage: 2, fencing: true })));
    assert_eq!(n.status().term, Some(5));
    let fx = n.deliver(3, Write { token: 4, seq: 1 });
    assert_eq!(fx[1], send(3, WriteResult { seq: 1, ok: false, highest: 5 }));
}

/// Node 3 takes the free lease: its token is the record's transitions count after the takeover.
fn holder() -> Node<LeaseNode> {
    let mut n = node(3, true);
    n.start();
    n.deliver(1, Record { req: 1, record: LeaseRecord::default(), version: 0 });
    let taken = LeaseRecord { holder: Some(3), lease_duration_ms: 1500, transitions: 4, ..LeaseRecord::default() };
    let fx = n.deliver(1, UpdateResult { req: 2, ok: true, record: taken, version: 9 });
    assert!(fx.contains(&event("elected", json!({ "leader": 3, "transitions": 4 }))), "{fx:?}");
    n
}

/// "A client that holds the lock, at every retry period, first does its work (one write to the
/// storage carrying its token), then renews"; one that does not hold it writes nothing.
#[test]
fn the_holder_writes_with_its_token_before_it_renews() {
    let mut n = holder();
    let fx = fire(&mut n, "retry");
    assert_eq!(fx, vec![send(2, Write { token: 4, seq: 1 }), send(1, Get { req: 3 }), set_timer("retry", 200)]);
    let mut idle = node(4, true);
    let fx = idle.start();
    assert!(matches!(messages(&fx)[..], [(1, Get { req: 1 })]), "{fx:?}");
}

/// "Any other it rejects and tells the writer, which stops acting as holder": fenced off, the
/// holder steps down and writes no more.
#[test]
fn a_holder_fenced_off_by_the_storage_steps_down_and_stops_writing() {
    let mut n = holder();
    let fx = n.deliver(2, WriteResult { seq: 1, ok: false, highest: 5 });
    assert_eq!(
        fx,
        vec![
            cancel_timer("renew_deadline"),
            event("leader_lost", json!({ "leader": 3, "reason": "fenced off by the storage" })),
        ]
    );
    assert_eq!(n.status().role, "candidate");
    let fx = fire(&mut n, "retry");
    assert!(!fx.iter().any(|e| matches!(e, Fx::Send(2, _))), "no write after the fence: {fx:?}");
    assert!(!fx.iter().any(|e| matches!(e, Fx::Send(_, Update { .. }))), "{fx:?}");
}

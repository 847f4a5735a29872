//! Runs for ZAB's own properties: three servers (1–3) and client node 4; the events are the ones
//! the servers write (`proposed`, `delivered`, `established`, `restored`), and the clients'
//! requests are real sends, since integrity traces a delivered transaction back to one.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::consensus::multipaxos::{describe, digest};
use algorithms::consensus::zab::{Op, Origin, ZabEvent, Zxid};
use algorithms::core::event::Event;
use algorithms::service::{ClientMsg, Command, Request};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("zab", "integrity", Violating, zab_a_delivered_transaction_no_leader_proposed),
    case!("zab", "integrity", NothingToJudge, zab_proposed_but_never_delivered),
    case!("zab", "total_order", Violating, zab_two_servers_deliver_two_transactions_in_opposite_orders),
    case!("zab", "total_order", NothingToJudge, zab_one_server_delivers_alone),
    case!("zab", "agreement", Violating, zab_two_servers_deliver_different_transactions_at_one_position),
    case!("zab", "agreement", NothingToJudge, zab_one_server_delivers_alone),
    case!("zab", "primary_order", Violating, zab_a_server_skips_a_transaction_of_its_leader),
    case!("zab", "primary_order", NothingToJudge, zab_proposed_but_never_delivered),
    case!("zab", "primary_integrity", Violating, zab_a_later_leader_starts_without_a_delivered_transaction),
    case!("zab", "primary_integrity", NothingToJudge, zab_one_server_delivers_alone),
];

fn put(seq: u64) -> Op {
    let command = Command::Put { key: "x".into(), value: format!("c4-{seq}") };
    Op::Client(Request { client: 4, seq, command })
}

/// Servers 1–3 and client 4.
fn cluster() -> Trace {
    Trace::new(4).params(json!({})).servers(3)
}

fn event(t: &mut Trace, ms: u64, node: u32, e: ZabEvent) {
    let (name, data) = e.to_parts();
    t.event(ms, node, &name, data);
}

/// Client 4 sends its request `seq` to server 1, and leader `leader` proposes it as `zxid`.
fn proposed(t: &mut Trace, ms: u64, leader: u32, zxid: Zxid, seq: u64) {
    let Op::Client(request) = put(seq) else { unreachable!() };
    t.send(ms, 4, 1, "request", serde_json::to_value(ClientMsg::Request(request)).unwrap());
    let op = put(seq);
    let e =
        ZabEvent::Proposed { zxid, digest: digest(&op), op: describe(&op), origin: Origin::Client { client: 4, seq } };
    event(t, ms + 1, leader, e);
}

fn delivered(t: &mut Trace, ms: u64, node: u32, zxid: Zxid, seq: u64) {
    event(t, ms, node, ZabEvent::Delivered { zxid, digest: digest(&put(seq)) });
}

fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid::new(epoch, counter)
}

/// Node 2 delivers (1, 1) as put 1, though the leader of epoch 1 proposed put 2 there.
pub fn zab_a_delivered_transaction_no_leader_proposed() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 2);
    delivered(&mut t, 20, 2, z(1, 1), 1);
    t.end(1000)
}

pub fn zab_proposed_but_never_delivered() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    t.end(1000)
}

pub fn zab_one_server_delivers_alone() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    delivered(&mut t, 20, 1, z(1, 1), 1);
    t.end(1000)
}

/// Node 1 delivers (1, 1) then (1, 2); node 2 delivers (1, 2) then (1, 1).
pub fn zab_two_servers_deliver_two_transactions_in_opposite_orders() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    proposed(&mut t, 10, 1, z(1, 2), 2);
    delivered(&mut t, 20, 1, z(1, 1), 1);
    delivered(&mut t, 21, 1, z(1, 2), 2);
    delivered(&mut t, 22, 2, z(1, 2), 2);
    delivered(&mut t, 23, 2, z(1, 1), 1);
    t.end(1000)
}

/// Node 1 delivers (1, 1); node 2 delivers (2, 1) first, from another leader: no common prefix.
pub fn zab_two_servers_deliver_different_transactions_at_one_position() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    proposed(&mut t, 10, 2, z(2, 1), 2);
    delivered(&mut t, 20, 1, z(1, 1), 1);
    delivered(&mut t, 22, 2, z(2, 1), 2);
    t.end(1000)
}

/// The leader of epoch 1 proposes (1, 1) and (1, 2); node 2 delivers (1, 2) without (1, 1).
pub fn zab_a_server_skips_a_transaction_of_its_leader() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    proposed(&mut t, 10, 1, z(1, 2), 2);
    delivered(&mut t, 20, 2, z(1, 2), 2);
    t.end(1000)
}

/// (1, 1) is delivered by node 1 under the leader of epoch 1; node 2 starts epoch 2 with an
/// empty history.
pub fn zab_a_later_leader_starts_without_a_delivered_transaction() -> Execution {
    let mut t = cluster();
    proposed(&mut t, 5, 1, z(1, 1), 1);
    delivered(&mut t, 20, 1, z(1, 1), 1);
    event(&mut t, 100, 2, ZabEvent::Established { epoch: 2, history: vec![] });
    t.end(1000)
}

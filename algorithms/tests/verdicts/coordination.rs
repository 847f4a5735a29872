//! Runs for the coordination service: servers 1–3 and client nodes 4 and 5, whose `zk_invoke` and
//! `zk_done` events are the history the service's own properties judge. ZAB's properties are
//! judged from the servers' events exactly as for `zab` (the same runs).

use super::trace::Trace;
use super::zab::{
    zab_a_delivered_transaction_no_leader_proposed, zab_a_later_leader_starts_without_a_delivered_transaction,
    zab_a_server_skips_a_transaction_of_its_leader, zab_one_server_delivers_alone, zab_proposed_but_never_delivered,
    zab_two_servers_deliver_different_transactions_at_one_position,
    zab_two_servers_deliver_two_transactions_in_opposite_orders,
};
use super::{Case::*, Entry};
use algorithms::coordination::service::ZkEvent;
use algorithms::core::event::Event;
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("coordination", "integrity", Violating, zab_a_delivered_transaction_no_leader_proposed),
    case!("coordination", "integrity", NothingToJudge, zab_proposed_but_never_delivered),
    case!("coordination", "total_order", Violating, zab_two_servers_deliver_two_transactions_in_opposite_orders),
    case!("coordination", "total_order", NothingToJudge, zab_one_server_delivers_alone),
    case!("coordination", "agreement", Violating, zab_two_servers_deliver_different_transactions_at_one_position),
    case!("coordination", "agreement", NothingToJudge, zab_one_server_delivers_alone),
    case!("coordination", "primary_order", Violating, zab_a_server_skips_a_transaction_of_its_leader),
    case!("coordination", "primary_order", NothingToJudge, zab_proposed_but_never_delivered),
    case!("coordination", "primary_integrity", Violating, zab_a_later_leader_starts_without_a_delivered_transaction),
    case!("coordination", "primary_integrity", NothingToJudge, zab_one_server_delivers_alone),
    case!("coordination", "linearizable_writes", Violating, zk_a_later_write_ordered_before_a_completed_one),
    case!("coordination", "linearizable_writes", NothingToJudge, zk_overlapping_writes_only),
    case!("coordination", "client_order", Violating, zk_a_clients_second_write_ordered_before_its_first),
    case!("coordination", "client_order", NothingToJudge, zk_one_operation_per_client),
    case!("coordination", "reads_see_own_writes", Violating, zk_a_read_older_than_the_clients_own_write),
    case!("coordination", "reads_see_own_writes", NothingToJudge, zk_reads_before_any_write),
];

fn zxid(epoch: u64, counter: u64) -> u64 {
    (epoch << 32) | counter
}

fn cluster() -> Trace {
    Trace::new(5).params(json!({})).servers(3)
}

fn event(t: &mut Trace, ms: u64, node: u32, e: ZkEvent) {
    let (name, data) = e.to_parts();
    t.event(ms, node, &name, data);
}

/// Client `node` invokes `f` on /a as its `seq` at `from` ms; it completes at `to` ms at `zxid`.
fn op(t: &mut Trace, node: u32, seq: u64, f: &str, (from, to): (u64, u64), zxid: u64) {
    let (f, path, session) = (f.to_string(), "/a".to_string(), node as u64);
    event(t, from, node, ZkEvent::ZkInvoke { session, seq, f: f.clone(), path: path.clone() });
    let result = String::new();
    event(t, to, node, ZkEvent::ZkDone { session, seq, f, path, zxid, ok: true, result });
}

/// Client 4's set completes at 20 ms with zxid (1, 5); client 5's, invoked at 30 ms, gets (1, 3).
pub fn zk_a_later_write_ordered_before_a_completed_one() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "set", (10, 20), zxid(1, 5));
    op(&mut t, 5, 1, "set", (30, 40), zxid(1, 3));
    t.end(1000)
}

/// Two writes that overlap in time: either order is linearizable, and nothing is judged.
pub fn zk_overlapping_writes_only() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "set", (10, 40), zxid(1, 5));
    op(&mut t, 5, 1, "create", (20, 30), zxid(1, 3));
    t.end(1000)
}

/// Client 4 sets (zxid (1, 5)), then creates: the create took effect at (1, 4).
pub fn zk_a_clients_second_write_ordered_before_its_first() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "set", (10, 20), zxid(1, 5));
    op(&mut t, 4, 2, "create", (30, 40), zxid(1, 4));
    t.end(1000)
}

pub fn zk_one_operation_per_client() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "get", (10, 20), zxid(1, 5));
    op(&mut t, 5, 1, "set", (30, 40), zxid(1, 6));
    t.end(1000)
}

/// Client 4's set took effect at (1, 5); its next get is answered from a server at (1, 2).
pub fn zk_a_read_older_than_the_clients_own_write() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "set", (10, 20), zxid(1, 5));
    op(&mut t, 4, 2, "get", (30, 40), zxid(1, 2));
    t.end(1000)
}

/// Reads only, and a write after them: no read follows a write or sync of its client.
pub fn zk_reads_before_any_write() -> Execution {
    let mut t = cluster();
    op(&mut t, 4, 1, "get", (10, 20), zxid(1, 2));
    op(&mut t, 4, 2, "set", (30, 40), zxid(1, 5));
    op(&mut t, 5, 1, "exists", (30, 40), zxid(1, 1));
    t.end(1000)
}

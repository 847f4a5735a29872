//! Runs for the Maelstrom workloads' properties: each breaks one property, or gives it nothing to
//! judge. Servers 1–3, client nodes 4 and 5.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::core::event::Event;
use algorithms::service::client::ClientEvent;
use algorithms::{Execution, NodeId};
use serde_json::{json, Value};

pub const CASES: &[Entry] = &[
    case!("maelstrom", "echo_matches", Violating, maelstrom_an_echo_comes_back_changed),
    case!("maelstrom", "echo_matches", NothingToJudge, maelstrom_no_operation_at_all),
    case!("maelstrom", "echo_matches", NothingToJudge, maelstrom_every_echo_timed_out),
    case!("maelstrom", "ids_unique", Violating, maelstrom_two_clients_get_the_same_id),
    case!("maelstrom", "ids_unique", NothingToJudge, maelstrom_no_operation_at_all),
    case!("maelstrom", "broadcast_all_read", Violating, maelstrom_a_value_never_reaches_n3),
    case!("maelstrom", "broadcast_all_read", NothingToJudge, maelstrom_no_operation_at_all),
    case!("maelstrom", "broadcast_all_read", NothingToJudge, maelstrom_every_read_comes_within_a_second),
    case!("maelstrom", "counter_final_reads", Violating, maelstrom_a_read_counts_more_than_was_added),
    case!("maelstrom", "counter_final_reads", Violating, maelstrom_a_last_read_misses_an_acknowledged_add),
    case!("maelstrom", "counter_final_reads", NothingToJudge, maelstrom_no_operation_at_all),
    case!("maelstrom", "counter_final_reads", NothingToJudge, maelstrom_adds_but_no_read_answered),
    case!("maelstrom", "linearizable", Violating, maelstrom_lin_kv_reads_a_value_overwritten_before),
    case!("maelstrom", "linearizable", NothingToJudge, maelstrom_no_operation_at_all),
    case!("maelstrom", "linearizable", NothingToJudge, maelstrom_lin_kv_every_operation_timed_out),
];

/// Client 4 adds 3 at n1 (acknowledged at 12 ms); client 5 reads `value` at n2 at `read_ms`.
fn add_then_read(read_ms: u64, value: u64) -> Execution {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "n1", "invoke", "add", json!(3));
    on(&mut t, 12, 4, "n1", "ok", "add", json!(3));
    on(&mut t, read_ms, 5, "n2", "invoke", "read", Value::Null);
    on(&mut t, read_ms + 2, 5, "n2", "ok", "read", json!(value));
    t.end(read_ms + 500)
}

fn maelstrom_a_read_counts_more_than_was_added() -> Execution {
    add_then_read(100, 4)
}

fn maelstrom_a_last_read_misses_an_acknowledged_add() -> Execution {
    add_then_read(2000, 0)
}

fn maelstrom_adds_but_no_read_answered() -> Execution {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "n1", "invoke", "add", json!(3));
    on(&mut t, 12, 4, "n1", "ok", "add", json!(3));
    on(&mut t, 20, 5, "n2", "invoke", "read", Value::Null);
    on(&mut t, 1020, 5, "n2", "info", "read", Value::Null);
    t.end(1500)
}

/// Client 4 writes 1 then 2 to key 0; client 5, invoked after the second write completed, reads 1.
fn maelstrom_lin_kv_reads_a_value_overwritten_before() -> Execution {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "0", "invoke", "write", json!(1));
    on(&mut t, 12, 4, "0", "ok", "write", json!(1));
    on(&mut t, 20, 4, "0", "invoke", "write", json!(2));
    on(&mut t, 22, 4, "0", "ok", "write", json!(2));
    on(&mut t, 30, 5, "0", "invoke", "read", Value::Null);
    on(&mut t, 32, 5, "0", "ok", "read", json!(1));
    t.end(1000)
}

fn maelstrom_lin_kv_every_operation_timed_out() -> Execution {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "0", "invoke", "write", json!(1));
    on(&mut t, 1010, 4, "0", "info", "write", json!(1));
    t.end(1500)
}

fn op(t: &mut Trace, ms: u64, client: NodeId, kind: &str, f: &str, value: Value) {
    on(t, ms, client, "n1", kind, f, value);
}

/// An `op` event of `client` for server `key`.
fn on(t: &mut Trace, ms: u64, client: NodeId, key: &str, kind: &str, f: &str, value: Value) {
    let (name, data) = ClientEvent::Op { kind: kind.into(), f: f.into(), key: key.into(), value }.to_parts();
    t.event(ms, client, &name, data);
}

/// Value 4000001 broadcast to n1 at 10 ms, then a read of each server at `read_ms`; n3's read
/// lacks it when `lost`.
fn broadcast_then_reads(read_ms: u64, lost: bool) -> Execution {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "n1", "invoke", "broadcast", json!(4000001));
    on(&mut t, 12, 4, "n1", "ok", "broadcast", json!(4000001));
    for (i, server) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let at = read_ms + 10 * i as u64;
        let read = if lost && server == "n3" { json!([]) } else { json!([4000001]) };
        on(&mut t, at, 5, server, "invoke", "read", Value::Null);
        on(&mut t, at + 2, 5, server, "ok", "read", read);
    }
    t.end(read_ms + 500)
}

fn maelstrom_a_value_never_reaches_n3() -> Execution {
    broadcast_then_reads(2000, true)
}

fn maelstrom_every_read_comes_within_a_second() -> Execution {
    broadcast_then_reads(500, false)
}

fn maelstrom_an_echo_comes_back_changed() -> Execution {
    let mut t = Trace::new(5).servers(3);
    op(&mut t, 10, 4, "invoke", "echo", json!("c4-1"));
    op(&mut t, 12, 4, "ok", "echo", json!("c4-1"));
    op(&mut t, 20, 5, "invoke", "echo", json!("c5-1"));
    op(&mut t, 22, 5, "ok", "echo", json!("c5-"));
    t.end(1000)
}

fn maelstrom_no_operation_at_all() -> Execution {
    Trace::new(5).servers(3).end(1000)
}

fn maelstrom_every_echo_timed_out() -> Execution {
    let mut t = Trace::new(5).servers(3);
    op(&mut t, 10, 4, "invoke", "echo", json!("c4-1"));
    op(&mut t, 510, 4, "info", "echo", json!("c4-1"));
    t.end(1000)
}

fn maelstrom_two_clients_get_the_same_id() -> Execution {
    let mut t = Trace::new(5).servers(3);
    op(&mut t, 10, 4, "invoke", "generate", Value::Null);
    op(&mut t, 12, 4, "ok", "generate", json!("n1-1"));
    op(&mut t, 20, 5, "invoke", "generate", Value::Null);
    op(&mut t, 22, 5, "ok", "generate", json!("n1-1"));
    t.end(1000)
}

/// Maelstrom's stable latency ends at the last read, at any server, that missed the value;
/// `visible_everywhere_ms` waits for a read that includes it at every server.
#[test]
fn stable_latency_ends_at_the_last_read_that_missed_the_value() {
    let mut t = Trace::new(5).servers(3);
    on(&mut t, 10, 4, "n1", "invoke", "broadcast", json!(4000001));
    on(&mut t, 12, 4, "n1", "ok", "broadcast", json!(4000001));
    for (at, server, read) in [
        (20, "n1", json!([4000001])),
        (30, "n2", json!([])),
        (100, "n2", json!([4000001])),
        (300, "n3", json!([4000001])),
    ] {
        on(&mut t, at, 5, server, "invoke", "read", Value::Null);
        on(&mut t, at + 2, 5, server, "ok", "read", read);
    }
    let report = algorithms::find("maelstrom").unwrap().check(&t.end(800));
    let figure = |name: &str| (report.metrics[name]["max"].as_f64(), report.metrics[name]["count"].as_u64());
    assert_eq!(figure("stable_latency_ms"), (Some(20.0), Some(1)), "n2's miss at 32 ms, 20 ms after the ack");
    assert_eq!(figure("visible_everywhere_ms"), (Some(292.0), Some(1)), "n3's read at 302 ms, from the invocation");
    assert_eq!(report.metrics["values_never_stable"], 0);
}

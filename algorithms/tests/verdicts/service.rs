//! Runs for the properties every replicated service shares (`check/service.rs`): three servers
//! (1–3) and client nodes 4 and 5, whose `op` events are the history and whose servers record
//! `applied`.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::check::service::ServiceEvent;
use algorithms::core::event::Event;
use algorithms::Execution;
use serde_json::{json, Value};

pub const CASES: &[Entry] = &[
    case!(Replication family, "linearizable", Violating, a_read_of_nothing_after_a_completed_put),
    case!(Replication family, "linearizable", NothingToJudge, an_operation_that_never_completed),
    case!(Replication family, "exactly_once", Violating, one_command_applied_at_two_indexes),
    case!(Replication family, "exactly_once", NothingToJudge, an_operation_that_never_completed),
    case!(Replication family, "operations_complete", Violating, an_operation_stuck_while_a_majority_is_up),
    case!(Replication family, "operations_complete", NothingToJudge, an_operation_stuck_without_a_majority),
];

/// Servers 1–3 and clients 4–5; the run's nodes are the servers.
fn cluster() -> Trace {
    Trace::new(5).params(json!({})).servers(3)
}

fn op(t: &mut Trace, ms: u64, client: u32, kind: &str, f: &str, value: Value) {
    t.event(ms, client, "op", json!({"type": kind, "f": f, "key": "x", "value": value}));
}

fn applied(t: &mut Trace, ms: u64, index: u64) {
    let (name, data) = ServiceEvent::Applied { index, client: 4, seq: 1, f: "put".into(), key: "x".into() }.to_parts();
    t.event(ms, 1, &name, data);
}

fn a_read_of_nothing_after_a_completed_put() -> Execution {
    let mut t = cluster();
    op(&mut t, 10, 4, "invoke", "put", json!("c4-1"));
    applied(&mut t, 12, 1);
    op(&mut t, 14, 4, "ok", "put", json!("c4-1"));
    op(&mut t, 20, 5, "invoke", "get", Value::Null);
    op(&mut t, 24, 5, "ok", "get", Value::Null);
    t.end(100)
}

fn an_operation_that_never_completed() -> Execution {
    let mut t = cluster();
    op(&mut t, 10, 4, "invoke", "put", json!("c4-1"));
    t.end(100)
}

fn one_command_applied_at_two_indexes() -> Execution {
    let mut t = cluster();
    op(&mut t, 10, 4, "invoke", "put", json!("c4-1"));
    applied(&mut t, 12, 1);
    applied(&mut t, 40, 2);
    op(&mut t, 42, 4, "ok", "put", json!("c4-1"));
    t.end(100)
}

/// Node 1 is down, 2 and 3 are up and connected: a majority, and still nothing in 1 s.
fn an_operation_stuck_while_a_majority_is_up() -> Execution {
    let mut t = cluster();
    t.kill(5, 1);
    op(&mut t, 10, 4, "invoke", "put", json!("c4-1"));
    t.end(5000)
}

/// Nodes 1 and 2 are down: no majority, so the stuck operation is not judged.
fn an_operation_stuck_without_a_majority() -> Execution {
    let mut t = cluster();
    t.kill(5, 1);
    t.kill(6, 2);
    op(&mut t, 10, 4, "invoke", "put", json!("c4-1"));
    t.end(5000)
}

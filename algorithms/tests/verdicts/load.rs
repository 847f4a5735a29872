//! Runs for the load generator's properties: a ping run or a flood that does not finish, and a
//! trace with none of them.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("load", "pings_answered", Violating, a_ping_run_that_never_finished),
    case!("load", "pings_answered", NothingToJudge, a_flood_and_no_ping),
    case!("load", "floods_delivered", Violating, a_flood_the_receiver_never_had_whole),
    case!("load", "floods_delivered", NothingToJudge, a_ping_run_and_no_flood),
];

fn a_ping_run_that_never_finished() -> Execution {
    let mut t = Trace::new(2);
    t.event(10, 1, "ping_started", json!({ "count": 50, "peer": 2 }));
    t.end(3000)
}

fn a_ping_run_and_no_flood() -> Execution {
    let mut t = Trace::new(2);
    t.event(10, 1, "ping_started", json!({ "count": 50, "peer": 2 }));
    t.event(20, 1, "load_done", json!({ "count": 50, "rtt_ns_p50": 20_000 }));
    t.end(3000)
}

/// Node 1 floods node 2 with 1000 messages; node 2 records a flood of 999.
fn a_flood_the_receiver_never_had_whole() -> Execution {
    let mut t = Trace::new(2);
    t.event(10, 1, "flood_started", json!({ "count": 1000, "to": 2 }));
    t.event(40, 2, "flood_done", json!({ "from": 1, "count": 999, "msgs_per_s": 33_300.0 }));
    t.end(3000)
}

fn a_flood_and_no_ping() -> Execution {
    let mut t = Trace::new(2);
    t.event(10, 1, "flood_started", json!({ "count": 1000, "to": 2 }));
    t.event(40, 2, "flood_done", json!({ "from": 1, "count": 1000, "msgs_per_s": 33_300.0 }));
    t.end(3000)
}

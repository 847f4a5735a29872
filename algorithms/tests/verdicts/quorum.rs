//! Runs for quorum's own properties: five replicas (1–5), the coordinators' `begin`/`done`
//! events and their phase messages.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::core::event::Event;
use algorithms::replication::quorum::{QuorumEvent, QuorumMsg, Register, Version};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("quorum", "quorums_intersect", Violating, a_read_after_a_completed_write_reads_older),
    case!("quorum", "quorums_intersect", NothingToJudge, a_read_with_no_completed_write_before_it),
    case!("quorum", "message_cost", Violating, a_phase_sends_five_queries_to_four_peers),
    case!("quorum", "message_cost", NothingToJudge, no_operation_sent_a_phase_message),
];

fn cluster(params: serde_json::Value) -> Trace {
    Trace::new(5).params(params)
}

fn event(t: &mut Trace, ms: u64, node: u32, e: QuorumEvent) {
    let (name, data) = e.to_parts();
    t.event(ms, node, &name, data);
}

fn begin(t: &mut Trace, ms: u64, node: u32, op: u64, f: &str) {
    event(t, ms, node, QuorumEvent::Begin { op, f: f.into(), key: "x".into() });
}

/// Operation `op` of server `node` answered, with version `(n, node)`.
fn done(t: &mut Trace, ms: u64, (node, op): (u32, u64), f: &str, n: u64, queried: &[u32], stored: &[u32]) {
    let version = Version { n, writer: node };
    let (queried, stored) = (queried.to_vec(), stored.to_vec());
    event(t, ms, node, QuorumEvent::Done { op, f: f.into(), key: "x".into(), version, queried, stored });
}

/// R = W = 2 of 5: server 1's put reached 1 and 2; server 4's read, begun after it, asked 4 and 5.
fn a_read_after_a_completed_write_reads_older() -> Execution {
    let mut t = cluster(json!({"r": 2, "w": 2}));
    begin(&mut t, 10, 1, 1, "put");
    done(&mut t, 14, (1, 1), "put", 1, &[1, 2], &[1, 2]);
    begin(&mut t, 20, 4, 1, "get");
    done(&mut t, 24, (4, 1), "get", 0, &[4, 5], &[4, 5]);
    t.end(100)
}

/// Majorities: a read and a put overlap, and no write completed before the read began.
fn a_read_with_no_completed_write_before_it() -> Execution {
    let mut t = cluster(json!({}));
    begin(&mut t, 10, 1, 1, "put");
    begin(&mut t, 11, 4, 1, "get");
    done(&mut t, 14, (4, 1), "get", 0, &[3, 4, 5], &[3, 4, 5]);
    done(&mut t, 15, (1, 1), "put", 1, &[1, 2, 3], &[1, 2, 3]);
    t.end(100)
}

/// Server 1 sends its first query twice to peer 2: five queries in one attempt, above N − 1 = 4.
fn a_phase_sends_five_queries_to_four_peers() -> Execution {
    let mut t = cluster(json!({}));
    begin(&mut t, 10, 1, 1, "get");
    let query = QuorumMsg::Query { op: 1, attempt: 1, key: "x".into(), put: None };
    for to in [2, 2, 3, 4, 5] {
        t.message(10, 1, to, &query);
    }
    let register = Register { version: Version::default(), value: None, by: None };
    t.message(12, 2, 1, &QuorumMsg::QueryReply { op: 1, register, stored: false });
    t.end(100)
}

/// An operation begun on a node that died before sending anything.
fn no_operation_sent_a_phase_message() -> Execution {
    let mut t = cluster(json!({}));
    begin(&mut t, 10, 1, 1, "get");
    t.kill(11, 1);
    t.end(100)
}

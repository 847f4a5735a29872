//! Runs for Raft's properties (Figure 3 of the paper): each breaks one property, or gives it
//! nothing to judge. Five servers; digests are short made-up names (the checker compares them,
//! it does not decode them).

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("raft", "election_safety", Violating, raft_two_servers_elected_in_one_term),
    case!("raft", "election_safety", NothingToJudge, raft_nobody_elected),
    case!("raft", "leader_append_only", Violating, raft_a_leader_deletes_from_its_own_log),
    case!("raft", "leader_append_only", NothingToJudge, raft_nobody_elected),
    case!("raft", "log_matching", Violating, raft_one_index_and_term_two_commands),
    case!("raft", "log_matching", Violating, raft_one_index_and_term_different_predecessors),
    case!("raft", "log_matching", NothingToJudge, raft_one_server_appends_alone),
    case!("raft", "leader_completeness", Violating, raft_figure_8_a_leader_without_a_committed_entry),
    case!("raft", "leader_completeness", Violating, raft_a_committed_entry_deleted),
    case!("raft", "leader_completeness", NothingToJudge, raft_commits_but_no_later_leader),
    case!("raft", "state_machine_safety", Violating, raft_two_commands_applied_at_one_index),
    case!("raft", "state_machine_safety", NothingToJudge, raft_one_server_appends_alone),
    case!("raft", "linearizable", Violating, raft_a_read_of_a_value_never_written),
    case!("raft", "linearizable", NothingToJudge, raft_nobody_elected),
    case!("raft", "exactly_once", Violating, raft_one_command_applied_at_two_indexes),
    case!("raft", "exactly_once", NothingToJudge, raft_nobody_elected),
    case!("raft", "operations_complete", Violating, raft_an_operation_never_answered),
    case!("raft", "operations_complete", NothingToJudge, raft_nobody_elected),
];

fn entry(index: u64, term: u64, digest: &str) -> serde_json::Value {
    json!({ "index": index, "term": term, "digest": digest })
}

fn raft_two_servers_elected_in_one_term() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 2 }));
    t.event(150, 2, "elected", json!({ "leader": 2, "term": 2 }));
    t.end(1000)
}

fn raft_nobody_elected() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "term", json!({ "term": 1, "reason": "candidate" }));
    t.end(1000)
}

fn raft_a_leader_deletes_from_its_own_log() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.event(101, 1, "appended", entry(1, 1, "noop1"));
    t.event(150, 1, "truncated", json!({ "from": 1, "removed": [entry(1, 1, "noop1")] }));
    t.end(1000)
}

fn raft_one_index_and_term_two_commands() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "appended", entry(1, 1, "put-x-1"));
    t.event(110, 2, "appended", entry(1, 1, "put-x-2"));
    t.end(1000)
}

/// Index 2 of term 2 on nodes 1 and 3, but node 1 has term 1 at index 1 and node 3 term 2.
fn raft_one_index_and_term_different_predecessors() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "appended", entry(1, 1, "a"));
    t.event(100, 1, "appended", entry(2, 2, "b"));
    t.event(110, 3, "appended", entry(1, 2, "c"));
    t.event(110, 3, "appended", entry(2, 2, "b"));
    t.end(1000)
}

fn raft_one_server_appends_alone() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.event(101, 1, "appended", entry(1, 1, "noop1"));
    t.end(1000)
}

/// The paper's Figure 8 with the unsafe rule: node 1, leader of term 4, commits index 2 of term 2
/// on nodes 1, 2, 3 by counting; node 5, whose index 2 is of term 3, is then elected in term 5.
fn raft_figure_8_a_leader_without_a_committed_entry() -> Execution {
    let mut t = Trace::new(5);
    for n in [1, 2, 3] {
        t.event(100, n, "appended", entry(1, 1, "noop1"));
        t.event(110, n, "appended", entry(2, 2, "noop2"));
    }
    for n in [4, 5] {
        t.event(100, n, "appended", entry(1, 1, "noop1"));
    }
    t.event(200, 5, "appended", entry(2, 3, "noop3"));
    t.event(300, 1, "term", json!({ "term": 4, "reason": "candidate" }));
    t.event(301, 1, "elected", json!({ "leader": 1, "term": 4 }));
    t.event(302, 1, "committed", json!({ "index": 2, "term": 2 }));
    t.event(400, 5, "term", json!({ "term": 5, "reason": "candidate" }));
    t.event(401, 5, "elected", json!({ "leader": 5, "term": 5 }));
    t.end(1000)
}

fn raft_a_committed_entry_deleted() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "appended", entry(1, 1, "noop1"));
    t.event(101, 1, "term", json!({ "term": 1, "reason": "higher term from node 2" }));
    t.event(110, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.event(200, 1, "truncated", json!({ "from": 1, "removed": [entry(1, 1, "noop1")] }));
    t.event(200, 1, "appended", entry(1, 2, "noop2"));
    t.end(1000)
}

fn raft_commits_but_no_later_leader() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.event(101, 1, "appended", entry(1, 1, "noop1"));
    t.event(150, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.end(1000)
}

fn raft_two_commands_applied_at_one_index() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "applied_entry", entry(1, 1, "put-x-1"));
    t.event(110, 2, "applied_entry", entry(1, 2, "put-x-2"));
    t.end(1000)
}

/// Client 6's operations, as `op` events (the history convention) with `process` 6; the trace's
/// nodes are the five servers, so node 1 records them.
fn op(t: &mut Trace, ms: u64, kind: &str, f: &str, value: serde_json::Value) {
    t.event(ms, 1, "op", json!({ "process": 6, "type": kind, "f": f, "key": "x", "value": value }));
}

fn raft_a_read_of_a_value_never_written() -> Execution {
    let mut t = Trace::new(5);
    op(&mut t, 100, "invoke", "put", json!("1"));
    op(&mut t, 110, "ok", "put", json!("1"));
    op(&mut t, 200, "invoke", "get", json!(null));
    op(&mut t, 210, "ok", "get", json!("2"));
    t.end(1000)
}

fn raft_one_command_applied_at_two_indexes() -> Execution {
    let mut t = Trace::new(5);
    let applied = |index| json!({ "index": index, "client": 6, "seq": 1, "f": "put", "key": "x" });
    t.event(100, 1, "applied", applied(2));
    t.event(200, 1, "applied", applied(3));
    t.end(1000)
}

/// Every server up and connected, and a put that gets no answer in 5 s (the bound is 2 s).
fn raft_an_operation_never_answered() -> Execution {
    let mut t = Trace::new(5);
    op(&mut t, 100, "invoke", "put", json!("1"));
    t.end(5000)
}

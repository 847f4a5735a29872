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
    case!("raft", "state_machine_safety", Violating, raft_a_snapshot_disagrees_with_what_another_applied),
    case!("raft", "state_machine_safety", Violating, raft_two_snapshots_at_one_index_hold_different_states),
    case!("raft", "state_machine_safety", NothingToJudge, raft_one_server_appends_alone),
    case!("raft", "state_machine_safety", NothingToJudge, raft_one_snapshot_alone),
    case!("raft", "configuration_quorums", Violating, raft_elected_by_a_minority_of_its_configuration),
    case!("raft", "configuration_quorums", Violating, raft_a_commit_without_a_majority_of_the_new_configuration),
    case!("raft", "configuration_quorums", NothingToJudge, raft_nobody_elected),
    case!("raft", "one_change_at_a_time", Violating, raft_a_second_change_before_the_first_commits),
    case!("raft", "one_change_at_a_time", NothingToJudge, raft_spares_but_no_change),
    case!("raft", "removed_leader_steps_down", Violating, raft_a_removed_leader_leads_on),
    case!("raft", "removed_leader_steps_down", NothingToJudge, raft_spares_but_no_change),
    case!("raft", "stale_leader_commits_nothing", Violating, raft_a_deposed_leader_commits),
    case!("raft", "stale_leader_commits_nothing", NothingToJudge, raft_one_server_appends_alone),
];

/// Five servers of which 4 and 5 are spares: each traces the initial configuration {1, 2, 3}.
fn with_spares() -> Trace {
    let mut t = Trace::new(5);
    for n in 1..=5 {
        t.event(0, n, "config", json!({ "index": 0, "members": [1, 2, 3] }));
    }
    t
}

/// Node 1 elected with the votes of 1, 4 and 5: three of five servers, but only one of its
/// configuration {1, 2, 3}.
fn raft_elected_by_a_minority_of_its_configuration() -> Execution {
    let mut t = with_spares();
    t.event(100, 1, "term", json!({ "term": 1, "reason": "candidate" }));
    t.event(101, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 4, 5] }));
    t.end(1000)
}

/// Node 1, leader of {1, 2, 3}, adds 4 and commits that entry with node 2's copy alone: a
/// majority of the old configuration, not of the new one it uses.
fn raft_a_commit_without_a_majority_of_the_new_configuration() -> Execution {
    let mut t = with_spares();
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 2] }));
    t.event(101, 1, "appended", entry(1, 1, "config-1234"));
    t.event(101, 1, "config", json!({ "index": 1, "members": [1, 2, 3, 4] }));
    t.event(110, 2, "appended", entry(1, 1, "config-1234"));
    t.event(120, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.end(1000)
}

/// Node 1 adds 4 at index 2, then 5 at index 3 while its commit index is still 1.
fn raft_a_second_change_before_the_first_commits() -> Execution {
    let mut t = with_spares();
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 2] }));
    t.event(101, 1, "appended", entry(1, 1, "noop1"));
    t.event(120, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.event(130, 1, "appended", entry(2, 1, "config-1234"));
    t.event(130, 1, "config", json!({ "index": 2, "members": [1, 2, 3, 4] }));
    t.event(140, 1, "appended", entry(3, 1, "config-12345"));
    t.event(140, 1, "config", json!({ "index": 3, "members": [1, 2, 3, 4, 5] }));
    t.end(1000)
}

/// Spares, a leader, entries committed, no configuration change.
fn raft_spares_but_no_change() -> Execution {
    let mut t = with_spares();
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 2] }));
    t.event(101, 1, "appended", entry(1, 1, "noop1"));
    t.event(110, 2, "appended", entry(1, 1, "noop1"));
    t.event(120, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.end(1000)
}

/// Node 1 removes itself ({2, 3}), commits the removal with 2 and 3, and goes on sending
/// AppendEntries as leader.
fn raft_a_removed_leader_leads_on() -> Execution {
    let mut t = with_spares();
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 2] }));
    t.event(101, 1, "appended", entry(1, 1, "config-23"));
    t.event(101, 1, "config", json!({ "index": 1, "members": [2, 3] }));
    for n in [2, 3] {
        t.event(110, n, "appended", entry(1, 1, "config-23"));
        t.event(110, n, "config", json!({ "index": 1, "members": [2, 3] }));
    }
    t.event(120, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.send(170, 1, 2, "append_entries", json!({}));
    t.end(1000)
}

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

fn snapshot(index: u64, term: u64, digest: &str, state: &str) -> serde_json::Value {
    json!({ "index": index, "term": term, "digest": digest, "bytes": 120, "state": state })
}

/// `unsafe_snapshot_uncommitted`: node 1, a deposed leader, snapshotted its uncommitted index 2 of
/// term 1; node 2 applies index 2 of term 2, what the next leader committed there.
fn raft_a_snapshot_disagrees_with_what_another_applied() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "snapshot_taken", snapshot(2, 1, "put-x-1", "s1"));
    t.event(200, 2, "applied_entry", entry(2, 2, "put-x-2"));
    t.end(1000)
}

/// Nodes 1 and 3 snapshot index 2 with the same last entry but different states.
fn raft_two_snapshots_at_one_index_hold_different_states() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "snapshot_taken", snapshot(2, 1, "put-x-1", "s1"));
    let mut installed = snapshot(2, 1, "put-x-1", "s2");
    installed["from"] = json!(1);
    t.event(200, 3, "snapshot_installed", installed);
    t.end(1000)
}

/// One server snapshots, nobody else applies that index: nothing compared.
fn raft_one_snapshot_alone() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "snapshot_taken", snapshot(2, 1, "put-x-1", "s1"));
    t.end(1000)
}

/// Node 1 leads term 1 and is cut off; node 2 is elected in term 2 and commits its no-op on
/// nodes 2, 3, 4; then node 1, still leader of term 1, commits index 2 of term 1 — what a
/// deposed leader must never do.
fn raft_a_deposed_leader_commits() -> Execution {
    let mut t = Trace::new(5);
    t.event(100, 1, "term", json!({ "term": 1, "reason": "candidate" }));
    t.event(101, 1, "elected", json!({ "leader": 1, "term": 1 }));
    for n in [1, 2, 3] {
        t.event(102, n, "appended", entry(1, 1, "noop1"));
    }
    t.event(110, 1, "committed", json!({ "index": 1, "term": 1 }));
    t.event(200, 1, "appended", entry(2, 1, "put-x-1"));
    t.event(300, 2, "term", json!({ "term": 2, "reason": "candidate" }));
    t.event(301, 2, "elected", json!({ "leader": 2, "term": 2 }));
    for n in [2, 3, 4] {
        t.event(302, n, "appended", entry(2, 2, "noop2"));
    }
    t.event(310, 2, "committed", json!({ "index": 2, "term": 2 }));
    t.event(400, 1, "committed", json!({ "index": 2, "term": 1 }));
    t.end(1000)
}

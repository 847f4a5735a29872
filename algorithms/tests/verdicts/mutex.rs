//! Runs for the mutual exclusion algorithms' properties. The family's shared properties
//! (mutual exclusion, liveness) have one run each for every algorithm of the family; the message
//! cost runs suit every algorithm's formula at once (three nodes, one entry by node 2).

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::check::mutex::{liveness, History};
use algorithms::{Execution, NodeId, Verdict};
use serde_json::{json, Value};

pub const CASES: &[Entry] = &[
    case!(Mutex family, "mutual_exclusion", Violating, two_concurrent_critical_sections),
    case!(Mutex family, "mutual_exclusion", NothingToJudge, requests_still_waiting_at_the_end),
    case!(Mutex family, "liveness", Violating, a_request_never_granted),
    case!(Mutex family, "liveness", Violating, a_one_way_cut_elsewhere_excuses_nobody),
    case!(Mutex family, "liveness", NothingToJudge, requests_still_waiting_at_the_end),
    case!(Mutex family, "liveness", NothingToJudge, only_requests_of_a_node_cut_off),
    case!("lamport", "fairness", Violating, a_later_timestamp_enters_first),
    case!("lamport", "fairness", NothingToJudge, one_entry),
    case!("ricart-agrawala", "fairness", Violating, a_later_timestamp_enters_first),
    case!("ricart-agrawala", "fairness", NothingToJudge, one_entry),
    case!("token-ring", "token_conservation", Violating, a_second_token_while_the_first_is_held),
    case!("token-ring", "token_conservation", NothingToJudge, requests_still_waiting_at_the_end),
    case!("suzuki-kasami", "token_conservation", Violating, a_second_token_while_the_first_is_held),
    case!("suzuki-kasami", "token_conservation", NothingToJudge, requests_still_waiting_at_the_end),
    case!("raymond", "token_conservation", Violating, a_second_token_while_the_first_is_held),
    case!("raymond", "token_conservation", NothingToJudge, requests_still_waiting_at_the_end),
    case!("token-ring", "passes_before_entry", Violating, the_token_went_round_twice),
    case!("token-ring", "passes_before_entry", NothingToJudge, an_entry_with_a_death_in_its_wait),
    case!("central", "fifo_grants", Violating, the_later_request_granted_first),
    case!("central", "fifo_grants", NothingToJudge, requests_still_waiting_at_the_end),
    case!("maekawa", "quorums_intersect", Violating, two_disjoint_quorums),
    case!("maekawa", "quorums_intersect", NothingToJudge, one_quorum_announced),
    case!("maekawa", "one_vote", Violating, a_voter_with_two_outstanding_votes),
    case!("maekawa", "one_vote", NothingToJudge, requests_still_waiting_at_the_end),
    case!("central", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("central", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("central", "message_cost", NothingToJudge, only_the_coordinator_entered),
    case!("lamport", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("lamport", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("lamport", "message_cost", NothingToJudge, requests_still_waiting_at_the_end),
    case!("ricart-agrawala", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("ricart-agrawala", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("ricart-agrawala", "message_cost", NothingToJudge, requests_still_waiting_at_the_end),
    case!("suzuki-kasami", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("suzuki-kasami", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("suzuki-kasami", "message_cost", NothingToJudge, requests_still_waiting_at_the_end),
    case!("maekawa", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("maekawa", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("maekawa", "message_cost", NothingToJudge, requests_still_waiting_at_the_end),
    case!("raymond", "message_cost", Violating, an_entry_that_cost_twenty_messages),
    case!("raymond", "message_cost", Violating, an_entry_that_cost_no_message),
    case!("raymond", "message_cost", NothingToJudge, requests_still_waiting_at_the_end),
];

fn on(resource: &str) -> Value {
    json!({ "resource": resource })
}

fn request(t: &mut Trace, ms: u64, node: NodeId) {
    t.event(ms, node, "request", on("printer"));
}

/// `node` enters at `ms` and leaves 1 ms later.
fn section(t: &mut Trace, ms: u64, node: NodeId) {
    t.event(ms, node, "enter_cs", on("printer"));
    t.event(ms + 1, node, "exit_cs", on("printer"));
}

fn token(t: &mut Trace, ms: u64, node: NodeId, op: &str, reason: &str) {
    t.event(ms, node, "token", json!({ "resource": "printer", "op": op, "reason": reason }));
}

/// Node 2 enters while node 1 is inside, and nothing orders node 1's exit before it.
fn two_concurrent_critical_sections() -> Execution {
    let mut t = Trace::new(2);
    t.event(10, 1, "enter_cs", on("printer"));
    t.event(20, 2, "enter_cs", on("printer"));
    t.event(30, 1, "exit_cs", on("printer"));
    t.event(40, 2, "exit_cs", on("printer"));
    t.end(100)
}

/// Three requests in the last half second of the run, none granted yet.
fn requests_still_waiting_at_the_end() -> Execution {
    let mut t = Trace::new(3);
    for node in 1..=3 {
        request(&mut t, 2500 + node as u64, node);
    }
    t.end(3000)
}

/// Node 3 asks at 10 ms, node 2 at 20 ms and is served; node 3 is still waiting 3 s later with
/// every link up.
fn a_request_never_granted() -> Execution {
    let mut t = Trace::new(3);
    request(&mut t, 10, 3);
    request(&mut t, 20, 2);
    section(&mut t, 30, 2);
    t.end(3000)
}

/// As [`a_request_never_granted`] among four nodes, with one link cut one way between nodes 1
/// and 4 at the end: node 3's wait is not excused by it.
fn a_one_way_cut_elsewhere_excuses_nobody() -> Execution {
    let mut t = Trace::new(4);
    request(&mut t, 10, 3);
    request(&mut t, 20, 2);
    section(&mut t, 30, 2);
    t.cut_link(500, 1, 4);
    t.end(3000)
}

/// Node 3 waits from 10 ms; the link from node 1 to node 3 is cut from 500 ms to the end.
fn only_requests_of_a_node_cut_off() -> Execution {
    let mut t = Trace::new(3);
    request(&mut t, 10, 3);
    t.cut_link(500, 1, 3);
    t.end(3000)
}

fn a_later_timestamp_enters_first() -> Execution {
    let mut t = Trace::new(2);
    t.event(5, 1, "request", json!({ "resource": "printer", "ts": 7 }));
    t.event(6, 2, "request", json!({ "resource": "printer", "ts": 3 }));
    section(&mut t, 10, 1);
    t.raw(21, 1, 2, "reply", json!({}));
    section(&mut t, 30, 2);
    t.end(100)
}

fn one_entry() -> Execution {
    let mut t = Trace::new(2);
    t.event(5, 1, "request", json!({ "resource": "printer", "ts": 7 }));
    section(&mut t, 10, 1);
    t.end(100)
}

fn a_second_token_while_the_first_is_held() -> Execution {
    let mut t = Trace::new(3);
    token(&mut t, 1, 1, "create", "initial");
    token(&mut t, 5, 1, "send", "");
    t.raw(5, 1, 2, "token", json!({}));
    token(&mut t, 7, 2, "receive", "");
    token(&mut t, 20, 3, "create", "regenerated");
    t.end(100)
}

/// Node 1 asks; the token passes nodes 2, 3, 2 and 3 before it enters: twice round the ring.
fn the_token_went_round_twice() -> Execution {
    let mut t = Trace::new(3);
    token(&mut t, 1, 1, "create", "initial");
    request(&mut t, 2, 1);
    for (k, node) in [2, 3, 2, 3].into_iter().enumerate() {
        token(&mut t, 10 + 10 * k as u64, node, "receive", "");
    }
    section(&mut t, 60, 1);
    t.end(3000)
}

/// Node 1's only entry came after node 3 died during its wait: not judged.
fn an_entry_with_a_death_in_its_wait() -> Execution {
    let mut t = Trace::new(3);
    token(&mut t, 1, 1, "create", "initial");
    request(&mut t, 2, 1);
    t.kill(30, 3);
    section(&mut t, 60, 1);
    t.end(3000)
}

/// Node 2's request reaches the coordinator (node 1) first, node 3's second; node 3 is granted.
fn the_later_request_granted_first() -> Execution {
    let mut t = Trace::new(3);
    t.raw(10, 2, 1, "request", json!({ "Request": { "resource": "printer" } }));
    t.raw(12, 3, 1, "request", json!({ "Request": { "resource": "printer" } }));
    t.send(20, 1, 3, "grant", json!({ "Grant": { "resource": "printer" } }));
    t.end(100)
}

fn quorum(t: &mut Trace, node: NodeId, members: &[NodeId]) {
    t.event(1, node, "quorum", json!({ "members": members }));
}

fn two_disjoint_quorums() -> Execution {
    let mut t = Trace::new(4);
    quorum(&mut t, 1, &[1, 2]);
    quorum(&mut t, 2, &[1, 2]);
    quorum(&mut t, 3, &[2, 3]);
    quorum(&mut t, 4, &[1, 4]);
    t.end(100)
}

fn one_quorum_announced() -> Execution {
    let mut t = Trace::new(4);
    quorum(&mut t, 1, &[1, 2, 3]);
    t.end(100)
}

fn a_voter_with_two_outstanding_votes() -> Execution {
    let mut t = Trace::new(3);
    t.event(6, 1, "vote", json!({ "resource": "printer", "for": 3, "ts": 2 }));
    t.event(8, 1, "vote", json!({ "resource": "printer", "for": 2, "ts": 4 }));
    t.end(100)
}

/// Node 2 asks without the token (Suzuki–Kasami), with a quorum of 3 (Maekawa), enters and
/// leaves, and `messages` messages go between nodes 2 and 3.
fn one_entry_by_node_2(messages: usize) -> Execution {
    let mut t = Trace::new(3);
    t.event(5, 2, "request", json!({ "resource": "printer", "ts": 1, "has_token": false, "quorum": 3 }));
    for k in 0..messages {
        let (from, to) = if k % 2 == 0 { (2, 3) } else { (3, 2) };
        t.raw(6 + k as u64, from, to, "request", json!({}));
    }
    section(&mut t, 100, 2);
    t.end(3000)
}

/// Above every upper bound for one entry among three: central 3, Lamport 6, Ricart–Agrawala 4,
/// Suzuki–Kasami 3, Maekawa 5(K−1) = 10, Raymond 2D = 4.
fn an_entry_that_cost_twenty_messages() -> Execution {
    one_entry_by_node_2(20)
}

/// Below every lower bound for one entry among three: central 3, Lamport 6, Ricart–Agrawala 4,
/// Suzuki–Kasami N−1 requests and the token = 3, Maekawa 3(K−1) = 6, Raymond one PRIVILEGE.
fn an_entry_that_cost_no_message() -> Execution {
    one_entry_by_node_2(0)
}

/// The coordinator's own entries cost nothing and are not counted.
fn only_the_coordinator_entered() -> Execution {
    let mut t = Trace::new(3);
    request(&mut t, 5, 1);
    section(&mut t, 6, 1);
    t.end(100)
}

/// A waiting node cut off from another node is excused, and only it: node 2's request is granted,
/// node 3 (the link from 1 to 3 cut) is not judged.
#[test]
fn liveness_excuses_a_waiting_node_cut_off_from_another_and_no_other() {
    let mut t = Trace::new(3);
    request(&mut t, 10, 3);
    request(&mut t, 20, 2);
    section(&mut t, 30, 2);
    t.cut_link(500, 1, 3);
    let run = t.end(3000);
    let p = liveness(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
    assert_eq!(p.judged, 1, "node 2's one grant: {p:#?}");
    assert!(p.detail.contains("1 at node 3, cut off from node(s) [1] at the end, not judged"), "{}", p.detail);

    let p = liveness(
        &a_one_way_cut_elsewhere_excuses_nobody(),
        &History::from_run(&a_one_way_cut_elsewhere_excuses_nobody()),
    );
    assert!(p.detail.starts_with("1 request(s) never granted; the oldest: node 3"), "{}", p.detail);
}

#[test]
fn liveness_with_requests_but_no_grant_says_so() {
    let run = requests_still_waiting_at_the_end();
    let p = liveness(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Unknown, "{p:#?}");
    assert_eq!(
        p.detail,
        "nothing to judge: no request was granted; 3 request(s) (3 made in the last 1000 ms, still waiting at the end)"
    );
}

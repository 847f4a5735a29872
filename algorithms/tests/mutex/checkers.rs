//! Every mutual exclusion checker fed a hand-made trace that breaks its property, and expected
//! to say so with the events that show it (a checker that cannot fail is a defect), plus the
//! legitimate near-misses it must accept.

use algorithms::check::mutex::{self, History};
use algorithms::check::{EventRef, Execution, PropertyResult};
use algorithms::faults::{AppliedFault, FaultRecord};
use algorithms::trace::{Clocks, TraceRecord, What};
use algorithms::{find, NodeId, Verdict, MS};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Writes traces by hand with real clocks: every record ticks its node's clocks, a receive
/// merges the sender's.
struct Traces {
    clocks: BTreeMap<NodeId, Clocks>,
    records: Vec<TraceRecord>,
    faults: Vec<FaultRecord>,
    nodes: Vec<NodeId>,
}

impl Traces {
    fn new(n: u32) -> Traces {
        let nodes: Vec<NodeId> = (1..=n).collect();
        let mut t = Traces {
            clocks: nodes.iter().map(|id| (*id, Clocks::new(*id))).collect(),
            records: vec![],
            faults: vec![FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: nodes.clone() } }],
            nodes,
        };
        for id in t.nodes.clone() {
            t.push(id, 0, What::Start { incarnation: 1 });
        }
        t
    }

    fn push(&mut self, node: NodeId, ms: u64, what: What) -> TraceRecord {
        let r = self.clocks.get_mut(&node).unwrap().stamp(ms * MS, "mx", what);
        self.records.push(r.clone());
        r
    }

    fn event(&mut self, node: NodeId, ms: u64, name: &str, data: Value) -> TraceRecord {
        self.push(node, ms, What::Event { name: name.into(), data })
    }

    fn request(&mut self, node: NodeId, ms: u64, resource: &str) -> TraceRecord {
        self.event(node, ms, "request", json!({ "resource": resource }))
    }

    fn enter(&mut self, node: NodeId, ms: u64, resource: &str) -> TraceRecord {
        self.event(node, ms, "enter_cs", json!({ "resource": resource }))
    }

    fn exit(&mut self, node: NodeId, ms: u64, resource: &str) -> TraceRecord {
        self.event(node, ms, "exit_cs", json!({ "resource": resource }))
    }

    fn send(&mut self, from: NodeId, to: NodeId, ms: u64, msg_type: &str, msg: Value) -> TraceRecord {
        self.push(from, ms, What::Send { to, msg_type: msg_type.into(), msg: msg.into() })
    }

    fn recv(&mut self, to: NodeId, send: &TraceRecord, ms: u64) -> TraceRecord {
        let What::Send { msg_type, .. } = &send.what else { panic!("not a send") };
        let what = What::Recv { from: send.node, msg_type: msg_type.clone(), msg_lc: send.lc };
        let r = self.clocks.get_mut(&to).unwrap().stamp_receive(ms * MS, "mx", send.lc, &send.vc, what);
        self.records.push(r.clone());
        r
    }

    /// A message from `from` to `to`: the send at `ms`, the receive 1 ms later.
    fn message(&mut self, from: NodeId, to: NodeId, ms: u64, msg_type: &str, msg: Value) -> TraceRecord {
        let s = self.send(from, to, ms, msg_type, msg);
        self.recv(to, &s, ms + 1)
    }

    fn kill(&mut self, node: NodeId, ms: u64) {
        self.faults.push(FaultRecord { t: ms * MS, fault: AppliedFault::Kill { node, was_leader: false } });
    }

    fn run(mut self, algorithm: &str, params: Value, end_ms: u64) -> Execution {
        self.faults.push(FaultRecord { t: end_ms * MS, fault: AppliedFault::RunEnd });
        self.faults.sort_by_key(|f| f.t);
        Execution::new(algorithm, self.nodes, params, self.records, self.faults)
    }
}

fn judged(algorithm: &str, run: &Execution, property: &str) -> PropertyResult {
    let report = find(algorithm).unwrap().check(run);
    report.properties.into_iter().find(|p| p.name == property).unwrap_or_else(|| panic!("no {property}"))
}

fn shows(p: &PropertyResult, records: &[&TraceRecord]) {
    for r in records {
        assert!(p.evidence.contains(&EventRef::of(r)), "evidence {:?} lacks {}:{}", p.evidence, r.node, r.lc);
    }
}

#[test]
fn mutual_exclusion_catches_two_concurrent_critical_sections_by_their_vector_clocks() {
    let mut t = Traces::new(2);
    let e1 = t.enter(1, 10, "printer");
    let x1 = t.exit(1, 30, "printer");
    let e2 = t.enter(2, 20, "printer");
    let x2 = t.exit(2, 40, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = mutex::mutual_exclusion(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("nodes 1 and 2") && p.detail.contains("happen-before"), "{}", p.detail);
    shows(&p, &[&e1, &x1, &e2, &x2]);
}

#[test]
fn mutual_exclusion_catches_an_entry_the_clocks_order_but_the_monotonic_time_does_not() {
    // Node 2's entry follows node 1's exit causally, but its timestamps say it came first.
    let mut t = Traces::new(2);
    let e1 = t.enter(1, 10, "printer");
    let x1 = t.exit(1, 30, "printer");
    let s = t.send(1, 2, 31, "reply", json!({}));
    t.recv(2, &s, 20);
    let e2 = t.enter(2, 21, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = mutex::mutual_exclusion(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("monotonic"), "{}", p.detail);
    shows(&p, &[&e1, &x1, &e2]);
}

#[test]
fn mutual_exclusion_accepts_a_causal_handover_and_an_entry_after_the_holder_died() {
    let mut t = Traces::new(3);
    t.enter(1, 10, "printer");
    t.exit(1, 20, "printer");
    t.message(1, 2, 21, "reply", json!({}));
    t.enter(2, 23, "printer");
    t.enter(3, 24, "scanner"); // another resource: its own critical section
    t.kill(2, 40);
    t.enter(3, 50, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = mutex::mutual_exclusion(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
}

#[test]
fn mutual_exclusion_catches_an_entry_while_a_dead_holder_was_still_alive_or_one_never_left() {
    let mut t = Traces::new(2);
    t.enter(1, 10, "printer");
    t.kill(1, 40);
    t.enter(2, 30, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = mutex::mutual_exclusion(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Violated);
    assert!(p.detail.contains("until it died"), "{}", p.detail);

    let mut t = Traces::new(2);
    t.enter(1, 10, "printer");
    t.enter(2, 30, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = mutex::mutual_exclusion(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Violated);
    assert!(p.detail.contains("never gave it up"), "{}", p.detail);
}

#[test]
fn liveness_catches_a_request_never_granted_but_excuses_the_dead_and_the_late() {
    let mut t = Traces::new(3);
    let starved = t.request(1, 10, "printer");
    t.request(2, 20, "printer");
    t.kill(2, 500);
    t.request(3, 2900, "printer"); // made just before the end: not judged
    let run = t.run("lamport", json!({}), 3000);
    let p = mutex::liveness(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("1 request(s) never granted"), "{}", p.detail);
    assert_eq!(p.evidence, vec![EventRef::of(&starved)]);
}

#[test]
fn liveness_does_not_judge_requests_in_a_cluster_cut_apart_at_the_end() {
    let mut t = Traces::new(2);
    t.request(2, 5, "printer"); // one request granted: without it there is nothing to judge
    t.enter(2, 6, "printer");
    t.exit(2, 7, "printer");
    t.request(1, 10, "printer");
    let cut = vec![(1, 2), (2, 1)];
    let fault = AppliedFault::Partition { spec: "1|2".into(), mode: Default::default(), cut };
    t.faults.push(FaultRecord { t: 500 * MS, fault });
    let run = t.run("lamport", json!({}), 3000);
    let p = mutex::liveness(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
    assert!(p.detail.contains("cut off from node(s) [2]"), "{}", p.detail);
}

#[test]
fn liveness_reports_the_longest_wait() {
    let mut t = Traces::new(2);
    t.request(1, 10, "printer");
    t.enter(1, 15, "printer");
    t.exit(1, 20, "printer");
    let r = t.request(2, 12, "printer");
    let e = t.enter(2, 92, "printer");
    let run = t.run("lamport", json!({}), 3000);
    let p = mutex::liveness(&run, &History::from_run(&run));
    assert_eq!(p.verdict, Verdict::Held);
    assert!(p.detail.contains("longest wait 80.0 ms (node 2"), "{}", p.detail);
    assert_eq!(p.evidence, vec![EventRef::of(&r), EventRef::of(&e)]);
}

#[test]
fn fairness_catches_a_later_timestamp_entering_first() {
    let mut t = Traces::new(2);
    let r1 = t.event(1, 5, "request", json!({ "resource": "printer", "ts": 7 }));
    let r2 = t.event(2, 6, "request", json!({ "resource": "printer", "ts": 3 }));
    let e1 = t.enter(1, 10, "printer");
    t.exit(1, 20, "printer");
    t.message(1, 2, 21, "reply", json!({}));
    let e2 = t.enter(2, 30, "printer");
    let run = t.run("ricart-agrawala", json!({}), 100);
    let p = judged("ricart-agrawala", &run, "fairness");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("(7, 1)") && p.detail.contains("(3, 2)"), "{}", p.detail);
    shows(&p, &[&r1, &e1, &r2, &e2]);
}

fn token(t: &mut Traces, node: NodeId, ms: u64, op: &str, extra: Value) -> TraceRecord {
    let mut data = json!({ "resource": "printer", "op": op });
    data.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    t.event(node, ms, "token", data)
}

#[test]
fn token_conservation_catches_a_second_token_while_the_first_is_held() {
    let mut t = Traces::new(3);
    token(&mut t, 1, 1, "create", json!({ "reason": "initial" }));
    token(&mut t, 1, 5, "send", json!({ "to": 2 }));
    t.message(1, 2, 5, "token", json!({}));
    let held = token(&mut t, 2, 7, "receive", json!({}));
    let second = token(&mut t, 3, 20, "create", json!({ "reason": "regenerated" }));
    let run = t.run("token-ring", json!({ "workload": { "resources": ["printer"] } }), 100);
    let p = judged("token-ring", &run, "token_conservation");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("two tokens at once"), "{}", p.detail);
    shows(&p, &[&held, &second]);
}

#[test]
fn token_conservation_catches_a_token_created_while_another_was_in_flight() {
    // Node 1 sends the token; before it arrives node 3 creates one and passes it on: no custody
    // overlaps in time, but node 1's send does not happen-before node 3's creation.
    let mut t = Traces::new(3);
    token(&mut t, 1, 1, "create", json!({ "reason": "initial" }));
    token(&mut t, 1, 5, "send", json!({ "to": 2 }));
    let s = t.send(1, 2, 5, "token", json!({}));
    token(&mut t, 3, 6, "create", json!({ "reason": "regenerated" }));
    token(&mut t, 3, 7, "send", json!({ "to": 1 }));
    t.recv(2, &s, 9);
    token(&mut t, 2, 9, "receive", json!({}));
    let run = t.run("suzuki-kasami", json!({}), 100);
    let p = judged("suzuki-kasami", &run, "token_conservation");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
}

#[test]
fn token_conservation_accepts_a_regeneration_after_the_holder_died() {
    let mut t = Traces::new(3);
    token(&mut t, 1, 1, "create", json!({ "reason": "initial" }));
    token(&mut t, 1, 5, "send", json!({ "to": 2 }));
    t.message(1, 2, 5, "token", json!({}));
    token(&mut t, 2, 7, "receive", json!({}));
    t.kill(2, 10);
    token(&mut t, 3, 20, "create", json!({ "reason": "regenerated" }));
    let run = t.run("token-ring", json!({ "workload": { "resources": ["printer"] } }), 100);
    let p = judged("token-ring", &run, "token_conservation");
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
    assert!(
        p.detail.contains("lost with node 2 at 10.0 ms") && p.detail.contains("regenerated by node 3"),
        "{}",
        p.detail
    );
}

#[test]
fn passes_before_entry_catches_a_token_that_went_round_twice() {
    let mut t = Traces::new(3);
    token(&mut t, 1, 1, "create", json!({ "reason": "initial" }));
    let asked = t.request(1, 2, "printer");
    for (k, node) in [2, 3, 2, 3].into_iter().enumerate() {
        token(&mut t, node, 10 + k as u64 * 10, "receive", json!({}));
    }
    let entered = t.enter(1, 60, "printer");
    t.exit(1, 61, "printer");
    let run = t.run("token-ring", json!({ "workload": { "resources": ["printer"] } }), 3000);
    let p = judged("token-ring", &run, "passes_before_entry");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("passed 4 other nodes (N−1 = 2)"), "{}", p.detail);
    shows(&p, &[&asked, &entered]);
}

#[test]
fn fifo_grants_catches_a_coordinator_that_serves_the_later_request_first() {
    let mut t = Traces::new(3);
    t.message(2, 1, 10, "request", json!({ "Request": { "resource": "printer" } }));
    let first = t.records.last().unwrap().clone();
    t.message(3, 1, 12, "request", json!({ "Request": { "resource": "printer" } }));
    let grant = t.send(1, 3, 20, "grant", json!({ "Grant": { "resource": "printer" } }));
    let run = t.run("central", json!({}), 100);
    let p = judged("central", &run, "fifo_grants");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(
        p.detail.contains("granted to node 3") && p.detail.contains("node 2's request had arrived first"),
        "{}",
        p.detail
    );
    shows(&p, &[&first, &grant]);
}

#[test]
fn quorums_intersect_catches_two_disjoint_quorums() {
    let mut t = Traces::new(4);
    t.event(1, 1, "quorum", json!({ "members": [1, 2] }));
    t.event(2, 1, "quorum", json!({ "members": [1, 2] }));
    let a = t.event(3, 1, "quorum", json!({ "members": [2, 3] }));
    let b = t.event(4, 1, "quorum", json!({ "members": [1, 4] }));
    let run = t.run("maekawa", json!({}), 100);
    let p = judged("maekawa", &run, "quorums_intersect");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("node 3") && p.detail.contains("node 4"), "{}", p.detail);
    assert_eq!(p.evidence, vec![EventRef::of(&a), EventRef::of(&b)]);
}

#[test]
fn one_vote_catches_a_voter_with_two_outstanding_votes() {
    let mut t = Traces::new(3);
    t.event(1, 1, "vote", json!({ "resource": "printer", "for": 2, "ts": 1 }));
    t.event(1, 5, "unvote", json!({ "resource": "printer", "for": 2, "ts": 1, "reason": "release" }));
    let a = t.event(1, 6, "vote", json!({ "resource": "printer", "for": 3, "ts": 2 }));
    t.event(1, 7, "vote", json!({ "resource": "scanner", "for": 2, "ts": 3 })); // another resource
    let b = t.event(1, 8, "vote", json!({ "resource": "printer", "for": 2, "ts": 4 }));
    let run = t.run("maekawa", json!({}), 100);
    let p = judged("maekawa", &run, "one_vote");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("voted for node 2") && p.detail.contains("vote for node 3"), "{}", p.detail);
    assert_eq!(p.evidence, vec![EventRef::of(&a), EventRef::of(&b)]);
}

#[test]
fn message_cost_catches_an_entry_that_cost_more_than_the_textbook_says() {
    // Lamport at N = 3 promises 3(N−1) = 6 messages per entry; this one took 10.
    let mut t = Traces::new(3);
    t.event(1, 1, "request", json!({ "resource": "printer", "ts": 1 }));
    for k in 0..10 {
        t.message(1, 2 + k % 2, 2 + k as u64, "request", json!({}));
    }
    t.enter(1, 20, "printer");
    t.exit(1, 21, "printer");
    let run = t.run("lamport", json!({}), 100);
    let p = judged("lamport", &run, "message_cost");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("10 messages for 1 entries") && p.detail.contains("between 6 and 6"), "{}", p.detail);
}

//! Every election checker can fail: each test hands a checker a small hand-made trace that breaks
//! one property and expects that property reported violated, with the events that show it.

use algorithms::check::{CheckReport, EventRef, PropertyResult};
use algorithms::election::lease::{LeaseMsg, LeaseRecord};
use algorithms::election::randomized::RandMsg;
use algorithms::election::ring::chang_roberts::CrMsg;
use algorithms::election::ring::RingMsg;
use algorithms::faults::CutMode;
use algorithms::faults::{AppliedFault, FaultRecord};
use algorithms::trace::{Clocks, TraceRecord, What};
use algorithms::{find, Execution, Message, NodeId, Verdict, MS};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A trace written by hand: every node starts at 0 ms; times are in milliseconds.
struct Trace {
    nodes: Vec<NodeId>,
    clocks: BTreeMap<NodeId, Clocks>,
    records: Vec<TraceRecord>,
    faults: Vec<FaultRecord>,
}

impl Trace {
    fn new(n: u32) -> Trace {
        let nodes: Vec<NodeId> = (1..=n).collect();
        let mut trace = Trace { nodes: nodes.clone(), clocks: BTreeMap::new(), records: vec![], faults: vec![] };
        trace.fault(0, AppliedFault::RunStart { nodes: nodes.clone() });
        for id in nodes {
            trace.clocks.insert(id, Clocks::new(id));
            trace.add(0, id, What::Start { incarnation: 1 });
        }
        trace
    }

    fn add(&mut self, ms: u64, node: NodeId, what: What) -> TraceRecord {
        let r = self.clocks.get_mut(&node).unwrap().stamp(ms * MS, "x", what);
        self.records.push(r.clone());
        r
    }

    fn event(&mut self, ms: u64, node: NodeId, name: &str, data: Value) -> EventRef {
        EventRef::of(&self.add(ms, node, What::Event { name: name.into(), data }))
    }

    /// Every node in `nodes` names `leader` at `ms`.
    fn all_follow(&mut self, ms: u64, nodes: &[NodeId], leader: NodeId, term: u64) {
        for n in nodes {
            self.event(ms, *n, "leader", json!({ "leader": leader, "term": term }));
        }
    }

    /// A message from `from` to `to`, sent at `ms` and received 1 ms later.
    fn message<M: Message>(&mut self, ms: u64, from: NodeId, to: NodeId, msg: &M) -> (EventRef, EventRef) {
        let what = What::Send { to, msg_type: msg.kind().into(), msg: algorithms::trace::ShownMsg::of(msg) };
        let send = self.add(ms, from, what);
        let recv = What::Recv { from, msg_type: msg.kind().into(), msg_lc: send.lc };
        let r = self.clocks.get_mut(&to).unwrap().stamp_receive((ms + 1) * MS, "x", send.lc, &send.vc, recv);
        self.records.push(r.clone());
        (EventRef::of(&send), EventRef::of(&r))
    }

    fn fault(&mut self, ms: u64, fault: AppliedFault) {
        self.faults.push(FaultRecord { t: ms * MS, fault });
    }

    fn check(mut self, algorithm: &str, params: Value, end_ms: u64) -> CheckReport {
        self.fault(end_ms, AppliedFault::RunEnd);
        let run = Execution::new(algorithm, self.nodes.clone(), params, self.records, self.faults);
        find(algorithm).unwrap().check(&run)
    }
}

/// The named property of the report, which must be violated.
fn violated(report: CheckReport, name: &str) -> PropertyResult {
    let p = report.properties.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no property {name}"));
    assert_eq!(p.verdict, Verdict::Violated, "{name} should be violated: {:#?}", report.properties);
    p.clone()
}

fn kill(node: NodeId) -> AppliedFault {
    AppliedFault::Kill { node, was_leader: true }
}

// ---- Raft ----

#[test]
fn raft_two_leaders_in_one_term() {
    let mut t = Trace::new(3);
    let a = t.event(100, 1, "elected", json!({ "leader": 1, "term": 3 }));
    let b = t.event(150, 2, "elected", json!({ "leader": 2, "term": 3 }));
    let p = violated(t.check("raft-election", json!({}), 2000), "one_leader_per_term");
    assert!(p.detail.contains("term 3"), "{}", p.detail);
    assert_eq!(p.evidence, vec![a, b]);
}

#[test]
fn raft_a_term_that_goes_down_after_a_restart() {
    let mut t = Trace::new(3);
    let high = t.event(100, 2, "term", json!({ "term": 5, "reason": "candidate" }));
    t.fault(200, kill(2));
    t.fault(300, AppliedFault::Restart { node: 2 });
    t.add(300, 2, What::Start { incarnation: 2 });
    let low = t.event(300, 2, "term", json!({ "term": 0, "reason": "start" })); // the term was not persisted
    let p = violated(t.check("raft-election", json!({}), 2000), "terms_never_decrease");
    assert_eq!(p.evidence, vec![high, low]);
}

#[test]
fn raft_two_votes_in_one_term() {
    let mut t = Trace::new(3);
    let a = t.event(100, 3, "voted", json!({ "term": 2, "for": 1 }));
    let b = t.event(120, 3, "voted", json!({ "term": 2, "for": 2 }));
    let p = violated(t.check("raft-election", json!({}), 2000), "one_vote_per_term");
    assert_eq!(p.evidence, vec![a, b]);
}

#[test]
fn raft_no_leader_although_a_majority_is_connected() {
    let t = Trace::new(3);
    violated(t.check("raft-election", json!({}), 3000), "leader_within_bound");
}

#[test]
fn raft_a_node_that_follows_another_leader_at_the_end_of_a_stable_period() {
    let mut t = Trace::new(3);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.all_follow(100, &[1, 2, 3], 1, 1);
    let odd = t.event(1500, 3, "leader", json!({ "leader": 2, "term": 1 }));
    let p = violated(t.check("raft-election", json!({}), 2000), "stable_agreement");
    assert!(p.detail.contains("3→2"), "{}", p.detail);
    assert!(p.evidence.contains(&odd));
}

#[test]
fn raft_more_vote_messages_than_one_candidacy_costs() {
    let mut t = Trace::new(3);
    let started = t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    for _ in 0..3 {
        t.message(10, 1, 2, &algorithms::election::raft::RaftMsg::RequestVote { term: 1 });
        t.message(10, 1, 3, &algorithms::election::raft::RaftMsg::RequestVote { term: 1 });
    }
    t.event(20, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.all_follow(20, &[1, 2, 3], 1, 1);
    let p = violated(t.check("raft-election", json!({}), 2000), "election_message_cost");
    assert!(p.detail.contains("the candidacy of node 1 for term 1 cost 6 messages (request_vote 6)"), "{}", p.detail);
    assert_eq!(p.evidence, vec![started]);
}

/// A broadcast begun before the leader's death whose last requests (and their replies) come after
/// it, as on a crowded machine where one broadcast to many peers takes a while: the messages are
/// that earlier candidacy's, not the election that follows the death (counted by time, they were
/// charged to it, with no candidacy to pay for them).
#[test]
fn raft_a_broadcast_that_straddles_the_leaders_death_is_its_own_candidacys_cost() {
    use algorithms::election::raft::RaftMsg;
    let mut t = Trace::new(3);
    t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    t.message(10, 1, 2, &RaftMsg::RequestVote { term: 1 });
    t.message(11, 2, 1, &RaftMsg::Vote { term: 1, granted: true });
    t.event(20, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.all_follow(20, &[1, 2, 3], 1, 1);
    // Node 3 stands for term 2 just before the leader dies; its request to 2 leaves after.
    t.event(300, 3, "election_started", json!({ "term": 2, "pre_vote": false }));
    t.message(300, 3, 1, &RaftMsg::RequestVote { term: 2 });
    t.fault(310, kill(1));
    t.message(320, 3, 2, &RaftMsg::RequestVote { term: 2 });
    t.message(321, 2, 3, &RaftMsg::Vote { term: 2, granted: true });
    t.event(330, 3, "elected", json!({ "leader": 3, "term": 2 }));
    t.all_follow(330, &[2, 3], 3, 2);
    let report = t.check("raft-election", json!({}), 3000);
    let p = report.properties.iter().find(|p| p.name == "election_message_cost").unwrap();
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
}

#[test]
fn raft_with_pre_vote_a_leader_deposed_after_a_heal() {
    let mut t = Trace::new(3);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.all_follow(100, &[1, 2, 3], 1, 1);
    let cut = vec![(3, 1), (3, 2), (1, 3), (2, 3)];
    t.fault(500, AppliedFault::Partition { spec: "isolate:3".into(), mode: CutMode::Blackhole, cut });
    t.fault(1500, AppliedFault::Heal);
    t.event(1510, 3, "term", json!({ "term": 9, "reason": "candidate" }));
    let lost = t.event(1520, 1, "leader_lost", json!({ "leader": 1, "term": 1, "reason": "higher term" }));
    let p = violated(t.check("raft-election", json!({ "pre_vote": true }), 3000), "rejoin_without_disruption");
    assert_eq!(p.evidence, vec![lost]);
}

// ---- Ring elections ----

#[test]
fn ring_a_lower_id_elected_while_the_highest_runs() {
    for algorithm in ["chang-roberts", "lelann"] {
        let mut t = Trace::new(3);
        let win = t.event(500, 2, "elected", json!({ "leader": 2 }));
        let p = violated(t.check(algorithm, json!({}), 2000), "one_elected_highest");
        assert!(p.detail.contains("node 3, a higher id"), "{algorithm}: {}", p.detail);
        assert_eq!(p.evidence[0], win);
    }
}

#[test]
fn ring_everyone_agrees_but_not_on_the_highest_live_id() {
    let mut t = Trace::new(3);
    t.all_follow(100, &[1, 2, 3], 2, 0);
    let p = violated(t.check("chang-roberts", json!({}), 2000), "stable_agreement");
    assert!(p.detail.contains("node 3, the highest live id"), "{}", p.detail);
    assert_eq!(p.evidence.len(), 3);
}

#[test]
fn ring_no_new_leader_after_the_leader_dies() {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3 }));
    t.all_follow(50, &[1, 2, 3], 3, 0);
    t.fault(500, kill(3));
    let p = violated(t.check("lelann", json!({}), 3000), "election_within_bound");
    assert!(p.detail.contains("leader killed"), "{}", p.detail);
}

#[test]
fn ring_an_election_that_costs_more_than_the_textbook_worst() {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3 }));
    t.all_follow(50, &[1, 2, 3], 3, 0);
    t.fault(500, kill(3));
    t.event(800, 1, "election_started", json!({ "initiator": true }));
    let election = RingMsg::Pass { seq: 1, hops: 1, body: CrMsg::Election { id: 1, attribute: 0 } };
    for _ in 0..20 {
        t.message(800, 1, 2, &election);
    }
    t.event(850, 2, "elected", json!({ "leader": 2 }));
    t.all_follow(850, &[1, 2], 2, 0);
    let p = violated(t.check("chang-roberts", json!({}), 3000), "election_message_cost");
    assert!(p.detail.contains("cost 20 messages with 1 initiator(s), above the textbook's 8"), "{}", p.detail);
}

// ---- Lease ----

fn record(holder: NodeId, transitions: u64) -> LeaseRecord {
    LeaseRecord { holder: Some(holder), lease_duration_ms: 1500, transitions, ..Default::default() }
}

#[test]
fn lease_a_takeover_before_the_lease_duration() {
    let mut t = Trace::new(3);
    t.message(90, 2, 1, &LeaseMsg::Get { req: 1 });
    let (_, seen) = t.message(100, 1, 2, &LeaseMsg::Record { req: 1, record: record(3, 1), version: 4 });
    let update = LeaseMsg::Update { req: 2, expected: 4, record: record(2, 2) };
    let (grab, _) = t.message(400, 2, 1, &update);
    let p = violated(t.check("lease", json!({}), 2000), "no_early_takeover");
    assert!(p.detail.contains("299 ms (its clock)"), "{}", p.detail);
    assert_eq!(p.evidence, vec![seen, grab]);
}

#[test]
fn lease_a_drifting_clock_is_what_the_takeover_is_measured_on() {
    // Node 2's clock runs at 4× true time: 400 ms of true time are 1600 ms on its clock, so its
    // takeover is on time by its own clock, which is all the algorithm can know.
    let mut t = Trace::new(3);
    t.fault(0, AppliedFault::Drift { node: 2, rate: 4.0 });
    t.message(90, 2, 1, &LeaseMsg::Get { req: 1 });
    t.message(100, 1, 2, &LeaseMsg::Record { req: 1, record: record(3, 1), version: 4 });
    t.message(500, 2, 1, &LeaseMsg::Update { req: 2, expected: 4, record: record(2, 2) });
    let report = t.check("lease", json!({}), 2000);
    let p = report.properties.iter().find(|p| p.name == "no_early_takeover").unwrap();
    assert_eq!(p.verdict, Verdict::Held, "{p:#?}");
}

#[test]
fn lease_transitions_that_do_not_grow_with_a_new_holder() {
    let mut t = Trace::new(3);
    let a = t.event(100, 1, "lease_updated", json!({ "version": 1, "holder": 2, "transitions": 1 }));
    let b = t.event(900, 1, "lease_updated", json!({ "version": 2, "holder": 3, "transitions": 1 }));
    let p = violated(t.check("lease", json!({}), 2000), "transitions_grow");
    assert_eq!(p.evidence, vec![a, b]);
}

#[test]
fn lease_two_holders_at_once() {
    let mut t = Trace::new(3);
    let a = t.event(100, 2, "leader", json!({ "leader": 2 }));
    let b = t.event(600, 3, "leader", json!({ "leader": 3 }));
    let end = t.event(900, 2, "leader_lost", json!({ "leader": 2, "reason": "renew deadline passed" }));
    let p = violated(t.check("lease", json!({}), 2000), "single_leader");
    assert!(p.detail.contains("from 600 to 900 ms"), "{}", p.detail);
    assert_eq!(p.evidence, vec![a, b, end]);
}

#[test]
fn lease_reads_faster_than_the_retry_period() {
    let mut t = Trace::new(3);
    let (a, _) = t.message(100, 3, 1, &LeaseMsg::Get { req: 1 });
    let (b, _) = t.message(150, 3, 1, &LeaseMsg::Get { req: 2 });
    let p = violated(t.check("lease", json!({}), 2000), "request_rate");
    assert_eq!(p.evidence, vec![a, b]);
}

// ---- Randomized ----

#[test]
fn randomized_a_winner_that_had_seen_a_higher_draw() {
    let mut t = Trace::new(3);
    t.event(10, 1, "draw", json!({ "round": 1, "value": 50 }));
    let (_, higher) = t.message(10, 2, 1, &RandMsg::Draw { round: 1, value: 90 });
    let win = t.event(40, 1, "elected", json!({ "leader": 1, "round": 1, "value": 50 }));
    let p = violated(t.check("randomized", json!({}), 2000), "highest_draw_wins");
    assert!(p.detail.contains("had received 90 from node 2"), "{}", p.detail);
    assert_eq!(p.evidence, vec![higher, win]);
}

#[test]
fn randomized_a_winner_that_claims_a_number_it_did_not_draw() {
    let mut t = Trace::new(3);
    t.event(10, 1, "draw", json!({ "round": 1, "value": 50 }));
    t.event(40, 1, "elected", json!({ "leader": 1, "round": 1, "value": 99 }));
    violated(t.check("randomized", json!({}), 2000), "highest_draw_wins");
}

#[test]
fn randomized_more_draws_than_a_round_costs() {
    let mut t = Trace::new(3);
    t.event(300, 1, "election_started", json!({ "round": 1, "initiator": true }));
    t.event(300, 1, "draw", json!({ "round": 1, "value": 50 }));
    for _ in 0..10 {
        t.message(300, 1, 2, &RandMsg::Draw { round: 1, value: 50 });
    }
    t.event(330, 1, "elected", json!({ "leader": 1, "round": 1, "value": 50 }));
    t.all_follow(330, &[1, 2, 3], 1, 0);
    let p = violated(t.check("randomized", json!({}), 2000), "election_message_cost");
    assert!(p.detail.contains("above 8"), "{}", p.detail);
}

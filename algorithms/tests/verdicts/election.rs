//! Runs for the election algorithms' properties: each breaks one property, or gives it nothing to
//! judge. Three nodes unless said otherwise; bounds are the defaults (bully and timestamp 850 ms, rings 1050 ms,
//! Raft 1000 ms, lease 2200 ms, randomized 570 ms).

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::election::lease::{LeaseMsg, LeaseRecord};
use algorithms::election::raft::RaftMsg;
use algorithms::election::randomized::RandMsg;
use algorithms::faults::{AppliedFault, CutMode};
use algorithms::trace::What;
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    // Shared by several elections.
    case!("bully", "stable_agreement", Violating, everyone_follows_a_lower_id),
    case!("bully", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("bully", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("bully", "election_within_bound", Violating, agreement_only_after_2500_ms),
    case!("bully", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("bully", "election_message_cost", Violating, bully_an_election_above_n2_minus_1),
    case!("bully", "election_message_cost", NothingToJudge, only_the_start_election),
    case!("lelann", "one_elected_highest", Violating, a_lower_id_elected),
    case!("lelann", "one_elected_highest", NothingToJudge, agreement_without_an_elected_event),
    case!("lelann", "stable_agreement", Violating, everyone_follows_a_lower_id),
    case!("lelann", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("lelann", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("lelann", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("lelann", "election_message_cost", Violating, ring_an_election_above_the_worst_case),
    case!("lelann", "election_message_cost", NothingToJudge, only_the_start_election),
    case!("chang-roberts", "one_elected_highest", Violating, a_lower_id_elected),
    case!("chang-roberts", "one_elected_highest", NothingToJudge, agreement_without_an_elected_event),
    case!("chang-roberts", "stable_agreement", Violating, everyone_follows_a_lower_id),
    case!("chang-roberts", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("chang-roberts", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("chang-roberts", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("chang-roberts", "election_message_cost", Violating, ring_an_election_above_the_worst_case),
    case!("chang-roberts", "election_message_cost", NothingToJudge, only_the_start_election),
    // Raft.
    case!("raft-election", "one_leader_per_term", Violating, raft_two_leaders_in_one_term),
    case!("raft-election", "one_leader_per_term", NothingToJudge, raft_no_election_happened),
    case!("raft-election", "terms_never_decrease", Violating, raft_a_term_that_goes_down),
    case!("raft-election", "terms_never_decrease", NothingToJudge, raft_no_election_happened),
    case!("raft-election", "one_vote_per_term", Violating, raft_two_votes_in_one_term),
    case!("raft-election", "one_vote_per_term", NothingToJudge, raft_no_election_happened),
    case!("raft-election", "leader_within_bound", Violating, raft_no_election_happened),
    case!("raft-election", "leader_within_bound", NothingToJudge, every_node_cut_off_from_the_others),
    case!("raft-election", "stable_agreement", Violating, raft_a_follower_of_another_leader),
    case!("raft-election", "stable_agreement", NothingToJudge, every_node_cut_off_from_the_others),
    case!("raft-election", "election_message_cost", Violating, raft_six_vote_requests_for_one_candidacy),
    case!("raft-election", "election_message_cost", NothingToJudge, raft_no_election_happened),
    case!("raft-election", "rejoin_without_disruption", Violating, raft_a_leader_deposed_after_a_heal),
    case!("raft-election", "rejoin_without_disruption", NothingToJudge, raft_pre_vote_without_a_partition),
    // Lease (node 1 is the store).
    case!("lease", "no_early_takeover", Violating, lease_a_takeover_before_the_lease_duration),
    case!("lease", "no_early_takeover", NothingToJudge, lease_the_holder_never_lost),
    case!("lease", "transitions_grow", Violating, lease_transitions_that_do_not_grow),
    case!("lease", "transitions_grow", NothingToJudge, lease_the_holder_never_lost),
    case!("lease", "single_leader", Violating, lease_two_holders_at_once),
    case!("lease", "single_leader", NothingToJudge, lease_nobody_ever_led),
    case!("lease", "stable_agreement", Violating, lease_candidates_never_agree),
    case!("lease", "stable_agreement", NothingToJudge, lease_the_store_is_down),
    case!("lease", "election_within_bound", Violating, lease_candidates_never_agree),
    case!("lease", "election_within_bound", Violating, agreement_only_after_2500_ms),
    case!("lease", "election_within_bound", NothingToJudge, lease_the_store_is_down),
    case!("lease", "request_rate", Violating, lease_reads_faster_than_the_retry_period),
    case!("lease", "request_rate", Violating, lease_a_write_without_a_read),
    case!("lease", "request_rate", NothingToJudge, quiet_100_ms),
    // Randomized.
    case!("randomized", "highest_draw_wins", Violating, randomized_a_winner_that_saw_a_higher_draw),
    case!("randomized", "highest_draw_wins", NothingToJudge, agreement_without_an_elected_event),
    case!("randomized", "stable_agreement", Violating, randomized_views_split_at_the_end),
    case!("randomized", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("randomized", "election_within_bound", Violating, agreement_only_after_2500_ms),
    case!("randomized", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("randomized", "election_message_cost", Violating, randomized_more_draws_than_a_round_costs),
    case!("randomized", "election_message_cost", NothingToJudge, quiet_100_ms),
    // Timestamp.
    case!("timestamp", "stable_agreement", Violating, randomized_views_split_at_the_end),
    case!("timestamp", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("timestamp", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("timestamp", "election_within_bound", Violating, agreement_only_after_2500_ms),
    case!("timestamp", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("timestamp", "election_message_cost", Violating, timestamp_an_election_above_the_worst_case),
    case!("timestamp", "election_message_cost", Violating, timestamp_an_election_below_the_best_case),
    case!("timestamp", "election_message_cost", NothingToJudge, only_the_start_election),
];

// ---- shared ----

/// Three nodes start and the run ends 100 ms later: no election could have finished.
fn quiet_100_ms() -> Execution {
    Trace::new(3).end(100)
}

fn everyone_follows_a_lower_id() -> Execution {
    let mut t = Trace::new(3);
    t.follow(100, &[1, 2, 3], 2);
    t.end(2000)
}

/// All agree on node 3 at 50 ms, and the run ends at 400 ms: shorter than any bound, no stable
/// period.
fn agreed_but_shorter_than_the_bound() -> Execution {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3, "term": 1 }));
    t.follow(50, &[1, 2, 3], 3);
    t.end(400)
}

/// The only election is the one at start (held to no textbook figure); then 2 s of quiet.
fn only_the_start_election() -> Execution {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3 }));
    t.follow(50, &[1, 2, 3], 3);
    t.end(2000)
}

fn agreement_without_an_elected_event() -> Execution {
    let mut t = Trace::new(3);
    t.follow(50, &[1, 2, 3], 3);
    t.end(2000)
}

fn no_new_leader_after_the_leader_dies() -> Execution {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3 }));
    t.follow(50, &[1, 2, 3], 3);
    t.kill(500, 3);
    t.end(3000)
}

/// Everyone agrees on node 3 (the highest id), but only 2.5 s after the start: later than every
/// election bound.
fn agreement_only_after_2500_ms() -> Execution {
    let mut t = Trace::new(3);
    t.follow(2500, &[1, 2, 3], 3);
    t.end(5000)
}

fn a_lower_id_elected() -> Execution {
    let mut t = Trace::new(3);
    t.event(500, 2, "elected", json!({ "leader": 2 }));
    t.end(2000)
}

/// Node 3 leads, dies at 500 ms; node 2 takes over at 800 ms with `n` election messages.
fn election_after_a_death(election_messages: usize) -> Execution {
    let mut t = Trace::new(3);
    t.event(50, 3, "elected", json!({ "leader": 3 }));
    t.follow(50, &[1, 2, 3], 3);
    t.kill(500, 3);
    t.event(600, 1, "election_started", json!({ "initiator": true }));
    for _ in 0..election_messages {
        t.raw(600, 1, 2, "election", json!({}));
    }
    t.event(800, 2, "elected", json!({ "leader": 2 }));
    t.follow(800, &[1, 2], 2);
    t.end(3000)
}

/// n²−1 = 8 for three nodes; this election took 9.
fn bully_an_election_above_n2_minus_1() -> Execution {
    election_after_a_death(9)
}

/// One initiator: LeLann's worst is 2n = 6, Chang–Roberts' 3n−1 = 8; this election took 9.
fn ring_an_election_above_the_worst_case() -> Execution {
    election_after_a_death(9)
}

/// (n−1)(3n+2)/2 = 11 for three nodes; this election took 12.
fn timestamp_an_election_above_the_worst_case() -> Execution {
    election_after_a_death(12)
}

/// 2(n−1) = 4 for three nodes at best (ELECTION and COORDINATOR to both others); this took 3.
fn timestamp_an_election_below_the_best_case() -> Execution {
    election_after_a_death(3)
}

// ---- Raft ----

fn raft_two_leaders_in_one_term() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 3 }));
    t.event(150, 2, "elected", json!({ "leader": 2, "term": 3 }));
    t.end(2000)
}

fn raft_a_term_that_goes_down() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 2, "term", json!({ "term": 5, "reason": "candidate" }));
    t.kill(200, 2);
    t.fault(300, AppliedFault::Restart { node: 2 });
    t.add(300, 2, What::Start { incarnation: 2 });
    t.event(300, 2, "term", json!({ "term": 0, "reason": "start" })); // the term was not persisted
    t.end(2000)
}

fn raft_two_votes_in_one_term() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 3, "voted", json!({ "term": 2, "for": 1 }));
    t.event(120, 3, "voted", json!({ "term": 2, "for": 2 }));
    t.end(2000)
}

/// Three nodes run for 3 s and none stands for election: no `term`, `voted` or `elected` event,
/// so the safety properties have nothing to judge, while the liveness property sees no leader.
fn raft_no_election_happened() -> Execution {
    Trace::new(3).end(3000)
}

/// Every node is cut off from the others from the start: no majority can elect.
fn every_node_cut_off_from_the_others() -> Execution {
    let mut t = Trace::new(3);
    t.isolate_everyone(0);
    t.end(3000)
}

fn raft_a_follower_of_another_leader() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.follow(100, &[1, 2, 3], 1);
    t.event(1500, 3, "leader", json!({ "leader": 2, "term": 1 }));
    t.end(2000)
}

fn raft_six_vote_requests_for_one_candidacy() -> Execution {
    let mut t = Trace::new(3);
    t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    for _ in 0..3 {
        t.message(10, 1, 2, &RaftMsg::RequestVote { term: 1 });
        t.message(10, 1, 3, &RaftMsg::RequestVote { term: 1 });
    }
    t.event(20, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.follow(20, &[1, 2, 3], 1);
    t.end(2000)
}

fn raft_a_leader_deposed_after_a_heal() -> Execution {
    let mut t = Trace::new(3).params(json!({ "pre_vote": true }));
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.follow(100, &[1, 2, 3], 1);
    let cut = vec![(3, 1), (3, 2), (1, 3), (2, 3)];
    t.fault(500, AppliedFault::Partition { spec: "isolate:3".into(), mode: CutMode::Blackhole, cut });
    t.fault(1500, AppliedFault::Heal);
    t.event(1510, 3, "term", json!({ "term": 9, "reason": "candidate" }));
    t.event(1520, 1, "leader_lost", json!({ "leader": 1, "term": 1, "reason": "higher term" }));
    t.end(3000)
}

/// PreVote on, a leader elected and followed, and no partition to heal.
fn raft_pre_vote_without_a_partition() -> Execution {
    let mut t = Trace::new(3).params(json!({ "pre_vote": true }));
    t.event(100, 1, "elected", json!({ "leader": 1, "term": 1 }));
    t.follow(100, &[1, 2, 3], 1);
    t.end(2000)
}

// ---- Lease ----

fn record(holder: Option<u32>, transitions: u64) -> LeaseRecord {
    LeaseRecord { holder, lease_duration_ms: 1500, transitions, ..Default::default() }
}

fn lease_a_takeover_before_the_lease_duration() -> Execution {
    let mut t = Trace::new(3);
    t.message(90, 2, 1, &LeaseMsg::Get { req: 1 });
    t.message(100, 1, 2, &LeaseMsg::Record { req: 1, record: record(Some(3), 1), version: 4 });
    t.message(400, 2, 1, &LeaseMsg::Update { req: 2, expected: 4, record: record(Some(2), 2) });
    t.end(2000)
}

/// Node 2 acquires the free lease once and keeps it: no takeover from another holder, and the
/// store updated the record only once.
fn lease_the_holder_never_lost() -> Execution {
    let mut t = Trace::new(3);
    t.message(90, 2, 1, &LeaseMsg::Get { req: 1 });
    t.message(100, 1, 2, &LeaseMsg::Record { req: 1, record: record(None, 0), version: 1 });
    t.message(110, 2, 1, &LeaseMsg::Update { req: 2, expected: 1, record: record(Some(2), 1) });
    t.event(111, 1, "lease_updated", json!({ "version": 2, "holder": 2, "transitions": 1 }));
    t.message(112, 1, 2, &LeaseMsg::UpdateResult { req: 2, ok: true, record: record(Some(2), 1), version: 2 });
    t.follow(113, &[2, 3], 2);
    t.end(2000)
}

fn lease_transitions_that_do_not_grow() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 1, "lease_updated", json!({ "version": 1, "holder": 2, "transitions": 1 }));
    t.event(900, 1, "lease_updated", json!({ "version": 2, "holder": 3, "transitions": 1 }));
    t.end(2000)
}

fn lease_two_holders_at_once() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 2, "leader", json!({ "leader": 2 }));
    t.event(600, 3, "leader", json!({ "leader": 3 }));
    t.event(900, 2, "leader_lost", json!({ "leader": 2, "reason": "renew deadline passed" }));
    t.end(2000)
}

/// The candidates read the free record every retry period and never write: nobody leads.
fn lease_nobody_ever_led() -> Execution {
    let mut t = Trace::new(3);
    for (k, ms) in (200..2000).step_by(200).enumerate() {
        for c in [2, 3] {
            let req = k as u64;
            t.message(ms, c, 1, &LeaseMsg::Get { req });
            t.message(ms + 2, 1, c, &LeaseMsg::Record { req, record: record(None, 0), version: 1 });
        }
    }
    t.end(2000)
}

/// Node 2 holds the lease from 100 ms; node 3 never names a holder, for 3 s.
fn lease_candidates_never_agree() -> Execution {
    let mut t = Trace::new(3);
    t.event(100, 2, "leader", json!({ "leader": 2 }));
    t.end(3000)
}

/// The store (node 1) dies at once: no election can succeed.
fn lease_the_store_is_down() -> Execution {
    let mut t = Trace::new(3);
    t.kill(10, 1);
    t.end(5000)
}

fn lease_reads_faster_than_the_retry_period() -> Execution {
    let mut t = Trace::new(3);
    t.message(100, 3, 1, &LeaseMsg::Get { req: 1 });
    t.message(150, 3, 1, &LeaseMsg::Get { req: 2 });
    t.end(2000)
}

fn lease_a_write_without_a_read() -> Execution {
    let mut t = Trace::new(3);
    t.message(100, 2, 1, &LeaseMsg::Update { req: 1, expected: 0, record: record(Some(2), 1) });
    t.end(2000)
}

// ---- Randomized ----

fn randomized_a_winner_that_saw_a_higher_draw() -> Execution {
    let mut t = Trace::new(3);
    t.event(10, 1, "draw", json!({ "round": 1, "value": 50 }));
    t.message(10, 2, 1, &RandMsg::Draw { round: 1, value: 90 });
    t.event(40, 1, "elected", json!({ "leader": 1, "round": 1, "value": 50 }));
    t.end(2000)
}

/// At the end of 2 s without a fault, nodes 1 and 2 follow node 3 but node 3 follows node 2.
fn randomized_views_split_at_the_end() -> Execution {
    let mut t = Trace::new(3);
    t.follow(100, &[1, 2], 3);
    t.follow(100, &[3], 2);
    t.end(2000)
}

/// One caller, one round: (n−1) + n(n−1) = 8 messages at most; this election took 10.
fn randomized_more_draws_than_a_round_costs() -> Execution {
    let mut t = Trace::new(3);
    t.event(300, 1, "election_started", json!({ "round": 1, "initiator": true }));
    t.event(300, 1, "draw", json!({ "round": 1, "value": 50 }));
    for _ in 0..10 {
        t.message(300, 1, 2, &RandMsg::Draw { round: 1, value: 50 });
    }
    t.event(330, 1, "elected", json!({ "leader": 1, "round": 1, "value": 50 }));
    t.follow(330, &[1, 2, 3], 1);
    t.end(2000)
}

/// The details a person reads when there was nothing to judge.
#[test]
fn nothing_to_judge_says_what_was_missing() {
    let detail = |algorithm: &str, run: Execution, property: &str| {
        let report = algorithms::find(algorithm).unwrap().check(&run);
        report.properties.into_iter().find(|p| p.name == property).unwrap().detail
    };
    let raft = |property| detail("raft-election", raft_no_election_happened(), property);
    assert_eq!(raft("one_leader_per_term"), "nothing to judge: no election won (no `elected` event)");
    assert_eq!(raft("terms_never_decrease"), "nothing to judge: no node reported a term twice");
    assert_eq!(raft("one_vote_per_term"), "nothing to judge: no vote cast (no `voted` event)");
    assert_eq!(
        detail("bully", only_the_start_election(), "election_message_cost"),
        "nothing to judge: no election after a leader's death or a higher id's return to compare with n²−1 = 8 (1 other election(s) measured)"
    );
    assert_eq!(
        detail("lease", lease_the_holder_never_lost(), "no_early_takeover"),
        "nothing to judge: no takeover attempt (no candidate wrote itself in place of another holder)"
    );
}

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
    case!("bully", "stable_agreement", Violating, everyone_follows_the_highest_id_not_the_best_attribute),
    case!("bully", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("bully", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("bully", "election_within_bound", Violating, agreement_only_after_2500_ms),
    case!("bully", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("bully", "election_message_cost", Violating, bully_an_election_above_n2_minus_1),
    case!("bully", "election_message_cost", NothingToJudge, only_the_start_election),
    case!("bully", "no_premature_coordinator", Violating, bully_declared_although_the_higher_id_answered),
    case!("bully", "no_premature_coordinator", Violating, bully_declared_without_asking_the_higher_id),
    case!("bully", "no_premature_coordinator", NothingToJudge, only_the_start_election),
    case!("bully", "elections_answered", Violating, bully_an_election_received_and_not_answered),
    case!("bully", "elections_answered", Violating, bully_an_answer_back_after_the_answer_timeout),
    case!("bully", "elections_answered", NothingToJudge, quiet_100_ms),
    case!("lelann", "one_elected_highest", Violating, a_lower_id_elected),
    case!("lelann", "one_elected_highest", Violating, the_highest_id_elected_over_a_better_attribute),
    case!("lelann", "one_elected_highest", NothingToJudge, agreement_without_an_elected_event),
    case!("lelann", "stable_agreement", Violating, everyone_follows_a_lower_id),
    case!("lelann", "stable_agreement", NothingToJudge, agreed_but_shorter_than_the_bound),
    case!("lelann", "election_within_bound", Violating, no_new_leader_after_the_leader_dies),
    case!("lelann", "election_within_bound", NothingToJudge, quiet_100_ms),
    case!("lelann", "election_message_cost", Violating, ring_an_election_above_the_worst_case),
    case!("lelann", "election_message_cost", NothingToJudge, only_the_start_election),
    case!("chang-roberts", "one_elected_highest", Violating, a_lower_id_elected),
    case!("chang-roberts", "one_elected_highest", Violating, the_highest_id_elected_over_a_better_attribute),
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
    case!("raft-election", "stale_leader_steps_down", Violating, raft_a_leader_heartbeats_in_its_old_term),
    case!("raft-election", "stale_leader_steps_down", Violating, raft_heartbeats_in_a_term_not_won),
    case!("raft-election", "stale_leader_steps_down", NothingToJudge, raft_no_election_happened),
    case!("raft-election", "votes_counted_in_their_term", Violating, raft_a_vote_of_an_earlier_term_counted),
    case!("raft-election", "votes_counted_in_their_term", Violating, raft_elected_without_a_majority),
    case!("raft-election", "votes_counted_in_their_term", NothingToJudge, raft_no_election_happened),
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
    // Lease lock (node 1 the lock service; the storage node 2, or 4 beside a lease trace).
    case!("lease-lock", "fenced_writes", Violating, lock_a_lower_token_accepted_after_a_higher),
    case!("lease-lock", "fenced_writes", NothingToJudge, lock_quiet),
    case!("lease-lock", "single_writer_per_token", Violating, lock_two_writers_with_one_token),
    case!("lease-lock", "single_writer_per_token", NothingToJudge, lock_quiet),
    case!("lease-lock", "no_early_takeover", Violating, lock_a_takeover_before_the_lease_duration),
    case!("lease-lock", "no_early_takeover", NothingToJudge, lock_the_holder_never_lost),
    case!("lease-lock", "transitions_grow", Violating, lock_transitions_that_do_not_grow),
    case!("lease-lock", "transitions_grow", NothingToJudge, lock_the_holder_never_lost),
    case!("lease-lock", "stable_agreement", Violating, lock_candidates_never_agree),
    case!("lease-lock", "stable_agreement", NothingToJudge, lock_the_store_is_down),
    case!("lease-lock", "election_within_bound", Violating, lock_candidates_never_agree),
    case!("lease-lock", "election_within_bound", NothingToJudge, lock_the_store_is_down),
    case!("lease-lock", "request_rate", Violating, lock_reads_faster_than_the_retry_period),
    case!("lease-lock", "request_rate", NothingToJudge, lock_quiet),
    // Randomized.
    case!("randomized", "highest_draw_wins", Violating, randomized_a_winner_that_saw_a_higher_draw),
    case!("randomized", "highest_draw_wins", Violating, randomized_a_higher_draw_wins_over_a_better_attribute),
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

/// By attribute, node 1 is the best (50; the others have none): everyone following node 3, the
/// highest id, is agreement on the wrong node.
fn everyone_follows_the_highest_id_not_the_best_attribute() -> Execution {
    let mut t = Trace::new(3).params(json!({ "attributes": { "1": 50 } }));
    t.follow(100, &[1, 2, 3], 3);
    t.end(2000)
}

/// By attribute, node 1 is the best (50): node 3, the highest id, elected is a wrong win.
fn the_highest_id_elected_over_a_better_attribute() -> Execution {
    let mut t = Trace::new(3).params(json!({ "attributes": { "1": 50 } }));
    t.event(500, 3, "elected", json!({ "leader": 3 }));
    t.end(2000)
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

// ---- Bully during elections (answer timeout 100 ms) ----

/// Node 2 holds an election at 500 ms: ELECTION to node 3 (up since the start, every link
/// healthy), node 3 answers at once, and node 2 declares itself coordinator at 600 ms anyway.
fn bully_declared_although_the_higher_id_answered() -> Execution {
    let mut t = Trace::new(3);
    t.event(500, 2, "election_started", json!({}));
    let election = t.send(500, 2, 3, "election", json!("Election"));
    t.receive(501, &election);
    t.raw(501, 3, 2, "answer", json!("Answer"));
    t.event(600, 2, "elected", json!({ "leader": 2 }));
    t.end(2000)
}

/// Node 2 holds an election at 500 ms and declares itself at 600 ms without sending node 3 (up,
/// reachable) an ELECTION at all.
fn bully_declared_without_asking_the_higher_id() -> Execution {
    let mut t = Trace::new(3);
    t.event(500, 2, "election_started", json!({}));
    t.event(600, 2, "elected", json!({ "leader": 2 }));
    t.end(2000)
}

/// Node 3 receives node 1's ELECTION at 501 ms and handles its next input (a timer) at 550 ms
/// without having answered.
fn bully_an_election_received_and_not_answered() -> Execution {
    let mut t = Trace::new(3);
    let election = t.send(500, 1, 3, "election", json!("Election"));
    t.receive(501, &election);
    t.add(550, 3, What::Timer { name: "heartbeat".into() });
    t.end(2000)
}

/// Node 3 answers node 1's ELECTION in the same step, but over a link no fault touched the ANSWER
/// arrives 150 ms later, past the 100 ms answer timeout.
fn bully_an_answer_back_after_the_answer_timeout() -> Execution {
    let mut t = Trace::new(3);
    let election = t.send(500, 1, 3, "election", json!("Election"));
    t.receive(501, &election);
    let answer = t.send(501, 3, 1, "answer", json!("Answer"));
    t.receive(651, &answer);
    t.end(2000)
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

/// Node 1 stands in term 1 and wins it with node 2's vote.
fn raft_node_1_wins_term_1(t: &mut Trace) {
    t.event(10, 1, "term", json!({ "term": 1, "reason": "candidate" }));
    t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    t.message(10, 1, 2, &RaftMsg::RequestVote { term: 1 });
    t.message(11, 2, 1, &RaftMsg::Vote { term: 1, granted: true });
    t.event(12, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1, 2] }));
}

/// Node 1 leads term 1, hears of term 2 in a heartbeat reply from node 2 at 501 ms, and sends
/// another heartbeat of term 1 at 550 ms instead of stepping down.
fn raft_a_leader_heartbeats_in_its_old_term() -> Execution {
    let mut t = Trace::new(3);
    raft_node_1_wins_term_1(&mut t);
    t.message(500, 2, 1, &RaftMsg::AppendEntriesReply { term: 2, success: false });
    t.message(550, 1, 3, &RaftMsg::AppendEntries { term: 1 });
    t.end(2000)
}

/// Node 3 sends heartbeats of term 1, a term it never won (node 1 did).
fn raft_heartbeats_in_a_term_not_won() -> Execution {
    let mut t = Trace::new(3);
    raft_node_1_wins_term_1(&mut t);
    t.message(500, 3, 2, &RaftMsg::AppendEntries { term: 1 });
    t.end(2000)
}

/// Node 1 stands in term 2 and counts node 2's vote of term 1 (arrived late, after node 1's
/// candidacy in term 1 had timed out) towards it.
fn raft_a_vote_of_an_earlier_term_counted() -> Execution {
    let mut t = Trace::new(3);
    t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    t.message(10, 1, 2, &RaftMsg::RequestVote { term: 1 });
    t.event(300, 1, "election_started", json!({ "term": 2, "pre_vote": false }));
    t.message(400, 2, 1, &RaftMsg::Vote { term: 1, granted: true });
    t.event(410, 1, "elected", json!({ "leader": 1, "term": 2, "votes": [1, 2] }));
    t.end(2000)
}

/// Node 1 of three declares itself leader of term 1 with its own vote alone.
fn raft_elected_without_a_majority() -> Execution {
    let mut t = Trace::new(3);
    t.event(10, 1, "election_started", json!({ "term": 1, "pre_vote": false }));
    t.event(20, 1, "elected", json!({ "leader": 1, "term": 1, "votes": [1] }));
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

// ---- Lease lock ----

/// A lease trace as a `lease-lock` run: a storage, node 4, beside its nodes (it never starts,
/// and is no lock client), so the lease's checks judge the same candidates.
fn as_lock(mut run: Execution) -> Execution {
    run.nodes.push(4);
    run.params = json!({ "storage": 4 });
    run
}

fn lock_quiet() -> Execution {
    as_lock(quiet_100_ms())
}

fn lock_a_takeover_before_the_lease_duration() -> Execution {
    as_lock(lease_a_takeover_before_the_lease_duration())
}

fn lock_the_holder_never_lost() -> Execution {
    as_lock(lease_the_holder_never_lost())
}

fn lock_transitions_that_do_not_grow() -> Execution {
    as_lock(lease_transitions_that_do_not_grow())
}

fn lock_candidates_never_agree() -> Execution {
    as_lock(lease_candidates_never_agree())
}

fn lock_the_store_is_down() -> Execution {
    as_lock(lease_the_store_is_down())
}

fn lock_reads_faster_than_the_retry_period() -> Execution {
    as_lock(lease_reads_faster_than_the_retry_period())
}

/// The storage (node 2) accepts node 4's token 2 at 500 ms, then node 3's token 1 at 900 ms:
/// the stale holder's write got through.
fn lock_a_lower_token_accepted_after_a_higher() -> Execution {
    let mut t = Trace::new(4).params(json!({ "storage": 2 }));
    t.message(499, 4, 2, &LeaseMsg::Write { token: 2, seq: 1 });
    t.event(500, 2, "write_accepted", json!({ "from": 4, "token": 2, "seq": 1 }));
    t.message(899, 3, 2, &LeaseMsg::Write { token: 1, seq: 5 });
    t.event(900, 2, "write_accepted", json!({ "from": 3, "token": 1, "seq": 5 }));
    t.end(2000)
}

/// Nodes 3 and 4 both write with token 1.
fn lock_two_writers_with_one_token() -> Execution {
    let mut t = Trace::new(4).params(json!({ "storage": 2 }));
    t.message(300, 3, 2, &LeaseMsg::Write { token: 1, seq: 1 });
    t.message(700, 4, 2, &LeaseMsg::Write { token: 1, seq: 1 });
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

/// By attribute node 2 (50) outranks node 1 (none) whatever they draw: node 1 wins with the
/// higher draw, over node 2's better attribute.
fn randomized_a_higher_draw_wins_over_a_better_attribute() -> Execution {
    let mut t = Trace::new(3).params(json!({ "attributes": { "2": 50 } }));
    t.event(10, 1, "draw", json!({ "round": 1, "value": 90 }));
    t.message(10, 2, 1, &RandMsg::Draw { round: 1, value: 20 });
    t.event(40, 1, "elected", json!({ "leader": 1, "round": 1, "value": 90 }));
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

/// The verdict and detail of `property` when `algorithm`'s checker judges `run`.
fn judged(algorithm: &str, run: Execution, property: &str) -> (algorithms::Verdict, String) {
    let report = algorithms::find(algorithm).unwrap().check(&run);
    let p = report.properties.into_iter().find(|p| p.name == property).unwrap();
    (p.verdict, p.detail)
}

/// What looks like a premature declaration is excused when the network, not the protocol, kept
/// the ANSWER away: node 3 isolated, or the ELECTION lost on the way.
#[test]
fn bully_a_declaration_is_excused_by_a_cut_or_a_lost_message_and_says_so() {
    use algorithms::Verdict::Held;
    let mut t = Trace::new(3);
    t.fault(
        300,
        AppliedFault::Partition { spec: "isolate:3".into(), mode: CutMode::Blackhole, cut: vec![(2, 3), (3, 2)] },
    );
    t.event(500, 2, "election_started", json!({}));
    t.send(500, 2, 3, "election", json!("Election"));
    t.event(600, 2, "elected", json!({ "leader": 2 }));
    let (verdict, detail) = judged("bully", t.end(2000), "no_premature_coordinator");
    assert_eq!(verdict, Held, "{detail}");
    assert!(detail.contains("1 with a higher id cut off"), "{detail}");

    let mut t = Trace::new(3);
    t.event(500, 2, "election_started", json!({}));
    t.send(500, 2, 3, "election", json!("Election")); // never received: lost
    t.event(600, 2, "elected", json!({ "leader": 2 }));
    let (verdict, detail) = judged("bully", t.end(2000), "no_premature_coordinator");
    assert_eq!(verdict, Held, "{detail}");
    assert!(detail.contains("1 after a message to or from a higher id was lost"), "{detail}");
}

/// The violation names what became of the ELECTION, and the excused ones are counted.
#[test]
fn bully_violations_say_what_became_of_the_election() {
    let (_, detail) = judged("bully", bully_declared_although_the_higher_id_answered(), "no_premature_coordinator");
    assert!(detail.starts_with("node 2 declared itself coordinator at 600.0 ms although node 3"), "{detail}");
    assert!(detail.ends_with("node 3's ANSWER arrived at 502.0 ms and was ignored"), "{detail}");
    let (_, detail) = judged("bully", bully_declared_without_asking_the_higher_id(), "no_premature_coordinator");
    assert!(detail.ends_with("node 2 sent it no ELECTION in that round"), "{detail}");
    let (_, detail) = judged("bully", bully_an_answer_back_after_the_answer_timeout(), "elections_answered");
    assert!(detail.ends_with("but the ANSWER arrived only at 651.0 ms, after the answer timeout"), "{detail}");
    // A paused node 3 answers nothing, and is not held against node 1.
    let mut t = Trace::new(3);
    t.fault(400, AppliedFault::Pause { node: 3 });
    t.send(500, 1, 3, "election", json!("Election"));
    let (verdict, detail) = judged("bully", t.end(2000), "elections_answered");
    assert_eq!(verdict, algorithms::Verdict::Unknown, "{detail}");
}

/// The step-down and vote rules where the run keeps them: a leader that heard of a higher term
/// and sent nothing more in its old one, a late vote left uncounted; and two legal reigns of
/// terms 1 and 2 that overlapped, listed in the metric.
#[test]
fn raft_old_leaders_that_step_down_and_late_votes_are_held_and_overlaps_reported() {
    use algorithms::Verdict::Held;
    let mut t = Trace::new(3);
    raft_node_1_wins_term_1(&mut t);
    t.follow(12, &[1, 2, 3], 1);
    // Node 3 stands in term 2; node 1, isolated from it, leads on until it hears of term 2.
    t.event(400, 3, "term", json!({ "term": 2, "reason": "candidate" }));
    t.event(400, 3, "election_started", json!({ "term": 2, "pre_vote": false }));
    t.message(400, 3, 2, &RaftMsg::RequestVote { term: 2 });
    t.event(401, 2, "term", json!({ "term": 2, "reason": "higher term from node 3" }));
    t.message(401, 2, 3, &RaftMsg::Vote { term: 2, granted: true });
    t.event(402, 3, "elected", json!({ "leader": 3, "term": 2, "votes": [2, 3] }));
    t.event(402, 3, "leader", json!({ "leader": 3, "term": 2 }));
    t.event(402, 2, "leader", json!({ "leader": 3, "term": 2 }));
    t.message(450, 1, 2, &RaftMsg::AppendEntries { term: 1 });
    t.message(451, 2, 1, &RaftMsg::AppendEntriesReply { term: 2, success: false });
    t.event(452, 1, "term", json!({ "term": 2, "reason": "higher term from node 2" }));
    t.event(452, 1, "leader", json!({ "leader": 3, "term": 2 }));
    // A vote for node 1's old candidacy arrives now: not counted anywhere.
    t.message(460, 3, 1, &RaftMsg::Vote { term: 1, granted: true });
    let run = t.end(2000);
    let report = algorithms::find("raft-election").unwrap().check(&run);
    let get = |name: &str| report.properties.iter().find(|p| p.name == name).unwrap();
    let stale = get("stale_leader_steps_down");
    assert_eq!(stale.verdict, Held, "{}", stale.detail);
    assert!(
        stale
            .detail
            .ends_with("1 leader(s) and 0 candidate(s) heard of a higher term and sent nothing more in their old one"),
        "{}",
        stale.detail
    );
    let counted = get("votes_counted_in_their_term");
    assert_eq!(counted.verdict, Held, "{}", counted.detail);
    assert!(
        counted.detail.contains("1 granted vote(s) arrived after their term's candidacy had ended"),
        "{}",
        counted.detail
    );
    let overlaps = &report.metrics["overlapping_reigns"];
    assert_eq!((overlaps["overlaps"].as_u64(), overlaps["same_term"].as_u64()), (Some(1), Some(0)), "{overlaps}");
    assert_eq!(overlaps["reigns"][0]["nodes"], json!([1, 3]));
    assert_eq!(overlaps["reigns"][0]["terms"], json!([1, 2]));
}

#[test]
fn raft_violations_name_the_message_and_the_term() {
    let (_, detail) = judged("raft-election", raft_a_leader_heartbeats_in_its_old_term(), "stale_leader_steps_down");
    assert!(detail.starts_with("node 1 sent append_entries in its old term 1 at 550.0 ms after it received append_entries_reply of term 2 from node 2"), "{detail}");
    let (_, detail) = judged("raft-election", raft_a_vote_of_an_earlier_term_counted(), "votes_counted_in_their_term");
    assert!(detail.contains("was granted for term 1"), "{detail}");
    let (_, detail) = judged("raft-election", raft_elected_without_a_majority(), "votes_counted_in_their_term");
    assert!(detail.contains("fewer than a majority (2 of 3)"), "{detail}");
}

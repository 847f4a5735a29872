//! Raft leader election in the simulator: hundreds of seeds with crashes, restarts and
//! partitions, every property checked; PreVote against a follower that rejoins after isolation.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, Target};
use algorithms::sim::{SimConfig, SimOutcome};
use algorithms::Verdict;
use serde_json::{json, Value};
use std::time::Duration;

fn raft(seed: u64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("raft-election", 5, seed, 12.0, params), faults)
}

/// The leader dies and comes back, a follower dies too, the leader is cut off and healed, and the
/// next leader dies for a while.
fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(2.0, Action::Kill { node: Target::Leader }),
        fault(4.0, Action::Kill { node: Target::Random }),
        fault(5.0, Action::Restart { node: Target::LastKilled }),
        partition_at(6.0, "isolate:leader"),
        fault(8.0, Action::Heal),
        FaultSpec { lasting: Some(Duration::from_millis(1500)), ..fault(8.5, Action::Kill { node: Target::Leader }) },
    ]
}

#[test]
fn raft_holds_every_property_over_300_seeds_with_crashes_restarts_and_partitions() {
    let mut slowest: f64 = 0.0;
    for report in all_hold(0..300, |seed| raft(seed, json!({}), crashes_restarts_partitions())) {
        slowest = slowest.max(report.metrics["election_ms"]["max"].as_f64().unwrap_or(0.0));
    }
    println!("slowest election over 300 seeds: {slowest} ms");
}

#[test]
fn raft_with_pre_vote_holds_every_property_over_300_seeds() {
    all_hold(0..300, |seed| raft(seed, json!({"pre_vote": true}), crashes_restarts_partitions()));
}

#[test]
fn safety_holds_under_message_loss_and_jittery_delays() {
    for seed in 0..100 {
        let mut cfg = raft(seed, json!({"pre_vote": seed % 2 == 0}), crashes_restarts_partitions());
        cfg.network.loss = 0.05;
        cfg.network.delay = Delay::Exponential { mean_ms: 4.0 };
        let (_, report) = run(&cfg);
        for name in ["one_leader_per_term", "terms_never_decrease", "one_vote_per_term", "election_message_cost"] {
            let p = property(&report, name);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
    }
}

/// The follower that is not the leader, as the run's trace shows it just before `t` seconds.
fn a_follower_at(outcome: &SimOutcome, t: f64) -> u32 {
    let leader = outcome
        .run
        .records
        .iter()
        .rev()
        .find(|r| r.event_name() == Some("elected") && (r.t as f64) < t * 1e9)
        .expect("a leader by then")
        .node;
    if leader == 1 {
        2
    } else {
        1
    }
}

/// A follower is cut off for two seconds, then rejoins. Without PreVote it keeps standing for
/// election in ever higher terms, and when it returns its term deposes the leader; with PreVote
/// it never gets past the pre-vote, keeps its term, and the leader stays.
#[test]
fn pre_vote_keeps_a_rejoining_follower_from_deposing_the_leader() {
    let mut deposed_without = 0;
    for seed in 0..20 {
        // The simulation is deterministic, so a run without faults shows who leads at 2 s.
        let (quiet, _) = run(&raft(seed, json!({}), vec![]));
        let follower = a_follower_at(&quiet, 2.0);
        let faults = vec![partition_at(2.0, &format!("isolate:{follower}")), fault(4.0, Action::Heal)];

        let (_, without) = run(&raft(seed, json!({"pre_vote": false}), faults.clone()));
        assert_eq!(without.verdict(), Verdict::Held, "seed {seed}: {:#?}", without.properties);
        let rejoin = &without.metrics["rejoin"];
        assert_eq!(rejoin["heals"], 1, "seed {seed}: {rejoin}");
        assert!(rejoin["term_jumps"][0].as_u64().unwrap() >= 5, "isolated 2 s, it stood many times: {rejoin}");
        deposed_without += rejoin["leader_deposed"].as_u64().unwrap();

        let (_, with) = run(&raft(seed, json!({"pre_vote": true}), faults));
        assert_eq!(with.verdict(), Verdict::Held, "seed {seed}: {:#?}", with.properties);
        assert_eq!(property(&with, "rejoin_without_disruption").verdict, Verdict::Held);
        assert_eq!(with.metrics["rejoin"]["term_jumps"][0], 0, "seed {seed}: {}", with.metrics["rejoin"]);
    }
    assert_eq!(deposed_without, 20, "without PreVote the rejoining follower deposes the leader every time");
}

/// Figure 16's point: without randomness split votes repeat; with [T, 2T] they are rare.
#[test]
fn randomized_timeouts_avoid_repeated_split_votes() {
    let candidacies = |params: Value| -> f64 {
        let mut total = 0.0;
        for seed in 0..50 {
            let faults: Vec<FaultSpec> = (0..5)
                .flat_map(|i| {
                    let t = 1.5 + 2.0 * i as f64;
                    [
                        fault(t, Action::Kill { node: Target::Leader }),
                        fault(t + 1.0, Action::Restart { node: Target::LastKilled }),
                    ]
                })
                .collect();
            let (outcome, _) = run(&raft(seed, params.clone(), faults));
            total += outcome.run.records.iter().filter(|r| r.event_name() == Some("election_started")).count() as f64;
        }
        total / 50.0
    };
    let fixed = candidacies(json!({"election_timeout_min_ms": 150, "election_timeout_max_ms": 151}));
    let random = candidacies(json!({}));
    assert!(fixed > random * 1.5, "candidacies per run: fixed timeouts {fixed}, randomized {random}");
}

//! Bully in the simulator: many seeds with crashes and restarts, every property checked.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, Target};
use algorithms::{find, Verdict};
use serde_json::json;

fn bully(seed: u64, faults: Vec<FaultSpec>) -> algorithms::sim::SimConfig {
    with_faults(experiment("bully", 5, seed, 8.0, json!({})), faults)
}

fn crash_and_recover() -> Vec<FaultSpec> {
    vec![
        fault(2.0, Action::Kill { node: Target::Leader }),
        fault(3.5, Action::Kill { node: Target::Id(1) }),
        fault(5.0, Action::Restart { node: Target::LastKilled }),
        fault(6.0, Action::Restart { node: Target::Id(5) }),
    ]
}

#[test]
fn bully_holds_its_properties_over_300_seeds_with_crashes_and_restarts() {
    all_hold(0..300, |seed| bully(seed, crash_and_recover()));
}

#[test]
fn bully_survives_message_loss_and_jittery_delays() {
    for seed in 0..100 {
        let mut cfg = bully(seed, crash_and_recover());
        cfg.network.loss = 0.02;
        cfg.network.delay = Delay::Exponential { mean_ms: 3.0 };
        let (_, report) = run(&cfg);
        // The textbook cost assumes reliable channels; lost messages cost retries, so only
        // agreement and the election bound are promised here, and both must be judged and hold.
        for name in ["stable_agreement", "election_within_bound"] {
            let p = property(&report, name);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
    }
}

#[test]
fn a_killed_leader_is_replaced_by_the_next_highest_and_takes_over_on_return() {
    let (outcome, report) = run(&bully(3, crash_and_recover()));
    let elected: Vec<u64> =
        outcome.run.records.iter().filter(|r| r.event_name() == Some("elected")).map(|r| r.node as u64).collect();
    // 5 leads first, 4 after 5 dies, 5 again after its restart at 6 s.
    assert_eq!(elected.first(), Some(&5));
    assert!(elected.contains(&4), "{elected:?}");
    assert_eq!(elected.last(), Some(&5), "{elected:?}");
    let latency = report.metrics["election_ms"]["count"].as_u64().unwrap();
    assert!(latency >= 3, "start, leader death and takeover are three elections: {report:#?}");
}

#[test]
fn partitions_split_the_cluster_into_two_leaders_until_healed() {
    // The kill at 6 s gives the message cost an election after a leader's death to judge.
    let faults = vec![
        partition_at(2.0, "1,2|3,4,5"),
        fault(4.0, Action::Heal),
        fault(6.0, Action::Kill { node: Target::Leader }),
    ];
    let (outcome, report) = run(&bully(11, faults));
    let leader_of_1_2 = outcome
        .run
        .records
        .iter()
        .filter(|r| r.event_name() == Some("elected") && r.t > 2_000_000_000 && r.t < 4_000_000_000)
        .map(|r| r.node)
        .collect::<Vec<_>>();
    assert_eq!(leader_of_1_2, vec![2], "the minority side elects its own highest id");
    assert_eq!(report.verdict(), Verdict::Held, "{:#?}", report.properties);
}

#[test]
fn the_checker_reports_a_node_that_follows_the_wrong_leader() {
    use algorithms::trace::{Clocks, What};
    let bully_alg = find("bully").unwrap();
    let (mut outcome, _) = run(&bully(5, vec![]));
    // Node 2 suddenly believes node 3 leads, late in a quiet run.
    let late = outcome.run.end - 50_000_000;
    let last_of_2 = outcome.run.records.iter().rfind(|r| r.node == 2).unwrap().clone();
    let wrong = Clocks::resume(&last_of_2).stamp(
        late,
        "bully",
        What::Event { name: "leader".into(), data: json!({"leader": 3}) },
    );
    outcome.run.records.push(wrong.clone());
    let run =
        algorithms::Execution::new("bully", outcome.run.nodes.clone(), json!({}), outcome.run.records, outcome.faults);
    let report = bully_alg.check(&run);
    let agreement = &report.properties[0];
    assert_eq!(agreement.verdict, Verdict::Violated, "{agreement:#?}");
    assert!(agreement.detail.contains("2→3"), "{}", agreement.detail);
    assert!(agreement.evidence.iter().any(|e| e.node == 2 && e.lc == wrong.lc));
}

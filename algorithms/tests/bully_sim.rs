//! Bully in the simulator: many seeds with crashes and restarts, every property checked, and the
//! same seed always giving the same trace.

use algorithms::faults::{Action, FaultSpec, PartitionSpec, Target};
use algorithms::sim::{simulate, NetworkModel, SimConfig};
use algorithms::{find, Verdict};
use serde_json::json;
use std::time::Duration;

fn experiment(seed: u64, faults: Vec<FaultSpec>) -> SimConfig {
    SimConfig {
        nodes: 5,
        seed,
        duration: Duration::from_secs(8),
        instance: "bully".into(),
        params: json!({}),
        network: NetworkModel::default(),
        faults,
    }
}

fn at(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn crash_and_recover() -> Vec<FaultSpec> {
    vec![
        FaultSpec::new(at(2.0), Action::Kill { node: Target::Leader }),
        FaultSpec::new(at(3.5), Action::Kill { node: Target::Id(1) }),
        FaultSpec::new(at(5.0), Action::Restart { node: Target::LastKilled }),
        FaultSpec::new(at(6.0), Action::Restart { node: Target::Id(5) }),
    ]
}

#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    let bully = find("bully").unwrap();
    let a = simulate(bully, &experiment(7, crash_and_recover())).unwrap();
    let b = simulate(bully, &experiment(7, crash_and_recover())).unwrap();
    let c = simulate(bully, &experiment(8, crash_and_recover())).unwrap();
    assert!(a.records.len() > 100);
    assert_eq!(a.trace_jsonl(), b.trace_jsonl());
    assert_ne!(a.trace_jsonl(), c.trace_jsonl(), "another seed should schedule differently");
}

#[test]
fn bully_holds_its_properties_over_300_seeds_with_crashes_and_restarts() {
    let bully = find("bully").unwrap();
    for seed in 0..300 {
        let outcome = simulate(bully, &experiment(seed, crash_and_recover())).unwrap();
        let report = bully.check(&outcome.run);
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
    }
}

#[test]
fn bully_survives_message_loss_and_jittery_delays() {
    let bully = find("bully").unwrap();
    for seed in 0..100 {
        let mut cfg = experiment(seed, crash_and_recover());
        cfg.network.loss = 0.02;
        cfg.network.delay = algorithms::faults::Delay::Exponential { mean_ms: 3.0 };
        let outcome = simulate(bully, &cfg).unwrap();
        // The textbook cost assumes reliable channels; lost messages cost retries, so only
        // agreement and the election bound are promised here.
        let report = bully.check(&outcome.run);
        for p in report.properties.iter().filter(|p| p.name != "election_message_cost") {
            assert_ne!(p.verdict, Verdict::Violated, "seed {seed}: {p:#?}");
        }
    }
}

#[test]
fn a_killed_leader_is_replaced_by_the_next_highest_and_takes_over_on_return() {
    let bully = find("bully").unwrap();
    let outcome = simulate(bully, &experiment(3, crash_and_recover())).unwrap();
    let elected: Vec<u64> =
        outcome.records.iter().filter(|r| r.event_name() == Some("elected")).map(|r| r.node as u64).collect();
    // 5 leads first, 4 after 5 dies, 5 again after its restart at 6 s.
    assert_eq!(elected.first(), Some(&5));
    assert!(elected.contains(&4), "{elected:?}");
    assert_eq!(elected.last(), Some(&5), "{elected:?}");
    let report = bully.check(&outcome.run);
    let latency = report.metrics["election_ms"]["count"].as_u64().unwrap();
    assert!(latency >= 3, "start, leader death and takeover are three elections: {report:#?}");
}

#[test]
fn partitions_split_the_cluster_into_two_leaders_until_healed() {
    let bully = find("bully").unwrap();
    let faults = vec![
        FaultSpec::new(
            at(2.0),
            Action::Partition { groups: PartitionSpec::parse("1,2|3,4,5").unwrap(), mode: Default::default() },
        ),
        FaultSpec::new(at(4.0), Action::Heal),
        // An election after a leader's death, for the message cost to be judged on.
        FaultSpec::new(at(6.0), Action::Kill { node: Target::Leader }),
    ];
    let outcome = simulate(bully, &experiment(11, faults)).unwrap();
    let leader_of_1_2 = outcome
        .records
        .iter()
        .filter(|r| r.event_name() == Some("elected") && r.t > 2_000_000_000 && r.t < 4_000_000_000)
        .map(|r| r.node)
        .collect::<Vec<_>>();
    assert_eq!(leader_of_1_2, vec![2], "the minority side elects its own highest id");
    let report = bully.check(&outcome.run);
    assert_eq!(report.verdict(), Verdict::Held, "{:#?}", report.properties);
}

#[test]
fn the_checker_reports_a_node_that_follows_the_wrong_leader() {
    use algorithms::trace::{Clocks, What};
    let bully = find("bully").unwrap();
    let mut outcome = simulate(bully, &experiment(5, vec![])).unwrap();
    // Node 2 suddenly believes node 3 leads, late in a quiet run.
    let late = outcome.run.end - 50_000_000;
    let last_of_2 = outcome.records.iter().rfind(|r| r.node == 2).unwrap().clone();
    let wrong = Clocks::resume(&last_of_2).stamp(
        late,
        "bully",
        What::Event { name: "leader".into(), data: json!({"leader": 3}) },
    );
    outcome.records.push(wrong.clone());
    let run =
        algorithms::Execution::new("bully", outcome.run.nodes.clone(), json!({}), outcome.records, outcome.faults);
    let report = bully.check(&run);
    let agreement = &report.properties[0];
    assert_eq!(agreement.verdict, Verdict::Violated, "{agreement:#?}");
    assert!(agreement.detail.contains("2→3"), "{}", agreement.detail);
    assert!(agreement.evidence.iter().any(|e| e.node == 2 && e.lc == wrong.lc));
}

//! The randomized election in the simulator: hundreds of seeds with crashes, restarts and
//! partitions; ties drawn again; the highest draw wins.

use algorithms::check::CheckReport;
use algorithms::faults::{Action, FaultSpec, PartitionSpec, Target};
use algorithms::sim::{simulate, NetworkModel, SimConfig, SimOutcome};
use algorithms::{find, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

fn experiment(seed: u64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    SimConfig {
        nodes: 5,
        seed,
        duration: Duration::from_secs(10),
        instance: "randomized".into(),
        params,
        network: NetworkModel::default(),
        faults,
    }
}

fn fault(s: f64, action: Action) -> FaultSpec {
    FaultSpec::new(Duration::from_secs_f64(s), action)
}

fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(1.5, Action::Kill { node: Target::Leader }),
        fault(3.0, Action::Kill { node: Target::Random }),
        fault(4.0, Action::Restart { node: Target::LastKilled }),
        fault(5.0, Action::Kill { node: Target::Leader }),
        FaultSpec {
            lasting: Some(Duration::from_millis(1500)),
            ..fault(
                6.5,
                Action::Partition { groups: PartitionSpec::parse("halves").unwrap(), mode: Default::default() },
            )
        },
    ]
}

fn run(seed: u64, params: Value, faults: Vec<FaultSpec>) -> (SimOutcome, CheckReport) {
    let alg = find("randomized").unwrap();
    let outcome = simulate(alg, &experiment(seed, params, faults)).unwrap();
    let report = alg.check(&outcome.run);
    (outcome, report)
}

#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    let (a, _) = run(7, json!({}), crashes_restarts_partitions());
    let (b, _) = run(7, json!({}), crashes_restarts_partitions());
    let (c, _) = run(8, json!({}), crashes_restarts_partitions());
    assert_eq!(a.trace_jsonl(), b.trace_jsonl());
    assert_ne!(a.trace_jsonl(), c.trace_jsonl());
}

#[test]
fn randomized_holds_every_property_over_300_seeds_with_crashes_restarts_and_partitions() {
    for seed in 0..300 {
        let (_, report) = run(seed, json!({}), crashes_restarts_partitions());
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
    }
}

/// With draws in 1..=3 among five processes the top is often shared: everybody draws again, and
/// the properties still hold.
#[test]
fn ties_at_the_top_are_drawn_again() {
    let mut ties = 0;
    for seed in 0..100 {
        let params = json!({"draw_max": 3, "election_bound_ms": 2000});
        let (outcome, report) = run(seed, params, crashes_restarts_partitions());
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        ties += outcome.records.iter().filter(|r| r.event_name() == Some("tie")).count();
    }
    assert!(ties > 50, "ties should be common with three values: {ties}");
}

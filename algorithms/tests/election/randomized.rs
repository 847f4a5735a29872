//! The randomized election in the simulator: hundreds of seeds with crashes, restarts and
//! partitions; ties drawn again; the highest draw wins.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

fn randomized(seed: u64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("randomized", 5, seed, 10.0, params), faults)
}

fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(1.5, Action::Kill { node: Target::Leader }),
        fault(3.0, Action::Kill { node: Target::Random }),
        fault(4.0, Action::Restart { node: Target::LastKilled }),
        fault(5.0, Action::Kill { node: Target::Leader }),
        lasting(6.5, 1.5, partition("halves")),
    ]
}

#[test]
fn randomized_holds_every_property_over_300_seeds_with_crashes_restarts_and_partitions() {
    all_hold(0..300, |seed| randomized(seed, json!({}), crashes_restarts_partitions()));
}

/// With draws in 1..=3 among five processes the top is often shared: everybody draws again, and
/// the properties still hold.
#[test]
fn ties_at_the_top_are_drawn_again() {
    let mut ties = 0;
    for seed in 0..100 {
        let params = json!({"draw_max": 3, "election_bound_ms": 2000});
        let (outcome, report) = run(&randomized(seed, params, crashes_restarts_partitions()));
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        ties += outcome.records.iter().filter(|r| r.event_name() == Some("tie")).count();
    }
    assert!(ties > 50, "ties should be common with three values: {ties}");
}

//! The Kubernetes-style lease election in the simulator: hundreds of seeds with crashes of the
//! holder and of the store, restarts and partitions; the takeover waits a full lease duration;
//! under clock drift two nodes lead at once and the checker says so, with the events.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::json;

fn lease(seed: u64, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("lease", 5, seed, 12.0, json!({})), faults)
}

/// The holder dies and returns; the store (node 1) dies for a while; a random node is cut off.
fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(2.0, Action::Kill { node: Target::Leader }),
        fault(4.5, Action::Restart { node: Target::LastKilled }),
        lasting(5.0, 1.2, Action::Kill { node: Target::Id(1) }),
        lasting(7.0, 1.5, partition("isolate:random")),
        fault(9.5, Action::Kill { node: Target::Random }),
    ]
}

/// The holder's clock runs at `rate` × true time; then it is cut off from everyone, the store too.
fn drift_then_isolate(rate: f64) -> Vec<FaultSpec> {
    vec![fault(1.0, Action::Drift { node: Target::Leader, rate }), lasting(1.5, 4.5, partition("isolate:leader"))]
}

#[test]
fn lease_holds_every_property_over_300_seeds_with_crashes_restarts_and_partitions() {
    all_hold(0..300, |seed| lease(seed, crashes_restarts_partitions()));
}

/// Others take over only after a full lease duration without seeing the record change: the
/// takeover comes between 1500 ms less one jittered retry period (the last renewal they saw was
/// up to that long before the death) and the bound.
#[test]
fn a_dead_holder_is_replaced_only_after_a_full_lease_duration() {
    for seed in 0..50 {
        let (_, report) = run(&lease(seed, vec![fault(2.0, Action::Kill { node: Target::Leader })]));
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        let elections = report.metrics["election_ms"]["values"].as_array().unwrap();
        let takeover = elections.last().unwrap().as_f64().unwrap();
        assert!((1500.0 - 240.0..=2200.0).contains(&takeover), "seed {seed}: takeover after {takeover} ms");
    }
}

/// The fencing caveat. Cut off from the store, the holder stops leading `renew_deadline` after
/// its last renewal — on its own clock. At 0.4× true time that is 2.5 s of true time, while the
/// others take over 1.5 s after they saw that renewal: for about a second both believe they lead.
/// The checker reports it, with the `leader` events of both. At true time the margin holds.
#[test]
fn under_clock_drift_two_nodes_lead_at_once_and_the_checker_reports_it() {
    for seed in 0..30 {
        let (_, report) = run(&lease(seed, drift_then_isolate(0.4)));
        let single = property(&report, "single_leader");
        assert_eq!(single.verdict, Verdict::Violated, "seed {seed}: {:#?}", report.properties);
        assert!(single.detail.contains("under clock drift") && single.detail.contains("0.4×"), "{}", single.detail);
        assert!(single.evidence.len() >= 2, "both reigns' starts: {single:#?}");
        for p in report.properties.iter().filter(|p| p.name != "single_leader") {
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: only the overlap is wrong: {p:#?}");
        }

        let (_, control) = run(&lease(seed, drift_then_isolate(1.0)));
        assert_eq!(control.verdict(), Verdict::Held, "seed {seed}: {:#?}", control.properties);
    }
}

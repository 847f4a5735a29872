//! The centralized mutex in the simulator: hundreds of seeds, FIFO grants, exactly 3 messages per
//! entry, and what happens when the single point of failure fails.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::Verdict;
use serde_json::json;
use std::time::Duration;

#[test]
fn central_holds_every_property_over_100_seeds() {
    let reports =
        all_hold(0..100, |seed| experiment("central", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
    for report in reports {
        // The workload stops at 3 s and everything finishes: exactly 3 messages per entry.
        assert_eq!(report.metrics["messages_per_entry"]["measured"], json!(3.0), "{:#?}", report.metrics);
    }
}

#[test]
fn a_crowd_of_eight_is_served_in_arrival_order() {
    all_hold(0..50, |seed| {
        let mut cfg = experiment("central", 8, seed, 4.0, json!({ "workload": busy(10.0, 15, "3s") }));
        cfg.params["coordinator"] = json!(4);
        cfg
    });
}

#[test]
fn a_dead_coordinator_blocks_every_request_and_the_checker_says_so() {
    let cfg = with_faults(
        experiment("central", 5, 3, 4.0, json!({ "workload": busy(6.0, 20, "3s") })),
        vec![FaultSpec::new(Duration::from_secs(1), Action::Kill { node: Target::Leader })],
    );
    let (outcome, report) = run(&cfg);
    assert!(outcome.faults.iter().any(|f| f.fault.describe() == "killed node 1 (the leader)"));
    let liveness = property(&report, "liveness");
    assert_eq!(liveness.verdict, Verdict::Violated, "{liveness:#?}");
    assert!(liveness.detail.contains("never granted"), "{}", liveness.detail);
    assert_eq!(property(&report, "mutual_exclusion").verdict, Verdict::Held);
}

//! Lamport's mutex in the simulator: hundreds of seeds, (timestamp, id) order, and exactly 3(N−1)
//! messages per entry.

use crate::common::*;
use serde_json::json;

#[test]
fn lamport_holds_every_property_over_100_seeds() {
    all_hold(0..100, |seed| experiment("lamport", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
}

#[test]
fn lamport_holds_with_heavy_contention_on_one_resource() {
    all_hold(0..60, |seed| {
        let workload = json!({ "rate_per_s": 15.0, "hold_ms": 10, "resources": ["printer"], "stop_after": "2s" });
        experiment("lamport", 7, seed, 4.0, json!({ "workload": workload }))
    });
}

#[test]
fn every_entry_costs_exactly_3_times_n_minus_1_messages_at_n_5() {
    for seed in 0..20 {
        let cfg = experiment("lamport", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") }));
        let (outcome, report) = run(&cfg);
        let counts = algorithms::check::count_messages(&outcome.run.records);
        let entries = report.metrics["entries"].as_u64().unwrap();
        assert!(entries > 50, "seed {seed}: {entries} entries");
        // Every request finished before the end: N−1 = 4 of each type per entry, nothing else.
        for kind in ["request", "reply", "release"] {
            assert_eq!(counts.by_type[kind], 4 * entries, "seed {seed}: {kind} {:?}", counts.by_type);
        }
        assert_eq!(counts.total, 12 * entries, "seed {seed}: {:?}", counts.by_type);
        assert_eq!(report.metrics["messages_per_entry"]["measured"], json!(12.0));
        assert_eq!(report.metrics["messages_per_entry"]["textbook"], json!("3(N−1) = 12"));
    }
}

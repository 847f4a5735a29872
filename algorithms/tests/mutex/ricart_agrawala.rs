//! Ricart–Agrawala in the simulator: hundreds of seeds, (timestamp, id) order, exactly 2(N−1)
//! messages per entry, and the course's comparison with Lamport on the same workload.

use crate::common::*;
use serde_json::json;

#[test]
fn ricart_agrawala_holds_every_property_over_100_seeds() {
    all_hold(0..100, |seed| experiment("ricart-agrawala", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
}

#[test]
fn ricart_agrawala_holds_with_heavy_contention_on_one_resource() {
    all_hold(0..60, |seed| {
        let workload = json!({ "rate_per_s": 15.0, "hold_ms": 10, "resources": ["printer"], "stop_after": "2s" });
        experiment("ricart-agrawala", 7, seed, 4.0, json!({ "workload": workload }))
    });
}

#[test]
fn every_entry_costs_exactly_2_times_n_minus_1_messages_at_n_5() {
    for seed in 0..20 {
        let cfg = experiment("ricart-agrawala", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") }));
        let (outcome, report) = run(&cfg);
        let counts = algorithms::check::count_messages(&outcome.run.records);
        let entries = report.metrics["entries"].as_u64().unwrap();
        assert!(entries > 50, "seed {seed}: {entries} entries");
        assert_eq!(counts.by_type["request"], 4 * entries, "seed {seed}: {:?}", counts.by_type);
        assert_eq!(counts.by_type["reply"], 4 * entries, "seed {seed}: {:?}", counts.by_type);
        assert_eq!(counts.total, 8 * entries, "seed {seed}: {:?}", counts.by_type);
        assert_eq!(report.metrics["messages_per_entry"]["measured"], json!(8.0));
    }
}

#[test]
fn on_the_same_workload_lamport_costs_3_n_minus_1_and_ricart_agrawala_2_n_minus_1() {
    for n in [3, 5, 8] {
        let per_entry = |alg: &str| {
            let (_, report) = run(&experiment(alg, n, 11, 4.0, json!({ "workload": busy(4.0, 20, "3s") })));
            report.metrics["messages_per_entry"]["measured"].as_f64().unwrap()
        };
        let n1 = (n - 1) as f64;
        assert_eq!(per_entry("lamport"), 3.0 * n1, "n={n}");
        assert_eq!(per_entry("ricart-agrawala"), 2.0 * n1, "n={n}");
    }
}

//! Suzuki–Kasami in the simulator: hundreds of seeds, one token, N messages per entry or none.

use crate::common::*;
use algorithms::trace::What;
use serde_json::json;

#[test]
fn suzuki_kasami_holds_every_property_over_100_seeds() {
    all_hold(0..100, |seed| experiment("suzuki-kasami", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
}

#[test]
fn suzuki_kasami_holds_with_heavy_contention_and_no_one_starves() {
    all_hold(0..60, |seed| {
        let workload = json!({ "rate_per_s": 15.0, "hold_ms": 10, "resources": ["printer"], "stop_after": "2s" });
        experiment("suzuki-kasami", 7, seed, 4.0, json!({ "workload": workload }))
    });
}

#[test]
fn an_entry_costs_n_messages_or_none_with_the_token_at_hand() {
    let n = 5u64;
    for seed in 0..20 {
        let cfg = experiment("suzuki-kasami", n as usize, seed, 4.0, json!({ "workload": busy(3.0, 10, "3s") }));
        let (outcome, report) = run(&cfg);
        let counts = algorithms::check::count_messages(&outcome.run.records);
        let requests = outcome.run.records.iter().filter(|r| r.event_name() == Some("request"));
        let (mut asked, mut at_hand) = (0, 0);
        for r in requests {
            match &r.what {
                What::Event { data, .. } if data["has_token"] == json!(true) => at_hand += 1,
                _ => asked += 1,
            }
        }
        assert!(at_hand > 0, "seed {seed}: at low load some node still holds the token when it asks again");
        // Every request finished: N−1 requests and one token for each that had to ask.
        assert_eq!(counts.by_type["request"], (n - 1) * asked, "seed {seed}");
        assert_eq!(counts.by_type["token"], asked, "seed {seed}");
        assert_eq!(report.metrics["messages_per_entry"]["entries_with_token_at_hand"], json!(at_hand));
    }
}

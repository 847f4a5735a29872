//! Maekawa in the simulator: hundreds of seeds on full and partial grids, enough contention for
//! INQUIRE/YIELD/FAILED to happen, and no deadlock.

use crate::common::*;
use serde_json::json;

#[test]
fn maekawa_holds_every_property_over_100_seeds() {
    all_hold(0..100, |seed| experiment("maekawa", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
}

#[test]
fn maekawa_never_deadlocks_under_contention_on_full_and_partial_grids() {
    let mut yields = 0.0;
    for n in [4, 7, 9, 10, 13] {
        let workload = json!({ "rate_per_s": 12.0, "hold_ms": 10, "resources": ["printer"], "stop_after": "2s" });
        for report in
            all_hold(0..30, |seed| experiment("maekawa", n, seed, 4.0, json!({ "workload": workload.clone() })))
        {
            yields += report.metrics["messages_per_entry"]["by_type"].get("yield").map_or(0.0, |v| v.as_f64().unwrap());
        }
    }
    assert!(yields > 0.0, "contention this high must make someone yield a vote");
}

#[test]
fn an_entry_costs_3_times_k_minus_1_and_contention_only_adds_to_it() {
    // A quiet cluster: REQUEST, GRANT and RELEASE to each of the K−1 other quorum members; the
    // rare overlap adds FAILED (or INQUIRE/YIELD and a second GRANT), never less.
    let workload = json!({ "rate_per_s": 0.5, "hold_ms": 5, "resources": ["printer"], "stop_after": "8s" });
    let (_, report) = run(&experiment("maekawa", 9, 2, 10.0, json!({ "workload": workload })));
    let cost = &report.metrics["messages_per_entry"];
    assert_eq!(cost["quorum_size"], json!(5.0), "a 3×3 grid: a row and a column");
    assert_eq!(cost["by_type"]["request"], json!(4.0), "{cost:#}");
    assert_eq!(cost["by_type"]["release"], json!(4.0), "{cost:#}");
    assert!(cost["by_type"]["grant"].as_f64().unwrap() >= 4.0, "{cost:#}");
    let measured = cost["measured"].as_f64().unwrap();
    assert!((12.0..12.5).contains(&measured), "{cost:#}");
}

//! Raymond's tree algorithm in the simulator: hundreds of seeds, one token walking the tree's
//! edges, at most 2D messages per request made without the token.

use crate::common::*;
use algorithms::mutex::raymond::Tree;
use algorithms::trace::What;
use serde_json::json;

#[test]
fn raymond_holds_every_property_over_100_seeds() {
    all_hold(0..100, |seed| experiment("raymond", 5, seed, 4.0, json!({ "workload": busy(6.0, 20, "3s") })));
}

#[test]
fn raymond_holds_with_heavy_contention_on_a_line_a_star_and_a_deeper_tree() {
    for (nodes, fanout) in [(7, 2), (6, 1), (6, 5), (9, 3)] {
        all_hold(0..40, |seed| {
            let workload = json!({ "rate_per_s": 15.0, "hold_ms": 10, "resources": ["printer"], "stop_after": "2s" });
            experiment("raymond", nodes, seed, 4.0, json!({ "workload": workload, "fanout": fanout }))
        });
    }
}

/// Messages travel only along tree edges, and at a low rate an entry costs at most the way to
/// the token and back: 2D.
#[test]
fn messages_go_along_tree_edges_and_an_entry_costs_at_most_twice_the_diameter() {
    let n = 7;
    let tree = Tree::new(&(1..=n).collect::<Vec<_>>(), 2);
    for seed in 0..20 {
        // A rate so low that requests almost never overlap.
        let workload = json!({ "rate_per_s": 0.5, "hold_ms": 5, "resources": ["printer"], "stop_after": "6s" });
        let cfg = experiment("raymond", n as usize, seed, 8.0, json!({ "workload": workload }));
        let (outcome, report) = run(&cfg);
        assert_eq!(report.verdict(), algorithms::Verdict::Held, "seed {seed}: {:#?}", report.properties);
        for r in &outcome.run.records {
            if let What::Send { to, .. } = r.what {
                assert!(tree.neighbours(r.node).contains(&to), "seed {seed}: {} → {to} is no tree edge", r.node);
            }
        }
        let total = algorithms::check::count_messages(&outcome.run.records).total;
        assert!(total > 0, "seed {seed}: some request had to travel");
        assert!(
            report.metrics["messages_per_entry"]["measured"].as_f64().unwrap() <= 2.0 * tree.diameter() as f64,
            "seed {seed}: {:#}",
            report.metrics["messages_per_entry"]
        );
    }
}

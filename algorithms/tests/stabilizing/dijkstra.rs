//! Dijkstra's ring in the simulator: from the arbitrary start and after every corruption,
//! exactly one privilege within the move bound, and it stays one; with K < N − 1 it need not.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::{simulate, SimConfig};
use algorithms::stabilizing::dijkstra::move_bound;
use algorithms::{find, NodeId, Verdict};
use serde_json::{json, Value};

/// Every node corrupted at `s` seconds.
fn corrupt_all(s: f64, nodes: usize) -> Vec<FaultSpec> {
    (1..=nodes as NodeId).map(|id| fault(s, Action::Corrupt { node: Target::Id(id) })).collect()
}

fn ring(nodes: usize, seed: u64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("dijkstra-ring", nodes, seed, 3.0, params), faults)
}

#[test]
fn dijkstra_ring_converges_and_stays_stable_over_300_seeds() {
    let reports = all_hold(0..300, |seed| {
        let mut faults = corrupt_all(1.0, 5);
        faults.push(fault(2.0, Action::Corrupt { node: Target::Random }));
        ring(5, seed, json!({}), faults)
    });
    let bound = move_bound(5) as f64;
    for (seed, r) in reports.iter().enumerate() {
        // The start, the burst at 1 s and the single corruption at 2 s.
        assert!(property(r, "converges").judged >= 3, "seed {seed}: {:#?}", r.properties);
        assert!(r.metrics["moves_to_converge"]["max"].as_f64().unwrap() <= bound, "seed {seed}");
    }
}

#[test]
fn dijkstra_ring_converges_on_rings_of_2_3_4_and_7_with_k_of_n_and_more() {
    for (nodes, k) in [(2, 2), (3, 3), (4, 4), (7, 7), (4, 9)] {
        all_hold(0..50, |seed| ring(nodes, seed, json!({ "k": k }), corrupt_all(1.0, nodes)));
    }
}

/// The experiment meant to fail: K = 2 on seven nodes, seed 26 never converges after the
/// corruption (`configs/dijkstra-ring-small-k.toml`).
#[test]
fn with_k_below_n_minus_1_a_ring_can_fail_to_converge() {
    let params = json!({ "k": 2, "settle_ms": 2000 });
    let cfg = with_faults(experiment("dijkstra-ring", 7, 26, 6.0, params), corrupt_all(1.0, 7));
    let (_, report) = run(&cfg);
    let p = property(&report, "converges");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("had not converged 5000 ms later"), "{}", p.detail);
}

/// The privilege goes round: after convergence every node moves in turn, the bottom included.
#[test]
fn once_stable_every_node_takes_its_turn() {
    let (outcome, report) = run(&ring(5, 3, json!({}), vec![]));
    assert_eq!(report.verdict(), Verdict::Held, "{:#?}", report.properties);
    let late: Vec<NodeId> = outcome
        .run
        .records
        .iter()
        .filter(|r| r.t > 1_000_000_000 && r.event_name() == Some("move"))
        .map(|r| r.node)
        .collect();
    assert!(late.len() >= 10, "{late:?}");
    for window in late.windows(2) {
        assert_eq!(window[1], window[0] % 5 + 1, "the privilege passes to the successor: {late:?}");
    }
}

/// An algorithm that does not opt in refuses the fault before anything starts, by name.
#[test]
fn corrupting_an_algorithm_that_does_not_opt_in_is_an_error_naming_it() {
    let cfg = with_faults(
        experiment("bully", 3, 1, 2.0, json!({})),
        vec![fault(1.0, Action::Corrupt { node: Target::Id(2) })],
    );
    let err = simulate(find("bully").unwrap(), &cfg).err().expect("refused");
    assert!(
        err.contains("the corrupt fault at 1s") && err.contains("bully does not support the corrupt fault"),
        "{err}"
    );
}

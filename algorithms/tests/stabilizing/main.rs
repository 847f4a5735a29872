//! The self-stabilizing algorithms: Dijkstra's K-state ring in the simulator over hundreds of
//! seeds with corruptions (`dijkstra`), and its rules one handler call at a time
//! (`rules_dijkstra`).

#[path = "../common/mod.rs"]
mod common;

mod dijkstra;
mod rules_dijkstra;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Every self-stabilizing algorithm, corrupted twice: the same seed gives the same trace byte for
/// byte, another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Stabilizing) {
        assert_deterministic(algorithm, |seed| {
            let faults = vec![
                fault(0.5, Action::Corrupt { node: Target::Random }),
                fault(1.0, Action::Corrupt { node: Target::Random }),
            ];
            with_faults(experiment(algorithm.name(), 5, seed, 1.5, json!({})), faults)
        });
    }
}

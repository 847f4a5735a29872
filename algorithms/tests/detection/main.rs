//! The failure detectors: seeded simulator sweeps with a kill and a pause (`sweeps`), and their
//! rules one handler call at a time (`rules`).

#[path = "../common/mod.rs"]
mod common;

mod rules;
mod sweeps;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Both detectors, with a kill: the same seed gives the same trace byte for byte.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Detection) {
        assert_deterministic(algorithm, |seed| {
            let faults = vec![lasting(0.5, 0.5, Action::Kill { node: Target::Id(3) })];
            with_faults(experiment(algorithm.name(), 4, seed, 1.5, json!({})), faults)
        });
    }
}

//! The broadcast algorithms: the sequencer's rules one handler call at a time
//! (`rules_sequencer`), and the simulator over hundreds of seeds with the sequencer killed
//! mid-stream, partitions, loss and duplication (`sequencer`).

#[path = "../common/mod.rs"]
mod common;

mod rules_sequencer;
mod sequencer;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Every broadcast algorithm, with a node's death and return and a partition: the same seed gives
/// the same trace byte for byte, another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Broadcast) {
        assert_deterministic(algorithm, |seed| {
            let faults = vec![
                fault(0.8, Action::Kill { node: Target::Leader }),
                fault(1.2, Action::Restart { node: Target::LastKilled }),
                lasting(0.9, 0.1, partition("halves")),
            ];
            with_faults(experiment(algorithm.name(), 5, seed, 1.5, json!({})), faults)
        });
    }
}

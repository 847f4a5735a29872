//! The election algorithms: each one in the simulator over hundreds of seeds with faults
//! (`bully`, `raft`, `ring`, `lease`, `randomized`, `timestamp`), and every checker fed a hand-made trace that
//! breaks its property (`checkers`); and the rules each algorithm file states, one handler call
//! at a time (`rules_*`).

#[path = "../common/mod.rs"]
mod common;

mod attributes;
mod bully;
mod checkers;
mod detectors;
mod lease;
mod lease_lock;
mod raft;
mod randomized;
mod ring;
mod rules_bully;
mod rules_chang_roberts;
mod rules_lease_lock;
mod rules_lelann;
mod rules_raft;
mod rules_timestamp;
mod timestamp;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Every election algorithm, through a leader's death, its return and a partition: the same seed
/// gives the same trace byte for byte, another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Election) {
        assert_deterministic(algorithm, |seed| {
            let faults = vec![
                fault(1.5, Action::Kill { node: Target::Leader }),
                fault(3.0, Action::Restart { node: Target::LastKilled }),
                lasting(4.0, 1.0, partition("halves")),
            ];
            with_faults(experiment(algorithm.name(), 5, seed, 6.0, json!({})), faults)
        });
    }
}

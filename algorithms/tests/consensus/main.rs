//! The consensus algorithms: their rules one handler call at a time (`rules_paxos`, `rules_raft`,
//! `rules_multipaxos`), and the simulator over hundreds of seeds with crashes, loss and duplication
//! (`paxos`, `raft`, `multipaxos`).

#[path = "../common/mod.rs"]
mod common;

mod multipaxos;
mod paxos;
mod raft;
mod raft_membership;
mod rules_multipaxos;
mod rules_paxos;
mod rules_raft;
mod rules_raft_membership;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Every consensus algorithm, with its default parameters, a node's death and return and a partition:
/// the same seed gives the same trace byte for byte, another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Consensus) {
        assert_deterministic(algorithm, |seed| {
            let faults = vec![
                fault(0.003, Action::Kill { node: Target::Random }),
                fault(0.2, Action::Restart { node: Target::LastKilled }),
                lasting(0.01, 0.1, partition("halves")),
            ];
            with_faults(experiment(algorithm.name(), 5, seed, 1.0, json!({})), faults)
        });
    }
}

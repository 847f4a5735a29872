//! The mutual exclusion algorithms: each one in the simulator over hundreds of seeds, its
//! message cost against the textbook's, the commands a person drives them with (`commands`), and
//! every checker fed a hand-made trace that breaks its property (`checkers`); and the rules each algorithm file states, one handler call
//! at a time (`rules_*`).

#[path = "../common/mod.rs"]
mod common;

mod central;
mod checkers;
mod commands;
mod lamport;
mod maekawa;
mod raymond;
mod ricart_agrawala;
mod rules_lamport;
mod rules_raymond;
mod rules_ricart_agrawala;
mod rules_token_ring;
mod suzuki_kasami;
mod token_ring;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, Target};
use common::*;
use serde_json::json;

/// Every mutual exclusion algorithm under a busy workload, with the `leader` (the coordinator, or
/// a token holder) killed: the same seed gives the same trace byte for byte, another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    for algorithm in catalogue::family(Family::Mutex) {
        assert_deterministic(algorithm, |seed| {
            let params = json!({ "workload": busy(6.0, 20, "3s") });
            with_faults(
                experiment(algorithm.name(), 5, seed, 4.0, params),
                vec![fault(1.5, Action::Kill { node: Target::Leader })],
            )
        });
    }
}

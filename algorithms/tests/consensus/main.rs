//! The consensus algorithms: their rules one handler call at a time (`rules_paxos`, `rules_raft`,
//! `rules_multipaxos`), and the simulator over hundreds of seeds with crashes, loss and duplication
//! (`paxos`, `raft`, `multipaxos`).

#[path = "../common/mod.rs"]
mod common;

mod coordination;
mod multipaxos;
mod paxos;
mod raft;
mod raft_membership;
mod recipes;
mod rules_multipaxos;
mod rules_paxos;
mod rules_raft;
mod rules_raft_membership;
mod rules_zab;
mod zab;

use algorithms::algorithm::Family;
use algorithms::catalogue;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::service::client::Workload;
use algorithms::sim::SimConfig;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Three clients, ten operations a second each (an open loop keeps runs short): the workload the
/// replicated services' sweeps share.
fn clients() -> Workload {
    Workload { clients: 3, rate_per_s: Some(10.0), timeout: Duration::from_millis(200), ..Workload::default() }
}

/// A simulated run of the service `algorithm` under `faults`, with [`clients`].
fn service(
    algorithm: &str,
    servers: usize,
    seed: u64,
    seconds: f64,
    params: Value,
    faults: Vec<FaultSpec>,
) -> SimConfig {
    let cfg = with_faults(experiment(algorithm, servers, seed, seconds, params), faults);
    SimConfig { workload: Some(clients()), ..cfg }
}

/// The leader dies, a random server dies and returns, the new leader is cut off and healed, and
/// the next leader dies for a while.
fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(0.6, Action::Kill { node: Target::Leader }),
        fault(1.1, Action::Kill { node: Target::Random }),
        fault(1.4, Action::Restart { node: Target::LastKilled }),
        partition_at(1.6, "isolate:leader"),
        fault(2.1, Action::Heal),
        lasting(2.3, 0.4, Action::Kill { node: Target::Leader }),
        fault(2.8, Action::Restart { node: Target::Id(1) }),
    ]
}

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

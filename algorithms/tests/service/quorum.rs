//! quorum registers in the simulator: 5 replicas and 3 clients doing gets and puts. With majority
//! quorums and write-back the history is linearizable over hundreds of seeds with a replica
//! killed, loss and duplication; without write-back a slow link gives two reads new then old;
//! with R = W = 2 of 5 a read misses a completed write.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::service::client::{Mix, Workload};
use algorithms::sim::SimConfig;
use algorithms::{find, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

pub fn quorum(seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    let workload = Workload {
        clients: 3,
        keys: 1,
        mix: Mix { get: 0.6, put: 0.4, cas: 0.0, append: 0.0 },
        timeout: Duration::from_millis(200),
        ..Workload::default()
    };
    SimConfig { workload: Some(workload), ..with_faults(experiment("quorum", 5, seed, seconds, params), faults) }
}

/// A replica killed and restarted, and one link that drops and duplicates.
fn kills_loss_duplication() -> Vec<FaultSpec> {
    let flaky = LinkSpec { from: 2, to: 1, loss: 0.3, duplicate: 0.5, ..Default::default() };
    vec![
        fault(0.0, Action::Link(flaky)),
        lasting(0.1, 0.2, Action::Kill { node: Target::Id(3) }),
        lasting(0.35, 0.1, Action::Kill { node: Target::Random }),
    ]
}

/// Node `from`'s links are slow but to `fast`: its stores reach `fast` long before the others.
pub fn slow_links(from: u32, fast: u32) -> Vec<FaultSpec> {
    (1..=5)
        .filter(|to| *to != from && *to != fast)
        .map(|to| {
            let delay = Some(Delay::Uniform { min_ms: 20.0, max_ms: 40.0 });
            fault(0.0, Action::Link(LinkSpec { from, to, delay, ..Default::default() }))
        })
        .collect()
}

#[test]
fn with_majorities_and_write_back_it_is_linearizable_over_100_seeds_with_kills_loss_and_duplication() {
    for seed in 0..100 {
        let mut cfg = quorum(seed, 0.6, json!({}), kills_loss_duplication());
        cfg.network.loss = 0.02;
        let (_, report) = run(&cfg);
        for name in ["linearizable", "exactly_once", "quorums_intersect", "message_cost"] {
            let p = property(&report, name);
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
    }
}

#[test]
fn without_faults_every_property_holds_and_a_phase_costs_2_n_minus_1() {
    let reports = all_hold(0..20, |seed| quorum(seed, 0.4, json!({}), vec![]));
    for report in &reports {
        let cost = &report.metrics["messages_per_operation"];
        // 4(N − 1) = 16 for both, less the last replies a run's end leaves unsent.
        for f in ["put", "get"] {
            let mean = cost[f].as_f64().unwrap();
            assert!(mean > 15.0 && mean <= 16.0, "{f}: a put and a get with write-back take two phases: {cost}");
        }
    }
}

#[test]
fn without_write_back_a_slow_replica_gives_two_reads_new_then_old() {
    // The seed of configs/quorum-no-writeback.toml.
    let cfg = quorum(NO_WRITE_BACK_SEED, 2.0, json!({"write_back": false}), slow_links(1, 2));
    let (_, report) = run(&cfg);
    let p = property(&report, "linearizable");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert_eq!(property(&report, "quorums_intersect").verdict, Verdict::Held, "R + W > N: no read misses a write");
}

#[test]
fn with_r_w_2_of_5_a_read_misses_a_completed_write() {
    // The seed of configs/quorum-stale.toml.
    let cfg = quorum(STALE_SEED, 2.0, json!({"r": 2, "w": 2}), slow_links(1, 2));
    let (_, report) = run(&cfg);
    assert_eq!(property(&report, "linearizable").verdict, Verdict::Violated, "{report:#?}");
    let p = property(&report, "quorums_intersect");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("reads may miss the latest write"), "{}", p.detail);
}

const NO_WRITE_BACK_SEED: u64 = 1;
const STALE_SEED: u64 = 1;

#[test]
fn with_write_back_the_same_slow_links_keep_it_linearizable() {
    for seed in 0..15 {
        let (_, report) = run(&quorum(seed, 2.0, json!({}), slow_links(1, 2)));
        let p = property(&report, "linearizable");
        assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    assert_deterministic(find("quorum").unwrap(), |seed| quorum(seed, 0.5, json!({}), kills_loss_duplication()));
}

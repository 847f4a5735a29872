//! kv-single in the simulator: 3 servers and 3 clients, closed loop. Without faults every
//! property holds; with node 1 killed, operations stop completing while servers 2 and 3 (a
//! majority) are up, and `operations_complete` says so; a restarted node 1 keeps its data.

use crate::common::*;
use algorithms::faults::{Action, Target};
use algorithms::service::client::Workload;
use algorithms::sim::SimConfig;
use algorithms::trace::What;
use algorithms::{find, Verdict};
use serde_json::json;
use std::time::Duration;

fn single(seed: u64, seconds: f64, workload: Workload, faults: Vec<algorithms::faults::FaultSpec>) -> SimConfig {
    let cfg = experiment("kv-single", 3, seed, seconds, json!({}));
    SimConfig { workload: Some(workload), ..with_faults(cfg, faults) }
}

fn closed_loop() -> Workload {
    Workload { clients: 3, timeout: Duration::from_millis(100), ..Workload::default() }
}

#[test]
fn without_faults_every_property_holds_over_60_seeds() {
    let reports = all_hold(0..60, |seed| single(seed, 0.5, closed_loop(), vec![]));
    for report in &reports {
        assert!(property(report, "linearizable").judged > 100, "{:?}", property(report, "linearizable"));
    }
}

#[test]
fn with_loss_and_an_open_loop_retries_keep_it_linearizable_and_exactly_once() {
    for seed in 0..100 {
        let mut cfg = single(seed, 1.0, Workload { rate_per_s: Some(50.0), ..closed_loop() }, vec![]);
        cfg.network.loss = 0.2;
        let (outcome, report) = run(&cfg);
        for name in ["linearizable", "exactly_once"] {
            assert_eq!(property(&report, name).verdict, Verdict::Held, "seed {seed}: {:?}", property(&report, name));
        }
        let retries = outcome
            .run
            .records
            .iter()
            .filter(|r| r.node > 3 && matches!(&r.what, What::Timer { name } if name == "retry"))
            .count();
        if seed == 0 {
            assert!(retries > 0, "loss makes clients retry");
        }
    }
}

#[test]
fn node_1_killed_is_the_single_point_of_failure_and_a_restart_keeps_the_data() {
    let faults = vec![lasting(0.5, 1.5, Action::Kill { node: Target::Id(1) })];
    for seed in 0..10 {
        let (outcome, report) = run(&single(seed, 3.5, closed_loop(), faults.clone()));
        let p = property(&report, "operations_complete");
        assert_eq!(p.verdict, Verdict::Violated, "seed {seed}: {p:?}");
        assert!(p.detail.contains("servers [2, 3] all along"), "{}", p.detail);
        for name in ["linearizable", "exactly_once"] {
            assert_eq!(property(&report, name).verdict, Verdict::Held, "seed {seed}: {:?}", property(&report, name));
        }
        // After the restart at 2 s operations complete again, reading what was written before.
        let after = outcome.run.records.iter().filter(|r| r.t > 2_200_000_000 && r.event_name() == Some("op")).count();
        assert!(after > 50, "seed {seed}: {after} op events after the restart");
    }
}

#[test]
fn clients_are_nodes_faults_can_kill() {
    let faults = vec![lasting(0.3, 0.3, Action::Kill { node: Target::Id(5) })];
    let (outcome, report) = run(&single(3, 1.5, closed_loop(), faults));
    assert_eq!(report.verdict(), Verdict::Held, "{:#?}", report.properties);
    let starts = outcome.run.records.iter().filter(|r| r.node == 5 && matches!(r.what, What::Start { .. })).count();
    assert_eq!(starts, 2, "client 5 was killed and restarted");
    assert_eq!(outcome.run.nodes, vec![1, 2, 3], "the run's nodes are the servers");
}

#[test]
fn a_workload_for_an_algorithm_without_clients_is_an_error_naming_workload() {
    let cfg = SimConfig { workload: Some(closed_loop()), ..experiment("bully", 3, 1, 1.0, json!({})) };
    let err = algorithms::sim::simulate(find("bully").unwrap(), &cfg).err().unwrap();
    assert!(err.starts_with("workload: bully has no clients"), "{err}");
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    assert_deterministic(find("kv-single").unwrap(), |seed| single(seed, 1.0, closed_loop(), vec![]));
}

//! Helpers shared by the mutual exclusion simulator tests.
#![allow(dead_code)]

use algorithms::check::CheckReport;
use algorithms::faults::FaultSpec;
use algorithms::sim::{simulate, NetworkModel, SimConfig, SimOutcome};
use algorithms::{find, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

/// One simulated mutex experiment: `nodes` nodes for `seconds`, the given params.
pub fn experiment(algorithm: &str, nodes: usize, seed: u64, seconds: f64, params: Value) -> SimConfig {
    SimConfig {
        nodes,
        seed,
        duration: Duration::from_secs_f64(seconds),
        instance: algorithm.into(),
        params,
        network: NetworkModel::default(),
        faults: vec![],
    }
}

/// A busy workload on two resources that stops early enough for every request to finish.
pub fn busy(rate_per_s: f64, hold_ms: u64, stop_after: &str) -> Value {
    json!({ "rate_per_s": rate_per_s, "hold_ms": hold_ms, "resources": ["printer", "table:employees;row:15"], "stop_after": stop_after })
}

pub fn run(cfg: &SimConfig) -> (SimOutcome, CheckReport) {
    let algorithm = find(&cfg.instance).unwrap();
    let outcome = simulate(algorithm, cfg).unwrap();
    let report = algorithm.check(&outcome.run);
    (outcome, report)
}

/// Runs `seeds` seeds and fails on the first whose verdict is not held, naming the seed.
pub fn all_hold(seeds: std::ops::Range<u64>, make: impl Fn(u64) -> SimConfig) -> Vec<CheckReport> {
    let mut reports = Vec::new();
    for seed in seeds {
        let cfg = make(seed);
        let (_, report) = run(&cfg);
        assert_eq!(report.verdict(), Verdict::Held, "{} seed {seed}: {:#?}", cfg.instance, report.properties);
        reports.push(report);
    }
    reports
}

pub fn with_faults(mut cfg: SimConfig, faults: Vec<FaultSpec>) -> SimConfig {
    cfg.faults = faults;
    cfg
}

pub fn property<'a>(report: &'a CheckReport, name: &str) -> &'a algorithms::check::PropertyResult {
    report.properties.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no property {name}: {report:#?}"))
}

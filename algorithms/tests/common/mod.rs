//! Helpers every test binary of this crate shares (`election`, `mutex`, `sim`): building
//! simulator experiments and faults, running and judging them, finding a property's verdict, the
//! catalogue's families, and the determinism check; [`rules`] calls one node's handlers directly and
//! compares the exact effects.
//!
//! Each binary includes this module with `#[path = "../common/mod.rs"] mod common;` and uses only
//! part of it.
#![allow(dead_code)]

pub mod rules;

use algorithms::algorithm::{Algorithm, Family};
use algorithms::check::{CheckReport, PropertyResult};
use algorithms::faults::{Action, FaultSpec, PartitionSpec};
use algorithms::sim::{simulate, NetworkModel, SimConfig, SimOutcome};
use algorithms::trace::What;
use algorithms::{catalogue, find, NodeId, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

// ---- experiments ----

/// One simulated experiment: `nodes` nodes of `algorithm` for `seconds`, the given params, the
/// default network (FIFO, 0.5–5 ms delays, no loss), no faults.
pub fn experiment(algorithm: &str, nodes: usize, seed: u64, seconds: f64, params: Value) -> SimConfig {
    SimConfig {
        nodes,
        spare_nodes: 0,
        seed,
        duration: Duration::from_secs_f64(seconds),
        instance: algorithm.into(),
        params,
        network: NetworkModel::default(),
        faults: vec![],
        workload: None,
    }
}

pub fn with_faults(mut cfg: SimConfig, faults: Vec<FaultSpec>) -> SimConfig {
    cfg.faults = faults;
    cfg
}

/// A busy mutex workload on two resources that stops early enough for every request to finish.
pub fn busy(rate_per_s: f64, hold_ms: u64, stop_after: &str) -> Value {
    json!({ "rate_per_s": rate_per_s, "hold_ms": hold_ms, "resources": ["printer", "table:employees;row:15"], "stop_after": stop_after })
}

// ---- faults ----

pub fn at(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// `action` at `s` seconds into the run.
pub fn fault(s: f64, action: Action) -> FaultSpec {
    FaultSpec::new(at(s), action)
}

/// `action` at `s` seconds, undone `secs` later.
pub fn lasting(s: f64, secs: f64, action: Action) -> FaultSpec {
    FaultSpec { lasting: Some(at(secs)), ..fault(s, action) }
}

/// A partition by spec (`"1,2|3,4,5"`, `"halves"`, `"isolate:leader"`), blackholing.
pub fn partition(spec: &str) -> Action {
    Action::Partition { groups: PartitionSpec::parse(spec).unwrap(), mode: Default::default() }
}

/// A partition at `s` seconds, until a heal.
pub fn partition_at(s: f64, spec: &str) -> FaultSpec {
    fault(s, partition(spec))
}

// ---- running and judging ----

/// Simulates `cfg` and judges it with its algorithm's checker.
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

/// The named property of the report; there must be one.
pub fn property<'a>(report: &'a CheckReport, name: &str) -> &'a PropertyResult {
    report.properties.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no property {name}: {report:#?}"))
}

// ---- reading a simulated trace ----

/// Sends of these message types between `from` and `to` seconds.
pub fn sent(outcome: &SimOutcome, types: &[&str], from: f64, to: f64) -> usize {
    outcome
        .run
        .records
        .iter()
        .filter(|r| (r.t as f64) >= from * 1e9 && (r.t as f64) < to * 1e9)
        .filter(|r| matches!(&r.what, What::Send { msg_type, .. } if types.contains(&msg_type.as_str())))
        .count()
}

/// The nodes that wrote `elected` between `from` and `to` seconds, repeats in a row merged.
pub fn winners(outcome: &SimOutcome, from: f64, to: f64) -> Vec<NodeId> {
    let mut w: Vec<NodeId> = outcome
        .run
        .records
        .iter()
        .filter(|r| r.event_name() == Some("elected") && (r.t as f64) >= from * 1e9 && (r.t as f64) < to * 1e9)
        .map(|r| r.node)
        .collect();
    w.dedup();
    w
}

// ---- the catalogue ----

/// The names of a family's algorithms, in catalogue order.
pub fn names(family: Family) -> Vec<&'static str> {
    catalogue::family(family).iter().map(|a| a.name()).collect()
}

/// The ring elections: the election algorithms that promise the ring's properties (and so share
/// its host and checker).
pub fn rings() -> Vec<&'static str> {
    let ring: Vec<&str> = algorithms::election::ring::properties("").iter().map(|p| p.name).collect();
    let rings: Vec<&'static str> = catalogue::family(Family::Election)
        .into_iter()
        .filter(|a| a.properties().iter().map(|p| p.name).collect::<Vec<_>>() == ring)
        .map(|a| a.name())
        .collect();
    assert!(rings.len() >= 2, "LeLann and Chang–Roberts at least: {rings:?}");
    rings
}

/// The same seed gives the same trace, byte for byte, and another seed another one.
pub fn assert_deterministic(algorithm: &dyn Algorithm, make: impl Fn(u64) -> SimConfig) {
    let name = algorithm.name();
    let a = simulate(algorithm, &make(7)).unwrap();
    let b = simulate(algorithm, &make(7)).unwrap();
    let c = simulate(algorithm, &make(8)).unwrap();
    assert!(a.run.records.len() > 100, "{name}: a trace worth comparing ({} records)", a.run.records.len());
    assert_eq!(a.trace_jsonl(), b.trace_jsonl(), "{name}: one seed, two traces");
    assert_ne!(a.trace_jsonl(), c.trace_jsonl(), "{name}: another seed should schedule differently");
}

//! Both detectors in the simulator: a kill and a pause on five nodes over hundreds of seeds,
//! every property held; a network slower than the timeout breaks eventual strong accuracy; and
//! the trade-off itself, a short timeout against jitter.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

/// Node 5 killed at 1 s for 1 s, node 2 paused at 2.3 s for 300 ms; 3.5 s in all.
fn kill_and_pause(algorithm: &str, seed: u64, params: Value) -> SimConfig {
    let faults = vec![
        lasting(1.0, 1.0, Action::Kill { node: Target::Id(5) }),
        lasting(2.3, 0.3, Action::Pause { node: Target::Id(2) }),
    ];
    with_faults(experiment(algorithm, 5, seed, 3.5, params), faults)
}

/// A metric's field, or with `field` empty the metric itself (a count or a figure).
fn figure(report: &algorithms::CheckReport, metric: &str, field: &str) -> f64 {
    let value = &report.metrics[metric];
    let value = if field.is_empty() { value } else { &value[field] };
    value.as_f64().unwrap_or_else(|| panic!("{metric}.{field}: {:#?}", report.metrics))
}

#[test]
fn heartbeat_detects_every_kill_and_ends_trusting_over_200_seeds() {
    for (seed, r) in all_hold(0..200, |seed| kill_and_pause("heartbeat", seed, json!({}))).iter().enumerate() {
        // The kill, seen by the four others.
        assert_eq!(property(r, "strong_completeness").judged, 4, "seed {seed}");
        assert_eq!(property(r, "eventual_strong_accuracy").judged, 20, "seed {seed}");
        // Within the timeout (200 ms) after the last heartbeat, itself at most 50 ms + delay before the kill.
        let max = figure(r, "detection_ms", "max");
        assert!((145.0..=205.0).contains(&max), "seed {seed}: {max}");
        // The paused node was suspected (rightly), and nobody falsely on a calm network.
        assert_eq!(figure(r, "false_suspicions", ""), 0.0, "seed {seed}");
    }
}

#[test]
fn phi_accrual_detects_every_kill_and_ends_trusting_over_200_seeds() {
    for (seed, r) in all_hold(0..200, |seed| kill_and_pause("phi-accrual", seed, json!({}))).iter().enumerate() {
        assert_eq!(property(r, "strong_completeness").judged, 4, "seed {seed}");
        assert_eq!(property(r, "eventual_strong_accuracy").judged, 20, "seed {seed}");
        let heartbeats = &r.metrics["heartbeats_per_interval"];
        assert_eq!(heartbeats["textbook"], "N(N−1) = 20", "seed {seed}");
    }
}

/// Links into node 3 that stay slower than the timeout to the end: node 3 suspects the others
/// again and again, and the quiet tail after the last fault is not quiet.
#[test]
fn a_link_slower_than_the_timeout_breaks_eventual_strong_accuracy() {
    let slow = Delay::Uniform { min_ms: 150.0, max_ms: 400.0 };
    let faults: Vec<FaultSpec> =
        vec![fault(0.5, Action::Link(LinkSpec { from: 1, to: 3, delay: Some(slow), ..LinkSpec::default() }))];
    let cfg = with_faults(experiment("heartbeat", 3, 1, 3.0, json!({ "timeout_ms": 100 })), faults);
    let (_, report) = run(&cfg);
    let p = property(&report, "eventual_strong_accuracy");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("node 3 suspected node 1, which is correct"), "{}", p.detail);
    assert!(figure(&report, "false_suspicions", "") >= 1.0);
}

/// The course's trade-off on one network: 0–40 ms of jitter on every link for the whole run.
/// A 60 ms timeout (ten 50 ms heartbeats in a row cannot all be late by less than 10 ms) makes
/// false suspicions; φ = 8, learning the jitter, makes fewer; a 400 ms timeout makes none but
/// detects the kill later.
#[test]
fn under_jitter_a_short_timeout_suspects_falsely_and_phi_adapts() {
    let jitter = Delay::Uniform { min_ms: 0.0, max_ms: 40.0 };
    let total = |algorithm: &str, params: Value| -> (f64, f64) {
        let (mut false_ones, mut detection) = (0.0, 0.0);
        for seed in 0..20 {
            let mut cfg = kill_and_pause(algorithm, seed, params.clone());
            cfg.network.delay = jitter.clone();
            cfg.network.fifo = false;
            let (_, r) = run(&cfg);
            assert_eq!(property(&r, "strong_completeness").verdict, Verdict::Held, "{algorithm} seed {seed}");
            false_ones += figure(&r, "false_suspicions", "");
            detection += figure(&r, "detection_ms", "p50");
        }
        (false_ones, detection / 20.0)
    };
    let (short, short_ms) = total("heartbeat", json!({ "timeout_ms": 60 }));
    let (phi, _) = total("phi-accrual", json!({}));
    let (long, long_ms) = total("heartbeat", json!({ "timeout_ms": 400 }));
    assert!(short > 20.0, "{short}");
    assert!(phi < short / 4.0, "φ {phi} vs 60 ms timeout {short}");
    assert_eq!(long, 0.0);
    assert!(long_ms > short_ms + 250.0, "{long_ms} vs {short_ms}");
}

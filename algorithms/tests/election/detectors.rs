//! `detector = "phi"` for bully and the rings: the leader's death is still detected and the
//! elections hold their properties; and on links with jitter, φ-accrual suspects a live leader
//! far less often than the fixed timeout (`configs/bully-phi.toml`).

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::trace::What;
use algorithms::NodeId;
use serde_json::{json, Value};

/// The leader killed at 1.5 s and back at 3 s, on five nodes.
fn kill_leader(algorithm: &str, seed: u64, params: Value) -> SimConfig {
    let faults = vec![
        fault(1.5, Action::Kill { node: Target::Leader }),
        fault(3.0, Action::Restart { node: Target::LastKilled }),
    ];
    with_faults(experiment(algorithm, 5, seed, 4.5, params), faults)
}

#[test]
fn bully_and_the_rings_elect_through_a_kill_with_either_detector_over_100_seeds() {
    for algorithm in ["bully", "lelann", "chang-roberts"] {
        for detector in ["timeout", "phi"] {
            let reports = all_hold(0..100, |seed| kill_leader(algorithm, seed, json!({ "detector": detector })));
            for (seed, r) in reports.iter().enumerate() {
                let p = property(r, "election_within_bound");
                assert!(p.judged >= 2, "{algorithm} {detector} seed {seed}: the kill and the return: {p:?}");
            }
        }
    }
}

/// The configuration of `configs/bully-phi.toml`: heartbeats every 50 ms, a 100 ms timeout with
/// no extra jitter, and 0–80 ms of delay on every link from the leader (node 5), for the whole
/// run; node 5 is killed at 3 s and restarted at 4.5 s.
pub fn jittery_leader(seed: u64, detector: &str) -> SimConfig {
    let params = json!({ "heartbeat_ms": 50, "leader_timeout_ms": 100, "timeout_jitter_ms": 0, "detector": detector });
    let slow = Delay::Uniform { min_ms: 0.0, max_ms: 80.0 };
    let mut faults: Vec<FaultSpec> = (1..5)
        .map(|to| fault(0.0, Action::Link(LinkSpec { from: 5, to, delay: Some(slow.clone()), ..LinkSpec::default() })))
        .collect();
    faults.push(lasting(3.0, 1.5, Action::Kill { node: Target::Id(5) }));
    with_faults(experiment("bully", 5, seed, 6.0, params), faults)
}

/// `leader_lost` events of node 5 while it was up (outside its downtime from 3 s to 4.5 s):
/// every one a false suspicion. With φ the run must hold; with the timeout the false suspicions
/// can break it (an election after the return that costs more than n²−1, while followers keep
/// calling elections against a live leader).
fn false_suspicions(cfg: &SimConfig, must_hold: bool) -> usize {
    let (outcome, report) = run(cfg);
    if must_hold {
        assert_eq!(report.verdict(), algorithms::Verdict::Held, "seed {}: {:#?}", cfg.seed, report.properties);
    }
    let down = 3_000 * algorithms::MS..4_500 * algorithms::MS;
    outcome
        .run
        .records
        .iter()
        .filter(|r| !down.contains(&r.t))
        .filter(|r| matches!(&r.what, What::Event { name, data } if name == "leader_lost" && data["leader"] == json!(5 as NodeId)))
        .count()
}

#[test]
fn with_jitter_phi_suspects_a_live_leader_far_less_often_than_the_timeout() {
    let (mut timeout, mut phi) = (0, 0);
    for seed in 1..=20 {
        timeout += false_suspicions(&jittery_leader(seed, "timeout"), false);
        phi += false_suspicions(&jittery_leader(seed, "phi"), true);
    }
    println!("false suspicions of the live leader over 20 seeds: timeout {timeout}, φ {phi}");
    assert!(timeout >= 100, "{timeout}");
    assert!(phi * 10 <= timeout, "φ {phi} vs timeout {timeout}");
}

/// Bully's rule with `detector = "phi"`, one handler at a time: a follower of node 5 waits for
/// its next heartbeat until φ reaches 8, 115.3 ms with the seed (mean 50, deviation 12.5), and
/// longer once heartbeats have come irregularly.
#[test]
fn a_bully_follower_with_phi_waits_as_long_as_phi_says() {
    use crate::common::rules::*;
    use algorithms::election::bully::{BullyMsg, BullyNode, BullyParams};
    use algorithms::election::DetectorChoice;
    use algorithms::MS;
    let params = BullyParams { timeout_jitter_ms: 0, detector: DetectorChoice::Phi, ..BullyParams::default() };
    let mut n = Node::new(3, &[1, 2, 4, 5], BullyNode::new(3, params));
    n.start();
    let fx = n.deliver(5, BullyMsg::Coordinator);
    let Some(Fx::SetTimer(name, wait)) = fx.last() else { panic!("{fx:?}") };
    assert_eq!(name, "leader_timeout");
    assert!((*wait as f64 / MS as f64 - 115.3).abs() < 0.1, "{wait}");
    let mut t = 0;
    let mut last = 0;
    for gap in [20, 100, 20, 100, 20, 100] {
        t += gap;
        n.at(t);
        let fx = n.deliver(5, BullyMsg::Heartbeat);
        let [Fx::SetTimer(name, wait)] = fx.as_slice() else { panic!("{fx:?}") };
        assert_eq!(name, "leader_timeout");
        last = *wait;
    }
    assert!(last > 200 * MS, "irregular heartbeats: a longer wait ({last})");
}

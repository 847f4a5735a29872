//! Multi-Paxos in the simulator: hundreds of seeds with crashes, restarts, partitions, loss,
//! duplication and reordering, every safety property held; the unsafe switch caught.

use crate::common::*;
use crate::{crashes_restarts_partitions, service};
use algorithms::faults::{Action, FaultSpec, LinkSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

fn multipaxos(servers: usize, seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    service("multi-paxos", servers, seed, seconds, params, faults)
}

/// Every property but liveness holds.
fn assert_safe(report: &algorithms::CheckReport, seed: u64) {
    for p in report.properties.iter().filter(|p| p.name != "operations_complete") {
        assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
    }
}

#[test]
fn three_and_five_servers_hold_every_safety_property_over_200_seeds_with_crashes_restarts_and_partitions() {
    let mut commands = 0;
    for seed in 0..200 {
        let servers = if seed % 2 == 0 { 3 } else { 5 };
        let (_, report) = run(&multipaxos(servers, seed, 3.0, json!({}), crashes_restarts_partitions()));
        assert_safe(&report, seed);
        commands += report.metrics["messages_per_command"]["commands"].as_u64().unwrap();
    }
    assert!(commands > 200 * 40, "clients got work done: {commands} commands");
}

/// Link faults on the links among nodes 1–3: loss, duplication, reordering.
#[test]
fn safety_holds_under_loss_duplication_and_reordering() {
    for seed in 0..100 {
        let mut faults = crashes_restarts_partitions();
        for (from, to) in [(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)] {
            let spec = LinkSpec { from, to, loss: 0.1, duplicate: 0.2, reorder: 0.3, ..Default::default() };
            faults.push(fault(0.0, Action::Link(spec)));
        }
        let mut cfg = multipaxos(5, seed, 3.0, json!({}), faults);
        cfg.network.loss = 0.02;
        let (_, report) = run(&cfg);
        assert_safe(&report, seed);
    }
}

/// Without faults every property holds, liveness included, and a command costs 2(N−1) messages
/// with the stable leader.
#[test]
fn without_faults_every_property_holds_and_a_command_costs_2n_minus_2_messages() {
    let mut per = Vec::new();
    for seed in 0..30 {
        let (_, report) = run(&multipaxos(5, seed, 2.0, json!({}), vec![]));
        for p in &report.properties {
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
        per.push(report.metrics["messages_per_command"]["measured"].as_f64().unwrap());
    }
    println!("messages per chosen slot (5 servers, 3 clients at 10/s): {per:?}");
    assert!(per.iter().all(|p| *p >= 8.0 && *p <= 8.5), "2(N−1) = 8: {per:?}");
}

/// The schedule of `configs/multi-paxos-skip-adopt-unsafe.toml`: the leader killed at 1 s and
/// restarted 300 ms later, then again at 2 s.
fn leader_kills(seed: u64, unsafe_skip_adopt: bool) -> SimConfig {
    let faults = vec![
        lasting(1.0, 0.3, Action::Kill { node: Target::Leader }),
        lasting(2.0, 0.3, Action::Kill { node: Target::Leader }),
    ];
    multipaxos(5, seed, 3.0, json!({ "unsafe_skip_adopt": unsafe_skip_adopt }), faults)
}

/// Meant to fail, at the seed the config names: node 1, elected in ballot (3, 1) after the second
/// kill, had not yet heard that slot 40 was chosen (the old leader's decision rides on the next
/// Accept), skips adoption and puts a get of its own there; both checkers name the slot.
#[test]
fn skipping_adoption_overwrites_a_chosen_value_and_the_checker_names_the_slot() {
    let (_, report) = run(&leader_kills(1, true));
    let p = property(&report, "agreement");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    for part in ["slot 40: cas k3 - → c8-18 (client 8, seq 18)", "chosen in ballot (2, 5)", "in ballot (3, 1)"] {
        assert!(p.detail.contains(part), "{part:?} in {}", p.detail);
    }
    let p = property(&report, "state_machine_safety");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("slot 40: node 5 applied"), "{}", p.detail);
}

/// The same schedule with adoption on: every property holds over 20 seeds.
#[test]
fn with_adoption_the_same_schedule_holds() {
    all_hold(1..21, |seed| leader_kills(seed, false));
}

/// The same seed gives the same trace byte for byte (clients, a kill and a restart included),
/// another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    let algorithm = algorithms::find("multi-paxos").unwrap();
    assert_deterministic(algorithm, |seed| multipaxos(5, seed, 1.0, json!({}), crashes_restarts_partitions()));
}

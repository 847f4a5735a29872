//! ZAB in the simulator: hundreds of seeds with crashes (the leader's, mid-broadcast, too),
//! restarts, partitions, loss, duplication and reordering, every safety property held; the
//! unsafe switch caught.

use crate::common::*;
use crate::{crashes_restarts_partitions, service};
use algorithms::faults::{Action, FaultSpec, LinkSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

fn zab(servers: usize, seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    service("zab", servers, seed, seconds, params, faults)
}

/// Every property but liveness holds.
fn assert_safe(report: &algorithms::CheckReport, seed: u64) {
    for p in report.properties.iter().filter(|p| p.name != "operations_complete") {
        assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
    }
}

fn writes(report: &algorithms::CheckReport) -> usize {
    report.metrics["messages_per_write"]["entries"].as_u64().unwrap() as usize
}

#[test]
fn three_servers_hold_every_safety_property_over_200_seeds_with_crashes_restarts_and_partitions() {
    let mut committed = 0;
    for seed in 0..200 {
        let (_, report) = run(&zab(3, seed, 3.0, json!({}), crashes_restarts_partitions()));
        assert_safe(&report, seed);
        committed += writes(&report);
    }
    assert!(committed > 200 * 30, "clients got work done: {committed} transactions");
}

/// The leader killed mid-broadcast (for 0.4 s, while clients write), then cut off from the rest
/// (it goes on taking writes it cannot commit: TRUNC for it on its return), twice; on odd seeds
/// link faults on the links among nodes 1–3 too: loss, duplication, reordering. A small
/// `max_diff`, so that returning servers get a SNAP as well.
#[test]
fn safety_holds_with_the_leader_killed_mid_broadcast_or_cut_off_and_under_loss_duplication_and_reordering() {
    let mut modes = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let mut faults = Vec::new();
        for start in [0.4, 1.6] {
            faults.push(lasting(start, 0.4, Action::Kill { node: Target::Leader }));
            faults.push(partition_at(start + 0.6, "isolate:leader"));
            faults.push(fault(start + 1.1, Action::Heal));
        }
        if seed % 2 == 1 {
            for (from, to) in [(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)] {
                let spec = LinkSpec { from, to, loss: 0.1, duplicate: 0.2, reorder: 0.3, ..Default::default() };
                faults.push(fault(0.0, Action::Link(spec)));
            }
        }
        let (out, report) = run(&zab(5, seed, 3.0, json!({ "max_diff": 8 }), faults));
        assert_safe(&report, seed);
        for r in &out.run.records {
            if let algorithms::trace::What::Event { name, data } = &r.what {
                if name == "sync_sent" {
                    let mode = data["mode"].as_str().map(String::from);
                    modes.insert(mode.unwrap_or_else(|| "trunc".into())); // trunc carries its point
                }
            }
        }
    }
    assert_eq!(modes.into_iter().collect::<Vec<_>>(), ["diff", "snap", "trunc"], "every way of synchronizing was used");
}

/// Without faults every property holds, liveness included, and a write costs 3(N−1) messages.
#[test]
fn without_faults_every_property_holds_and_a_write_costs_3n_minus_3_messages() {
    let mut per = Vec::new();
    for seed in 0..30 {
        let (_, report) = run(&zab(5, seed, 2.0, json!({}), vec![]));
        for p in report.properties.iter().filter(|p| p.name != "primary_integrity") {
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
        per.push(report.metrics["messages_per_write"]["measured"].as_f64().unwrap());
    }
    println!("messages per committed write (5 servers, 3 clients at 10/s): {per:?}");
    assert!(per.iter().all(|p| (12.0..=12.2).contains(p)), "3(N−1) = 12: {per:?}");
}

/// The same seed gives the same trace byte for byte (clients, a kill and a restart included),
/// another seed another.
#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    let algorithm = algorithms::find("zab").unwrap();
    assert_deterministic(algorithm, |seed| zab(5, seed, 1.0, json!({}), crashes_restarts_partitions()));
}

/// The schedule of `configs/zab-skip-sync-unsafe.toml`: three servers, the leader killed at 1 s
/// and at 2 s, 400 ms each.
fn leader_kills(seed: u64, unsafe_skip_sync: bool) -> SimConfig {
    let faults = vec![
        lasting(1.0, 0.4, Action::Kill { node: Target::Leader }),
        lasting(2.0, 0.4, Action::Kill { node: Target::Leader }),
    ];
    zab(3, seed, 3.0, json!({ "unsafe_skip_sync": unsafe_skip_sync }), faults)
}

/// Meant to fail, at the seed the config names: the leader of epoch 3 tells node 3, back from
/// its kill with the history it had, that it is up to date; node 3 never gets (2, 1), committed
/// under the leader of epoch 2 and delivered by node 1, and delivers (3, 1) after its own
/// history. Total order and agreement name the lost transaction.
#[test]
fn skipping_synchronization_loses_a_committed_transaction_and_the_checker_names_it() {
    let (_, report) = run(&leader_kills(0, true));
    let p = property(&report, "total_order");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    for part in [
        "node 1 delivered (2, 1) get k3 (client 6, seq 11)",
        "node 3 (start 2) delivered (3, 1)",
        "a committed transaction lost",
    ] {
        assert!(p.detail.contains(part), "{part:?} in {}", p.detail);
    }
    let p = property(&report, "agreement");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("delivery 29: node 1 delivered (2, 1)"), "{}", p.detail);
}

/// The same schedule with synchronization: every safety property holds over 20 seeds.
#[test]
fn with_synchronization_the_same_schedule_holds() {
    for seed in 0..20 {
        let (_, report) = run(&leader_kills(seed, false));
        assert_safe(&report, seed);
    }
}

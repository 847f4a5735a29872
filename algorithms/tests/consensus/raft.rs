//! Raft in the simulator: hundreds of seeds with crashes, restarts, partitions, loss,
//! duplication and reordering, every safety property held; Figure 8 with the unsafe rule.

use crate::common::*;
use crate::{crashes_restarts_partitions, service};
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Nemesis, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};
use std::time::Duration;

fn raft(servers: usize, seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    service("raft", servers, seed, seconds, params, faults)
}

/// Every property but liveness holds (faults may leave a majority without a leader for longer
/// than the bound); the membership rules are not promised where the configuration never changes.
fn assert_safe(report: &algorithms::CheckReport, seed: u64) {
    for p in report.properties.iter().filter(|p| p.name != "operations_complete" && p.verdict != Verdict::NotPromised) {
        assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
    }
}

#[test]
fn three_and_five_servers_hold_every_safety_property_over_200_seeds_with_crashes_restarts_and_partitions() {
    let mut committed = 0;
    for seed in 0..200 {
        let servers = if seed % 2 == 0 { 3 } else { 5 };
        let (_, report) =
            run(&raft(servers, seed, 3.0, json!({ "fast_backup": seed % 3 == 0 }), crashes_restarts_partitions()));
        assert_safe(&report, seed);
        committed += report.metrics["messages_per_entry"]["commands"].as_u64().unwrap();
    }
    assert!(committed > 200 * 40, "clients got work done: {committed} commands");
}

/// Link faults on every link of node 1 and 2: loss, duplication, reordering and jitter.
#[test]
fn safety_holds_under_loss_duplication_and_reordering() {
    for seed in 0..100 {
        let mut faults = crashes_restarts_partitions();
        for (from, to) in [(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)] {
            let spec = LinkSpec { from, to, loss: 0.1, duplicate: 0.2, reorder: 0.3, ..Default::default() };
            faults.push(fault(0.0, Action::Link(spec)));
        }
        let mut cfg = raft(5, seed, 3.0, json!({ "max_batch": 1 + seed as usize % 4 }), faults);
        cfg.network.loss = 0.02;
        let (_, report) = run(&cfg);
        assert_safe(&report, seed);
    }
}

/// Without faults every property holds, liveness included (Leader Completeness has nothing to
/// judge: there is no later leader), and replication costs at most 2(N−1) messages per committed
/// entry (less when entries share a batch).
#[test]
fn without_faults_every_property_holds_and_an_entry_costs_at_most_2n_minus_2_messages() {
    let mut per = Vec::new();
    for seed in 0..30 {
        let (_, report) = run(&raft(5, seed, 2.0, json!({}), vec![]));
        for p in report.properties.iter().filter(|p| p.verdict != Verdict::NotPromised) {
            let expected = if p.name == "leader_completeness" { Verdict::Unknown } else { Verdict::Held };
            assert_eq!(p.verdict, expected, "seed {seed}: {p:#?}");
        }
        per.push(report.metrics["messages_per_entry"]["measured"].as_f64().unwrap());
    }
    println!("messages per committed entry (5 servers, 3 clients at 10/s): {per:?}");
    // Exactly 2(N−1) when every AppendEntries carrying entries was for an entry committed before
    // the end; the entries still in flight at the end add a little.
    let exact = per.iter().filter(|p| **p == 8.0).count();
    assert!(exact >= per.len() * 2 / 3 && per.iter().all(|p| *p <= 8.5), "2(N−1) = 8: {per:?}");
}

/// The schedule of `configs/raft-figure8*.toml`: leaders deposed every 250 ms from 0.5 s to 4 s
/// (killed for 120 ms, or cut off for 120 ms), one entry per AppendEntries, delays of 1–20 ms and
/// 15% loss.
fn figure_8(seed: u64, unsafe_rule: bool) -> SimConfig {
    let mut faults = vec![];
    for k in 0..14 {
        let at = 0.5 + k as f64 * 0.25;
        let action = if k % 2 == 0 { Action::Kill { node: Target::Leader } } else { partition("isolate:leader") };
        faults.push(lasting(at, 0.12, action));
    }
    let params = json!({ "unsafe_commit_previous_term": unsafe_rule, "max_batch": 1, "operation_bound_ms": 6000 });
    let mut cfg = raft(5, seed, 10.0, params, faults);
    cfg.network.delay = Delay::Uniform { min_ms: 1.0, max_ms: 20.0 };
    cfg.network.loss = 0.15;
    cfg
}

/// Figure 8 with the rule switched off, at the seed `configs/raft-figure8-unsafe.toml` names: node
/// 2, leader of term 7, commits index 9 of term 4 by counting replicas; node 1, whose index 9 is
/// of term 6, wins term 8 and overwrites it. The checker names the entry and every server involved.
#[test]
fn figure_8_with_the_unsafe_rule_loses_a_committed_entry_and_the_checker_names_it() {
    let (_, report) = run(&figure_8(594, true));
    let p = property(&report, "leader_completeness");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    for part in [
        "the committed entry at index 9 (term 4",
        "committed by node 2 in term 7",
        "held by nodes [2, 3, 5]",
        "not in the log of node 1, elected in term 8",
        "overwrote it on node 5",
    ] {
        assert!(p.detail.contains(part), "{part:?} in {}", p.detail);
    }
    assert_eq!(property(&report, "state_machine_safety").verdict, Verdict::Violated, "node 2 had applied it");
}

/// The same schedule with the rule on: 20 seeds from that one, and every property holds.
#[test]
fn figure_8_with_the_rule_on_holds() {
    all_hold(594..614, |seed| figure_8(seed, false));
}

/// The nemesis of `configs/raft-nemesis.toml` (same kinds, start, interval and recovery) on five
/// servers for 10 s: a fault a second, then four quiet seconds.
fn nemesis(seed: u64) -> SimConfig {
    let kinds = [
        "kill",
        "kill-leader",
        "pause",
        "pause-leader",
        "partition-halves",
        "partition-random-halves",
        "partition-majorities-ring",
        "isolate-random",
        "isolate-leader",
        "one-way",
        "link-loss",
        "link-delay",
        "link-slow",
        "link-duplicate",
        "link-reorder",
    ];
    let nemesis: Nemesis =
        serde_json::from_value(json!({ "start": "1s", "interval": "1s", "recovery": "4s", "kinds": kinds })).unwrap();
    let faults = nemesis.plan(5, Duration::from_secs(10), seed);
    raft(5, seed, 10.0, json!({ "operation_bound_ms": 2000 }), faults)
}

/// Twenty seeds of the nemesis (the config's sweep is 200: 195 held, 5 unknown): nothing
/// violated, operations complete within the bound, Leader Completeness at most unknown when the
/// faults drawn never replaced a leader.
#[test]
fn the_nemesis_violates_nothing_over_20_seeds() {
    for seed in 1..=20 {
        let (_, report) = run(&nemesis(seed));
        for p in report.properties.iter().filter(|p| p.verdict != Verdict::NotPromised) {
            let ok = p.verdict == Verdict::Held || (p.name == "leader_completeness" && p.verdict == Verdict::Unknown);
            assert!(ok, "seed {seed}: {p:#?}");
        }
    }
}

/// ReadIndex reads (thesis §6.4) under crashes, restarts, partitions and link faults: the history
/// stays linearizable, and every other safety property holds.
#[test]
fn read_index_reads_are_linearizable_over_100_seeds_with_crashes_partitions_and_link_faults() {
    for seed in 0..100 {
        let mut faults = crashes_restarts_partitions();
        for (from, to) in [(1, 2), (2, 1), (1, 3), (3, 1)] {
            let spec = LinkSpec { from, to, loss: 0.1, duplicate: 0.2, reorder: 0.3, ..Default::default() };
            faults.push(fault(0.0, Action::Link(spec)));
        }
        let servers = if seed % 2 == 0 { 3 } else { 5 };
        let (_, report) = run(&raft(servers, seed, 3.0, json!({ "read": "read_index" }), faults));
        assert_safe(&report, seed);
    }
}

/// `configs/raft-lease-read-drift.toml`: lease reads; at 1.5 s the leader's clock slows to
/// `rate` × true time and it is cut off from the other servers with client 6 alone
/// (the groups name node 3, the leader at seed 4).
fn lease_read_drift(seed: u64, rate: f64) -> SimConfig {
    let faults =
        vec![fault(1.5, Action::Drift { node: Target::Leader, rate }), lasting(1.5, 2.0, partition("3,6|1,2,4,5,7,8"))];
    let params = json!({ "read": "lease", "lease_ms": 100, "operation_bound_ms": 2000 });
    let workload = json!({ "clients": 3, "rate_per_s": 10.0, "keys": 1, "mix": { "get": 0.7, "put": 0.3, "cas": 0.1, "append": 0.1 }, "timeout": "200ms" });
    let cfg = raft(5, seed, 6.0, params, faults);
    SimConfig { workload: Some(serde_json::from_value(workload).unwrap()), ..cfg }
}

/// Meant to fail, at the seed the config names: the old leader's slow clock keeps its lease
/// while the majority elects a new leader and commits a cas; the get it answers afterwards
/// returns the value before the cas, and the checker names that get.
#[test]
fn lease_reads_under_drift_serve_a_stale_read_and_the_checker_names_it() {
    let (_, report) = run(&lease_read_drift(4, 0.05));
    let p = property(&report, "linearizable");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains(r#"process 6's get k1 → "c7-23""#), "{}", p.detail);
    assert!(p.detail.contains(r#"the kv is "c8-18""#), "{}", p.detail);
}

/// The same schedule without drift: the lease ends before any follower may vote, every property
/// holds.
#[test]
fn lease_reads_without_drift_stay_linearizable() {
    for seed in 1..=20 {
        let (_, report) = run(&lease_read_drift(seed, 1.0));
        assert_eq!(property(&report, "linearizable").verdict, Verdict::Held, "seed {seed}");
        assert_safe(&report, seed);
    }
}

/// `configs/raft-old-leader.toml`: the leader cut off with client 6 from 1.5 s to 3.5 s.
fn old_leader(seed: u64) -> SimConfig {
    raft(5, seed, 4.5, json!({}), vec![lasting(1.5, 2.0, partition("isolate:leader+6"))])
}

/// The old leader appends client 6's commands in its stale term and commits none of them; at the
/// heal they are truncated, and client 6's command is applied once, at an index a leader did
/// commit. Over 20 seeds every property holds and the `deposed_entries` metric shows that fate.
#[test]
fn an_old_leader_cut_off_with_a_client_commits_nothing_and_its_entries_are_truncated_and_redone() {
    let (mut truncated, mut redone) = (0, 0);
    for report in all_hold(0..20, old_leader) {
        let metric = algorithms::check::Metric::of(&report.metrics["deposed_entries"]);
        let algorithms::check::Metric::Deposed(deposed) = metric else { panic!("{metric:?}") };
        for e in deposed.deposed_entries.iter().filter(|e| e.client == Some(6)) {
            truncated += usize::from(!e.truncated.is_empty());
            redone += usize::from(e.redone.is_some());
        }
        assert!(property(&report, "stale_leader_commits_nothing").judged > 0);
    }
    eprintln!("client 6's stale entries: {truncated} truncated, {redone} applied elsewhere");
    assert!(
        truncated > 20 && redone > 20,
        "client 6's stale entries: {truncated} truncated, {redone} applied elsewhere"
    );
}

/// The schedule of `configs/raft-snapshot.toml` on three servers: nodes 2 and 1 stand at 0.5 s
/// and 0.8 s, node 3 (a follower) is killed at 1 s for 3 s while the leader compacts every
/// `threshold` entries.
fn snapshot_schedule(seed: u64, threshold: u64) -> SimConfig {
    let elect = |id| Action::Command { node: Target::Id(id), args: vec!["elect".into()] };
    let faults =
        vec![fault(0.5, elect(2)), fault(0.8, elect(1)), lasting(1.0, 3.0, Action::Kill { node: Target::Id(3) })];
    raft(3, seed, 6.0, json!({ "snapshot_threshold": threshold }), faults)
}

/// §7 end to end: the follower that returns behind the leader's snapshot is brought up by
/// InstallSnapshot (the leader sends it, the follower traces `snapshot_installed`), and every
/// property holds across the snapshots (liveness included), over 4 seeds (the config's sweep
/// is 200: `orchestrator sim configs/raft-snapshot.toml --seeds 200`).
#[test]
fn a_follower_behind_the_leaders_snapshot_is_brought_up_by_install_snapshot_over_4_seeds() {
    for seed in 0..4 {
        let (outcome, report) = run(&snapshot_schedule(seed, 20));
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        let installs = report.metrics["snapshots"]["installed"].as_array().unwrap();
        assert!(installs.iter().any(|i| i["node"] == 3 && i["from"] == 1), "seed {seed}: {installs:?}");
        let installed =
            outcome.run.records.iter().filter(|r| r.node == 3 && r.event_name() == Some("snapshot_installed"));
        assert!(
            installed.count() >= 1,
            "seed {seed}: node 3 installed no snapshot; winners {:?}",
            winners(&outcome, 0.0, 6.0)
        );
        assert!(sent(&outcome, &["install_snapshot"], 4.0, 6.0) >= 1, "seed {seed}");
        let taken = outcome.run.records.iter().filter(|r| r.event_name() == Some("snapshot_taken")).count();
        assert!(taken >= 4, "seed {seed}: {taken} snapshots taken");
    }
}

/// Crashes, restarts and partitions with a small threshold: servers restart from snapshot and
/// log, followers are brought up by snapshots, and every safety property holds, over 20 seeds
/// (the wider sweep: `orchestrator sim configs/raft-snapshot.toml --seeds 200`).
#[test]
fn snapshots_keep_every_safety_property_over_20_seeds_with_crashes_restarts_and_partitions() {
    let (mut installs, mut restores) = (0, 0);
    for seed in 0..20 {
        let servers = if seed % 2 == 0 { 3 } else { 5 };
        let params = json!({ "snapshot_threshold": 5 + seed % 10, "fast_backup": seed % 3 == 0 });
        let (outcome, report) = run(&raft(servers, seed, 3.0, params, crashes_restarts_partitions()));
        assert_safe(&report, seed);
        installs += outcome.run.records.iter().filter(|r| r.event_name() == Some("snapshot_installed")).count();
        restores += outcome.run.records.iter().filter(|r| r.event_name() == Some("snapshot_restored")).count();
    }
    assert!(installs > 10 && restores > 10, "{installs} installs, {restores} restores from snapshots (33 and 33)");
}

/// The schedule of `configs/raft-snapshot-unsafe.toml`: the leader and client 6 cut off for 2 s
/// (as `raft-old-leader`), every server snapshotting its whole log every 2 entries, committed or
/// not.
fn snapshot_unsafe(seed: u64) -> SimConfig {
    let params = json!({ "snapshot_threshold": 2, "unsafe_snapshot_uncommitted": true });
    raft(5, seed, 4.5, params, vec![lasting(1.5, 2.0, partition("isolate:leader+6"))])
}

/// Snapshotting uncommitted entries breaks State Machine Safety: at the config's seed, the cut
/// off leader's snapshot holds an entry of its term at an index where the new leader committed
/// another, and the checker names the index and both entries.
#[test]
fn snapshots_of_uncommitted_entries_break_state_machine_safety_and_the_checker_names_the_index() {
    let (_, report) = run(&snapshot_unsafe(1));
    let p = property(&report, "state_machine_safety");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.starts_with("at index 26: node 2 snapshotted the entry of term 2"), "{}", p.detail);
    assert!(p.detail.contains("node 3 snapshotted the entry of term 1"), "{}", p.detail);
}

/// The same schedule with the rule kept (only applied entries snapshotted): every property holds.
#[test]
fn the_same_schedule_with_committed_snapshots_holds() {
    for seed in 0..10 {
        let (_, report) = run(&raft(
            5,
            seed,
            4.5,
            json!({ "snapshot_threshold": 2 }),
            vec![lasting(1.5, 2.0, partition("isolate:leader+6"))],
        ));
        assert_safe(&report, seed);
    }
}

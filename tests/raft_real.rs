//! Raft with its key-value store on real node processes: the leader killed and restarted from its
//! data directory (`configs/raft.toml`), the old leader isolated and neutralized
//! (`configs/raft-partition.toml`), the old leader cut off with a client that keeps using it
//! (`configs/raft-old-leader.toml`), Figure 8's schedule and the nemesis for a few seconds,
//! Figure 8 with the unsafe rule from its config in the simulator, and membership changes with
//! spares (`configs/raft-membership.toml`), and a follower brought up by InstallSnapshot
//! (`configs/raft-snapshot.toml`). No process may be left behind.
//! `configs/raft-lease-read-drift.toml` is simulator-only (its file says why; its test is in
//! `algorithms/tests/consensus/raft.rs`).
//!
//! The runs go one at a time: several clusters at once on two cores would turn timeouts into
//! noise.

use algorithms::trace::What;
use clusterlab_e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The membership rules, `not_promised` in a run whose configuration never changes.
const MEMBERSHIP_RULES: [&str; 2] = ["one_change_at_a_time", "removed_leader_steps_down"];

/// The safety properties: what no timing may break.
const SAFETY: &[&str] = &[
    "election_safety",
    "leader_append_only",
    "log_matching",
    "leader_completeness",
    "state_machine_safety",
    "stale_leader_commits_nothing",
    "linearizable",
    "exactly_once",
];

/// Runs `configs/<name>.toml` on real processes (for `duration` if given); no node may be left
/// behind. Returns the exit code, the summary and the run directory.
fn real(name: &str, duration: Option<&str>) -> (Option<i32>, Value, PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("raft-{name}"));
    let out = scratch.path().join("runs");
    let config = format!("configs/{name}.toml");
    let mut args = vec!["run", &config, "--out", out.to_str().unwrap()];
    if let Some(d) = duration {
        args.extend(["--duration", d]);
    }
    let output = orchestrator(&args);
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{name}: nodes left behind");
    let summary = summary(&run_dir);
    let code = output.status.code();
    assert!(code == Some(0) || code == Some(1), "{name}: {}\n{}", text(&output.stdout), text(&output.stderr));
    (code, summary, run_dir, scratch)
}

fn verdict<'a>(summary: &'a Value, property: &str) -> &'a Value {
    let found = summary["properties"].as_array().unwrap().iter().find(|r| r["name"] == property);
    found.map_or(&Value::Null, |r| &r["verdict"])
}

/// Runs `configs/<name>.toml` on real processes; every property must hold (the membership rules
/// when `changes`, else they are not promised).
fn held(name: &str, changes: bool) -> (Value, PathBuf, Scratch) {
    let (code, summary, run_dir, scratch) = real(name, None);
    for p in algorithms::find("raft").unwrap().properties().iter().map(|p| p.name) {
        let want = if changes || !MEMBERSHIP_RULES.contains(&p) { "held" } else { "not_promised" };
        assert_eq!(verdict(&summary, p), &Value::from(want), "{name} {p}: {summary:#}");
    }
    assert_eq!(code, Some(0), "{name}: {summary:#}");
    (summary, run_dir, scratch)
}

/// Runs `configs/<name>.toml` for `duration` on real processes, where timing decides whether
/// liveness can be judged: every safety property holds, and nothing is violated.
fn safe(name: &str, duration: &str) -> Value {
    let (_, summary, _, _scratch) = real(name, Some(duration));
    for p in SAFETY {
        assert_eq!(verdict(&summary, p), &Value::from("held"), "{name} {p}: {summary:#}");
    }
    assert_ne!(summary["verdict"], "violated", "{name}: {summary:#}");
    summary
}

fn events(run_dir: &std::path::Path, node: u32, name: &str) -> Vec<Value> {
    let records = trace(run_dir, node).into_iter();
    records
        .filter_map(|r| match r.what {
            What::Event { name: n, data } if n == name => Some(data),
            _ => None,
        })
        .collect()
}

/// The leader is killed at 2 s and restarted at 3.5 s: it resumes from its data directory (its
/// second `log_restored` names a log of entries) and catches up as a follower, while clients
/// complete their operations through the new leader.
#[test]
fn a_killed_leader_restarts_from_its_data_directory_and_the_store_stays_linearizable() {
    let (summary, run_dir, _scratch) = held("raft", false);
    assert!(summary["metrics"]["messages_per_entry"]["commands"].as_u64().unwrap() > 50, "{summary:#}");
    let restarted: Vec<u32> = (1..=5).filter(|n| events(&run_dir, *n, "log_restored").len() == 2).collect();
    assert_eq!(restarted.len(), 1, "one server was restarted: {restarted:?}");
    let restored = &events(&run_dir, restarted[0], "log_restored")[1];
    assert!(restored["last_index"].as_u64().unwrap() > 0, "it recovered its log: {restored}");
    let applied = events(&run_dir, restarted[0], "applied_entry").len() as u64;
    assert!(applied > restored["last_index"].as_u64().unwrap(), "and applied past it after the restart");
}

/// `configs/raft-snapshot.toml`: node 3 is killed for 3 s while the leader snapshots every 20
/// entries; at its return the leader sends its snapshot, node 3 installs it (after persisting it
/// in its data directory) and catches up; every property holds across the snapshots, and the
/// summary lists the install.
#[test]
fn a_follower_behind_the_leaders_snapshot_is_brought_up_by_install_snapshot_on_real_processes() {
    let (summary, run_dir, _scratch) = held("raft-snapshot", false);
    let snapshots = &summary["metrics"]["snapshots"];
    assert!(snapshots["taken"].as_u64().unwrap() >= 6, "{summary:#}");
    let installs = snapshots["installed"].as_array().unwrap();
    assert!(installs.iter().any(|i| i["node"] == 3 && i["bytes"].as_u64().unwrap() > 0), "{summary:#}");
    let installed = events(&run_dir, 3, "snapshot_installed");
    let applied_after = events(&run_dir, 3, "applied_entry")
        .into_iter()
        .filter(|a| a["index"].as_u64() > installed[0]["index"].as_u64());
    assert!(applied_after.count() > 0, "node 3 applied entries past the snapshot it installed");
}

/// The leader, cut off from everyone, cannot commit; at the heal it sees the newer term and
/// steps down.
#[test]
fn an_isolated_leader_steps_down_at_the_heal() {
    let (_summary, run_dir, _scratch) = held("raft-partition", false);
    let deposed =
        (1..=5).flat_map(|n| events(&run_dir, n, "leader_lost")).filter(|d| d["reason"] == "higher term").count();
    assert!(deposed >= 1, "a leader was deposed by a higher term");
}

/// `configs/raft-membership.toml`: two spares added, the leadership transferred to node 1, node 1
/// removes itself while it leads, then the next leader does, while clients run; every property
/// holds, both removed leaders stepped down (node 1 one of them), and every command was accepted
/// (a refusal would be a problem, and the run not `held`).
#[test]
fn spares_are_added_and_two_leaders_remove_themselves_on_real_processes() {
    let (summary, run_dir, _scratch) = held("raft-membership", true);
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    let stepped: usize = (1..=5)
        .flat_map(|n| events(&run_dir, n, "leader_lost"))
        .filter(|d| d["reason"] == "removed from the configuration")
        .count();
    assert_eq!(stepped, 2, "two removed leaders stepped down");
    let node_1 = events(&run_dir, 1, "leader_lost");
    assert!(node_1.iter().any(|d| d["reason"] == "removed from the configuration"), "node 1 led, and was removed");
    let configs = events(&run_dir, 4, "config");
    assert!(configs.iter().any(|c| c["members"].as_array().is_some_and(|m| m.len() == 5)), "{configs:?}");
}

/// The leader cut off with client 6 (`configs/raft-old-leader.toml`): what it appended in its
/// stale term never commits; at the heal it steps down, those entries are truncated from its
/// log, and every client command among them is applied once, in a later leader's term. (Which
/// commands it holds depends on real timing: those of client 6, or of any client whose request
/// it appended just before the cut.)
#[test]
fn an_old_leader_cut_off_with_a_client_commits_nothing_and_its_entries_are_redone() {
    let (summary, run_dir, _scratch) = held("raft-old-leader", false);
    let metric = algorithms::check::Metric::of(&summary["metrics"]["deposed_entries"]);
    let algorithms::check::Metric::Deposed(deposed) = metric else { panic!("{summary:#}") };
    assert!(!deposed.deposed_entries.is_empty(), "the old leader appended entries it never committed: {summary:#}");
    for e in &deposed.deposed_entries {
        assert!(e.truncated.iter().any(|(node, _)| *node == e.leader), "truncated at the old leader: {e:?}");
        assert!(e.client.is_none() || e.redone.is_some(), "the client's command was applied once: {e:?}");
    }
    let leader = deposed.deposed_entries[0].leader;
    let deposed = events(&run_dir, leader, "leader_lost").iter().any(|d| d["reason"] == "higher term");
    assert!(deposed, "node {leader} stepped down on the higher term");
}

/// Figure 8's schedule (`configs/raft-figure8.toml`, leaders killed or cut off every 250 ms) on
/// real processes, for 5 s: the storm's real timing is not the simulator's, so which entries
/// are at risk differs from run to run, but with the rule of §5.4.2 no committed entry is ever
/// lost. Operations invoked in the last 6 s (operation_bound_ms) are not judged for liveness, so
/// at this length `operations_complete` has nothing to judge.
#[test]
fn figure_8_schedule_on_real_processes_loses_nothing_committed() {
    let summary = safe("raft-figure8", "5s");
    assert!(summary["metrics"]["messages_per_entry"]["commands"].as_u64().unwrap() > 0, "{summary:#}");
}

/// `configs/raft-nemesis.toml` for 7 s on real processes: a fault drawn from the seed at 1 s and
/// at 2 s, then recovery; safety holds.
#[test]
fn the_nemesis_on_real_processes_breaks_no_safety_property() {
    let summary = safe("raft-nemesis", "7s");
    let struck =
        summary["faults"].as_array().unwrap().iter().filter(|f| f["action"] != "run_start" && f["action"] != "run_end");
    assert!(struck.count() >= 2, "the nemesis struck: {summary:#}");
}

/// `configs/raft-figure8-unsafe.toml` at the seed it names: meant to fail, naming the committed
/// entry that a later leader overwrote.
#[test]
fn figure_8_with_the_unsafe_rule_fails_in_the_simulator_naming_the_overwritten_entry() {
    let scratch = Scratch::new("raft-figure8");
    let out = scratch.path().join("runs");
    let output =
        orchestrator(&["sim", "configs/raft-figure8-unsafe.toml", "--seed", "594", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("the committed entry at index 9 (term 4"), "{stdout}");
    assert!(stdout.contains("overwrote it on node"), "{stdout}");
}

/// Three servers and one idle client, up for live commands.
const RAFT_BY_HAND: &str = r#"
algorithm = "raft"
nodes = 3
duration = "30s"
[workload]
clients = 1
ops = 0
"#;

/// Thesis §3.10 by hand: `orchestrator cmd LEADER raft transfer-leadership M` on a cluster that is
/// up moves the leadership to M (the status names M as leader of a later term); a command at a
/// follower is refused naming the leader, a `--run` after NODE is refused saying where it goes.
#[test]
fn leadership_is_transferred_by_hand_on_a_cluster_that_is_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("raft-transfer-by-hand");
    let exp = scratch.write("exp.toml", RAFT_BY_HAND);
    let out = scratch.path().join("runs");
    let run = up_detached(&exp, &out);
    let run_arg = run.to_str().unwrap();
    let leader = |agreed: &dyn Fn(u32) -> bool| -> u32 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let s = orchestrator(&["status", "--leader", "--run", run_arg]);
            if let Ok(id) = text(&s.stdout).trim().parse::<u32>() {
                if agreed(id) {
                    return id;
                }
            }
            assert!(std::time::Instant::now() < deadline, "no leader agreed: {}", text(&s.stdout));
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let old = leader(&|_| true);
    let to = old % 3 + 1;
    let follower = to % 3 + 1;
    let (to_s, follower_s, old_s) = (to.to_string(), follower.to_string(), old.to_string());
    let refused = orchestrator(&["cmd", "--run", run_arg, &follower_s, "raft", "transfer-leadership", &to_s]);
    assert_eq!(refused.status.code(), Some(3), "{}{}", text(&refused.stdout), text(&refused.stderr));
    let misplaced = orchestrator(&["cmd", &old_s, "raft", "transfer-leadership", &to_s, "--run", run_arg]);
    assert_eq!(misplaced.status.code(), Some(2), "{}", text(&misplaced.stderr));
    assert!(text(&misplaced.stderr).contains("goes before NODE"), "{}", text(&misplaced.stderr));
    let moved = orchestrator(&["cmd", "--run", run_arg, &old_s, "raft", "transfer-leadership", &to_s]);
    assert_eq!(moved.status.code(), Some(0), "{}{}", text(&moved.stdout), text(&moved.stderr));
    assert!(text(&moved.stdout).contains(&format!("to node {to}")), "{}", text(&moved.stdout));
    assert_eq!(leader(&|id| id == to), to);
    let down = orchestrator(&["down", "--run", run_arg]);
    assert!(processes_mentioning(run_arg).is_empty(), "nodes left behind");
    let transfers = events(&run, old, "transfer");
    assert_eq!(transfers.first().map(|t| t["outcome"].clone()), Some("started".into()), "{}", text(&down.stdout));
}

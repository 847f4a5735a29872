//! Raft with its key-value store on real node processes: the leader killed and restarted from its
//! data directory (`configs/raft.toml`), the old leader isolated and neutralized
//! (`configs/raft-partition.toml`), and Figure 8 with the unsafe rule from its config in the
//! simulator, and membership changes with spares (`configs/raft-membership.toml`). No process may
//! be left behind.
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

/// Runs `configs/<name>.toml` on real processes; it must hold (the membership rules held too
/// when `changes`, else not promised).
fn held(name: &str, changes: bool) -> (Value, PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("raft-{name}"));
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", &format!("configs/{name}.toml"), "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{name}: nodes left behind");
    let summary = summary(&run_dir);
    assert_eq!(output.status.code(), Some(0), "{name}: {stdout}\n{}", text(&output.stderr));
    for p in algorithms::find("raft").unwrap().properties().iter().map(|p| p.name) {
        let found = summary["properties"].as_array().unwrap().iter().find(|r| r["name"] == p);
        let want = if changes || !MEMBERSHIP_RULES.contains(&p) { "held" } else { "not_promised" };
        assert_eq!(found.map(|r| &r["verdict"]), Some(&Value::from(want)), "{name} {p}: {summary:#}");
    }
    (summary, run_dir, scratch)
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

/// The leader, cut off from everyone, cannot commit; at the heal it sees the newer term and
/// steps down.
#[test]
fn an_isolated_leader_steps_down_at_the_heal() {
    let (_summary, run_dir, _scratch) = held("raft-partition", false);
    let deposed =
        (1..=5).flat_map(|n| events(&run_dir, n, "leader_lost")).filter(|d| d["reason"] == "higher term").count();
    assert!(deposed >= 1, "a leader was deposed by a higher term");
}

/// `configs/raft-membership.toml`: two spares added, then the leader removes itself twice while
/// clients run; every property holds, both removed leaders stepped down, and every command was
/// accepted (a refusal would be a problem, and the run not `held`).
#[test]
fn spares_are_added_and_two_leaders_remove_themselves_on_real_processes() {
    let (summary, run_dir, _scratch) = held("raft-membership", true);
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    let stepped: usize = (1..=5)
        .flat_map(|n| events(&run_dir, n, "leader_lost"))
        .filter(|d| d["reason"] == "removed from the configuration")
        .count();
    assert_eq!(stepped, 2, "two removed leaders stepped down");
    let configs = events(&run_dir, 4, "config");
    assert!(configs.iter().any(|c| c["members"].as_array().is_some_and(|m| m.len() == 5)), "{configs:?}");
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

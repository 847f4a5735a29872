//! The coordination service's recipes as shipped in `configs/zk-*.toml`: swept in the simulator
//! over a few seeds each as `orchestrator sim` reads them (held, or meant to fail with the message
//! that names why), the recipes on real node processes, and the service's own workload on real
//! processes (its history and its reconnects), with no process left behind.

use clusterlab_e2e::*;
use serde_json::Value;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `orchestrator sim configs/<config>.toml` with `args`: exit code and stdout.
fn sim(scratch: &Scratch, config: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = scratch.path().join("runs");
    let file = format!("configs/{config}.toml");
    let mut all = vec!["sim", file.as_str(), "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = orchestrator(&all);
    (output.status.code(), text(&output.stdout))
}

/// `orchestrator run configs/<config>.toml`: exit code, stdout and the summary.
fn real(scratch: &Scratch, config: &str) -> (Option<i32>, String, Value) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", &format!("configs/{config}.toml"), "--out", out.to_str().unwrap()]);
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{config}: nodes left behind");
    (output.status.code(), text(&output.stdout), summary(&run_dir))
}

fn property<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let p = summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name);
    p.unwrap_or_else(|| panic!("no {name}: {summary:#}"))
}

#[test]
fn the_lock_configs_in_the_simulator_hold_or_fail_as_they_say() {
    let scratch = Scratch::new("recipes-lock-sim");
    let (code, stdout) = sim(&scratch, "zk-lock", &["--seeds", "5"]);
    assert_eq!(code, Some(0), "held: {stdout}");
    let (code, stdout) = sim(&scratch, "zk-lock-herd", &["--seeds", "3"]);
    assert_eq!(code, Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("VIOLATED no_herd") && stdout.contains("the herd effect"), "{stdout}");
    let (code, stdout) = sim(&scratch, "zk-lock-paused", &["--seeds", "3"]);
    assert_eq!(code, Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("VIOLATED mutual_exclusion") && stdout.contains("without fencing"), "{stdout}");
}

#[test]
fn the_members_config_in_the_simulator_sees_the_killed_member_leave() {
    let scratch = Scratch::new("recipes-members-sim");
    let (code, stdout) = sim(&scratch, "zk-members", &["--seeds", "5"]);
    assert_eq!(code, Some(0), "held: {stdout}");
}

#[test]
fn the_election_config_in_the_simulator_hands_over_within_the_bound() {
    let scratch = Scratch::new("recipes-election-sim");
    let (code, stdout) = sim(&scratch, "zk-election", &["--seeds", "5"]);
    assert_eq!(code, Some(0), "held: {stdout}");
    let (code, _) = sim(&scratch, "zk-election", &["--seed", "1"]);
    assert_eq!(code, Some(0));
    let summary = summary(&latest_run(&scratch.path().join("runs")));
    assert_eq!(summary["metrics"]["election_ms"]["count"], 2, "the start and the takeover: {summary:#}");
}

/// The class exercise: P1 (node 4) holds, P2 (node 5) and P3 (node 6) wait; P2, with the lower
/// sequence number, gets the lock.
#[test]
fn the_class_exercise_is_answered_by_the_summary() {
    let scratch = Scratch::new("recipes-exercise");
    let (code, stdout) = sim(&scratch, "zk-lock-exercise", &["--seed", "1"]);
    assert_eq!(code, Some(0), "{stdout}");
    let handovers = &summary(&latest_run(&scratch.path().join("runs")))["metrics"]["handovers"];
    let first = handovers["first"][0].as_str().unwrap();
    assert!(
        first.starts_with("node 4 (n-0000000000) released; waiting: node 5 (n-0000000001), node 6 (n-0000000002)"),
        "{first}"
    );
    assert!(first.contains("node 5 (n-0000000001) got it") && first.contains("the lowest sequence number"), "{first}");
    assert_eq!(handovers["to_lowest"], handovers["handovers"], "{handovers:#}");
}

#[test]
fn the_counter_race_loses_updates_and_the_versioned_counter_none() {
    let scratch = Scratch::new("recipes-counter-sim");
    let (code, stdout) = sim(&scratch, "zk-counter-race", &["--seeds", "2"]);
    assert_eq!(code, Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("VIOLATED no_lost_updates") && stdout.contains("both read it and both wrote"), "{stdout}");
    let (code, stdout) = sim(&scratch, "zk-counter-versioned", &["--seeds", "2"]);
    assert_eq!(code, Some(0), "held: {stdout}");
}

/// `configs/zk-lock.toml` on real processes: the leader killed and restarted, then a client;
/// every property held, each release waking one waiter.
#[test]
fn the_lock_recipe_on_real_processes_holds_through_a_leader_and_a_client_kill() {
    let scratch = Scratch::new("recipes-lock-real");
    let (code, stdout, summary) = real(&scratch, "zk-lock");
    assert_eq!(code, Some(0), "{stdout}");
    for p in algorithms::find("zk-lock").unwrap().properties() {
        assert_eq!(property(&summary, p.name)["verdict"], "held", "{}: {stdout}", p.name);
    }
    assert!(property(&summary, "no_herd")["judged"].as_u64().unwrap() > 5, "{stdout}");
    assert_eq!(summary["metrics"]["notifications_per_release"]["max"], 1.0, "{stdout}");
}

/// `configs/zk-lock-paused.toml` on real processes: the holder stopped (SIGSTOP) past its
/// session timeout; the lock held by two, and the checker names the pitfall.
#[test]
fn a_paused_holder_on_real_processes_holds_the_lock_with_another() {
    let scratch = Scratch::new("recipes-paused-real");
    let (code, stdout, summary) = real(&scratch, "zk-lock-paused");
    assert_eq!(code, Some(1), "meant to fail: {stdout}");
    let me = property(&summary, "mutual_exclusion");
    assert_eq!(me["verdict"], "violated", "{stdout}");
    let detail = me["detail"].as_str().unwrap();
    assert!(detail.contains("Node 4's session expired") && detail.contains("without fencing"), "{detail}");
}

/// `configs/zk-members.toml` on real processes: member 6 SIGKILLed at 2 s leaves the watcher's
/// view about its session timeout later (less: the timeout runs from its last ping).
#[test]
fn a_killed_member_on_real_processes_leaves_the_watchers_view_within_its_session_timeout() {
    let scratch = Scratch::new("recipes-members-real");
    let (code, stdout, summary) = real(&scratch, "zk-members");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(property(&summary, "leave_seen")["verdict"], "held", "{stdout}");
    let vanish = summary["metrics"]["vanish_ms"]["max"].as_f64().unwrap();
    assert!(vanish > 100.0 && vanish < 2600.0, "{vanish} ms: {stdout}");
    assert_eq!(summary["metrics"]["session_timeout_ms"], 600, "{stdout}");
}

/// `configs/zk-election.toml` on real processes: the leader client killed, the next candidate
/// leads, every client agrees on it; the server leader killed too.
#[test]
fn the_election_on_real_processes_hands_over_when_the_leader_client_is_killed() {
    let scratch = Scratch::new("recipes-election-real");
    let (code, stdout, summary) = real(&scratch, "zk-election");
    assert_eq!(code, Some(0), "{stdout}");
    for name in ["single_leader", "stable_agreement", "election_within_bound"] {
        assert_eq!(property(&summary, name)["verdict"], "held", "{name}: {stdout}");
    }
    assert_eq!(summary["metrics"]["election_ms"]["count"], 2, "the start and the takeover: {stdout}");
}

/// `configs/zk-counter-race.toml` on real processes, meant to fail: get-then-set loses
/// increments (named as the course's race); `zk-counter-versioned.toml`: none lost, the bad
/// versions retried. The service's own properties hold in both.
#[test]
fn the_counter_race_on_real_processes_loses_updates_and_the_versioned_counter_none() {
    let scratch = Scratch::new("recipes-counter-real");
    let (code, stdout, summary) = real(&scratch, "zk-counter-race");
    assert_eq!(code, Some(1), "meant to fail: {stdout}");
    let lost = property(&summary, "no_lost_updates");
    assert_eq!(lost["verdict"], "violated", "{stdout}");
    assert!(lost["detail"].as_str().unwrap().contains("both read it and both wrote"), "{stdout}");
    assert!(summary["metrics"]["increments"]["lost"].as_u64().unwrap() > 0, "{stdout}");
    for name in ["linearizable_writes", "client_order", "reads_see_own_writes"] {
        assert_eq!(property(&summary, name)["verdict"], "held", "{name}: {stdout}");
    }
    let (code, stdout, summary) = real(&scratch, "zk-counter-versioned");
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(property(&summary, "no_lost_updates")["verdict"], "held", "{stdout}");
    let increments = &summary["metrics"]["increments"];
    assert_eq!(increments["lost"], 0, "{increments:#}");
    assert_eq!(increments["final"], increments["acknowledged"], "{increments:#}");
    assert!(increments["acknowledged"].as_u64().unwrap() > 10, "{increments:#}");
}

/// `configs/coordination.toml` on real processes (the service's own workload, the leader killed
/// and restarted): every property but primary_integrity held, a `history.jsonl` that
/// `orchestrator history check --model znode` finds linearizable, and a few reconnects per
/// client, not a storm (one loaded run once gave 70; see the README).
#[test]
fn the_coordination_run_on_real_processes_writes_a_linearizable_history_with_few_reconnects() {
    let scratch = Scratch::new("coordination-real");
    let (code, stdout, summary) = real(&scratch, "coordination");
    assert_eq!(code, Some(0), "{stdout}");
    for name in ["integrity", "total_order", "agreement", "linearizable_writes", "client_order", "reads_see_own_writes"]
    {
        assert_eq!(property(&summary, name)["verdict"], "held", "{name}: {stdout}");
    }
    let run_dir = latest_run(&scratch.path().join("runs"));
    let history = run_dir.join("history.jsonl");
    let check = orchestrator(&["history", "check", history.to_str().unwrap(), "--model", "znode"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    assert!(text(&check.stdout).contains("znode: linearizable"), "{}", text(&check.stdout));
    for client in 4..=6 {
        let trace = std::fs::read_to_string(run_dir.join(format!("node-{client}.jsonl"))).unwrap();
        let moves = trace.lines().filter(|l| l.contains("\"name\":\"reconnected\"")).count();
        assert!(moves <= 12, "client {client}: {moves} reconnects for one leader kill");
    }
}

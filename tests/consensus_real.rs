//! Paxos's experiments on real node processes, one at a time: the lone proposer decides with two
//! acceptors killed, the two backed-off proposers decide one value, Multi-Paxos serves its clients
//! through a leader's death and restart, and no process is left behind.
//! (The duel is shown by the simulator: real nodes start one after another, so one proposer
//! usually finishes before the other begins.)

use clusterlab_e2e::*;
use serde_json::Value;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `configs/<name>.toml` for `duration`; it must exit 0 (held). Returns the summary and the
/// learners' `learned` events.
fn decides(name: &str, duration: &str) -> (Value, Vec<(u32, Value)>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("consensus-{name}"));
    let out = scratch.path().join("runs");
    let config = format!("configs/{name}.toml");
    let output = orchestrator(&["run", &config, "--duration", duration, "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{name}:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("verdict: HELD"), "{stdout}");
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{name}: nodes left behind");
    let learned = (1..=5)
        .flat_map(|id| trace(&run_dir, id))
        .filter(|r| r.event_name() == Some("learned"))
        .map(|r| match r.what {
            algorithms::trace::What::Event { data, .. } => (r.node, data),
            _ => unreachable!(),
        })
        .collect();
    (summary(&run_dir), learned)
}

fn verdict<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let p = summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name);
    &p.unwrap_or_else(|| panic!("no {name}: {summary:#}"))["verdict"]
}

/// Runs `configs/<config>.toml` of `algorithm` whole: it must exit 0, leave no node behind and
/// hold every property the algorithm promises. Returns the run directory (inside `scratch`) and
/// the summary.
fn every_property_held(scratch: &Scratch, config: &str, algorithm: &str) -> (std::path::PathBuf, Value) {
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", &format!("configs/{config}.toml"), "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "nodes left behind");
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", text(&output.stderr));
    let summary = summary(&run_dir);
    for p in algorithms::find(algorithm).unwrap().properties() {
        assert_eq!(verdict(&summary, p.name), "held", "{}: {summary:#}", p.name);
    }
    (run_dir, summary)
}

/// The data of node `node`'s `name` events, in trace order.
fn events(run_dir: &std::path::Path, node: u32, name: &str) -> Vec<Value> {
    trace(run_dir, node)
        .into_iter()
        .filter_map(|r| match r.what {
            algorithms::trace::What::Event { name: n, data } if n == name => Some(data),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lone_proposer_decides_with_two_acceptors_killed() {
    let (summary, learned) = decides("paxos", "1s");
    for name in ["validity", "agreement", "integrity", "termination", "message_cost"] {
        assert_eq!(verdict(&summary, name), "held", "{name}: {summary:#}");
    }
    assert!(learned.len() >= 3, "the three live nodes learn: {learned:?}");
    assert!(learned.iter().all(|(_, d)| d["value"] == "v1"), "{learned:?}");
    let cost = &summary["metrics"]["messages_per_decision"];
    assert_eq!(cost["textbook"]["per_decision"], 32, "{cost:#}");
}

#[test]
fn two_proposers_with_random_backoff_decide_one_value() {
    let (summary, learned) = decides("paxos-backoff", "1s");
    assert_eq!(verdict(&summary, "termination"), "held", "{summary:#}");
    assert_eq!(learned.len(), 5, "{learned:?}");
    let first = &learned[0].1["value"];
    assert!(learned.iter().all(|(_, d)| &d["value"] == first), "{learned:?}");
}

/// `configs/multi-paxos.toml` on real processes: the leader is killed at 2 s and restarted from
/// its data directory at 3.5 s. Every property holds; a second leader ran phase 1; the restarted
/// server found its promise and accepted values and applied slots again after it; each command
/// cost about 2(N−1) = 8 messages; the report has the slot view.
#[test]
fn multi_paxos_serves_its_clients_through_the_leaders_death_and_restart() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("consensus-multi-paxos");
    let (run_dir, summary) = every_property_held(&scratch, "multi-paxos", "multi-paxos");
    let events = |node: u32, name: &str| events(&run_dir, node, name);
    let leaders: Vec<u32> = (1..=5).filter(|n| !events(*n, "elected").is_empty()).collect();
    assert!(leaders.len() >= 2, "a new leader after the kill: {leaders:?}");
    let restarted: Vec<u32> = (1..=5).filter(|n| events(*n, "restored").len() == 2).collect();
    assert_eq!(restarted.len(), 1, "one server restarted: {restarted:?}");
    let restored = &events(restarted[0], "restored")[1];
    assert!(restored["accepted"].as_u64().unwrap() > 0, "it recovered what it had accepted: {restored}");
    let cost = &summary["metrics"]["messages_per_command"];
    assert!(cost["commands"].as_u64().unwrap() > 50, "{cost:#}");
    let measured = cost["measured"].as_f64().unwrap();
    // Commands in flight when the leader died miss the Accepted of its acceptor and of whoever
    // had not answered yet, so the run's mean can dip a little under 2(N−1).
    assert!((7.0..=9.0).contains(&measured), "about 2(N−1) = 8 per command: {cost:#}");
    let report = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        report.contains(r#"<section id="slots"><h2>Slots</h2>"#) && report.contains("Leader changes"),
        "the slot view"
    );
}

/// `configs/multi-paxos-skip-adopt-unsafe.toml` at the seed it names: meant to fail, naming the
/// slot chosen twice.
#[test]
fn multi_paxos_without_adoption_fails_in_the_simulator_naming_the_slot() {
    let scratch = Scratch::new("multi-paxos-skip-adopt");
    let out = scratch.path().join("runs");
    let config = "configs/multi-paxos-skip-adopt-unsafe.toml";
    let output = orchestrator(&["sim", config, "--seed", "1", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("slot 40: cas k3 - → c8-18 (client 8, seq 18)"), "{stdout}");
}

/// `configs/zab.toml` on real processes: the leader is killed at 2 s and restarted from its data
/// directory at 3.5 s. Every property holds; a second leader was established in a higher epoch;
/// the restarted server found its history and was synchronized by the new leader; a write cost
/// at most 3(N−1) = 6 messages (fewer while one of the three servers was down).
#[test]
fn zab_serves_its_clients_through_the_leaders_death_and_restart() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("consensus-zab");
    let (run_dir, summary) = every_property_held(&scratch, "zab", "zab");
    let events = |node: u32, name: &str| events(&run_dir, node, name);
    let epochs: Vec<u64> =
        (1..=3).flat_map(|n| events(n, "established")).map(|e| e["epoch"].as_u64().unwrap()).collect();
    assert!(epochs.len() >= 2 && epochs.windows(2).any(|w| w[0] != w[1]), "a new leader after the kill: {epochs:?}");
    let restarted: Vec<u32> = (1..=3).filter(|n| events(*n, "restored").len() == 2).collect();
    assert_eq!(restarted.len(), 1, "one server restarted: {restarted:?}");
    let restored = &events(restarted[0], "restored")[1];
    assert!(restored["txns"].as_u64().unwrap() > 0, "it recovered its history: {restored}");
    assert!(!events(restarted[0], "synced").is_empty(), "and was synchronized on its return");
    let cost = &summary["metrics"]["messages_per_write"];
    assert!(cost["entries"].as_u64().unwrap() > 50, "{cost:#}");
    let measured = cost["measured"].as_f64().unwrap();
    assert!((4.0..=6.2).contains(&measured), "at most about 3(N−1) = 6 per write: {cost:#}");
}

/// `configs/zab-skip-sync-unsafe.toml` at the seed it names: meant to fail, naming the committed
/// transaction a returning server never delivers.
#[test]
fn zab_without_synchronization_fails_in_the_simulator_naming_the_lost_transaction() {
    let scratch = Scratch::new("zab-skip-sync");
    let out = scratch.path().join("runs");
    let config = "configs/zab-skip-sync-unsafe.toml";
    let output = orchestrator(&["sim", config, "--seed", "0", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "meant to fail: {stdout}");
    assert!(stdout.contains("node 1 delivered (2, 1) get k3 (client 6, seq 11)"), "{stdout}");
    assert!(stdout.contains("a committed transaction lost"), "{stdout}");
}

//! The catalogue's newer algorithms (issue 15) on real node processes, each experiment of
//! `configs/` cut short: the summary must say `held` with the figures its checker promises, and
//! no process may be left behind.
//!
//! The runs go one at a time: several clusters at once on two cores would turn timeouts into noise.

use clusterlab_e2e::*;
use serde_json::Value;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `configs/<config>.toml` for `duration` and returns its summary.
fn run(config: &str, duration: &str) -> Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(config);
    let out = scratch.path().join("runs");
    let file = format!("configs/{config}.toml");
    let output = orchestrator(&["run", &file, "--duration", duration, "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let run_dir = latest_run(&out);
    assert_eq!(output.status.code(), Some(0), "{config}: stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("verdict: HELD"), "{stdout}");
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{config}: nodes left behind");
    let summary = summary(&run_dir);
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    summary
}

fn property<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn raymond_on_seven_processes() {
    let summary = run("mutex-raymond", "3s");
    for name in ["mutual_exclusion", "liveness", "token_conservation", "message_cost"] {
        assert_eq!(property(&summary, name)["verdict"], "held", "{name}: {summary:#}");
    }
    let cost = &summary["metrics"]["messages_per_entry"];
    assert!(summary["metrics"]["entries"].as_u64().unwrap() > 5, "too few entries: {summary:#}");
    assert_eq!(cost["diameter"], 4, "the binary tree on 7 nodes: {cost:#}");
    assert!(cost["measured"].as_f64().unwrap() <= 8.0, "at most 2D per entry: {cost:#}");
}

#[test]
fn timestamp_election_through_a_leader_kill() {
    let summary = run("timestamp", "4s");
    for name in ["stable_agreement", "election_within_bound", "election_message_cost"] {
        assert_eq!(property(&summary, name)["verdict"], "held", "{name}: {summary:#}");
    }
    let cost = property(&summary, "election_message_cost");
    assert!(cost["judged"].as_u64().unwrap() >= 1, "the election after the kill is held to the formula: {cost:#}");
}

#[test]
fn dijkstra_ring_converges_after_every_node_is_corrupted() {
    let summary = run("dijkstra-ring", "3s");
    let corrupted = summary["faults"].as_array().unwrap().iter().filter(|f| f["action"] == "corrupt").count();
    assert_eq!(corrupted, 5, "every node corrupted at 1 s: {summary:#}");
    let converges = property(&summary, "converges");
    assert_eq!(converges["verdict"], "held", "{summary:#}");
    assert!(converges["judged"].as_u64().unwrap() >= 2, "the start and the corruption: {converges:#}");
    assert_eq!(property(&summary, "stays_stable")["verdict"], "held", "{summary:#}");
    let bound = summary["metrics"]["move_bound"].as_f64().unwrap();
    assert!(summary["metrics"]["moves_to_converge"]["max"].as_f64().unwrap() <= bound, "{summary:#}");
}

/// Both failure detectors on five processes through a kill, a pause and two jittery links: every
/// other node suspects the killed one (strong completeness over four observers), nobody correct is
/// suspected in the quiet tail, and the figures of the trade-off are in the summary.
#[test]
fn failure_detectors_through_a_kill_a_pause_and_jitter() {
    for config in ["detector-heartbeat", "detector-phi"] {
        let summary = run(config, "6500ms");
        let completeness = property(&summary, "strong_completeness");
        assert_eq!(completeness["judged"], 4, "{config}: {completeness:#}");
        assert_eq!(property(&summary, "eventual_strong_accuracy")["verdict"], "held", "{config}");
        let metrics = &summary["metrics"];
        assert_eq!(metrics["detection_ms"]["count"], 4, "{config}: {metrics:#}");
        assert!(metrics["false_suspicions_per_min"].is_number(), "{config}: {metrics:#}");
        assert_eq!(metrics["heartbeats_per_interval"]["textbook"], "N(N−1) = 20", "{config}: {metrics:#}");
    }
}

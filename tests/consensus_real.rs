//! Paxos's experiments on real node processes, one at a time: the lone proposer decides with two
//! acceptors killed, the two backed-off proposers decide one value, and no process is left behind.
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

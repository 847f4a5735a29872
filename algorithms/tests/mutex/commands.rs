//! The `acquire RESOURCE` / `release RESOURCE` / `state` commands a person drives a mutex with,
//! on every algorithm: here on a cluster of one, where each grant comes at once.

use crate::common::names;
use algorithms::algorithm::Family;
use algorithms::process::node_rng;
use algorithms::process::World;
use algorithms::{find, DynProcess, Effect};
use serde_json::{json, Value};

fn events(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event { name, data } if ["request", "enter_cs", "exit_cs"].contains(&name.as_str()) => {
                Some(format!("{name} {}", data["resource"].as_str().unwrap_or("")))
            }
            _ => None,
        })
        .collect()
}

fn command(p: &mut dyn DynProcess, now: u64, args: &[&str]) -> (Result<String, String>, Vec<Effect>) {
    let mut rng = node_rng(1, 1, 1);
    let world = World { me: 1, peers: &[], now, rng: &mut rng };
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    p.on_command(world, &args)
}

#[test]
fn acquire_enters_release_leaves_and_mistakes_are_refused() {
    let params = json!({ "workload": { "rate_per_s": 0.0, "resources": ["printer"] } });
    for name in names(Family::Mutex) {
        let mut p = find(name).unwrap().build(1, &[], &params).unwrap();
        let mut rng = node_rng(1, 1, 1);
        let effects = p.on_start(World { me: 1, peers: &[], now: 0, rng: &mut rng });
        assert!(!effects.iter().any(|e| matches!(e, Effect::SetTimer { name, .. } if name == "workload")));

        let (reply, effects) = command(p.as_mut(), 1, &["acquire", "printer"]);
        assert_eq!(reply, Ok("entered printer".into()), "{name}");
        assert_eq!(events(&effects), ["request printer", "enter_cs printer"], "{name}");
        assert_eq!(p.status().role, "in_cs", "{name}");
        assert!(command(p.as_mut(), 2, &["acquire", "printer"]).0.unwrap_err().contains("already holding"));

        let (state, _) = command(p.as_mut(), 3, &["state"]);
        let state: Value = serde_json::from_str(&state.unwrap()).unwrap();
        assert_eq!(state["client"]["held"], json!(["printer"]), "{name}: {state}");

        let (reply, effects) = command(p.as_mut(), 4, &["release", "printer"]);
        assert_eq!(reply, Ok("released printer".into()), "{name}");
        assert_eq!(events(&effects), ["exit_cs printer"], "{name}");
        assert_eq!(p.status().role, "idle", "{name}");
        assert!(command(p.as_mut(), 5, &["release", "printer"]).0.unwrap_err().contains("not holding"), "{name}");
        assert!(command(p.as_mut(), 6, &["lock"]).0.unwrap_err().contains("acquire RESOURCE"), "{name}");
    }
}

#[test]
fn token_algorithms_know_only_the_resources_they_have_tokens_for() {
    let params = json!({ "workload": { "rate_per_s": 0.0, "resources": ["printer"] } });
    for name in ["token-ring", "suzuki-kasami"] {
        let mut p = find(name).unwrap().build(1, &[], &params).unwrap();
        let err = command(p.as_mut(), 1, &["acquire", "scanner"]).0.unwrap_err();
        assert!(err.contains("params.workload.resources") && err.contains("printer"), "{name}: {err}");
    }
    // The others take any name, e.g. a row of a table.
    let mut p = find("lamport").unwrap().build(1, &[], &params).unwrap();
    let mut rng = node_rng(1, 1, 1);
    p.on_start(World { me: 1, peers: &[], now: 0, rng: &mut rng });
    assert_eq!(
        command(p.as_mut(), 1, &["acquire", "table:employees;row:15"]).0,
        Ok("entered table:employees;row:15".into())
    );
}

#[test]
fn bad_params_are_named() {
    for name in names(Family::Mutex) {
        let err = find(name).unwrap().build(1, &[2], &json!({ "workload": { "rate_per_s": -1.0 } })).err().unwrap();
        assert!(err.contains("params.workload.rate_per_s"), "{name}: {err}");
        let err = find(name).unwrap().build(1, &[2], &json!({ "wrokload": {} })).err().unwrap();
        assert!(err.contains("wrokload"), "{name}: {err}");
    }
    let err = find("central").unwrap().build(1, &[2], &json!({ "coordinator": 9 })).err().unwrap();
    assert!(err.contains("params.coordinator"), "{err}");
    let err = find("token-ring").unwrap().build(1, &[2], &json!({ "ack_timeout_ms": 0 })).err().unwrap();
    assert!(err.contains("params.ack_timeout_ms"), "{err}");
}

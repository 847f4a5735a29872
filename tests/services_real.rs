//! The replication family on real node processes: kv-single's servers and client nodes, the
//! run's `history.jsonl` from the clients' traces, the shared service properties in the summary,
//! the single point of failure named when node 1 is killed, and one operation issued by hand on a
//! cluster that is up. No process may be left behind.
//!
//! The runs go one at a time: several clusters at once on two cores would turn timeouts into
//! noise.

use clusterlab_e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `configs/<name>.toml` for `duration`; returns the exit code, summary and run directory.
fn run(name: &str, duration: &str) -> (Option<i32>, Value, PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("service-{name}"));
    let out = scratch.path().join("runs");
    let config = format!("configs/{name}.toml");
    let output = orchestrator(&["run", &config, "--duration", duration, "--out", out.to_str().unwrap()]);
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{name}: nodes left behind");
    let summary = summary(&run_dir);
    eprintln!("{name}: {}", text(&output.stdout));
    (output.status.code(), summary, run_dir, scratch)
}

fn verdict<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let p = summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name);
    &p.unwrap_or_else(|| panic!("{name}: {summary:#}"))["verdict"]
}

#[test]
fn kv_single_holds_and_its_clients_history_is_in_the_run_directory() {
    let (code, summary, run_dir, _scratch) = run("kv-single", "2s");
    assert_eq!(code, Some(0), "{summary:#}");
    for p in ["linearizable", "exactly_once", "operations_complete"] {
        assert_eq!(verdict(&summary, p), "held", "{p}: {summary:#}");
    }
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let processes: std::collections::BTreeSet<u64> =
        history.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["process"].as_u64().unwrap()).collect();
    assert_eq!(processes.into_iter().collect::<Vec<_>>(), vec![4, 5, 6], "the three client nodes");
    assert!(history.lines().count() > 100, "{} events", history.lines().count());
    let applied = trace(&run_dir, 1).iter().filter(|r| r.event_name() == Some("applied")).count();
    assert!(applied > 50, "node 1 applied {applied} commands");
    assert_eq!(trace(&run_dir, 2).iter().filter(|r| r.event_name() == Some("applied")).count(), 0);
}

#[test]
fn killing_node_1_stops_every_operation_though_a_majority_is_up() {
    let (code, summary, _run_dir, _scratch) = run("kv-single-crash", "4s");
    assert_eq!(code, Some(1), "meant to fail: {summary:#}");
    assert_eq!(verdict(&summary, "operations_complete"), "violated", "{summary:#}");
    assert_eq!(verdict(&summary, "linearizable"), "held", "{summary:#}");
    assert_eq!(verdict(&summary, "exactly_once"), "held", "{summary:#}");
}

const BY_HAND: &str = r#"
algorithm = "kv-single"
nodes = 3
duration = "30s"
[workload]
clients = 1
ops = 0
"#;

#[test]
fn one_operation_by_hand_on_a_cluster_that_is_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("service-by-hand");
    let exp = scratch.write("exp.toml", BY_HAND);
    let out = scratch.path().join("runs");
    let run = up_detached(&exp, &out);
    let cmd = |args: &[&str]| {
        let mut all = vec!["cmd", "--run", run.to_str().unwrap()];
        all.extend_from_slice(args);
        orchestrator(&all)
    };
    let put = cmd(&["4", "client", "put", "x", "1"]);
    assert_eq!(put.status.code(), Some(0), "{}{}", text(&put.stdout), text(&put.stderr));
    assert!(text(&put.stdout).contains("put x → ok \"1\""), "{}", text(&put.stdout));
    let get = cmd(&["4", "client", "get", "x"]);
    assert!(text(&get.stdout).contains("get x → ok \"1\""), "{}", text(&get.stdout));
    let cas = cmd(&["4", "client", "cas", "x", "2", "3"]);
    assert!(text(&cas.stdout).contains("→ fail"), "a cas from the wrong value fails: {}", text(&cas.stdout));
    let bad = cmd(&["4", "client", "put", "x"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(text(&bad.stderr).contains("put KEY VALUE"), "{}", text(&bad.stderr));
    let down = orchestrator(&["down", "--run", run.to_str().unwrap()]);
    assert!(processes_mentioning(run.to_str().unwrap()).is_empty(), "nodes left behind");
    let summary = summary(&run);
    assert_eq!(verdict(&summary, "linearizable"), "held", "{}{summary:#}", text(&down.stdout));
}

/// quorum: 5 replicas, 3 clients, majority quorums with write-back, replica 3 killed for a second.
#[test]
fn quorum_registers_hold_with_a_replica_killed_and_the_coordinators_report_versions() {
    let (_code, summary, run_dir, _scratch) = run("quorum", "3s");
    for p in ["linearizable", "exactly_once", "quorums_intersect", "message_cost"] {
        assert_eq!(verdict(&summary, p), "held", "{p}: {summary:#}");
    }
    // The coordinators (whichever servers the clients reached) recorded each answer's version.
    let done: usize =
        (1..=5).map(|s| trace(&run_dir, s).iter().filter(|r| r.event_name() == Some("done")).count()).sum();
    assert!(done > 50, "{done} operations answered with their versions");
}

//! Bring your own node (README, "Bring your own node"): the template algorithm of
//! `algorithms/src/template/` in the simulator and on real processes; the Rust Maelstrom node of
//! `tests/maelstrom/rust-node/` in a config (echo) and under `maelstrom test` (broadcast with
//! partitions); and the hygiene of bridged programs: a program started through `sh -c` that
//! leaves a helper behind is listed by `status`, paused with its whole tree, and leaves nothing
//! running after a kill and after the run. Runs go one at a time (two cores).

use clusterlab_e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn property<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let p = summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name);
    p.unwrap_or_else(|| panic!("{name}: {summary:#}"))
}

/// The README's commands, as a learner types them: `sim` over a few seeds, then one real run.
#[test]
fn the_template_gossip_runs_in_the_simulator_and_on_real_nodes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("byo-gossip");
    let out = scratch.path().join("runs");
    let sim = orchestrator(&["sim", "configs/gossip.toml", "--seeds", "5"]);
    assert_eq!(sim.status.code(), Some(0), "{}{}", text(&sim.stdout), text(&sim.stderr));
    let real = orchestrator(&["run", "configs/gossip.toml", "--out", out.to_str().unwrap()]);
    let printed = text(&real.stdout);
    assert_eq!(real.status.code(), Some(0), "{printed}{}", text(&real.stderr));
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "nodes left behind");
    let summary = summary(&run_dir);
    let agreement = property(&summary, "agreement");
    assert_eq!(agreement["verdict"], "held", "{summary:#}");
    assert!(agreement["judged"].as_u64().unwrap() >= 6, "three correct nodes' rumors at least: {agreement:#}");
    assert_eq!(property(&summary, "no_duplication")["verdict"], "held", "{summary:#}");
    assert_eq!(summary["metrics"]["textbook_messages_per_rumor"], 9.0, "{summary:#}");
}

/// The Rust Maelstrom node: `cargo test --workspace` builds it for its own test, `protocol.rs`.
fn rust_node() -> PathBuf {
    binary("maelstrom-node")
}

#[test]
fn the_rust_maelstrom_node_answers_echo_from_a_config() {
    rust_node();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("byo-rust-echo");
    let out = scratch.path().join("runs");
    let output =
        orchestrator(&["run", "configs/maelstrom-rust.toml", "--duration", "2s", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
    let run_dir = latest_run(&out);
    assert!(processes_mentioning("maelstrom-node").is_empty(), "programs left running");
    let summary = summary(&run_dir);
    let echo = property(&summary, "echo_matches");
    assert_eq!(echo["verdict"], "held", "{summary:#}");
    assert!(echo["judged"].as_u64().unwrap() > 20, "{echo:#}");
    let log = std::fs::read_to_string(run_dir.join("logs/node-1.log")).unwrap();
    assert!(log.contains("rust node n1 of 3 nodes"), "the program's stderr is in the node's log: {log}");
}

#[test]
fn the_rust_maelstrom_node_broadcasts_through_partitions() {
    let bin = rust_node();
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("byo-rust-broadcast");
    let out = scratch.path().join("runs");
    #[rustfmt::skip]
    let args = [
        "maelstrom", "test", "-w", "broadcast", "--bin", bin.to_str().unwrap(), "--node-count", "5",
        "--time-limit", "4", "--rate", "50", "--nemesis", "partition", "--nemesis-interval", "1",
        "--out", out.to_str().unwrap(),
    ];
    let output = orchestrator(&args);
    let printed = text(&output.stdout);
    assert!(processes_mentioning("maelstrom-node").is_empty(), "programs left running");
    assert_eq!(output.status.code(), Some(0), "{printed}{}", text(&output.stderr));
    assert!(printed.contains("broadcast_all_read     held") && printed.contains(":valid?       true"), "{printed}");
}

/// The live members of process group `pgid` and the state letter of each (`T` stopped), from
/// /proc; zombies are gone already and left out.
fn group(pgid: u32) -> Vec<(u32, char)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp ...: the fields after the last ')'.
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let state = fields.first().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && state != 'Z' {
            members.push((pid, state));
        }
    }
    members
}

#[test]
fn a_program_started_by_sh_is_listed_paused_whole_and_leaves_nothing_running() {
    if !require_tool("python3", "apt-get install python3") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A helper the program's shell leaves behind, named so that this test alone matches it.
    let helper = format!("sleep 1000.{}", std::process::id());
    let experiment = format!(
        "algorithm = \"maelstrom\"\nnodes = 2\n[params]\ncommand = [\"sh\", \"-c\", \"{helper} & exec python3 tests/maelstrom/echo.py\"]\ninit_timeout_ms = 10000\n[workload]\nmaelstrom = \"echo\"\nclients = 1\n"
    );
    let scratch = Scratch::new("byo-hygiene");
    let exp = scratch.write("exp.toml", &experiment);
    let out = scratch.path().join("runs");
    let run = up_detached(&exp, &out);
    let cli = |args: &[&str]| {
        let mut all = vec![args[0], "--run", run.to_str().unwrap()];
        all.extend_from_slice(&args[1..]);
        orchestrator(&all)
    };
    let check = || -> Result<(), String> {
        // `status` lists the program's instance on every server, running once it answered init.
        let deadline = Instant::now() + Duration::from_secs(15);
        let status: Value = loop {
            let status: Value =
                serde_json::from_slice(&cli(&["status", "--json"]).stdout).map_err(|e| e.to_string())?;
            let roles: Vec<&Value> =
                status["nodes"].as_array().unwrap().iter().take(2).map(|n| &n["view"]["role"]).collect();
            if roles.iter().all(|r| *r == "running") {
                break status;
            }
            if Instant::now() > deadline {
                return Err(format!("the program's instance is not listed as running: {status:#}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let node2 = status["nodes"][1]["pid"].as_u64().ok_or("node 2 has no pid")? as u32;
        let before = group(node2);
        if before.len() < 3 {
            return Err(format!("node 2's group should hold the node, python and the helper: {before:?}"));
        }
        // Pause: every process of the tree stops, the helper included; resume: they all go on.
        let paused = cli(&["pause", "2"]);
        if paused.status.code() != Some(0) {
            return Err(text(&paused.stderr));
        }
        std::thread::sleep(Duration::from_millis(200));
        let stopped = group(node2);
        cli(&["resume", "2"]);
        if stopped.iter().any(|(_, state)| *state != 'T') {
            return Err(format!("paused, yet not every process of node 2's tree is stopped: {stopped:?}"));
        }
        // Kill: the whole tree goes (the helper with it), the other node's helper stays.
        let killed = cli(&["kill", "2"]);
        if killed.status.code() != Some(0) {
            return Err(text(&killed.stderr));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !group(node2).is_empty() {
            if Instant::now() > deadline {
                return Err(format!("node 2 killed, its tree still runs: {:?}", group(node2)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = processes_mentioning(&helper);
        if left.len() != 1 {
            return Err(format!("node 1's helper alone should run: {left:?}"));
        }
        Ok(())
    };
    let result = check();
    let down = cli(&["down"]);
    assert!(
        processes_mentioning(&helper).is_empty(),
        "helpers left running after the run: {:?}",
        processes_mentioning(&helper)
    );
    assert!(processes_mentioning(run.to_str().unwrap()).is_empty(), "nodes left behind");
    result.unwrap_or_else(|e| panic!("{e}\n{}{}", text(&down.stdout), text(&down.stderr)));
}

/// The orchestrator SIGKILLed: nothing is left to kill the nodes' process groups, yet the nodes
/// die with it (`PR_SET_PDEATHSIG`), their programs with them, and each node's watchdog kills
/// what the programs started, on a running node and on a paused one (stopped, its group orphaned).
#[test]
fn the_orchestrator_sigkilled_leaves_no_program_and_no_helper_running() {
    if !require_tool("python3", "apt-get install python3") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let helper = format!("sleep 1000.{}1", std::process::id());
    let experiment = format!(
        "algorithm = \"maelstrom\"\nnodes = 2\n[params]\ncommand = [\"sh\", \"-c\", \"{helper} & exec python3 tests/maelstrom/echo.py\"]\ninit_timeout_ms = 10000\n[workload]\nmaelstrom = \"echo\"\nclients = 1\n"
    );
    let scratch = Scratch::new("byo-orchestrator-killed");
    let exp = scratch.write("exp.toml", &experiment);
    let out = scratch.path().join("runs");
    let up = orchestrator(&["up", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--detach"]);
    let said = text(&up.stdout);
    assert_eq!(up.status.code(), Some(0), "up: {said}{}", text(&up.stderr));
    let pid: i32 = said.split("orchestrator pid ").nth(1).and_then(|r| r.split(')').next()?.parse().ok()).expect(&said);
    let run = latest_run(&out);
    let cli = |args: &[&str]| {
        let mut all = vec![args[0], "--run", run.to_str().unwrap()];
        all.extend_from_slice(&args[1..]);
        orchestrator(&all)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while processes_mentioning(&helper).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status: Value = serde_json::from_slice(&cli(&["status", "--json"]).stdout).expect("status");
    let groups: Vec<u32> = (0..2).filter_map(|i| status["nodes"][i]["pid"].as_u64()).map(|p| p as u32).collect();
    let helpers = processes_mentioning(&helper).len();
    let paused = cli(&["pause", "2"]);
    std::thread::sleep(Duration::from_millis(200));
    let stopped = groups.get(1).map(|g| group(*g)).unwrap_or_default();
    let kill = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    let left = || {
        let mut left = processes_mentioning(&helper);
        left.extend(processes_mentioning(run.to_str().unwrap()));
        left.extend(groups.iter().flat_map(|g| group(*g)).map(|(p, state)| format!("{p} ({state})")));
        left
    };
    while !left().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = left();
    for g in &groups {
        // What the test left, should the watchdog have failed (the orchestrator cannot be asked).
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(*g as i32), nix::sys::signal::Signal::SIGKILL);
    }
    assert_eq!(groups.len(), 2, "{status:#}");
    assert_eq!(helpers, 2, "each node's program started its helper");
    assert_eq!(paused.status.code(), Some(0), "{}", text(&paused.stderr));
    assert!(stopped.len() >= 3 && stopped.iter().all(|(_, s)| *s == 'T'), "node 2's tree paused: {stopped:?}");
    assert!(kill.is_ok(), "SIGKILL to the orchestrator {pid}: {kill:?}");
    assert!(left.is_empty(), "left running after the orchestrator was SIGKILLed: {left:?}");
}

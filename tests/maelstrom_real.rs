//! Maelstrom-protocol programs as real clusterlab nodes: a Python echo node under the echo
//! workload, each message bridged through real TCP links and traced with its body's `type`; and
//! programs that exit at once, print garbage or never answer `init`, each a clear error naming the
//! node, with nothing left running. Runs go one at a time (two cores).

use clusterlab_e2e::*;
use serde_json::Value;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn python() -> bool {
    require_tool("python3", "apt-get install python3")
}

/// Runs an experiment whose program is `command` (a TOML array) for `duration`; returns the exit
/// code, everything the orchestrator printed, the summary and the run directory.
fn run(
    tag: &str,
    command: &str,
    workload: &str,
    duration: &str,
) -> (Option<i32>, String, Value, std::path::PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("maelstrom-{tag}"));
    let exp = format!(
        "algorithm = \"maelstrom\"\nnodes = 3\nduration = \"{duration}\"\n[params]\ncommand = {command}\ninit_timeout_ms = 1000\n[workload]\nmaelstrom = \"{workload}\"\nclients = 2\n"
    );
    let file = scratch.write("exp.toml", &exp);
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
    let run_dir = latest_run(&out);
    let summary = summary(&run_dir);
    (output.status.code(), printed, summary, run_dir, scratch)
}

fn verdict<'a>(summary: &'a Value, name: &str) -> &'a Value {
    let p = summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name);
    &p.unwrap_or_else(|| panic!("{name}: {summary:#}"))["verdict"]
}

#[test]
fn a_python_echo_node_answers_every_echo_through_the_bridge() {
    if !python() {
        return;
    }
    let marker = format!("echo-marker-{}", std::process::id());
    let command = format!("[\"python3\", \"tests/maelstrom/echo.py\", \"{marker}\"]");
    let (code, printed, summary, run_dir, _scratch) = run("echo", &command, "echo", "2s");
    assert!(processes_mentioning(&marker).is_empty(), "programs left running");
    assert_eq!(code, Some(0), "{printed}\n{summary:#}");
    assert_eq!(verdict(&summary, "echo_matches"), "held", "{summary:#}");
    assert_eq!(verdict(&summary, "ids_unique"), "not_promised", "{summary:#}");
    let replies: usize = (1..=3)
        .map(|id| {
            trace(&run_dir, id)
                .iter()
                .filter(|r| matches!(&r.what, algorithms::trace::What::Send { msg_type, .. } if msg_type == "echo_ok"))
                .count()
        })
        .sum();
    assert!(replies > 50, "the servers sent {replies} echo_ok");
    let log = std::fs::read_to_string(run_dir.join("logs/node-1.log")).unwrap();
    assert!(log.contains("echo node n1 of ['n1', 'n2', 'n3']"), "the program's stderr is in the node's log: {log}");
}

#[test]
fn a_program_that_exits_prints_garbage_or_never_answers_is_named_and_nothing_is_left() {
    if !python() {
        return;
    }
    let marker = format!("bad-marker-{}", std::process::id());
    let cases = [
        (
            "exits",
            "import sys; print('no config here', file=sys.stderr); sys.exit(3)",
            "exited before answering init (exit status: 3)",
        ),
        (
            "garbage",
            "import time; print('hello, world', flush=True); time.sleep(30)",
            "printed something that is not a Maelstrom message before init_ok: \"hello, world\"",
        ),
        ("silent", "import time; time.sleep(30)", "did not answer init with init_ok within 1000 ms"),
    ];
    for (tag, code, says) in cases {
        let command = format!("[\"python3\", \"-c\", \"{code}\", \"{marker}\"]");
        let (exit, printed, summary, _run_dir, _scratch) = run(tag, &command, "echo", "2s");
        assert!(processes_mentioning(&marker).is_empty(), "{tag}: programs left running");
        assert_ne!(exit, Some(0), "{tag}: {printed}");
        assert!(printed.contains("node 1: the program") && printed.contains(says), "{tag}: {printed}");
        assert_ne!(summary["verdict"], "held", "{tag}: {summary:#}");
    }
}

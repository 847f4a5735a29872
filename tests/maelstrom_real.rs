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
    init_timeout_ms: u64,
    command: &str,
    workload: &str,
    duration: &str,
    extra: &str,
) -> (Option<i32>, String, Value, std::path::PathBuf, Scratch) {
    run_with(tag, init_timeout_ms, command, workload, duration, extra, "")
}

/// [`run`], with `workload_extra` lines added to the `[workload]` table.
fn run_with(
    tag: &str,
    init_timeout_ms: u64,
    command: &str,
    workload: &str,
    duration: &str,
    extra: &str,
    workload_extra: &str,
) -> (Option<i32>, String, Value, std::path::PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("maelstrom-{tag}"));
    let exp = format!(
        "algorithm = \"maelstrom\"\nnodes = 3\nduration = \"{duration}\"\n{extra}\n[params]\ncommand = {command}\ninit_timeout_ms = {init_timeout_ms}\n[workload]\nmaelstrom = \"{workload}\"\nclients = 2\n{workload_extra}"
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
    let (code, printed, summary, run_dir, _scratch) = run("echo", 5000, &command, "echo", "2s", "");
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
        // Python can take a second to start on a loaded machine: only the silent one is timed out.
        let init_timeout_ms = if tag == "silent" { 1000 } else { 10_000 };
        let (exit, printed, summary, _run_dir, _scratch) = run(tag, init_timeout_ms, &command, "echo", "2s", "");
        assert!(processes_mentioning(&marker).is_empty(), "{tag}: programs left running");
        assert_ne!(exit, Some(0), "{tag}: {printed}");
        assert!(printed.contains("node 1: the program") && printed.contains(says), "{tag}: {printed}");
        assert_ne!(summary["verdict"], "held", "{tag}: {summary:#}");
    }
}

#[test]
fn clients_start_only_once_every_program_has_answered_init() {
    if !python() {
        return;
    }
    let marker = format!("slow-marker-{}", std::process::id());
    // Each program takes 1.5 s (and Python's start) before it answers init; an operation sent
    // before that would wait longer than the workload's timeout and be indeterminate.
    let command = format!("[\"sh\", \"-c\", \"sleep 1.5; exec python3 tests/maelstrom/echo.py {marker}\"]");
    let (code, printed, summary, run_dir, _scratch) =
        run_with("slow-init", 10_000, &command, "echo", "4s", "", "timeout = \"1s\"\n");
    assert!(processes_mentioning(&marker).is_empty(), "programs left running");
    assert_eq!(code, Some(0), "{printed}\n{summary:#}");
    assert_eq!(verdict(&summary, "echo_matches"), "held", "{summary:#}");
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let ops: Vec<Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(ops.iter().filter(|op| op["type"] == "ok").count() > 10, "{history}");
    let info: Vec<&Value> = ops.iter().filter(|op| op["type"] == "info").collect();
    assert!(info.is_empty(), "operations lost to the programs' start-up: {info:?}");
    assert!(summary["metrics"].get("operations_info").is_none(), "{summary:#}");
    // Every program was ready before any client sent its first operation.
    let ready = (1..=3)
        .map(|id| trace(&run_dir, id).iter().find(|r| r.event_name() == Some("program_ready")).expect("ready").t)
        .max()
        .unwrap();
    let first_op = (4..=5)
        .filter_map(|id| trace(&run_dir, id).iter().find(|r| r.event_name() == Some("op")).map(|r| r.t))
        .min()
        .expect("the clients ran operations");
    assert!(first_op > ready, "a client's first operation at {first_op}, the last program ready at {ready}");
}

#[test]
fn a_killed_node_takes_its_program_along_and_a_restart_starts_it_again() {
    if !python() {
        return;
    }
    let marker = format!("kill-marker-{}", std::process::id());
    let command = format!("[\"python3\", \"tests/maelstrom/echo.py\", \"{marker}\"]");
    // Late enough that the first program is up even when Python starts slowly.
    let kill = "[[faults]]\nat = \"2500ms\"\naction = \"kill\"\nnode = 2\nfor = \"700ms\"\n";
    let (code, printed, summary, run_dir, _scratch) = run("kill", 10_000, &command, "echo", "4500ms", kill);
    assert!(processes_mentioning(&marker).is_empty(), "programs left running");
    assert_eq!(code, Some(0), "{printed}\n{summary:#}");
    let node2 = trace(&run_dir, 2);
    let ready = node2.iter().filter(|r| r.event_name() == Some("program_ready")).count();
    assert_eq!(ready, 2, "node 2's program started, was killed with it, and started again");
    let log = std::fs::read_to_string(run_dir.join("logs/node-2.log")).unwrap();
    assert_eq!(log.matches("echo node n2 of").count(), 2, "two programs, one per incarnation: {log}");
}

/// `orchestrator maelstrom test -w <workload> --bin <program>` with `extra` flags; returns the exit
/// code and what it printed.
fn maelstrom_test(tag: &str, workload: &str, program: &str, extra: &[&str]) -> (Option<i32>, String, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("maelstrom-{tag}"));
    let out = scratch.path().join("runs");
    let mut args = vec!["maelstrom", "test", "-w", workload, "--bin", program, "--out", out.to_str().unwrap()];
    args.extend(extra);
    let output = orchestrator(&args);
    assert!(processes_mentioning(program).is_empty(), "{tag}: programs left running");
    (output.status.code(), text(&output.stdout), scratch)
}

/// A broadcast program on 5 nodes under the partition nemesis. The forward-once program loses a
/// value only when a broadcast is acknowledged during a partition, and the checker judges only
/// values acknowledged a settle time (1 s) before a server's last read: at 50 operations a second
/// with 1 s timeouts a client that picked an unreachable server waited out most partitions, and
/// one run in three acknowledged nothing inside one (so it held). At 100 a second with 300 ms
/// timeouts each of 12 runs lost a value (4 of them beside two busy loops) and the gossiping
/// program held in each of 12.
fn broadcast(tag: &str, program: &str) -> (Option<i32>, String, Scratch) {
    #[rustfmt::skip]
    let flags = [
        "--node-count", "5", "--time-limit", "5", "--rate", "100", "--timeout", "0.3",
        "--nemesis", "partition", "--nemesis-interval", "1",
    ];
    maelstrom_test(tag, "broadcast", program, &flags)
}

#[test]
fn a_gossiping_broadcast_survives_partitions_and_one_that_forwards_once_loses_a_value() {
    if !python() {
        return;
    }
    let (code, printed, _scratch) = broadcast("gossip", "tests/maelstrom/broadcast.py");
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("broadcast_all_read     held") && printed.contains("Everything looks good!"), "{printed}");
    assert!(printed.contains(":net          {:servers {:msgs-per-op "), "{printed}");
    let (code, printed, _scratch) = broadcast("lossy", "tests/maelstrom/broadcast_lossy.py");
    assert_eq!(code, Some(1), "{printed}");
    let says = printed.lines().find(|l| l.contains("broadcast_all_read")).unwrap_or_default();
    assert!(says.contains("VIOLATED value ") && says.contains(" was never read at n"), "{printed}");
    assert!(printed.contains(":valid?       false"), "{printed}");
}

/// Three nodes for a few seconds; operations may wait 2 s (a loaded machine is slow to answer).
const SHORT: [&str; 8] = ["--node-count", "3", "--time-limit", "5", "--rate", "30", "--timeout", "2"];

#[test]
fn a_g_counter_over_seq_kv_reads_every_acknowledged_add() {
    if !python() {
        return;
    }
    let (code, printed, _scratch) = maelstrom_test("g-counter", "g-counter", "tests/maelstrom/g_counter.py", &SHORT);
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("counter_final_reads    held"), "{printed}");
    assert!(printed.contains(":services {:msgs-per-op "), "the seq-kv traffic is traced and counted: {printed}");
}

#[test]
fn a_lin_kv_proxy_is_linearizable_and_one_that_caches_reads_is_not() {
    if !python() {
        return;
    }
    let (code, printed, _scratch) = maelstrom_test("lin-kv", "lin-kv", "tests/maelstrom/lin_kv.py", &SHORT);
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("linearizable           held"), "{printed}");
    let mut cached = SHORT.to_vec();
    cached.extend(["--arg", "--cache-reads"]);
    let (code, printed, _scratch) = maelstrom_test("lin-kv-cached", "lin-kv", "tests/maelstrom/lin_kv.py", &cached);
    assert_eq!(code, Some(1), "{printed}");
    let says = printed.lines().find(|l| l.contains(" linearizable ")).unwrap_or_default();
    assert!(says.contains("VIOLATED key ") && says.contains("cannot take effect there"), "{printed}");
}

#[test]
fn the_maelstrom_command_line_refuses_bad_flags_with_exit_2() {
    for (args, says) in [
        (vec!["-w", "kafka", "--bin", "tests/maelstrom/echo.py"], "--workload: unknown workload \"kafka\""),
        (vec!["-w", "echo", "--bin", "tests/maelstrom/none.py"], "--bin: tests/maelstrom/none.py"),
        (
            vec!["-w", "echo", "--bin", "tests/maelstrom/echo.py", "--nemesis", "flood"],
            "--nemesis: unknown fault \"flood\"",
        ),
        (vec!["-w", "echo", "--bin", "tests/maelstrom/echo.py", "--concurrency", "xn"], "--concurrency: \"xn\""),
    ] {
        let scratch = Scratch::new("maelstrom-flags");
        let out = scratch.path().join("runs");
        let mut all = vec!["maelstrom", "test", "--out", out.to_str().unwrap()];
        all.extend(args);
        let output = orchestrator(&all);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains(says), "{}", text(&output.stderr));
    }
}

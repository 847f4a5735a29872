//! A run that was not observed whole is never `held`: a missing or torn trace, a node that exited
//! on its own, a fault whose undo failed. Each is listed as a problem in the summary and the
//! report, and leaves the verdict at best `unknown`.

use clusterlab_e2e::*;
use std::time::{Duration, Instant};

/// A simulated bully run that holds, written to a scratch directory: its run directory.
fn held_run(scratch: &Scratch) -> std::path::PathBuf {
    let out = scratch.path().join("runs");
    let output = orchestrator(&["sim", "configs/bully.toml", "--seed", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
    let run = latest_run(&out);
    assert_eq!(summary(&run)["verdict"], "held");
    run
}

/// `orchestrator report` on a run whose summary is gone judges its traces again.
fn rejudge(run: &std::path::Path) -> (serde_json::Value, String) {
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let output = orchestrator(&["report", run.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    (summary(run), text(&output.stderr))
}

fn problems(summary: &serde_json::Value) -> Vec<String> {
    summary["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_missing_trace_leaves_the_verdict_unknown() {
    let scratch = Scratch::new("damaged-missing");
    let run = held_run(&scratch);
    std::fs::remove_file(run.join("node-2.jsonl")).unwrap();
    let (summary, stderr) = rejudge(&run);
    assert_eq!(summary["verdict"], "unknown", "{summary:#}");
    assert!(problems(&summary).iter().any(|p| p.contains("node-2.jsonl")), "{summary:#}");
    assert!(stderr.contains("problem:") && stderr.contains("node-2.jsonl"), "{stderr}");
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains("Problems around the run") && page.contains("node-2.jsonl"));
}

#[test]
fn a_torn_trace_line_is_named_by_file_and_line_and_leaves_the_verdict_unknown() {
    let scratch = Scratch::new("damaged-torn");
    let run = held_run(&scratch);
    let path = run.join("node-1.jsonl");
    let mut trace = std::fs::read_to_string(&path).unwrap();
    let lines = trace.lines().count();
    trace.push_str("{\"t\":12,\"node\":1,\"lc\":");
    std::fs::write(&path, trace).unwrap();
    let (summary, _) = rejudge(&run);
    assert_eq!(summary["verdict"], "unknown", "{summary:#}");
    let named = format!("node-1.jsonl line {}", lines + 1);
    assert!(problems(&summary).iter().any(|p| p.contains(&named)), "want {named:?}: {summary:#}");
}

#[test]
fn a_torn_fault_log_line_is_a_problem_too() {
    let scratch = Scratch::new("damaged-faultlog");
    let run = held_run(&scratch);
    let path = run.join("orchestrator.jsonl");
    let mut log = std::fs::read_to_string(&path).unwrap();
    log.push_str("{\"t\":99,\"action\":\"ki\n");
    std::fs::write(&path, log).unwrap();
    let (summary, _) = rejudge(&run);
    assert_eq!(summary["verdict"], "unknown", "{summary:#}");
    assert!(problems(&summary).iter().any(|p| p.contains("orchestrator.jsonl line")), "{summary:#}");
}

#[test]
fn a_report_of_a_summarised_run_adds_damage_found_later() {
    let scratch = Scratch::new("damaged-later");
    let run = held_run(&scratch);
    std::fs::remove_file(run.join("node-3.jsonl")).unwrap();
    let output = orchestrator(&["report", run.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stderr).contains("node-3.jsonl"), "{}", text(&output.stderr));
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains("node-3.jsonl"), "the page lists the problem");
}

const BULLIES: &str = r#"
algorithm = "bully"
nodes = 3
seed = 5
duration = "4s"
[params]
heartbeat_ms = 40
"#;

#[test]
fn a_node_that_exits_on_its_own_is_a_problem_and_no_run_is_held_with_it() {
    let scratch = Scratch::new("damaged-exit");
    let exp = scratch.write("exp.toml", BULLIES);
    let out = scratch.path().join("runs");
    let child = spawn_run(&exp, &out);
    // Node 1 (not the leader: bully's leader is 3) dies behind the orchestrator's back.
    let deadline = Instant::now() + Duration::from_secs(20);
    let victim = loop {
        let found = processes_mentioning(out.to_str().unwrap());
        let node = found.iter().filter(|line| line.contains("node-1.toml"));
        if let Some(pid) = node.filter_map(|line| line.split(':').next()?.parse::<i32>().ok()).next() {
            break pid;
        }
        assert!(Instant::now() < deadline, "node 1 never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", text(&output.stderr));
    let summary = summary(&latest_run(&out));
    assert_eq!(summary["verdict"], "unknown", "{summary:#}");
    assert!(problems(&summary).iter().any(|p| p.contains("node 1 exited unexpectedly")), "{summary:#}");
    assert!(stdout.contains("problem: node 1 exited unexpectedly") && stdout.contains("verdict: UNKNOWN"), "{stdout}");
}

#[test]
fn a_fault_whose_undo_failed_is_a_problem() {
    let scratch = Scratch::new("damaged-undo");
    // Killed for 1 s, but restarted by hand at 1.5 s: the undo at 2 s finds it running.
    let exp = scratch.write(
        "exp.toml",
        &format!(
            "{BULLIES}\n[[faults]]\nat = \"1s\"\naction = \"kill\"\nnode = 1\nfor = \"1s\"\n\n[[faults]]\nat = \"1500ms\"\naction = \"restart\"\nnode = 1\n"
        ),
    );
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}{}", text(&output.stdout), text(&output.stderr));
    let summary = summary(&latest_run(&out));
    assert_eq!(summary["verdict"], "unknown", "{summary:#}");
    assert!(problems(&summary).iter().any(|p| p.contains("undo") && p.contains("failed")), "{summary:#}");
}

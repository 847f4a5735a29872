//! Bully on five real node processes: the leader is SIGKILLed mid-run, a new leader is elected,
//! the summary says `held`, and nothing is left running afterwards, even after Ctrl-C.

use algorithms::trace::What;
use clusterlab_e2e::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn five_nodes_elect_again_after_the_leader_is_killed() {
    let scratch = Scratch::new("bully-kill");
    let out = scratch.path().join("runs");
    let exp = scratch.write(
        "kill.toml",
        r#"
algorithm = "bully"
nodes = 5
seed = 7
duration = "4s"

[[faults]]
at = "1500ms"
action = "kill"
node = "leader"
"#,
    );
    let output = orchestrator(&["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let run_dir = latest_run(&out);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("verdict: HELD"), "{stdout}");
    assert!(stdout.contains(&run_dir.file_name().unwrap().to_string_lossy().to_string()), "{stdout}");

    let summary = summary(&run_dir);
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    assert_eq!(summary["algorithm"], "bully");
    assert_eq!(summary["nodes"], 5);
    assert_eq!(summary["seed"], 7);
    assert!(summary["messages"]["total"].as_u64().unwrap() > 0);
    assert!(summary["messages"]["by_type"]["coordinator"].as_u64().unwrap() >= 4);
    let kill = summary["faults"].as_array().unwrap().iter().find(|f| f["action"] == "kill").expect("a kill");
    assert_eq!(kill["node"], 5, "node 5 leads first: {kill}");
    assert_eq!(kill["was_leader"], true);
    assert!(summary["metrics"]["election_ms"]["count"].as_u64().unwrap() >= 2, "{summary:#}");

    // Node 4 took over after node 5 died, and every live node learned it.
    let killed_at =
        algorithms::faults::parse_fault_lines(&std::fs::read_to_string(run_dir.join("orchestrator.jsonl")).unwrap())
            .into_iter()
            .find(|f| matches!(f.fault, algorithms::faults::AppliedFault::Kill { .. }))
            .unwrap()
            .t;
    let elected_4 = trace(&run_dir, 4).into_iter().any(|r| r.t > killed_at && r.event_name() == Some("elected"));
    assert!(elected_4, "node 4 should be elected after the kill");
    for id in 1..=3 {
        let follows_4 = trace(&run_dir, id).into_iter().any(|r| {
            r.t > killed_at && matches!(&r.what, What::Event { name, data } if name == "leader" && data["leader"] == 4)
        });
        assert!(follows_4, "node {id} should follow node 4");
    }
    assert!(run_dir.join("experiment.toml").is_file());
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty());
}

#[test]
fn ctrl_c_stops_the_nodes_and_leaves_complete_traces() {
    let scratch = Scratch::new("bully-sigint");
    let out = scratch.path().join("runs");
    let child = Command::new(binary("orchestrator"))
        .args(["run", "configs/bully.toml", "--duration", "60s", "--nodes", "3", "--out"])
        .arg(&out)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has started: every node has traced its start.
    let started = Instant::now();
    let run_dir = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "the run did not start");
        if let Ok(target) = std::fs::read_link(out.join("latest")) {
            let dir = out.join(target);
            let up = (1..=3).all(|id| {
                std::fs::read_to_string(dir.join(format!("node-{id}.jsonl"))).is_ok_and(|t| t.contains("\"leader\""))
            });
            if up {
                break dir;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "stderr:\n{}", text(&output.stderr));
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "nodes left behind");
    for id in 1..=3 {
        let records = trace(&run_dir, id);
        assert!(matches!(records.last().unwrap().what, What::Stop { .. }), "node {id}'s trace ends with stop");
    }
    let summary = summary(&run_dir);
    assert_eq!(summary["interrupted"], true);
}

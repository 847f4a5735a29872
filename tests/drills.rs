//! The failure drills in scripts/ run as a user would run them, against the built binaries.

use clusterlab_e2e::*;
use std::process::Command;

fn drill(name: &str) {
    let scratch = Scratch::new(name);
    let output = Command::new("bash")
        .arg(repo().join("scripts").join(format!("{name}.sh")))
        .env("ORCH", binary("orchestrator"))
        .env("OUT", scratch.path())
        .env("NODES", "3")
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    assert!(stdout.starts_with(&format!("PASS {name}:")), "{stdout}");
    // `down` answers once the nodes are gone; the orchestrator itself exits right after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !processes_mentioning(scratch.path().to_str().unwrap()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the drill left processes behind");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn drill_kill_leader() {
    drill("drill-kill-leader");
}

#[test]
fn drill_minority_leader() {
    drill("drill-minority-leader");
}

#[test]
fn drill_flapping() {
    drill("drill-flapping");
}

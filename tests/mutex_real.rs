//! Every mutual exclusion experiment in `configs/` on real node processes, cut to 3 s: the
//! summary must say `held`, the figures the checkers promise must be there, and no process may
//! be left behind. The token ring's kill is aimed at the holder on a live cluster: the lost token
//! must be regenerated exactly once.
//!
//! The runs go one at a time: six clusters at once on two cores would turn timeouts into noise.

use algorithms::faults::{parse_fault_lines, AppliedFault};
use algorithms::trace::What;
use clusterlab_e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `configs/mutex-<name>.toml` for 3 s and returns its summary and run directory.
fn run(name: &str) -> (Value, PathBuf, Scratch) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new(&format!("mutex-{name}"));
    let out = scratch.path().join("runs");
    let config = format!("configs/mutex-{name}.toml");
    let output = orchestrator(&["run", &config, "--duration", "3s", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let run_dir = latest_run(&out);
    assert_eq!(output.status.code(), Some(0), "{name}: stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("verdict: HELD"), "{stdout}");
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "{name}: nodes left behind");
    let summary = summary(&run_dir);
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    assert!(summary["metrics"]["entries"].as_u64().unwrap() > 5, "{name}: too few entries: {summary:#}");
    assert!(summary["metrics"]["wait_ms"]["max"].as_f64().is_some(), "{summary:#}");
    (summary, run_dir, scratch)
}

fn property<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["properties"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"))
}

fn per_entry(summary: &Value) -> f64 {
    summary["metrics"]["messages_per_entry"]["measured"].as_f64().unwrap()
}

#[test]
fn central() {
    let (summary, _, _s) = run("central");
    assert_eq!(property(&summary, "fifo_grants")["verdict"], "held");
    assert!((2.8..=3.1).contains(&per_entry(&summary)), "{summary:#}");
}

/// The token ring of `configs/mutex-token-ring.toml` without its scheduled kill: the test aims the
/// kill itself, at the holder as `status` reports it.
const TOKEN_RING: &str = r#"
algorithm = "token-ring"
nodes = 5
seed = 1
duration = "30s"
[params]
initial_holder = 1
pass_delay_ms = 2
ack_timeout_ms = 250
loss_timeout_ms = 400
workload = { rate_per_s = 2.0, hold_ms = 150, resources = ["printer"] }
"#;

/// The token ring's regeneration, exercised for sure: node 3 acquires the token by hand (it
/// keeps it, inside its critical section, until released), `status` must report it as the one
/// holder, and only then is it killed. The test fails, rather than passing vacuously, if the
/// holder cannot be found or the killed node did not hold the token when it died.
#[test]
fn token_ring_regenerates_the_token_lost_with_its_killed_holder() {
    const HOLDER: u32 = 3;
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new("mutex-token-ring-kill");
    let exp = scratch.write("token-ring.toml", TOKEN_RING);
    let out = scratch.path().join("runs");
    let run_dir = up_detached(&exp, &out);
    let run = run_dir.to_str().unwrap();
    // A live command on this cluster (`--run` goes first: `cmd` takes trailing args).
    let live = |args: &[&str]| {
        let mut all = vec![args[0], "--run", run];
        all.extend_from_slice(&args[1..]);
        orchestrator(&all)
    };
    // However the test ends, the cluster goes down.
    struct Down<'a>(&'a dyn Fn(&[&str]) -> std::process::Output);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["down"]);
        }
    }
    let guard = Down(&live);

    let acquire = live(&["cmd", &HOLDER.to_string(), "acquire", "printer"]);
    assert_eq!(acquire.status.code(), Some(0), "acquire: {}{}", text(&acquire.stdout), text(&acquire.stderr));
    // The holder as `status` reports it: node 3 inside, the only node naming itself holder.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: Value = serde_json::from_slice(&live(&["status", "--json"]).stdout).unwrap_or(Value::Null);
        let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
        let holders: Vec<u64> =
            nodes.iter().filter(|n| n["view"]["leader"] == n["id"]).filter_map(|n| n["id"].as_u64()).collect();
        let inside = nodes.iter().any(|n| n["id"] == HOLDER && n["view"]["role"] == "in_cs");
        if inside && holders == [u64::from(HOLDER)] {
            break;
        }
        assert!(Instant::now() < deadline, "node {HOLDER} never held the token as status reports it: {status:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = live(&["kill", &HOLDER.to_string()]);
    assert_eq!(kill.status.code(), Some(0), "kill: {}{}", text(&kill.stdout), text(&kill.stderr));
    // A probe round finds the token lost (loss_timeout 400 ms plus jitter, an ACK timeout of
    // 250 ms to skip the dead node) and one node regenerates it; then a few entries with it.
    std::thread::sleep(Duration::from_millis(2500));
    drop(guard);

    let summary = summary(&run_dir);
    assert!(processes_mentioning(run).is_empty(), "nodes left behind");
    assert_eq!(summary["verdict"], "held", "{summary:#}");
    // The kill hit the holder: its last token event before the kill gave it the token, and it
    // was still inside its critical section.
    let faults = std::fs::read_to_string(run_dir.join("orchestrator.jsonl")).unwrap();
    let killed = parse_fault_lines(&faults).into_iter().find_map(|f| match f.fault {
        AppliedFault::Kill { node, .. } => Some((node, f.t)),
        _ => None,
    });
    let Some((node, killed_at)) = killed else { panic!("no kill was recorded: {faults}") };
    assert_eq!(node, HOLDER, "{faults}");
    let before: Vec<_> = trace(&run_dir, HOLDER).into_iter().filter(|r| r.t <= killed_at).collect();
    let last_token_op = before.iter().rev().find_map(|r| match &r.what {
        What::Event { name, data } if name == "token" => data["op"].as_str().map(str::to_string),
        _ => None,
    });
    assert!(
        matches!(last_token_op.as_deref(), Some("receive" | "create" | "reclaim")),
        "node {HOLDER} did not hold the token when it was killed (its last token event: {last_token_op:?})"
    );
    let last_cs = before.iter().rev().find_map(|r| r.event_name().filter(|n| n.ends_with("_cs")).map(str::to_string));
    assert_eq!(last_cs.as_deref(), Some("enter_cs"), "node {HOLDER} was killed outside its critical section");
    assert_eq!(summary["metrics"]["tokens_regenerated"], 1, "{summary:#}");
    let conservation = property(&summary, "token_conservation");
    assert_eq!(conservation["verdict"], "held", "{summary:#}");
    let detail = conservation["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("lost with node {HOLDER}")), "{detail}");
}

#[test]
fn lamport() {
    let (summary, _, _s) = run("lamport");
    assert_eq!(property(&summary, "fairness")["verdict"], "held");
    assert_eq!(summary["metrics"]["messages_per_entry"]["textbook"], "3(N−1) = 12");
    assert!((11.5..=12.6).contains(&per_entry(&summary)), "{summary:#}");
}

#[test]
fn ricart_agrawala() {
    let (summary, _, _s) = run("ricart-agrawala");
    assert_eq!(property(&summary, "fairness")["verdict"], "held");
    assert_eq!(summary["metrics"]["messages_per_entry"]["textbook"], "2(N−1) = 8");
    assert!((7.5..=8.6).contains(&per_entry(&summary)), "{summary:#}");
}

#[test]
fn suzuki_kasami() {
    let (summary, _, _s) = run("suzuki-kasami");
    assert_eq!(property(&summary, "token_conservation")["verdict"], "held");
    assert!(per_entry(&summary) <= 5.0, "{summary:#}");
}

#[test]
fn maekawa() {
    let (summary, _, _s) = run("maekawa");
    assert_eq!(property(&summary, "quorums_intersect")["verdict"], "held");
    assert_eq!(property(&summary, "one_vote")["verdict"], "held");
    assert_eq!(summary["metrics"]["messages_per_entry"]["quorum_size"], 5.0);
}

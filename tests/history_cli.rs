//! `orchestrator history check|gen`, `bench history`, and the run directory's history.jsonl,
//! end to end: exit codes 0/1/2, errors that name the file and the line, a real Lamport run
//! and a simulator replay whose lock history checks linearizable, and the history view
//! rendered by headless chromium (the `chromium` package, or `$CHROMIUM`).

use clusterlab_e2e::*;
use std::path::{Path, PathBuf};

fn gen(scratch: &Scratch, name: &str, args: &[&str]) -> PathBuf {
    let path = scratch.path().join(name);
    let mut all = vec!["history", "gen", "--out", path.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = orchestrator(&all);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    path
}

fn check(file: &Path, model: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["history", "check", file.to_str().unwrap(), "--model", model];
    args.extend_from_slice(extra);
    orchestrator(&args)
}

#[test]
fn a_generated_history_checks_linearizable_and_one_with_a_bug_does_not() {
    let scratch = Scratch::new("history-gen");
    let good = gen(&scratch, "good.jsonl", &["--model", "kv", "--clients", "5", "--ops", "2000", "--seed", "3"]);
    let lines = std::fs::read_to_string(&good).unwrap();
    assert_eq!(lines.lines().filter(|l| l.contains(r#""type":"invoke""#)).count(), 2000);
    let output = check(&good, "kv", &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("kv: linearizable") && stdout.ends_with("verdict: LINEARIZABLE\n"), "{stdout}");

    let bad = gen(
        &scratch,
        "bad.jsonl",
        &["--model", "kv", "--clients", "5", "--ops", "2000", "--seed", "3", "--bug", "stale-read"],
    );
    let output = check(&bad, "kv", &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!(report["outcome"], "not_linearizable");
    let violation = &report["violations"][0];
    assert_eq!(violation["op"]["f"], "get", "the stale get is the op that cannot be placed: {violation}");
    assert!(violation["op"]["complete_line"].as_u64().unwrap() > 1000);
    assert!(violation["prefix"].as_array().unwrap().len() > 10);
    let human = text(&check(&bad, "kv", &[]).stdout);
    for needle in
        ["NOT linearizable on key", "cannot place", "longest linearizable prefix", "verdict: NOT LINEARIZABLE"]
    {
        assert!(human.contains(needle), "{needle:?} in:\n{human}");
    }
}

#[test]
fn bad_input_is_exit_2_naming_the_file_and_the_line() {
    let scratch = Scratch::new("history-bad");
    let cases = [
        ("orphan.jsonl", "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n", "line 2: process 2 completes \"read\" (ok) but has no open invocation"),
        ("twice.jsonl", "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n", "line 2: process 1 invokes \"read\" while its \"read\" from line 1 is still open"),
        ("type.jsonl", "{\"process\":1,\"type\":\"begin\",\"f\":\"read\"}\n", "line 1: unknown \"type\" \"begin\""),
        ("json.jsonl", "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\": 1,\n", "line 3: not JSON"),
        ("model.jsonl", "{\"process\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"k\",\"value\":7}\n", "line 1: kv values are strings"),
    ];
    for (name, body, expected) in cases {
        let file = scratch.write(name, body);
        let output = check(&file, "kv", &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name) && stderr.contains(expected), "{name}: {stderr}");
    }
    let file = scratch.write("ok.jsonl", "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n");
    let output = check(&file, "queue", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("known models: register, cas-register, kv"), "{}", text(&output.stderr));
    assert_eq!(check(&scratch.path().join("missing.jsonl"), "kv", &[]).status.code(), Some(2));
    let output = orchestrator(&["history", "gen", "--model", "kv", "--bug", "double-grant"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

#[test]
fn a_timeout_gives_unknown_and_exit_1() {
    let scratch = Scratch::new("history-timeout");
    let file = gen(&scratch, "big.jsonl", &["--model", "register", "--clients", "20", "--ops", "3000"]);
    let output = check(&file, "register", &["--timeout", "0s"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("unknown: the timeout (0s) ran out") && stdout.contains("verdict: UNKNOWN"), "{stdout}");
}

#[test]
fn the_history_benchmark_runs_and_prints_its_figures() {
    // Figures are printed, not judged: timing belongs in benchmarks, never in tests.
    let output = orchestrator(&["bench", "history", "--ops", "300", "--clients", "3"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("ops/s") && stdout.contains("NOT linearizable") && !stdout.contains("WRONG"), "{stdout}");
}

#[test]
fn a_real_lamport_run_writes_a_lock_history_that_checks_linearizable() {
    let scratch = Scratch::new("history-real");
    let out = scratch.path().join("runs");
    let output =
        orchestrator(&["run", "configs/mutex-lamport.toml", "--duration", "2s", "--out", out.to_str().unwrap()]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{}{}", text(&output.stdout), text(&output.stderr));
    let run = latest_run(&out);
    let history = run.join("history.jsonl");
    assert!(history.is_file(), "no history.jsonl in {}", run.display());
    let output = check(&history, "mutex", &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("mutex: linearizable"), "{stdout}");
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(page.contains(r#"<section id="history" data-model="mutex" data-outcome="linearizable">"#));
}

#[test]
fn a_simulator_replay_writes_the_history_and_its_report_renders_with_the_view() {
    let scratch = Scratch::new("history-sim");
    let out = scratch.path().join("runs");
    let output =
        orchestrator(&["sim", "configs/mutex-ricart-agrawala.toml", "--seed", "4", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let run = latest_run(&out);
    let first = std::fs::read(run.join("history.jsonl")).expect("history.jsonl");
    assert_eq!(check(&run.join("history.jsonl"), "mutex", &[]).status.code(), Some(0));
    // `report` writes it again, byte for byte.
    assert_eq!(orchestrator(&["report", run.to_str().unwrap()]).status.code(), Some(0));
    assert_eq!(std::fs::read(run.join("history.jsonl")).unwrap(), first);
    let Some(browser) = chromium() else { return };
    let dom = dump_dom(&browser, &run.join("report.html"), "", &scratch);
    assert!(
        dom.contains(r#"data-status="rendered""#) && dom.contains(r#"data-errors="0""#),
        "the report's script ran cleanly"
    );
    let view = element(&dom, "history-view");
    let rows: usize = attribute(view, "data-rows").parse().unwrap();
    assert!(rows >= 5, "one row per node and resource: {view}");
    assert!(attribute(view, "data-ops").parse::<usize>().unwrap() > 20);
    assert!(!svg(&dom).contains("failing"), "nothing is marked in a linearizable history");
}

#[test]
fn the_history_page_of_a_violation_marks_the_failing_operation() {
    let scratch = Scratch::new("history-html");
    let file = gen(
        &scratch,
        "bad.jsonl",
        &["--model", "cas-register", "--clients", "6", "--ops", "500", "--seed", "2", "--bug", "fail-visible"],
    );
    let page = scratch.path().join("view.html");
    let output = check(&file, "cas-register", &["--html", page.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("history view: "), "{}", text(&output.stdout));
    let Some(browser) = chromium() else { return };
    let dom = dump_dom(&browser, &page, "", &scratch);
    let view = element(&dom, "history-view");
    assert!(attribute(view, "data-rows").parse::<usize>().unwrap() >= 2);
    assert_eq!(svg(&dom).matches(r#"class="op ok failing""#).count(), 1, "exactly one operation is marked");
    assert!(svg(&dom).contains("CANNOT BE PLACED"), "its tooltip says so");
    assert!(dom.contains(r#"data-outcome="not_linearizable""#));
}

/// The history view's SVG (the legend above it draws the same classes).
fn svg(dom: &str) -> &str {
    let start = dom.find("<svg id=\"history-view\"").expect("the history view");
    &dom[start..start + dom[start..].find("</svg>").unwrap()]
}

/// The opening tag of the element with `id`.
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = dom[..at].rfind('<').unwrap();
    &dom[start..at + dom[at..].find('>').unwrap()]
}

fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=\"");
    let at = tag.find(&key).unwrap_or_else(|| panic!("no {name} in {tag}")) + key.len();
    &tag[at..at + tag[at..].find('"').unwrap()]
}

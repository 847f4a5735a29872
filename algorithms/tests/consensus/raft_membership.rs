//! Raft's membership changes in the simulator: the schedule of `configs/raft-membership.toml`
//! (three servers, two spares, three clients; add 4, add 5, the leadership transferred to node 1
//! and node 1 removed, the next leader removes itself too) over many seeds, every property held.

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::service::client::Workload;
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::json;
use std::time::Duration;

fn command(at: f64, args: &[&str]) -> FaultSpec {
    fault(at, Action::Command { node: Target::Leader, args: args.iter().map(|a| a.to_string()).collect() })
}

/// The changes of `configs/raft-membership.toml`: add 4, add 5, the leadership transferred to
/// node 1 (thesis §3.10) and node 1 removed while it leads, then whoever leads next removed.
fn changes() -> Vec<FaultSpec> {
    let at_node_1 = Action::Command { node: Target::Id(1), args: vec!["remove-server".into(), "1".into()] };
    vec![
        command(1.0, &["add-server", "4"]),
        command(2.0, &["add-server", "5"]),
        command(2.7, &["transfer-leadership", "1"]),
        fault(3.0, at_node_1),
        command(4.5, &["remove-server", "{node}"]),
    ]
}

fn membership(seed: u64, faults: Vec<FaultSpec>) -> SimConfig {
    let workload =
        Workload { clients: 3, rate_per_s: Some(10.0), timeout: Duration::from_millis(200), ..Workload::default() };
    let cfg = with_faults(experiment("raft", 3, seed, 6.0, json!({})), faults);
    SimConfig { spare_nodes: 2, workload: Some(workload), ..cfg }
}

/// The configuration each server ends with, from its last `config` event.
fn final_configs(outcome: &algorithms::sim::SimOutcome) -> Vec<Vec<u64>> {
    (1..=5)
        .map(|n| {
            let last = outcome.run.records.iter().rfind(|r| r.node == n && r.event_name() == Some("config"));
            let members = last.map(|r| match &r.what {
                algorithms::trace::What::Event { data, .. } => data["members"].clone(),
                _ => unreachable!(),
            });
            members.and_then(|m| serde_json::from_value(m).ok()).unwrap_or_default()
        })
        .collect()
}

/// 25 seeds (the config's sweep is 200): every property held (the two removed leaders stepped
/// down, node 1 first, each change waited for the one before), every command accepted, and the members of the final configuration of three
/// servers (an added spare may have led, and removed itself) agree on it.
#[test]
fn adding_two_spares_transferring_to_node_1_and_removing_it_and_the_next_leader_holds_over_25_seeds() {
    for seed in 0..25 {
        let (outcome, report) = run(&membership(seed, changes()));
        for p in &report.properties {
            assert_eq!(p.verdict, Verdict::Held, "seed {seed}: {p:#?}");
        }
        let refused: Vec<_> = outcome
            .faults
            .iter()
            .filter(|f| matches!(&f.fault, algorithms::faults::AppliedFault::Command { ok: false, .. }))
            .collect();
        assert!(refused.is_empty(), "seed {seed}: {refused:?}");
        assert_eq!(property(&report, "removed_leader_steps_down").judged, 2, "seed {seed}");
        let removed = outcome.run.records.iter().find(|r| {
            r.event_name() == Some("leader_lost")
                && matches!(&r.what, algorithms::trace::What::Event { data, .. } if data["reason"] == "removed from the configuration")
        });
        assert_eq!(removed.map(|r| r.node), Some(1), "seed {seed}: node 1, led by transfer, was removed first");
        let configs = final_configs(&outcome);
        let members = configs.iter().find(|c| c.len() == 3).unwrap_or_else(|| panic!("seed {seed}: {configs:?}"));
        // A removed server may never hear of its removal (the leader stops replicating to it).
        let agree = members.iter().all(|m| &configs[*m as usize - 1] == members);
        assert!(agree, "seed {seed}: every member ends with {members:?}: {configs:?}");
    }
}

/// A change asked while the one before is uncommitted is refused and recorded, not a crash.
#[test]
fn a_change_while_another_is_pending_is_refused_and_recorded() {
    let faults = vec![command(1.0, &["add-server", "4"]), command(1.0, &["add-server", "5"])];
    let (outcome, _) = run(&membership(1, faults));
    let answers: Vec<(bool, String)> = outcome
        .faults
        .iter()
        .filter_map(|f| match &f.fault {
            algorithms::faults::AppliedFault::Command { ok, reply, .. } => Some((*ok, reply.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers[0].0 && !answers[1].0, "{answers:?}");
    assert!(answers[1].1.contains("one change at a time"), "{answers:?}");
}

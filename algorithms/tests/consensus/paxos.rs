//! Paxos in the simulator: hundreds of seeds with crashes, restarts, loss and duplication, and
//! safety always holds; a lone proposer decides; two duelling proposers livelock without backoff
//! under fixed delays and decide with it.

use crate::common::*;
use algorithms::faults::{Action, Delay, FaultSpec, LinkSpec, Target};
use algorithms::Verdict;
use serde_json::{json, Value};

fn paxos(seed: u64, params: Value, faults: Vec<FaultSpec>) -> algorithms::sim::SimConfig {
    with_faults(experiment("paxos", 5, seed, 2.0, params), faults)
}

/// Acceptors die and come back mid-ballot, one link drops and duplicates half its messages.
fn crashes_loss_duplication() -> Vec<FaultSpec> {
    let flaky = LinkSpec { from: 3, to: 1, loss: 0.3, duplicate: 0.5, ..Default::default() };
    vec![
        fault(0.002, Action::Kill { node: Target::Random }),
        fault(0.004, Action::Kill { node: Target::Random }),
        fault(0.0, Action::Link(flaky)),
        fault(0.3, Action::Restart { node: Target::LastKilled }),
        fault(0.5, Action::Kill { node: Target::Random }),
        fault(0.8, Action::Restart { node: Target::LastKilled }),
    ]
}

fn safety_holds(report: &algorithms::CheckReport, seed: u64) {
    for name in ["validity", "agreement", "integrity", "message_cost"] {
        let p = property(report, name);
        assert_ne!(p.verdict, Verdict::Violated, "seed {seed}: {p:#?}");
    }
}

#[test]
fn safety_holds_over_300_seeds_with_crashes_loss_and_duplication() {
    let (mut decided, mut duels) = (0, 0);
    for seed in 0..300 {
        // Half the seeds with two proposers and no backoff: duels, restarts mid-ballot.
        let params = if seed % 2 == 0 { json!({}) } else { json!({ "proposers": [1, 2], "retry_ms": 1 }) };
        let mut cfg = paxos(seed, params, crashes_loss_duplication());
        cfg.network.loss = 0.05;
        cfg.network.delay = Delay::Exponential { mean_ms: 2.0 };
        let (_, report) = run(&cfg);
        safety_holds(&report, seed);
        if property(&report, "agreement").verdict == Verdict::Held {
            decided += 1;
        } else {
            duels += 1;
        }
    }
    println!("{decided} of 300 seeds decided, {duels} did not");
    assert!(decided > 200, "most seeds decide: {decided}");
}

#[test]
fn a_lone_proposer_decides_with_two_acceptors_dead_over_200_seeds() {
    let faults =
        vec![fault(0.0, Action::Kill { node: Target::Id(5) }), fault(0.003, Action::Kill { node: Target::Id(4) })];
    for report in all_hold(0..200, |seed| paxos(seed, json!({}), faults.clone())) {
        let cost = &report.metrics["messages_per_decision"]["deciding_ballots"][0]["messages"];
        assert!(cost.as_u64().is_some_and(|m| m <= 32), "{cost}");
    }
}

/// Without faults or loss, every node started at once, a ballot that decides costs exactly
/// 4(N−1) + (N−1)² = 32 with N = 5.
#[test]
fn a_ballot_with_every_acceptor_answering_costs_exactly_the_textbook_figure() {
    for seed in 0..20 {
        let mut cfg = paxos(seed, json!({}), vec![]);
        cfg.network.start_skew_ms = 0.0;
        let (_, report) = run(&cfg);
        assert_eq!(report.metrics["messages_per_decision"]["deciding_ballots"][0]["messages"], 32, "seed {seed}");
        // The first learner learns at its third Accepted, often before every Accepted is out.
        let until = &report.metrics["messages_per_decision"]["sent_until_first_decision"];
        assert!(until.as_u64().is_some_and(|m| (16..=32).contains(&m)), "seed {seed}: {until}");
    }
}

#[test]
fn duelling_proposers_livelock_without_backoff_and_decide_with_it() {
    let (mut livelocked, mut cured) = (0, 0);
    for seed in 0..20 {
        let mut duel = paxos(seed, json!({ "proposers": [1, 2], "retry_ms": 1, "phase_timeout_ms": 50 }), vec![]);
        duel.network.delay = Delay::Fixed { ms: 2.0 };
        let (_, report) = run(&duel);
        let t = property(&report, "termination");
        if t.verdict == Verdict::Unknown {
            assert!(t.detail.contains("preempted each other") && t.detail.contains("(1, 1) by"), "{t:?}");
            livelocked += 1;
        }
        let mut cure = duel.clone();
        cure.params = json!({ "proposers": [1, 2], "retry_ms": 1, "phase_timeout_ms": 50, "backoff": "random" });
        let (_, report) = run(&cure);
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        cured += 1;
    }
    assert!(livelocked >= 5, "without backoff most fixed-delay duels never decide: {livelocked} of 20");
    assert_eq!(cured, 20);
}

//! Election by attribute in the simulator: bully, the rings and randomized with an `attributes`
//! table, over many seeds with the best nodes killed and restarted; every property (now judged
//! as "the best live attribute") checked.

use crate::common::*;
use algorithms::faults::{Action, Target};
use algorithms::find;
use algorithms::Verdict;
use serde_json::{json, Value};

/// Nodes 1 and 2 tie on the best attribute (the higher id, 2, wins the tie), node 3 is next,
/// nodes 4 and 5 are not listed (0): the id order turned upside down.
fn attributes() -> Value {
    json!({ "attributes": { "1": 90, "2": 90, "3": 40 } })
}

fn by_attribute(algorithm: &str, seed: u64) -> algorithms::sim::SimConfig {
    let faults = vec![
        fault(1.5, Action::Kill { node: Target::Id(2) }),
        fault(2.5, Action::Kill { node: Target::Id(1) }),
        fault(3.5, Action::Restart { node: Target::Id(1) }),
        fault(4.5, Action::Restart { node: Target::Id(2) }),
    ];
    with_faults(experiment(algorithm, 5, seed, 6.0, attributes()), faults)
}

#[test]
fn bully_elects_the_best_live_attribute_over_150_seeds() {
    all_hold(0..150, |seed| by_attribute("bully", seed));
}

#[test]
fn the_rings_elect_the_best_live_attribute_over_100_seeds_each() {
    for ring in ["lelann", "chang-roberts"] {
        all_hold(0..100, |seed| by_attribute(ring, seed));
    }
}

#[test]
fn randomized_elects_the_best_live_attribute_over_100_seeds() {
    all_hold(0..100, |seed| by_attribute("randomized", seed));
}

/// Who wins, in order: 2 (best attribute, higher id of the tie), 1 after 2 dies, 3 after 1 dies,
/// 1 again on its return, 2 again on its.
#[test]
fn the_next_best_takes_over_from_a_killed_best_and_the_best_takes_back_on_return() {
    for algorithm in ["bully", "lelann", "chang-roberts"] {
        let (outcome, report) = run(&by_attribute(algorithm, 7));
        assert_eq!(report.verdict(), Verdict::Held, "{algorithm}: {:#?}", report.properties);
        let mut leaders: Vec<u32> = Vec::new();
        for r in outcome.run.records.iter().filter(|r| r.event_name() == Some("elected")) {
            if leaders.last() != Some(&r.node) {
                leaders.push(r.node);
            }
        }
        assert_eq!(leaders, vec![2, 1, 3, 1, 2], "{algorithm}");
    }
}

/// Randomized by attribute: the draw only breaks the tie between nodes 1 and 2, so node 3 never
/// wins while either lives, and nodes 4 and 5 never win at all.
#[test]
fn randomized_draws_only_break_ties_among_the_best_attributes() {
    for seed in 0..20 {
        let (outcome, _) = run(&by_attribute("randomized", seed));
        for r in outcome.run.records.iter().filter(|r| r.event_name() == Some("elected")) {
            let t = r.t as f64 / 1e9;
            let both_dead = (2.5..3.5).contains(&t);
            assert!(r.node <= 3 && (r.node != 3 || both_dead), "seed {seed}: node {} won at {t:.2} s", r.node);
        }
    }
}

/// The judgement changed with the attributes: a run elected by id, judged as if node 1 had the
/// best attribute, is wrong, and the checker says so, naming node 1.
#[test]
fn a_run_that_elects_the_highest_id_violates_an_election_by_attribute() {
    let (mut outcome, report) = run(&experiment("bully", 3, 1, 3.0, json!({})));
    assert_eq!(property(&report, "stable_agreement").verdict, Verdict::Held);
    outcome.run.params = json!({ "attributes": { "1": 50 } });
    let report = find("bully").unwrap().check(&outcome.run);
    let p = property(&report, "stable_agreement");
    assert_eq!(p.verdict, Verdict::Violated, "{p:#?}");
    assert!(p.detail.contains("node 1 (attribute 50), the best live attribute"), "{}", p.detail);
}

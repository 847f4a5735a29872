//! What holds for every algorithm of the catalogue.

use crate::common::*;
use algorithms::{catalogue, Algorithm, Execution};
use serde_json::json;

/// The property names of a report, or of a declaration, sorted; duplicates stay, to be seen.
fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    names
}

fn declared(algorithm: &dyn Algorithm) -> Vec<&'static str> {
    let names = sorted(algorithm.properties().iter().map(|p| p.name).collect::<Vec<_>>());
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "{}: a property declared twice", algorithm.name());
    names
}

/// Each checker reports every property its algorithm declares (`orchestrator list` shows them),
/// once, and nothing else: after a short simulated run, and on an execution with no records at
/// all (where most can only be unknown, but must still be reported).
#[test]
fn every_algorithm_reports_exactly_the_properties_it_declares() {
    let all = catalogue();
    assert!(all.len() >= 13, "{} algorithms", all.len());
    for algorithm in all {
        let name = algorithm.name();
        let declared = declared(algorithm);
        assert!(!declared.is_empty(), "{name} promises nothing");

        let (_, simulated) = run(&experiment(name, 3, 1, 2.0, json!({})));
        let empty = algorithm.check(&Execution::new(name, vec![1, 2, 3], json!({}), vec![], vec![]));
        for (what, report) in [("a short simulation", simulated), ("an empty execution", empty)] {
            let reported = sorted(report.properties.iter().map(|p| p.name.as_str()));
            assert_eq!(reported, declared, "{name}, after {what}: reported against declared");
        }
    }
}

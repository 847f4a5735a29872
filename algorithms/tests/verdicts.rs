//! No evidence, no `held`; and every property can fail.
//!
//! Every property of every algorithm in the catalogue has at least two cases here: a run that
//! breaks it (the checker must say `violated`) and a run that gives it nothing to judge (the
//! checker must say `unknown`, "nothing to judge: no …", never `held`). The cases are listed in
//! the `CASES` tables of the modules below, one line each:
//!
//! ```text
//! case!("bully", "election_message_cost", Violating, bully_an_election_above_n2_minus_1),
//! case!(Mutex family, "liveness", NothingToJudge, requests_still_waiting_at_the_end),
//! ```
//!
//! A property added to an algorithm without both cases fails
//! `every_property_has_a_violating_and_a_nothing_to_judge_case`, which also prints the table of
//! properties and their cases:
//!
//! ```sh
//! cargo test -p algorithms --test verdicts -- --nocapture every_property
//! ```

use algorithms::algorithm::{Algorithm, Family};
use algorithms::{catalogue, Execution, Verdict};

/// What a case's run must make of its property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// The run breaks the property: `violated`.
    Violating,
    /// The run has nothing the property could be judged on: `unknown`.
    NothingToJudge,
}

/// Which algorithms a case is for.
#[derive(Clone, Copy, Debug)]
pub enum For {
    Algorithm(&'static str),
    /// Every algorithm of the family (for the checks the family shares).
    Family(Family),
}

pub struct Entry {
    pub to: For,
    pub property: &'static str,
    pub case: Case,
    /// The function that builds the run, by name: the table shows it.
    pub name: &'static str,
    pub run: fn() -> Execution,
}

impl Entry {
    fn applies(&self, algorithm: &dyn Algorithm) -> bool {
        match self.to {
            For::Algorithm(name) => name == algorithm.name(),
            For::Family(family) => family == algorithm.family(),
        }
    }
}

/// One case: `case!("bully", "stable_agreement", Violating, function)`, or for a whole family
/// `case!(Mutex family, "liveness", Violating, function)`.
macro_rules! case {
    ($family:ident family, $property:literal, $case:ident, $run:ident) => {
        $crate::Entry {
            to: $crate::For::Family(algorithms::algorithm::Family::$family),
            property: $property,
            case: $case,
            name: stringify!($run),
            run: $run,
        }
    };
    ($algorithm:literal, $property:literal, $case:ident, $run:ident) => {
        $crate::Entry {
            to: $crate::For::Algorithm($algorithm),
            property: $property,
            case: $case,
            name: stringify!($run),
            run: $run,
        }
    };
}

#[path = "verdicts/coordination.rs"]
mod coordination;
#[path = "verdicts/detection.rs"]
mod detection;
#[path = "verdicts/election.rs"]
mod election;
#[path = "verdicts/gossip.rs"]
mod gossip;
#[path = "verdicts/load.rs"]
mod load;
#[path = "verdicts/maelstrom.rs"]
mod maelstrom;
#[path = "verdicts/multipaxos.rs"]
mod multipaxos;
#[path = "verdicts/mutex.rs"]
mod mutex;
#[path = "verdicts/paxos.rs"]
mod paxos;
#[path = "verdicts/quorum.rs"]
mod quorum;
#[path = "verdicts/raft.rs"]
mod raft;
#[path = "verdicts/recipes.rs"]
mod recipes;
#[path = "verdicts/sequencer.rs"]
mod sequencer;
#[path = "verdicts/service.rs"]
mod service;
#[path = "verdicts/stabilizing.rs"]
mod stabilizing;
#[path = "verdicts/trace.rs"]
mod trace;
#[path = "verdicts/zab.rs"]
mod zab;

fn cases() -> Vec<&'static Entry> {
    election::CASES
        .iter()
        .chain(mutex::CASES)
        .chain(paxos::CASES)
        .chain(raft::CASES)
        .chain(multipaxos::CASES)
        .chain(stabilizing::CASES)
        .chain(load::CASES)
        .chain(service::CASES)
        .chain(quorum::CASES)
        .chain(sequencer::CASES)
        .chain(detection::CASES)
        .chain(zab::CASES)
        .chain(coordination::CASES)
        .chain(recipes::LOCK_CASES)
        .chain(recipes::COUNTER_CASES)
        .chain(recipes::ELECTION_CASES)
        .chain(recipes::MEMBERS_CASES)
        .chain(maelstrom::CASES)
        .chain(gossip::CASES)
        .collect()
}

/// Runs `entry` against `algorithm`'s checker: `Err` says what came out instead.
fn judge(algorithm: &dyn Algorithm, entry: &Entry) -> Result<(), String> {
    let report = algorithm.check(&(entry.run)());
    let Some(p) = report.properties.iter().find(|p| p.name == entry.property) else {
        let names: Vec<&str> = report.properties.iter().map(|p| p.name.as_str()).collect();
        return Err(format!("the report has no {} (it has {names:?})", entry.property));
    };
    let wanted = match entry.case {
        Case::Violating => Verdict::Violated,
        Case::NothingToJudge => Verdict::Unknown,
    };
    if p.verdict != wanted {
        return Err(format!("{:?}, not {wanted:?}: {}", p.verdict, p.detail));
    }
    match p.verdict {
        Verdict::Unknown if !p.detail.starts_with("nothing to judge: no ") || p.judged != 0 => {
            Err(format!("unknown without saying what was missing: {p:?}"))
        }
        Verdict::Violated if p.detail.is_empty() => Err(format!("violated without a detail: {p:?}")),
        _ => Ok(()),
    }
}

#[test]
fn every_property_has_a_violating_and_a_nothing_to_judge_case() {
    let cases = cases();
    let (mut rows, mut missing, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for algorithm in catalogue() {
        for property in algorithm.properties() {
            let mine: Vec<&&Entry> =
                cases.iter().filter(|c| c.applies(algorithm) && c.property == property.name).collect();
            let mut names = |case: Case| {
                let names: Vec<String> =
                    mine.iter().filter(|c| c.case == case).map(|c| format!("`{}`", c.name)).collect();
                if names.is_empty() {
                    missing.push(format!("{} {}: no {case:?} case", algorithm.name(), property.name));
                    "—".to_string()
                } else {
                    names.join(", ")
                }
            };
            let (violating, nothing) = (names(Case::Violating), names(Case::NothingToJudge));
            rows.push(format!("| {} | {} | {violating} | {nothing} |", algorithm.name(), property.name));
            for entry in &mine {
                if let Err(e) = judge(algorithm, entry) {
                    failed.push(format!("{} {} {:?} {}: {e}", algorithm.name(), property.name, entry.case, entry.name));
                }
            }
        }
    }
    let table =
        format!("| algorithm | property | violating | nothing to judge |\n|---|---|---|---|\n{}\n", rows.join("\n"));
    println!("{table}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("property-cases.md");
    if std::fs::write(&out, &table).is_ok() {
        println!("(also written to {})", out.display());
    }

    // A case for a property no algorithm has is a typo, or a property that went away.
    let strays: Vec<String> = cases
        .iter()
        .filter(|c| !catalogue().iter().any(|a| c.applies(*a) && a.properties().iter().any(|p| p.name == c.property)))
        .map(|c| format!("{:?} {} ({})", c.to, c.property, c.name))
        .collect();
    assert!(
        strays.is_empty() && failed.is_empty() && missing.is_empty(),
        "properties without a case: {missing:#?}\ncases with the wrong verdict: {failed:#?}\ncases for no property of the catalogue: {strays:#?}"
    );
}

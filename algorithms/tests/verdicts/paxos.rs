//! Runs for Paxos's properties: each breaks one property, or gives it nothing to judge. Three
//! nodes (a majority is two), node 1 the lone proposer unless said otherwise; the decision bound
//! is the default 520 ms.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::consensus::paxos::{Ballot, PaxosEvent, PaxosMsg};
use algorithms::core::event::Event;
use algorithms::{Execution, NodeId};
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("paxos", "validity", Violating, paxos_a_value_nobody_proposed_is_chosen),
    case!("paxos", "validity", NothingToJudge, paxos_a_ballot_and_nothing_accepted),
    case!("paxos", "agreement", Violating, paxos_two_values_chosen_in_two_ballots),
    case!("paxos", "agreement", Violating, paxos_two_learners_learn_different_values),
    case!("paxos", "agreement", NothingToJudge, paxos_a_ballot_and_nothing_accepted),
    case!("paxos", "integrity", Violating, paxos_a_learner_learns_twice),
    case!("paxos", "integrity", NothingToJudge, paxos_a_ballot_and_nothing_accepted),
    case!("paxos", "termination", Violating, paxos_a_lone_proposer_never_decides),
    case!("paxos", "termination", NothingToJudge, paxos_two_proposers_duel_without_a_decision),
    case!("paxos", "termination", NothingToJudge, paxos_the_lone_proposer_killed_at_once),
    case!("paxos", "message_cost", Violating, paxos_a_ballot_with_three_prepares_for_two_acceptors),
    case!("paxos", "message_cost", NothingToJudge, paxos_nothing_sent),
];

fn ballot(round: u64, proposer: NodeId) -> Ballot {
    Ballot { round, proposer }
}

fn paxos(t: &mut Trace, ms: u64, node: NodeId, event: PaxosEvent) {
    let (name, data) = event.to_parts();
    t.event(ms, node, &name, data);
}

fn started(t: &mut Trace, ms: u64, b: Ballot) {
    paxos(t, ms, b.proposer, PaxosEvent::BallotStarted { ballot: b, value: format!("v{}", b.proposer) });
}

fn accepted(t: &mut Trace, ms: u64, nodes: &[NodeId], b: Ballot, value: &str) {
    for n in nodes {
        paxos(t, ms, *n, PaxosEvent::Accepted { ballot: b, value: value.into() });
    }
}

fn learned(t: &mut Trace, ms: u64, node: NodeId, b: Ballot, value: &str) {
    paxos(t, ms, node, PaxosEvent::Learned { ballot: b, value: value.into() });
}

fn paxos_a_value_nobody_proposed_is_chosen() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 1, ballot(1, 1));
    accepted(&mut t, 5, &[1, 2], ballot(1, 1), "v9");
    learned(&mut t, 6, 1, ballot(1, 1), "v9");
    t.end(2000)
}

fn paxos_a_ballot_and_nothing_accepted() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 1, ballot(1, 1));
    t.end(300)
}

/// v1 accepted by 1 and 2 in (1, 1), then v2 by 2 and 3 in (2, 2): a proposer that did not adopt.
fn paxos_two_values_chosen_in_two_ballots() -> Execution {
    let mut t = Trace::new(3).params(json!({ "proposers": [1, 2] }));
    started(&mut t, 1, ballot(1, 1));
    accepted(&mut t, 5, &[1, 2], ballot(1, 1), "v1");
    started(&mut t, 10, ballot(2, 2));
    accepted(&mut t, 15, &[2, 3], ballot(2, 2), "v2");
    t.end(2000)
}

fn paxos_two_learners_learn_different_values() -> Execution {
    let mut t = Trace::new(3).params(json!({ "proposers": [1, 2] }));
    started(&mut t, 1, ballot(1, 1));
    started(&mut t, 1, ballot(1, 2));
    learned(&mut t, 6, 1, ballot(1, 1), "v1");
    learned(&mut t, 7, 3, ballot(1, 2), "v2");
    t.end(2000)
}

fn paxos_a_learner_learns_twice() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 1, ballot(1, 1));
    accepted(&mut t, 5, &[1, 2], ballot(1, 1), "v1");
    learned(&mut t, 6, 2, ballot(1, 1), "v1");
    learned(&mut t, 9, 2, ballot(1, 1), "v1");
    t.end(2000)
}

fn paxos_a_lone_proposer_never_decides() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 1, ballot(1, 1));
    t.end(3000)
}

/// Two proposers preempting each other until the end: no decision, and no lone proposer.
fn paxos_two_proposers_duel_without_a_decision() -> Execution {
    let mut t = Trace::new(3).params(json!({ "proposers": [1, 2] }));
    for round in 1..=4 {
        let (mine, theirs) = (ballot(round, 1 + (round as NodeId + 1) % 2), ballot(round + 1, 1 + round as NodeId % 2));
        started(&mut t, round * 10, mine);
        paxos(&mut t, round * 10 + 5, mine.proposer, PaxosEvent::Preempted { ballot: mine, by: Some(theirs) });
    }
    t.end(3000)
}

/// The proposer dies 1 ms in: there is never a proposer alive with a majority to judge.
fn paxos_the_lone_proposer_killed_at_once() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 0, ballot(1, 1));
    t.kill(1, 1);
    t.end(3000)
}

fn paxos_a_ballot_with_three_prepares_for_two_acceptors() -> Execution {
    let mut t = Trace::new(3);
    started(&mut t, 1, ballot(1, 1));
    for to in [2, 3, 2] {
        t.message(1, 1, to, &PaxosMsg::Prepare { ballot: ballot(1, 1) });
    }
    t.end(300)
}

fn paxos_nothing_sent() -> Execution {
    Trace::new(3).end(300)
}

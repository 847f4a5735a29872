//! Runs for the failure detectors' properties (both algorithms share the checker): three nodes,
//! default parameters (detection bound 300 ms for heartbeat, 411 ms for phi-accrual; settle 200 ms).

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::faults::AppliedFault;
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!(Detection family, "strong_completeness", Violating, a_killed_node_never_suspected),
    case!(Detection family, "strong_completeness", Violating, a_killed_node_trusted_again),
    case!(Detection family, "strong_completeness", NothingToJudge, nobody_killed),
    case!(Detection family, "eventual_strong_accuracy", Violating, a_correct_node_suspected_in_the_quiet_tail),
    case!(Detection family, "eventual_strong_accuracy", NothingToJudge, a_fault_just_before_the_end),
];

fn suspect(t: &mut Trace, ms: u64, observer: u32, peer: u32) {
    t.event(ms, observer, "suspect", json!({ "peer": peer, "level": 1.0 }));
}

/// Node 3 killed at 100 ms; node 1 suspects it at 250 ms, node 2 never does.
fn a_killed_node_never_suspected() -> Execution {
    let mut t = Trace::new(3);
    t.kill(100, 3);
    suspect(&mut t, 250, 1, 3);
    t.end(1000)
}

/// Node 3 killed at 100 ms; both suspect it, then node 2 trusts it again at 600 ms, still dead.
fn a_killed_node_trusted_again() -> Execution {
    let mut t = Trace::new(3);
    t.kill(100, 3);
    suspect(&mut t, 250, 1, 3);
    suspect(&mut t, 260, 2, 3);
    t.event(600, 2, "trust", json!({ "peer": 3 }));
    t.end(1000)
}

fn nobody_killed() -> Execution {
    Trace::new(3).end(1000)
}

/// No fault at all, and node 1 suspects node 2 at 500 ms.
fn a_correct_node_suspected_in_the_quiet_tail() -> Execution {
    let mut t = Trace::new(3);
    suspect(&mut t, 500, 1, 2);
    t.end(1000)
}

/// Node 3 paused at 900 ms: the run ends before the settle time has passed.
fn a_fault_just_before_the_end() -> Execution {
    let mut t = Trace::new(3);
    t.fault(900, AppliedFault::Pause { node: 3 });
    t.end(1000)
}

//! Runs for the bring-your-own template's gossip (`algorithms/src/template/`): three nodes, the
//! default settle time of 500 ms, runs of 2 s.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::trace::What;
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("gossip", "no_duplication", Violating, a_rumor_delivered_twice),
    case!("gossip", "no_duplication", Violating, a_rumor_nobody_spread),
    case!("gossip", "no_duplication", NothingToJudge, no_rumor_at_all),
    case!("gossip", "agreement", Violating, a_rumor_that_never_reached_node_3),
    case!("gossip", "agreement", NothingToJudge, only_a_killed_node_and_the_last_moment_delivered),
];

fn spread(t: &mut Trace, ms: u64, node: u32, rumor: &str) {
    t.event(ms, node, "spread", json!({ "rumor": rumor }));
    delivered(t, ms, node, rumor, node);
}

fn delivered(t: &mut Trace, ms: u64, node: u32, rumor: &str, from: u32) {
    t.event(ms, node, "delivered", json!({ "rumor": rumor, "from": from }));
}

/// Node 2 delivers 1.1 twice in one life (a restart would have excused it).
fn a_rumor_delivered_twice() -> Execution {
    let mut t = Trace::new(3);
    spread(&mut t, 100, 1, "1.1");
    delivered(&mut t, 102, 2, "1.1", 1);
    delivered(&mut t, 104, 3, "1.1", 1);
    delivered(&mut t, 105, 2, "1.1", 3);
    t.end(2000)
}

fn a_rumor_nobody_spread() -> Execution {
    let mut t = Trace::new(3);
    delivered(&mut t, 100, 2, "9.9", 1);
    t.end(2000)
}

fn no_rumor_at_all() -> Execution {
    Trace::new(3).end(2000)
}

/// 1.1 reaches node 2 but never node 3, and nobody was killed.
fn a_rumor_that_never_reached_node_3() -> Execution {
    let mut t = Trace::new(3);
    spread(&mut t, 100, 1, "1.1");
    delivered(&mut t, 102, 2, "1.1", 1);
    t.end(2000)
}

/// Node 1 spreads 1.1 and is killed at once; node 2 spreads 2.1 within the settle time of the
/// end: no correct node delivered a rumor early enough to be held to it.
fn only_a_killed_node_and_the_last_moment_delivered() -> Execution {
    let mut t = Trace::new(3);
    spread(&mut t, 100, 1, "1.1");
    t.kill(110, 1);
    t.add(1500, 1, What::Start { incarnation: 2 });
    spread(&mut t, 1800, 2, "2.1");
    t.end(2000)
}

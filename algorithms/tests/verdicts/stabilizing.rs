//! Runs for the self-stabilizing algorithms' properties: three nodes of Dijkstra's ring, whose
//! counters the `state` and `move` events set (the checker counts privileges from them). With
//! the default parameters the move bound is N + (N+1)·N(N−1)/2 = 15 and the settle time 550 ms.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("dijkstra-ring", "converges", Violating, three_privileges_for_a_second),
    case!("dijkstra-ring", "converges", Violating, converged_after_more_moves_than_the_bound),
    case!("dijkstra-ring", "converges", NothingToJudge, no_counter_ever_set),
    case!("dijkstra-ring", "stays_stable", Violating, a_second_privilege_after_convergence),
    case!("dijkstra-ring", "stays_stable", NothingToJudge, three_privileges_for_a_second),
];

/// The three counters set at `ms` from outside the rules (a start, or a corruption).
fn set(t: &mut Trace, ms: u64, x: [u64; 3], reason: &str) {
    for (node, x) in (1..=3).zip(x) {
        t.event(ms, node, "state", json!({ "x": x, "reason": reason }));
    }
}

fn moved(t: &mut Trace, ms: u64, node: u32, from: u64, x: u64) {
    t.event(ms, node, "move", json!({ "x": x, "from": from }));
}

/// Counters (0, 1, 0): every node privileged, and nobody moves for a second, longer than the
/// settle time.
fn three_privileges_for_a_second() -> Execution {
    let mut t = Trace::new(3);
    set(&mut t, 1, [0, 1, 0], "start");
    t.end(1000)
}

/// From (0, 1, 0), sixteen moves that change nothing, then node 3 copies node 2: one privilege
/// after 17 moves, above the bound of 15.
fn converged_after_more_moves_than_the_bound() -> Execution {
    let mut t = Trace::new(3);
    set(&mut t, 1, [0, 1, 0], "start");
    for k in 0..16 {
        moved(&mut t, 10 + k, 3, 0, 0);
    }
    moved(&mut t, 40, 3, 0, 1);
    t.end(1000)
}

fn no_counter_ever_set() -> Execution {
    Trace::new(3).end(1000)
}

/// All counters 0 (only the bottom privileged: converged at once), then node 2 takes 1 by no
/// rule: three privileges, with no corruption to excuse them.
fn a_second_privilege_after_convergence() -> Execution {
    let mut t = Trace::new(3);
    set(&mut t, 1, [0, 0, 0], "start");
    moved(&mut t, 100, 2, 0, 1);
    t.end(1000)
}

//! The detectors' rules, as `detection/mod.rs` states them: node 1 of three, handlers called
//! directly, the exact effects compared.

use crate::common::rules::*;
use algorithms::detection::{DetectorMsg, HeartbeatParams, PhiParams, Watcher};
use algorithms::MS;
use serde_json::json;

use DetectorMsg::Heartbeat;

fn timeout_node() -> Node<Watcher> {
    let params = HeartbeatParams { interval_ms: 50, timeout_ms: 200, ..Default::default() };
    Node::new(1, &[2, 3], Watcher::new(params.watch()))
}

/// A node starts watching every peer (a look at each when its timeout would run out) and
/// heartbeats every peer at once and every interval.
#[test]
fn a_started_node_watches_every_peer_and_heartbeats_them() {
    let mut n = timeout_node();
    let mut expected = vec![set_timer("look:2", 200), set_timer("look:3", 200)];
    expected.extend(sends(&[2, 3], Heartbeat { seq: 1 }));
    expected.push(set_timer("beat", 50));
    assert_eq!(n.start(), expected);
    n.at(50);
    let mut expected = sends(&[2, 3], Heartbeat { seq: 2 });
    expected.push(set_timer("beat", 50));
    assert_eq!(fire(&mut n, "beat"), expected);
}

/// A heartbeat moves the look at its sender to a full timeout after it, and says nothing.
#[test]
fn a_heartbeat_puts_off_the_look_at_its_sender() {
    let mut n = timeout_node();
    n.start();
    n.at(120);
    assert_eq!(n.deliver(2, Heartbeat { seq: 3 }), vec![set_timer("look:2", 200)]);
}

/// At the look, a silent peer is suspected, with the detector's level; the next heartbeat
/// trusts it again.
#[test]
fn a_silent_peer_is_suspected_and_trusted_when_it_speaks() {
    let mut n = timeout_node();
    n.start();
    n.at(200);
    assert_eq!(fire(&mut n, "look:3"), vec![event("suspect", json!({ "peer": 3, "level": 1.0 }))]);
    assert_eq!(n.status().role, "suspecting");
    assert_eq!(n.command(&["suspects"]).0.unwrap(), "{3}");
    n.at(260);
    assert_eq!(
        n.deliver(3, Heartbeat { seq: 9 }),
        vec![event("trust", json!({ "peer": 3 })), set_timer("look:3", 200)]
    );
    assert_eq!(n.status().role, "trusting");
}

/// A look that finds a heartbeat came in meanwhile (a late timer) only looks again.
#[test]
fn a_look_after_a_heartbeat_looks_again_later() {
    let mut n = timeout_node();
    n.start();
    n.at(150);
    n.deliver(2, Heartbeat { seq: 1 });
    n.at(200);
    assert_eq!(fire(&mut n, "look:2"), vec![set_timer("look:2", 150)]);
}

/// A message from a node that is not a peer changes nothing.
#[test]
fn a_heartbeat_from_a_stranger_is_ignored() {
    let mut n = timeout_node();
    n.start();
    assert_eq!(n.deliver(9, Heartbeat { seq: 1 }), vec![]);
}

/// φ-accrual looks where φ reaches the threshold: after regular heartbeats every 50 ms its
/// window narrows (deviation at min_std 10 ms after the seed ages out), and it looks sooner.
#[test]
fn phi_looks_when_phi_reaches_the_threshold() {
    let params = PhiParams { window: 4, min_std_ms: 10.0, ..Default::default() };
    let mut n = Node::new(1, &[2], Watcher::new(params.watch()));
    // The seed: 37.5 and 62.5 ms, mean 50, deviation 12.5: φ = 8 at 115.3 ms.
    let start = n.start();
    let Fx::SetTimer(name, after) = &start[0] else { panic!("{start:?}") };
    assert_eq!(name, "look:2");
    assert!((*after as f64 / MS as f64 - 115.3).abs() < 0.1, "{after}");
    for k in 1..=4 {
        n.at(50 * k);
        n.deliver(2, Heartbeat { seq: k });
    }
    // Four intervals of 50 ms: mean 50, deviation floored at 10: φ = 8 at 50 + 5.226 × 10 ms.
    n.at(250);
    let fx = n.deliver(2, Heartbeat { seq: 5 });
    let [Fx::SetTimer(_, after)] = fx.as_slice() else { panic!("{fx:?}") };
    assert!((*after as f64 / MS as f64 - 102.3).abs() < 0.1, "{after}");
}

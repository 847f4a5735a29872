//! The bring-your-own template (`algorithms/src/template/`): the gossip's rules one handler call
//! at a time, and the simulator over a few seeds with a kill and a restart, and with loss (which
//! flooding does not survive). Copy this file beside your own algorithm's tests.

#[path = "../common/mod.rs"]
mod common;

use algorithms::faults::{Action, Target};
use algorithms::template::{GossipMsg, GossipNode, GossipParams};
use algorithms::Verdict;
use common::rules::*;
use common::*;
use serde_json::json;

use GossipMsg::Rumor;

fn rumor(id: &str) -> GossipMsg {
    Rumor { id: id.into() }
}

/// Node 2 of four, started with the default parameters (three rumors, 200 ms apart, from 100 ms).
fn node2() -> Node<GossipNode> {
    let mut n = Node::new(2, &[1, 3, 4], GossipNode::new(2, GossipParams::default()));
    assert_eq!(n.start(), vec![set_timer("spread", 100)], "the first rumor after start_after_ms");
    n
}

/// Rule 1: the spread timer makes rumor `<me>.<n>`, delivers it and sends it to every other node.
#[test]
fn a_spread_delivers_a_new_rumor_and_sends_it_to_everyone() {
    let mut n = node2();
    let mut want = vec![
        persist(json!({"spread": 1})),
        event("spread", json!({"rumor": "2.1"})),
        event("delivered", json!({"rumor": "2.1", "from": 2})),
    ];
    want.extend(sends(&[1, 3, 4], rumor("2.1")));
    want.push(set_timer("spread", 200));
    assert_eq!(fire(&mut n, "spread"), want);
}

/// Rule 1: after `rumors` of its own, no more timer.
#[test]
fn the_last_rumor_sets_no_timer() {
    let mut n = node2();
    fire(&mut n, "spread");
    fire(&mut n, "spread");
    let fx = fire(&mut n, "spread");
    assert_eq!(fx[..2], [persist(json!({"spread": 3})), event("spread", json!({"rumor": "2.3"}))]);
    assert!(!fx.iter().any(|f| matches!(f, Fx::SetTimer(..))), "{fx:?}");
}

/// Rule 2: a new rumor is delivered and relayed to everyone but its sender.
#[test]
fn a_new_rumor_is_relayed_to_all_but_the_sender() {
    let mut n = node2();
    let mut want = vec![event("delivered", json!({"rumor": "3.1", "from": 3}))];
    want.extend(sends(&[1, 4], rumor("3.1")));
    assert_eq!(n.deliver(3, rumor("3.1")), want);
}

/// Rule 3: a rumor already delivered is ignored, whoever sends it again.
#[test]
fn a_known_rumor_is_ignored() {
    let mut n = node2();
    n.deliver(3, rumor("3.1"));
    assert_eq!(n.deliver(1, rumor("3.1")), vec![]);
    fire(&mut n, "spread");
    assert_eq!(n.deliver(4, rumor("2.1")), vec![], "nor is its own");
}

/// A restarted node goes on from the count it persisted: no rumor id is given twice, and a node
/// that had spread all of its rumors sets no timer.
#[test]
fn a_restart_goes_on_from_the_persisted_count() {
    let mut n = node2();
    fire(&mut n, "spread");
    assert_eq!(n.restart(GossipNode::new(2, GossipParams::default())), vec![set_timer("spread", 100)]);
    assert_eq!(fire(&mut n, "spread")[..2], [persist(json!({"spread": 2})), event("spread", json!({"rumor": "2.2"}))]);
    fire(&mut n, "spread");
    assert_eq!(n.restart(GossipNode::new(2, GossipParams::default())), vec![]);
}

/// The command `spread` does what the timer does, at once; anything else is refused.
#[test]
fn the_spread_command_spreads_one_now() {
    let mut n = node2();
    let (reply, fx) = n.command(&["spread"]);
    assert_eq!(reply, Ok("spread 2.1".into()));
    assert_eq!(fx.len(), 3 + 3, "persist, spread, delivered, three sends: {fx:?}");
    let (reply, fx) = n.command(&["shout"]);
    assert!(reply.unwrap_err().contains("spread"));
    assert_eq!(fx, vec![]);
}

/// Four nodes, node 4 killed at 1 s and back at 1.5 s: every property holds over 10 seeds, each
/// rumor costs at most (n−1)² = 9 messages.
#[test]
fn gossip_holds_through_a_kill_and_a_restart() {
    let reports = all_hold(0..10, |seed| {
        let faults =
            vec![fault(1.0, Action::Kill { node: Target::Id(4) }), fault(1.5, Action::Restart { node: Target::Id(4) })];
        with_faults(experiment("gossip", 4, seed, 2.5, json!({})), faults)
    });
    for r in &reports {
        assert!(property(r, "agreement").judged >= 6, "{:#?}", r.properties);
        assert!(r.metrics["messages_per_rumor"].as_f64().unwrap() <= 9.0, "{:#?}", r.metrics);
    }
}

/// Flooding trusts its links: with 40 % of messages lost some rumor misses a correct node.
#[test]
fn with_loss_flooding_loses_a_rumor_and_the_checker_says_which() {
    let violated = (0..5).find_map(|seed| {
        let mut cfg = experiment("gossip", 4, seed, 2.0, json!({}));
        cfg.network.loss = 0.4;
        let (_, report) = run(&cfg);
        let p = property(&report, "agreement").clone();
        (p.verdict == Verdict::Violated).then_some(p)
    });
    let p = violated.expect("one of five seeds loses a rumor");
    assert!(p.detail.contains("never reached node"), "{p:?}");
}

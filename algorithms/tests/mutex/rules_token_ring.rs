//! The token ring's rules for a successor that restarts and for a lost token, one handler at a
//! time, as `mutex/token_ring.rs` states them: node 2 of three, no workload, the messages it sends
//! and the events it writes compared (its loss timer's jitter is the only random effect, and is
//! left out of what is compared).

use crate::common::rules::*;
use algorithms::mutex::host::MutexNode;
use algorithms::mutex::token_ring::{TokenRingMsg, TokenRingNode, TokenRingParams};
use algorithms::mutex::workload::Workload;
use serde_json::{json, Value};

fn params() -> TokenRingParams {
    let workload = Workload { rate_per_s: 0.0, resources: vec!["printer".into()], ..Default::default() };
    TokenRingParams { workload, initial_holder: 1, pass_delay_ms: 2, ack_timeout_ms: 100, loss_timeout_ms: Some(400) }
}

type Ring = MutexNode<TokenRingNode>;

/// Node 2 of 1..=3, started, with 1 and 3 announced alive.
fn node() -> Node<Ring> {
    let mut n = Node::new(2, &[1, 3], MutexNode::new(TokenRingNode::new(2, &[1, 3], params()), params().workload));
    n.start();
    n.deliver(1, TokenRingMsg::Alive { reply: false });
    n.deliver(3, TokenRingMsg::Alive { reply: false });
    n
}

fn token(gen: u64, hop: u64, seq: u64) -> TokenRingMsg {
    TokenRingMsg::Token { resource: "printer".into(), gen, hop, seq }
}

fn probe(origin: algorithms::NodeId, round: u64, gen: u64, seq: u64) -> TokenRingMsg {
    TokenRingMsg::Probe { resource: "printer".into(), origin, round, gen, seq }
}

/// The events among `effects`, by name and data.
fn events<M>(effects: &[Fx<M>]) -> Vec<(String, Value)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Fx::Event(name, data) => Some((name.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

/// Node 2 got the token from 1 and, its rest over, sent it on to 3 as ring message 1, at 10 ms.
fn token_sent_to_3() -> Node<Ring> {
    let mut n = node();
    n.at(5);
    assert_eq!(messages(&n.deliver(1, token(1, 1, 7))), vec![(1, TokenRingMsg::Ack { seq: 7 })]);
    n.at(10);
    assert_eq!(messages(&fire(&mut n, "pass:printer")), vec![(3, token(1, 2, 1))]);
    n
}

fn reclaim(from: algorithms::NodeId) -> (String, Value) {
    let data = json!({ "resource": "printer", "op": "reclaim", "from": from, "gen": 1, "hop": 2 });
    ("token".into(), data)
}

/// "A successor that does not acknowledge in time is taken for dead, the sender takes the token
/// back and sends it to the next live process."
#[test]
fn a_successor_silent_since_the_token_left_is_taken_for_dead_and_skipped() {
    let mut n = token_sent_to_3();
    n.at(110);
    let fx = fire(&mut n, "ack:1");
    assert_eq!(events(&fx)[..2], [("suspect".into(), json!({ "node": 3, "reason": "no ack" })), reclaim(3)]);
    assert_eq!(
        messages(&fx),
        vec![(1, token(1, 3, 2))],
        "the token goes on to node 1, the next live one, as a new pass"
    );
}

/// "Any message from a process shows it is alive again; so a missed ACK of a message sent before
/// the successor's last word does not make it dead": node 3 died with the token on its way and
/// announced itself again before the ACK timeout; the token is taken back and sent to it again.
#[test]
fn a_successor_heard_from_since_the_token_left_stays_in_the_ring() {
    let mut n = token_sent_to_3();
    n.at(60);
    assert_eq!(
        messages(&n.deliver(3, TokenRingMsg::Alive { reply: true })),
        vec![(3, TokenRingMsg::Alive { reply: false })]
    );
    n.at(110);
    let fx = fire(&mut n, "ack:1");
    assert_eq!(events(&fx)[..1], [reclaim(3)], "no suspect event: node 3 is alive");
    assert_eq!(messages(&fx), vec![(3, token(1, 3, 2))], "the token goes to node 3 again, as a new pass");
}

/// Node 2, restarted (it has seen no generation), probing for the printer's token: its loss timer
/// fired and its probe (origin 2, generation 0) went to node 3.
fn probing_after_restart() -> Node<Ring> {
    let mut n = node();
    n.at(500);
    let fx = fire(&mut n, "loss:printer");
    assert_eq!(events(&fx), vec![("token_suspected".into(), json!({ "resource": "printer", "round": 1, "gen": 0 }))]);
    assert_eq!(messages(&fx), vec![(3, probe(2, 1, 0, 1))]);
    n
}

/// "A probing process swallows probes of lower origins": node 1's probe of the same generation
/// is covered by node 2's own.
#[test]
fn a_probing_node_swallows_a_lower_origins_probe_of_its_own_generation() {
    let mut n = probing_after_restart();
    assert_eq!(messages(&n.deliver(1, probe(1, 1, 0, 9))), vec![(1, TokenRingMsg::Ack { seq: 9 })]);
}

/// "... and gives way to a probe of a newer generation than it has seen (its own would die on
/// the way)": node 1 has seen generation 6, node 2's probe of generation 0 will be discarded by
/// the first node that saw 6, so node 2 learns generation 6 and forwards node 1's probe.
#[test]
fn a_probing_node_gives_way_to_a_probe_of_a_newer_generation() {
    let mut n = probing_after_restart();
    let fx = n.deliver(1, probe(1, 1, 6, 9));
    assert_eq!(messages(&fx), vec![(1, TokenRingMsg::Ack { seq: 9 }), (3, probe(1, 1, 6, 2))]);
    let (state, _) = n.command(&["state"]);
    let state: Value = serde_json::from_str(&state.unwrap()).unwrap();
    assert_eq!(state["rules"]["tokens"]["printer"], json!({ "token": null, "seen": [6, 0], "probing": null }));
}

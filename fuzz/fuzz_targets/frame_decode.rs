//! The bytes of one inbound connection, through the node's own reader: the frame codec and
//! `wire::Inbound`, as `wire::decode_stream` runs them (the same code the transport runs).
//!
//! Checks: no panic; exactly one step closes the connection, and only as the last one; the
//! counters are those the steps count; every envelope handed to an instance is from the peer
//! that said hello, for this node, with clocks that cannot overflow, and re-encodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::control::Counters;
use node::wire::{self, Frame, Gate, Step, MAX_CLOCK};

fuzz_target!(|data: &[u8]| {
    let gate = Gate { me: 1, cluster: "test".into(), peers: [2, 3].into(), instances: ["bully".to_string()].into() };
    let out = wire::decode_stream(&gate, data);
    assert!(!out.steps.is_empty(), "every connection ends in a step or a clean close after a hello");
    let mut counters = Counters::default();
    let mut peer = None;
    for (i, step) in out.steps.iter().enumerate() {
        assert!(!step.closes() || i + 1 == out.steps.len(), "only the last step closes: {:?}", out.steps);
        step.count(&mut counters);
        match step {
            Step::Hello(node) => {
                assert!(i == 0 && gate.peers.contains(node), "{step:?}");
                peer = Some(*node);
            }
            Step::Deliver(envelope) => {
                assert_eq!(Some(envelope.from), peer);
                assert_eq!(envelope.to, gate.me);
                assert!(gate.instances.contains(&envelope.instance));
                assert!(envelope.lc <= MAX_CLOCK && envelope.vc.values().all(|c| *c <= MAX_CLOCK));
                let again = wire::decode(&wire::encode(&Frame::Msg(envelope.clone()))).expect("re-encoded");
                assert_eq!(again, Frame::Msg(envelope.clone()));
            }
            _ => assert!(step.reason(peer).is_none_or(|r| r.len() <= 404), "reasons stay short"),
        }
    }
    counters.frames_received = out.counters.frames_received;
    assert_eq!(counters, out.counters);
});

//! The sequencer on real node processes: `configs/sequencer.toml` (five members, bully embedded,
//! the sequencer killed mid-stream and restarted) must hold, every member must deliver one
//! order, a new sequencer must have taken over, and no process may be left behind.

use algorithms::broadcast::BroadcastEvent;
use clusterlab_e2e::*;
use std::collections::BTreeMap;

#[test]
fn the_sequencer_killed_mid_stream_is_replaced_and_every_member_delivers_one_order() {
    let scratch = Scratch::new("broadcast-sequencer");
    let out = scratch.path().join("runs");
    let output = orchestrator(&["run", "configs/sequencer.toml", "--out", out.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{}", text(&output.stderr));
    assert!(stdout.contains("verdict: HELD"), "{stdout}");
    let run_dir = latest_run(&out);
    assert!(processes_mentioning(run_dir.to_str().unwrap()).is_empty(), "nodes left behind");
    let summary = summary(&run_dir);
    assert!(summary["metrics"]["messages_per_delivery"]["per_message"].as_f64().is_some(), "{summary:#}");
    let handovers = summary["metrics"]["handover"]["handovers"].as_array().expect("handovers");
    assert!(!handovers.is_empty(), "the killed sequencer was replaced: {summary:#}");

    // One order: whatever position two members delivered, they delivered the same message there.
    let mut at: BTreeMap<u64, String> = BTreeMap::new();
    let mut delivered = 0;
    for id in 1..=5 {
        for r in trace(&run_dir, id) {
            if let Some(BroadcastEvent::Delivered { seq, id, .. }) = r.event_as::<BroadcastEvent>() {
                delivered += 1;
                let first = at.entry(seq).or_insert_with(|| id.to_string());
                assert_eq!(*first, id.to_string(), "position {seq}");
            }
        }
    }
    assert!(delivered > 50, "members delivered {delivered} messages");
}

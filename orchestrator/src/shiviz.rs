//! `orchestrator export --shiviz RUN_DIR`: the run in the log format ShiViz reads.
//!
//! The file starts with the parsing regex (named groups `host`, `clock`, `event`) and an empty
//! delimiter line (one execution), then two lines per event: `node3 {"node3":7,"node5":2}` and
//! the event's text. ShiViz rejects a log whose clocks break the textbook rules, so the clocks
//! are recomputed here from the timeline rather than copied from the traces: each host's own
//! entry rises by exactly one per exported event, a receive takes the element-wise maximum with
//! its send's clock and then ticks, and an entry for another host never exceeds the number of
//! that host's events in the file. The traces' `vc` follow the same rules, so the two agree on a
//! healthy run; they part when a record is missing (e.g. the one a SIGKILL cut off mid-write), and
//! the export says how many differ.

use crate::timeline::Timeline;
use algorithms::trace::{TraceRecord, VectorClock, What};
use algorithms::NodeId;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The first line of the log: how ShiViz splits it into host, clock and event.
pub const PARSER: &str = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)";

/// The host name ShiViz shows for a node.
pub fn host(node: NodeId) -> String {
    format!("node{node}")
}

/// The export and how many events' clocks differ from the traces' own.
pub struct Export {
    pub text: String,
    pub events: usize,
    pub differing: usize,
}

/// Writes the first `max_events` events of the timeline (all by default). A prefix of the
/// timeline is causally closed, so a cut-short export is still a valid log.
pub fn export(tl: &Timeline, max_events: Option<usize>) -> Export {
    let mut text = format!("{PARSER}\n\n");
    let mut clocks: BTreeMap<NodeId, VectorClock> = BTreeMap::new();
    // The clock each exported send carried, for its receives.
    let mut sent: Vec<Option<VectorClock>> = vec![None; tl.records.len()];
    let (mut events, mut differing) = (0, 0);
    for i in tl.record_order().take(max_events.unwrap_or(usize::MAX)) {
        let r = &tl.records[i];
        let clock = clocks.entry(r.node).or_default();
        if let Some(from) = tl.send_of[i].and_then(|s| sent[s].as_ref()) {
            clock.merge(from);
        }
        clock.tick(r.node);
        if *clock != r.vc {
            differing += 1;
        }
        if matches!(r.what, What::Send { .. }) {
            sent[i] = Some(clock.clone());
        }
        let json: serde_json::Map<String, serde_json::Value> =
            clock.iter().filter(|&(_, c)| c > 0).map(|(n, c)| (host(n), c.into())).collect();
        let _ = writeln!(text, "{} {}", host(r.node), serde_json::Value::Object(json));
        text += &describe(r);
        text.push('\n');
        events += 1;
    }
    Export { text, events, differing }
}

/// One line of text for an event, as ShiViz shows it beside the node.
pub fn describe(r: &TraceRecord) -> String {
    let text = match &r.what {
        What::Start { incarnation } => format!("start (incarnation {incarnation})"),
        What::Stop { reason } => format!("stop: {reason}"),
        What::Send { to, msg_type, msg } => {
            format!("send {msg_type} to {} {}", host(*to), short_json(&msg.json(), 200))
        }
        What::Recv { from, msg_type, msg_lc } => {
            format!("recv {msg_type} from {} (sent at its lc {msg_lc})", host(*from))
        }
        What::Timer { name } => format!("timer {name}"),
        What::Command { args, ok, reply } => {
            format!("command {} → {}: {reply}", args.join(" "), if *ok { "ok" } else { "error" })
        }
        What::Event { name, data } if data.as_object().is_some_and(|m| m.is_empty()) || data.is_null() => name.clone(),
        What::Event { name, data } => format!("{name} {}", short_json(&data.to_string(), 200)),
        What::Malformed { from, reason } => match from {
            Some(f) => format!("malformed from {}: {reason}", host(*f)),
            None => format!("malformed: {reason}"),
        },
    };
    // One event is one line: ShiViz's regex ends the event at the line's end.
    format!("{text} [lc {}]", r.lc).replace(['\n', '\r'], " ")
}

/// Compact JSON, cut at `max` characters.
pub fn short_json(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::trace::{Clocks, ShownMsg};

    /// ShiViz's rules, checked on an export: own entry +1 per event; other entries never above
    /// that host's count so far... and a receive's clock dominates its send's.
    fn check(text: &str) -> Vec<BTreeMap<String, u64>> {
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(PARSER));
        assert_eq!(lines.next(), Some(""));
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut clocks = Vec::new();
        while let Some(head) = lines.next() {
            let (host, clock) = head.split_once(' ').unwrap();
            let clock: BTreeMap<String, u64> = serde_json::from_str(clock).unwrap();
            let own = counts.entry(host.to_string()).or_default();
            *own += 1;
            assert_eq!(clock[host], *own, "{head}");
            for (h, c) in &clock {
                assert!(*c <= counts.get(h).copied().unwrap_or(0), "{head}: {h} has fewer events");
            }
            assert!(lines.next().is_some(), "an event line follows {head}");
            clocks.push(clock);
        }
        clocks
    }

    #[test]
    fn restarts_and_lost_records_still_give_textbook_clocks() {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let mut records = vec![a.stamp(1, "x", What::Start { incarnation: 1 })];
        let s = a.stamp(2, "x", What::Send { to: 2, msg_type: "ping".into(), msg: ShownMsg::of("hi\nthere") });
        records.push(s.clone());
        records.push(b.stamp_receive(3, "x", s.lc, &s.vc, What::Recv { from: 1, msg_type: "ping".into(), msg_lc: 2 }));
        // Node 1 writes a record a SIGKILL cuts off (lost), then restarts from its last record.
        let lost = a.stamp(4, "x", What::Send { to: 2, msg_type: "ping".into(), msg: ShownMsg::null() });
        records.push(b.stamp_receive(
            5,
            "x",
            lost.lc,
            &lost.vc,
            What::Recv { from: 1, msg_type: "ping".into(), msg_lc: lost.lc },
        ));
        let mut a = Clocks::resume(&s);
        records.push(a.stamp(6, "x", What::Start { incarnation: 2 }));
        let tl = Timeline::new(records, vec![]);
        let out = export(&tl, None);
        let clocks = check(&out.text);
        assert_eq!(out.events, 5);
        // The receive of the lost send cannot name node 1's third event: it does not exist.
        assert_eq!(clocks[3], BTreeMap::from([("node1".into(), 2), ("node2".into(), 2)]));
        assert_eq!(out.differing, 1);
        assert!(out.text.contains("send ping to node2 \"hi\\nthere\" [lc 2]"), "{}", out.text);
        assert!(out.text.lines().nth(7).unwrap().starts_with("recv ping from node1"));
        let short = export(&tl, Some(2));
        assert_eq!(check(&short.text).len(), 2);
    }
}

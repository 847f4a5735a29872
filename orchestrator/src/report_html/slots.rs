//! The slot view of a Multi-Paxos run: the leader changes (who ran phase 1 with which ballot,
//! and how many slots it adopted, filled with no-ops and chose), then one row per slot: the value
//! chosen there and the ballot that chose it (accepted by a majority, from the acceptors' own
//! `accepted` events, as the checker judges it), which acceptors accepted it, where the leader
//! got it (a client, adopted from an earlier ballot, a no-op filling a gap), and which servers
//! applied it. A slot with two chosen values, or applied differently by two servers, is marked.
//!
//! Bounded for long runs: at most [`MAX_SLOTS`] rows, the marked slots and those a leader change
//! touched (adopted or no-op) first, then the earliest; the section says how many it leaves out.

use crate::plots::esc;
use crate::timeline::Timeline;
use algorithms::check::events_of;
use algorithms::consensus::multipaxos::{chosen, Ballot, Chosen, MultiPaxosEvent, Origin};
use algorithms::election::ElectionEvent;
use algorithms::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// At most this many slots are shown.
pub const MAX_SLOTS: usize = 200;

/// What a leader proposed in one slot.
struct Proposed {
    op: String,
    origin: Origin,
}

fn origin_text(origin: &Origin) -> String {
    match origin {
        Origin::Client { client, seq } => format!("client {client}, seq {seq}"),
        Origin::Adopted { ballot } => format!("adopted from ballot {ballot}"),
        Origin::Noop => "no-op filling a gap".into(),
    }
}

fn nodes(set: &BTreeSet<NodeId>) -> String {
    set.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

/// The section, when the run's traces hold Multi-Paxos proposals; nothing otherwise.
pub fn section(page: &mut String, tl: &Timeline, servers: usize, ms: &dyn Fn(u64) -> f64) {
    let ids: Vec<NodeId> = (1..=servers as NodeId).collect();
    let mut proposed: BTreeMap<(u64, Ballot), Proposed> = BTreeMap::new();
    let mut applied: BTreeMap<u64, BTreeMap<String, BTreeSet<NodeId>>> = BTreeMap::new();
    for (r, e) in events_of::<MultiPaxosEvent>(&tl.records) {
        match e {
            MultiPaxosEvent::Proposed { slot, ballot, op, origin, .. } => {
                proposed.entry((slot, ballot)).or_insert(Proposed { op, origin });
            }
            MultiPaxosEvent::AppliedSlot { slot, digest } => {
                applied.entry(slot).or_default().entry(digest).or_default().insert(r.node);
            }
            _ => {}
        }
    }
    if proposed.is_empty() {
        return;
    }
    let chosen = chosen(&tl.records, &ids);
    let mut by_slot: BTreeMap<u64, Vec<&Chosen>> = BTreeMap::new();
    for c in &chosen {
        by_slot.entry(c.slot).or_default().push(c);
    }
    let slots: BTreeSet<u64> = proposed.keys().map(|(s, _)| *s).chain(by_slot.keys().copied()).collect();

    page.push_str(r#"<section id="slots"><h2>Slots</h2>"#);
    leader_changes(page, tl, &proposed, &chosen, ms);

    let differs = |slot: &u64| {
        by_slot.get(slot).is_some_and(|cs| cs.iter().map(|c| &c.digest).collect::<BTreeSet<_>>().len() > 1)
            || applied.get(slot).is_some_and(|d| d.len() > 1)
    };
    let touched = |slot: &u64| {
        proposed
            .range((*slot, Ballot::default())..)
            .take_while(|((s, _), _)| s == slot)
            .any(|(_, p)| matches!(p.origin, Origin::Noop | Origin::Adopted { .. }))
    };
    let mut shown: BTreeSet<u64> = slots.iter().copied().filter(differs).take(MAX_SLOTS).collect();
    for slot in slots.iter().copied().filter(touched).chain(slots.iter().copied()) {
        if shown.len() >= MAX_SLOTS {
            break;
        }
        shown.insert(slot);
    }
    let marked = slots.iter().filter(|s| differs(s)).count();
    let _ = write!(
        page,
        r#"<p class="facts">{} slot(s), {} chosen; {}</p>"#,
        slots.len(),
        by_slot.len(),
        if marked == 0 {
            "every chosen slot has one value, applied alike by every server that applied it".to_string()
        } else {
            format!("<strong>{marked} slot(s) with two values</strong> (marked)")
        }
    );
    if shown.len() < slots.len() {
        let _ = write!(
            page,
            r#"<p class="trim">Showing {} of {} slots: those with two values, those a leader change adopted or filled, then the earliest.</p>"#,
            shown.len(),
            slots.len()
        );
    }
    page.push_str(
        r#"<table class="slots"><thead><tr><th>slot</th><th>value</th><th>chosen in ballot</th><th>accepted by</th><th>from</th><th>applied by</th></tr></thead><tbody>"#,
    );
    for slot in &shown {
        let class = if differs(slot) { r#" class="violated""# } else { "" };
        let (mut value, mut ballot, mut acceptors, mut from) = (vec![], vec![], vec![], vec![]);
        match by_slot.get(slot) {
            Some(cs) => {
                for c in cs {
                    let p = proposed.get(&(*slot, c.ballot));
                    value.push(
                        p.map_or_else(|| format!("value {}", &c.digest[..c.digest.len().min(8)]), |p| p.op.clone()),
                    );
                    ballot.push(c.ballot.to_string());
                    acceptors.push(nodes(&c.acceptors.iter().copied().collect()));
                    from.push(p.map_or("—".to_string(), |p| origin_text(&p.origin)));
                }
            }
            None => {
                let last = proposed.range((*slot, Ballot::default())..).take_while(|((s, _), _)| s == slot).last();
                value.push(last.map_or("—".into(), |(_, p)| format!("{} (proposed, not chosen)", p.op)));
                ballot.push("—".into());
                acceptors.push("no majority".into());
                from.push(last.map_or("—".into(), |(_, p)| origin_text(&p.origin)));
            }
        }
        let appliers: Vec<String> = applied.get(slot).map(|d| d.values().map(nodes).collect()).unwrap_or_default();
        let cell = |v: &[String]| v.iter().map(|s| esc(s)).collect::<Vec<_>>().join("<br>");
        let _ = write!(
            page,
            "<tr{class}><td>{slot}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(&value),
            cell(&ballot),
            cell(&acceptors),
            cell(&from),
            if appliers.is_empty() { "—".into() } else { cell(&appliers) }
        );
    }
    page.push_str("</tbody></table></section>\n");
}

/// Every leader elected: when, its ballot, and what it did with the slots.
fn leader_changes(
    page: &mut String,
    tl: &Timeline,
    proposed: &BTreeMap<(u64, Ballot), Proposed>,
    chosen: &[Chosen],
    ms: &dyn Fn(u64) -> f64,
) {
    page.push_str(
        r#"<h3>Leader changes</h3><table class="numbers"><thead><tr><th>at</th><th>leader</th><th>ballot</th><th>adopted</th><th>no-ops</th><th>client commands</th><th>chosen in its ballot</th></tr></thead><tbody>"#,
    );
    for (r, e) in events_of::<ElectionEvent>(&tl.records) {
        let ElectionEvent::Elected(elected) = e else { continue };
        let Some(round) = elected.round else { continue };
        let ballot = Ballot { round, proposer: elected.leader };
        let mine = proposed.iter().filter(|((_, b), _)| *b == ballot);
        let (mut adopted, mut noops, mut commands) = (0, 0, 0);
        for (_, p) in mine {
            match p.origin {
                Origin::Adopted { .. } => adopted += 1,
                Origin::Noop => noops += 1,
                Origin::Client { .. } => commands += 1,
            }
        }
        let won = chosen.iter().filter(|c| c.ballot == ballot).count();
        let _ = write!(
            page,
            "<tr><td>{:.3} s</td><td>{}</td><td>{ballot}</td><td>{adopted}</td><td>{noops}</td><td>{commands}</td><td>{won}</td></tr>",
            ms(r.t) / 1000.0,
            elected.leader
        );
    }
    page.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::consensus::multipaxos::{describe, digest, Op};
    use algorithms::core::event::Event;
    use algorithms::service::{Command, Request};
    use algorithms::trace::{Clocks, TraceRecord, What};

    fn at(clocks: &mut BTreeMap<NodeId, Clocks>, ms: u64, node: NodeId, e: &impl Event) -> TraceRecord {
        let (name, data) = e.to_parts();
        let c = clocks.entry(node).or_insert_with(|| Clocks::new(node));
        c.stamp(ms * 1_000_000, "multi-paxos", What::Event { name, data })
    }

    /// Three servers: a command chosen in slot 1 by ballot (1, 1); in slot 2 a command chosen in
    /// (1, 1) and a no-op chosen over it in (2, 2), applied differently by nodes 1 and 3.
    #[test]
    fn the_slot_view_shows_each_slots_ballot_acceptors_and_source_and_marks_two_values() {
        let put =
            Op::Client(Request { client: 4, seq: 1, command: Command::Put { key: "x".into(), value: "c4-1".into() } });
        let (b1, b2) = (Ballot { round: 1, proposer: 1 }, Ballot { round: 2, proposer: 2 });
        let mut c = BTreeMap::new();
        let proposed = |slot, ballot, op: &Op, origin| MultiPaxosEvent::Proposed {
            slot,
            ballot,
            digest: digest(op),
            op: describe(op),
            origin,
        };
        let accepted = |slot, ballot, op: &Op| MultiPaxosEvent::Accepted { slot, ballot, digest: digest(op) };
        let mut records = vec![
            at(
                &mut c,
                1,
                1,
                &ElectionEvent::Elected(algorithms::election::event::Elected {
                    leader: 1,
                    round: Some(1),
                    ..Default::default()
                }),
            ),
            at(&mut c, 2, 1, &proposed(1, b1, &put, Origin::Client { client: 4, seq: 1 })),
            at(&mut c, 3, 1, &proposed(2, b1, &put, Origin::Client { client: 4, seq: 1 })),
        ];
        for n in [1, 2] {
            records.push(at(&mut c, 4, n, &accepted(1, b1, &put)));
            records.push(at(&mut c, 4, n, &accepted(2, b1, &put)));
        }
        records.push(at(&mut c, 5, 1, &MultiPaxosEvent::AppliedSlot { slot: 2, digest: digest(&put) }));
        records.push(at(
            &mut c,
            6,
            2,
            &ElectionEvent::Elected(algorithms::election::event::Elected {
                leader: 2,
                round: Some(2),
                ..Default::default()
            }),
        ));
        records.push(at(&mut c, 7, 2, &proposed(2, b2, &Op::Noop, Origin::Noop)));
        for n in [2, 3] {
            records.push(at(&mut c, 8, n, &accepted(2, b2, &Op::Noop)));
        }
        records.push(at(&mut c, 9, 3, &MultiPaxosEvent::AppliedSlot { slot: 2, digest: digest(&Op::Noop) }));
        let tl = Timeline::new(records, vec![]);
        let mut page = String::new();
        section(&mut page, &tl, 3, &|t| t as f64 / 1e6);
        assert!(page.contains("2 slot(s), 2 chosen; <strong>1 slot(s) with two values</strong>"), "{page}");
        assert!(
            page.contains("<tr><td>1</td><td>put x c4-1 (client 4, seq 1)</td><td>(1, 1)</td><td>1, 2</td><td>client 4, seq 1</td><td>—</td></tr>"),
            "{page}"
        );
        assert!(page.contains(r#"<tr class="violated"><td>2</td><td>put x c4-1 (client 4, seq 1)<br>noop</td><td>(1, 1)<br>(2, 2)</td><td>1, 2<br>2, 3</td><td>client 4, seq 1<br>no-op filling a gap</td>"#), "{page}");
        assert!(
            page.contains("<td>0.006 s</td><td>2</td><td>(2, 2)</td><td>0</td><td>1</td><td>0</td><td>1</td>"),
            "{page}"
        );

        let mut none = String::new();
        section(&mut none, &Timeline::new(vec![], vec![]), 3, &|t| t as f64);
        assert!(none.is_empty(), "no proposals, no section");
    }
}

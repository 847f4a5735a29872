//! The space-time diagram's data: which events it draws, and the compact JSON the page's script
//! draws them from.
//!
//! A browser stays responsive with a few thousand events on screen, not with a hundred thousand,
//! and a report must stay small enough to mail. So past a budget the diagram draws a choice of
//! events and says which it left out, instead of stopping at some point in time (as Maelstrom's
//! does after 10,000 events). It always draws everything that tells the story: starts, stops,
//! commands, algorithm events and the evidence of every verdict. Then whole message types, the
//! rarest first (an election's few messages before the heartbeats that surround it), then timer
//! firings. The first type that does not fit is drawn in part: its messages nearest in time to
//! a fault or an algorithm event, where something happens. A message is drawn whole or not at
//! all (its send with every receive), so a drawn send without an arrow was really not delivered.

use super::spans::{Mark, Span};
use crate::plots::esc;
use crate::shiviz::short_json;
use crate::timeline::Timeline;
use algorithms::check::events::MutexEvent;
use algorithms::check::EventRef;
use algorithms::trace::What;
use algorithms::NodeId;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

/// Colours of message types, most frequent type first (the plots use the same).
pub const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#e15759", "#86bcb6",
    "#8cd17d", "#b6992d", "#499894", "#d37295", "#a0cbe8", "#79706e",
];

/// What the diagram leaves out, in words, and the counts behind them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trim {
    pub drawn: usize,
    pub total: usize,
    /// One line per kind of event left out, e.g. "3,120 of 4,800 heartbeat messages".
    pub left_out: Vec<String>,
    /// The diagram shows one stretch of the run whole (its axis spans only that stretch).
    pub stretch: bool,
}

#[derive(Serialize)]
pub struct DiagramData {
    pub nodes: Vec<NodeId>,
    /// The axis, in ms since the run started.
    pub t0: f64,
    pub t1: f64,
    pub types: Vec<String>,
    pub colours: Vec<String>,
    /// Drawn events in timeline order: [node, t ms, lc, kind, text, detail].
    pub ev: Vec<(NodeId, f64, u64, &'static str, String, String)>,
    /// Messages: [send event, receive event or -1 when not delivered, type index, addressee].
    pub msgs: Vec<(usize, i64, usize, NodeId)>,
    /// Critical sections: [node, enter ms, exit ms (or the run's end), resource].
    pub cs: Vec<(NodeId, f64, f64, String)>,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    /// Evidence: [node, lc, property].
    pub evidence: Vec<(NodeId, u64, String)>,
    pub trim: Option<Trim>,
}

/// Message types by how often they were sent, most frequent first (ties by name).
pub fn types_by_count(tl: &Timeline) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &tl.records {
        if let What::Send { msg_type, .. } = &r.what {
            *counts.entry(msg_type.clone()).or_default() += 1;
        }
    }
    let mut types: Vec<(String, usize)> = counts.into_iter().collect();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    types
}

/// A group of records drawn together or not at all: a message (its send and receives), a lone
/// receive whose send is not in the traces, or any other single record.
struct Unit {
    records: Vec<usize>,
    t: u64,
}

/// Chooses the records to draw within `budget`; returns a flag per record and what was left out.
/// `anchor` is the first evidence of a violation, if any: where a window is centred; `start`
/// is the run's start (monotonic ns), for the times the note gives.
pub fn select(
    tl: &Timeline,
    evidence: &HashSet<(NodeId, u64)>,
    anchor: Option<(NodeId, u64)>,
    budget: usize,
    start: u64,
) -> (Vec<bool>, Option<Trim>) {
    let n = tl.records.len();
    if n <= budget {
        return (vec![true; n], None);
    }
    let of_note = tl.records.iter().filter(|r| of_note(r) || evidence.contains(&(r.node, r.lc))).count();
    if of_note > budget / 2 {
        return window(tl, anchor, budget, start);
    }
    let mut keep = vec![false; n];
    // Categories: (priority group, name) → units. Group 0: always drawn; 1: messages; 2: timers.
    let mut categories: BTreeMap<(u8, String), Vec<Unit>> = BTreeMap::new();
    let mut interesting: Vec<u64> = tl.faults.iter().map(|f| f.t).collect();
    for (i, r) in tl.records.iter().enumerate() {
        let (group, name, records) = match &r.what {
            What::Send { msg_type, .. } => {
                let mut records = vec![i];
                records.extend(tl.recvs_of.get(&i).into_iter().flatten());
                (1, format!("{msg_type} messages"), records)
            }
            What::Recv { .. } if tl.send_of[i].is_some() => continue,
            What::Recv { msg_type, .. } => (1, format!("{msg_type} messages"), vec![i]),
            What::Timer { name } => (2, format!("“{name}” timer firings"), vec![i]),
            _ => {
                interesting.push(r.t);
                (0, String::new(), vec![i])
            }
        };
        let must = records.iter().any(|j| evidence.contains(&(tl.records[*j].node, tl.records[*j].lc)));
        let key = if must { (0, String::new()) } else { (group, name) };
        categories.entry(key).or_default().push(Unit { records, t: r.t });
    }
    interesting.sort_unstable();
    let distance = |t: u64| {
        let at = interesting.partition_point(|x| *x < t);
        let after = interesting.get(at).map_or(u64::MAX, |x| x - t);
        let before = at.checked_sub(1).map_or(u64::MAX, |j| t - interesting[j]);
        after.min(before)
    };
    let mut left = budget;
    let mut left_out = Vec::new();
    // Always-drawn records first; then, within each group, the smaller categories first.
    let mut order: Vec<((u8, String), Vec<Unit>)> = categories.into_iter().collect();
    order.sort_by_key(|((group, name), units)| {
        (*group, units.iter().map(|u| u.records.len()).sum::<usize>(), name.clone())
    });
    for ((group, name), mut units) in order {
        let size: usize = units.iter().map(|u| u.records.len()).sum();
        if size <= left {
            left -= size;
            units.iter().flat_map(|u| &u.records).for_each(|j| keep[*j] = true);
            continue;
        }
        if group == 0 {
            // More events of note than the budget: draw the first ones.
            units.sort_by_key(|u| u.t);
        } else {
            units.sort_by_key(|u| (distance(u.t), u.t));
        }
        let mut drawn = 0;
        for u in &units {
            if u.records.len() <= left {
                left -= u.records.len();
                drawn += 1;
                u.records.iter().for_each(|j| keep[*j] = true);
            }
        }
        let what = if group == 0 { "events of note (algorithm events, starts, stops, commands)".into() } else { name };
        left_out.push(match (drawn, group) {
            (0, _) => format!("all {what}: {}", thousands(units.len())),
            (_, 0) => format!(
                "{} of {} {what} (the first ones are drawn)",
                thousands(units.len() - drawn),
                thousands(units.len())
            ),
            _ => format!(
                "{} of {} {what} (those drawn are the nearest to a fault or an algorithm event)",
                thousands(units.len() - drawn),
                thousands(units.len())
            ),
        });
    }
    let drawn = keep.iter().filter(|k| **k).count();
    (keep, Some(Trim { drawn, total: n, left_out, stretch: false }))
}

/// Starts, stops, commands, algorithm events, malformed input: what the diagram is for.
fn of_note(r: &algorithms::trace::TraceRecord) -> bool {
    !matches!(r.what, What::Send { .. } | What::Recv { .. } | What::Timer { .. })
}

/// When events of note alone would fill most of the budget (a long, busy run: say a mutex with
/// thousands of entries), thinning out message types cannot make room; a sample of everything
/// would be unreadable. The diagram then shows one stretch of the run in full: around the first
/// violation's evidence, else from the start, plus the other end of every message that crosses
/// the stretch's edges. (Evidence outside the stretch is listed with the verdicts, not drawn.)
fn window(tl: &Timeline, anchor: Option<(NodeId, u64)>, budget: usize, run_start: u64) -> (Vec<bool>, Option<Trim>) {
    let n = tl.records.len();
    let order: Vec<usize> = tl.record_order().collect();
    let width = (budget * 9 / 10).max(1).min(order.len());
    let at = anchor.and_then(|a| order.iter().position(|i| (tl.records[*i].node, tl.records[*i].lc) == a));
    let start = at.map_or(0, |p| p.saturating_sub(width / 2).min(order.len() - width));
    let end = start + width;
    let mut keep = vec![false; n];
    let with_partners = |i: usize, keep: &mut Vec<bool>| {
        keep[i] = true;
        if let Some(s) = tl.send_of[i] {
            keep[s] = true;
        }
        for r in tl.recvs_of.get(&i).into_iter().flatten() {
            keep[*r] = true;
        }
    };
    for i in &order[start..end] {
        with_partners(*i, &mut keep);
    }
    let drawn = keep.iter().filter(|k| **k).count();
    let seconds = |i: usize| (tl.records[order[i]].t as f64 - run_start as f64) / 1e9;
    let around = if at.is_some() { "around the first violation's evidence" } else { "from the start" };
    let mut edges = Vec::new();
    if start > 0 {
        edges.push(format!("the {} events before {:.3} s", thousands(start), seconds(start)));
    }
    if end < order.len() {
        edges.push(format!("the {} events after {:.3} s", thousands(order.len() - end), seconds(end - 1)));
    }
    let mut left_out = vec![format!(
        "{}: the diagram shows the stretch {around} whole, because the run's events of note alone \
         (algorithm events, starts, stops, commands) would fill it",
        edges.join(" and ")
    )];
    if drawn > width {
        left_out.push(format!(
            "(drawn too: the other ends of {} messages crossing the stretch's edges)",
            thousands(drawn - width)
        ));
    }
    (keep, Some(Trim { drawn, total: n, left_out, stretch: true }))
}

/// 12345 → "12,345".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Builds the diagram's data from the chosen records.
#[allow(clippy::too_many_arguments)]
pub fn data(
    tl: &Timeline,
    nodes: &[NodeId],
    ms: &dyn Fn(u64) -> f64,
    t1: f64,
    keep: &[bool],
    trim: Option<Trim>,
    (spans, marks): (Vec<Span>, Vec<Mark>),
    evidence: Vec<(EventRef, String)>,
) -> DiagramData {
    let types = types_by_count(tl);
    let type_index: BTreeMap<&str, usize> = types.iter().enumerate().map(|(i, (t, _))| (t.as_str(), i)).collect();
    let mut ev = Vec::new();
    let mut index_of = vec![usize::MAX; tl.records.len()];
    // The whole run, unless the diagram shows one stretch of it.
    let stretch = trim.as_ref().is_some_and(|t| t.stretch);
    let mut t0 = if stretch { f64::INFINITY } else { 0f64 };
    let mut t_last = if stretch { f64::NEG_INFINITY } else { t1 };
    for i in tl.record_order().filter(|i| keep[*i]) {
        let r = &tl.records[i];
        let t = (ms(r.t) * 1000.0).round() / 1000.0;
        t0 = t0.min(t);
        t_last = t_last.max(t);
        let (kind, text, detail) = match &r.what {
            What::Start { incarnation } => ("start", format!("start #{incarnation}"), String::new()),
            What::Stop { reason } => ("stop", "stop".into(), reason.clone()),
            What::Send { msg_type, msg, .. } => ("send", msg_type.clone(), short_json(&msg.json(), 300)),
            What::Recv { msg_type, .. } => ("recv", msg_type.clone(), String::new()),
            What::Timer { name } => ("timer", name.clone(), String::new()),
            What::Command { args, ok, reply } => {
                ("command", args.join(" "), format!("{}: {reply}", if *ok { "ok" } else { "error" }))
            }
            What::Event { name, data } => {
                ("event", name.clone(), if data.is_null() { String::new() } else { short_json(&data.to_string(), 300) })
            }
            What::Malformed { from, reason } => (
                "malformed",
                "malformed".into(),
                format!("{}{reason}", from.map_or(String::new(), |f| format!("from {f}: "))),
            ),
        };
        index_of[i] = ev.len();
        ev.push((r.node, t, r.lc, kind, text, detail));
    }
    let mut msgs = Vec::new();
    for i in tl.record_order().filter(|i| keep[*i]) {
        if let What::Send { msg_type, to, .. } = &tl.records[i].what {
            let ty = type_index[msg_type.as_str()];
            match tl.recvs_of.get(&i) {
                Some(recvs) => {
                    msgs.extend(recvs.iter().filter(|j| keep[**j]).map(|j| (index_of[i], index_of[*j] as i64, ty, *to)))
                }
                None => msgs.push((index_of[i], -1, ty, *to)),
            }
        }
    }
    // Critical sections whose entry or exit is drawn (both are, unless the budget is spent on
    // events of note alone), so that their number stays within the budget too.
    let mut open: BTreeMap<(NodeId, String), (f64, bool)> = BTreeMap::new();
    let mut cs = Vec::new();
    for i in tl.record_order() {
        let r = &tl.records[i];
        match r.event_as::<MutexEvent>() {
            Some(MutexEvent::EnterCs { resource }) => {
                open.insert((r.node, resource), (ms(r.t), keep[i]));
            }
            Some(MutexEvent::ExitCs { resource }) => {
                if let Some((t, drawn)) = open.remove(&(r.node, resource.clone())) {
                    if drawn || keep[i] {
                        cs.push((r.node, t, ms(r.t), resource));
                    }
                }
            }
            _ => {}
        }
        if matches!(r.what, What::Start { .. } | What::Stop { .. }) {
            // A process that restarts or stops is out of every critical section.
            let gone: Vec<(NodeId, String)> = open.keys().filter(|(n, _)| *n == r.node).cloned().collect();
            for key in gone {
                let (t, drawn) = open.remove(&key).unwrap_or_default();
                if drawn || keep[i] {
                    cs.push((key.0, t, ms(r.t), key.1));
                }
            }
        }
    }
    cs.extend(
        open.into_iter().filter(|(_, (_, drawn))| *drawn).map(|((node, resource), (t, _))| (node, t, t1, resource)),
    );
    DiagramData {
        nodes: nodes.to_vec(),
        t0,
        t1: t_last,
        colours: (0..types.len()).map(|i| PALETTE[i % PALETTE.len()].to_string()).collect(),
        types: types.into_iter().map(|(t, _)| t).collect(),
        ev,
        msgs,
        cs,
        spans,
        marks,
        evidence: evidence.into_iter().map(|(e, p)| (e.node, e.lc, p)).collect(),
        trim,
    }
}

/// The diagram's section of the page: what it left out, its controls and legend, and the empty
/// SVG the page's script draws into.
pub fn section(
    page: &mut String,
    tl: &Timeline,
    types: &[(String, usize)],
    colour_of: &BTreeMap<&str, &str>,
    trim: Option<&Trim>,
) {
    page.push_str(
        r#"<section id="diagram-section"><h2>Space-time diagram</h2>
<p class="hint">One lane per node, time to the right. An arrow is a message from its send to its receive; hover over anything for details (a message shows its body). Ctrl + wheel (or the buttons) zooms; “event order” spaces events evenly while keeping every arrow pointing forward.</p>
"#,
    );
    if let Some(trim) = trim {
        let _ = write!(
            page,
            r#"<div class="trim" id="diagram-trim"><strong>This diagram draws {} of the run's {} events.</strong> Left out:<ul>"#,
            thousands(trim.drawn),
            thousands(trim.total)
        );
        for line in &trim.left_out {
            let _ = write!(page, "<li>{}</li>", esc(line));
        }
        page.push_str("</ul>Every event is in <code>timeline.jsonl</code>; the counts, tables and plots on this page use all of them. <code>orchestrator report --max-events N</code> draws more.</div>\n");
    }
    page.push_str(r#"<div class="controls"><span class="group"><button type="button" data-zoom="out" title="zoom out">−</button><button type="button" data-zoom="in" title="zoom in">+</button><button type="button" data-zoom="fit">fit</button></span>"#);
    page.push_str(r#"<span class="group"><label><input type="radio" name="axis" value="time" checked> real time</label><label><input type="radio" name="axis" value="order"> event order</label></span>"#);
    let timers = tl.records.iter().filter(|r| matches!(r.what, What::Timer { .. })).count();
    let _ = write!(
        page,
        r#"<span class="group"><label><input type="checkbox" id="show-timers" checked> timers ({})</label><label><input type="checkbox" id="show-labels" checked> event names</label></span>"#,
        thousands(timers)
    );
    page.push_str(r#"<span class="group types">"#);
    for (i, (t, n)) in types.iter().enumerate() {
        let _ = write!(
            page,
            r#"<label class="type"><input type="checkbox" data-type="{i}" checked><span class="swatch" style="background:{}"></span>{} <span class="muted">({})</span></label>"#,
            colour_of[t.as_str()],
            esc(t),
            thousands(*n)
        );
    }
    page.push_str("</span></div>\n");
    page.push_str(LEGEND);
    page.push_str(
        r#"<div class="diagram-wrap"><div id="lane-labels"></div><div id="diagram-scroll"><svg id="diagram" xmlns="http://www.w3.org/2000/svg"></svg></div></div>
</section>
"#,
    );
}

/// The symbols of the diagram, drawn the way the script draws them.
const LEGEND: &str = r##"<div class="legend">
<span><svg width="34" height="14"><line x1="2" y1="12" x2="30" y2="3" stroke="#555" stroke-width="1.4"/><path d="M30,3 l-7,0 l4,5 z" fill="#555"/></svg>message delivered</span>
<span><svg width="34" height="14"><line x1="2" y1="12" x2="22" y2="5" stroke="#555" stroke-dasharray="3 2"/><path d="M19,2 l6,6 M25,2 l-6,6" stroke="#d62728" stroke-width="2"/></svg>not delivered</span>
<span><svg width="14" height="14"><path d="M7,1 L13,7 L7,13 L1,7 Z" fill="#d4a017" stroke="#333" stroke-width=".6"/></svg>algorithm event</span>
<span><svg width="14" height="14"><path d="M2,1 L13,7 L2,13 Z" fill="#2e7d32"/></svg>start</span>
<span><svg width="14" height="14"><rect x="2" y="2" width="10" height="10" fill="#333"/></svg>stop</span>
<span><svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="#7b1fa2"/></svg>command</span>
<span><svg width="14" height="14"><line x1="7" y1="2" x2="7" y2="12" stroke="#999" stroke-width="1.5"/></svg>timer</span>
<span><svg width="30" height="14"><rect x="1" y="3" width="28" height="8" rx="2" fill="rgba(46,160,67,.45)"/></svg>critical section</span>
<span><svg width="16" height="16"><circle cx="8" cy="8" r="6" fill="none" stroke="#d62728" stroke-width="2"/></svg>evidence</span>
<span class="sw span-down">killed / exited</span><span class="sw span-paused">paused</span><span class="sw span-partition">partition</span><span class="sw span-link">link fault</span><span class="sw span-drift">clock drift</span>
</div>
"##;

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::trace::{Clocks, ShownMsg, TraceRecord};
    use serde_json::Value;

    /// Node 1 sends `beats` heartbeats to node 2 (every 10 ns) and one election at t=500.
    fn run(beats: u64) -> Timeline {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let mut records: Vec<TraceRecord> = Vec::new();
        for k in 0..beats {
            let t = k * 10;
            let ty = if t == 500 { "election" } else { "heartbeat" };
            let s = a.stamp(t, "x", What::Send { to: 2, msg_type: ty.into(), msg: ShownMsg::null() });
            records.push(b.stamp_receive(
                t + 1,
                "x",
                s.lc,
                &s.vc,
                What::Recv { from: 1, msg_type: ty.into(), msg_lc: s.lc },
            ));
            records.push(s);
        }
        records.push(b.stamp(505, "x", What::Event { name: "elected".into(), data: Value::Null }));
        Timeline::new(records, vec![])
    }

    #[test]
    fn everything_is_drawn_within_the_budget() {
        let tl = run(10);
        let (keep, trim) = select(&tl, &HashSet::new(), None, 100, 0);
        assert!(keep.iter().all(|k| *k) && trim.is_none());
    }

    #[test]
    fn past_the_budget_rare_types_and_events_stay_and_heartbeats_near_them_are_kept() {
        let tl = run(100); // 201 records
        let (keep, trim) = select(&tl, &HashSet::new(), None, 21, 0);
        let trim = trim.unwrap();
        assert_eq!((trim.drawn, trim.total), (21, 201));
        let drawn: Vec<&TraceRecord> = tl.records.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r).collect();
        assert!(drawn.iter().any(|r| r.event_name() == Some("elected")));
        assert!(drawn.iter().any(|r| matches!(&r.what, What::Send { msg_type, .. } if msg_type == "election")));
        // Nine heartbeats, each with its receive, all within 50 ns of the election.
        let beats: Vec<u64> = drawn
            .iter()
            .filter(|r| matches!(&r.what, What::Send { msg_type, .. } if msg_type == "heartbeat"))
            .map(|r| r.t)
            .collect();
        assert_eq!(beats.len(), 9);
        assert!(beats.iter().all(|t| t.abs_diff(505) <= 50), "{beats:?}");
        assert_eq!(
            trim.left_out,
            vec!["90 of 99 heartbeat messages (those drawn are the nearest to a fault or an algorithm event)"]
        );
        // Every drawn send has its receive drawn too.
        for (i, _) in keep.iter().enumerate().filter(|(i, k)| **k && matches!(tl.records[*i].what, What::Send { .. })) {
            assert!(tl.recvs_of[&i].iter().all(|j| keep[*j]));
        }
    }

    #[test]
    fn evidence_is_always_drawn() {
        let tl = run(100);
        let last_beat = tl.records.iter().rfind(|r| matches!(r.what, What::Send { .. })).unwrap();
        let evidence = HashSet::from([(last_beat.node, last_beat.lc)]);
        let (keep, _) = select(&tl, &evidence, None, 21, 0);
        let i = tl.records.iter().position(|r| r == last_beat).unwrap();
        assert!(keep[i]);
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn when_events_of_note_fill_the_budget_a_stretch_around_the_violation_is_drawn_whole() {
        // 100 algorithm events on node 1, one message in the middle.
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let mut records: Vec<TraceRecord> =
            (0..100).map(|t| a.stamp(t * 10, "x", What::Event { name: "e".into(), data: Value::Null })).collect();
        let s = a.stamp(505, "x", What::Send { to: 2, msg_type: "m".into(), msg: ShownMsg::null() });
        records.push(b.stamp_receive(
            506,
            "x",
            s.lc,
            &s.vc,
            What::Recv { from: 1, msg_type: "m".into(), msg_lc: s.lc },
        ));
        records.push(s.clone());
        let anchor = records[70].clone();
        let tl = Timeline::new(records, vec![]);
        let evidence = HashSet::from([(anchor.node, anchor.lc), (1, 1)]);
        let (keep, trim) = select(&tl, &evidence, Some((anchor.node, anchor.lc)), 20, 0);
        let trim = trim.unwrap();
        let drawn: Vec<u64> = tl.records.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r.t).collect();
        // 18 consecutive records around t=700 (the far-away evidence at t=0 is not drawn).
        assert_eq!(drawn.len(), 18, "{drawn:?}");
        assert!(!drawn.contains(&0) && drawn.contains(&700));
        assert!(
            trim.left_out[0].starts_with("the 61 events before 0.000 s and the 23 events after"),
            "{:?}",
            trim.left_out
        );
        // From the start when nothing was violated; a message crossing the edge is drawn whole.
        let (keep, _) = select(&tl, &HashSet::new(), None, 112, 0);
        assert!(keep.iter().all(|k| *k));
        let (keep, _) = select(&tl, &HashSet::new(), None, 60, 0);
        let send = tl.records.iter().position(|r| r.t == 505).unwrap();
        let recv = tl.records.iter().position(|r| r.t == 506).unwrap();
        assert_eq!(keep[send], keep[recv]);
    }
}

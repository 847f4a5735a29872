//! Checkers every mutual exclusion algorithm shares, judged from traces alone.
//!
//! They read the events ([`MutexEvent`]) the mutex host and the rules write (`request`, `enter_cs`,
//! `exit_cs`, and for token algorithms `token`), the `send`/`recv` records, the vector clocks on
//! every record, and the faults the orchestrator applied:
//!
//! - **mutual exclusion**: for each resource, the critical sections form a chain: the exit of one
//!   happens-before the entry of the next (vector clocks) and comes first on the monotonic clock;
//!   a node that died inside counts as out from the moment it died. A violation names both
//!   intervals.
//! - **liveness**: every request is granted, unless its node died first, its node is cut off at
//!   the end from another node (one it may wait on; a cut elsewhere excuses nobody), or the run
//!   ended before it could be: a request still waiting at the end is judged once it has waited
//!   longer than `max(1 s, twice the longest completed wait)`. The longest wait is reported; a run
//!   in which no request was granted has nothing to judge (`unknown`).
//! - **fairness** (timestamp-ordered algorithms): entries come in `(timestamp, id)` order.
//! - **token conservation** (token algorithms): the token's custody intervals form the same kind
//!   of chain as critical sections, so there is never more than one token; a new token may only
//!   appear after the holder of the old one died.
//! - **message cost**: messages per entry, by type, against the textbook's formula.

use crate::check::events::mutex::{MutexEvent, Request, TokenEvent, TokenOp};
use crate::check::metric::{EntryCost, Metric};
use crate::check::{count_messages, stats, CheckReport, EventRef, Execution, PropertyInfo, PropertyResult};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::{ShownMsg, TraceRecord, VectorClock, What};
use crate::faults::AppliedFault;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const MUTUAL_EXCLUSION: PropertyInfo = PropertyInfo {
    name: "mutual_exclusion",
    promise: "never two nodes in the critical section of one resource: each exit happens-before the next entry",
};
pub const LIVENESS: PropertyInfo =
    PropertyInfo { name: "liveness", promise: "every request is granted while the nodes are alive and connected" };
pub const FAIRNESS: PropertyInfo = PropertyInfo {
    name: "fairness",
    promise: "entries to each resource come in (timestamp, id) order of their requests",
};
pub const TOKEN_CONSERVATION: PropertyInfo = PropertyInfo {
    name: "token_conservation",
    promise: "exactly one token per resource at any time; a new one only after the holder of the old one died",
};

/// How an interval ended.
#[derive(Clone, Copy, Debug)]
pub enum End<'a> {
    /// The record that ended it (`exit_cs`, or the token's `send`).
    Record(&'a TraceRecord),
    /// The process died (was killed, exited or stopped) at this time, still inside.
    Down(Nanos),
    /// Still inside when the run ended.
    Open,
}

/// An interval of one node: a critical section, or the custody of a token.
#[derive(Clone, Debug)]
pub struct Span<'a> {
    pub node: NodeId,
    pub resource: String,
    /// `enter_cs`, or the token event that gave the node the token.
    pub start: &'a TraceRecord,
    pub end: End<'a>,
    /// For critical sections: the `request` event it answers.
    pub request: Option<&'a TraceRecord>,
}

impl Span<'_> {
    pub fn end_record(&self) -> Option<&TraceRecord> {
        match self.end {
            End::Record(r) => Some(r),
            _ => None,
        }
    }

    /// The records that show this interval: its start, and its end when a record ended it.
    pub fn evidence(&self) -> Vec<EventRef> {
        let mut refs: Vec<EventRef> = self.request.iter().map(|r| EventRef::of(r)).collect();
        refs.push(EventRef::of(self.start));
        refs.extend(self.end_record().map(EventRef::of));
        refs
    }
}

/// A request that was never granted.
#[derive(Clone, Debug)]
pub struct Pending<'a> {
    pub node: NodeId,
    pub resource: String,
    pub request: &'a TraceRecord,
    /// When its process died, if it did before the end.
    pub down: Option<Nanos>,
}

/// The mutual exclusion history of a run: critical sections, waiting requests, token custody.
#[derive(Debug, Default)]
pub struct History<'a> {
    /// Critical sections in the order they were entered.
    pub sections: Vec<Span<'a>>,
    pub pending: Vec<Pending<'a>>,
    /// Token custody intervals in the order they began.
    pub custody: Vec<Span<'a>>,
    pub requests: usize,
}

/// Per node while scanning.
#[derive(Default)]
struct Scan<'a> {
    waiting: BTreeMap<String, &'a TraceRecord>,
    inside: BTreeMap<String, (Option<&'a TraceRecord>, &'a TraceRecord)>,
    holding: BTreeMap<String, &'a TraceRecord>,
}

/// The request a `request` record makes, with the rules' stamp on it.
pub fn request_of(r: &TraceRecord) -> Option<Request> {
    match r.event_as::<MutexEvent>()? {
        MutexEvent::Request(request) => Some(request),
        _ => None,
    }
}

/// The token event a `token` record shows.
pub fn token_of(r: &TraceRecord) -> Option<TokenEvent> {
    match r.event_as::<MutexEvent>()? {
        MutexEvent::Token(token) => Some(token),
        _ => None,
    }
}

impl<'a> History<'a> {
    pub fn from_run(run: &'a Execution) -> History<'a> {
        let mut h = History::default();
        let mut scans: BTreeMap<NodeId, Scan<'a>> = BTreeMap::new();
        // A process that dies writes nothing more, so a death comes after its records at the same
        // time; `Stop` records mean the same for processes stopped at the end of the run.
        let mut deaths = run
            .faults
            .iter()
            .filter_map(|f| match f.fault {
                AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => Some((f.t, node)),
                _ => None,
            })
            .peekable();
        for r in &run.records {
            while let Some((t, node)) = deaths.next_if(|(t, _)| *t < r.t) {
                h.down(&mut scans, node, t);
            }
            let scan = scans.entry(r.node).or_default();
            match &r.what {
                What::Start { .. } | What::Stop { .. } => {
                    h.down(&mut scans, r.node, r.t);
                }
                What::Event { .. } => match r.event_as::<MutexEvent>() {
                    Some(MutexEvent::Request(Request { resource, .. })) => {
                        h.requests += 1;
                        if let Some(earlier) = scan.waiting.insert(resource.clone(), r) {
                            // A second request before the first was granted: the first is lost.
                            h.pending.push(Pending { node: r.node, resource, request: earlier, down: None });
                        }
                    }
                    Some(MutexEvent::EnterCs { resource }) => {
                        let request = scan.waiting.remove(&resource);
                        scan.inside.insert(resource, (request, r));
                    }
                    Some(MutexEvent::ExitCs { resource }) => {
                        if let Some((request, start)) = scan.inside.remove(&resource) {
                            h.sections.push(Span { node: r.node, resource, start, end: End::Record(r), request });
                        }
                    }
                    Some(MutexEvent::Token(TokenEvent { resource, op, .. })) => match op {
                        TokenOp::Create | TokenOp::Receive | TokenOp::Reclaim => {
                            if let Some(start) = scan.holding.insert(resource.clone(), r) {
                                // Took the token again without passing it on: keep one span.
                                scan.holding.insert(resource, start);
                            }
                        }
                        TokenOp::Send => {
                            if let Some(start) = scan.holding.remove(&resource) {
                                h.custody.push(Span {
                                    node: r.node,
                                    resource,
                                    start,
                                    end: End::Record(r),
                                    request: None,
                                });
                            }
                        }
                        TokenOp::Discard => {}
                    },
                    None => {}
                },
                _ => {}
            }
        }
        for (t, node) in deaths {
            h.down(&mut scans, node, t);
        }
        for (node, scan) in scans {
            for (resource, (request, start)) in scan.inside {
                h.sections.push(Span { node, resource, start, end: End::Open, request });
            }
            for (resource, start) in scan.holding {
                h.custody.push(Span { node, resource, start, end: End::Open, request: None });
            }
            for (resource, request) in scan.waiting {
                h.pending.push(Pending { node, resource, request, down: None });
            }
        }
        let order = |s: &Span| (s.start.t, s.start.node, s.start.lc);
        h.sections.sort_by_key(order);
        h.custody.sort_by_key(order);
        h
    }

    /// `node` died (or stopped, or restarted after an unrecorded death) at `t`.
    fn down(&mut self, scans: &mut BTreeMap<NodeId, Scan<'a>>, node: NodeId, t: Nanos) {
        let Some(scan) = scans.get_mut(&node) else { return };
        for (resource, (request, start)) in std::mem::take(&mut scan.inside) {
            self.sections.push(Span { node, resource, start, end: End::Down(t), request });
        }
        for (resource, start) in std::mem::take(&mut scan.holding) {
            self.custody.push(Span { node, resource, start, end: End::Down(t), request: None });
        }
        for (resource, request) in std::mem::take(&mut scan.waiting) {
            self.pending.push(Pending { node, resource, request, down: Some(t) });
        }
    }

    /// How far the requests got: `(exited, inside, waiting)` — entered and left; entered and
    /// still inside (or died inside); never entered. Message cost bounds are built from these.
    pub fn tally(&self) -> (u64, u64, u64) {
        let exited = self.sections.iter().filter(|s| s.end_record().is_some()).count() as u64;
        (exited, self.sections.len() as u64 - exited, self.pending.len() as u64)
    }

    /// Every critical section entered, whether or not it was left before the end.
    pub fn entries(&self) -> usize {
        self.sections.len()
    }

    /// Request to entry, in milliseconds, for every entry that answers a request.
    pub fn waits_ms(&self) -> Vec<f64> {
        self.sections.iter().filter_map(|s| s.request.map(|r| (s.start.t - r.t) as f64 / MS as f64)).collect()
    }
}

/// Whether everything `a` knew, `b` knew too: the event of `a` happened-before (or is) `b`'s.
pub fn happened_before(a: &VectorClock, b: &VectorClock) -> bool {
    a.iter().all(|(node, count)| b.get(node) >= count)
}

/// The first two intervals of one resource that overlap: the earlier one did not end (by a
/// record that happens-before, and is earlier on the monotonic clock than, the later one's start;
/// or by its process dying first). Returns the pair and why.
pub fn first_overlap<'s, 'a>(
    run: &Execution,
    spans: &'s [Span<'a>],
    what: &str,
) -> Option<(&'s Span<'a>, &'s Span<'a>, String)> {
    let mut by_resource: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        by_resource.entry(&s.resource).or_default().push(s);
    }
    let mut found: Vec<(&Span, &Span, String)> = Vec::new();
    for (resource, list) in by_resource {
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let both = format!(
                "nodes {} and {} both held {what} {resource:?}: node {} from {:.1} ms",
                a.node,
                b.node,
                a.node,
                run.ms(a.start.t)
            );
            let why = match a.end {
                End::Record(exit) if !happened_before(&exit.vc, &b.start.vc) => Some(format!(
                    "{both} to {:.1} ms, node {} from {:.1} ms; node {}'s exit does not happen-before node {}'s entry (vector clocks {} and {})",
                    run.ms(exit.t),
                    b.node,
                    run.ms(b.start.t),
                    a.node,
                    b.node,
                    show_vc(&exit.vc),
                    show_vc(&b.start.vc)
                )),
                End::Record(exit) if exit.t > b.start.t => Some(format!(
                    "{both} to {:.1} ms, node {} from {:.1} ms: by the monotonic clock node {} entered before node {} left",
                    run.ms(exit.t),
                    b.node,
                    run.ms(b.start.t),
                    b.node,
                    a.node
                )),
                End::Down(t) if t > b.start.t => Some(format!(
                    "{both} until it died at {:.1} ms, node {} from {:.1} ms",
                    run.ms(t),
                    b.node,
                    run.ms(b.start.t)
                )),
                End::Open => Some(format!(
                    "{both} and never gave it up, node {} from {:.1} ms",
                    b.node,
                    run.ms(b.start.t)
                )),
                _ => None,
            };
            if let Some(why) = why {
                found.push((a, b, why));
                break;
            }
        }
    }
    found.into_iter().min_by_key(|(_, b, _)| b.start.t)
}

fn show_vc(vc: &VectorClock) -> String {
    let parts: Vec<String> = vc.iter().map(|(n, c)| format!("{n}:{c}")).collect();
    format!("{{{}}}", parts.join(","))
}

/// Never two nodes in the critical section of one resource.
pub fn mutual_exclusion(run: &Execution, h: &History) -> PropertyResult {
    if let Some((a, b, why)) = first_overlap(run, &h.sections, "the critical section of") {
        let mut evidence = a.evidence();
        evidence.extend(b.evidence());
        return PropertyResult::violated(MUTUAL_EXCLUSION.name, why, evidence);
    }
    let resources: BTreeSet<&str> = h.sections.iter().map(|s| s.resource.as_str()).collect();
    let detail = format!(
        "{} critical section(s) over {} resource(s), each exit happens-before the next entry",
        h.sections.len(),
        resources.len()
    );
    PropertyResult::held(MUTUAL_EXCLUSION.name, h.sections.len(), "critical section was entered", detail)
}

/// How long a request may still be waiting at the end of the run before it counts as starved.
pub fn liveness_grace(h: &History) -> Nanos {
    let longest = h.waits_ms().into_iter().fold(0.0, f64::max);
    ((2.0 * longest * MS as f64) as Nanos).max(1000 * MS)
}

/// The other nodes `node` cannot reach, or be reached from, at `t`: a cut link either way.
pub fn cut_from(run: &Execution, node: NodeId, t: Nanos) -> Vec<NodeId> {
    let cut = run.cut_at(t);
    let cut_off = |m: &NodeId| *m != node && (cut.contains(&(node, *m)) || cut.contains(&(*m, node)));
    run.nodes.iter().copied().filter(cut_off).collect()
}

/// Every request granted, unless its node died first, its node is cut off at the end from a
/// node it waits on (every algorithm of the family may wait on any other node), or the run ended
/// too soon after it. Held only when some request was granted.
pub fn liveness(run: &Execution, h: &History) -> PropertyResult {
    let grace = liveness_grace(h);
    // Nodes stopped when the run ended are not dead: their waiting requests are judged.
    let (mut starved, mut died, mut recent, mut cut_off) = (Vec::new(), 0, 0, BTreeMap::new());
    for w in &h.pending {
        if w.down.is_some_and(|t| t < run.end) {
            died += 1;
        } else if w.request.t + grace >= run.end {
            recent += 1;
        } else if !cut_from(run, w.node, run.end).is_empty() {
            *cut_off.entry(w.node).or_insert(0) += 1;
        } else {
            starved.push(w);
        }
    }
    if let Some(w) = starved.iter().min_by_key(|w| w.request.t) {
        let detail = format!(
            "{} request(s) never granted; the oldest: node {} asked for {:?} at {:.1} ms and was still waiting when the run ended at {:.1} ms",
            starved.len(),
            w.node,
            w.resource,
            run.ms(w.request.t),
            run.ms(run.end)
        );
        return PropertyResult::violated(
            LIVENESS.name,
            detail,
            starved.iter().map(|w| EventRef::of(w.request)).collect(),
        );
    }
    let mut notes = Vec::new();
    if died > 0 {
        notes.push(format!("{died} ended by the death of their node"));
    }
    for (node, count) in &cut_off {
        let others = cut_from(run, *node, run.end);
        notes.push(format!("{count} at node {node}, cut off from node(s) {others:?} at the end, not judged"));
    }
    if recent > 0 {
        notes.push(format!("{recent} made in the last {:.0} ms, still waiting at the end", grace as f64 / MS as f64));
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) };
    let granted: Vec<(Nanos, &Span, &TraceRecord)> =
        h.sections.iter().filter_map(|s| s.request.map(|r| (s.start.t - r.t, s, r))).collect();
    let nothing = match h.requests {
        0 => "request was made".to_string(),
        n => format!("request was granted; {n} request(s){notes}"),
    };
    let Some((wait, s, r)) = granted.iter().max_by_key(|x| x.0) else {
        return PropertyResult::held(LIVENESS.name, 0, &nothing, "");
    };
    let detail = format!(
        "{} request(s), {} granted{notes}; longest wait {:.1} ms (node {}, {:?})",
        h.requests,
        granted.len(),
        *wait as f64 / MS as f64,
        s.node,
        s.resource
    );
    PropertyResult::held(LIVENESS.name, granted.len(), &nothing, detail)
        .with_evidence(vec![EventRef::of(r), EventRef::of(s.start)])
}

/// Entries come in `(ts, id)` order of their requests (each `request` event carries `"ts"`).
pub fn fairness(run: &Execution, h: &History) -> PropertyResult {
    let key = |s: &Span| s.request.and_then(request_of).and_then(|r| r.ts).map(|ts| (ts, s.node));
    let mut by_resource: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for s in &h.sections {
        by_resource.entry(&s.resource).or_default().push(s);
    }
    let mut judged = 0;
    for (resource, list) in by_resource {
        let keyed: Vec<(&Span, (u64, NodeId))> = list.into_iter().filter_map(|s| key(s).map(|k| (s, k))).collect();
        for pair in keyed.windows(2) {
            let ((a, ka), (b, kb)) = (pair[0], pair[1]);
            judged += 1;
            if ka >= kb {
                let detail = format!(
                    "{resource:?}: node {} (request ({}, {})) entered at {:.1} ms before node {} (request ({}, {})) at {:.1} ms, out of (timestamp, id) order",
                    a.node,
                    ka.0,
                    ka.1,
                    run.ms(a.start.t),
                    b.node,
                    kb.0,
                    kb.1,
                    run.ms(b.start.t)
                );
                let mut evidence = a.evidence();
                evidence.extend(b.evidence());
                return PropertyResult::violated(FAIRNESS.name, detail, evidence);
            }
        }
    }
    let detail = format!("{} entries, each in (timestamp, id) order after the one before", judged + 1);
    PropertyResult::held(FAIRNESS.name, judged, "two timestamped entries to one resource to compare", detail)
}

/// Never two tokens of one resource: custody intervals chain like critical sections.
pub fn token_conservation(run: &Execution, h: &History) -> PropertyResult {
    let created: Vec<(&TraceRecord, TokenEvent)> = run
        .records
        .iter()
        .filter_map(|r| token_of(r).filter(|token| token.op == TokenOp::Create).map(|token| (r, token)))
        .collect();
    if let Some((a, b, why)) = first_overlap(run, &h.custody, "the token of") {
        let mut evidence = a.evidence();
        evidence.extend(b.evidence());
        return PropertyResult::violated(TOKEN_CONSERVATION.name, format!("two tokens at once: {why}"), evidence);
    }
    let regenerated: Vec<String> = created
        .iter()
        .filter(|(_, token)| token.reason.as_deref() == Some("regenerated"))
        .map(|(r, _)| format!("node {} at {:.1} ms", r.node, run.ms(r.t)))
        .collect();
    let lost: Vec<String> = h
        .custody
        .iter()
        .filter_map(|s| match s.end {
            End::Down(t) if t < run.end => Some(format!("with node {} at {:.1} ms", s.node, run.ms(t))),
            _ => None,
        })
        .collect();
    let detail = format!(
        "{} custody interval(s), never two tokens of one resource at once; {} token(s) created{}{}",
        h.custody.len(),
        created.len(),
        if lost.is_empty() { String::new() } else { format!("; lost {}", lost.join(", ")) },
        if regenerated.is_empty() { String::new() } else { format!("; regenerated by {}", regenerated.join(", ")) }
    );
    // Custody without a creation is a trace that began mid-run: nothing to anchor it on.
    let judged = if created.is_empty() { 0 } else { h.custody.len() };
    PropertyResult::held(TOKEN_CONSERVATION.name, judged, "token was ever created", detail)
}

/// Messages per entry in a run, by type.
#[derive(Clone, Debug)]
pub struct Cost {
    pub entries: usize,
    pub total: u64,
    pub by_type: BTreeMap<String, u64>,
}

impl Cost {
    /// Counts every message sent, except the types in `ignore` (e.g. membership announcements).
    pub fn of(run: &Execution, h: &History, ignore: &[&str]) -> Cost {
        let mut by_type = count_messages(&run.records).by_type;
        by_type.retain(|t, _| !ignore.contains(&t.as_str()));
        Cost { entries: h.entries(), total: by_type.values().sum(), by_type }
    }

    pub fn per_entry(&self) -> f64 {
        if self.entries == 0 {
            0.0
        } else {
            self.total as f64 / self.entries as f64
        }
    }

    /// `messages_per_entry` for the metrics ([`EntryCost`]): measured, textbook, and per type.
    /// An algorithm may add figures of its own to the object.
    pub fn metric(&self, textbook: &str, textbook_value: Option<f64>) -> Value {
        let per = |n: u64| if self.entries == 0 { 0.0 } else { round2(n as f64 / self.entries as f64) };
        Metric::PerEntry(EntryCost {
            entries: self.entries,
            messages: self.total,
            measured: round2(self.per_entry()),
            textbook: textbook.to_string(),
            textbook_value,
            by_type: self.by_type.iter().map(|(t, n)| (t.clone(), per(*n))).collect(),
            extra: BTreeMap::new(),
        })
        .to_value()
    }

    /// Held when `lower ≤ messages ≤ upper`; the bounds come from the textbook per-entry cost
    /// applied to the completed entries and to the requests still open at the end.
    pub fn judge(&self, name: &str, lower: u64, upper: u64, textbook: &str) -> PropertyResult {
        let types: Vec<String> = self.by_type.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let measured = format!(
            "{} messages for {} entries = {:.2} per entry ({}); textbook {textbook}",
            self.total,
            self.entries,
            self.per_entry(),
            types.join(", ")
        );
        if self.entries > 0 && (self.total < lower || self.total > upper) {
            let detail = format!("{measured}; expected between {lower} and {upper} messages for this run");
            return PropertyResult::violated(name, detail, vec![]);
        }
        PropertyResult::held(name, self.entries, &format!("entry to count messages for; {measured}"), measured)
    }
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The shared part of every mutex report: mutual exclusion, liveness, and the timing metrics
/// (`wait_ms`, `sync_delay_ms`, `entries`, `entries_per_s`).
pub fn common_report(run: &Execution, h: &History) -> CheckReport {
    let mut report = CheckReport { properties: vec![mutual_exclusion(run, h), liveness(run, h)], ..Default::default() };
    report.metrics.insert("wait_ms".into(), stats(&h.waits_ms()));
    report.metrics.insert("sync_delay_ms".into(), stats(&sync_delays_ms(h)));
    report.metrics.insert("entries".into(), json!(h.entries()));
    let seconds = run.end.saturating_sub(run.start) as f64 / 1e9;
    let rate = if seconds > 0.0 { round2(h.entries() as f64 / seconds) } else { 0.0 };
    report.metrics.insert("entries_per_s".into(), json!(rate));
    report
}

/// The report of an algorithm that asks every other node's permission (Lamport,
/// Ricart–Agrawala): the shared report, fairness, and the message cost. An entry left costs
/// `per_exit`·(N−1) messages (`formula` names it, e.g. `3(N−1)`), an entry still inside at the end
/// `per_inside`·(N−1), and a request still waiting its N−1 requests and up to N−1 replies.
pub fn permission_report(run: &Execution, per_exit: u64, per_inside: u64, formula: &str) -> CheckReport {
    let h = History::from_run(run);
    let mut report = common_report(run, &h);
    report.properties.push(fairness(run, &h));
    let n1 = run.nodes.len().saturating_sub(1) as u64;
    let (exited, inside, waiting) = h.tally();
    let base = per_exit * n1 * exited + per_inside * n1 * inside;
    let cost = Cost::of(run, &h, &[]);
    let textbook = format!("{formula} = {}", per_exit * n1);
    report.properties.push(cost.judge("message_cost", base + n1 * waiting, base + 2 * n1 * waiting, &textbook));
    report.metrics.insert("messages_per_entry".into(), cost.metric(&textbook, Some((per_exit * n1) as f64)));
    report
}

/// Synchronization delay: from one node's exit to the next node's entry to the same resource,
/// counted only when the next one was already waiting at the exit (else the gap is idle time).
pub fn sync_delays_ms(h: &History) -> Vec<f64> {
    let mut by_resource: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for s in &h.sections {
        by_resource.entry(&s.resource).or_default().push(s);
    }
    let mut delays = Vec::new();
    for list in by_resource.values() {
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if let (End::Record(exit), Some(request)) = (a.end, b.request) {
                if request.t < exit.t && b.start.t >= exit.t {
                    delays.push((b.start.t - exit.t) as f64 / MS as f64);
                }
            }
        }
    }
    delays
}

/// The data of an algorithm event (`Null` for other records). Untyped: the shared checks read
/// events as [`MutexEvent`] ([`request_of`], [`token_of`]); this is for events with no type yet.
pub fn event_data(r: &TraceRecord) -> &Value {
    static NULL: Value = Value::Null;
    match &r.what {
        What::Event { data, .. } => data,
        _ => &NULL,
    }
}

/// Every `send` record's message, by its id `(node, lc)`: what a `recv` record received.
pub fn sends_by_id(run: &Execution) -> BTreeMap<(NodeId, u64), &ShownMsg> {
    run.records
        .iter()
        .filter_map(|r| match &r.what {
            What::Send { msg, .. } => Some(((r.node, r.lc), msg)),
            _ => None,
        })
        .collect()
}

/// A field of a message as traced: messages are enums, shown as `{"Variant": {fields}}`.
pub fn message_field(msg: &ShownMsg, field: &str) -> Option<String> {
    let msg = msg.value();
    let fields = match msg.as_object() {
        Some(map) if map.len() == 1 && !map.contains_key(field) => map.values().next()?,
        _ => &msg,
    };
    match fields.get(field)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

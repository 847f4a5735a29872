//! Bully's checker (in an election by attribute, "higher" below means a better (attribute, id)):
//! agreement in stable periods, election latency and cost (shared with the other
//! elections), and the two safety rules *during* elections, judged at the step where a rule
//! breaks rather than through its side effects later (a stable period that disagrees, a message
//! count over the bound).
//!
//! The algorithm rests on one timing assumption (Garcia-Molina's synchronous system): a live
//! process answers, and its ANSWER comes back, within `answer_timeout` of the ELECTION. Under that
//! assumption it promises two things while an election runs:
//!
//! - **`no_premature_coordinator`**: no process declares itself coordinator (`elected`) while a
//!   higher id is *up and reachable*: running and not paused, with neither direction of the link
//!   between them cut, lossy or delayed by a fault, from `answer_timeout` before the declaring
//!   process's election round began until the declaration. The round begins at its last
//!   `election_started` (or `answer_timeout` before the declaration, for traces without one); its
//!   ELECTION then reached the higher id, which answered, and the answer was back long before the
//!   round's `answer_timeout` ran out. The extra `answer_timeout` before the round covers a
//!   process that has only just come up (a real node's peers reconnect to it) and late timers.
//! - **`elections_answered`**: every ELECTION a process receives from a lower id is answered in
//!   the same step (its next input is handled only after the ANSWER is sent); and every ELECTION
//!   sent to a higher id that is up and reachable (as above, from `answer_timeout` before the send
//!   until `answer_timeout` after it) is received there and its ANSWER is back at the sender within
//!   `answer_timeout`.
//!
//! What "reachable" leaves out, on purpose: a paused process is not live (it acts on nothing, and
//! answers a burst of old messages when it resumes); a link with loss, extra delay, duplication or
//! reordering is not *reliably* reachable, so a pair joined by one is not judged; nor is a pair
//! split by a partition or a one-way cut. A declaring process that was itself down or paused during
//! its round is not judged either (its timer fired as it resumed). A message the network lost on
//! the way (a `send` with no `recv`) excuses its round too: the link was not reliable then,
//! whatever the fault log says. What is left is the protocol's own doing: an ELECTION never sent to
//! a higher id, one received and not answered, an ANSWER that arrived and was ignored, or one that
//! came back later than the timeout over a healthy link.

use super::{BullyMsg, BullyParams, ELECTION_MESSAGES};
use crate::check::election::{
    election_latency, episodes, listing, message_metric, sends_by_type, stable_agreement, Elections, Expect, Timed,
};
use crate::check::{count_messages, stats, CheckReport, EventRef, Execution, PropertyResult, View};
use crate::core::process::{Message, Nanos, NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use crate::election::ElectionEvent;
use crate::faults::{AppliedFault, LinkSpec};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub const NO_PREMATURE_COORDINATOR: &str = "no_premature_coordinator";
pub const ELECTIONS_ANSWERED: &str = "elections_answered";

pub fn check_bully(run: &Execution, params: &BullyParams) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len() as u64;
    let worst = (n * n).saturating_sub(1);
    let el = Elections::new(run, run.nodes.clone()).by(&params.attributes);
    let anyone = |_: Nanos| true;

    let agreement = stable_agreement(&el, bound, Expect::Best, &anyone);
    let eps = episodes(&el, true);
    let (latency, timed) = election_latency(&el, &eps, bound, Expect::Best, &anyone);

    // The textbook's bound is for one election among running processes: at start the processes
    // come up one by one, and after a heal TCP delivers the messages it held back during the
    // partition, so only elections after a leader's death or a higher id's return are held to
    // it (the others are still counted).
    const COST: &str = "election_message_cost";
    let (mut samples, mut compared, mut violation) = (Vec::new(), 0, None);
    for t in &timed {
        let counts = sends_by_type(&run.records, &ELECTION_MESSAGES, t.episode.t0, t.done);
        let sent: u64 = counts.values().sum();
        if matches!(t.episode.why, "leader killed" | "leader exited" | "higher id restarted") {
            compared += 1;
            if sent > worst && violation.is_none() {
                let detail = format!(
                    "election after {} at {:.0} ms cost {sent} messages, above the worst case n²−1 = {worst}",
                    t.episode.why,
                    run.ms(t.episode.t0)
                );
                violation = Some(PropertyResult::violated(COST, detail, vec![]));
            }
        }
        samples.push(counts);
    }
    let cost = violation.unwrap_or_else(|| {
        let totals: Vec<u64> = samples.iter().map(|s| s.values().sum()).collect();
        let detail = format!(
            "messages per election {} ({compared} held to the textbook); textbook: best n−2 = {}, worst n²−1 = {worst}",
            listing(&totals),
            n.saturating_sub(2)
        );
        let nothing = format!(
            "election after a leader's death or a higher id's return to compare with n²−1 = {worst} ({} other election(s) measured)",
            samples.len()
        );
        PropertyResult::held(COST, compared, &nothing, detail)
    });

    let premature = no_premature_coordinator(&el, params);
    let answered = elections_answered(&el, params);
    let mut report =
        CheckReport { properties: vec![agreement, latency, cost, premature, answered], ..Default::default() };
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), stats(&latencies));
    let textbook = json!(format!("best n−2 = {}, worst O(n²): n²−1 = {worst}", n.saturating_sub(2)));
    report.metrics.insert("messages_per_election".into(), message_metric(&samples, textbook));
    report.metrics.insert("heartbeats".into(), json!(count_messages(&run.records).by_type.get("heartbeat")));
    report
}

/// The records of one run, by node and by message, for following one message through.
struct Index<'a> {
    by_node: BTreeMap<NodeId, Vec<&'a TraceRecord>>,
    /// `(sender, lc of the send)` and the first receive of that message, sorted for lookup.
    received: Vec<((NodeId, u64), &'a TraceRecord)>,
    /// When each node was killed or exited.
    deaths: BTreeMap<NodeId, Vec<Nanos>>,
    /// When each node's process started or stopped, in order.
    restarts: BTreeMap<NodeId, Vec<Nanos>>,
}

impl<'a> Index<'a> {
    fn new(run: &'a Execution) -> Index<'a> {
        let mut by_node: BTreeMap<NodeId, Vec<&TraceRecord>> = BTreeMap::new();
        let mut received = Vec::new();
        let mut restarts: BTreeMap<NodeId, Vec<Nanos>> = BTreeMap::new();
        for r in &run.records {
            by_node.entry(r.node).or_default().push(r);
            match &r.what {
                What::Recv { from, msg_lc, .. } => received.push(((*from, *msg_lc), r)),
                What::Start { .. } | What::Stop { .. } => restarts.entry(r.node).or_default().push(r.t),
                _ => {}
            }
        }
        // Stable: of two receives of one message (a duplicate), the first in the run stays.
        received.sort_by_key(|(id, _)| *id);
        received.dedup_by_key(|(id, _)| *id);
        let mut deaths: BTreeMap<NodeId, Vec<Nanos>> = BTreeMap::new();
        for f in &run.faults {
            if let AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } = f.fault {
                deaths.entry(node).or_default().push(f.t);
            }
        }
        Index { by_node, received, deaths, restarts }
    }

    fn records(&self, node: NodeId) -> &[&'a TraceRecord] {
        self.by_node.get(&node).map_or(&[], Vec::as_slice)
    }

    fn receive_of(&self, send: &TraceRecord) -> Option<&'a TraceRecord> {
        let id = (send.node, send.lc);
        self.received.binary_search_by_key(&id, |(id, _)| *id).ok().map(|i| self.received[i].1)
    }

    /// Sends of `msg` from `from` to `to` with `after <= t <= until`, in order. A node's records
    /// are in time order, so the window is found by binary search, not by a scan of the run.
    fn sends(&self, from: NodeId, to: NodeId, msg: &BullyMsg, after: Nanos, until: Nanos) -> Vec<&'a TraceRecord> {
        let list = self.records(from);
        let start = list.partition_point(|r| r.t < after);
        list[start..].iter().copied().take_while(|r| r.t <= until).filter(|r| is_send(r, to, msg)).collect()
    }

    /// Whether `node`'s process started or stopped in `(from, to]`.
    fn restarted(&self, node: NodeId, from: Nanos, to: Nanos) -> bool {
        let times = self.restarts.get(&node).map_or(&[][..], Vec::as_slice);
        times.get(times.partition_point(|t| *t <= from)).is_some_and(|t| *t <= to)
    }

    /// What `node` did in the step that handled `input`: its records up to its next input, or
    /// to the end of its trace. `None` when its incarnation ended first (killed, or exited, in
    /// the middle of the step: a restart or a death comes before its next input).
    fn step_after(&self, input: &TraceRecord) -> Option<Vec<&'a TraceRecord>> {
        let list = self.records(input.node);
        // A node's records are in `lc` order (each record ticks it), unless a restart lost its
        // clocks: then the slow way.
        let at = match list.binary_search_by_key(&input.lc, |r| r.lc) {
            Ok(at) if std::ptr::eq(list[at], input) => at,
            _ => list.iter().position(|r| std::ptr::eq(*r, input) || r.lc == input.lc)?,
        };
        let mut step = Vec::new();
        for r in &list[at + 1..] {
            if is_input(r) {
                return (!matches!(r.what, What::Start { .. })).then_some(step);
            }
            step.push(*r);
        }
        let died = self.deaths.get(&input.node).is_some_and(|ts| ts.iter().any(|t| *t >= input.t));
        (!died).then_some(step)
    }
}

/// A record that starts a step: something the process reacts to.
fn is_input(r: &TraceRecord) -> bool {
    matches!(
        r.what,
        What::Recv { .. }
            | What::Timer { .. }
            | What::Command { .. }
            | What::Start { .. }
            | What::Stop { .. }
            | What::Malformed { .. }
    )
}

fn is_send(r: &TraceRecord, to: NodeId, msg: &BullyMsg) -> bool {
    matches!(&r.what, What::Send { to: t, msg_type, .. } if *t == to && msg_type == msg.kind())
}

/// Why `node` was not up (running and not paused) throughout `[from, to]`, if it was not.
fn not_up(el: &Elections, index: &Index, node: NodeId, from: Nanos, to: Nanos) -> Option<&'static str> {
    const DOWN: &str = "down or paused";
    if el.views.at(node, from) == View::Down {
        return Some(DOWN);
    }
    let struck = el.run.faults.iter().filter(|f| f.t >= from && f.t <= to).any(|f| {
        matches!(f.fault, AppliedFault::Kill { node: n, .. } | AppliedFault::Exited { node: n, .. } | AppliedFault::Pause { node: n } if n == node)
    });
    (struck || index.restarted(node, from, to)).then_some(DOWN)
}

/// Why the link between `a` and `b` was not reliably up both ways throughout `[from, to]`: a
/// partition or one-way cut, or a per-message fault (loss, delay, duplication, reordering).
fn link_trouble(run: &Execution, a: NodeId, b: NodeId, from: Nanos, to: Nanos) -> Option<&'static str> {
    let mut partition: BTreeSet<(NodeId, NodeId)> = BTreeSet::new();
    let mut links: BTreeMap<(NodeId, NodeId), LinkSpec> = BTreeMap::new();
    let trouble = |partition: &BTreeSet<(NodeId, NodeId)>, links: &BTreeMap<(NodeId, NodeId), LinkSpec>| {
        if partition.contains(&(a, b)) || partition.contains(&(b, a)) {
            return Some("cut by a partition");
        }
        let faulty = |k| links.get(&k).is_some_and(|s: &LinkSpec| !s.is_clear());
        (faulty((a, b)) || faulty((b, a))).then_some("a faulty link")
    };
    // The state in force at `from`, then every state the faults inside the window set up.
    let mut checked_from = false;
    for f in run.faults.iter().take_while(|f| f.t <= to) {
        if f.t > from && !checked_from {
            checked_from = true;
            if let Some(why) = trouble(&partition, &links) {
                return Some(why);
            }
        }
        match &f.fault {
            AppliedFault::Partition { cut, .. } => partition = cut.iter().copied().collect(),
            AppliedFault::Heal => {
                partition.clear();
                links.clear();
            }
            AppliedFault::Link(spec) if spec.is_clear() => {
                links.remove(&(spec.from, spec.to));
            }
            AppliedFault::Link(spec) => {
                links.insert((spec.from, spec.to), spec.clone());
            }
            _ => {}
        }
        if f.t > from {
            if let Some(why) = trouble(&partition, &links) {
                return Some(why);
            }
        }
    }
    trouble(&partition, &links)
}

/// Why a higher id `h` cannot be held against a declaration or an unanswered ELECTION of `x`
/// in `[from, to]`, if it can't.
fn excused(el: &Elections, index: &Index, x: NodeId, h: NodeId, from: Nanos, to: Nanos) -> Option<&'static str> {
    not_up(el, index, h, from, to).or_else(|| link_trouble(el.run, x, h, from, to))
}

/// Counts of what was excused or not judged, by reason, for the detail.
#[derive(Default)]
struct Skipped(BTreeMap<&'static str, u64>);

impl Skipped {
    fn add(&mut self, why: &'static str) {
        *self.0.entry(why).or_default() += 1;
    }

    /// `"; {what}: 2 why, 1 other"`, or nothing.
    fn describe(&self, what: &str) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self.0.iter().map(|(why, n)| format!("{n} {why}")).collect();
        format!("; {what}: {}", parts.join(", "))
    }
}

/// `no_premature_coordinator`, as the module documentation states it.
pub fn no_premature_coordinator(el: &Elections, params: &BullyParams) -> PropertyResult {
    let run = el.run;
    let index = Index::new(run);
    let answer = params.answer_timeout_ms * MS;
    let (mut judged, mut by_highest) = (0usize, 0u64);
    // Declarations whose every higher id was excused, by the excuse; and those not judged.
    let (mut excused_by, mut unjudged) = (Skipped::default(), Skipped::default());
    for &x in &el.members {
        let higher: Vec<NodeId> = el.members.iter().copied().filter(|h| el.attributes.better(*h, x)).collect();
        let mut round: Option<&TraceRecord> = None;
        let mut incarnation_start: Nanos = run.start;
        for r in index.records(x) {
            match (&r.what, r.event_as::<ElectionEvent>()) {
                (What::Start { .. }, _) => {
                    round = None;
                    incarnation_start = r.t;
                }
                (_, Some(ElectionEvent::ElectionStarted(_))) => round = Some(r),
                (_, Some(ElectionEvent::Elected(_))) => {
                    if higher.is_empty() {
                        by_highest += 1;
                        continue;
                    }
                    let began = round.map_or(r.t.saturating_sub(answer).max(incarnation_start), |s| s.t);
                    if not_up(el, &index, x, began, r.t).is_some() {
                        unjudged.add("by a process down or paused in its own round");
                        continue;
                    }
                    judged += 1;
                    let from = began.saturating_sub(answer);
                    let mut excuses = BTreeSet::new();
                    let culprit = higher.iter().copied().find_map(|h| {
                        if let Some(why) = excused(el, &index, x, h, from, r.t) {
                            excuses.insert(why);
                            return None;
                        }
                        let found = chain(run, &index, x, h, began, r.t);
                        if found.lost {
                            excuses.insert("a lost message");
                            return None;
                        }
                        Some((h, found))
                    });
                    let Some((h, Chain { story, evidence, .. })) = culprit else {
                        excused_by.add(if excuses.contains("a lost message") {
                            "after a message to or from a higher id was lost"
                        } else if excuses.contains("a faulty link") {
                            "with a higher id behind a faulty link"
                        } else if excuses.contains("cut by a partition") {
                            "with a higher id cut off"
                        } else {
                            "with every higher id down or paused"
                        });
                        continue;
                    };
                    let detail = format!(
                        "node {x} declared itself coordinator at {:.1} ms although node {h}, a higher id, had been up and reachable both ways since {:.1} ms, one answer timeout ({} ms) before node {x}'s election round began at {:.1} ms: {story}",
                        run.ms(r.t),
                        run.ms(from),
                        params.answer_timeout_ms,
                        run.ms(began),
                    );
                    let mut shown: Vec<EventRef> = round.map(EventRef::of).into_iter().chain(evidence).collect();
                    shown.push(EventRef::of(r));
                    return PropertyResult::violated(NO_PREMATURE_COORDINATOR, detail, shown);
                }
                _ => {}
            }
        }
    }
    let detail = format!(
        "{judged} declaration(s) by a process below the highest id judged, none while a higher id was up and reachable{}; {by_highest} by the highest id; a higher id counts from one answer timeout ({} ms) before the declaring process's round began{}",
        excused_by.describe("excused"),
        params.answer_timeout_ms,
        unjudged.describe("not judged"),
    );
    PropertyResult::held(
        NO_PREMATURE_COORDINATOR,
        judged,
        &format!(
            "declaration by a process below the highest id, up through its round ({by_highest} by the highest id)"
        ),
        detail,
    )
}

/// What became of `x`'s ELECTION to `h` in the round `[began, declared]`: a sentence, the
/// records that show it, and whether the network lost a message of it on the way (a send with no
/// receive), which excuses the round: the link was not reliable then, whatever the fault log says.
struct Chain {
    lost: bool,
    story: String,
    evidence: Vec<EventRef>,
}

fn chain(run: &Execution, index: &Index, x: NodeId, h: NodeId, began: Nanos, declared: Nanos) -> Chain {
    let done = |lost, story, evidence| Chain { lost, story, evidence };
    let Some(election) = index.sends(x, h, &BullyMsg::Election, began, declared).into_iter().next() else {
        return done(false, format!("node {x} sent it no ELECTION in that round"), vec![]);
    };
    let mut evidence = vec![EventRef::of(election)];
    let Some(arrived) = index.receive_of(election) else {
        return done(true, format!("its ELECTION of {:.1} ms was lost", run.ms(election.t)), evidence);
    };
    evidence.push(EventRef::of(arrived));
    let Some(step) = index.step_after(arrived) else {
        return done(true, format!("node {h} died handling its ELECTION at {:.1} ms", run.ms(arrived.t)), evidence);
    };
    let Some(answer) = step.into_iter().find(|r| is_send(r, x, &BullyMsg::Answer)) else {
        let story = format!("node {h} received its ELECTION at {:.1} ms and did not answer", run.ms(arrived.t));
        return done(false, story, evidence);
    };
    evidence.push(EventRef::of(answer));
    match index.receive_of(answer) {
        Some(back) if back.t <= declared => {
            evidence.push(EventRef::of(back));
            done(false, format!("node {h}'s ANSWER arrived at {:.1} ms and was ignored", run.ms(back.t)), evidence)
        }
        Some(back) => {
            evidence.push(EventRef::of(back));
            let story = format!(
                "node {h} answered at {:.1} ms but the ANSWER arrived only at {:.1} ms, after the answer timeout",
                run.ms(answer.t),
                run.ms(back.t)
            );
            done(false, story, evidence)
        }
        None => {
            done(true, format!("node {h} answered at {:.1} ms and the ANSWER was lost", run.ms(answer.t)), evidence)
        }
    }
}

/// `elections_answered`, as the module documentation states it.
pub fn elections_answered(el: &Elections, params: &BullyParams) -> PropertyResult {
    let run = el.run;
    let index = Index::new(run);
    let answer = params.answer_timeout_ms * MS;
    let (mut sent, mut timely, mut received) = (0u64, 0usize, 0usize);
    let mut skipped = Skipped::default();
    for &x in &el.members {
        for s in index.records(x).iter().copied() {
            let What::Send { to: h, msg_type, .. } = &s.what else { continue };
            let h = *h;
            if msg_type != BullyMsg::Election.kind() || !el.attributes.better(h, x) {
                continue;
            }
            sent += 1;
            // The receiver's rule, wherever the ELECTION arrived: answered in the same step.
            if let Some(arrived) = index.receive_of(s) {
                match index.step_after(arrived) {
                    Some(step) if step.iter().any(|r| is_send(r, x, &BullyMsg::Answer)) => received += 1,
                    Some(_) => {
                        let detail = format!(
                            "node {h} received an ELECTION from node {x}, a lower id, at {:.1} ms and went on to its next step without answering it",
                            run.ms(arrived.t)
                        );
                        return PropertyResult::violated(
                            ELECTIONS_ANSWERED,
                            detail,
                            vec![EventRef::of(s), EventRef::of(arrived)],
                        );
                    }
                    None => skipped.add("received by a process killed while handling it"),
                }
            }
            // The sender's side: to a higher id up and reachable, an ANSWER back in time.
            let until = s.t + answer;
            if until > run.end {
                skipped.add("sent too close to the end");
                continue;
            }
            if not_up(el, &index, x, s.t, until).is_some() {
                skipped.add("whose sender went down or was paused");
                continue;
            }
            if let Some(why) = excused(el, &index, x, h, s.t.saturating_sub(answer), until) {
                skipped.add(match why {
                    "a faulty link" => "over a faulty link",
                    "cut by a partition" => "across a cut",
                    _ => "to a process down or paused",
                });
                continue;
            }
            let back = |a: &&TraceRecord| index.receive_of(a).is_some_and(|b| b.t <= until);
            if index.sends(h, x, &BullyMsg::Answer, s.t, until).iter().any(back) {
                timely += 1;
                continue;
            }
            let Chain { lost, story, evidence } = chain(run, &index, x, h, s.t, until);
            if lost {
                skipped.add("lost in transit (the ELECTION or its ANSWER)");
                continue;
            }
            let detail = format!(
                "node {x} sent an ELECTION to node {h} at {:.1} ms while node {h} was up and reachable both ways, and had no ANSWER back within the answer timeout ({} ms): {story}",
                run.ms(s.t),
                params.answer_timeout_ms
            );
            return PropertyResult::violated(ELECTIONS_ANSWERED, detail, evidence);
        }
    }
    let detail = format!(
        "{sent} ELECTION(s) to higher ids: {received} received and answered in the same step; {timely} sent to a process up and reachable both ways, each answered within the answer timeout ({} ms){}",
        params.answer_timeout_ms,
        skipped.describe("not judged on the sender's side")
    );
    let what = format!(
        "ELECTION to a higher id received there, or sent to one up and reachable ({sent} sent{})",
        skipped.describe("not judged")
    );
    PropertyResult::held(ELECTIONS_ANSWERED, received + timely, &what, detail)
}

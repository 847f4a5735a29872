//! What the election checkers share, on top of [`crate::check`]: periods between disturbances,
//! agreement among the nodes that take part, episodes that call for an election and how long each
//! took, messages counted per election, who believed they led when, and each node's own clock.
//!
//! Every figure here comes from traces and the fault log alone, so it judges real runs, simulated
//! runs and hand-made traces the same way.
//!
//! Words used throughout:
//! - a *boundary* is a moment the cluster changed: the run's start and end, every fault (kill,
//!   restart, pause, partition, heal, drift, link) and every process start;
//! - a *period* runs from one boundary to the next; a *stable* period is one at least as long as the
//!   algorithm's election bound, long enough for any election to settle;
//! - the nodes *agree* at `t` when every live member names the same leader and that leader is a
//!   live member too (so agreement on a dead leader is no agreement);
//! - an *episode* is a moment that calls for an election (start, the leader's death, a heal, ...),
//!   and its *latency* runs from that moment to the first agreement on an acceptable new leader.

use crate::check::events::ElectionEvent;
use crate::check::metric::{Distribution, ElectionCost, Metric, Textbook};
use crate::check::{EventRef, Execution, LeaderViews, PropertyResult, View};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use crate::faults::AppliedFault;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Who a stable period must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The best live node by [`Attributes`]: the highest live id when there are none (bully,
    /// ring elections).
    Best,
    /// Any live member (Raft, leases, randomized).
    Any,
}

/// Election by attribute: "the non-faulty process with the best attribute value" (free disk, CPU
/// speed), from the experiment's `attributes = { 1 = 40, 2 = 90 }` table, which the orchestrator
/// hands to an algorithm that elects by attribute as its `params.attributes`: a parameter reaches
/// every host (real node, simulator) and the checker through the one path parameters already take,
/// and is saved with the run. A node not listed has attribute 0, the worst, so listing only a few
/// nodes prefers them; ties are broken by id, the higher winning. With no table every node has 0
/// and the best is the highest id: the classic elections, unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Attributes(pub BTreeMap<NodeId, u64>);

/// What an election by attribute compares: the attribute, then the id.
pub type Rank = (u64, NodeId);

impl Attributes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `node`'s attribute: 0 when not listed.
    pub fn of(&self, node: NodeId) -> u64 {
        self.0.get(&node).copied().unwrap_or(0)
    }

    pub fn rank(&self, node: NodeId) -> Rank {
        (self.of(node), node)
    }

    /// Whether `a` beats `b`.
    pub fn better(&self, a: NodeId, b: NodeId) -> bool {
        self.rank(a) > self.rank(b)
    }

    /// The best of `nodes`.
    pub fn best(&self, nodes: impl IntoIterator<Item = NodeId>) -> Option<NodeId> {
        nodes.into_iter().max_by_key(|n| self.rank(*n))
    }

    /// Every listed node must be one of the cluster's `1..=nodes`; an error names the key.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        match self.0.keys().find(|n| !(1..=nodes as NodeId).contains(n)) {
            Some(n) => Err(format!("params.attributes.{n}: there is no node {n} in a cluster of {nodes}")),
            None => Ok(()),
        }
    }

    /// "the highest live id", or "the best live attribute" when there are attributes.
    pub fn what_best(&self) -> &'static str {
        match self.is_empty() {
            true => "the highest live id",
            false => "the best live attribute (ties to the higher id)",
        }
    }

    /// How `node` ranks, for a detail line: `node 3` or `node 3 (attribute 90)`.
    pub fn describe(&self, node: NodeId) -> String {
        match self.is_empty() {
            true => format!("node {node}"),
            false => format!("node {node} (attribute {})", self.of(node)),
        }
    }
}

/// The leader views of a run, seen through the nodes that take part in elections.
pub struct Elections<'a> {
    pub run: &'a Execution,
    pub views: LeaderViews,
    /// The nodes that elect and follow (a lease store, for one, does not).
    pub members: Vec<NodeId>,
    /// What "best" means for [`Expect::Best`]: the run's attributes (none: the highest id).
    pub attributes: Attributes,
    boundaries: Vec<Nanos>,
    /// Every moment at which some view may have changed, in order.
    moments: Vec<Nanos>,
}

impl<'a> Elections<'a> {
    pub fn new(run: &'a Execution, members: Vec<NodeId>) -> Elections<'a> {
        let views = LeaderViews::from_run(run);
        let mut boundaries = vec![run.start, run.end];
        boundaries.extend(run.disturbances().iter().map(|f| f.t));
        boundaries.extend(run.records.iter().filter(|r| matches!(r.what, What::Start { .. })).map(|r| r.t));
        boundaries.retain(|t| (run.start..=run.end).contains(t));
        boundaries.sort_unstable();
        boundaries.dedup();
        let mut moments = boundaries.clone();
        moments.extend(
            run.records
                .iter()
                .filter(|r| {
                    matches!(r.what, What::Start { .. } | What::Stop { .. })
                        || matches!(
                            r.event_as::<ElectionEvent>(),
                            Some(ElectionEvent::Leader(_) | ElectionEvent::LeaderLost(_))
                        )
                })
                .map(|r| r.t),
        );
        moments.sort_unstable();
        moments.dedup();
        Elections { run, views, members, attributes: Attributes::default(), boundaries, moments }
    }

    /// Judges "best" by the run's `attributes` instead of by id alone.
    pub fn by(mut self, attributes: &Attributes) -> Elections<'a> {
        self.attributes = attributes.clone();
        self
    }

    /// The best of the members live at `t`.
    pub fn best_live(&self, t: Nanos) -> Option<NodeId> {
        self.attributes.best(self.live(t))
    }

    /// Members running at `t`.
    pub fn live(&self, t: Nanos) -> Vec<NodeId> {
        self.members.iter().copied().filter(|n| self.views.at(*n, t) != View::Down).collect()
    }

    /// The leader every live member names at `t`, if they all name the same live member.
    pub fn agreement(&self, t: Nanos) -> Option<NodeId> {
        self.agreement_among(&self.live(t), t)
    }

    /// The leader every node of `group` names at `t`, if they all name the same one of them
    /// and every one of them is running.
    pub fn agreement_among(&self, group: &[NodeId], t: Nanos) -> Option<NodeId> {
        let first = match self.views.at(*group.first()?, t) {
            View::Leader(l) => l,
            _ => return None,
        };
        let all = group.iter().all(|n| self.views.at(*n, t) == View::Leader(first));
        (all && group.contains(&first)).then_some(first)
    }

    /// The first moment in `[from, to)` at which the members agree on a leader that `accept`
    /// takes (it is also handed the live members then).
    pub fn first_agreement(
        &self,
        from: Nanos,
        to: Nanos,
        accept: impl Fn(NodeId, &[NodeId]) -> bool,
    ) -> Option<(Nanos, NodeId)> {
        self.moments_in(from, to).find_map(|t| self.agreement(t).filter(|l| accept(*l, &self.live(t))).map(|l| (t, l)))
    }

    /// The first moment in `[from, to)` at which every node of `group` names one of them.
    pub fn first_agreement_among(&self, group: &[NodeId], from: Nanos, to: Nanos) -> Option<(Nanos, NodeId)> {
        self.moments_in(from, to).find_map(|t| self.agreement_among(group, t).map(|l| (t, l)))
    }

    /// `from`, then every moment of change in `(from, to)`.
    fn moments_in(&self, from: Nanos, to: Nanos) -> impl Iterator<Item = Nanos> + '_ {
        std::iter::once(from).chain(self.moments.iter().copied().filter(move |t| *t > from && *t < to))
    }

    /// Every live member's view at `t`, e.g. `1→5, 2→5, 3→none`.
    pub fn describe(&self, t: Nanos) -> String {
        let views: Vec<String> = self
            .live(t)
            .iter()
            .map(|n| match self.views.at(*n, t) {
                View::Leader(l) => format!("{n}→{l}"),
                _ => format!("{n}→none"),
            })
            .collect();
        if views.is_empty() {
            "no live node".into()
        } else {
            views.join(", ")
        }
    }

    /// The records behind every live member's view at `t`.
    pub fn causes(&self, t: Nanos) -> Vec<EventRef> {
        self.live(t).iter().filter_map(|n| self.views.cause(*n, t)).collect()
    }

    /// Consecutive boundaries: the periods in which nothing outside the algorithm changed.
    pub fn periods(&self) -> Vec<(Nanos, Nanos)> {
        self.boundaries.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// When `node`, down at `t`, went down: the last moment up to `t` at which it was running
    /// just before (`t` itself if it was running until then).
    pub fn went_down(&self, node: NodeId, t: Nanos) -> Nanos {
        let before = self.moments.iter().copied().filter(|m| *m <= t).rev();
        before.take_while(|m| self.views.at(node, *m) == View::Down).last().unwrap_or(t)
    }

    /// The first boundary after `t` (the run's end at the latest).
    pub fn next_boundary(&self, t: Nanos) -> Nanos {
        self.boundaries.iter().copied().find(|b| *b > t).unwrap_or(self.run.end)
    }

    /// Who held a leader's role at some point, and when: the intervals in which a node's own view
    /// named itself, with the records that began and ended each.
    pub fn reigns(&self) -> Vec<Reign> {
        let mut reigns = Vec::new();
        for &n in &self.members {
            let mut open: Option<(Nanos, Option<EventRef>)> = None;
            for &t in &self.moments {
                let leads = self.views.at(n, t) == View::Leader(n);
                match (&open, leads) {
                    (None, true) => open = Some((t, self.views.cause(n, t))),
                    (Some((from, began)), false) => {
                        let ended = self.views.cause(n, t);
                        reigns.push(Reign { node: n, from: *from, to: t, began: began.clone(), ended });
                        open = None;
                    }
                    _ => {}
                }
            }
            if let Some((from, began)) = open {
                reigns.push(Reign { node: n, from, to: self.run.end, began, ended: None });
            }
        }
        reigns.sort_by_key(|r| (r.from, r.node));
        reigns
    }
}

/// An interval in which `node` believed it was the leader.
#[derive(Clone, Debug, PartialEq)]
pub struct Reign {
    pub node: NodeId,
    pub from: Nanos,
    pub to: Nanos,
    /// The record in which it began to believe so (its `leader` event).
    pub began: Option<EventRef>,
    /// The record that ended it (`leader`/`leader_lost`/`stop`), `None` for a kill or the run's end.
    pub ended: Option<EventRef>,
}

/// Every pair of reigns of different nodes that overlap in true time, with the overlap.
pub fn overlapping_reigns(reigns: &[Reign]) -> Vec<(Reign, Reign, Nanos, Nanos)> {
    let mut found = Vec::new();
    for (i, a) in reigns.iter().enumerate() {
        for b in &reigns[i + 1..] {
            let (from, to) = (a.from.max(b.from), a.to.min(b.to));
            if a.node != b.node && from < to {
                found.push((a.clone(), b.clone(), from, to));
            }
        }
    }
    found
}

/// "In every stable period the live members agree on one leader (the best live one, for
/// [`Expect::Best`])", judged just before each stable period ends. Periods with a cut link
/// are left out (every side may elect its own) and so are periods in which `can_elect` says no
/// election can succeed (e.g. Raft without a live majority).
pub fn stable_agreement(
    el: &Elections,
    bound: Nanos,
    expect: Expect,
    can_elect: &dyn Fn(Nanos) -> bool,
) -> PropertyResult {
    const NAME: &str = "stable_agreement";
    let (mut judged, mut skipped) = (0, 0);
    for (from, to) in el.periods() {
        if to < from + bound {
            continue;
        }
        let at = to - 1;
        if el.run.partitioned_at(from) || !can_elect(at) || el.live(at).is_empty() {
            skipped += 1;
            continue;
        }
        judged += 1;
        let wanted = match expect {
            Expect::Best => el.best_live(at),
            Expect::Any => None,
        };
        let agreed = el.agreement(at);
        if agreed.is_none() || (wanted.is_some() && agreed != wanted) {
            let detail = format!(
                "stable period {:.0}–{:.0} ms ended with views {} (wanted: {})",
                el.run.ms(from),
                el.run.ms(to),
                el.describe(at),
                match wanted {
                    Some(w) => format!("all on {}, {}", el.attributes.describe(w), el.attributes.what_best()),
                    None => "all on one live leader".into(),
                }
            );
            return PropertyResult::violated(NAME, detail, el.causes(at));
        }
    }
    let what = match expect {
        Expect::Best => el.attributes.what_best(),
        Expect::Any => "one live leader",
    };
    let not_judged = match skipped {
        0 => String::new(),
        n => format!("; {n} partitioned or leaderless-by-design period(s) not judged"),
    };
    let detail =
        format!("{judged} stable period(s) of at least {} ms judged, all agreed on {what}{not_judged}", bound / MS);
    let nothing = format!("stable period of at least {} ms in which an election could succeed{not_judged}", bound / MS);
    PropertyResult::held(NAME, judged, &nothing, detail)
}

/// A moment that calls for an election.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// When the cluster changed: latencies count from here.
    pub t0: Nanos,
    pub why: &'static str,
    /// The leader that died or was cut off: the new agreement must name someone else.
    pub old_leader: Option<NodeId>,
    /// The boundary the episode belongs to (its fault); its window runs to the next boundary.
    /// Later than `t0` only when a killed process stopped before its kill was recorded.
    pub at: Nanos,
}

/// The episodes of a run: the start (from the moment the last node started), every death or pause
/// of the agreed leader, every heal, and, when `best_takes_over`, every restart of a node
/// that beats the agreed leader (by [`Elections::attributes`]).
pub fn episodes(el: &Elections, best_takes_over: bool) -> Vec<Episode> {
    let first_starts = el.run.records.iter().filter(|r| matches!(r.what, What::Start { incarnation: 1 }));
    let started = first_starts.map(|r| r.t).max().unwrap_or(el.run.start);
    let mut found = vec![Episode { t0: started, why: "start", old_leader: None, at: started }];
    for f in el.run.disturbances() {
        let (why, node) = match f.fault {
            AppliedFault::Kill { node, .. } => ("leader killed", node),
            AppliedFault::Exited { node, .. } => ("leader exited", node),
            AppliedFault::Pause { node } => ("leader paused", node),
            AppliedFault::Heal => {
                found.push(Episode { t0: f.t, why: "partition healed", old_leader: None, at: f.t });
                continue;
            }
            _ => continue,
        };
        // The fault is recorded once it is done; the process may have gone down a little
        // earlier (a node whose control connection closes stops cleanly): judge who led just
        // before it went down, and count from then.
        let down = el.went_down(node, f.t);
        if el.agreement(down.saturating_sub(1)) == Some(node) && el.members.contains(&node) {
            found.push(Episode { t0: down, why, old_leader: Some(node), at: f.t });
        }
    }
    if best_takes_over {
        for r in &el.run.records {
            if matches!(r.what, What::Start { incarnation } if incarnation > 1)
                && el.members.contains(&r.node)
                && el.agreement(r.t.saturating_sub(1)).is_none_or(|l| el.attributes.better(r.node, l))
            {
                found.push(Episode { t0: r.t, why: "higher id restarted", old_leader: None, at: r.t });
            }
        }
    }
    found.sort_by_key(|e| e.t0);
    found
}

/// One episode's election: from `t0` to agreement on `leader` at `done`, within `[t0, end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Timed {
    pub episode: Episode,
    pub done: Nanos,
    pub leader: NodeId,
    /// The next boundary: where this episode's window ends.
    pub end: Nanos,
}

impl Timed {
    pub fn ms(&self) -> f64 {
        (self.done - self.episode.t0) as f64 / MS as f64
    }
}

/// "After every episode the members agree on a new leader within `bound`": each episode's
/// window runs to the next boundary; one cut short before the bound without agreement is not
/// judged, and neither is one that starts partitioned or where `can_elect` says no election can
/// succeed. Returns the property and every measured election.
pub fn election_latency(
    el: &Elections,
    episodes: &[Episode],
    bound: Nanos,
    expect: Expect,
    can_elect: &dyn Fn(Nanos) -> bool,
) -> (PropertyResult, Vec<Timed>) {
    const NAME: &str = "election_within_bound";
    let (mut timed, mut cut_short, mut skipped) = (Vec::new(), 0, 0);
    let mut violation: Option<PropertyResult> = None;
    for e in episodes {
        let end = el.next_boundary(e.at);
        if el.run.partitioned_at(e.at) || !can_elect(e.at) {
            skipped += 1;
            continue;
        }
        let accept = |l: NodeId, live: &[NodeId]| {
            Some(l) != e.old_leader && (expect == Expect::Any || el.attributes.best(live.iter().copied()) == Some(l))
        };
        match el.first_agreement(e.t0, end, accept) {
            Some((done, leader)) => {
                let t = Timed { episode: e.clone(), done, leader, end };
                if done - e.t0 > bound && violation.is_none() {
                    let detail = format!(
                        "election after {} at {:.0} ms took {:.0} ms, above the bound of {} ms",
                        e.why,
                        el.run.ms(e.t0),
                        t.ms(),
                        bound / MS
                    );
                    violation = Some(PropertyResult::violated(NAME, detail, el.causes(done)));
                }
                timed.push(t);
            }
            None if end >= e.t0 + bound => {
                if violation.is_none() {
                    let detail = format!(
                        "no agreement on a new leader within {} ms of the {} at {:.0} ms; views then: {}",
                        bound / MS,
                        e.why,
                        el.run.ms(e.t0),
                        el.describe(e.t0 + bound)
                    );
                    violation = Some(PropertyResult::violated(NAME, detail, el.causes(e.t0 + bound)));
                }
            }
            None => cut_short += 1,
        }
    }
    if let Some(violation) = violation {
        return (violation, timed);
    }
    let mut not_judged = String::new();
    if cut_short > 0 {
        not_judged += &format!("; {cut_short} cut short by the next fault, not judged");
    }
    if skipped > 0 {
        not_judged += &format!("; {skipped} during a partition or without a quorum, not judged");
    }
    let slowest = timed.iter().map(Timed::ms).fold(0.0, f64::max);
    let detail = format!("{} election(s), slowest {slowest:.0} ms, bound {} ms{not_judged}", timed.len(), bound / MS);
    let nothing = format!("election that could be timed against the bound of {} ms{not_judged}", bound / MS);
    (PropertyResult::held(NAME, timed.len(), &nothing, detail), timed)
}

/// A list of counts for a detail line: in full when short, else its size, median and maximum.
pub fn listing(values: &[u64]) -> String {
    if values.len() <= 10 {
        return format!("{values:?}");
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    format!("{} values, median {}, max {}", sorted.len(), sorted[sorted.len() / 2], sorted[sorted.len() - 1])
}

/// Sends of the given types with `from <= t < to`, by type (types with no send are listed as 0).
pub fn sends_by_type(records: &[TraceRecord], types: &[&str], from: Nanos, to: Nanos) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = types.iter().map(|t| (t.to_string(), 0)).collect();
    for r in records.iter().filter(|r| r.t >= from && r.t < to) {
        if let What::Send { msg_type, .. } = &r.what {
            if let Some(n) = counts.get_mut(msg_type) {
                *n += 1;
            }
        }
    }
    counts
}

/// The `messages_per_election` metric ([`ElectionCost`]): totals and per-type statistics over
/// every measured election, and the textbook's figure beside them (a sentence, or an object with
/// a `figure` sentence and the numbers in it).
pub fn message_metric(samples: &[BTreeMap<String, u64>], textbook: Value) -> Value {
    let totals: Vec<f64> = samples.iter().map(|s| s.values().sum::<u64>() as f64).collect();
    let mut by_type = BTreeMap::new();
    if let Some(first) = samples.first() {
        for kind in first.keys() {
            let values: Vec<f64> = samples.iter().map(|s| s.get(kind).copied().unwrap_or(0) as f64).collect();
            by_type.insert(kind.clone(), Distribution::of(&values));
        }
    }
    let textbook: Textbook = serde_json::from_value(textbook)
        .expect("a textbook figure is a sentence, or an object with a `figure` sentence");
    Metric::PerElection(ElectionCost { measured: Distribution::of(&totals), by_type, textbook }).to_value()
}

/// A node's own clock at true time `t`: true time scaled by the drift faults applied to it, as
/// the simulator runs it (`local = true` until the first drift).
pub fn local_time(run: &Execution, node: NodeId, t: Nanos) -> Nanos {
    let (mut base_true, mut base_local, mut rate) = (0u64, 0u64, 1.0f64);
    for f in run.faults.iter().take_while(|f| f.t <= t) {
        if let AppliedFault::Drift { node: n, rate: r } = f.fault {
            if n == node {
                base_local += ((f.t - base_true) as f64 * rate) as Nanos;
                base_true = f.t;
                rate = r;
            }
        }
    }
    base_local + ((t - base_true) as f64 * rate) as Nanos
}

/// Groups of `nodes` that can talk both ways, directly or through each other, given a cut.
pub fn components(nodes: &[NodeId], cut: &BTreeSet<(NodeId, NodeId)>) -> Vec<Vec<NodeId>> {
    let mut groups: Vec<Vec<NodeId>> = Vec::new();
    let mut seen = BTreeSet::new();
    for &n in nodes {
        if !seen.insert(n) {
            continue;
        }
        let mut group = vec![n];
        let mut i = 0;
        while i < group.len() {
            let a = group[i];
            for &b in nodes {
                if !seen.contains(&b) && !cut.contains(&(a, b)) && !cut.contains(&(b, a)) {
                    seen.insert(b);
                    group.push(b);
                }
            }
            i += 1;
        }
        group.sort_unstable();
        groups.push(group);
    }
    groups
}

/// Finds the `send` record behind each `recv`: `(node, lc)` of a send names its message.
pub struct SentIndex<'a> {
    sends: BTreeMap<(NodeId, u64), &'a TraceRecord>,
}

impl<'a> SentIndex<'a> {
    pub fn new(records: &'a [TraceRecord]) -> SentIndex<'a> {
        let sends = records.iter().filter(|r| matches!(r.what, What::Send { .. })).map(|r| ((r.node, r.lc), r));
        SentIndex { sends: sends.collect() }
    }

    /// The send record a receive names.
    pub fn send_of(&self, recv: &TraceRecord) -> Option<&'a TraceRecord> {
        match recv.what {
            What::Recv { from, msg_lc, .. } => self.sends.get(&(from, msg_lc)).copied(),
            _ => None,
        }
    }
}

/// Decodes the message a `send` record shows (the algorithm's message type, as JSON).
pub fn shown<M: DeserializeOwned>(send: &TraceRecord) -> Option<M> {
    match &send.what {
        What::Send { msg, .. } => msg.decode(),
        _ => None,
    }
}

/// The data of an algorithm event named `name`, if `r` is one. Untyped: a checker reads its
/// family's and its own events as types (`r.event_as::<ElectionEvent>()`); this is for traces
/// whose events have no type yet.
pub fn event_data<'r>(r: &'r TraceRecord, name: &str) -> Option<&'r Value> {
    match &r.what {
        What::Event { name: n, data } if n == name => Some(data),
        _ => None,
    }
}

/// An unsigned field of an event's data.
pub fn field(data: &Value, key: &str) -> Option<u64> {
    data.get(key).and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trace::Clocks;
    use crate::faults::FaultRecord;
    use serde_json::json;

    fn event(c: &mut Clocks, t: Nanos, name: &str, data: Value) -> TraceRecord {
        c.stamp(t * MS, "x", What::Event { name: name.into(), data })
    }

    fn start(c: &mut Clocks, t: Nanos) -> TraceRecord {
        c.stamp(t * MS, "x", What::Start { incarnation: 1 })
    }

    #[test]
    fn agreement_needs_every_live_member_on_one_live_leader() {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let records = vec![
            start(&mut a, 0),
            start(&mut b, 0),
            event(&mut a, 10, "leader", json!({"leader": 2})),
            event(&mut b, 12, "leader", json!({"leader": 2})),
        ];
        let faults = vec![
            FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: vec![1, 2] } },
            FaultRecord { t: 50 * MS, fault: AppliedFault::Kill { node: 2, was_leader: true } },
            FaultRecord { t: 100 * MS, fault: AppliedFault::RunEnd },
        ];
        let run = Execution::new("x", vec![1, 2], Value::Null, records, faults);
        let el = Elections::new(&run, vec![1, 2]);
        assert_eq!(el.agreement(11 * MS), None, "node 2 has no view yet");
        assert_eq!(el.agreement(12 * MS), Some(2));
        assert_eq!(el.agreement(60 * MS), None, "node 1 still names the dead node 2");
        let eps = episodes(&el, false);
        assert_eq!(eps[1], Episode { t0: 50 * MS, why: "leader killed", old_leader: Some(2), at: 50 * MS });
        let reigns = el.reigns();
        assert_eq!((reigns[0].node, reigns[0].from, reigns[0].to), (2, 12 * MS, 50 * MS));
    }

    /// A kill closes the node's control connection before the signal lands, and the node may
    /// stop cleanly first: the episode still counts, from the moment it went down.
    #[test]
    fn a_leader_that_stops_just_before_its_kill_is_recorded_counts_as_killed() {
        let (mut a, mut b, mut c) = (Clocks::new(1), Clocks::new(2), Clocks::new(3));
        let mut records = vec![start(&mut a, 0), start(&mut b, 0), start(&mut c, 0)];
        for (clocks, t) in [(&mut a, 10), (&mut b, 10), (&mut c, 10)] {
            records.push(event(clocks, t, "leader", json!({"leader": 3})));
        }
        records.push(c.stamp(49 * MS, "x", What::Stop { reason: "orchestrator gone".into() }));
        for (clocks, t) in [(&mut a, 300), (&mut b, 300)] {
            records.push(event(clocks, t, "leader", json!({"leader": 2})));
        }
        let faults = vec![
            FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: vec![1, 2, 3] } },
            FaultRecord { t: 50 * MS, fault: AppliedFault::Kill { node: 3, was_leader: true } },
            FaultRecord { t: 900 * MS, fault: AppliedFault::RunEnd },
        ];
        let run = Execution::new("x", vec![1, 2, 3], Value::Null, records, faults);
        let el = Elections::new(&run, vec![1, 2, 3]);
        let eps = episodes(&el, false);
        assert_eq!(eps[1], Episode { t0: 49 * MS, why: "leader killed", old_leader: Some(3), at: 50 * MS });
        let (_, timed) = election_latency(&el, &eps, 500 * MS, Expect::Any, &|_| true);
        assert_eq!(timed.last().map(Timed::ms), Some(251.0));
    }

    #[test]
    fn drift_scales_a_nodes_clock_from_the_moment_it_applies() {
        let faults = vec![
            FaultRecord { t: 100, fault: AppliedFault::Drift { node: 2, rate: 2.0 } },
            FaultRecord { t: 300, fault: AppliedFault::Drift { node: 2, rate: 1.0 } },
        ];
        let run = Execution { faults, ..Default::default() };
        assert_eq!(local_time(&run, 1, 500), 500);
        assert_eq!(local_time(&run, 2, 200), 300);
        assert_eq!(local_time(&run, 2, 400), 600);
    }

    #[test]
    fn components_follow_two_way_links() {
        let cut: BTreeSet<_> = [(1, 3), (3, 1), (2, 3), (3, 2), (1, 2)].into_iter().collect();
        assert_eq!(components(&[1, 2, 3], &cut), vec![vec![1], vec![2], vec![3]]);
        let cut: BTreeSet<_> = [(1, 3), (3, 1), (2, 3), (3, 2)].into_iter().collect();
        assert_eq!(components(&[1, 2, 3], &cut), vec![vec![1, 2], vec![3]]);
    }
}

//! The ring elections' shared checker: one elected, the highest; agreement in stable periods;
//! election latency and the cost against each algorithm's textbook figure.

use super::RingParams;
use crate::check::election::{
    election_latency, episodes, listing, message_metric, sends_by_type, stable_agreement, Elections, Expect, Timed,
};
use crate::check::events::election::{ElectionEvent, Started};
use crate::check::{events_of, CheckReport, EventRef, Execution, PropertyResult, View};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use serde_json::Value;

/// What a ring algorithm tells the shared checker about itself.
pub struct RingFacts {
    /// The message types an election costs (acknowledgements are the ring's repair, counted apart).
    pub election_types: &'static [&'static str],
    /// The textbook's most messages for an election with `initiators` initiators among `n`.
    pub worst: fn(n: u64, initiators: u64) -> u64,
    /// The textbook's figures, for the metrics.
    pub textbook: fn(n: u64) -> Value,
}

/// The checker of both ring elections.
pub fn check_ring(run: &Execution, params: &RingParams, facts: &RingFacts) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len() as u64;
    let el = Elections::new(run, run.nodes.clone()).by(&params.attributes);
    let anyone = |_: Nanos| true;

    let elected = one_elected_highest(&el, params.election_timeout_ms * MS);
    let agreement = stable_agreement(&el, bound, Expect::Best, &anyone);
    let eps = episodes(&el, true);
    let (latency, timed) = election_latency(&el, &eps, bound, Expect::Best, &anyone);

    // Messages per election: from its episode to the next boundary, so the announcement's last
    // hops count too. The start is measured but not held to the textbook: processes come up one
    // by one, and the first elections race with the starts.
    const COST: &str = "election_message_cost";
    let (mut samples, mut acks, mut initiators) = (Vec::new(), Vec::new(), Vec::new());
    let (mut compared, mut violation) = (0, None);
    for t in &timed {
        let (from, to) = (t.episode.t0, t.end);
        let counts = sends_by_type(&run.records, facts.election_types, from, to);
        let k = events_of::<ElectionEvent>(&run.records)
            .filter(|(r, e)| {
                r.t >= from
                    && r.t < to
                    && matches!(e, ElectionEvent::ElectionStarted(Started { initiator: Some(true), .. }))
            })
            .count() as u64;
        let sent: u64 = counts.values().sum();
        let worst = (facts.worst)(n, k.max(1));
        if t.episode.why != "start" {
            compared += 1;
            if sent > worst && violation.is_none() {
                let detail = format!(
                    "election after {} at {:.0} ms cost {sent} messages with {k} initiator(s), above the textbook's {worst}",
                    t.episode.why,
                    run.ms(from)
                );
                violation = Some(PropertyResult::violated(COST, detail, vec![]));
            }
        }
        acks.push(sends_by_type(&run.records, &["ack"], from, to)["ack"] as f64);
        initiators.push(k as f64);
        samples.push(counts);
    }
    let cost = violation.unwrap_or_else(|| {
        let totals: Vec<u64> = samples.iter().map(|s| s.values().sum()).collect();
        let initiators: Vec<u64> = initiators.iter().map(|k| *k as u64).collect();
        let detail = format!(
            "messages per election {} with {} initiator(s) ({compared} held to the textbook); textbook worst: {} with one initiator, {} with all",
            listing(&totals),
            listing(&initiators),
            (facts.worst)(n, 1),
            (facts.worst)(n, n)
        );
        let nothing = format!(
            "election after the start to compare with the textbook ({} start election(s) measured, not held to it)",
            samples.len()
        );
        PropertyResult::held(COST, compared, &nothing, detail)
    });

    let mut report = CheckReport { properties: vec![elected, agreement, latency, cost], ..Default::default() };
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), crate::check::stats(&latencies));
    report.metrics.insert("messages_per_election".into(), message_metric(&samples, (facts.textbook)(n)));
    report.metrics.insert("initiators_per_election".into(), crate::check::stats(&initiators));
    report.metrics.insert("acks_per_election".into(), crate::check::stats(&acks));
    report
}

/// "Exactly one elected node, the highest id among those alive" (the best (attribute, id), in an
/// election by attribute): every win is by the highest id
/// among the nodes that had been running for at least `grace`, the longest an election runs
/// before it starts over (a node that starts later may have been skipped like a dead one by an
/// election already under way, and wins the next). Within a period the live nodes do not
/// change, so two winners in one period means one of them is caught by this rule, unless the
/// higher one had only just started. Periods under a partition (each side elects its own) and
/// right after a heal (an election begun in a side may end there) are not judged.
fn one_elected_highest(el: &Elections, grace: Nanos) -> PropertyResult {
    const NAME: &str = "one_elected_highest";
    let run = el.run;
    let started: Vec<(NodeId, Nanos)> =
        run.records.iter().filter(|r| matches!(r.what, What::Start { .. })).map(|r| (r.node, r.t)).collect();
    // Running at `t` since at least `t − grace`: alive now, and no start within the grace.
    let settled = |n: NodeId, t: Nanos| {
        el.views.at(n, t) != View::Down && !started.iter().any(|(m, s)| *m == n && *s <= t && t < s + grace)
    };
    let (mut periods, mut wins) = (0, 0);
    for (from, to) in el.periods() {
        let after_heal = run.faults.iter().any(|f| f.t == from && matches!(f.fault, AppliedFault::Heal));
        if run.partitioned_at(from) || after_heal {
            continue;
        }
        let mut winner = false;
        let wins_here = run
            .events::<ElectionEvent>()
            .filter(|(r, e)| r.t >= from && r.t < to && matches!(e, ElectionEvent::Elected(_)));
        for (r, _) in wins_here {
            wins += 1;
            let better = el.members.iter().copied().filter(|h| el.attributes.better(*h, r.node) && settled(*h, r.t));
            if let Some(h) = el.attributes.best(better) {
                let detail = format!(
                    "{} was elected at {:.0} ms while {}, a {}, had been running for over {} ms",
                    el.attributes.describe(r.node),
                    run.ms(r.t),
                    el.attributes.describe(h),
                    if el.attributes.is_empty() { "higher id" } else { "better attribute" },
                    grace / MS
                );
                // The win, and what the higher node believed then.
                let evidence = [Some(EventRef::of(r)), el.views.cause(h, r.t)].into_iter().flatten().collect();
                return PropertyResult::violated(NAME, detail, evidence);
            }
            winner = true;
        }
        periods += winner as usize;
    }
    let detail = format!("{wins} win(s) in {periods} period(s), each by {}", el.attributes.what_best());
    PropertyResult::held(NAME, wins, "win outside a partition (no `elected` event)", detail)
}

/// The properties both ring elections promise; `worst` names the message bound.
pub fn properties(worst: &'static str) -> Vec<crate::algorithm::PropertyInfo> {
    use crate::algorithm::PropertyInfo;
    vec![
        PropertyInfo {
            name: "one_elected_highest",
            promise: "between two faults at most one process is elected, and it is the highest live id",
        },
        PropertyInfo {
            name: "stable_agreement",
            promise: "in every stable period every live process knows the highest live id as leader",
        },
        PropertyInfo {
            name: "election_within_bound",
            promise:
                "after the leader dies (or at start, or when a higher id returns) everyone agrees within the bound",
        },
        PropertyInfo { name: "election_message_cost", promise: worst },
    ]
}

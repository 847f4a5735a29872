//! Raft election's checker: one leader per term, terms that never decrease, one vote per term,
//! a majority leader within the bound, and the cost of elections.

use super::{RaftParams, PRE_VOTE_MESSAGES, VOTE_MESSAGES};
use crate::check::election::{
    components, election_latency, episodes, event_data, field, listing, message_metric, sends_by_type,
    stable_agreement, Elections, Expect, SentIndex, Timed,
};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult, Verdict};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn term_events(run: &Execution) -> impl Iterator<Item = (NodeId, u64, EventRef, &'static str)> + '_ {
    run.records.iter().filter_map(|r| match &r.what {
        What::Event { name, data } => {
            let kind = match name.as_str() {
                "term" => "term",
                "elected" => "elected",
                "leader" => "leader",
                "voted" => "voted",
                "leader_lost" => "leader_lost",
                _ => return None,
            };
            field(data, "term").map(|t| (r.node, t, EventRef::of(r), kind))
        }
        _ => None,
    })
}

pub fn check_raft(run: &Execution, params: &RaftParams) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len();
    let majority = n / 2 + 1;
    let el = Elections::new(run, run.nodes.clone());

    // Safety: one leader per term, terms that only grow, one vote per term.
    let mut leaders = PropertyResult::new("one_leader_per_term", Verdict::Held, "");
    let mut elected_in: BTreeMap<u64, (NodeId, EventRef)> = BTreeMap::new();
    let mut terms = PropertyResult::new("terms_never_decrease", Verdict::Held, "");
    let mut last_term: BTreeMap<NodeId, (u64, EventRef)> = BTreeMap::new();
    let mut votes = PropertyResult::new("one_vote_per_term", Verdict::Held, "");
    let mut voted: BTreeMap<(NodeId, u64), (NodeId, EventRef)> = BTreeMap::new();
    for r in &run.records {
        let What::Event { name, data } = &r.what else { continue };
        let (Some(term), here) = (field(data, "term"), EventRef::of(r)) else { continue };
        if name == "elected" {
            match elected_in.get(&term) {
                Some((other, first)) if *other != r.node && leaders.verdict == Verdict::Held => {
                    leaders.verdict = Verdict::Violated;
                    leaders.detail = format!("nodes {other} and {} were both elected in term {term}", r.node);
                    leaders.evidence = vec![first.clone(), here.clone()];
                }
                Some(_) => {}
                None => {
                    elected_in.insert(term, (r.node, here.clone()));
                }
            }
        }
        if name == "voted" {
            let Some(candidate) = field(data, "for").map(|c| c as NodeId) else { continue };
            match voted.get(&(r.node, term)) {
                Some((other, first)) if *other != candidate && votes.verdict == Verdict::Held => {
                    votes.verdict = Verdict::Violated;
                    votes.detail = format!("node {} voted for both {other} and {candidate} in term {term}", r.node);
                    votes.evidence = vec![first.clone(), here.clone()];
                }
                Some(_) => {}
                None => {
                    voted.insert((r.node, term), (candidate, here.clone()));
                }
            }
        }
    }
    for (node, term, here, kind) in term_events(run) {
        if let Some((before, at)) = last_term.get(&node) {
            if term < *before && terms.verdict == Verdict::Held {
                terms.verdict = Verdict::Violated;
                terms.detail = format!("node {node}'s term went from {before} down to {term} (in a `{kind}` event)");
                terms.evidence = vec![at.clone(), here.clone()];
            }
        }
        last_term.insert(node, (term, here));
    }
    leaders.detail = match leaders.verdict {
        Verdict::Held => format!("{} term(s) with a leader, each with exactly one", elected_in.len()),
        _ => leaders.detail,
    };
    if terms.verdict == Verdict::Held {
        let highest = last_term.values().map(|(t, _)| *t).max().unwrap_or(0);
        terms.detail = format!("every node's term only grew (highest term {highest})");
    }
    if votes.verdict == Verdict::Held {
        votes.detail = format!("{} vote(s), never two in one term by one node", voted.len());
    }

    // Liveness: every connected, live majority agrees on a leader within the bound.
    let liveness = majority_leader(&el, bound, majority);
    let can_elect = |t: Nanos| el.live(t).len() >= majority;
    let agreement = stable_agreement(&el, bound, Expect::Any, &can_elect);

    // Elections measured: every episode, and the downtime after each death of the leader.
    //
    // Downtime, precisely: from the moment the agreed leader went down (the time the orchestrator
    // or simulator recorded its SIGKILL; its own `stop` record if that came first, as when a kill
    // closes the node's control connection before the signal lands) to the first moment at which
    // every live node names one and the same live node, other than the dead one, as leader: the
    // new leader has won its election and its first heartbeat has reached every follower. So it
    // includes detection (an election timeout), the election itself, and the first heartbeat.
    let eps = episodes(&el, false);
    // Only the measured elections: leader_within_bound judges liveness (partitions included).
    let (_, timed) = election_latency(&el, &eps, bound, Expect::Any, &can_elect);
    let (cost, samples) = election_cost(run, &timed, n, params.pre_vote);
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    let downtimes: Vec<f64> = timed.iter().filter(|t| t.episode.why == "leader killed").map(Timed::ms).collect();

    let mut properties = vec![leaders, terms, votes, liveness, agreement, cost];
    let rejoin = rejoin_effects(&el, majority);
    if params.pre_vote {
        properties.push(rejoin.property.clone());
    }
    let mut report = CheckReport { properties, ..Default::default() };
    report.metrics.insert("election_ms".into(), crate::check::stats(&latencies));
    report.metrics.insert("downtime_ms".into(), crate::check::stats(&downtimes));
    report.metrics.insert(
        "downtime_reference".into(),
        json!({
            "definition": "from the moment the agreed leader went down (its SIGKILL; its own `stop` record if it stopped first) to the first moment every live node follows one new live leader",
            "timeouts_ms": [params.election_timeout_min_ms, params.election_timeout_max_ms],
            "raft_paper_figure_16": "5 servers, broadcast ≈ 15 ms, 1000 trials: 150–155 ms timeouts gave a median downtime of 287 ms; 150–300 ms is the recommended range, where elections complete about a third of the way into it",
        }),
    );
    report.metrics.insert(
        "messages_per_election".into(),
        message_metric(
            &samples,
            json!({
                "per_candidate_per_term": 2 * (n - 1),
                "figure": format!("2(N−1) = {} per candidate per term (N−1 RequestVote + N−1 replies); as many per pre-candidate with PreVote", 2 * (n - 1)),
            }),
        ),
    );
    report.metrics.insert("rejoin".into(), rejoin.metric);
    report
}

/// Raft's liveness: in every period in which a majority of the cluster is alive and can talk
/// both ways, that majority agrees on one of its members within `bound`, and still does when the
/// period ends. Periods shorter than the bound without agreement are not judged.
fn majority_leader(el: &Elections, bound: Nanos, majority: usize) -> PropertyResult {
    let mut result = PropertyResult::new("leader_within_bound", Verdict::Held, "");
    let (mut judged, mut slowest, mut short) = (0, 0.0f64, 0);
    for (from, to) in el.periods() {
        let live = el.live(from);
        let cut = el.run.cut_at(from);
        let Some(group) = components(&live, &cut).into_iter().find(|g| g.len() >= majority) else { continue };
        match el.first_agreement_among(&group, from, to) {
            Some((done, _)) if done - from <= bound => {
                judged += 1;
                slowest = slowest.max((done - from) as f64 / MS as f64);
                if to - from >= bound && el.agreement_among(&group, to - 1).is_none() {
                    result.verdict = Verdict::Violated;
                    result.detail = format!(
                        "the majority {group:?} agreed at {:.0} ms but no longer at the end of the period ({:.0} ms): {}",
                        el.run.ms(done),
                        el.run.ms(to),
                        el.describe(to - 1)
                    );
                    result.evidence = el.causes(to - 1);
                    return result;
                }
            }
            None if to - from < bound => short += 1,
            found => {
                result.verdict = Verdict::Violated;
                let when = found.map_or(format!("not before the period ended at {:.0} ms", el.run.ms(to)), |(d, _)| {
                    format!("only after {:.0} ms", (d - from) as f64 / MS as f64)
                });
                result.detail = format!(
                    "the connected majority {group:?} from {:.0} ms agreed on a leader {when}; bound {} ms; views at the bound: {}",
                    el.run.ms(from),
                    bound / MS,
                    el.describe(from + bound)
                );
                result.evidence = el.causes((from + bound).min(to - 1));
                return result;
            }
        }
    }
    result.detail = format!(
        "{judged} period(s) with a connected majority, each agreed on a leader, slowest after {slowest:.0} ms; bound {} ms",
        bound / MS
    );
    if short > 0 {
        result.detail += &format!("; {short} too short to judge");
    }
    if judged == 0 {
        result.verdict = Verdict::Unknown;
    }
    result
}

/// Messages per measured election, from its episode to the next boundary, and the check that
/// each candidacy cost at most 2(N−1). Replies sent in the window to requests sent before it
/// belong to an earlier election and are not counted.
fn election_cost(
    run: &Execution,
    timed: &[Timed],
    n: usize,
    pre_vote: bool,
) -> (PropertyResult, Vec<BTreeMap<String, u64>>) {
    let sent = SentIndex::new(&run.records);
    let per = 2 * (n as u64 - 1);
    let mut result = PropertyResult::new("election_message_cost", Verdict::Held, "");
    let mut samples = Vec::new();
    let mut candidacies = Vec::new();
    for t in timed {
        let (from, to) = (t.episode.t0, t.end);
        let types = if pre_vote { [VOTE_MESSAGES, PRE_VOTE_MESSAGES].concat() } else { VOTE_MESSAGES.to_vec() };
        let mut counts = sends_by_type(&run.records, &types, from, to);
        let (mut candidates, mut pre_candidates) = (0u64, 0u64);
        for r in run.records.iter().filter(|r| r.t >= from && r.t < to) {
            if let Some(data) = event_data(r, "election_started") {
                if data.get("pre_vote").and_then(Value::as_bool) == Some(true) {
                    pre_candidates += 1;
                } else {
                    candidates += 1;
                }
            }
            if let What::Recv { msg_type, .. } = &r.what {
                let reply = match msg_type.as_str() {
                    "request_vote" => "vote",
                    "pre_vote" => "pre_vote_reply",
                    _ => continue,
                };
                if sent.send_of(r).is_some_and(|s| s.t < from) {
                    if let Some(c) = counts.get_mut(reply) {
                        *c = c.saturating_sub(1);
                    }
                }
            }
        }
        let sum = |kinds: &[&str]| kinds.iter().filter_map(|k| counts.get(*k)).sum::<u64>();
        let (votes, pre) = (sum(&VOTE_MESSAGES), sum(&PRE_VOTE_MESSAGES));
        if (votes > per * candidates || pre > per * pre_candidates) && result.verdict == Verdict::Held {
            result.verdict = Verdict::Violated;
            result.detail = format!(
                "election after {} at {:.0} ms: {votes} vote messages for {candidates} candidacies and {pre} pre-vote messages for {pre_candidates} pre-candidacies, above 2(N−1) = {per} each",
                t.episode.why,
                run.ms(from)
            );
        }
        candidacies.push(candidates);
        samples.push(counts);
    }
    if result.verdict == Verdict::Held {
        let totals: Vec<u64> = samples.iter().map(|s| s.values().sum()).collect();
        result.detail = format!(
            "messages per election {} for {} candidacies; textbook: 2(N−1) = {per} per candidate per term",
            listing(&totals),
            listing(&candidacies)
        );
        if samples.is_empty() {
            result.verdict = Verdict::Unknown;
        }
    }
    (result, samples)
}

struct Rejoin {
    property: PropertyResult,
    metric: Value,
}

/// What every heal did to the leader the majority side had: did it survive, and how far did
/// terms jump? With PreVote it must survive; without, the figures show the disruption.
fn rejoin_effects(el: &Elections, majority: usize) -> Rejoin {
    let run = el.run;
    let mut property = PropertyResult::new("rejoin_without_disruption", Verdict::Held, "");
    let (mut heals, mut deposed, mut jumps) = (0, 0, Vec::new());
    for f in run.faults.iter().filter(|f| matches!(f.fault, AppliedFault::Heal)) {
        let before = f.t.saturating_sub(1);
        let live = el.live(before);
        let cut = run.cut_at(before);
        let Some(group) = components(&live, &cut).into_iter().find(|g| g.len() >= majority) else { continue };
        let Some(leader) = el.agreement_among(&group, before) else { continue };
        let Some(term) = leader_term(run, leader, before) else { continue };
        heals += 1;
        let end = el.next_boundary(f.t);
        let later = run.records.iter().filter(|r| r.t >= f.t && r.t < end);
        let mut top = term;
        let mut lost: Option<EventRef> = None;
        for r in later {
            if let What::Event { name, data } = &r.what {
                // Actual terms only: a pre-vote's proposed term is not taken by anyone.
                if name == "term" {
                    top = top.max(field(data, "term").unwrap_or(0));
                }
                let ended = (name == "leader_lost" && r.node == leader) || name == "elected";
                if ended && lost.is_none() {
                    lost = Some(EventRef::of(r));
                }
            }
        }
        jumps.push(top - term);
        if let Some(evidence) = lost {
            deposed += 1;
            if property.verdict == Verdict::Held {
                property.verdict = Verdict::Violated;
                property.detail = format!(
                    "after the heal at {:.0} ms node {leader}, leader of term {term}, lost its leadership; terms rose to {top}",
                    run.ms(f.t)
                );
                property.evidence = vec![evidence];
            }
        }
    }
    if property.verdict == Verdict::Held {
        property.detail = format!("{heals} heal(s) with a leader on the majority side; every leader kept its term");
        if heals == 0 {
            property.verdict = Verdict::Unknown;
            property.detail = "no heal with a leader on the majority side to judge".into();
        }
    }
    let metric = json!({ "heals": heals, "leader_deposed": deposed, "term_jumps": jumps });
    Rejoin { property, metric }
}

/// The term in which `leader` was last elected before `t`.
fn leader_term(run: &Execution, leader: NodeId, t: Nanos) -> Option<u64> {
    run.records
        .iter()
        .rev()
        .filter(|r| r.node == leader && r.t <= t)
        .find_map(|r| event_data(r, "elected").and_then(|d| field(d, "term")))
}

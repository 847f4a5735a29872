//! Raft election's checker: one leader per term, terms that never decrease, one vote per term,
//! a majority leader within the bound, and the cost of elections; the rules that keep old leaders
//! harmless (and the reigns that overlap) are judged in [`super::safety`].

use super::{RaftEvent, RaftParams, PRE_VOTE_MESSAGES, VOTE_MESSAGES};
use crate::check::election::{
    components, election_latency, episodes, event_data, field, listing, message_metric, stable_agreement, Elections,
    Expect, SentIndex, Timed,
};
use crate::check::events::election::{Elected, ElectionEvent};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Every event that names a term, typed: `(node, term, where, which event)`.
fn term_events(run: &Execution) -> impl Iterator<Item = (NodeId, u64, EventRef, &'static str)> + '_ {
    run.records.iter().filter_map(|r| {
        let (term, kind) = match (r.event_as::<RaftEvent>(), r.event_as::<ElectionEvent>()) {
            (Some(RaftEvent::Term { term, .. }), _) => (Some(term), "term"),
            (Some(RaftEvent::Voted { term, .. }), _) => (Some(term), "voted"),
            (_, Some(ElectionEvent::Elected(e))) => (e.term, "elected"),
            (_, Some(ElectionEvent::Leader(e))) => (e.term, "leader"),
            (_, Some(ElectionEvent::LeaderLost(e))) => (e.term, "leader_lost"),
            _ => return None,
        };
        term.map(|t| (r.node, t, EventRef::of(r), kind))
    })
}

pub fn check_raft(run: &Execution, params: &RaftParams) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len();
    let majority = n / 2 + 1;
    let el = Elections::new(run, run.nodes.clone());

    // Safety: one leader per term, terms that only grow, one vote per term. Each keeps its first
    // violation; with no `elected`, `voted` or second term event there is nothing to judge.
    let (mut leaders, mut votes, mut terms): (Option<PropertyResult>, Option<PropertyResult>, Option<PropertyResult>) =
        (None, None, None);
    let mut elected_in: BTreeMap<u64, (NodeId, EventRef)> = BTreeMap::new();
    let mut voted: BTreeMap<(NodeId, u64), (NodeId, EventRef)> = BTreeMap::new();
    let (mut wins, mut ballots) = (0, 0);
    for r in &run.records {
        let here = EventRef::of(r);
        if let Some(ElectionEvent::Elected(Elected { term: Some(term), .. })) = r.event_as() {
            wins += 1;
            match elected_in.get(&term) {
                Some((other, first)) if *other != r.node && leaders.is_none() => {
                    let detail = format!("nodes {other} and {} were both elected in term {term}", r.node);
                    leaders = Some(PropertyResult::violated(
                        "one_leader_per_term",
                        detail,
                        vec![first.clone(), here.clone()],
                    ));
                }
                Some(_) => {}
                None => {
                    elected_in.insert(term, (r.node, here.clone()));
                }
            }
        }
        if let Some(RaftEvent::Voted { term, candidate }) = r.event_as() {
            ballots += 1;
            match voted.get(&(r.node, term)) {
                Some((other, first)) if *other != candidate && votes.is_none() => {
                    let detail = format!("node {} voted for both {other} and {candidate} in term {term}", r.node);
                    votes =
                        Some(PropertyResult::violated("one_vote_per_term", detail, vec![first.clone(), here.clone()]));
                }
                Some(_) => {}
                None => {
                    voted.insert((r.node, term), (candidate, here.clone()));
                }
            }
        }
    }
    let mut last_term: BTreeMap<NodeId, (u64, EventRef)> = BTreeMap::new();
    let mut steps = 0;
    for (node, term, here, kind) in term_events(run) {
        if let Some((before, at)) = last_term.get(&node) {
            steps += 1;
            if term < *before && terms.is_none() {
                let detail = format!("node {node}'s term went from {before} down to {term} (in a `{kind}` event)");
                terms = Some(PropertyResult::violated("terms_never_decrease", detail, vec![at.clone(), here.clone()]));
            }
        }
        last_term.insert(node, (term, here));
    }
    let leaders = leaders.unwrap_or_else(|| {
        let detail = format!("{wins} win(s) in {} term(s), one leader in each", elected_in.len());
        PropertyResult::held("one_leader_per_term", wins, "election won (no `elected` event)", detail)
    });
    let terms = terms.unwrap_or_else(|| {
        let highest = last_term.values().map(|(t, _)| *t).max().unwrap_or(0);
        let detail = format!("{steps} change(s) of a node's term seen, none down (highest term {highest})");
        PropertyResult::held("terms_never_decrease", steps, "node reported a term twice", detail)
    });
    let votes = votes.unwrap_or_else(|| {
        let detail = format!("{ballots} vote(s), never two candidates in one term by one node");
        PropertyResult::held("one_vote_per_term", ballots, "vote cast (no `voted` event)", detail)
    });

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

    let stale = super::safety::stale_leader_steps_down(run);
    let counted = super::safety::votes_counted_in_their_term(run);
    let mut properties = vec![leaders, terms, votes, stale, counted, liveness, agreement, cost];
    let mut rejoin = rejoin_effects(&el, majority);
    if !params.pre_vote {
        // The promise is PreVote's: without it there is nothing to hold the run to, and the
        // metric shows what the heals did.
        rejoin.property = PropertyResult::not_promised(
            "rejoin_without_disruption",
            format!(
                "not promised without pre_vote; {} of {} heal(s) deposed the majority's leader",
                rejoin.metric["leader_deposed"], rejoin.metric["heals"]
            ),
        );
    }
    properties.push(rejoin.property.clone());
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
    report.metrics.insert("overlapping_reigns".into(), super::safety::overlapping_reigns_metric(&el));
    report
}

/// Raft's liveness: in every period in which a majority of the cluster is alive and can talk
/// both ways, that majority agrees on one of its members within `bound`, and still does when the
/// period ends. Periods shorter than the bound without agreement are not judged.
fn majority_leader(el: &Elections, bound: Nanos, majority: usize) -> PropertyResult {
    const NAME: &str = "leader_within_bound";
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
                    let detail = format!(
                        "the majority {group:?} agreed at {:.0} ms but no longer at the end of the period ({:.0} ms): {}",
                        el.run.ms(done),
                        el.run.ms(to),
                        el.describe(to - 1)
                    );
                    return PropertyResult::violated(NAME, detail, el.causes(to - 1));
                }
            }
            None if to - from < bound => short += 1,
            found => {
                let when = found.map_or(format!("not before the period ended at {:.0} ms", el.run.ms(to)), |(d, _)| {
                    format!("only after {:.0} ms", (d - from) as f64 / MS as f64)
                });
                let detail = format!(
                    "the connected majority {group:?} from {:.0} ms agreed on a leader {when}; bound {} ms; views at the bound: {}",
                    el.run.ms(from),
                    bound / MS,
                    el.describe(from + bound)
                );
                return PropertyResult::violated(NAME, detail, el.causes((from + bound).min(to - 1)));
            }
        }
    }
    let short = if short > 0 { format!("; {short} too short to judge") } else { String::new() };
    let detail = format!(
        "{judged} period(s) with a connected majority, each agreed on a leader, slowest after {slowest:.0} ms; bound {} ms{short}",
        bound / MS
    );
    let nothing = format!("period with a live, connected majority long enough to elect a leader{short}");
    PropertyResult::held(NAME, judged, &nothing, detail)
}

/// One candidacy (or pre-candidacy) and the messages that belong to it: its requests, and the
/// replies to them.
struct Candidacy<'r> {
    started: &'r crate::core::trace::TraceRecord,
    pre_vote: bool,
    term: Option<u64>,
    /// Sends by message type.
    counts: BTreeMap<&'static str, u64>,
}

/// A request's or reply's type as counted, and whether it is a pre-vote's.
fn vote_message(msg_type: &str) -> Option<(&'static str, bool)> {
    VOTE_MESSAGES
        .iter()
        .map(|k| (*k, false))
        .chain(PRE_VOTE_MESSAGES.iter().map(|k| (*k, true)))
        .find(|(k, _)| *k == msg_type)
}

/// Requests are the first of each pair: `request_vote`, `pre_vote`.
fn is_request(kind: &str) -> bool {
    kind == VOTE_MESSAGES[0] || kind == PRE_VOTE_MESSAGES[0]
}

/// Every candidacy of the run with its messages. A request belongs to the candidacy its sender
/// was in when it sent it (the node's last `election_started` of that kind); a reply, to the
/// request its voter received last from that candidate. Messages are attributed, not counted by
/// time: a real node on a crowded machine can take 100 ms and more to send one broadcast to 199
/// peers, so counting sends inside a time window gave an election the tail of a broadcast begun
/// before it (and its replies) without the candidacy that sent it.
fn candidacies(run: &Execution) -> Vec<Candidacy<'_>> {
    let sent = SentIndex::new(&run.records);
    let mut all: Vec<Candidacy> = Vec::new();
    // Per node, the candidacy each kind (vote, pre-vote) is in.
    let mut current: BTreeMap<(NodeId, bool), usize> = BTreeMap::new();
    // The candidacy of each request sent, by (sender, lc).
    let mut requests: BTreeMap<(NodeId, u64), usize> = BTreeMap::new();
    for r in &run.records {
        match &r.what {
            What::Event { name, data } if name == "election_started" => {
                let pre_vote = data.get("pre_vote").and_then(Value::as_bool) == Some(true);
                current.insert((r.node, pre_vote), all.len());
                all.push(Candidacy { started: r, pre_vote, term: field(data, "term"), counts: BTreeMap::new() });
            }
            What::Start { .. } => {
                // A restarted node is in no candidacy until it starts one.
                current.retain(|(node, _), _| *node != r.node);
            }
            What::Send { msg_type, .. } => {
                let Some((kind, pre_vote)) = vote_message(msg_type).filter(|(k, _)| is_request(k)) else { continue };
                if let Some(&c) = current.get(&(r.node, pre_vote)) {
                    requests.insert((r.node, r.lc), c);
                    *all[c].counts.entry(kind).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    // Replies: the voter's next reply to a candidate answers the request it received from it.
    let mut pending: BTreeMap<(NodeId, NodeId, bool), usize> = BTreeMap::new();
    for r in &run.records {
        match &r.what {
            What::Recv { from, msg_type, .. } => {
                let Some((_, pre_vote)) = vote_message(msg_type).filter(|(k, _)| is_request(k)) else { continue };
                if let Some(&c) = sent.send_of(r).and_then(|s| requests.get(&(s.node, s.lc))) {
                    pending.insert((r.node, *from, pre_vote), c);
                }
            }
            What::Send { to, msg_type, .. } => {
                let Some((kind, pre_vote)) = vote_message(msg_type).filter(|(k, _)| !is_request(k)) else { continue };
                if let Some(c) = pending.remove(&(r.node, *to, pre_vote)) {
                    *all[c].counts.entry(kind).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    all
}

/// Messages per measured election (the candidacies begun from its episode to the next boundary,
/// each with all its messages), and the check that no candidacy cost more than 2(N−1): N−1
/// requests and N−1 replies.
fn election_cost(
    run: &Execution,
    timed: &[Timed],
    n: usize,
    pre_vote: bool,
) -> (PropertyResult, Vec<BTreeMap<String, u64>>) {
    const NAME: &str = "election_message_cost";
    let per = 2 * (n as u64 - 1);
    let all = candidacies(run);
    let types = if pre_vote { [VOTE_MESSAGES, PRE_VOTE_MESSAGES].concat() } else { VOTE_MESSAGES.to_vec() };
    let (mut samples, mut counted, mut violation) = (Vec::new(), Vec::new(), None);
    for t in timed {
        let (from, to) = (t.episode.t0, t.end);
        let mut counts: BTreeMap<String, u64> = types.iter().map(|k| (k.to_string(), 0)).collect();
        let mut candidates = 0u64;
        for c in all.iter().filter(|c| c.started.t >= from && c.started.t < to) {
            candidates += 1;
            for (kind, k) in &c.counts {
                *counts.entry(kind.to_string()).or_default() += k;
            }
            let cost: u64 = c.counts.values().sum();
            if cost > per && violation.is_none() {
                let detail = format!(
                    "election after {} at {:.0} ms: the {}candidacy of node {} for term {} cost {cost} messages ({}), above 2(N−1) = {per}",
                    t.episode.why,
                    run.ms(from),
                    if c.pre_vote { "pre-" } else { "" },
                    c.started.node,
                    c.term.map_or("?".to_string(), |t| t.to_string()),
                    c.counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
                );
                violation = Some(PropertyResult::violated(NAME, detail, vec![EventRef::of(c.started)]));
            }
        }
        counted.push(candidates);
        samples.push(counts);
    }
    let result = violation.unwrap_or_else(|| {
        let totals: Vec<u64> = samples.iter().map(|s| s.values().sum()).collect();
        let detail = format!(
            "messages per election {} for {} candidacies; textbook: 2(N−1) = {per} per candidate per term",
            listing(&totals),
            listing(&counted)
        );
        PropertyResult::held(NAME, samples.len(), "election measured (no agreement on a leader)", detail)
    });
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
    const NAME: &str = "rejoin_without_disruption";
    let (mut heals, mut deposed, mut jumps, mut violation) = (0, 0, Vec::new(), None);
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
            // Actual terms only: a pre-vote's proposed term is not taken by anyone.
            if let Some(RaftEvent::Term { term, .. }) = r.event_as() {
                top = top.max(term);
            }
            let ended = match r.event_as() {
                Some(ElectionEvent::LeaderLost(_)) => r.node == leader,
                Some(ElectionEvent::Elected(_)) => true,
                _ => false,
            };
            if ended && lost.is_none() {
                lost = Some(EventRef::of(r));
            }
        }
        jumps.push(top - term);
        if let Some(evidence) = lost {
            deposed += 1;
            if violation.is_none() {
                let detail = format!(
                    "after the heal at {:.0} ms node {leader}, leader of term {term}, lost its leadership; terms rose to {top}",
                    run.ms(f.t)
                );
                violation = Some(PropertyResult::violated(NAME, detail, vec![evidence]));
            }
        }
    }
    let property = violation.unwrap_or_else(|| {
        let detail = format!("{heals} heal(s) with a leader on the majority side; every leader kept its term");
        PropertyResult::held(NAME, heals, "heal with a leader on the majority side", detail)
    });
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

//! The rules that keep old Raft leaders harmless, judged at the message where one breaks:
//!
//! - **`stale_leader_steps_down`**: "if RPC request or response contains term T > currentTerm:
//!   set currentTerm = T, convert to follower". Judged on every leader message (`append_entries`)
//!   and candidate message (`request_vote`) a node sends: it must carry the node's current term,
//!   the highest term it has recorded (`term` events, across restarts) or received in this
//!   incarnation (any message but a pre-vote's proposed term), so a leader or candidate that has
//!   heard of a higher term sends nothing more in its old one; and a node sends `append_entries`
//!   only in a term it won, `request_vote` only in a term it stood in, in this incarnation (a
//!   leader that takes the higher term but forgets to step down is caught by the second rule).
//! - **`votes_counted_in_their_term`**: every `elected` event of term T names its voters; each one
//!   (but the winner) must have sent the winner a `vote` granted *for term T*, received by the
//!   winner after it stood in T and before it declared, and together with its own vote they must
//!   be a majority. A vote granted for an earlier term, or one that never arrived, counts for
//!   nothing. The votes are read from the messages themselves (`Vote { term, granted }` in the
//!   `send` records), so the trace needs nothing more.
//!
//! Reigns that overlap in time are legal in Raft when their terms differ (an isolated or paused
//! leader goes on believing it leads until it hears of the newer term): they are reported with
//! their terms in the `overlapping_reigns` metric.

use super::{RaftEvent, RaftMsg};
use crate::check::election::{overlapping_reigns, shown, Elections, SentIndex};
use crate::check::{EventRef, Execution, PropertyResult};
use crate::core::process::{Message, NodeId, MS};
use crate::core::trace::{TraceRecord, What};
use crate::election::event::{Elected, Started};
use crate::election::ElectionEvent;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const STALE_LEADER_STEPS_DOWN: &str = "stale_leader_steps_down";
pub const VOTES_COUNTED_IN_THEIR_TERM: &str = "votes_counted_in_their_term";

/// The term a received message makes its receiver take, if any: every message's term but a
/// pre-vote's proposed one (nobody changes term for a PreVote or a granted PreVoteReply).
fn binding_term(msg: &RaftMsg) -> Option<u64> {
    match msg {
        RaftMsg::RequestVote { term }
        | RaftMsg::Vote { term, .. }
        | RaftMsg::AppendEntries { term }
        | RaftMsg::AppendEntriesReply { term, .. }
        | RaftMsg::PreVoteReply { term, granted: false } => Some(*term),
        RaftMsg::PreVote { .. } | RaftMsg::PreVoteReply { granted: true, .. } => None,
    }
}

/// A real candidacy (not a pre-vote) for a term: its `election_started`.
fn candidacy_term(started: &Started) -> Option<u64> {
    started.term.filter(|_| started.pre_vote != Some(true))
}

fn by_node(run: &Execution) -> BTreeMap<NodeId, Vec<&TraceRecord>> {
    let mut map: BTreeMap<NodeId, Vec<&TraceRecord>> = BTreeMap::new();
    for r in &run.records {
        map.entry(r.node).or_default().push(r);
    }
    map
}

/// `stale_leader_steps_down`, as the module documentation states it.
pub fn stale_leader_steps_down(run: &Execution) -> PropertyResult {
    let sent = SentIndex::new(&run.records);
    let (mut heartbeats, mut requests, mut leaders_down, mut candidates_down) = (0usize, 0usize, 0u64, 0u64);
    for (node, records) in by_node(run) {
        // The node's current term and the record that showed it.
        let mut current: (u64, Option<&TraceRecord>) = (0, None);
        let (mut won, mut stood) = (BTreeSet::new(), BTreeSet::new());
        // The term this node leads or stands in, until it learns of a higher one.
        let (mut leading, mut standing): (Option<u64>, Option<u64>) = (None, None);
        for r in records {
            let learnt = match &r.what {
                What::Start { .. } => {
                    current = (0, None);
                    won.clear();
                    stood.clear();
                    (leading, standing) = (None, None);
                    None
                }
                What::Event { .. } => {
                    if let Some(ElectionEvent::Elected(Elected { term: Some(t), .. })) = r.event_as() {
                        won.insert(t);
                        (leading, standing) = (Some(t), None);
                    }
                    if let Some(t) = r.event_as().and_then(|e| match e {
                        ElectionEvent::ElectionStarted(s) => candidacy_term(&s),
                        _ => None,
                    }) {
                        stood.insert(t);
                        standing = Some(t);
                    }
                    match r.event_as::<RaftEvent>() {
                        Some(RaftEvent::Term { term, reason, .. }) => {
                            if reason == "candidate" {
                                stood.insert(term);
                                standing = Some(term);
                            }
                            Some(term)
                        }
                        _ => None,
                    }
                }
                What::Recv { .. } => sent.send_of(r).and_then(shown::<RaftMsg>).as_ref().and_then(binding_term),
                What::Send { .. } => {
                    let Some(msg) = shown::<RaftMsg>(r) else { continue };
                    let (term, allowed, what) = match msg {
                        RaftMsg::AppendEntries { term } => {
                            heartbeats += 1;
                            (term, &won, "won")
                        }
                        RaftMsg::RequestVote { term } => {
                            requests += 1;
                            (term, &stood, "stood in")
                        }
                        _ => continue,
                    };
                    let kind = msg.kind();
                    if term < current.0 {
                        let (seen, at) = current;
                        let how = match at.map(|a| &a.what) {
                            Some(What::Recv { from, msg_type, .. }) => {
                                format!("received {msg_type} of term {seen} from node {from}")
                            }
                            _ => format!("had taken term {seen}"),
                        };
                        let mut evidence: Vec<EventRef> = at.map(EventRef::of).into_iter().collect();
                        evidence.push(EventRef::of(r));
                        let detail = format!(
                            "node {node} sent {kind} in its old term {term} at {:.1} ms after it {how} at {:.1} ms: a leader or candidate that hears of a higher term must step down first",
                            run.ms(r.t),
                            at.map_or(0.0, |a| run.ms(a.t))
                        );
                        return PropertyResult::violated(STALE_LEADER_STEPS_DOWN, detail, evidence);
                    }
                    if !allowed.contains(&term) {
                        let detail = format!(
                            "node {node} sent {kind} in term {term} at {:.1} ms, a term it had not {what} (since it last started)",
                            run.ms(r.t)
                        );
                        return PropertyResult::violated(STALE_LEADER_STEPS_DOWN, detail, vec![EventRef::of(r)]);
                    }
                    None
                }
                _ => None,
            };
            if let Some(t) = learnt.filter(|t| *t > current.0) {
                current = (t, Some(r));
                if leading.is_some_and(|l| l < t) {
                    leaders_down += 1;
                } else if standing.is_some_and(|s| s < t) {
                    candidates_down += 1;
                }
                leading = leading.filter(|l| *l >= t);
                standing = standing.filter(|s| *s >= t);
            }
        }
    }
    let detail = format!(
        "{heartbeats} append_entries and {requests} request_vote judged, each in its sender's current term and a term it had won or stood in; {leaders_down} leader(s) and {candidates_down} candidate(s) heard of a higher term and sent nothing more in their old one"
    );
    PropertyResult::held(STALE_LEADER_STEPS_DOWN, heartbeats + requests, "leader or candidate message sent", detail)
}

/// `votes_counted_in_their_term`, as the module documentation states it.
pub fn votes_counted_in_their_term(run: &Execution) -> PropertyResult {
    const NAME: &str = VOTES_COUNTED_IN_THEIR_TERM;
    let sent = SentIndex::new(&run.records);
    let majority = run.nodes.len() / 2 + 1;
    // Granted votes that reached a candidate after its candidacy for their term had ended.
    let (mut elections, mut votes, mut late) = (0usize, 0u64, 0u64);
    for (node, records) in by_node(run) {
        // This incarnation's candidacy in progress: its term and the record that began it (until
        // it wins, or a higher term ends it).
        let mut candidacy: Option<(u64, &TraceRecord)> = None;
        // Granted votes received in the current candidacy: voter → (its term, the receive).
        let mut received: BTreeMap<NodeId, Vec<(u64, &TraceRecord)>> = BTreeMap::new();
        for r in records {
            match (&r.what, r.event_as::<ElectionEvent>()) {
                (What::Start { .. }, _) => {
                    candidacy = None;
                    received.clear();
                }
                (_, Some(ElectionEvent::ElectionStarted(s))) if candidacy_term(&s).is_some() => {
                    candidacy = candidacy_term(&s).map(|t| (t, r));
                    received.clear();
                }
                (What::Recv { from, .. }, _) => {
                    if let Some(RaftMsg::Vote { term, granted: true }) = sent.send_of(r).and_then(shown::<RaftMsg>) {
                        if candidacy.is_none_or(|(t, _)| t != term) {
                            late += 1;
                        }
                        received.entry(*from).or_default().push((term, r));
                    }
                }
                (_, Some(ElectionEvent::Elected(Elected { term: Some(term), votes: voters, .. }))) => {
                    elections += 1;
                    let voters = voters.unwrap_or_default();
                    let stood = match candidacy {
                        Some((t, s)) if t == term => s,
                        other => {
                            let why = other.map_or("it had not stood since it last started".to_string(), |(t, _)| {
                                format!("its candidacy since it last started was for term {t}")
                            });
                            let detail = format!(
                                "node {node} declared itself leader of term {term} at {:.1} ms, but {why}",
                                run.ms(r.t)
                            );
                            return PropertyResult::violated(NAME, detail, vec![EventRef::of(r)]);
                        }
                    };
                    for &v in voters.iter().filter(|v| **v != node) {
                        let from_v = received.get(&v).map_or(&[][..], Vec::as_slice);
                        if from_v.iter().any(|(t, _)| *t == term) {
                            votes += 1;
                            continue;
                        }
                        let head = format!(
                            "node {node} counted node {v}'s vote towards term {term} (elected at {:.1} ms), but",
                            run.ms(r.t)
                        );
                        let stood_at = run.ms(stood.t);
                        let detail = match from_v.first() {
                            Some((t, got)) => format!(
                                "{head} the vote it received from node {v} since standing at {stood_at:.1} ms was granted for term {t} (received at {:.1} ms)",
                                run.ms(got.t)
                            ),
                            None => format!("{head} received no vote granted by node {v} since standing at {stood_at:.1} ms"),
                        };
                        let mut evidence = vec![EventRef::of(stood)];
                        evidence.extend(from_v.first().map(|(_, got)| EventRef::of(got)));
                        evidence.push(EventRef::of(r));
                        return PropertyResult::violated(NAME, detail, evidence);
                    }
                    let distinct: BTreeSet<NodeId> = voters.iter().copied().chain([node]).collect();
                    if distinct.len() < majority {
                        let detail = format!(
                            "node {node} declared itself leader of term {term} at {:.1} ms with the votes of {distinct:?}, fewer than a majority ({majority} of {})",
                            run.ms(r.t),
                            run.nodes.len()
                        );
                        return PropertyResult::violated(NAME, detail, vec![EventRef::of(r)]);
                    }
                    // Won: the candidacy is over, and votes for it that come now count for nothing.
                    candidacy = None;
                }
                (What::Event { .. }, _) => {
                    // A higher term ends the candidacy too (the node steps down).
                    if let Some(RaftEvent::Term { term, .. }) = r.event_as::<RaftEvent>() {
                        if candidacy.is_some_and(|(t, _)| t < term) {
                            candidacy = None;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let detail = format!(
        "{elections} election(s) won, each by a majority of votes granted in its own term ({votes} votes of others, each received by the winner during its candidacy); {late} granted vote(s) arrived after their term's candidacy had ended and were not counted"
    );
    PropertyResult::held(NAME, elections, "election won (no `elected` event with its term)", detail)
}

/// The `overlapping_reigns` metric: every two reigns of different nodes that overlapped in true
/// time, with their terms (from the `leader` event that began each), at most `LISTED` of them.
pub fn overlapping_reigns_metric(el: &Elections) -> Value {
    const LISTED: usize = 20;
    let by_ref: BTreeMap<(NodeId, u64), &TraceRecord> = el.run.records.iter().map(|r| ((r.node, r.lc), r)).collect();
    let term_of = |began: &Option<EventRef>| match began.as_ref().and_then(|b| by_ref.get(&(b.node, b.lc)))?.event_as()
    {
        Some(ElectionEvent::Leader(view)) => view.term,
        _ => None,
    };
    let tenth = |ms: f64| (ms * 10.0).round() / 10.0;
    let overlaps = overlapping_reigns(&el.reigns());
    let mut same_term = 0;
    let listed: Vec<Value> = overlaps
        .iter()
        .map(|(a, b, from, to)| {
            let (ta, tb) = (term_of(&a.began), term_of(&b.began));
            if ta.is_some() && ta == tb {
                same_term += 1;
            }
            json!({
                "nodes": [a.node, b.node],
                "terms": [ta, tb],
                "from_ms": tenth(el.run.ms(*from)),
                "to_ms": tenth(el.run.ms(*to)),
                "overlap_ms": tenth((to - from) as f64 / MS as f64),
            })
        })
        .collect();
    json!({
        "overlaps": overlaps.len(),
        "same_term": same_term,
        "note": "reigns of different nodes that overlapped in time; legal when their terms differ (the older leader has not heard of the newer term yet)",
        "reigns": listed.into_iter().take(LISTED).collect::<Vec<_>>(),
    })
}

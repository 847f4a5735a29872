//! The lease election's checker: no takeover before a full lease duration, transitions that only
//! grow, one holder at a time, agreement in stable periods and the request rate.

use super::{LeaseEvent, LeaseMsg, LeaseParams, LeaseRecord};
use crate::check::election::{
    election_latency, episodes, local_time, message_metric, overlapping_reigns, sends_by_type, shown, stable_agreement,
    Elections, Expect, SentIndex, Timed,
};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn check_lease(run: &Execution, params: &LeaseParams) -> CheckReport {
    let candidates: Vec<NodeId> = run.nodes.iter().copied().filter(|n| *n != params.store).collect();
    check_lease_among(run, params, &candidates)
}

/// The lease's checks with these nodes as the candidates (`lease-lock` leaves its storage out).
pub fn check_lease_among(run: &Execution, params: &LeaseParams, candidates: &[NodeId]) -> CheckReport {
    let bound = params.election_bound();
    let candidates = candidates.to_vec();
    let el = Elections::new(run, candidates.clone());
    let sent = SentIndex::new(&run.records);

    let takeover = no_early_takeover(run, params, &candidates, &sent);
    let transitions = transitions_grow(run, params.store);
    let single = single_leader(run, &el);
    let store_up = |t: Nanos| el.views.at(params.store, t) != crate::check::View::Down && !el.live(t).is_empty();
    let agreement = stable_agreement(&el, bound, Expect::Any, &store_up);
    let eps = episodes(&el, false);
    let (latency, timed) = election_latency(&el, &eps, bound, Expect::Any, &store_up);
    let (rate, per_period) = request_rate(run, params, &candidates);

    // Candidates poll the store for ever, so an election's messages run from its episode to the
    // agreement on the new holder, not to the next fault as for the other elections.
    let samples: Vec<BTreeMap<String, u64>> = timed
        .iter()
        .map(|t| sends_by_type(&run.records, &["get", "record", "update", "update_result"], t.episode.t0, t.done + 1))
        .collect();
    let mut report =
        CheckReport { properties: vec![takeover, transitions, single, agreement, latency, rate], ..Default::default() };
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), crate::check::stats(&latencies));
    report.metrics.insert(
        "messages_per_election".into(),
        message_metric(
            &samples,
            json!({
                "figure": "1 read + 1 write per retry period per candidate (with their replies); a takeover waits a full lease duration",
                "per_candidate_per_retry_period": { "get": 1, "update": 1 },
            }),
        ),
    );
    report.metrics.insert("requests_per_retry_period".into(), per_period);
    let last = run
        .events::<LeaseEvent>()
        .filter_map(|(_, e)| match e {
            LeaseEvent::LeaseUpdated { transitions, .. } => Some(transitions),
            _ => None,
        })
        .last();
    report.metrics.insert("transitions".into(), json!(last.unwrap_or(0)));
    report
}

/// "No takeover before the lease duration since the last observed renewal": replays what each
/// candidate read from the store (the records its replies carried) and checks every write in
/// which it names itself holder in place of another against its own clock, rebuilt from the
/// drift faults.
fn no_early_takeover(run: &Execution, p: &LeaseParams, candidates: &[NodeId], sent: &SentIndex) -> PropertyResult {
    const NAME: &str = "no_early_takeover";
    let duration = p.lease_duration_ms * MS;
    let mut takeovers = 0;
    for &c in candidates {
        // (record seen, its version, own clock when first seen, the receive that showed it)
        let mut observed: Option<(LeaseRecord, u64, Nanos, EventRef)> = None;
        for r in run.records.iter().filter(|r| r.node == c) {
            match &r.what {
                What::Start { .. } => observed = None,
                What::Recv { .. } => {
                    let seen = sent.send_of(r).and_then(shown::<LeaseMsg>).and_then(|m| match m {
                        LeaseMsg::Record { record, version, .. } | LeaseMsg::UpdateResult { record, version, .. } => {
                            Some((record, version))
                        }
                        _ => None,
                    });
                    if let Some((record, version)) = seen {
                        if observed.as_ref().is_none_or(|o| o.1 != version) {
                            observed = Some((record, version, local_time(run, c, r.t), EventRef::of(r)));
                        }
                    }
                }
                What::Send { .. } => {
                    let Some(LeaseMsg::Update { record, .. }) = shown::<LeaseMsg>(r) else { continue };
                    let Some((seen, _, seen_at, seen_ref)) = &observed else { continue };
                    let previous = seen.holder.filter(|h| *h != c);
                    if record.holder != Some(c) || previous.is_none() {
                        continue;
                    }
                    takeovers += 1;
                    let waited = local_time(run, c, r.t).saturating_sub(*seen_at);
                    if waited < duration {
                        let detail = format!(
                            "node {c} tried to take the lease from node {} at {:.0} ms, {:.0} ms (its clock) after it saw the record change, before the lease duration of {} ms",
                            previous.unwrap_or(0),
                            run.ms(r.t),
                            waited as f64 / MS as f64,
                            p.lease_duration_ms
                        );
                        return PropertyResult::violated(NAME, detail, vec![seen_ref.clone(), EventRef::of(r)]);
                    }
                }
                _ => {}
            }
        }
    }
    let detail = format!(
        "{takeovers} takeover attempt(s), each a full lease duration ({} ms) after the candidate last saw the record change, on its own clock",
        p.lease_duration_ms
    );
    PropertyResult::held(
        NAME,
        takeovers,
        "takeover attempt (no candidate wrote itself in place of another holder)",
        detail,
    )
}

/// The store's record: transitions never fall, and rise by exactly one at each change of holder.
fn transitions_grow(run: &Execution, store: NodeId) -> PropertyResult {
    const NAME: &str = "transitions_grow";
    let mut last: Option<(Option<NodeId>, u64, EventRef)> = None;
    let (mut changes, mut compared) = (0, 0);
    for (r, e) in run.events::<LeaseEvent>().filter(|(r, _)| r.node == store) {
        let LeaseEvent::LeaseUpdated { holder, transitions, .. } = e else { continue };
        if let Some((before, count, at)) = &last {
            compared += 1;
            let expected = if holder != *before { count + 1 } else { *count };
            if transitions != expected {
                let detail = format!(
                    "the record's transitions went from {count} to {transitions} as the holder went from {before:?} to {holder:?} (expected {expected})"
                );
                return PropertyResult::violated(NAME, detail, vec![at.clone(), EventRef::of(r)]);
            }
            changes += (holder != *before) as usize;
        }
        last = Some((holder, transitions, EventRef::of(r)));
    }
    let count = last.as_ref().map_or(0, |(_, count, _)| *count);
    let detail =
        format!("{compared} update(s) after the first, {changes} of them change(s) of holder; transitions now {count}");
    let nothing = match last {
        None => "update: the store never updated the record",
        Some(_) => "second update of the record to compare with the first",
    };
    PropertyResult::held(NAME, compared, nothing, detail)
}

/// No two candidates believe they lead at once. Overlaps are what clock drift causes: the detail
/// names the drift the nodes were under.
fn single_leader(run: &Execution, el: &Elections) -> PropertyResult {
    const NAME: &str = "single_leader";
    let reigns = el.reigns();
    if let Some((a, b, from, to)) = overlapping_reigns(&reigns).into_iter().next() {
        let drift: Vec<String> = run
            .faults
            .iter()
            .filter(|f| f.t <= to)
            .filter_map(|f| match f.fault {
                AppliedFault::Drift { node, rate } if node == a.node || node == b.node => {
                    Some(format!("node {node}'s clock at {rate}× from {:.0} ms", run.ms(f.t)))
                }
                _ => None,
            })
            .collect();
        let detail = format!(
            "nodes {} and {} both believed they held the lease from {:.0} to {:.0} ms ({:.0} ms){}; leases without fencing tokens do not prevent this",
            a.node,
            b.node,
            run.ms(from),
            run.ms(to),
            (to - from) as f64 / MS as f64,
            if drift.is_empty() { String::new() } else { format!(" under clock drift: {}", drift.join(", ")) }
        );
        let evidence = [&a.began, &b.began, &a.ended, &b.ended].into_iter().flatten().cloned().collect();
        return PropertyResult::violated(NAME, detail, evidence);
    }
    let detail = format!("{} reign(s), none overlapping", reigns.len());
    PropertyResult::held(NAME, reigns.len(), "reign (no candidate ever believed it held the lease)", detail)
}

/// At most one read per retry period per candidate (on its own clock), and no write without a
/// read before it. An interval in which the node's clock changed rate is not judged: a timer set
/// before the change fires when it was due in true time. Returns the property and reads and
/// writes per retry period per candidate.
fn request_rate(run: &Execution, p: &LeaseParams, candidates: &[NodeId]) -> (PropertyResult, Value) {
    const NAME: &str = "request_rate";
    let mut violation: Option<PropertyResult> = None;
    let period = p.retry_period_ms * MS;
    let span = (run.end.saturating_sub(run.start)) as f64 / period as f64;
    let (mut reads, mut writes) = (0u64, 0u64);
    for &c in candidates {
        let mut last_get: Option<(Nanos, EventRef, Nanos)> = None;
        let mut gets_since_update = 0;
        for r in run.records.iter().filter(|r| r.node == c) {
            match &r.what {
                What::Start { .. } => last_get = None,
                What::Send { msg_type, .. } if msg_type == "get" => {
                    reads += 1;
                    gets_since_update += 1;
                    let now = local_time(run, c, r.t);
                    if let Some((before, at, true_before)) = &last_get {
                        let drifted = run.faults.iter().any(|f| {
                            matches!(f.fault, AppliedFault::Drift { node, .. } if node == c)
                                && f.t > *true_before
                                && f.t <= r.t
                        });
                        // 1 ms for the host's timer granularity.
                        if now + MS < before + period && !drifted && violation.is_none() {
                            let detail = format!(
                                "node {c} read the record twice within {:.0} ms (retry period {} ms)",
                                (now - before) as f64 / MS as f64,
                                p.retry_period_ms
                            );
                            violation = Some(PropertyResult::violated(NAME, detail, vec![at.clone(), EventRef::of(r)]));
                        }
                    }
                    last_get = Some((now, EventRef::of(r), r.t));
                }
                What::Send { msg_type, .. } if msg_type == "update" => {
                    writes += 1;
                    if gets_since_update == 0 && violation.is_none() {
                        let detail = format!("node {c} wrote the record without reading it first");
                        violation = Some(PropertyResult::violated(NAME, detail, vec![EventRef::of(r)]));
                    }
                    gets_since_update = 0;
                }
                _ => {}
            }
        }
    }
    let per = |n: u64| ((n as f64 / span.max(1.0) / candidates.len().max(1) as f64) * 100.0).round() / 100.0;
    let result = violation.unwrap_or_else(|| {
        let detail = format!(
            "{reads} read(s) and {writes} write(s): {:.2} reads and {:.2} writes per retry period per candidate; textbook: at most 1 + 1",
            per(reads),
            per(writes)
        );
        PropertyResult::held(NAME, (reads + writes) as usize, "read or write of the record by a candidate", detail)
    });
    (result, json!({ "reads": per(reads), "writes": per(writes), "textbook": { "reads": 1, "writes": 1 } }))
}

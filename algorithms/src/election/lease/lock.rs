//! Lease-based locking with fencing tokens (`lease-lock`): the course's "Implementation of
//! Lease-Based Locking Systems", with Kleppmann's fix for its flaw ("How to do distributed
//! locking", 2016).
//!
//! Nodes: the lock service (`store`, node 1 by default: the lease election's store, see
//! [`crate::election::lease`]), a storage node (`storage`, node 2 by default) and lock clients
//! (every other node: the lease's candidates).
//!
//! Rules:
//! - The lock service grants the lock as a lease, exactly as the lease election does: a
//!   compare-and-swap on the lease record, renewals every `retry_period`, a takeover only after a
//!   full `lease_duration` without a renewal.
//! - The fencing token is the record's `transitions` counter after the takeover: it grows by one
//!   at every change of holder, the service persists it with the record, so a later holder always
//!   has a higher token, across restarts of the service too. It costs no message of its own.
//! - A client that holds the lock, at every retry period, first does its work (one write to the
//!   storage carrying its token), then renews, trusting its lease as its own clock tells it.
//! - With `fencing` the storage accepts a write only with a token at least as high as any it has
//!   accepted (it persists the highest); any other it rejects (`write_rejected`) and tells the
//!   writer, which stops acting as holder. Without fencing it accepts every write.
//!
//! Properties: `fenced_writes` (the storage never accepts a write whose token is lower than one
//! it has accepted) and `single_writer_per_token` (no two clients write with one token), besides
//! the lease's own (`no_early_takeover`, `transitions_grow`, `stable_agreement`,
//! `election_within_bound`, `request_rate`). Not promised: a single holder. Under clock drift two
//! clients can believe they hold the lock at once (`lease-drift` shows it); fencing makes that
//! harmless to the storage, and the overlap is reported as the `lease_overlap` metric.
//!
//! Cost: per client 1 read and 1 write of the record per retry period (with their replies), as
//! the lease; per holder 1 storage write and its reply per retry period.
//!
//! Why an algorithm of its own beside `lease` rather than a parameter of it: its runs have a role
//! (the storage) and writes that a lease election's do not, and its properties would be
//! `unknown` in every plain lease run; the nodes themselves are the lease's ([`LeaseNode`] with a
//! [`Lock`]), so the election's rules are written once.

use super::{check_lease_among, LeaseEvent, LeaseMsg, LeaseNode, LeaseParams, Lock};
use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::election::shown;
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{NodeId, Process};
use crate::core::trace::What;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const FENCED_WRITES: &str = "fenced_writes";
pub const SINGLE_WRITER_PER_TOKEN: &str = "single_writer_per_token";

/// The lease's parameters (see [`LeaseParams`]), the storage node, and whether it fences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseLockParams {
    /// The lock service: keeps the lease record.
    pub store: NodeId,
    /// The storage node the lock holders write to.
    pub storage: NodeId,
    pub lease_duration_ms: u64,
    pub renew_deadline_ms: u64,
    pub retry_period_ms: u64,
    pub election_bound_ms: Option<u64>,
    /// The storage checks fencing tokens; off, it accepts every write (meant to fail under drift).
    pub fencing: bool,
}

impl Default for LeaseLockParams {
    fn default() -> Self {
        let l = LeaseParams::default();
        LeaseLockParams {
            store: l.store,
            storage: 2,
            lease_duration_ms: l.lease_duration_ms,
            renew_deadline_ms: l.renew_deadline_ms,
            retry_period_ms: l.retry_period_ms,
            election_bound_ms: l.election_bound_ms,
            fencing: true,
        }
    }
}

impl LeaseLockParams {
    pub fn lease(&self) -> LeaseParams {
        LeaseParams {
            store: self.store,
            lease_duration_ms: self.lease_duration_ms,
            renew_deadline_ms: self.renew_deadline_ms,
            retry_period_ms: self.retry_period_ms,
            election_bound_ms: self.election_bound_ms,
        }
    }

    /// The lock clients: every node but the lock service and the storage.
    pub fn clients(&self, nodes: &[NodeId]) -> Vec<NodeId> {
        nodes.iter().copied().filter(|n| *n != self.store && *n != self.storage).collect()
    }
}

impl Params for LeaseLockParams {
    fn validate(&self, cluster: usize) -> Result<(), String> {
        if self.storage == 0 || self.storage as usize > cluster || self.storage == self.store {
            return Err(format!(
                "params.storage ({}) must be a node of the cluster (1..={cluster}) other than params.store ({})",
                self.storage, self.store
            ));
        }
        if cluster < 3 {
            return Err("a lease lock needs the lock service, the storage and a client: nodes ≥ 3".into());
        }
        self.lease().validate(cluster)
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct LeaseLock;

impl Spec for LeaseLock {
    const NAME: &'static str = "lease-lock";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "lease-based lock with fencing tokens: the lease's transitions count is the token, the storage rejects lower ones; per retry period 1 read + 1 write of the record per client, 1 storage write per holder";
    type Params = LeaseLockParams;

    fn build(me: NodeId, _peers: &[NodeId], p: &LeaseLockParams) -> Result<impl Process, String> {
        Ok(LeaseNode::with_lock(me, p.lease(), Some(Lock { storage: p.storage, fencing: p.fencing })))
    }

    fn properties() -> Vec<PropertyInfo> {
        let lease_own =
            ["no_early_takeover", "transitions_grow", "stable_agreement", "election_within_bound", "request_rate"];
        let mut all = vec![
            PropertyInfo {
                name: FENCED_WRITES,
                promise: "the storage never accepts a write whose token is lower than one it has already accepted (fails with params.fencing = false under clock drift)",
            },
            PropertyInfo { name: SINGLE_WRITER_PER_TOKEN, promise: "no two clients write with the same token" },
        ];
        all.extend(super::Lease::properties().into_iter().filter(|p| lease_own.contains(&p.name)));
        all
    }

    fn check(run: &Execution, p: &LeaseLockParams) -> CheckReport {
        check_lock(run, p)
    }
}

/// The lease's checks over the clients, without `single_leader` (not promised: its finding is
/// kept as the `lease_overlap` metric), then the storage's.
pub fn check_lock(run: &Execution, p: &LeaseLockParams) -> CheckReport {
    let mut report = check_lease_among(run, &p.lease(), &p.clients(&run.nodes));
    if let Some(i) = report.properties.iter().position(|r| r.name == "single_leader") {
        let overlap = report.properties.remove(i);
        report.metrics.insert(
            "lease_overlap".into(),
            json!({ "overlap": overlap.verdict == crate::Verdict::Violated, "detail": overlap.detail }),
        );
    }
    let (fenced, rejected) = fenced_writes(run, p);
    report.properties.insert(0, fenced);
    report.properties.insert(1, single_writer_per_token(run, p));
    report.metrics.insert("stale_writes_rejected".into(), json!(rejected));
    report
}

/// `fenced_writes`: the storage's accepted writes in order, each token at least the highest
/// accepted before it (across the storage's restarts: a property of everything it accepted).
/// Returns the property and every rejected write, `{from, token, highest, at_ms}`.
fn fenced_writes(run: &Execution, p: &LeaseLockParams) -> (PropertyResult, Vec<serde_json::Value>) {
    let mut highest: Option<(u64, NodeId, EventRef, f64)> = None;
    let (mut accepted, mut rejected, mut violation) = (0, Vec::new(), None);
    for (r, e) in run.events::<LeaseEvent>().filter(|(r, _)| r.node == p.storage) {
        match e {
            LeaseEvent::WriteAccepted { from, token, .. } => {
                accepted += 1;
                match &highest {
                    Some((top, by, at, ms)) if token < *top && violation.is_none() => {
                        let detail = format!(
                            "the storage accepted node {from}'s write with token {token} at {:.0} ms, after accepting node {by}'s with token {top} at {ms:.0} ms: a stale holder's write got through",
                            run.ms(r.t)
                        );
                        violation =
                            Some(PropertyResult::violated(FENCED_WRITES, detail, vec![at.clone(), EventRef::of(r)]));
                    }
                    Some((top, ..)) if token <= *top => {}
                    _ => highest = Some((token, from, EventRef::of(r), run.ms(r.t))),
                }
            }
            LeaseEvent::WriteRejected { from, token, highest: above, .. } => {
                rejected.push(json!({ "from": from, "token": token, "highest": above, "at_ms": run.ms(r.t).round() }));
            }
            _ => {}
        }
    }
    let result = violation.unwrap_or_else(|| {
        let detail = format!(
            "{accepted} write(s) accepted, tokens never below one accepted before; {} stale write(s) rejected{}",
            rejected.len(),
            match rejected.first() {
                Some(w) => format!(", the first node {}'s with token {} at {} ms", w["from"], w["token"], w["at_ms"]),
                None => String::new(),
            }
        );
        PropertyResult::held(FENCED_WRITES, accepted, "write accepted by the storage", detail)
    });
    (result, rejected)
}

/// `single_writer_per_token`: every write sent to the storage, by token; a token two clients
/// wrote with is violated, naming both writes.
fn single_writer_per_token(run: &Execution, p: &LeaseLockParams) -> PropertyResult {
    let mut first: BTreeMap<u64, (NodeId, EventRef)> = BTreeMap::new();
    let mut writes = 0;
    for r in &run.records {
        let What::Send { to, msg_type, .. } = &r.what else { continue };
        if *to != p.storage || msg_type != "write" {
            continue;
        }
        let Some(LeaseMsg::Write { token, .. }) = shown::<LeaseMsg>(r) else { continue };
        writes += 1;
        match first.get(&token) {
            Some((other, at)) if *other != r.node => {
                let detail = format!(
                    "nodes {other} and {} both wrote with token {token} (node {}'s at {:.0} ms)",
                    r.node,
                    r.node,
                    run.ms(r.t)
                );
                return PropertyResult::violated(SINGLE_WRITER_PER_TOKEN, detail, vec![at.clone(), EventRef::of(r)]);
            }
            Some(_) => {}
            None => {
                first.insert(token, (r.node, EventRef::of(r)));
            }
        }
    }
    let detail = format!("{writes} write(s) with {} token(s), each token used by one client", first.len());
    PropertyResult::held(SINGLE_WRITER_PER_TOKEN, writes, "write sent to the storage", detail)
}

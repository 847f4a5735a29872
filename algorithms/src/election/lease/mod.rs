//! Lease-based leader election, as Kubernetes' client-go `leaderelection` package does it.
//!
//! One node (`store`, node 1 by default) plays the API server: it keeps the lease record and
//! updates it atomically, a compare-and-swap on the record's version (optimistic concurrency,
//! like a `resourceVersion`). Every other node is a candidate. The record holds the holder, the
//! acquire and renew times (on the holder's own clock), the lease duration and the number of
//! transitions (changes of holder).
//!
//! Rules, as client-go states them:
//! - Every `retry_period` (with a little jitter) a candidate reads the record. Whenever the record
//!   differs from the one it saw last, it notes the time on its *own* clock: the observed time.
//! - A candidate that does not hold the lease takes it over only when the holder is empty or a
//!   full `lease_duration` has passed since its observed time without the record changing: it
//!   writes itself as holder with acquire and renew times now and `transitions + 1`, conditional
//!   on the version it read. If two try at once, one write fails and its writer follows the other.
//! - The holder renews every `retry_period` (a write of the renew time). If it has not renewed
//!   successfully within `renew_deadline` of sending the last successful renewal, it stops acting
//!   as leader.
//! - `lease_duration > renew_deadline > 1.2 × retry_period`: an old holder gives up before anyone
//!   may take over, *as long as clocks run at the same rate*. Times are measured on each node's own
//!   clock and never compared across nodes, so skew does not matter, but drift does: a holder whose
//!   clock runs slow (or a candidate whose clock runs fast) can act as leader while another does.
//!   client-go promises no fencing; the checker reports the overlap with the events that show it.
//!
//! Defaults scale client-go's 15 s / 10 s / 2 s down tenfold to lab time: 1500 / 1000 / 200 ms.
//!
//! The same nodes, with a storage node and writes, are the lock service of [`lock`]
//! (`lease-lock`): fencing tokens, the answer to the overlap above.

mod check;
pub mod lock;
use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::election::event::{Elected, ElectionEvent};
pub use check::{check_lease, check_lease_among};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The lease record, as a `coordination.k8s.io` Lease holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub holder: Option<NodeId>,
    /// On the holder's clock (milliseconds), as client-go writes its own `MicroTime`.
    pub acquire_time_ms: u64,
    pub renew_time_ms: u64,
    pub lease_duration_ms: u64,
    pub transitions: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LeaseMsg {
    /// Read the record.
    Get {
        req: u64,
    },
    Record {
        req: u64,
        record: LeaseRecord,
        version: u64,
    },
    /// Write `record` if the stored version is still `expected`.
    Update {
        req: u64,
        expected: u64,
        record: LeaseRecord,
    },
    /// The outcome, and the record as stored now.
    UpdateResult {
        req: u64,
        ok: bool,
        record: LeaseRecord,
        version: u64,
    },
    /// `lease-lock`: a lock holder's write to the storage node, with its fencing token (`seq`
    /// numbers the holder's writes).
    Write {
        token: u64,
        seq: u64,
    },
    /// The storage's answer: accepted or fenced off, and the highest token it has accepted.
    WriteResult {
        seq: u64,
        ok: bool,
        highest: u64,
    },
}

impl Message for LeaseMsg {
    fn kind(&self) -> &'static str {
        match self {
            LeaseMsg::Get { .. } => "get",
            LeaseMsg::Record { .. } => "record",
            LeaseMsg::Update { .. } => "update",
            LeaseMsg::UpdateResult { .. } => "update_result",
            LeaseMsg::Write { .. } => "write",
            LeaseMsg::WriteResult { .. } => "write_result",
        }
    }
}

/// A candidate's next read (or the holder's next renewal), and the holder's renew deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseTimer {
    Retry,
    RenewDeadline,
}

impl Timer for LeaseTimer {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseParams {
    /// The node that keeps the record (plays the API server); it is no candidate.
    pub store: NodeId,
    pub lease_duration_ms: u64,
    pub renew_deadline_ms: u64,
    pub retry_period_ms: u64,
    /// Longest acceptable time from the holder's death to agreement on the next; derived when
    /// not given.
    pub election_bound_ms: Option<u64>,
}

impl Default for LeaseParams {
    fn default() -> Self {
        LeaseParams {
            store: 1,
            lease_duration_ms: 1500,
            renew_deadline_ms: 1000,
            retry_period_ms: 200,
            election_bound_ms: None,
        }
    }
}

impl LeaseParams {
    /// After the holder dies the others last saw it renew up to a (jittered) retry period
    /// earlier; they take over at their first read a full lease duration later, and the rest
    /// learn it at their next read: lease duration + 2.4 retry periods, plus 100 ms slack.
    pub fn election_bound(&self) -> Nanos {
        self.election_bound_ms.unwrap_or(self.lease_duration_ms + self.retry_period_ms * 3 + 100) * MS
    }
}

impl Params for LeaseParams {
    fn validate(&self, cluster: usize) -> Result<(), String> {
        if self.store == 0 || self.store as usize > cluster {
            return Err(format!("params.store ({}) must be a node of the cluster (1..={cluster})", self.store));
        }
        if cluster < 2 {
            return Err("a lease election needs the store and at least one candidate: nodes ≥ 2".into());
        }
        // client-go: LeaseDuration > RenewDeadline > JitterFactor (1.2) × RetryPeriod.
        if self.retry_period_ms == 0
            || self.renew_deadline_ms * 10 <= self.retry_period_ms * 12
            || self.lease_duration_ms <= self.renew_deadline_ms
        {
            return Err(format!(
                "params.lease_duration_ms ({}) > params.renew_deadline_ms ({}) > 1.2 × params.retry_period_ms ({}) > 0 must hold",
                self.lease_duration_ms, self.renew_deadline_ms, self.retry_period_ms
            ));
        }
        Ok(())
    }
}

/// The lease's own events, written by the store: a successful update of the record
/// (`lease_updated`), and the record it recovered at start (`lease_store`). The checker needs
/// only `version`, `holder` and `transitions`, so a trace may leave the rest out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum LeaseEvent {
    LeaseUpdated {
        version: u64,
        #[serde(default)]
        by: NodeId,
        holder: Option<NodeId>,
        transitions: u64,
        #[serde(default)]
        acquire_time_ms: u64,
        #[serde(default)]
        renew_time_ms: u64,
    },
    LeaseStore {
        version: u64,
        holder: Option<NodeId>,
    },
    /// `lease-lock`, written by the storage: a write it accepted ...
    WriteAccepted {
        from: NodeId,
        token: u64,
        seq: u64,
    },
    /// ... and one it fenced off: its token is below `highest`, the highest it has accepted.
    WriteRejected {
        from: NodeId,
        token: u64,
        seq: u64,
        highest: u64,
    },
}

impl Event for LeaseEvent {}

/// The API server's part: the record, its version, compare-and-swap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Store {
    record: LeaseRecord,
    version: u64,
}

/// What a node persists: the lock store its record, the storage the highest token it accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durable {
    Store(Store),
    Storage { highest: u64 },
}

/// `lease-lock`'s storage node: the highest token it has accepted, and whether it fences.
#[derive(Clone, Debug, Default)]
struct Storage {
    highest: u64,
    fencing: bool,
}

/// What turns the lease's candidates into lock clients: the storage they write to, every retry
/// period while they hold the lease, and whether it fences.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lock {
    pub storage: NodeId,
    pub fencing: bool,
}

/// A request in flight, and when (own clock) it was sent.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    req: u64,
    sent_at: Nanos,
}

/// A candidate's part: what it saw of the record and when, and whether it leads.
#[derive(Clone, Debug, Default)]
struct Candidate {
    /// client-go's observedRecord (with its version) and observedTime, on this node's clock.
    observed: Option<(LeaseRecord, u64, Nanos)>,
    leading: bool,
    /// Who this node believes holds the lease (traced when it changes).
    view: Option<NodeId>,
    next_req: u64,
    in_flight: Option<InFlight>,
    /// `lease-lock`: the fencing token of the lease held (its transitions count), and the
    /// number of writes made with it.
    token: Option<u64>,
    writes: u64,
}

enum Role {
    Store(Store),
    Candidate(Candidate),
    Storage(Storage),
}

pub struct LeaseNode {
    me: NodeId,
    params: LeaseParams,
    role: Role,
    lock: Option<Lock>,
}

impl LeaseNode {
    pub fn new(me: NodeId, params: LeaseParams) -> Self {
        Self::with_lock(me, params, None)
    }

    /// A node of the lease election, or with `lock` of the lock service (`lease-lock`).
    pub fn with_lock(me: NodeId, params: LeaseParams, lock: Option<Lock>) -> Self {
        let role = match lock {
            _ if me == params.store => Role::Store(Store::default()),
            Some(l) if l.storage == me => Role::Storage(Storage { highest: 0, fencing: l.fencing }),
            _ => Role::Candidate(Candidate::default()),
        };
        LeaseNode { me, params, role, lock }
    }
}

impl Storage {
    /// "Accept a write only with a token at least as high as any accepted" (with fencing; without,
    /// every write).
    fn on_write(&mut self, ctx: &mut Ctx<LeaseTimer>, from: NodeId, token: u64, seq: u64) {
        let ok = !self.fencing || token >= self.highest;
        if ok {
            if token > self.highest {
                self.highest = token;
                ctx.persist(&Durable::Storage { highest: self.highest });
            }
            ctx.emit(&LeaseEvent::WriteAccepted { from, token, seq });
        } else {
            ctx.emit(&LeaseEvent::WriteRejected { from, token, seq, highest: self.highest });
        }
        ctx.send(from, &LeaseMsg::WriteResult { seq, ok, highest: self.highest });
    }
}

impl Store {
    fn on_message(&mut self, ctx: &mut Ctx<LeaseTimer>, from: NodeId, msg: LeaseMsg) {
        match msg {
            LeaseMsg::Get { req } => {
                ctx.send(from, &LeaseMsg::Record { req, record: self.record.clone(), version: self.version });
            }
            LeaseMsg::Update { req, expected, record } => {
                let ok = expected == self.version;
                if ok {
                    self.record = record;
                    self.version += 1;
                    ctx.persist(&Durable::Store(self.clone()));
                    ctx.emit(&LeaseEvent::LeaseUpdated {
                        version: self.version,
                        by: from,
                        holder: self.record.holder,
                        transitions: self.record.transitions,
                        acquire_time_ms: self.record.acquire_time_ms,
                        renew_time_ms: self.record.renew_time_ms,
                    });
                }
                let (record, version) = (self.record.clone(), self.version);
                ctx.send(from, &LeaseMsg::UpdateResult { req, ok, record, version });
            }
            LeaseMsg::Record { .. }
            | LeaseMsg::UpdateResult { .. }
            | LeaseMsg::Write { .. }
            | LeaseMsg::WriteResult { .. } => {}
        }
    }
}

impl Candidate {
    fn view(&mut self, ctx: &mut Ctx<LeaseTimer>, holder: Option<NodeId>, reason: &str) {
        if self.view == holder {
            return;
        }
        match (self.view, holder) {
            (_, Some(h)) => ctx.emit(&ElectionEvent::leader(h)),
            (Some(old), None) => ctx.emit(&ElectionEvent::leader_lost(old, reason)),
            (None, None) => {}
        }
        self.view = holder;
    }

    /// client-go's observedRecord/observedTime: the clock starts when the record changes.
    fn observe(&mut self, ctx: &Ctx<LeaseTimer>, record: &LeaseRecord, version: u64) {
        if self.observed.as_ref().is_none_or(|(_, v, _)| *v != version) {
            self.observed = Some((record.clone(), version, ctx.now()));
        }
    }

    fn request(&mut self, ctx: &mut Ctx<LeaseTimer>, store: NodeId, build: impl FnOnce(u64) -> LeaseMsg) {
        self.next_req += 1;
        let req = self.next_req;
        self.in_flight = Some(InFlight { req, sent_at: ctx.now() });
        ctx.send(store, &build(req));
    }

    fn step_down(&mut self, ctx: &mut Ctx<LeaseTimer>, me: NodeId, holder: Option<NodeId>, reason: &str) {
        if self.leading {
            self.leading = false;
            self.token = None;
            ctx.cancel_timer(LeaseTimer::RenewDeadline);
            ctx.emit(&ElectionEvent::leader_lost(me, reason));
            self.view = None;
        }
        self.view(ctx, holder, reason);
    }
}

impl LeaseNode {
    /// One round of client-go's tryAcquireOrRenew: read the record, then decide.
    /// A lock holder (`lease-lock`) first does its work: one write to the storage with its token,
    /// trusting its lease as its own clock tells it, as a client of a lock service does.
    fn tick(&mut self, ctx: &mut Ctx<LeaseTimer>) {
        let (store, period) = (self.params.store, self.params.retry_period_ms);
        let Role::Candidate(c) = &mut self.role else { return };
        if let (Some(lock), Some(token), true) = (self.lock, c.token, c.leading) {
            c.writes += 1;
            ctx.send(lock.storage, &LeaseMsg::Write { token, seq: c.writes });
        }
        c.request(ctx, store, |req| LeaseMsg::Get { req });
        // The holder renews every retry period; the others poll with client-go's jitter.
        let jitter = if c.leading { 0 } else { ctx.rng().random_range(0..=period / 5) };
        ctx.set_timer(LeaseTimer::Retry, (period + jitter) * MS);
    }

    fn on_record(&mut self, ctx: &mut Ctx<LeaseTimer>, record: LeaseRecord, version: u64) {
        let (me, p) = (self.me, self.params.clone());
        let Role::Candidate(c) = &mut self.role else { return };
        c.observe(ctx, &record, version);
        let observed_at = c.observed.as_ref().map_or(ctx.now(), |(_, _, at)| *at);
        let expired = ctx.now() >= observed_at + p.lease_duration_ms * MS;
        let now_ms = ctx.now() / MS;
        match record.holder {
            // The holder renews: same acquire time and transitions, a new renew time.
            Some(h) if h == me => {
                let renewed = LeaseRecord { renew_time_ms: now_ms, ..record };
                c.request(ctx, p.store, |req| LeaseMsg::Update { req, expected: version, record: renewed });
            }
            // Free, or not renewed for a full lease duration as this node saw it: take it.
            holder if holder.is_none() || expired => {
                c.view(ctx, None, "lease expired");
                let taken = LeaseRecord {
                    holder: Some(me),
                    acquire_time_ms: now_ms,
                    renew_time_ms: now_ms,
                    lease_duration_ms: p.lease_duration_ms,
                    transitions: record.transitions + 1,
                };
                c.request(ctx, p.store, |req| LeaseMsg::Update { req, expected: version, record: taken });
            }
            holder => c.step_down(ctx, me, holder, "another node holds the lease"),
        }
    }

    fn on_update_result(
        &mut self,
        ctx: &mut Ctx<LeaseTimer>,
        ok: bool,
        record: LeaseRecord,
        version: u64,
        sent_at: Nanos,
    ) {
        let (me, deadline) = (self.me, self.params.renew_deadline_ms * MS);
        let Role::Candidate(c) = &mut self.role else { return };
        c.observe(ctx, &record, version);
        if ok && record.holder == Some(me) {
            // The renew deadline runs from when this successful request was sent.
            ctx.set_timer(LeaseTimer::RenewDeadline, (sent_at + deadline).saturating_sub(ctx.now()).max(1));
            if !c.leading {
                c.leading = true;
                c.token = Some(record.transitions);
                ctx.emit(&ElectionEvent::Elected(Elected {
                    leader: me,
                    transitions: Some(record.transitions),
                    ..Elected::default()
                }));
                c.view(ctx, Some(me), "acquired");
            }
        } else if record.holder != Some(me) {
            c.step_down(ctx, me, record.holder, "another node holds the lease");
        }
    }
}

impl Process for LeaseNode {
    type Msg = LeaseMsg;
    type Timer = LeaseTimer;
    /// The store persists the record and its version; `lease-lock`'s storage its highest token.
    type Durable = Durable;

    /// State of the other role's kind (a store handed a storage's token) is corrupt: the node
    /// stops with an error rather than start from a default.
    fn on_start(&mut self, ctx: &mut Ctx<LeaseTimer>, recovered: Option<Durable>) {
        match (&mut self.role, recovered) {
            (Role::Store(store), recovered) => {
                *store = match recovered {
                    None => Store::default(),
                    Some(Durable::Store(s)) => s,
                    Some(other) => panic!("the lease store recovered {other:?}, not a lease record"),
                };
                ctx.emit(&LeaseEvent::LeaseStore { version: store.version, holder: store.record.holder });
            }
            (Role::Storage(storage), recovered) => {
                storage.highest = match recovered {
                    None => 0,
                    Some(Durable::Storage { highest }) => highest,
                    Some(other) => panic!("the storage recovered {other:?}, not its highest token"),
                };
            }
            (Role::Candidate(_), _) => self.tick(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<LeaseTimer>, from: NodeId, msg: LeaseMsg) {
        let in_flight = match (&mut self.role, msg) {
            (Role::Store(store), msg) => return store.on_message(ctx, from, msg),
            (Role::Storage(storage), LeaseMsg::Write { token, seq }) => return storage.on_write(ctx, from, token, seq),
            (Role::Storage(_), _) => return,
            // Fenced off: the storage has accepted a newer token, so another holds the lock.
            (Role::Candidate(c), LeaseMsg::WriteResult { ok: false, .. }) => {
                return c.step_down(ctx, self.me, None, "fenced off by the storage");
            }
            (Role::Candidate(c), msg) => (c.in_flight, msg),
        };
        let (in_flight, msg) = in_flight;
        // Only the answer to the latest request counts: an older one is out of date.
        let Some(InFlight { req: current, sent_at }) = in_flight else { return };
        match msg {
            LeaseMsg::Record { req, record, version } if req == current => self.on_record(ctx, record, version),
            LeaseMsg::UpdateResult { req, ok, record, version } if req == current => {
                self.on_update_result(ctx, ok, record, version, sent_at)
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<LeaseTimer>, timer: LeaseTimer) {
        match timer {
            LeaseTimer::Retry => self.tick(ctx),
            LeaseTimer::RenewDeadline => {
                let me = self.me;
                if let Role::Candidate(c) = &mut self.role {
                    c.step_down(ctx, me, None, "renew deadline passed");
                }
            }
        }
    }

    fn status(&self) -> Status {
        match &self.role {
            Role::Store(store) => {
                Status { role: "store".into(), leader: store.record.holder, term: Some(store.version) }
            }
            Role::Candidate(c) => Status {
                role: if c.leading { "leader" } else { "candidate" }.into(),
                leader: c.view,
                term: c.observed.as_ref().map(|(r, _, _)| r.transitions),
            },
            Role::Storage(s) => Status { role: "storage".into(), leader: None, term: Some(s.highest) },
        }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Lease;

impl Spec for Lease {
    const NAME: &'static str = "lease";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "Kubernetes-style lease election: a CAS'd lease record on a store node, renew deadline, takeover after a full lease duration";
    type Params = LeaseParams;

    fn build(me: NodeId, _peers: &[NodeId], p: &LeaseParams) -> Result<impl Process, String> {
        Ok(LeaseNode::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo {
                name: "no_early_takeover",
                promise: "nobody takes the lease over before a full lease duration, on its own clock, since it last saw the record change",
            },
            PropertyInfo {
                name: "transitions_grow",
                promise: "the record's transitions counter only grows, by one at each change of holder",
            },
            PropertyInfo {
                name: "single_leader",
                promise: "no two candidates believe they hold the lease at the same time (fails under clock drift: no fencing)",
            },
            PropertyInfo {
                name: "stable_agreement",
                promise: "in every stable period with the store up, all live candidates name one live holder",
            },
            PropertyInfo {
                name: "election_within_bound",
                promise: "after the holder dies another takes over, and all know it, within the bound",
            },
            PropertyInfo {
                name: "request_rate",
                promise: "each candidate makes at most 1 read and 1 write per retry period",
            },
        ]
    }

    fn check(run: &Execution, p: &LeaseParams) -> CheckReport {
        check_lease(run, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;
    use serde_json::json;

    #[test]
    fn bad_params_name_their_key() {
        let err = Lease.build(2, &[1, 3], &json!({"renew_deadline_ms": 2000})).err().unwrap();
        assert!(err.contains("params.lease_duration_ms"), "{err}");
        let err = Lease.build(2, &[1, 3], &json!({"store": 7})).err().unwrap();
        assert!(err.contains("params.store"), "{err}");
        let err = Lease.build(2, &[1, 3], &json!({"retry_period_ms": 900})).err().unwrap();
        assert!(err.contains("1.2 × params.retry_period_ms"), "{err}");
    }
}

//! Timestamp election: the course's "Lamport's algorithm" for leader election (`004_*.txt`):
//! logical clocks order the candidates, and the highest `(timestamp, id)` wins.
//!
//! Rules, as the course states them, made precise:
//! - Every process keeps a Lamport clock: it ticks before each send (a broadcast is one event),
//!   and a receive sets it to `max(own, received) + 1`. Every message carries the sender's clock.
//! - A process that believes the leader has failed (no heartbeat for `leader_timeout`, and at
//!   start) *stands*: it ticks, takes the new clock value as its timestamp, and broadcasts
//!   ELECTION carrying it. Its bid is `(timestamp, id)`.
//! - A process that receives ELECTION forgets the old leader and compares the initiator's bid
//!   with its own: its standing bid, or, when it takes no part in an election yet, its clock
//!   before the receive. If its own is higher it sends REPLY (the course's "response with a
//!   higher timestamp") and, unless it already stands, stands itself (its new timestamp is higher
//!   still). If the initiator's bid is higher it *defers*: a standing process withdraws, and
//!   either waits for the winner. A deferred process stays quiet for the rest of the election:
//!   every receive raises its clock, and were it to compare that clock again it would stand
//!   against every later bid and the election would never end.
//! - A REPLY tells a candidate that someone higher stands: it defers. A deferred process waits
//!   `coordinator_timeout` for the winner, and stands again if none comes.
//! - A candidate that hears of no higher bid within `reply_timeout` wins: it broadcasts
//!   COORDINATOR and from then on a HEARTBEAT every `heartbeat`, the failure detector. Followers
//!   follow the sender of a COORDINATOR unless they stand with a higher bid; a leader that hears
//!   another leader's heartbeat stands, so the bids settle it.
//!
//! Promise: in every stable period all live nodes agree on one live leader (which one depends on
//! the clocks, not on the id alone); after the leader dies agreement comes within a bound. Cost
//! per election: best 2(n−1) (the one candidate holds the highest bid: n−1 ELECTION and n−1
//! COORDINATOR; n−1 when it is the only one left); worst, when every process stands once, n(n−1) ELECTION, at most one REPLY per
//! pair, n(n−1)/2, and n−1 COORDINATOR: (n−1)(3n+2)/2. Like bully, not safe under false
//! suspicion or partitions: each side elects its own.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::election::{
    election_latency, episodes, listing, message_metric, sends_by_type, stable_agreement, Elections, Expect, Timed,
};
use crate::check::{count_messages, stats, CheckReport, Execution, PropertyResult};
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Process, Status, Timer, MS};
use crate::election::ElectionEvent;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A bid: `(timestamp, id)`, compared in that order.
pub type Bid = (u64, NodeId);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TimestampMsg {
    /// "The leader is gone; I stand with this timestamp" (also the sender's clock).
    Election { ts: u64 },
    /// "Someone higher stands": the replier's clock, above the initiator's timestamp.
    Reply { ts: u64 },
    /// "I won with this timestamp."
    Coordinator { ts: u64 },
    /// The leader is alive; `ts` is its clock.
    Heartbeat { ts: u64 },
}

impl TimestampMsg {
    fn ts(&self) -> u64 {
        match self {
            TimestampMsg::Election { ts }
            | TimestampMsg::Reply { ts }
            | TimestampMsg::Coordinator { ts }
            | TimestampMsg::Heartbeat { ts } => *ts,
        }
    }
}

impl Message for TimestampMsg {
    fn kind(&self) -> &'static str {
        match self {
            TimestampMsg::Election { .. } => "election",
            TimestampMsg::Reply { .. } => "reply",
            TimestampMsg::Coordinator { .. } => "coordinator",
            TimestampMsg::Heartbeat { .. } => "heartbeat",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampTimer {
    /// A candidate's wait for a higher bid.
    Reply,
    /// A deferred process's wait for the winner.
    Coordinator,
    Heartbeat,
    LeaderTimeout,
}

impl Timer for TimestampTimer {}

/// The messages an election costs (heartbeats are the failure detector).
const ELECTION_MESSAGES: [&str; 3] = ["election", "reply", "coordinator"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimestampParams {
    pub heartbeat_ms: u64,
    /// A follower suspects the leader after this long without a heartbeat ...
    pub leader_timeout_ms: u64,
    /// ... plus a random extra up to this, so that followers do not all stand at once.
    pub timeout_jitter_ms: u64,
    pub reply_timeout_ms: u64,
    pub coordinator_timeout_ms: u64,
    /// Longest acceptable time from a leader's death to agreement on the next; derived from the
    /// timeouts when not given.
    pub election_bound_ms: Option<u64>,
}

impl Default for TimestampParams {
    fn default() -> Self {
        TimestampParams {
            heartbeat_ms: 50,
            leader_timeout_ms: 250,
            timeout_jitter_ms: 100,
            reply_timeout_ms: 100,
            coordinator_timeout_ms: 200,
            election_bound_ms: None,
        }
    }
}

impl TimestampParams {
    /// Detection (timeout + jitter), a round whose winner may be lost (reply + coordinator
    /// timeouts), a second round, and 100 ms for delivery and scheduling.
    pub fn election_bound(&self) -> Nanos {
        let derived = self.leader_timeout_ms
            + self.timeout_jitter_ms
            + 2 * self.reply_timeout_ms
            + self.coordinator_timeout_ms
            + 100;
        self.election_bound_ms.unwrap_or(derived) * MS
    }
}

impl Params for TimestampParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.leader_timeout_ms {
            return Err(format!(
                "params.heartbeat_ms ({}) must be above 0 and below params.leader_timeout_ms ({})",
                self.heartbeat_ms, self.leader_timeout_ms
            ));
        }
        if self.reply_timeout_ms == 0 || self.coordinator_timeout_ms == 0 {
            return Err("params.reply_timeout_ms and params.coordinator_timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// Per election: best 2(n−1), worst (n−1)(3n+2)/2.
pub fn message_bounds(n: u64) -> (u64, u64) {
    let m = n.saturating_sub(1);
    (2 * m, m * (3 * n + 2) / 2)
}

pub struct TimestampNode {
    me: NodeId,
    params: TimestampParams,
    clock: u64,
    leader: Option<NodeId>,
    /// The timestamp this node stands with, while it is a candidate.
    standing: Option<u64>,
    /// The highest bid this node deferred to in the current election, until it ends.
    deferred: Option<Bid>,
}

impl TimestampNode {
    pub fn new(me: NodeId, params: TimestampParams) -> Self {
        TimestampNode { me, params, clock: 0, leader: None, standing: None, deferred: None }
    }

    /// Ticks the clock for one send event (a broadcast is one) and returns the new time.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn stand(&mut self, ctx: &mut Ctx<TimestampTimer>) {
        if self.standing.is_some() {
            return;
        }
        self.deferred = None;
        self.forget_leader(ctx, "election");
        let ts = self.tick();
        self.standing = Some(ts);
        ctx.emit(&ElectionEvent::started());
        ctx.cancel_timer(TimestampTimer::LeaderTimeout);
        ctx.cancel_timer(TimestampTimer::Coordinator);
        if ctx.peers().is_empty() {
            return self.win(ctx);
        }
        ctx.broadcast(&TimestampMsg::Election { ts });
        ctx.set_timer(TimestampTimer::Reply, self.params.reply_timeout_ms * MS);
    }

    /// Someone higher (`bid`) stands: wait for the winner.
    fn defer(&mut self, ctx: &mut Ctx<TimestampTimer>, bid: Bid) {
        self.standing = None;
        self.deferred = Some(bid);
        ctx.cancel_timer(TimestampTimer::Reply);
        ctx.set_timer(TimestampTimer::Coordinator, self.params.coordinator_timeout_ms * MS);
    }

    fn win(&mut self, ctx: &mut Ctx<TimestampTimer>) {
        self.standing = None;
        self.deferred = None;
        ctx.cancel_timer(TimestampTimer::Reply);
        ctx.emit(&ElectionEvent::elected(self.me));
        self.set_leader(ctx, self.me);
        let ts = self.tick();
        ctx.broadcast(&TimestampMsg::Coordinator { ts });
        ctx.set_timer(TimestampTimer::Heartbeat, self.params.heartbeat_ms * MS);
    }

    fn follow(&mut self, ctx: &mut Ctx<TimestampTimer>, leader: NodeId) {
        self.standing = None;
        self.deferred = None;
        ctx.cancel_timer(TimestampTimer::Reply);
        ctx.cancel_timer(TimestampTimer::Coordinator);
        ctx.cancel_timer(TimestampTimer::Heartbeat);
        self.set_leader(ctx, leader);
        self.expect_heartbeat(ctx);
    }

    fn set_leader(&mut self, ctx: &mut Ctx<TimestampTimer>, leader: NodeId) {
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::leader(leader));
        }
    }

    fn forget_leader(&mut self, ctx: &mut Ctx<TimestampTimer>, reason: &str) {
        if let Some(old) = self.leader.take() {
            ctx.emit(&ElectionEvent::leader_lost(old, reason));
        }
    }

    fn expect_heartbeat(&mut self, ctx: &mut Ctx<TimestampTimer>) {
        let jitter = ctx.rng().random_range(0..=self.params.timeout_jitter_ms);
        ctx.set_timer(TimestampTimer::LeaderTimeout, (self.params.leader_timeout_ms + jitter) * MS);
    }

    fn on_election(&mut self, ctx: &mut Ctx<TimestampTimer>, from: NodeId, theirs: Bid, clock_before: u64) {
        self.forget_leader(ctx, "election");
        ctx.cancel_timer(TimestampTimer::LeaderTimeout);
        ctx.cancel_timer(TimestampTimer::Heartbeat);
        let mine = match (self.standing, self.deferred) {
            (Some(bid), _) => (bid, self.me),
            // Deferred: quiet, but the higher bid is the one to wait for.
            (None, Some(deferred)) => {
                if theirs > deferred {
                    self.defer(ctx, theirs);
                }
                return;
            }
            (None, None) => (clock_before, self.me),
        };
        if mine > theirs {
            let ts = self.tick();
            ctx.send(from, &TimestampMsg::Reply { ts });
            self.stand(ctx);
        } else {
            self.defer(ctx, theirs);
        }
    }
}

impl Process for TimestampNode {
    type Msg = TimestampMsg;
    type Timer = TimestampTimer;
    type Durable = NoState;

    /// A (re)started process listens for a leader's heartbeat first, and stands when none comes.
    fn on_start(&mut self, ctx: &mut Ctx<TimestampTimer>, _: Option<NoState>) {
        self.expect_heartbeat(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<TimestampTimer>, from: NodeId, msg: TimestampMsg) {
        let clock_before = self.clock;
        self.clock = self.clock.max(msg.ts()) + 1;
        match msg {
            TimestampMsg::Election { ts } => self.on_election(ctx, from, (ts, from), clock_before),
            TimestampMsg::Reply { ts } => {
                if self.standing.is_some_and(|mine| (ts, from) > (mine, self.me)) {
                    self.defer(ctx, (ts, from));
                }
            }
            TimestampMsg::Coordinator { ts } => match self.standing {
                // A higher candidate's own COORDINATOR will overrule this one.
                Some(mine) if (mine, self.me) > (ts, from) => {}
                _ => self.follow(ctx, from),
            },
            TimestampMsg::Heartbeat { .. } => match self.leader {
                Some(l) if l == from => self.expect_heartbeat(ctx),
                // Two leaders (after a heal, or a lost COORDINATOR): let the bids settle it.
                Some(l) if l == self.me => self.stand(ctx),
                Some(_) => {}
                None if self.standing.is_none() => self.follow(ctx, from),
                None => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<TimestampTimer>, timer: TimestampTimer) {
        match timer {
            TimestampTimer::Reply => self.win(ctx),
            TimestampTimer::Coordinator => self.stand(ctx),
            TimestampTimer::Heartbeat if self.leader == Some(self.me) => {
                let ts = self.tick();
                ctx.broadcast(&TimestampMsg::Heartbeat { ts });
                ctx.set_timer(TimestampTimer::Heartbeat, self.params.heartbeat_ms * MS);
            }
            TimestampTimer::Heartbeat => {}
            TimestampTimer::LeaderTimeout => {
                self.forget_leader(ctx, "no heartbeat");
                self.stand(ctx);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<TimestampTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") => {
                self.standing = None;
                self.forget_leader(ctx, "elect command");
                self.stand(ctx);
                Ok(format!("standing with timestamp {}", self.clock))
            }
            Some("clock") => Ok(self.clock.to_string()),
            _ => Err(format!("unknown command {args:?}; timestamp knows: elect, clock")),
        }
    }

    fn status(&self) -> Status {
        let role = match (self.leader, self.standing) {
            (_, Some(_)) => "electing",
            (Some(leader), None) if leader == self.me => "leader",
            (Some(_), None) => "follower",
            (None, None) => "idle",
        };
        Status { role: role.into(), leader: self.leader, term: None }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct TimestampElection;

impl Spec for TimestampElection {
    const NAME: &'static str = "timestamp";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "timestamp election (the course's \"Lamport's algorithm\"): Lamport clocks order the candidates, the highest (timestamp, id) wins; best 2(n−1), worst (n−1)(3n+2)/2 messages";
    type Params = TimestampParams;

    fn build(me: NodeId, _peers: &[NodeId], params: &TimestampParams) -> Result<impl Process, String> {
        Ok(TimestampNode::new(me, params.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo {
                name: "stable_agreement",
                promise: "in every stable period all live nodes agree on one live leader",
            },
            PropertyInfo {
                name: "election_within_bound",
                promise: "after the leader dies (or at start) agreement on a new leader comes within the bound",
            },
            PropertyInfo {
                name: "election_message_cost",
                promise: "messages per election between 2(n−1) and (n−1)(3n+2)/2 for n nodes",
            },
        ]
    }

    fn check(run: &Execution, params: &TimestampParams) -> CheckReport {
        check_timestamp(run, params)
    }
}

fn check_timestamp(run: &Execution, params: &TimestampParams) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len() as u64;
    let (best, worst) = message_bounds(n);
    let el = Elections::new(run, run.nodes.clone());
    let anyone = |_: Nanos| true;
    let agreement = stable_agreement(&el, bound, Expect::Any, &anyone);
    let eps = episodes(&el, false);
    let (latency, timed) = election_latency(&el, &eps, bound, Expect::Any, &anyone);

    // As for bully: only an election after the leader's death runs among processes that are all
    // up and connected, so only those are held to the formula (the others are counted).
    const COST: &str = "election_message_cost";
    let (mut samples, mut compared, mut violation) = (Vec::new(), 0, None);
    for t in &timed {
        let counts = sends_by_type(&run.records, &ELECTION_MESSAGES, t.episode.t0, t.done);
        let sent: u64 = counts.values().sum();
        if matches!(t.episode.why, "leader killed" | "leader exited") {
            compared += 1;
            // A lone survivor agrees with itself before its COORDINATOR goes out: n−1 at best.
            let fewest = if el.live(t.done).len() > 1 { best } else { n - 1 };
            if (sent < fewest || sent > worst) && violation.is_none() {
                let detail = format!(
                    "election after {} at {:.0} ms cost {sent} messages, outside the textbook's {fewest} to (n−1)(3n+2)/2 = {worst}",
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
            "messages per election {} ({compared} held to the textbook); textbook: best 2(n−1) = {best}, worst (n−1)(3n+2)/2 = {worst}",
            listing(&totals)
        );
        let nothing = format!(
            "election after a leader's death to compare with 2(n−1) = {best} .. (n−1)(3n+2)/2 = {worst} ({} other election(s) measured)",
            samples.len()
        );
        PropertyResult::held(COST, compared, &nothing, detail)
    });

    let mut report = CheckReport { properties: vec![agreement, latency, cost], ..Default::default() };
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), stats(&latencies));
    let textbook = json!(format!("best 2(n−1) = {best}, worst (n−1)(3n+2)/2 = {worst}"));
    report.metrics.insert("messages_per_election".into(), message_metric(&samples, textbook));
    report.metrics.insert("heartbeats".into(), json!(count_messages(&run.records).by_type.get("heartbeat")));
    report
}

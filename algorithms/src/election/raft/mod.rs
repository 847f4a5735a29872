//! Raft's leader election (Ongaro & Ousterhout, §5.2), with the optional PreVote phase of the
//! thesis (§9.6). Only the election: there is no log, so RequestVote carries no log position and
//! every voter's log counts as equally up to date.
//!
//! Rules, as the course states them:
//! - Time is divided into *terms*; every server stores its current term, which only grows, and
//!   every message carries the sender's term. A server that sees a higher term takes it and
//!   becomes a follower; a request from a lower term is rejected, and the reply tells the sender
//!   the newer term.
//! - A follower that hears nothing from a leader for its *election timeout*, drawn at random in
//!   `[T, 2T]` each time it is reset, becomes a candidate: it increments its term, votes for
//!   itself and sends RequestVote to every other server.
//! - Each server grants at most one vote per term, first come first served, and writes the vote
//!   to stable storage *before* replying, so a restart cannot make it vote twice.
//! - A candidate with votes from a majority becomes leader and sends heartbeats (empty
//!   AppendEntries) every `heartbeat`; a candidate that hears AppendEntries from a leader of its
//!   term or newer returns to follower; a candidate whose timeout passes without a winner (a split
//!   vote) starts a new election in the next term.
//! - PreVote (optional): before incrementing its term a would-be candidate asks whether it
//!   *could* win. A server grants a pre-vote only if the proposed term is above its own and it has
//!   not heard from a live leader within the minimum election timeout. A node returning from
//!   isolation therefore cannot win pre-votes while the others follow a leader, never increments
//!   its term, and cannot depose that leader when it rejoins.
//!
//! Promise: at most one leader per term; terms never decrease on a server; at most one vote per
//! server per term; whenever a majority is alive and connected, it agrees on a leader within a
//! bound. Cost: 2(N−1) messages per candidate per term (N−1 RequestVotes, N−1 replies), and as
//! many again per pre-candidate with PreVote.

use crate::algorithm::{parse_params, Algorithm, Family, PropertyInfo};
use crate::check::election::{
    components, election_latency, episodes, event_data, field, listing, message_metric, sends_by_type,
    stable_agreement, Elections, Expect, SentIndex, Timed,
};
use crate::check::{CheckReport, EventRef, PropertyResult, Run, Verdict};
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaftMsg {
    /// "Vote for me in `term`."
    RequestVote {
        term: u64,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    /// "Would you vote for me in `term`?" (the sender's term + 1; nobody changes term for it).
    PreVote {
        term: u64,
    },
    /// `term` is the proposed term when granted, the voter's own term when refused.
    PreVoteReply {
        term: u64,
        granted: bool,
    },
    /// Empty AppendEntries: the leader's heartbeat.
    AppendEntries {
        term: u64,
    },
    AppendEntriesReply {
        term: u64,
        success: bool,
    },
}

impl Message for RaftMsg {
    fn kind(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "request_vote",
            RaftMsg::Vote { .. } => "vote",
            RaftMsg::PreVote { .. } => "pre_vote",
            RaftMsg::PreVoteReply { .. } => "pre_vote_reply",
            RaftMsg::AppendEntries { .. } => "append_entries",
            RaftMsg::AppendEntriesReply { .. } => "append_entries_reply",
        }
    }
}

/// The messages an election costs; heartbeats and their replies keep a leader, they do not elect.
const VOTE_MESSAGES: [&str; 2] = ["request_vote", "vote"];
const PRE_VOTE_MESSAGES: [&str; 2] = ["pre_vote", "pre_vote_reply"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftParams {
    /// T: the election timeout is drawn uniformly from `[min, max]`, the paper's `[T, 2T]`.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// The leader's heartbeat interval; well below the timeout (broadcastTime ≪ electionTimeout).
    pub heartbeat_ms: u64,
    /// Ask for pre-votes before standing in a new term.
    pub pre_vote: bool,
    /// Longest acceptable time for a connected majority to agree on a leader; derived from the
    /// timeouts when not given.
    pub election_bound_ms: Option<u64>,
}

impl Default for RaftParams {
    fn default() -> Self {
        RaftParams {
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_ms: 50,
            pre_vote: false,
            election_bound_ms: None,
        }
    }
}

impl RaftParams {
    /// Detection (one longest timeout), then up to two more rounds after split votes, plus 100 ms
    /// for delivery and scheduling: with timeouts 150–300 ms, 1 s. A split vote needs two timeouts
    /// within a message delay of each other, so two in a row are rare (the slowest election over
    /// 300 simulated seeds with crashes and partitions took 442 ms).
    pub fn election_bound(&self) -> Nanos {
        self.election_bound_ms.unwrap_or(3 * self.election_timeout_max_ms + 100) * MS
    }

    fn validate(&self) -> Result<(), String> {
        if self.election_timeout_min_ms == 0 || self.election_timeout_max_ms < self.election_timeout_min_ms {
            return Err(format!(
                "params.election_timeout_min_ms ({}) must be above 0 and at most params.election_timeout_max_ms ({})",
                self.election_timeout_min_ms, self.election_timeout_max_ms
            ));
        }
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.election_timeout_min_ms {
            return Err(format!(
                "params.heartbeat_ms ({}) must be above 0 and below params.election_timeout_min_ms ({})",
                self.heartbeat_ms, self.election_timeout_min_ms
            ));
        }
        Ok(())
    }
}

/// What survives a crash: the current term and the vote given in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub current_term: u64,
    pub voted_for: Option<NodeId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

pub struct RaftNode {
    me: NodeId,
    params: RaftParams,
    durable: Durable,
    role: Role,
    leader: Option<NodeId>,
    /// Votes (or pre-votes) granted to this node's current candidacy, its own included.
    votes: BTreeSet<NodeId>,
    /// When this node last heard from a leader of its term, on its own clock (for PreVote).
    heard_leader_at: Option<Nanos>,
}

impl RaftNode {
    pub fn new(me: NodeId, params: RaftParams) -> Self {
        RaftNode {
            me,
            params,
            durable: Durable::default(),
            role: Role::Follower,
            leader: None,
            votes: BTreeSet::new(),
            heard_leader_at: None,
        }
    }

    fn term(&self) -> u64 {
        self.durable.current_term
    }

    fn majority(ctx: &Ctx) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    /// A fresh random timeout in `[T, 2T]`: rarely do two followers time out together.
    fn reset_election_timer(&mut self, ctx: &mut Ctx) {
        let (min, max) = (self.params.election_timeout_min_ms, self.params.election_timeout_max_ms);
        let timeout = ctx.rng().random_range(min * MS..=max * MS);
        ctx.set_timer("election", timeout);
    }

    /// Term and vote go to stable storage before any later effect (a reply) is carried out.
    fn persist(&self, ctx: &mut Ctx) {
        ctx.persist(&self.durable);
    }

    fn lose_leader(&mut self, ctx: &mut Ctx, reason: &str) {
        if let Some(old) = self.leader.take() {
            ctx.event("leader_lost", json!({ "leader": old, "term": self.term(), "reason": reason }));
        }
    }

    /// "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert
    /// to follower." Returns whether the term changed.
    fn observe_term(&mut self, ctx: &mut Ctx, term: u64, from: NodeId) -> bool {
        if term <= self.term() {
            return false;
        }
        let was_leader = self.role == Role::Leader;
        self.lose_leader(ctx, "higher term");
        self.durable = Durable { current_term: term, voted_for: None };
        self.persist(ctx);
        ctx.event("term", json!({ "term": term, "reason": format!("higher term from node {from}") }));
        self.role = Role::Follower;
        if was_leader {
            ctx.cancel_timer("heartbeat");
            self.reset_election_timer(ctx);
        }
        true
    }

    /// PreVote: ask first, without touching the term.
    fn start_pre_vote(&mut self, ctx: &mut Ctx) {
        self.role = Role::PreCandidate;
        self.votes = BTreeSet::from([self.me]);
        let term = self.term() + 1;
        ctx.event("election_started", json!({ "term": term, "pre_vote": true }));
        ctx.broadcast(&RaftMsg::PreVote { term });
        self.reset_election_timer(ctx);
        if self.votes.len() >= Self::majority(ctx) {
            self.start_election(ctx);
        }
    }

    /// "Increment current term, change to candidate state, vote for self, send RequestVote."
    fn start_election(&mut self, ctx: &mut Ctx) {
        self.role = Role::Candidate;
        self.durable = Durable { current_term: self.term() + 1, voted_for: Some(self.me) };
        self.persist(ctx);
        let term = self.term();
        ctx.event("term", json!({ "term": term, "reason": "candidate" }));
        ctx.event("voted", json!({ "term": term, "for": self.me }));
        ctx.event("election_started", json!({ "term": term, "pre_vote": false }));
        self.votes = BTreeSet::from([self.me]);
        ctx.broadcast(&RaftMsg::RequestVote { term });
        self.reset_election_timer(ctx);
        if self.votes.len() >= Self::majority(ctx) {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx) {
        self.role = Role::Leader;
        self.leader = Some(self.me);
        let term = self.term();
        ctx.cancel_timer("election");
        ctx.event("elected", json!({ "leader": self.me, "term": term, "votes": self.votes }));
        ctx.event("leader", json!({ "leader": self.me, "term": term }));
        ctx.broadcast(&RaftMsg::AppendEntries { term });
        ctx.set_timer("heartbeat", self.params.heartbeat_ms * MS);
    }

    /// A leader of the current term spoke: follow it and restart the timeout.
    fn follow(&mut self, ctx: &mut Ctx, leader: NodeId) {
        self.role = Role::Follower;
        self.heard_leader_at = Some(ctx.now());
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.event("leader", json!({ "leader": leader, "term": self.term() }));
        }
        self.reset_election_timer(ctx);
    }

    /// PreVote's guard: a server that follows a live leader does not help anyone replace it.
    fn leader_is_fresh(&self, now: Nanos) -> bool {
        self.role == Role::Leader
            || (self.leader.is_some()
                && self.heard_leader_at.is_some_and(|at| now < at + self.params.election_timeout_min_ms * MS))
    }
}

impl Process for RaftNode {
    type Msg = RaftMsg;

    fn on_start(&mut self, ctx: &mut Ctx) {
        self.durable = ctx.recovered_as().unwrap_or_default();
        ctx.event("term", json!({ "term": self.term(), "reason": "start", "voted_for": self.durable.voted_for }));
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx, from: NodeId, msg: RaftMsg) {
        match msg {
            RaftMsg::RequestVote { term } => {
                self.observe_term(ctx, term, from);
                let grant = term == self.term() && self.durable.voted_for.is_none_or(|v| v == from);
                if grant {
                    self.durable.voted_for = Some(from);
                    self.persist(ctx);
                    ctx.event("voted", json!({ "term": term, "for": from }));
                    self.reset_election_timer(ctx);
                }
                ctx.send(from, &RaftMsg::Vote { term: self.term(), granted: grant });
            }
            RaftMsg::Vote { term, granted } => {
                if !self.observe_term(ctx, term, from) && self.role == Role::Candidate && term == self.term() && granted
                {
                    self.votes.insert(from);
                    if self.votes.len() >= Self::majority(ctx) {
                        self.become_leader(ctx);
                    }
                }
            }
            RaftMsg::PreVote { term } => {
                let grant = term > self.term() && !self.leader_is_fresh(ctx.now());
                let reply_term = if grant { term } else { self.term() };
                ctx.send(from, &RaftMsg::PreVoteReply { term: reply_term, granted: grant });
            }
            RaftMsg::PreVoteReply { term, granted } => {
                if !granted {
                    self.observe_term(ctx, term, from);
                } else if self.role == Role::PreCandidate && term == self.term() + 1 {
                    self.votes.insert(from);
                    if self.votes.len() >= Self::majority(ctx) {
                        self.start_election(ctx);
                    }
                }
            }
            RaftMsg::AppendEntries { term } => {
                if term < self.term() {
                    // A stale leader: the reply tells it about the newer term.
                    ctx.send(from, &RaftMsg::AppendEntriesReply { term: self.term(), success: false });
                    return;
                }
                self.observe_term(ctx, term, from);
                if self.role == Role::Leader {
                    // Two leaders in one term would break the election's safety; never happens.
                    ctx.event("conflict", json!({ "term": term, "other_leader": from }));
                    return;
                }
                self.follow(ctx, from);
                ctx.send(from, &RaftMsg::AppendEntriesReply { term: self.term(), success: true });
            }
            RaftMsg::AppendEntriesReply { term, .. } => {
                self.observe_term(ctx, term, from);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx, name: &str) {
        match name {
            "election" if self.role != Role::Leader => {
                self.lose_leader(ctx, "election timeout");
                if self.params.pre_vote {
                    self.start_pre_vote(ctx);
                } else {
                    self.start_election(ctx);
                }
            }
            "heartbeat" if self.role == Role::Leader => {
                ctx.broadcast(&RaftMsg::AppendEntries { term: self.term() });
                ctx.set_timer("heartbeat", self.params.heartbeat_ms * MS);
            }
            _ => {}
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") if self.role != Role::Leader => {
                self.lose_leader(ctx, "election requested");
                self.start_election(ctx);
                Ok(format!("standing in term {}", self.term()))
            }
            Some("elect") => Ok(format!("already leader of term {}", self.term())),
            _ => Err(format!("unknown command {args:?}; raft-election knows: elect")),
        }
    }

    fn status(&self) -> Status {
        let role = match self.role {
            Role::Follower => "follower",
            Role::PreCandidate => "pre_candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        Status { role: role.into(), leader: self.leader, term: Some(self.term()) }
    }
}

/// The registry entry.
pub struct RaftElection;

impl Algorithm for RaftElection {
    fn name(&self) -> &'static str {
        "raft-election"
    }

    fn family(&self) -> Family {
        Family::Election
    }

    fn summary(&self) -> &'static str {
        "Raft leader election: terms, randomized timeouts, one persisted vote per term, optional PreVote"
    }

    fn build(&self, me: NodeId, _peers: &[NodeId], params: &Value) -> Result<Box<dyn crate::DynProcess>, String> {
        let params: RaftParams = parse_params(params)?;
        params.validate()?;
        Ok(Box::new(RaftNode::new(me, params)))
    }

    fn properties(&self) -> Vec<PropertyInfo> {
        vec![
            PropertyInfo { name: "one_leader_per_term", promise: "at most one node is elected in any term" },
            PropertyInfo {
                name: "terms_never_decrease",
                promise: "no node's term ever goes down, across restarts too",
            },
            PropertyInfo {
                name: "one_vote_per_term",
                promise: "no node votes for two candidates in one term, across restarts too",
            },
            PropertyInfo {
                name: "leader_within_bound",
                promise:
                    "whenever a majority is alive and connected, it agrees on a leader among itself within the bound",
            },
            PropertyInfo {
                name: "stable_agreement",
                promise: "in every stable period without partitions all live nodes follow one leader",
            },
            PropertyInfo {
                name: "election_message_cost",
                promise: "an election costs at most 2(N−1) messages per candidate per term (and per pre-candidate)",
            },
            PropertyInfo {
                name: "rejoin_without_disruption",
                promise: "with pre_vote: a node rejoining after a partition does not depose the majority's leader",
            },
        ]
    }

    fn check(&self, run: &Run) -> CheckReport {
        check_raft(run)
    }
}

/// A term-bearing event of one node: its term, and the record.
fn term_events(run: &Run) -> impl Iterator<Item = (NodeId, u64, EventRef, &'static str)> + '_ {
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

pub fn check_raft(run: &Run) -> CheckReport {
    let params: RaftParams = parse_params(&run.params).unwrap_or_default();
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
fn election_cost(run: &Run, timed: &[Timed], n: usize, pre_vote: bool) -> (PropertyResult, Vec<BTreeMap<String, u64>>) {
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
fn leader_term(run: &Run, leader: NodeId, t: Nanos) -> Option<u64> {
    run.records
        .iter()
        .rev()
        .filter(|r| r.node == leader && r.t <= t)
        .find_map(|r| event_data(r, "elected").and_then(|d| field(d, "term")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_params_name_their_key() {
        let err = RaftElection.build(1, &[2, 3], &json!({"heartbeat_ms": 500})).err().unwrap();
        assert!(err.contains("params.heartbeat_ms"), "{err}");
        let err = RaftElection.build(1, &[2, 3], &json!({"election_timeout_max_ms": 10})).err().unwrap();
        assert!(err.contains("params.election_timeout_min_ms"), "{err}");
        let err = RaftElection.build(1, &[2, 3], &json!({"prevote": true})).err().unwrap();
        assert!(err.contains("prevote"), "{err}");
    }
}

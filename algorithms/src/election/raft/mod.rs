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
//! server per term; a leader or candidate that hears of a higher term steps down before it sends
//! again, and a vote counts only in the term it was granted for; whenever a majority is alive and
//! connected, it agrees on a leader within a bound. Cost: 2(N−1) messages per candidate per term (N−1 RequestVotes, N−1 replies), and as
//! many again per pre-candidate with PreVote.

mod check;
mod safety;
use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::election::event::{Elected, ElectionEvent, LeaderLost, LeaderView, Started};
pub use check::check_raft;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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

/// A follower's (or candidate's) election timeout, and the leader's heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaftTimer {
    Election,
    Heartbeat,
}

impl Timer for RaftTimer {}

/// Raft's own events: a node's term changed (`term`; at start with the vote it recovered), it
/// voted (`voted`, `for` the candidate), or a leader heard another leader of its term
/// (`conflict`, which never happens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RaftEvent {
    Term {
        term: u64,
        reason: String,
        /// Only at start: the vote recovered with the term (`null` for none).
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::core::event::present")]
        voted_for: Option<Option<NodeId>>,
    },
    Voted {
        term: u64,
        #[serde(rename = "for")]
        candidate: NodeId,
    },
    Conflict {
        term: u64,
        other_leader: NodeId,
    },
}

impl Event for RaftEvent {}

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
}

impl Params for RaftParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
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

    fn majority(ctx: &Ctx<RaftTimer>) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    /// A fresh random timeout in `[T, 2T]`: rarely do two followers time out together.
    fn reset_election_timer(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let (min, max) = (self.params.election_timeout_min_ms, self.params.election_timeout_max_ms);
        let timeout = ctx.rng().random_range(min * MS..=max * MS);
        ctx.set_timer(RaftTimer::Election, timeout);
    }

    /// Term and vote go to stable storage before any later effect (a reply) is carried out.
    fn persist(&self, ctx: &mut Ctx<RaftTimer>) {
        ctx.persist(&self.durable);
    }

    fn lose_leader(&mut self, ctx: &mut Ctx<RaftTimer>, reason: &str) {
        if let Some(old) = self.leader.take() {
            ctx.emit(&ElectionEvent::LeaderLost(LeaderLost {
                leader: old,
                reason: reason.into(),
                term: Some(self.term()),
            }));
        }
    }

    /// "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert
    /// to follower." Returns whether the term changed.
    fn observe_term(&mut self, ctx: &mut Ctx<RaftTimer>, term: u64, from: NodeId) -> bool {
        if term <= self.term() {
            return false;
        }
        let was_leader = self.role == Role::Leader;
        self.lose_leader(ctx, "higher term");
        self.durable = Durable { current_term: term, voted_for: None };
        self.persist(ctx);
        ctx.emit(&RaftEvent::Term { term, reason: format!("higher term from node {from}"), voted_for: None });
        self.role = Role::Follower;
        if was_leader {
            ctx.cancel_timer(RaftTimer::Heartbeat);
            self.reset_election_timer(ctx);
        }
        true
    }

    /// PreVote: ask first, without touching the term.
    fn start_pre_vote(&mut self, ctx: &mut Ctx<RaftTimer>) {
        self.role = Role::PreCandidate;
        self.votes = BTreeSet::from([self.me]);
        let term = self.term() + 1;
        ctx.emit(&ElectionEvent::ElectionStarted(Started {
            term: Some(term),
            pre_vote: Some(true),
            ..Started::default()
        }));
        ctx.broadcast(&RaftMsg::PreVote { term });
        self.reset_election_timer(ctx);
        if self.votes.len() >= Self::majority(ctx) {
            self.start_election(ctx);
        }
    }

    /// "Increment current term, change to candidate state, vote for self, send RequestVote."
    fn start_election(&mut self, ctx: &mut Ctx<RaftTimer>) {
        self.role = Role::Candidate;
        self.durable = Durable { current_term: self.term() + 1, voted_for: Some(self.me) };
        self.persist(ctx);
        let term = self.term();
        ctx.emit(&RaftEvent::Term { term, reason: "candidate".into(), voted_for: None });
        ctx.emit(&RaftEvent::Voted { term, candidate: self.me });
        ctx.emit(&ElectionEvent::ElectionStarted(Started {
            term: Some(term),
            pre_vote: Some(false),
            ..Started::default()
        }));
        self.votes = BTreeSet::from([self.me]);
        ctx.broadcast(&RaftMsg::RequestVote { term });
        self.reset_election_timer(ctx);
        if self.votes.len() >= Self::majority(ctx) {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx<RaftTimer>) {
        self.role = Role::Leader;
        self.leader = Some(self.me);
        let term = self.term();
        ctx.cancel_timer(RaftTimer::Election);
        let votes = Some(self.votes.iter().copied().collect());
        ctx.emit(&ElectionEvent::Elected(Elected { leader: self.me, term: Some(term), votes, ..Elected::default() }));
        ctx.emit(&ElectionEvent::Leader(LeaderView { leader: self.me, term: Some(term), round: None }));
        ctx.broadcast(&RaftMsg::AppendEntries { term });
        ctx.set_timer(RaftTimer::Heartbeat, self.params.heartbeat_ms * MS);
    }

    /// A leader of the current term spoke: follow it and restart the timeout.
    fn follow(&mut self, ctx: &mut Ctx<RaftTimer>, leader: NodeId) {
        self.role = Role::Follower;
        self.heard_leader_at = Some(ctx.now());
        if self.leader != Some(leader) {
            self.leader = Some(leader);
            ctx.emit(&ElectionEvent::Leader(LeaderView { leader, term: Some(self.term()), round: None }));
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
    type Timer = RaftTimer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Ctx<RaftTimer>, recovered: Option<Durable>) {
        self.durable = recovered.unwrap_or_default(); // none: the first boot, term 0 and no vote
        ctx.emit(&RaftEvent::Term {
            term: self.term(),
            reason: "start".into(),
            voted_for: Some(self.durable.voted_for),
        });
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, msg: RaftMsg) {
        match msg {
            RaftMsg::RequestVote { term } => {
                self.observe_term(ctx, term, from);
                let grant = term == self.term() && self.durable.voted_for.is_none_or(|v| v == from);
                if grant {
                    self.durable.voted_for = Some(from);
                    self.persist(ctx);
                    ctx.emit(&RaftEvent::Voted { term, candidate: from });
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
                    ctx.emit(&RaftEvent::Conflict { term, other_leader: from });
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

    fn on_timer(&mut self, ctx: &mut Ctx<RaftTimer>, timer: RaftTimer) {
        match timer {
            RaftTimer::Election if self.role != Role::Leader => {
                self.lose_leader(ctx, "election timeout");
                if self.params.pre_vote {
                    self.start_pre_vote(ctx);
                } else {
                    self.start_election(ctx);
                }
            }
            RaftTimer::Heartbeat if self.role == Role::Leader => {
                ctx.broadcast(&RaftMsg::AppendEntries { term: self.term() });
                ctx.set_timer(RaftTimer::Heartbeat, self.params.heartbeat_ms * MS);
            }
            RaftTimer::Election | RaftTimer::Heartbeat => {} // a leader's election timer, a follower's heartbeat
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<RaftTimer>, args: &[String]) -> Result<String, String> {
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

/// The catalogue entry: what the algorithm declares.
pub struct RaftElection;

impl Spec for RaftElection {
    const NAME: &'static str = "raft-election";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "Raft leader election: terms, randomized timeouts, one persisted vote per term, optional PreVote";
    type Params = RaftParams;

    fn build(me: NodeId, _peers: &[NodeId], p: &RaftParams) -> Result<impl Process, String> {
        Ok(RaftNode::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
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
                name: safety::STALE_LEADER_STEPS_DOWN,
                promise: "a leader or candidate that hears of a higher term sends nothing more in its old term; append_entries only in a term the sender won, request_vote only in one it stood in",
            },
            PropertyInfo {
                name: safety::VOTES_COUNTED_IN_THEIR_TERM,
                promise: "a leader of term T was elected by a majority of votes granted to it for term T and received during its candidacy",
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

    fn check(run: &Execution, p: &RaftParams) -> CheckReport {
        check_raft(run, p)
    }
}

/// A term-bearing event of one node: its term, and the record.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::process::{node_rng, DynProcess, Hosted, World};
    use crate::{Algorithm, Effect};
    use serde_json::json;

    /// Voter 2 of three, as a host holds it.
    fn voter() -> Hosted<RaftNode> {
        Hosted::new(RaftNode::new(2, RaftParams::default()))
    }

    fn deliver(p: &mut Hosted<RaftNode>, from: NodeId, msg: &RaftMsg) -> Vec<Effect> {
        let mut rng = node_rng(1, 2, 1);
        let world = World { me: 2, peers: &[1, 3], now: 0, rng: &mut rng };
        p.on_body(world, from, &rmp_serde::to_vec_named(msg).unwrap()).unwrap()
    }

    fn start(p: &mut Hosted<RaftNode>) -> Vec<Effect> {
        let mut rng = node_rng(1, 2, 1);
        p.on_start(World { me: 2, peers: &[1, 3], now: 0, rng: &mut rng })
    }

    fn persisted(effects: &[Effect]) -> Option<Vec<u8>> {
        effects.iter().rev().find_map(|e| match e {
            Effect::Persist(bytes) => Some(bytes.clone()),
            _ => None,
        })
    }

    fn votes(effects: &[Effect]) -> Vec<RaftMsg> {
        let sent = effects.iter().filter_map(|e| match e {
            Effect::Send(out) if out.kind == "vote" => rmp_serde::from_slice(&out.body).ok(),
            _ => None,
        });
        sent.collect()
    }

    #[test]
    fn a_restarted_voter_keeps_its_vote() {
        let mut p = voter();
        start(&mut p);
        let effects = deliver(&mut p, 1, &RaftMsg::RequestVote { term: 1 });
        assert_eq!(votes(&effects), [RaftMsg::Vote { term: 1, granted: true }]);
        let state = persisted(&effects).expect("the vote is persisted before the reply");

        // A crash, a restart from the persisted state: the vote of term 1 is still given.
        let mut p = voter();
        p.recover(&state).unwrap();
        let effects = start(&mut p);
        let term = RaftEvent::Term { term: 1, reason: "start".into(), voted_for: Some(Some(1)) };
        assert!(effects.contains(&Effect::Event { name: "term".into(), data: term.to_parts().1 }), "{effects:?}");
        let effects = deliver(&mut p, 3, &RaftMsg::RequestVote { term: 1 });
        assert_eq!(votes(&effects), [RaftMsg::Vote { term: 1, granted: false }], "one vote per term");
    }

    #[test]
    fn a_corrupt_vote_file_is_an_error_not_a_forgotten_vote() {
        let mut p = voter();
        let err = p.recover(b"\x92\xa3not a term").unwrap_err().to_string();
        assert!(err.contains("raft::Durable"), "the error names what did not decode: {err}");
        let truncated = rmp_serde::to_vec_named(&Durable { current_term: 7, voted_for: Some(3) }).unwrap();
        assert!(voter().recover(&truncated[..truncated.len() - 2]).is_err(), "a torn write is no state either");
    }

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

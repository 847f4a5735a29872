//! Randomized election: every candidate draws a random number, the highest draw wins, and a tie
//! for the highest means everybody draws again.
//!
//! Rules, as the course states them (with the round numbers and heartbeats a real run needs):
//! - A process that hears no heartbeat from a leader for `leader_timeout` (plus a random jitter)
//!   calls an election: it announces round `r + 1` (one above every round it has seen) to all.
//! - On joining a round (calling it, or hearing of a newer one by an ELECTION or a DRAW), a
//!   process draws a number in `1..=draw_max` from its seeded random source and sends DRAW(round,
//!   number) to all, then collects the others' draws for `collect_ms`.
//! - Then it decides: the highest draw wins. If two or more share the highest, it is a tie: every
//!   process that saw it joins round `r + 1` and draws again.
//! - The winner leads and sends heartbeats carrying its claim (round, draw). Claims order by
//!   round, then draw, then id: a process that hears a higher claim than its leader's follows it
//!   instead (two winners can only come from draws that did not reach everybody, e.g. across a
//!   partition), and a leader that hears a higher claim steps down.
//! - A process that (re)starts waits for a heartbeat before calling an election, and keeps its
//!   round across restarts; a leader answers a call for an old round with its heartbeat.
//!
//! By attribute (`params.attributes`, see [`Attributes`]): the attribute comes first and the
//! random draw only breaks ties among the best attributes, so the best live attribute leads and
//! among equals the randomness still picks one without favouring an id. Draws and claims then
//! compare (attribute, draw); a tie at the top is a tie of both. Every process knows the table,
//! so the messages carry only the draws. Without attributes every attribute is 0: the draw alone.
//!
//! Promise: in stable periods all live processes follow one leader; each winner held the highest
//! draw of its round among those it received (ties were drawn again); an election finishes within
//! a bound. Cost: (n−1) ELECTION + n(n−1) DRAW = n²−1 messages per round with one caller, and
//! n(n−1) more per redraw; with draws in 1..=m among n the chance of a tie at the top is small
//! when m ≫ n.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::election::{
    election_latency, episodes, listing, message_metric, sends_by_type, shown, stable_agreement, Attributes, Elections,
    Expect, SentIndex, Timed,
};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NodeId, Process, Status, Timer, MS};
use crate::election::event::{Elected, ElectionEvent, LeaderView, Started};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RandMsg {
    /// "Let us elect a leader in `round`."
    Election {
        round: u64,
    },
    Draw {
        round: u64,
        value: u32,
    },
    /// The leader's heartbeat, with its claim: the round it won and its draw.
    Heartbeat {
        round: u64,
        value: u32,
    },
}

impl Message for RandMsg {
    fn kind(&self) -> &'static str {
        match self {
            RandMsg::Election { .. } => "election",
            RandMsg::Draw { .. } => "draw",
            RandMsg::Heartbeat { .. } => "heartbeat",
        }
    }
}

/// The end of a round's collection of draws, the leader's heartbeat, and the wait for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomizedTimer {
    Collect,
    Heartbeat,
    LeaderTimeout,
}

impl Timer for RandomizedTimer {}

/// The randomized election's own events: a node's draw in a round (`draw`), and a tie at the top
/// (`tie`) that calls the next round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RandomizedEvent {
    Draw { round: u64, value: u32 },
    Tie { round: u64, value: u32, nodes: Vec<NodeId> },
}

impl Event for RandomizedEvent {}

const ELECTION_MESSAGES: [&str; 2] = ["election", "draw"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomizedParams {
    pub heartbeat_ms: u64,
    pub leader_timeout_ms: u64,
    pub timeout_jitter_ms: u64,
    /// How long a process collects the others' draws before deciding.
    pub collect_ms: u64,
    /// Draws are uniform in `1..=draw_max`; small values make ties (and redraws) common.
    pub draw_max: u32,
    /// Longest acceptable time from a leader's death to agreement on the next; derived when not
    /// given.
    pub election_bound_ms: Option<u64>,
    /// Each node's attribute (filled from the experiment's `attributes`): it counts before the draw.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl Default for RandomizedParams {
    fn default() -> Self {
        RandomizedParams {
            heartbeat_ms: 50,
            leader_timeout_ms: 250,
            timeout_jitter_ms: 100,
            collect_ms: 30,
            draw_max: 1000,
            election_bound_ms: None,
            attributes: Attributes::default(),
        }
    }
}

impl RandomizedParams {
    /// Detection (timeout + jitter), four collection rounds (one and up to three redraws), and
    /// 100 ms for delivery and scheduling.
    pub fn election_bound(&self) -> Nanos {
        let derived = self.leader_timeout_ms + self.timeout_jitter_ms + 4 * self.collect_ms + 100;
        self.election_bound_ms.unwrap_or(derived) * MS
    }
}

impl Params for RandomizedParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        self.attributes.validate(nodes)?;
        if self.heartbeat_ms == 0 || self.heartbeat_ms >= self.leader_timeout_ms {
            return Err(format!(
                "params.heartbeat_ms ({}) must be above 0 and below params.leader_timeout_ms ({})",
                self.heartbeat_ms, self.leader_timeout_ms
            ));
        }
        if self.collect_ms == 0 {
            return Err("params.collect_ms must be above 0".into());
        }
        if self.draw_max < 2 {
            return Err(format!("params.draw_max ({}) must be at least 2, or every round is a tie", self.draw_max));
        }
        Ok(())
    }
}

/// A leader's claim; the higher claim leads (fields compare in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Claim {
    round: u64,
    /// The claimant's attribute (0 without attributes).
    attribute: u64,
    value: u32,
    id: NodeId,
}

/// The draws of the round this process is collecting.
struct Draws {
    round: u64,
    seen: BTreeMap<NodeId, u32>,
}

pub struct RandomizedNode {
    me: NodeId,
    params: RandomizedParams,
    /// The newest round this process has seen (kept across restarts).
    round: u64,
    drawing: Option<Draws>,
    leader: Option<Claim>,
}

impl RandomizedNode {
    pub fn new(me: NodeId, params: RandomizedParams) -> Self {
        RandomizedNode { me, params, round: 0, drawing: None, leader: None }
    }

    fn expect_heartbeat(&self, ctx: &mut Ctx<RandomizedTimer>) {
        let jitter = ctx.rng().random_range(0..=self.params.timeout_jitter_ms);
        ctx.set_timer(RandomizedTimer::LeaderTimeout, (self.params.leader_timeout_ms + jitter) * MS);
    }

    fn call_election(&mut self, ctx: &mut Ctx<RandomizedTimer>) {
        let round = self.round + 1;
        ctx.emit(&ElectionEvent::ElectionStarted(Started {
            round: Some(round),
            initiator: Some(true),
            ..Started::default()
        }));
        ctx.broadcast(&RandMsg::Election { round });
        self.join(ctx, round);
    }

    /// Draws for `round`, tells everyone, and collects the others' draws.
    fn join(&mut self, ctx: &mut Ctx<RandomizedTimer>, round: u64) {
        self.round = round;
        ctx.persist(&self.round);
        let value = ctx.rng().random_range(1..=self.params.draw_max);
        ctx.emit(&RandomizedEvent::Draw { round, value });
        self.drawing = Some(Draws { round, seen: BTreeMap::from([(self.me, value)]) });
        ctx.broadcast(&RandMsg::Draw { round, value });
        ctx.cancel_timer(RandomizedTimer::LeaderTimeout);
        ctx.set_timer(RandomizedTimer::Collect, self.params.collect_ms * MS);
    }

    /// Hears of a round newer than any it has seen: takes part.
    fn hear_of(&mut self, ctx: &mut Ctx<RandomizedTimer>, round: u64) {
        if round > self.round {
            ctx.emit(&ElectionEvent::ElectionStarted(Started {
                round: Some(round),
                initiator: Some(false),
                ..Started::default()
            }));
            self.join(ctx, round);
        }
    }

    /// The collection time is over: the highest (attribute, draw) wins; a tie at the top draws
    /// again.
    fn decide(&mut self, ctx: &mut Ctx<RandomizedTimer>) {
        let Some(draws) = self.drawing.take() else { return };
        let attrs = &self.params.attributes;
        let key = |(n, v): (&NodeId, &u32)| (attrs.of(*n), *v);
        let top = draws.seen.iter().map(key).max().expect("its own draw at least");
        let best: Vec<NodeId> = draws.seen.iter().filter(|d| key(*d) == top).map(|(n, _)| *n).collect();
        let (attribute, value) = top;
        if best.len() > 1 {
            ctx.emit(&RandomizedEvent::Tie { round: draws.round, value, nodes: best.clone() });
            return self.join(ctx, draws.round + 1);
        }
        let claim = Claim { round: draws.round, attribute, value, id: best[0] };
        if claim.id == self.me {
            ctx.emit(&ElectionEvent::Elected(Elected {
                leader: self.me,
                round: Some(claim.round),
                value: Some(value),
                draws: Some(draws.seen.len() as u64),
                attribute: (!attrs.is_empty()).then_some(attribute),
                ..Elected::default()
            }));
        }
        self.follow(ctx, claim);
    }

    /// Takes `claim`'s node as leader (itself included).
    fn follow(&mut self, ctx: &mut Ctx<RandomizedTimer>, claim: Claim) {
        let was = self.leader.map(|c| c.id);
        self.leader = Some(claim);
        if was != Some(claim.id) {
            ctx.emit(&ElectionEvent::Leader(LeaderView { leader: claim.id, term: None, round: Some(claim.round) }));
        }
        if claim.id == self.me {
            ctx.cancel_timer(RandomizedTimer::LeaderTimeout);
            self.beat(ctx);
        } else {
            ctx.cancel_timer(RandomizedTimer::Heartbeat);
            self.expect_heartbeat(ctx);
        }
    }

    fn beat(&self, ctx: &mut Ctx<RandomizedTimer>) {
        if let Some(claim) = self.leader.filter(|c| c.id == self.me) {
            ctx.broadcast(&RandMsg::Heartbeat { round: claim.round, value: claim.value });
            ctx.set_timer(RandomizedTimer::Heartbeat, self.params.heartbeat_ms * MS);
        }
    }

    fn my_claim(&self) -> Option<Claim> {
        self.leader.filter(|c| c.id == self.me)
    }
}

impl Process for RandomizedNode {
    type Msg = RandMsg;
    type Timer = RandomizedTimer;
    /// The newest round seen.
    type Durable = u64;

    fn on_start(&mut self, ctx: &mut Ctx<RandomizedTimer>, recovered: Option<u64>) {
        self.round = recovered.unwrap_or(0);
        self.expect_heartbeat(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<RandomizedTimer>, from: NodeId, msg: RandMsg) {
        match msg {
            RandMsg::Election { round } if round > self.round => self.hear_of(ctx, round),
            // A call for a round already held: its caller missed the result; the leader tells it.
            RandMsg::Election { .. } => {
                if let Some(claim) = self.my_claim() {
                    ctx.send(from, &RandMsg::Heartbeat { round: claim.round, value: claim.value });
                }
            }
            RandMsg::Draw { round, value } => {
                self.hear_of(ctx, round);
                if let Some(draws) = self.drawing.as_mut().filter(|d| d.round == round) {
                    draws.seen.insert(from, value);
                }
            }
            RandMsg::Heartbeat { round, value } => {
                let claim = Claim { round, attribute: self.params.attributes.of(from), value, id: from };
                if self.leader == Some(claim) {
                    self.expect_heartbeat(ctx);
                } else if self.drawing.as_ref().is_some_and(|d| d.round > round) {
                    // An election newer than this claim is under way.
                } else if self.leader.is_none_or(|mine| claim > mine) {
                    if self.my_claim().is_some() {
                        ctx.emit(&ElectionEvent::leader_lost(self.me, "a higher claim"));
                    }
                    self.round = self.round.max(round);
                    ctx.persist(&self.round);
                    self.drawing = None;
                    ctx.cancel_timer(RandomizedTimer::Collect);
                    self.follow(ctx, claim);
                } else if let Some(mine) = self.my_claim() {
                    // A lower claimant: tell it who leads, so it steps down.
                    ctx.send(from, &RandMsg::Heartbeat { round: mine.round, value: mine.value });
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<RandomizedTimer>, timer: RandomizedTimer) {
        match timer {
            RandomizedTimer::Collect => self.decide(ctx),
            RandomizedTimer::Heartbeat => self.beat(ctx),
            RandomizedTimer::LeaderTimeout => {
                if let Some(old) = self.leader.take() {
                    ctx.emit(&ElectionEvent::leader_lost(old.id, "no heartbeat"));
                }
                self.call_election(ctx);
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<RandomizedTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("elect") => {
                self.call_election(ctx);
                Ok(format!("called round {}", self.round))
            }
            _ => Err(format!("unknown command {args:?}; randomized knows: elect")),
        }
    }

    fn status(&self) -> Status {
        let role = match (&self.drawing, self.leader) {
            (Some(_), _) => "electing",
            (None, Some(c)) if c.id == self.me => "leader",
            (None, Some(_)) => "follower",
            (None, None) => "idle",
        };
        Status { role: role.into(), leader: self.leader.map(|c| c.id), term: Some(self.round) }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Randomized;

impl Spec for Randomized {
    const NAME: &'static str = "randomized";
    const FAMILY: Family = Family::Election;
    const SUMMARY: &'static str =
        "randomized election: everyone draws a random number, the highest (after the best attribute) wins, ties draw again";
    const BY_ATTRIBUTE: bool = true;
    type Params = RandomizedParams;

    fn build(me: NodeId, _peers: &[NodeId], p: &RandomizedParams) -> Result<impl Process, String> {
        Ok(RandomizedNode::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo {
                name: "highest_draw_wins",
                promise: "every winner drew its round's highest number among the draws it received (the highest (attribute, draw), with attributes), with no tie",
            },
            PropertyInfo {
                name: "stable_agreement",
                promise: "in every stable period without partitions all live processes follow one live leader",
            },
            PropertyInfo {
                name: "election_within_bound",
                promise: "after the leader dies (or at start) all agree on a new leader within the bound",
            },
            PropertyInfo {
                name: "election_message_cost",
                promise: "an election costs at most (n−1) per caller plus n(n−1) per round of draws",
            },
        ]
    }

    fn check(run: &Execution, p: &RandomizedParams) -> CheckReport {
        check_randomized(run, p)
    }
}

pub fn check_randomized(run: &Execution, params: &RandomizedParams) -> CheckReport {
    let bound = params.election_bound();
    let n = run.nodes.len() as u64;
    let el = Elections::new(run, run.nodes.clone());
    let anyone = |_: Nanos| true;

    let wins = highest_draw_wins(run, &params.attributes);
    let agreement = stable_agreement(&el, bound, Expect::Any, &anyone);
    let eps = episodes(&el, false);
    let (latency, timed) = election_latency(&el, &eps, bound, Expect::Any, &anyone);

    const COST: &str = "election_message_cost";
    let (mut samples, mut rounds_per, mut violation) = (Vec::new(), Vec::new(), None);
    for t in &timed {
        let (from, to) = (t.episode.t0, t.end);
        let counts = sends_by_type(&run.records, &ELECTION_MESSAGES, from, to);
        let mut callers = 0;
        let mut rounds = BTreeSet::new();
        for r in run.records.iter().filter(|r| r.t >= from && r.t < to) {
            if let Some(ElectionEvent::ElectionStarted(Started { initiator: Some(true), .. })) = r.event_as() {
                callers += 1;
            }
            if let Some(RandomizedEvent::Draw { round, .. }) = r.event_as() {
                rounds.insert(round);
            }
        }
        let rounds = rounds.len() as u64;
        let most = callers * (n - 1) + rounds * n * (n - 1);
        let sent: u64 = counts.values().sum();
        if sent > most && violation.is_none() {
            let detail = format!(
                "election after {} at {:.0} ms cost {sent} messages for {callers} caller(s) and {rounds} round(s), above {most}",
                t.episode.why,
                run.ms(from)
            );
            violation = Some(PropertyResult::violated(COST, detail, vec![]));
        }
        rounds_per.push(rounds as f64);
        samples.push(counts);
    }
    let cost = violation.unwrap_or_else(|| {
        let totals: Vec<u64> = samples.iter().map(|s| s.values().sum()).collect();
        let rounds: Vec<u64> = rounds_per.iter().map(|r| *r as u64).collect();
        let detail = format!(
            "messages per election {} over {} round(s); per round with one caller n²−1 = {}",
            listing(&totals),
            listing(&rounds),
            n * n - 1
        );
        PropertyResult::held(COST, samples.len(), "election measured (no agreement on a leader)", detail)
    });

    let mut report = CheckReport { properties: vec![wins, agreement, latency, cost], ..Default::default() };
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), crate::check::stats(&latencies));
    report.metrics.insert("rounds_per_election".into(), crate::check::stats(&rounds_per));
    report.metrics.insert(
        "messages_per_election".into(),
        message_metric(
            &samples,
            json!({
                "per_round_one_caller": n * n - 1,
                "figure": format!("(n−1) ELECTION + n(n−1) DRAW = n²−1 = {} per round with one caller; n(n−1) = {} more per redraw after a tie", n * n - 1, n * (n - 1)),
            }),
        ),
    );
    report
}

/// Every `elected` event: the winner's own draw of that round is the number it claims, and every
/// draw of that round it received before winning is strictly lower (by (attribute, draw), with
/// attributes).
fn highest_draw_wins(run: &Execution, attrs: &Attributes) -> PropertyResult {
    const NAME: &str = "highest_draw_wins";
    let sent = SentIndex::new(&run.records);
    let mut checked = 0;
    for (win, e) in run.events::<ElectionEvent>() {
        let ElectionEvent::Elected(Elected { round: Some(round), value: Some(value), .. }) = e else { continue };
        let value = value as u64;
        checked += 1;
        let before = run.records.iter().filter(|r| r.node == win.node && r.t <= win.t && r.lc < win.lc);
        let mut own = None;
        for r in before {
            if let Some(RandomizedEvent::Draw { round: drawn, value: v }) = r.event_as() {
                if drawn == round {
                    own = Some((Some(v as u64), EventRef::of(r)));
                }
            }
            let Some(RandMsg::Draw { round: rr, value: v }) = sent.send_of(r).and_then(shown::<RandMsg>) else {
                continue;
            };
            let from = sent.send_of(r).map_or(0, |s| s.node);
            if rr == round && (attrs.of(from), v as u64) >= (attrs.of(win.node), value) {
                let detail = format!(
                    "{} won round {round} with {value}, but had received {v} from {} in that round",
                    attrs.describe(win.node),
                    attrs.describe(from)
                );
                return PropertyResult::violated(NAME, detail, vec![EventRef::of(r), EventRef::of(win)]);
            }
        }
        match own {
            Some((Some(v), _)) if v == value => {}
            other => {
                let detail = format!("node {} won round {round} claiming {value}, but drew {other:?}", win.node);
                let evidence = other.map(|(_, at)| at).into_iter().chain([EventRef::of(win)]).collect();
                return PropertyResult::violated(NAME, detail, evidence);
            }
        }
    }
    let detail = format!("{checked} win(s), each with the strictly highest draw its winner received");
    PropertyResult::held(NAME, checked, "win (no `elected` event with its round and draw)", detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn bad_params_name_their_key() {
        let err = Randomized.build(1, &[2], &json!({"draw_max": 1})).err().unwrap();
        assert!(err.contains("params.draw_max"), "{err}");
        let err = Randomized.build(1, &[2], &json!({"collect_ms": 0})).err().unwrap();
        assert!(err.contains("params.collect_ms"), "{err}");
    }
}

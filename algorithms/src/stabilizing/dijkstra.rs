//! Dijkstra's K-state self-stabilizing token ring (Dijkstra, "Self-stabilizing systems in spite
//! of distributed control", CACM 1974; the course's "Dijkstra's Token Ring Algorithm",
//! `002_*.txt`, "Other algorithms").
//!
//! Rules, for the nodes in id order as a ring, node 0 (the lowest id) the *bottom*, each holding a
//! counter `x ∈ {0..K−1}`:
//! - the bottom is *privileged* when `x = x_pred` (its predecessor is the last node), and its
//!   move is `x := x + 1 mod K`;
//! - any other node is privileged when `x ≠ x_pred`, and its move is `x := x_pred`.
//!
//! A privilege is the token: in a legitimate state exactly one node holds one, and every move
//! hands it to the successor. The state-reading model, over messages: every `period` each node
//! sends its counter to its successor (STATE); a node that receives its predecessor's counter and
//! is privileged by it makes its move at once. A node starts with an arbitrary counter (drawn
//! from the seeded RNG), and the `corrupt` fault sets it to another arbitrary one.
//!
//! Promise, for K ≥ N: from any state the ring *converges* to exactly one privilege, and *stays*
//! at exactly one until the next corruption. Here legitimate also asks that every STATE still in
//! flight carry its sender's current counter, since one that does not is a stale reading that can
//! make a move and a second privilege. The convergence bound, counted in moves, in the shared
//! memory model: with no move of the bottom, node i can move at most i times (it copies values its
//! predecessor took), so the others make at most N(N−1)/2 moves between two moves of the bottom;
//! within N moves the bottom takes a value no other node holds (the others hold at most N−1 values
//! and only copy ones the bottom took), and once that value has gone round, all nodes hold it.
//! So at most N + (N+1)·N(N−1)/2 moves (a coarse count; Dijkstra's ring is known to need O(N²)).
//! With K < N−1 there are states from which a schedule never converges: see
//! `configs/dijkstra-ring-small-k.toml`. Cost: one STATE per node per period, whatever happens.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Process, Status, Timer, MS};
use crate::core::trace::{TraceRecord, What};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DijkstraMsg {
    /// The sender's counter, to its successor.
    State { x: u64 },
}

impl Message for DijkstraMsg {
    fn kind(&self) -> &'static str {
        "state"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DijkstraTimer {
    /// Time to send the counter to the successor.
    Period,
}

impl Timer for DijkstraTimer {}

/// What a node of the ring records: every value its counter takes, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RingEvent {
    /// The counter was set from outside the rules: at `start` or by a `corrupt` fault.
    State { x: u64, reason: String },
    /// A privileged node moved: the bottom incremented, another node copied its predecessor.
    Move { x: u64, from: u64 },
}

impl Event for RingEvent {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DijkstraParams {
    /// How many values a counter takes; unset: N, the cluster size (K ≥ N converges; K < N−1 need
    /// not).
    pub k: Option<u64>,
    /// Every node sends its counter to its successor this often.
    pub period_ms: u64,
    /// An episode (the start, or a corruption) that has not converged after this long is judged
    /// as not converging; unset: the move bound times one period and 10 ms for delivery.
    pub settle_ms: Option<u64>,
}

impl Default for DijkstraParams {
    fn default() -> Self {
        DijkstraParams { k: None, period_ms: 20, settle_ms: None }
    }
}

impl DijkstraParams {
    pub fn k(&self, nodes: usize) -> u64 {
        self.k.unwrap_or(nodes as u64)
    }

    pub fn settle(&self, nodes: usize) -> Nanos {
        let derived = move_bound(nodes as u64) * (self.period_ms + 10) + 100;
        self.settle_ms.unwrap_or(derived) * MS
    }
}

impl Params for DijkstraParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        if self.k(nodes) < 2 {
            return Err(format!("params.k ({}) must be at least 2", self.k(nodes)));
        }
        if self.period_ms == 0 {
            return Err("params.period_ms must be above 0".into());
        }
        if nodes < 2 {
            return Err("dijkstra-ring needs a ring of at least 2 nodes".into());
        }
        Ok(())
    }
}

/// The moves within which a ring of `n` converges from any state: N + (N+1)·N(N−1)/2.
pub fn move_bound(n: u64) -> u64 {
    n + (n + 1) * n * n.saturating_sub(1) / 2
}

/// The ring in id order: who is the bottom, and whose counter each node reads.
fn ring(nodes: &[NodeId]) -> Vec<NodeId> {
    let mut ring = nodes.to_vec();
    ring.sort_unstable();
    ring
}

/// Whether the node at `index` of `ring` is privileged, with `x` its counter and `pred` its
/// predecessor's.
fn privileged(index: usize, x: u64, pred: u64) -> bool {
    if index == 0 {
        x == pred
    } else {
        x != pred
    }
}

pub struct DijkstraNode {
    /// My place in the ring (0: the bottom).
    index: usize,
    pred: NodeId,
    succ: NodeId,
    k: u64,
    period: Nanos,
    x: u64,
}

impl DijkstraNode {
    pub fn new(me: NodeId, peers: &[NodeId], k: u64, period_ms: u64) -> Self {
        let mut ids = peers.to_vec();
        ids.push(me);
        let ring = ring(&ids);
        let index = ring.iter().position(|&id| id == me).expect("me is in the ring");
        let pred = ring[(index + ring.len() - 1) % ring.len()];
        let succ = ring[(index + 1) % ring.len()];
        DijkstraNode { index, pred, succ, k, period: period_ms * MS, x: 0 }
    }

    /// Sets the counter to an arbitrary value, as a transient fault would.
    fn arbitrary(&mut self, ctx: &mut Ctx<DijkstraTimer>, reason: &str) {
        self.x = ctx.rng().random_range(0..self.k);
        ctx.emit(&RingEvent::State { x: self.x, reason: reason.into() });
    }

    /// The node's move, when `pred` (its predecessor's counter) makes it privileged.
    fn read(&mut self, ctx: &mut Ctx<DijkstraTimer>, pred: u64) {
        if !privileged(self.index, self.x, pred) {
            return;
        }
        let from = self.x;
        self.x = if self.index == 0 { (self.x + 1) % self.k } else { pred };
        ctx.emit(&RingEvent::Move { x: self.x, from });
    }
}

impl Process for DijkstraNode {
    type Msg = DijkstraMsg;
    type Timer = DijkstraTimer;
    type Durable = NoState;

    fn on_start(&mut self, ctx: &mut Ctx<DijkstraTimer>, _: Option<NoState>) {
        self.arbitrary(ctx, "start");
        ctx.send(self.succ, &DijkstraMsg::State { x: self.x });
        ctx.set_timer(DijkstraTimer::Period, self.period);
    }

    fn on_message(&mut self, ctx: &mut Ctx<DijkstraTimer>, from: NodeId, msg: DijkstraMsg) {
        let DijkstraMsg::State { x } = msg;
        if from == self.pred {
            self.read(ctx, x);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<DijkstraTimer>, timer: DijkstraTimer) {
        match timer {
            DijkstraTimer::Period => {
                ctx.send(self.succ, &DijkstraMsg::State { x: self.x });
                ctx.set_timer(DijkstraTimer::Period, self.period);
            }
        }
    }

    fn on_corrupt(&mut self, ctx: &mut Ctx<DijkstraTimer>) -> bool {
        self.arbitrary(ctx, "corrupt");
        true
    }

    fn on_command(&mut self, _ctx: &mut Ctx<DijkstraTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("state") => Ok(json!({ "x": self.x, "k": self.k, "pred": self.pred, "succ": self.succ }).to_string()),
            _ => Err(format!("unknown command {args:?}; dijkstra-ring knows: state")),
        }
    }

    fn status(&self) -> Status {
        let role = if self.index == 0 { "bottom" } else { "node" };
        Status { role: role.into(), leader: None, term: None }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct DijkstraRing;

const CONVERGES: &str = "converges";
const STAYS_STABLE: &str = "stays_stable";

impl Spec for DijkstraRing {
    const NAME: &'static str = "dijkstra-ring";
    const FAMILY: Family = Family::Stabilizing;
    const SUMMARY: &'static str =
        "Dijkstra's K-state self-stabilizing token ring: from any state (see the corrupt fault) exactly one privilege within N + (N+1)·N(N−1)/2 moves, and it stays one; one STATE per node per period";
    type Params = DijkstraParams;

    fn build(me: NodeId, peers: &[NodeId], p: &DijkstraParams) -> Result<impl Process, String> {
        Ok(DijkstraNode::new(me, peers, p.k(peers.len() + 1), p.period_ms))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo {
                name: CONVERGES,
                promise: "from any state (the start, every corruption) exactly one privilege, with no stale reading in flight, within N + (N+1)·N(N−1)/2 moves",
            },
            PropertyInfo {
                name: STAYS_STABLE,
                promise: "once converged, exactly one privilege at every moment until the next corruption",
            },
        ]
    }

    fn check(run: &Execution, p: &DijkstraParams) -> CheckReport {
        check_ring(run, p)
    }
}

/// The ring's state as the trace shows it, replayed record by record.
struct Replay {
    ring: Vec<NodeId>,
    x: BTreeMap<NodeId, u64>,
    /// STATE messages sent and not yet acted on, by sender: (the send's lc, its value).
    in_flight: BTreeMap<NodeId, Vec<(u64, u64)>>,
    /// The reading each node received last, `(sender, send lc)`: still in flight until the
    /// node's next record, since the move it makes on it (if any) comes after the receive.
    reading: BTreeMap<NodeId, (NodeId, u64)>,
}

impl Replay {
    /// Privileged nodes by the counters' true values; `None` until every counter is known.
    fn privileged(&self) -> Option<Vec<NodeId>> {
        let values: Vec<u64> = self.ring.iter().map(|id| self.x.get(id).copied()).collect::<Option<_>>()?;
        let n = values.len();
        Some((0..n).filter(|&i| privileged(i, values[i], values[(i + n - 1) % n])).map(|i| self.ring[i]).collect())
    }

    /// Every STATE in flight carries its sender's current counter.
    fn readings_current(&self) -> bool {
        self.in_flight.iter().all(|(from, msgs)| msgs.iter().all(|(_, v)| self.x.get(from) == Some(v)))
    }

    /// Applies one record; returns what it was for the ring: a move, a state set from outside
    /// (an episode begins), or neither.
    fn apply(&mut self, r: &TraceRecord) -> Option<RingEvent> {
        let event = self.apply_record(r);
        if !matches!(r.what, What::Recv { .. }) {
            self.consume_reading(r.node);
        }
        event
    }

    fn consume_reading(&mut self, node: NodeId) {
        if let Some((from, lc)) = self.reading.remove(&node) {
            if let Some(msgs) = self.in_flight.get_mut(&from) {
                msgs.retain(|(sent, _)| *sent != lc);
            }
        }
    }

    fn apply_record(&mut self, r: &TraceRecord) -> Option<RingEvent> {
        match &r.what {
            What::Event { .. } => {
                let event = r.event_as::<RingEvent>()?;
                let (RingEvent::State { x, .. } | RingEvent::Move { x, .. }) = &event;
                self.x.insert(r.node, *x);
                Some(event)
            }
            What::Send { msg_type, msg, .. } if msg_type == "state" => {
                let value = msg.value().get("State").and_then(|s| s.get("x")).and_then(Value::as_u64)?;
                self.in_flight.entry(r.node).or_default().push((r.lc, value));
                None
            }
            What::Recv { from, msg_type, msg_lc } if msg_type == "state" => {
                self.consume_reading(r.node);
                self.reading.insert(r.node, (*from, *msg_lc));
                None
            }
            _ => None,
        }
    }
}

/// One stretch between two states set from outside (the start of a node, a corruption).
struct Episode {
    from: Nanos,
    to: Nanos,
    /// When the ring was first legitimate, and the moves it took to get there.
    converged: Option<(Nanos, u64)>,
    /// The first moment after convergence with other than one privilege.
    broken: Option<(Nanos, Vec<NodeId>, EventRef)>,
    moves_after: u64,
    /// Every counter was known at some point: before that (nodes still starting) there is no
    /// ring to judge.
    known: bool,
}

fn check_ring(run: &Execution, p: &DijkstraParams) -> CheckReport {
    let n = run.nodes.len();
    let bound = move_bound(n as u64);
    let settle = p.settle(n);
    let mut replay =
        Replay { ring: ring(&run.nodes), x: BTreeMap::new(), in_flight: BTreeMap::new(), reading: BTreeMap::new() };
    let mut episodes: Vec<Episode> = Vec::new();
    for r in &run.records {
        let event = replay.apply(r);
        if let Some(RingEvent::State { .. }) = event {
            if let Some(last) = episodes.last_mut() {
                last.to = r.t;
            }
            episodes.push(Episode {
                from: r.t,
                to: run.end,
                converged: None,
                broken: None,
                moves_after: 0,
                known: false,
            });
        }
        let Some(e) = episodes.last_mut() else { continue };
        let moved = matches!(event, Some(RingEvent::Move { .. }));
        let Some(privileged) = replay.privileged() else { continue };
        e.known = true;
        match e.converged {
            None => {
                if moved {
                    e.moves_after += 1;
                }
                if privileged.len() == 1 && replay.readings_current() {
                    e.converged = Some((r.t, e.moves_after));
                    e.moves_after = 0;
                }
            }
            Some(_) => {
                e.moves_after += moved as u64;
                if privileged.len() != 1 && e.broken.is_none() {
                    e.broken = Some((r.t, privileged, EventRef::of(r)));
                }
            }
        }
    }
    // An episode begins at every state set from outside: several at one moment (the nodes
    // starting, a burst of corruptions) make one episode, from the last of them.
    episodes.retain(|e| e.to > e.from || e.to == run.end);

    let mut report = CheckReport::default();
    report.properties.push(converges(run, &episodes, bound, settle));
    report.properties.push(stays_stable(run, &episodes));
    let moves: Vec<f64> = episodes.iter().filter_map(|e| e.converged.map(|(_, m)| m as f64)).collect();
    let times: Vec<f64> =
        episodes.iter().filter_map(|e| e.converged.map(|(t, _)| (t - e.from) as f64 / MS as f64)).collect();
    report.metrics.insert("moves_to_converge".into(), crate::check::stats(&moves));
    report.metrics.insert("converge_ms".into(), crate::check::stats(&times));
    report.metrics.insert("move_bound".into(), json!(bound));
    report.metrics.insert("k".into(), json!(p.k(n)));
    report
}

fn converges(run: &Execution, episodes: &[Episode], bound: u64, settle: Nanos) -> PropertyResult {
    let (mut moves, mut cut_short) = (Vec::new(), 0);
    for e in episodes {
        match e.converged {
            Some((t, m)) if m > bound => {
                let detail = format!(
                    "from the state set at {:.0} ms the ring took {m} moves to converge (at {:.0} ms), above the bound N + (N+1)·N(N−1)/2 = {bound}",
                    run.ms(e.from),
                    run.ms(t)
                );
                return PropertyResult::violated(CONVERGES, detail, vec![]);
            }
            Some((_, m)) => moves.push(m),
            None if e.to - e.from >= settle => {
                let detail = format!(
                    "from the state set at {:.0} ms the ring had not converged {:.0} ms later (settle time {} ms, {} moves made): never exactly one privilege with every reading current",
                    run.ms(e.from),
                    (e.to - e.from) as f64 / MS as f64,
                    settle / MS,
                    e.moves_after
                );
                return PropertyResult::violated(CONVERGES, detail, vec![]);
            }
            None if e.known => cut_short += 1,
            None => {}
        }
    }
    let not_judged = match cut_short {
        0 => String::new(),
        c => format!("; {c} cut short by the next corruption or the end, not judged"),
    };
    let detail = format!(
        "{} episode(s) converged, moves taken {} against the bound {bound}{not_judged}",
        moves.len(),
        crate::check::election::listing(&moves)
    );
    let nothing = format!("start or corruption followed by convergence or {} ms without{not_judged}", settle / MS);
    PropertyResult::held(CONVERGES, moves.len(), &nothing, detail)
}

fn stays_stable(run: &Execution, episodes: &[Episode]) -> PropertyResult {
    let (mut judged, mut moves, mut longest) = (0, 0, 0);
    for e in episodes {
        let Some((t, _)) = e.converged else { continue };
        if let Some((when, privileged, evidence)) = &e.broken {
            let detail = format!(
                "converged at {:.0} ms, but at {:.0} ms nodes {privileged:?} were privileged ({} privileges) before any corruption",
                run.ms(t),
                run.ms(*when),
                privileged.len()
            );
            return PropertyResult::violated(STAYS_STABLE, detail, vec![evidence.clone()]);
        }
        if e.to > t {
            judged += 1;
            moves += e.moves_after;
            longest = longest.max(e.to - t);
        }
    }
    let detail = format!(
        "exactly one privilege in each of {judged} converged stretch(es), {moves} move(s) in them, the longest {:.0} ms",
        longest as f64 / MS as f64
    );
    PropertyResult::held(STAYS_STABLE, judged, "converged ring to watch", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_privilege_rules_and_the_bound() {
        assert!(privileged(0, 3, 3) && !privileged(0, 3, 2), "the bottom: equal to its predecessor");
        assert!(privileged(2, 3, 2) && !privileged(2, 3, 3), "the others: different");
        assert_eq!(move_bound(5), 5 + 6 * 10);
        assert_eq!(move_bound(2), 2 + 3);
    }
}

//! Token ring mutual exclusion, with detection of a lost token and regeneration of exactly one.
//!
//! Rules, as the course states them ("Token-Ring Algorithms"):
//! - The processes form a logical ring in id order. Process 1 creates a token for each resource.
//! - The token circulates from P_i to P_(i+1 mod N). A process that gets the token checks whether
//!   it wants the resource: no → it sends the token to its neighbour; yes → it uses the resource
//!   and holds the token until done, then passes it on (release = 1 message).
//! - "Process dies: token is lost! Needs to be regenerated. Detecting loss can be challenging
//!   (really lost or someone is holding it)" and "what if no communication with the neighbour?"
//!
//! What this implementation adds for those two problems, both under the usual timing assumption
//! (a live process acknowledges within `ack_timeout`):
//! - **Dead neighbours are skipped.** Every ring message (token or probe) is acknowledged with
//!   ACK; a successor that does not acknowledge in time is taken for dead, the sender takes the
//!   token back (`reclaim`) and sends it to the next live process. Processes announce themselves
//!   with ALIVE when they (re)start, and any message from a process shows it is alive again; so
//!   a missed ACK of a message sent before the successor's last word does not make it dead (the
//!   message died with the successor's previous incarnation; the token is taken back and resent).
//! - **A lost token is found out and regenerated once.** A process that has not seen a token for
//!   `loss_timeout` sends a PROBE(origin, generation) around the ring. A process that holds the
//!   token (or has it in flight) swallows the probe: the token is not lost. So does one that has
//!   seen a newer generation. A probing process swallows probes of lower origins and gives way to
//!   higher ones (as in Chang–Roberts), and to a probe of a newer generation than it has seen (its
//!   own would die on the way), so at most one probe survives a full circle; its origin
//!   then creates the token anew with the next generation. Because channels are FIFO and probe and
//!   token travel the same way, a live token can never slip past a probe unseen.
//! - A stale copy (a generation or hop count already seen) is discarded on arrival.
//!
//! Promise: mutual exclusion; exactly one token per resource at any time (a new one only after the
//! holder of the old one died); at most N−1 passes between a request and its entry. Cost: 1 to ∞
//! token passes per entry (each acknowledged), the ring keeps circulating while idle.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{
    common_report, event_data, token_conservation, Cost, History, LIVENESS, MUTUAL_EXCLUSION, TOKEN_CONSERVATION,
};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Message, Nanos, NodeId, Timer, MS};
use crate::mutex::event::{MutexEvent, Request, TokenEvent, TokenOp};
use crate::mutex::host::{token_resource, Cs, MutexCtx, MutexNode, MutexRules, TokensCreated};
use crate::mutex::workload::Workload;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TokenRingMsg {
    /// The token of `resource`, in its `gen`-th generation, on its `hop`-th pass. `seq` is the
    /// sender's number for the ACK.
    Token { resource: String, gen: u64, hop: u64, seq: u64 },
    /// "Has anyone the token of `resource`?", sent around the ring by `origin`.
    Probe { resource: String, origin: NodeId, round: u64, gen: u64, seq: u64 },
    /// The ring message numbered `seq` arrived.
    Ack { seq: u64 },
    /// The sender is (again) alive; `reply` asks the receiver to announce itself back.
    Alive { reply: bool },
}

impl Message for TokenRingMsg {
    fn kind(&self) -> &'static str {
        match self {
            TokenRingMsg::Token { .. } => "token",
            TokenRingMsg::Probe { .. } => "probe",
            TokenRingMsg::Ack { .. } => "ack",
            TokenRingMsg::Alive { .. } => "alive",
        }
    }
}

/// The rules' timers: a resource's idle token moves on, a resource's token is overdue, a ring
/// message is not acknowledged. Keys `pass:RESOURCE`, `loss:RESOURCE`, `ack:SEQ`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRingTimer {
    Pass(String),
    Loss(String),
    Ack(u64),
}

impl Timer for TokenRingTimer {}

/// Token ring's own events: a successor that did not acknowledge (`suspect`), and a probe for a
/// token not seen for too long (`token_suspected`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum TokenRingEvent {
    Suspect { node: NodeId, reason: String },
    TokenSuspected { resource: String, round: u64, gen: u64 },
}

impl Event for TokenRingEvent {}

/// Membership announcements are not part of what an entry costs.
const MEMBERSHIP: [&str; 1] = ["alive"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenRingParams {
    /// The resources named here each get a token.
    pub workload: Workload,
    /// The node that creates the tokens when it first starts.
    pub initial_holder: NodeId,
    /// An idle token rests this long at each node before moving on. The textbook passes at once;
    /// a short rest keeps an idle ring of real processes from spinning the CPU.
    pub pass_delay_ms: u64,
    /// A successor that does not acknowledge a ring message this long is taken for dead.
    pub ack_timeout_ms: u64,
    /// A node that has not seen a resource's token this long suspects it lost and probes the ring
    /// (plus a random extra of up to half as much). Default: N × (pass delay + hold + 10 ms) +
    /// 2 × ack timeout, a full circle in which every node holds the token once.
    pub loss_timeout_ms: Option<u64>,
}

impl Default for TokenRingParams {
    fn default() -> Self {
        TokenRingParams {
            workload: Workload::default(),
            initial_holder: 1,
            pass_delay_ms: 2,
            ack_timeout_ms: 100,
            loss_timeout_ms: None,
        }
    }
}

impl TokenRingParams {
    pub fn loss_timeout(&self, n: usize) -> Nanos {
        let derived = n as u64 * (self.pass_delay_ms + self.workload.hold_ms + 10) + 2 * self.ack_timeout_ms;
        self.loss_timeout_ms.unwrap_or(derived) * MS
    }
}

impl Params for TokenRingParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()?;
        if self.workload.resources.is_empty() {
            return Err("params.workload.resources must name the resources to create tokens for".into());
        }
        if self.ack_timeout_ms == 0 {
            return Err("params.ack_timeout_ms must be above 0".into());
        }
        if self.loss_timeout_ms == Some(0) {
            return Err("params.loss_timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// One resource's token as one node sees it.
#[derive(Debug, Default)]
struct ResourceToken {
    /// `(gen, hop)` of the token while this node holds it.
    token: Option<(u64, u64)>,
    /// The newest `(gen, hop)` this node has held or passed on.
    seen: (u64, u64),
    /// The round of this node's probe in progress.
    probing: Option<u64>,
    rounds: u64,
}

pub struct TokenRingNode {
    me: NodeId,
    /// Every id, in ring order.
    ids: Vec<NodeId>,
    params: TokenRingParams,
    loss_timeout: Nanos,
    /// Peers known to be alive: they announced themselves and have not failed to acknowledge.
    alive: BTreeSet<NodeId>,
    /// Ring messages sent and not yet acknowledged: seq → (to, message).
    unacked: BTreeMap<u64, (NodeId, TokenRingMsg)>,
    /// When each unacknowledged ring message was sent, on this node's clock.
    sent_at: BTreeMap<u64, Nanos>,
    /// When each peer was last heard from (any message), on this node's clock.
    heard_at: BTreeMap<NodeId, Nanos>,
    seq: u64,
    tokens: BTreeMap<String, ResourceToken>,
}

impl TokenRingNode {
    pub fn new(me: NodeId, peers: &[NodeId], params: TokenRingParams) -> Self {
        let mut ids = peers.to_vec();
        ids.push(me);
        ids.sort_unstable();
        let loss_timeout = params.loss_timeout(ids.len());
        let tokens = params.workload.resources.iter().map(|r| (r.clone(), ResourceToken::default())).collect();
        TokenRingNode {
            me,
            ids,
            params,
            loss_timeout,
            alive: BTreeSet::new(),
            unacked: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            heard_at: BTreeMap::new(),
            seq: 0,
            tokens,
        }
    }

    /// The next live process after this one in ring order (this one when it is alone).
    fn successor(&self) -> NodeId {
        let at = self.ids.iter().position(|id| *id == self.me).expect("in the ring");
        (1..self.ids.len())
            .map(|k| self.ids[(at + k) % self.ids.len()])
            .find(|id| self.alive.contains(id))
            .unwrap_or(self.me)
    }

    /// Sends a ring message to the successor and waits for its ACK.
    fn ring_send(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, to: NodeId, mut msg: TokenRingMsg) {
        self.seq += 1;
        let seq = self.seq;
        match &mut msg {
            TokenRingMsg::Token { seq: s, .. } | TokenRingMsg::Probe { seq: s, .. } => *s = seq,
            _ => {}
        }
        ctx.send(to, &msg);
        self.unacked.insert(seq, (to, msg));
        self.sent_at.insert(seq, ctx.now());
        ctx.set_timer(TokenRingTimer::Ack(seq), self.params.ack_timeout_ms * MS);
    }

    /// Whether this node holds the token of `resource` or has it on its way to the successor.
    fn has_token(&self, resource: &str) -> bool {
        self.tokens.get(resource).is_some_and(|r| r.token.is_some())
            || self.unacked.values().any(|(_, m)| matches!(m, TokenRingMsg::Token { resource: r, .. } if r == resource))
    }

    fn expect_token(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, resource: &str) {
        let jitter = ctx.rng().random_range(0..=self.loss_timeout / 2);
        ctx.set_timer(TokenRingTimer::Loss(resource.to_string()), self.loss_timeout + jitter);
    }

    /// This node now holds the token: use it if the client waits for the resource, else let it
    /// rest for `pass_delay` and pass it on.
    fn take_token(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, resource: &str, gen: u64, hop: u64) {
        let token = self.tokens.get_mut(resource).expect("known resource");
        token.token = Some((gen, hop));
        token.seen = token.seen.max((gen, hop));
        token.probing = None; // the token is alive
        self.expect_token(ctx, resource);
        if cs.wants(resource) {
            cs.enter(ctx, resource);
        } else {
            ctx.set_timer(TokenRingTimer::Pass(resource.to_string()), self.params.pass_delay_ms * MS);
        }
    }

    /// Sends the token to the successor, unless the client is inside or nobody else is alive.
    fn pass_token(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &Cs, resource: &str) {
        if cs.holds(resource) {
            return;
        }
        let to = self.successor();
        let token = self.tokens.get_mut(resource).expect("known resource");
        let Some((gen, hop)) = token.token else { return };
        if to == self.me {
            // Alone: keep the token and look again later.
            ctx.set_timer(TokenRingTimer::Pass(resource.to_string()), (self.params.pass_delay_ms * MS).max(10 * MS));
            return;
        }
        token.token = None;
        token.seen = token.seen.max((gen, hop + 1));
        ctx.emit(&MutexEvent::Token(TokenEvent {
            to: Some(to),
            gen: Some(gen),
            hop: Some(hop + 1),
            ..TokenEvent::new(resource, TokenOp::Send)
        }));
        self.ring_send(ctx, to, TokenRingMsg::Token { resource: resource.into(), gen, hop: hop + 1, seq: 0 });
        self.expect_token(ctx, resource);
    }

    /// No ACK from `to` for message `seq`: `to` is dead, unless it has been heard from since the
    /// message left (it restarted and announced itself: the message died with its previous
    /// incarnation); either way the message goes to the next live node.
    fn ack_timed_out(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, seq: u64) {
        let Some((to, msg)) = self.unacked.remove(&seq) else { return };
        let sent = self.sent_at.remove(&seq);
        let heard_since = sent.is_some_and(|s| self.heard_at.get(&to).is_some_and(|h| *h >= s));
        if !heard_since && self.alive.remove(&to) {
            ctx.emit(&TokenRingEvent::Suspect { node: to, reason: "no ack".into() });
        }
        match msg {
            TokenRingMsg::Token { resource, gen, hop, .. } => {
                // The token never arrived: take it back and pass it on to the next one.
                ctx.emit(&MutexEvent::Token(TokenEvent {
                    from: Some(to),
                    gen: Some(gen),
                    hop: Some(hop),
                    ..TokenEvent::new(&resource, TokenOp::Reclaim)
                }));
                self.take_token(ctx, cs, &resource, gen, hop);
                if !cs.holds(&resource) {
                    ctx.cancel_timer(TokenRingTimer::Pass(resource.to_string()));
                    self.pass_token(ctx, cs, &resource);
                }
            }
            probe @ TokenRingMsg::Probe { .. } => self.forward_probe(ctx, cs, probe),
            _ => {}
        }
    }

    /// Passes a probe to the successor; when this node is the only one left, the probe is back.
    fn forward_probe(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, probe: TokenRingMsg) {
        let to = self.successor();
        if to == self.me {
            self.on_probe(ctx, cs, probe);
        } else {
            self.ring_send(ctx, to, probe);
        }
    }

    /// The loss timer of `resource` fired: probe the ring unless the token is here.
    fn suspect_loss(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, resource: &str) {
        self.expect_token(ctx, resource); // look again if this probe dies
        if self.has_token(resource) {
            return;
        }
        let me = self.me;
        let token = self.tokens.get_mut(resource).expect("known resource");
        token.rounds += 1;
        token.probing = Some(token.rounds);
        let probe = TokenRingMsg::Probe {
            resource: resource.into(),
            origin: me,
            round: token.rounds,
            gen: token.seen.0,
            seq: 0,
        };
        ctx.emit(&TokenRingEvent::TokenSuspected { resource: resource.into(), round: token.rounds, gen: token.seen.0 });
        self.forward_probe(ctx, cs, probe);
    }

    fn on_probe(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, probe: TokenRingMsg) {
        let TokenRingMsg::Probe { resource, origin, round, gen, .. } = &probe else { return };
        let (origin, round, gen) = (*origin, *round, *gen);
        if !self.tokens.contains_key(resource) || self.has_token(resource) {
            return; // the token is here: not lost
        }
        let token = self.tokens.get_mut(resource).expect("known resource");
        if token.seen.0 > gen {
            return; // a newer token exists; the prober has not seen it yet
        }
        if origin == self.me {
            if token.probing == Some(round) {
                // Around the whole ring and nobody had it: the token is lost. Create the next one.
                token.probing = None;
                let gen = token.seen.0.max(gen) + 1;
                ctx.emit(&MutexEvent::Token(TokenEvent {
                    reason: Some("regenerated".into()),
                    gen: Some(gen),
                    ..TokenEvent::new(resource, TokenOp::Create)
                }));
                let resource = resource.clone();
                self.take_token(ctx, cs, &resource, gen, 0);
            }
            return;
        }
        if !self.alive.contains(&origin) {
            return; // its origin is gone: let the probe die rather than circle forever
        }
        if gen > token.seen.0 {
            // The prober has seen a newer generation than this node (which restarted, or never
            // held it): this node's own probe carries the older one and will be discarded on its
            // way round, so it cannot cover this one. Learn the generation (that creates no
            // token) and give way.
            token.seen = (gen, 0);
            token.probing = None;
        }
        if token.probing.is_some() {
            if origin < self.me {
                return; // our own probe covers this one
            }
            token.probing = None; // a higher origin probes: give way
        }
        let resource = resource.clone();
        self.expect_token(ctx, &resource); // someone is looking: no need to probe too
        self.forward_probe(ctx, cs, probe);
    }
}

impl MutexRules for TokenRingNode {
    type Msg = TokenRingMsg;
    type Timer = TokenRingTimer;
    type Durable = TokensCreated;

    fn start(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, _cs: &mut Cs, recovered: Option<TokensCreated>) {
        let peers: Vec<NodeId> = self.ids.iter().copied().filter(|id| *id != self.me).collect();
        *self = TokenRingNode::new(self.me, &peers, self.params.clone());
        ctx.broadcast(&TokenRingMsg::Alive { reply: true });
        let resources: Vec<String> = self.tokens.keys().cloned().collect();
        // Only the first start creates tokens: a restarted initial holder must not add a second.
        let create = self.me == self.params.initial_holder && recovered.is_none();
        if create {
            ctx.persist(&TokensCreated);
        }
        for resource in resources {
            if create {
                ctx.emit(&MutexEvent::Token(TokenEvent {
                    reason: Some("initial".into()),
                    gen: Some(1),
                    ..TokenEvent::new(&resource, TokenOp::Create)
                }));
                let token = self.tokens.get_mut(&resource).expect("known resource");
                token.token = Some((1, 0));
                token.seen = (1, 0);
                ctx.set_timer(TokenRingTimer::Pass(resource.to_string()), self.params.pass_delay_ms * MS);
            }
            self.expect_token(ctx, &resource);
        }
    }

    fn can_request(&self, resource: &str) -> Result<(), String> {
        token_resource("token-ring", &self.tokens, resource)
    }

    fn request(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, resource: &str) {
        cs.requested(ctx, Request::of(resource));
        if self.tokens.get(resource).is_some_and(|r| r.token.is_some()) {
            // The token rests here: use it instead of passing it on.
            ctx.cancel_timer(TokenRingTimer::Pass(resource.to_string()));
            cs.enter(ctx, resource);
        }
    }

    fn release(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, resource: &str) {
        self.pass_token(ctx, cs, resource);
    }

    fn message(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, from: NodeId, msg: TokenRingMsg) {
        // Any message shows its sender is alive.
        self.alive.insert(from);
        self.heard_at.insert(from, ctx.now());
        match msg {
            TokenRingMsg::Alive { reply } => {
                if reply {
                    ctx.send(from, &TokenRingMsg::Alive { reply: false });
                }
            }
            TokenRingMsg::Ack { seq } => {
                self.unacked.remove(&seq);
                self.sent_at.remove(&seq);
                ctx.cancel_timer(TokenRingTimer::Ack(seq));
            }
            TokenRingMsg::Token { resource, gen, hop, seq } => {
                ctx.send(from, &TokenRingMsg::Ack { seq });
                let Some(token) = self.tokens.get(&resource) else { return };
                if (gen, hop) <= token.seen || token.token.is_some() {
                    let discard = TokenEvent {
                        gen: Some(gen),
                        hop: Some(hop),
                        seen: Some(token.seen),
                        ..TokenEvent::new(&resource, TokenOp::Discard)
                    };
                    ctx.emit(&MutexEvent::Token(discard));
                    return;
                }
                ctx.emit(&MutexEvent::Token(TokenEvent {
                    from: Some(from),
                    gen: Some(gen),
                    hop: Some(hop),
                    ..TokenEvent::new(&resource, TokenOp::Receive)
                }));
                self.take_token(ctx, cs, &resource, gen, hop);
            }
            probe @ TokenRingMsg::Probe { .. } => {
                if let TokenRingMsg::Probe { seq, .. } = probe {
                    ctx.send(from, &TokenRingMsg::Ack { seq });
                }
                self.on_probe(ctx, cs, probe);
            }
        }
    }

    fn timer(&mut self, ctx: &mut MutexCtx<TokenRingTimer>, cs: &mut Cs, timer: TokenRingTimer) {
        match timer {
            TokenRingTimer::Pass(resource) => self.pass_token(ctx, cs, &resource),
            TokenRingTimer::Loss(resource) => self.suspect_loss(ctx, cs, &resource),
            TokenRingTimer::Ack(seq) => self.ack_timed_out(ctx, cs, seq),
        }
    }

    /// The `leader` fault target hits a token holder, so an experiment can kill it.
    fn leader(&self) -> Option<NodeId> {
        self.tokens.values().any(|r| r.token.is_some()).then_some(self.me)
    }

    fn state(&self) -> Value {
        let tokens: serde_json::Map<String, Value> = self
            .tokens
            .iter()
            .map(|(r, s)| (r.clone(), json!({ "token": s.token, "seen": s.seen, "probing": s.probing })))
            .collect();
        json!({ "alive": self.alive, "successor": self.successor(), "tokens": tokens })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct TokenRing;

pub const PASSES_BEFORE_ENTRY: PropertyInfo = PropertyInfo {
    name: "passes_before_entry",
    promise: "between a request and its entry the token passes at most N−1 other nodes (when no fault intervenes)",
};

impl Spec for TokenRing {
    const NAME: &'static str = "token-ring";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "token ring mutex: the token circulates P_i → P_(i+1 mod N); a lost token is detected and regenerated once";
    type Params = TokenRingParams;

    fn build(me: NodeId, peers: &[NodeId], p: &TokenRingParams) -> Result<impl crate::Process, String> {
        if p.initial_holder != me && !peers.contains(&p.initial_holder) {
            return Err(format!("params.initial_holder: node {} is not in the cluster", p.initial_holder));
        }
        Ok(MutexNode::new(TokenRingNode::new(me, peers, p.clone()), p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![MUTUAL_EXCLUSION, LIVENESS, TOKEN_CONSERVATION, PASSES_BEFORE_ENTRY]
    }

    fn check(run: &Execution, _p: &TokenRingParams) -> CheckReport {
        let h = History::from_run(run);
        let mut report = common_report(run, &h);
        report.properties.push(token_conservation(run, &h));
        report.properties.push(passes_before_entry(run, &h));
        let cost = Cost::of(run, &h, &MEMBERSHIP);
        let passes = cost.by_type.get("token").copied().unwrap_or(0);
        let mut metric = cost.metric("1 to ∞ token passes", None);
        metric["token_passes"] = json!(if h.entries() == 0 { 0.0 } else { passes as f64 / h.entries() as f64 });
        report.metrics.insert("messages_per_entry".into(), metric);
        let regenerated = run
            .records
            .iter()
            .filter(|r| r.event_name() == Some("token") && event_data(r).get("reason") == Some(&json!("regenerated")))
            .count();
        report.metrics.insert("tokens_regenerated".into(), json!(regenerated));
        report
    }
}

/// At most N−1 other nodes receive the token between a request and its entry, judged for requests
/// during which no fault struck and no token was regenerated.
fn passes_before_entry(run: &Execution, h: &History) -> PropertyResult {
    let n = run.nodes.len();
    let faults: Vec<u64> = run.disturbances().iter().map(|f| f.t).collect();
    let mut receipts: BTreeMap<&str, Vec<&crate::core::trace::TraceRecord>> = BTreeMap::new();
    let mut creations: Vec<u64> = Vec::new();
    for r in run.records.iter().filter(|r| r.event_name() == Some("token")) {
        let data = event_data(r);
        match data.get("op").and_then(Value::as_str) {
            Some("receive") => {
                if let Some(res) = data.get("resource").and_then(Value::as_str) {
                    receipts.entry(res).or_default().push(r);
                }
            }
            Some("create") => creations.push(r.t),
            _ => {}
        }
    }
    let (mut judged, mut most) = (0, 0);
    for s in &h.sections {
        let Some(request) = s.request else { continue };
        let window = request.t..s.start.t;
        if faults.iter().chain(&creations).any(|t| window.contains(t)) {
            continue;
        }
        let passes: Vec<_> = receipts
            .get(s.resource.as_str())
            .map(|list| list.iter().filter(|r| r.node != s.node && window.contains(&r.t)).collect())
            .unwrap_or_default();
        judged += 1;
        most = most.max(passes.len());
        if passes.len() > n.saturating_sub(1) {
            let detail = format!(
                "node {} waited for {:?} from {:.1} ms to {:.1} ms while the token passed {} other nodes (N−1 = {})",
                s.node,
                s.resource,
                run.ms(request.t),
                run.ms(s.start.t),
                passes.len(),
                n - 1
            );
            let mut evidence = vec![EventRef::of(request), EventRef::of(s.start)];
            evidence.extend(passes.iter().map(|r| EventRef::of(r)));
            return PropertyResult::violated(PASSES_BEFORE_ENTRY.name, detail, evidence);
        }
    }
    let detail = format!("{judged} entries judged; at most {most} other node(s) had the token first (N−1 = {})", n - 1);
    PropertyResult::held(PASSES_BEFORE_ENTRY.name, judged, "entry without a fault in its wait", detail)
}

//! Suzuki–Kasami (1985): broadcast requests with sequence numbers; one token per resource carries
//! who was served last and who waits.
//!
//! Rules (Suzuki and Kasami, "A distributed mutual exclusion algorithm", 1985):
//! - Every node keeps `RN[j]`, the highest request number it has heard from node j. The token
//!   carries `LN[j]`, the number of j's request served last, and a queue Q of waiting nodes.
//! - To enter R: a node holding R's (idle) token enters at once, with no message. Otherwise it
//!   increments `RN[i]` and broadcasts REQUEST(R, i, RN\[i\]).
//! - On REQUEST(R, j, n): `RN[j] = max(RN[j], n)`. A node holding R's idle token sends it to j
//!   if that request is outstanding (`RN[j] = LN[j] + 1`); an older, duplicate request is ignored.
//! - On receiving the token: enter.
//! - On leaving R: `LN[i] = RN[i]`; append to Q every j not in Q with `RN[j] = LN[j] + 1`; if Q
//!   is not empty, send the token to its head (removed from Q). Otherwise keep the token.
//!
//! Promise: one token per resource; mutual exclusion; no starvation (every outstanding request
//! joins Q at the next release and Q is FIFO); N messages per entry (N−1 requests and the token),
//! 0 when the node already holds the token. A lost token is not regenerated: no crash is claimed.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{
    common_report, request_of, token_conservation, Cost, History, LIVENESS, MUTUAL_EXCLUSION, TOKEN_CONSERVATION,
};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Message, NoTimer, NodeId};
use crate::core::trace::TraceRecord;
use crate::mutex::event::{MutexEvent, Request, TokenEvent, TokenOp};
use crate::mutex::host::{token_resource, Cs, MutexCtx, MutexNode, MutexRules, TokensCreated};
use crate::mutex::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// `LN[j]`: the number of node j's request served last.
    pub ln: BTreeMap<NodeId, u64>,
    /// Nodes waiting for the token, in the order they will get it.
    pub queue: VecDeque<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SkMsg {
    Request { resource: String, n: u64 },
    Token { resource: String, token: Token },
}

impl Message for SkMsg {
    fn kind(&self) -> &'static str {
        match self {
            SkMsg::Request { .. } => "request",
            SkMsg::Token { .. } => "token",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SkParams {
    /// The resources named here each get a token.
    pub workload: Workload,
    /// The node that creates the tokens when it first starts.
    pub initial_holder: NodeId,
}

impl Default for SkParams {
    fn default() -> Self {
        SkParams { workload: Workload::default(), initial_holder: 1 }
    }
}

impl Params for SkParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        self.workload.validate()
    }
}

/// One resource as one node sees it.
#[derive(Debug, Default)]
struct Resource {
    /// `RN[j]`: the highest request number heard from j (ours included).
    rn: BTreeMap<NodeId, u64>,
    /// The token, while this node holds it.
    token: Option<Token>,
}

pub struct SkNode {
    me: NodeId,
    peers: Vec<NodeId>,
    initial_holder: NodeId,
    resources: BTreeMap<String, Resource>,
}

impl SkNode {
    fn new(me: NodeId, peers: &[NodeId], initial_holder: NodeId, names: &[String]) -> Self {
        let resources = names.iter().map(|r| (r.clone(), Resource::default())).collect();
        SkNode { me, peers: peers.to_vec(), initial_holder, resources }
    }

    /// Whether j's request `RN[j]` is still outstanding by the token's book.
    fn outstanding(res: &Resource, token: &Token, j: NodeId) -> bool {
        res.rn.get(&j).copied().unwrap_or(0) == token.ln.get(&j).copied().unwrap_or(0) + 1
    }

    fn send_token(&mut self, ctx: &mut MutexCtx, resource: &str, to: NodeId) {
        let Some(token) = self.resources.get_mut(resource).and_then(|r| r.token.take()) else { return };
        ctx.emit(&MutexEvent::Token(TokenEvent {
            to: Some(to),
            queue: Some(token.queue.iter().copied().collect()),
            ..TokenEvent::new(resource, TokenOp::Send)
        }));
        ctx.send(to, &SkMsg::Token { resource: resource.into(), token });
    }

    /// Leaving R (or holding an unwanted token): bring Q up to date and pass the token to its head.
    fn pass_on(&mut self, ctx: &mut MutexCtx, resource: &str) {
        let me = self.me;
        let mut ids: Vec<NodeId> = self.peers.clone();
        ids.push(me);
        ids.sort_unstable();
        let Some(res) = self.resources.get_mut(resource) else { return };
        let Some(mut token) = res.token.take() else { return };
        for j in ids {
            if j != me && !token.queue.contains(&j) && Self::outstanding(res, &token, j) {
                token.queue.push_back(j);
            }
        }
        let next = token.queue.pop_front();
        res.token = Some(token);
        if let Some(next) = next {
            self.send_token(ctx, resource, next);
        }
    }
}

impl MutexRules for SkNode {
    type Msg = SkMsg;
    type Timer = NoTimer;
    type Durable = TokensCreated;

    fn start(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, recovered: Option<TokensCreated>) {
        let names: Vec<String> = self.resources.keys().cloned().collect();
        *self = SkNode::new(self.me, &self.peers, self.initial_holder, &names);
        // Only the first start creates tokens: a restarted initial holder must not add a second.
        if self.me == self.initial_holder && recovered.is_none() {
            ctx.persist(&TokensCreated);
            for (name, res) in &mut self.resources {
                res.token = Some(Token::default());
                ctx.emit(&MutexEvent::Token(TokenEvent {
                    reason: Some("initial".into()),
                    ..TokenEvent::new(name, TokenOp::Create)
                }));
            }
        }
    }

    fn can_request(&self, resource: &str) -> Result<(), String> {
        token_resource("suzuki-kasami", &self.resources, resource)
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let me = self.me;
        let Some(res) = self.resources.get_mut(resource) else { return };
        if res.token.is_some() {
            cs.requested(ctx, Request { has_token: Some(true), ..Request::of(resource) });
            return cs.enter(ctx, resource);
        }
        let n = res.rn.entry(me).or_insert(0);
        *n += 1;
        let n = *n;
        cs.requested(ctx, Request { has_token: Some(false), n: Some(n), ..Request::of(resource) });
        ctx.broadcast(&SkMsg::Request { resource: resource.into(), n });
    }

    fn release(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, resource: &str) {
        let me = self.me;
        if let Some(res) = self.resources.get_mut(resource) {
            let served = res.rn.get(&me).copied().unwrap_or(0);
            if let Some(token) = res.token.as_mut() {
                token.ln.insert(me, served);
            }
        }
        self.pass_on(ctx, resource);
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: SkMsg) {
        match msg {
            SkMsg::Request { resource, n } => {
                let Some(res) = self.resources.get_mut(&resource) else { return };
                let rn = res.rn.entry(from).or_insert(0);
                *rn = (*rn).max(n);
                let idle_token = res.token.as_ref().filter(|_| !cs.holds(&resource));
                if idle_token.is_some_and(|t| Self::outstanding(res, t, from)) {
                    self.send_token(ctx, &resource, from);
                }
            }
            SkMsg::Token { resource, token } => {
                let Some(res) = self.resources.get_mut(&resource) else { return };
                res.token = Some(token);
                ctx.emit(&MutexEvent::Token(TokenEvent::new(&resource, TokenOp::Receive)));
                if cs.wants(&resource) {
                    cs.enter(ctx, &resource);
                } else {
                    self.pass_on(ctx, &resource);
                }
            }
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.resources.values().any(|r| r.token.is_some()).then_some(self.me)
    }

    fn state(&self) -> Value {
        let resources: serde_json::Map<String, Value> =
            self.resources.iter().map(|(r, s)| (r.clone(), json!({ "rn": s.rn, "token": s.token }))).collect();
        json!(resources)
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct SuzukiKasami;

impl Spec for SuzukiKasami {
    const NAME: &'static str = "suzuki-kasami";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "Suzuki–Kasami token mutex: broadcast numbered requests, the token carries LN and a queue (N messages per entry, 0 with the token)";
    type Params = SkParams;

    fn build(me: NodeId, peers: &[NodeId], p: &SkParams) -> Result<impl crate::Process, String> {
        if p.initial_holder != me && !peers.contains(&p.initial_holder) {
            return Err(format!("params.initial_holder: node {} is not in the cluster", p.initial_holder));
        }
        if p.workload.resources.is_empty() {
            return Err("params.workload.resources must name the resources to create tokens for".into());
        }
        let rules = SkNode::new(me, peers, p.initial_holder, &p.workload.resources);
        Ok(MutexNode::new(rules, p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            TOKEN_CONSERVATION,
            PropertyInfo {
                name: "message_cost",
                promise: "N messages per entry (N−1 requests and the token), 0 when the token is already here",
            },
        ]
    }

    fn check(run: &Execution, _p: &SkParams) -> CheckReport {
        let h = History::from_run(run);
        let mut report = common_report(run, &h);
        report.properties.push(token_conservation(run, &h));
        let n = run.nodes.len() as u64;
        // Each request made without the token costs N−1 requests, plus the token once it is sent
        // to the requester: at least (N−1)·asked + entered-by-token, at most N·asked.
        let without_token = |r: &TraceRecord| request_of(r).is_some_and(|q| q.has_token == Some(false));
        let asked = run.records.iter().filter(|r| without_token(r)).count() as u64;
        let got_token = h.sections.iter().filter(|s| s.request.is_some_and(without_token)).count() as u64;
        let held = h.sections.iter().filter(|s| s.request.is_some_and(|r| !without_token(r))).count();
        let cost = Cost::of(run, &h, &[]);
        let textbook = format!("N = {n} (0 with the token)");
        report.properties.push(cost.judge("message_cost", (n - 1) * asked + got_token, n * asked, &textbook));
        let mut metric = cost.metric(&textbook, Some(n as f64));
        metric["entries_with_token_at_hand"] = json!(held);
        report.metrics.insert("messages_per_entry".into(), metric);
        report
    }
}

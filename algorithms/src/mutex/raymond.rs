//! Raymond's tree-based token algorithm (1989): one token per resource on a spanning tree; every
//! node's `holder` points at the neighbour in whose direction the token lies.
//!
//! It stands for the course's "Raynal's algorithm" line (`002_*.txt`, "Other algorithms"): the
//! course names no rules for it, and the token-on-a-tree algorithm taught beside Suzuki–Kasami and
//! Maekawa is Raymond's (K. Raymond, "A tree-based algorithm for distributed mutual exclusion",
//! ACM TOCS 7(1), 1989); Raynal's survey books present it under that heading.
//!
//! Rules (Raymond 1989), for each resource, at node i:
//! - State: `holder` (i itself when it has the token), a FIFO `queue` of neighbours (and i) that
//!   asked through i, `asked` (a REQUEST is out for the queue's sake), `using` (i is inside).
//! - ASSIGN_PRIVILEGE: if `holder = i`, not `using` and the queue is not empty: take its head h,
//!   `asked := false`; if h = i, enter; else `holder := h` and send PRIVILEGE to h.
//! - MAKE_REQUEST: if `holder ≠ i`, the queue is not empty and not `asked`: send REQUEST to
//!   `holder`, `asked := true`.
//! - To enter: append i to the queue, ASSIGN_PRIVILEGE, MAKE_REQUEST.
//! - On REQUEST from a neighbour j: append j, ASSIGN_PRIVILEGE, MAKE_REQUEST.
//! - On PRIVILEGE: `holder := i`, ASSIGN_PRIVILEGE, MAKE_REQUEST.
//! - On leaving: `using := false`, ASSIGN_PRIVILEGE, MAKE_REQUEST.
//!
//! The tree: nodes in id order laid out as a balanced `fanout`-ary tree (the parent of the k-th
//! node, counting from 0, is the ⌊(k−1)/fanout⌋-th): with the default fanout 2 and ids 1..=N,
//! node i's parent is ⌊i/2⌋. Fanout 1 is a line, N−1 a star.
//!
//! Promise: one token per resource; mutual exclusion; no starvation (FIFO queues); at most 2D
//! messages per entry, D the tree's diameter (2⌊log₂ N⌋ or less on the binary tree: O(log N)),
//! a REQUEST up the path and the PRIVILEGE down it; at least one PRIVILEGE for an entry without the
//! token at hand, none with it. Messages go only along tree edges. A lost token is not
//! regenerated: no crash is claimed (a restarted node points back toward the initial holder).

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::mutex::{
    common_report, event_data, token_conservation, Cost, History, LIVENESS, MUTUAL_EXCLUSION, TOKEN_CONSERVATION,
};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Message, NoTimer, NodeId};
use crate::mutex::event::{MutexEvent, Request, TokenEvent, TokenOp};
use crate::mutex::host::{token_resource, Cs, MutexCtx, MutexNode, MutexRules, TokensCreated};
use crate::mutex::workload::Workload;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaymondMsg {
    /// "Send me the token": from a node to its `holder`, for the sake of its queue.
    Request { resource: String },
    /// The token itself, to a neighbour.
    Privilege { resource: String },
}

impl Message for RaymondMsg {
    fn kind(&self) -> &'static str {
        match self {
            RaymondMsg::Request { .. } => "request",
            RaymondMsg::Privilege { .. } => "privilege",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaymondParams {
    /// The resources named here each get a token.
    pub workload: Workload,
    /// The node that creates the tokens when it first starts; every holder pointer starts toward it.
    pub initial_holder: NodeId,
    /// Children per node of the spanning tree: the nodes in id order as a balanced tree of this
    /// fanout (2: a binary tree, node i's parent is ⌊i/2⌋; 1: a line; N−1: a star).
    pub fanout: usize,
}

impl Default for RaymondParams {
    fn default() -> Self {
        RaymondParams { workload: Workload::default(), initial_holder: 1, fanout: 2 }
    }
}

impl Params for RaymondParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if self.fanout == 0 {
            return Err("params.fanout must be at least 1 (1 is a line)".into());
        }
        self.workload.validate()
    }
}

/// The spanning tree: `ids` in order as a balanced tree of `fanout` children per node.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    ids: Vec<NodeId>,
    fanout: usize,
}

impl Tree {
    pub fn new(ids: &[NodeId], fanout: usize) -> Tree {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Tree { ids, fanout: fanout.max(1) }
    }

    fn index(&self, id: NodeId) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// The node's parent; `None` for the root (the lowest id).
    pub fn parent(&self, id: NodeId) -> Option<NodeId> {
        let k = self.index(id)?;
        (k > 0).then(|| self.ids[(k - 1) / self.fanout])
    }

    /// The node's tree neighbours: its parent and its children.
    pub fn neighbours(&self, id: NodeId) -> Vec<NodeId> {
        self.ids.iter().copied().filter(|&j| self.parent(j) == Some(id) || self.parent(id) == Some(j)).collect()
    }

    /// The path from `id` up to the root, `id` first.
    fn to_root(&self, id: NodeId) -> Vec<NodeId> {
        let mut path = vec![id];
        while let Some(p) = self.parent(*path.last().expect("never empty")) {
            path.push(p);
        }
        path
    }

    /// The first step from `from` toward `to` along the tree (`from` itself when they are one).
    pub fn next_hop(&self, from: NodeId, to: NodeId) -> NodeId {
        if from == to {
            return from;
        }
        let up = self.to_root(to);
        match up.iter().position(|&a| a == from) {
            // `from` is an ancestor of `to`: step down to the child on the way.
            Some(at) => up[at - 1],
            None => self.parent(from).unwrap_or(from),
        }
    }

    /// The number of edges between two nodes.
    pub fn distance(&self, a: NodeId, b: NodeId) -> usize {
        let (up_a, up_b) = (self.to_root(a), self.to_root(b));
        let common = up_a.iter().position(|x| up_b.contains(x)).unwrap_or(up_a.len());
        let meet = up_a.get(common).copied();
        common + meet.and_then(|m| up_b.iter().position(|&x| x == m)).unwrap_or(up_b.len())
    }

    /// The longest distance between two nodes: the longest path a request or the token travels.
    pub fn diameter(&self) -> usize {
        let pairs = self.ids.iter().flat_map(|&a| self.ids.iter().map(move |&b| (a, b)));
        pairs.map(|(a, b)| self.distance(a, b)).max().unwrap_or(0)
    }
}

/// One resource as one node sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
struct Resource {
    /// This node when it has the token, else the neighbour toward it.
    holder: NodeId,
    /// Who asked through this node (neighbours, or itself), in order.
    queue: VecDeque<NodeId>,
    /// A REQUEST is out to `holder` for the queue's sake.
    asked: bool,
}

pub struct RaymondNode {
    me: NodeId,
    tree: Tree,
    initial_holder: NodeId,
    names: Vec<String>,
    resources: BTreeMap<String, Resource>,
}

impl RaymondNode {
    pub fn new(me: NodeId, peers: &[NodeId], initial_holder: NodeId, fanout: usize, names: &[String]) -> Self {
        let mut ids = peers.to_vec();
        ids.push(me);
        let tree = Tree::new(&ids, fanout);
        let mut node = RaymondNode { me, tree, initial_holder, names: names.to_vec(), resources: BTreeMap::new() };
        node.reset();
        node
    }

    /// Every holder pointer toward the initial holder, every queue empty.
    fn reset(&mut self) {
        let holder = self.tree.next_hop(self.me, self.initial_holder);
        let fresh = Resource { holder, queue: VecDeque::new(), asked: false };
        self.resources = self.names.iter().map(|r| (r.clone(), fresh.clone())).collect();
    }

    /// ASSIGN_PRIVILEGE, then MAKE_REQUEST.
    fn assign_and_request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let me = self.me;
        let Some(res) = self.resources.get_mut(resource) else { return };
        if res.holder == me && !cs.holds(resource) {
            if let Some(head) = res.queue.pop_front() {
                res.asked = false;
                if head == me {
                    cs.enter(ctx, resource);
                } else {
                    res.holder = head;
                    ctx.emit(&MutexEvent::Token(TokenEvent {
                        to: Some(head),
                        ..TokenEvent::new(resource, TokenOp::Send)
                    }));
                    ctx.send(head, &RaymondMsg::Privilege { resource: resource.into() });
                }
            }
        }
        if res.holder != me && !res.queue.is_empty() && !res.asked {
            res.asked = true;
            ctx.send(res.holder, &RaymondMsg::Request { resource: resource.into() });
        }
    }
}

impl MutexRules for RaymondNode {
    type Msg = RaymondMsg;
    type Timer = NoTimer;
    type Durable = TokensCreated;

    fn start(&mut self, ctx: &mut MutexCtx, _cs: &mut Cs, recovered: Option<TokensCreated>) {
        self.reset();
        if self.me != self.initial_holder {
            return;
        }
        if recovered.is_some() {
            // The token left with this node's memory: point to a neighbour rather than at a
            // token that is not here (a restarted root would otherwise enter without it).
            let away = self.tree.neighbours(self.me).first().copied().unwrap_or(self.me);
            self.resources.values_mut().for_each(|r| r.holder = away);
            return;
        }
        // Only the first start creates tokens: a restarted initial holder must not add a second.
        ctx.persist(&TokensCreated);
        for name in self.resources.keys() {
            ctx.emit(&MutexEvent::Token(TokenEvent {
                reason: Some("initial".into()),
                ..TokenEvent::new(name, TokenOp::Create)
            }));
        }
    }

    fn can_request(&self, resource: &str) -> Result<(), String> {
        token_resource("raymond", &self.resources, resource)
    }

    fn request(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        let me = self.me;
        let Some(res) = self.resources.get_mut(resource) else { return };
        cs.requested(ctx, Request { has_token: Some(res.holder == me), ..Request::of(resource) });
        res.queue.push_back(me);
        self.assign_and_request(ctx, cs, resource);
    }

    fn release(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, resource: &str) {
        self.assign_and_request(ctx, cs, resource);
    }

    fn message(&mut self, ctx: &mut MutexCtx, cs: &mut Cs, from: NodeId, msg: RaymondMsg) {
        let (RaymondMsg::Request { resource } | RaymondMsg::Privilege { resource }) = &msg;
        let Some(res) = self.resources.get_mut(resource) else { return };
        match msg {
            RaymondMsg::Request { .. } => res.queue.push_back(from),
            RaymondMsg::Privilege { .. } => {
                res.holder = self.me;
                let received = TokenEvent { from: Some(from), ..TokenEvent::new(resource, TokenOp::Receive) };
                ctx.emit(&MutexEvent::Token(received));
            }
        }
        let resource = resource.clone();
        self.assign_and_request(ctx, cs, &resource);
    }

    fn leader(&self) -> Option<NodeId> {
        self.resources.values().any(|r| r.holder == self.me).then_some(self.me)
    }

    fn state(&self) -> Value {
        json!({ "resources": self.resources, "neighbours": self.tree.neighbours(self.me) })
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Raymond;

impl Spec for Raymond {
    const NAME: &'static str = "raymond";
    const FAMILY: Family = Family::Mutex;
    const SUMMARY: &'static str =
        "Raymond's tree token mutex: holder pointers toward the token on a spanning tree, FIFO request queues (at most 2D messages per entry, O(log N) on the binary tree)";
    type Params = RaymondParams;

    fn build(me: NodeId, peers: &[NodeId], p: &RaymondParams) -> Result<impl crate::Process, String> {
        if p.initial_holder != me && !peers.contains(&p.initial_holder) {
            return Err(format!("params.initial_holder: node {} is not in the cluster", p.initial_holder));
        }
        if p.workload.resources.is_empty() {
            return Err("params.workload.resources must name the resources to create tokens for".into());
        }
        let rules = RaymondNode::new(me, peers, p.initial_holder, p.fanout, &p.workload.resources);
        Ok(MutexNode::new(rules, p.workload.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            MUTUAL_EXCLUSION,
            LIVENESS,
            TOKEN_CONSERVATION,
            PropertyInfo {
                name: "message_cost",
                promise: "at most 2D messages per request made without the token (D: the tree's diameter, O(log N)), at least one PRIVILEGE per such entry; none with the token at hand",
            },
        ]
    }

    fn check(run: &Execution, p: &RaymondParams) -> CheckReport {
        let h = History::from_run(run);
        let mut report = common_report(run, &h);
        report.properties.push(token_conservation(run, &h));
        let d = Tree::new(&run.nodes, p.fanout).diameter() as u64;
        // Every request made without the token may cost a REQUEST up the path to the token and
        // the PRIVILEGE back down, 2D at most (entered or not); each entry made without it took at
        // least the one PRIVILEGE that brought the token.
        let without_token = |r: &crate::core::trace::TraceRecord| event_data(r).get("has_token") == Some(&json!(false));
        let asked = run.records.iter().filter(|r| r.event_name() == Some("request") && without_token(r)).count() as u64;
        let got_token = h.sections.iter().filter(|s| s.request.is_some_and(without_token)).count() as u64;
        let held = h.sections.iter().filter(|s| s.request.is_some_and(|r| !without_token(r))).count();
        let cost = Cost::of(run, &h, &[]);
        let textbook = format!("at most 2D = {} (D = {d}, the tree's diameter), 0 with the token", 2 * d);
        report.properties.push(cost.judge("message_cost", got_token, 2 * d * asked, &textbook));
        let mut metric = cost.metric(&textbook, Some((2 * d) as f64));
        metric["entries_with_token_at_hand"] = json!(held);
        metric["diameter"] = json!(d);
        report.metrics.insert("messages_per_entry".into(), metric);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_tree_is_the_heap_layout_by_id() {
        let tree = Tree::new(&[1, 2, 3, 4, 5, 6, 7], 2);
        assert_eq!((tree.parent(1), tree.parent(2), tree.parent(3), tree.parent(7)), (None, Some(1), Some(1), Some(3)));
        assert_eq!(tree.neighbours(2), vec![1, 4, 5]);
        assert_eq!(tree.next_hop(4, 7), 2, "up from 4 ...");
        assert_eq!(tree.next_hop(1, 7), 3, "... down from the root");
        assert_eq!(tree.next_hop(3, 7), 7);
        assert_eq!(tree.distance(4, 7), 4);
        assert_eq!(tree.diameter(), 4, "2⌊log₂ 7⌋");
        assert_eq!(Tree::new(&[1, 2, 3, 4, 5], 1).diameter(), 4, "a line");
        assert_eq!(Tree::new(&[1, 2, 3, 4, 5], 4).diameter(), 2, "a star");
        assert_eq!(Tree::new(&[1], 2).diameter(), 0);
    }
}

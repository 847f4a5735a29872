//! `zk-election`: leader election on the coordination service, by the lock's scheme (Hunt et al.,
//! §2.4; the course: "the smallest sequence node leads; on the leader's crash the next takes
//! over").
//!
//! Rules, for each client (the election is the directory `/election`):
//! 1. With a session (the first time, after the client's `stagger`) it volunteers (`election_started`): it creates `/election/n-`, ephemeral and
//!    sequential (creating `/election` first, once; "already there" will do).
//! 2. It lists `/election`'s candidates (`n-…`). If its node is the lowest, it leads (`elected`,
//!    `leader` naming itself) and publishes itself: `/election/leader`, ephemeral, its id as data.
//! 3. Otherwise it watches the next lower candidate only (`exists` with a watch; gone already:
//!    back to 2), and learns the leader from `/election/leader`: `exists` with a watch, then
//!    `get` when it is there (`leader` naming the id read); deleted, the leader is lost
//!    (`leader_lost`) until the next one publishes itself.
//! 4. The next lower candidate deleted: back to 2. `/election/leader` created or deleted: back to
//!    its part of 3. Its session moved to another server: both again (the client also carries its
//!    watches over, SetWatches).
//! 5. Its session expired: its node went with it; with the new session, back to 1.
//!
//! The leader's crash expires its session, which deletes its candidate node and
//! `/election/leader` in one transaction: the next candidate is woken and leads, every follower
//! sees the leader gone, then the new one. Judged by the election checkers: `single_leader` (no
//! two clients believe they lead at once), `stable_agreement` and `election_within_bound` with
//! `params.operation_bound_ms` as the bound (it must be above the session timeout: a takeover
//! waits for the leader's session to expire).

use super::{client_index, RecipeEvent, RecipeOptions};
use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::election::{
    election_latency, episodes, overlapping_reigns, stable_agreement, Elections, Expect, Timed,
};
use crate::check::events::ElectionEvent;
use crate::check::{CheckReport, Execution, PropertyResult};
use crate::consensus::zab::ZabParams;
use crate::coordination::client::{Driver, ZkClient, ZkTimer};
use crate::coordination::service::{Call, ZkOutcome, ZkServer};
use crate::coordination::tree::{EventKind, TreeOp, TreeResult};
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NodeId, Process, MS};
use crate::service::client::Workload;
use std::collections::{BTreeSet, VecDeque};

pub const DIR: &str = "/election";
pub const PREFIX: &str = "/election/n-";
pub const LEADER: &str = "/election/leader";

pub const SINGLE_LEADER: PropertyInfo =
    PropertyInfo { name: "single_leader", promise: "no two clients believe they lead at the same time" };
pub const STABLE_AGREEMENT: PropertyInfo = PropertyInfo {
    name: "stable_agreement",
    promise: "in every stable period the live clients agree on one live leader",
};
pub const ELECTION_WITHIN_BOUND: PropertyInfo = PropertyInfo {
    name: "election_within_bound",
    promise:
        "after the start and every leader's death the clients agree on a new leader within params.operation_bound_ms",
};

/// One client's election recipe (see the module doc).
pub struct ElectionRecipe {
    me: NodeId,
    /// Its first volunteering waits this long ...
    stagger: Nanos,
    /// ... on this timer; then it has started.
    timed: bool,
    started: bool,
    dir_ready: bool,
    /// Its candidate node, once created.
    mine: Option<String>,
    leading: bool,
    /// The leader it last named.
    view: Option<NodeId>,
    /// Waiting for the next lower candidate's deletion.
    waiting: bool,
    todo: VecDeque<Call>,
}

fn op(op: TreeOp) -> Call {
    Call::Op(op)
}

fn list() -> Call {
    op(TreeOp::Children { path: DIR.into(), watch: false })
}

fn watch_leader() -> Call {
    op(TreeOp::Exists { path: LEADER.into(), watch: true })
}

impl ElectionRecipe {
    pub fn new(me: NodeId, stagger: Nanos) -> ElectionRecipe {
        ElectionRecipe {
            me,
            stagger,
            timed: false,
            started: stagger == 0,
            dir_ready: false,
            mine: None,
            leading: false,
            view: None,
            waiting: false,
            todo: VecDeque::new(),
        }
    }

    /// Rule 1.
    fn volunteer(&mut self) {
        self.mine = None;
        self.waiting = false;
        let data = self.me.to_string();
        self.todo.clear();
        self.todo.push_back(match self.dir_ready {
            true => op(TreeOp::Create { path: PREFIX.into(), data, ephemeral: true, sequential: true }),
            false => op(TreeOp::Create { path: DIR.into(), data: String::new(), ephemeral: false, sequential: false }),
        });
    }

    fn name(&mut self, ctx: &mut Ctx<ZkTimer>, leader: Option<NodeId>) {
        if leader == self.view {
            return;
        }
        match leader {
            Some(l) => ctx.emit(&ElectionEvent::leader(l)),
            None => ctx.emit(&ElectionEvent::leader_lost(self.view.unwrap_or_default(), "leader node deleted")),
        }
        self.view = leader;
    }

    /// Rules 2 and 3, on a listing of the election directory.
    fn decide(&mut self, ctx: &mut Ctx<ZkTimer>, names: &[String]) {
        let Some(mine) = self.mine.clone() else { return };
        let mut nodes: Vec<&str> = names.iter().map(String::as_str).filter(|n| n.starts_with("n-")).collect();
        nodes.sort_unstable();
        let Some(at) = nodes.iter().position(|n| *n == &mine[DIR.len() + 1..]) else {
            return self.volunteer();
        };
        if at == 0 {
            self.leading = true;
            ctx.emit(&ElectionEvent::elected(self.me));
            self.name(ctx, Some(self.me));
            let data = self.me.to_string();
            self.todo.push_back(op(TreeOp::Create { path: LEADER.into(), data, ephemeral: true, sequential: false }));
            return;
        }
        let lower = format!("{DIR}/{}", nodes[at - 1]);
        ctx.emit(&RecipeEvent::LockWait { path: lower.clone() });
        self.waiting = true;
        self.todo.push_back(op(TreeOp::Exists { path: lower, watch: true }));
        self.todo.push_back(watch_leader());
    }
}

impl Driver for ElectionRecipe {
    fn next(&mut self, ctx: &mut Ctx<ZkTimer>) -> Option<Call> {
        if !self.started {
            if !self.timed {
                self.timed = true;
                ctx.set_timer(ZkTimer::Recipe, self.stagger);
            }
            return None;
        }
        if self.mine.is_none() && self.todo.is_empty() {
            ctx.emit(&ElectionEvent::started());
            self.volunteer();
        }
        self.todo.pop_front()
    }

    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, call: &Call, _zxid: u64, outcome: &ZkOutcome) {
        let (Call::Op(o), ZkOutcome::Done(result)) = (call, outcome) else { return };
        match (o, result) {
            (TreeOp::Create { path, .. }, _) if path == DIR => {
                self.dir_ready = true;
                self.volunteer();
            }
            (TreeOp::Create { path, .. }, TreeResult::Created { path: made }) if path == PREFIX => {
                ctx.emit(&RecipeEvent::LockNode { path: made.clone() });
                self.mine = Some(made.clone());
                self.todo.push_back(list());
            }
            (TreeOp::Create { path, .. }, _) if path == PREFIX => {
                self.dir_ready = false;
                self.volunteer();
            }
            (TreeOp::Children { .. }, TreeResult::Children { names }) => self.decide(ctx, names),
            (TreeOp::Exists { path, .. }, TreeResult::NoNode { .. }) if path != LEADER && self.waiting => {
                self.waiting = false;
                self.todo.push_front(list());
            }
            (TreeOp::Exists { path, .. }, TreeResult::Stat { .. }) if path == LEADER && !self.leading => {
                self.todo.push_back(op(TreeOp::Get { path: LEADER.into(), watch: false }));
            }
            (TreeOp::Get { path, .. }, TreeResult::Data { data, .. }) if path == LEADER && !self.leading => {
                self.name(ctx, data.parse::<NodeId>().ok());
            }
            _ => {}
        }
    }

    fn watch(&mut self, ctx: &mut Ctx<ZkTimer>, path: &str, kind: EventKind) {
        if path == LEADER && !self.leading {
            if kind == EventKind::NodeDeleted {
                self.name(ctx, None);
            }
            self.todo.push_back(watch_leader());
        } else if path.starts_with(PREFIX) && kind == EventKind::NodeDeleted && self.waiting {
            self.waiting = false;
            self.todo.push_back(list());
        }
    }

    fn timer(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        self.started = true;
    }

    fn moved(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        if self.waiting {
            self.waiting = false;
            self.todo.push_back(list());
        }
    }

    fn session_lost(&mut self, ctx: &mut Ctx<ZkTimer>) {
        if self.leading {
            self.leading = false;
            ctx.emit(&ElectionEvent::leader_lost(self.me, "session expired"));
            self.view = None;
        }
        self.volunteer();
    }
}

/// The [`Spec::CLIENT`] of `zk-election`.
pub fn election_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    let options = workload.recipe.clone().unwrap_or_default();
    options.refuse("zk-election", &["hold", "herd", "versioned"])?;
    if options.rounds.is_some() || options.think != RecipeOptions::default().think {
        return Err("workload.recipe: zk-election takes only stagger".into());
    }
    let mut plain = workload.clone();
    plain.recipe = None;
    let stagger = options.stagger.as_nanos() as Nanos * client_index(me, servers) as Nanos;
    Ok(Hosted::boxed(ZkClient::new(me, servers, plain)?.with_driver(Box::new(ElectionRecipe::new(me, stagger)))))
}

/// No two clients believe they lead at once.
pub fn single_leader(el: &Elections) -> PropertyResult {
    let reigns = el.reigns();
    if let Some((a, b, from, to)) = overlapping_reigns(&reigns).into_iter().next() {
        let detail = format!(
            "clients {} and {} both believed they led from {:.1} to {:.1} ms",
            a.node,
            b.node,
            el.run.ms(from),
            el.run.ms(to)
        );
        let evidence = [&a.began, &b.began, &a.ended, &b.ended].into_iter().flatten().cloned().collect();
        return PropertyResult::violated(SINGLE_LEADER.name, detail, evidence);
    }
    let detail = format!("{} reign(s), none overlapping", reigns.len());
    PropertyResult::held(SINGLE_LEADER.name, reigns.len(), "reign (no client ever believed it led)", detail)
}

pub fn check_election(run: &Execution, p: &ZabParams) -> CheckReport {
    let mut report = crate::coordination::check::check_coordination(run, p);
    let clients: BTreeSet<NodeId> = run.records.iter().map(|r| r.node).filter(|n| !run.nodes.contains(n)).collect();
    let el = Elections::new(run, clients.into_iter().collect());
    let bound = p.operation_bound_ms * MS;
    let agreement = stable_agreement(&el, bound, Expect::Any, &|_| true);
    let (latency, timed) = election_latency(&el, &episodes(&el, false), bound, Expect::Any, &|_| true);
    report.properties.extend([single_leader(&el), agreement, latency]);
    let latencies: Vec<f64> = timed.iter().map(Timed::ms).collect();
    report.metrics.insert("election_ms".into(), crate::check::stats(&latencies));
    report
}

/// The catalogue entry.
pub struct ZkElection;

impl Spec for ZkElection {
    const NAME: &'static str = "zk-election";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "leader election on the coordination service: the lowest ephemeral sequential node under /election leads, each candidate watching the next lower one";
    type Params = ZabParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(election_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZkServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        let mut all = crate::coordination::check::properties();
        all.extend([SINGLE_LEADER, STABLE_AGREEMENT, ELECTION_WITHIN_BOUND]);
        all
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        check_election(run, p)
    }
}

//! `zk-members`: group membership on the coordination service (Hunt et al., §2.4, "Group
//! Membership"): each member is an ephemeral node under `/members`, alive as long as its session.
//!
//! Rules:
//! 1. A member (every client but the first) creates `/members` (once; "already there" will do)
//!    and then `/members/m<id>-`, ephemeral and sequential, and does nothing more: its session's
//!    pings keep the node. Its session expired: with the new one it creates its node again.
//! 2. The watcher (the first client) lists `/members` with a watch on its children and traces who
//!    is in (`members`, the ids read from the names); each change of the children fires the
//!    watch, and it lists again, watching again. Its session moved to another server: it lists
//!    again there (the client also carries its watches over, SetWatches).
//!
//! A member SIGKILLed stops pinging; the leader expires its session after its timeout, which
//! deletes its node and fires the watcher's watch. `leave_seen` holds the watcher to seeing every
//! killed member leave within the member's session timeout plus `params.operation_bound_ms`; the
//! metric `vanish_ms` is each kill to the watcher's view without it, beside the session timeout.

use super::RecipeEvent;
use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::election::shown;
use crate::check::{stats, CheckReport, EventRef, Execution, PropertyResult};
use crate::consensus::zab::ZabParams;
use crate::coordination::client::{Driver, ZkClient, ZkClientMsg, ZkTimer};
use crate::coordination::service::{Call, ZkOutcome, ZkServer};
use crate::coordination::tree::{EventKind, TreeOp, TreeResult};
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NodeId, Process, MS};
use crate::faults::AppliedFault;
use crate::service::client::Workload;
use serde_json::json;
use std::collections::BTreeMap;

pub const DIR: &str = "/members";

pub const LEAVE_SEEN: PropertyInfo = PropertyInfo {
    name: "leave_seen",
    promise: "the watcher sees every killed member leave within its session timeout plus params.operation_bound_ms",
};

/// One client's part (see the module doc).
pub struct MembersRecipe {
    me: NodeId,
    watcher: bool,
    dir_ready: bool,
    todo: Option<Call>,
    /// A member: its node is there (or being created).
    joined: bool,
}

fn list() -> Call {
    Call::Op(TreeOp::Children { path: DIR.into(), watch: true })
}

impl MembersRecipe {
    pub fn new(me: NodeId, watcher: bool) -> MembersRecipe {
        MembersRecipe { me, watcher, dir_ready: false, todo: None, joined: false }
    }

    fn start(&mut self) {
        self.todo = Some(match (self.dir_ready, self.watcher) {
            (false, _) => {
                Call::Op(TreeOp::Create { path: DIR.into(), data: String::new(), ephemeral: false, sequential: false })
            }
            (true, true) => list(),
            (true, false) => {
                let path = format!("{DIR}/m{}-", self.me);
                Call::Op(TreeOp::Create { path, data: self.me.to_string(), ephemeral: true, sequential: true })
            }
        });
    }
}

/// The member ids in a listing of `/members` (`m5-0000000002` is member 5).
pub fn member_ids(names: &[String]) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> =
        names.iter().filter_map(|n| n.strip_prefix('m')?.split('-').next()?.parse().ok()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Driver for MembersRecipe {
    fn next(&mut self, _ctx: &mut Ctx<ZkTimer>) -> Option<Call> {
        if !self.joined {
            self.joined = true;
            self.start();
        }
        self.todo.take()
    }

    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, call: &Call, _zxid: u64, outcome: &ZkOutcome) {
        let (Call::Op(op), ZkOutcome::Done(result)) = (call, outcome) else { return };
        match (op, result) {
            (TreeOp::Create { path, .. }, _) if path == DIR => {
                self.dir_ready = true;
                self.start();
            }
            (TreeOp::Create { .. }, TreeResult::Created { path }) => {
                ctx.emit(&RecipeEvent::LockNode { path: path.clone() });
            }
            (TreeOp::Children { .. }, TreeResult::Children { names }) => {
                ctx.emit(&RecipeEvent::Members { alive: member_ids(names) });
            }
            (TreeOp::Children { .. }, _) => {
                self.dir_ready = false;
                self.start();
            }
            _ => {}
        }
    }

    fn watch(&mut self, _ctx: &mut Ctx<ZkTimer>, path: &str, kind: EventKind) {
        if self.watcher && path == DIR && kind == EventKind::NodeChildrenChanged {
            self.todo = Some(list());
        }
    }

    fn timer(&mut self, _ctx: &mut Ctx<ZkTimer>) {}

    fn moved(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        if self.watcher && self.dir_ready {
            self.todo = Some(list());
        }
    }

    fn session_lost(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        self.joined = false;
    }
}

/// The [`Spec::CLIENT`] of `zk-members`: the first client watches, the others are members.
pub fn members_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    if workload.recipe.is_some() {
        return Err("workload.recipe: zk-members takes no options".into());
    }
    if workload.clients < 2 {
        return Err("workload.clients: zk-members needs a watcher and at least one member (2 clients or more)".into());
    }
    let watcher = super::client_index(me, servers) == 0;
    let recipe = MembersRecipe::new(me, watcher);
    Ok(Hosted::boxed(ZkClient::new(me, servers, workload.clone())?.with_driver(Box::new(recipe))))
}

/// Each client's session timeout, from its `open` requests.
fn session_timeouts(run: &Execution) -> BTreeMap<NodeId, u64> {
    let mut timeouts = BTreeMap::new();
    for r in run.records.iter().filter(|r| !run.nodes.contains(&r.node)) {
        if let Some(ZkClientMsg::Request(request)) = shown::<ZkClientMsg>(r) {
            if let Call::Open { timeout_ms } = request.call {
                timeouts.insert(r.node, timeout_ms);
            }
        }
    }
    timeouts
}

/// For each member killed while the watcher saw it in: when the watcher's view lost it (if it did).
struct Departure {
    member: NodeId,
    killed: Nanos,
    seen: Option<(Nanos, EventRef)>,
}

fn departures(run: &Execution) -> (Vec<Departure>, Option<NodeId>) {
    let views: Vec<(Nanos, NodeId, Vec<NodeId>, EventRef)> = run
        .events::<RecipeEvent>()
        .filter_map(|(r, e)| match e {
            RecipeEvent::Members { alive } => Some((r.t, r.node, alive, EventRef::of(r))),
            _ => None,
        })
        .collect();
    let watcher = views.first().map(|v| v.1);
    let mut found = Vec::new();
    for f in &run.faults {
        let AppliedFault::Kill { node, .. } = f.fault else { continue };
        let in_view = views.iter().rev().find(|v| v.0 <= f.t).is_some_and(|v| v.2.contains(&node));
        if !in_view || Some(node) == watcher {
            continue;
        }
        let seen = views.iter().find(|v| v.0 > f.t && !v.2.contains(&node)).map(|v| (v.0, v.3.clone()));
        found.push(Departure { member: node, killed: f.t, seen });
    }
    (found, watcher)
}

pub fn leave_seen(run: &Execution, p: &ZabParams) -> (PropertyResult, Vec<f64>) {
    let timeouts = session_timeouts(run);
    let (found, _) = departures(run);
    let (mut judged, mut vanish, mut cut_short) = (0, Vec::new(), 0);
    for d in &found {
        let timeout = timeouts.get(&d.member).copied().unwrap_or(1000);
        let bound = (timeout + p.operation_bound_ms) * MS;
        match &d.seen {
            Some((t, at)) if *t - d.killed > bound => {
                let detail = format!(
                    "member {} killed at {:.1} ms left the watcher's view only at {:.1} ms, {:.1} ms later: above its session timeout of {timeout} ms plus {} ms",
                    d.member,
                    run.ms(d.killed),
                    run.ms(*t),
                    (*t - d.killed) as f64 / MS as f64,
                    p.operation_bound_ms
                );
                return (PropertyResult::violated(LEAVE_SEEN.name, detail, vec![at.clone()]), vanish);
            }
            Some((t, _)) => {
                judged += 1;
                vanish.push((*t - d.killed) as f64 / MS as f64);
            }
            None if run.end.saturating_sub(d.killed) > bound => {
                let detail = format!(
                    "member {} killed at {:.1} ms was still in the watcher's view when the run ended at {:.1} ms",
                    d.member,
                    run.ms(d.killed),
                    run.ms(run.end)
                );
                return (PropertyResult::violated(LEAVE_SEEN.name, detail, vec![]), vanish);
            }
            None => cut_short += 1,
        }
    }
    let late = match cut_short {
        0 => String::new(),
        n => format!("; {n} killed too close to the end, not judged"),
    };
    let detail =
        format!("{judged} killed member(s), each seen leaving within its session timeout plus the bound{late}");
    (
        PropertyResult::held(
            LEAVE_SEEN.name,
            judged,
            &format!("member killed while in the watcher's view{late}"),
            detail,
        ),
        vanish,
    )
}

pub fn check_members(run: &Execution, p: &ZabParams) -> CheckReport {
    let mut report = crate::coordination::check::check_coordination(run, p);
    let (property, vanish) = leave_seen(run, p);
    report.properties.push(property);
    let timeouts: Vec<u64> = session_timeouts(run).into_values().collect();
    report.metrics.insert("vanish_ms".into(), stats(&vanish));
    report.metrics.insert("session_timeout_ms".into(), json!(timeouts.iter().max()));
    report
}

/// The catalogue entry.
pub struct ZkMembers;

impl Spec for ZkMembers {
    const NAME: &'static str = "zk-members";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "group membership on the coordination service: members' ephemeral nodes under /members, a watcher that tracks who is alive";
    type Params = ZabParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(members_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZkServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        let mut all = crate::coordination::check::properties();
        all.push(LEAVE_SEEN);
        all
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        check_members(run, p)
    }
}

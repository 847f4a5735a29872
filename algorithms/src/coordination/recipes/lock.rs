//! `zk-lock`: the lock recipe of the coordination service, without the herd effect (Hunt et al.,
//! §2.4, "Simple Locks without Herd Effect"; the course's "Cluster Coordination Service").
//!
//! Rules, for each client (the lock is the directory `/lock`):
//! 1. A round begins (after `think`; the first after the client's `stagger`): the client wants
//!    the lock (`request`) and creates `/lock/n-`, ephemeral and sequential (creating `/lock`
//!    first, once; "already there" will do).
//! 2. It lists `/lock`'s children. If its node is the lowest, it holds the lock (`enter_cs`) for
//!    `hold`.
//! 3. Otherwise it calls `exists` with a watch on the next lower node only, and waits; if that
//!    node is gone already, back to 2. (The herd variant, `herd = true`: the listing itself leaves
//!    a watch on the directory's children, and any change of them sends every waiter back to 2.)
//! 4. A watch it waits on fired: back to 2. Its session moved to another server while it waits:
//!    back to 2 as well (the client carries its watches over, SetWatches; listing again costs one
//!    read and needs nothing of it).
//! 5. The hold is over: it leaves (`exit_cs`), deletes its node, and thinks.
//! 6. Its session expired (an operation's answer, or a ping's): its node went with the session;
//!    with the new session it creates a new node (back to 1, its request still standing). A
//!    holder leaves at once, but it learns of the expiry only from the service: one paused past
//!    its session timeout goes on holding after another client got the lock, until it runs again
//!    and hears it. That is the pitfall of ZooKeeper locks without fencing, which
//!    `mutual_exclusion` shows and names.
//!
//! Each release (a lock node deleted by its holder, or by a session's expiry) wakes exactly one
//! waiter, the owner of the next node: `no_herd` counts the watch notifications each release
//! caused. In the herd variant each release wakes every waiter.

use super::{client_index, RecipeEvent, RecipeOptions};
use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::events::mutex::{MutexEvent, Request};
use crate::check::mutex::{self, first_overlap, History, LIVENESS, MUTUAL_EXCLUSION};
use crate::check::{stats, CheckReport, EventRef, Execution, PropertyResult};
use crate::consensus::zab::ZabParams;
use crate::coordination::client::{shown_zxid, Driver, ZkClient, ZkTimer};
use crate::coordination::service::{Call, ZkEvent, ZkOutcome, ZkServer};
use crate::coordination::tree::{EventKind, TreeOp, TreeResult};
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NodeId, Process};
use crate::service::client::Workload;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The lock's directory, and the prefix of its nodes.
pub const DIR: &str = "/lock";
pub const PREFIX: &str = "/lock/n-";
/// The resource the mutex events name.
pub const RESOURCE: &str = "/lock";

pub const NO_HERD: PropertyInfo = PropertyInfo {
    name: "no_herd",
    promise: "each release of the lock (or expiry of a session holding a lock node) wakes at most one waiter",
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between rounds (or before the first): the recipe timer begins the next.
    Idle,
    /// An operation of the round is queued or in flight.
    Busy,
    /// Waiting for a watch.
    Waiting,
    /// Holding the lock: the recipe timer ends the hold.
    Holding,
    /// The delete of its node is queued or in flight.
    Releasing,
    /// Every round done.
    Finished,
}

/// One client's lock recipe (see the module doc).
pub struct LockRecipe {
    options: RecipeOptions,
    /// The client's position among the clients, for its stagger.
    index: u64,
    started: bool,
    dir_ready: bool,
    phase: Phase,
    /// This round's node, once created.
    mine: Option<String>,
    want: Option<Call>,
    rounds: u64,
}

fn list(herd: bool) -> Call {
    Call::Op(TreeOp::Children { path: DIR.into(), watch: herd })
}

impl LockRecipe {
    pub fn new(options: RecipeOptions, index: u64) -> LockRecipe {
        LockRecipe {
            options,
            index,
            started: false,
            dir_ready: false,
            phase: Phase::Idle,
            mine: None,
            want: None,
            rounds: 0,
        }
    }

    fn create_node(&mut self) {
        self.want = Some(if self.dir_ready {
            Call::Op(TreeOp::Create { path: PREFIX.into(), data: String::new(), ephemeral: true, sequential: true })
        } else {
            Call::Op(TreeOp::Create { path: DIR.into(), data: String::new(), ephemeral: false, sequential: false })
        });
        self.phase = Phase::Busy;
    }

    /// Rule 1.
    fn begin(&mut self, ctx: &mut Ctx<ZkTimer>) {
        ctx.emit(&MutexEvent::Request(Request::of(RESOURCE)));
        self.create_node();
    }

    /// Rules 2 and 3, on a listing of the lock directory.
    fn decide(&mut self, ctx: &mut Ctx<ZkTimer>, names: &[String]) {
        let Some(mine) = self.mine.clone() else { return };
        let mut nodes: Vec<&str> = names.iter().map(String::as_str).filter(|n| n.starts_with("n-")).collect();
        nodes.sort_unstable();
        let name = &mine[DIR.len() + 1..];
        let Some(at) = nodes.iter().position(|n| *n == name) else {
            // Its node is gone (its session expired, and the listing came from the new one).
            self.mine = None;
            return self.create_node();
        };
        if at == 0 {
            ctx.emit(&MutexEvent::EnterCs { resource: RESOURCE.into() });
            self.phase = Phase::Holding;
            let hold = RecipeOptions::draw(ctx, self.options.hold);
            ctx.set_timer(ZkTimer::Recipe, hold);
            return;
        }
        self.phase = Phase::Waiting;
        if self.options.herd {
            ctx.emit(&RecipeEvent::LockWait { path: DIR.into() });
        } else {
            let lower = format!("{DIR}/{}", nodes[at - 1]);
            ctx.emit(&RecipeEvent::LockWait { path: lower.clone() });
            self.want = Some(Call::Op(TreeOp::Exists { path: lower, watch: true }));
        }
    }

    /// After rule 5's delete (or a lost session's failed one).
    fn released(&mut self, ctx: &mut Ctx<ZkTimer>) {
        self.mine = None;
        self.rounds += 1;
        if self.options.rounds.is_some_and(|n| self.rounds >= n) {
            self.phase = Phase::Finished;
            return;
        }
        self.phase = Phase::Idle;
        let think = RecipeOptions::draw(ctx, self.options.think);
        ctx.set_timer(ZkTimer::Recipe, think);
    }
}

impl Driver for LockRecipe {
    fn next(&mut self, ctx: &mut Ctx<ZkTimer>) -> Option<Call> {
        if !self.started {
            self.started = true;
            let after = self.options.stagger.as_nanos() as Nanos * self.index as Nanos;
            if after == 0 && self.options.rounds != Some(0) {
                self.begin(ctx);
            } else if self.options.rounds != Some(0) {
                ctx.set_timer(ZkTimer::Recipe, after);
            }
        }
        self.want.take()
    }

    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, call: &Call, _zxid: u64, outcome: &ZkOutcome) {
        let Call::Op(op) = call else { return };
        let ZkOutcome::Done(result) = outcome else { return };
        match (op, result) {
            (TreeOp::Create { path, .. }, _) if path == DIR => {
                self.dir_ready = true;
                self.create_node();
            }
            (TreeOp::Create { .. }, TreeResult::Created { path }) => {
                ctx.emit(&RecipeEvent::LockNode { path: path.clone() });
                self.mine = Some(path.clone());
                self.want = Some(list(self.options.herd));
            }
            (TreeOp::Create { .. }, _) => {
                self.dir_ready = false;
                self.create_node();
            }
            (TreeOp::Children { .. }, TreeResult::Children { names }) => self.decide(ctx, names),
            (TreeOp::Children { .. }, _) => {
                self.dir_ready = false;
                self.mine = None;
                self.create_node();
            }
            // Rule 3: the next lower node is there (wait for its watch), or gone already.
            (TreeOp::Exists { .. }, TreeResult::NoNode { .. }) if self.phase == Phase::Waiting => {
                self.phase = Phase::Busy;
                self.want = Some(list(self.options.herd));
            }
            (TreeOp::Delete { .. }, _) => self.released(ctx),
            _ => {}
        }
    }

    fn watch(&mut self, _ctx: &mut Ctx<ZkTimer>, path: &str, kind: EventKind) {
        let mine = match self.options.herd {
            true => path == DIR && kind == EventKind::NodeChildrenChanged,
            false => path.starts_with(PREFIX) && kind == EventKind::NodeDeleted,
        };
        if self.phase == Phase::Waiting && mine {
            self.phase = Phase::Busy;
            self.want = Some(list(self.options.herd));
        }
    }

    fn timer(&mut self, ctx: &mut Ctx<ZkTimer>) {
        match self.phase {
            Phase::Idle => self.begin(ctx),
            Phase::Holding => {
                ctx.emit(&MutexEvent::ExitCs { resource: RESOURCE.into() });
                self.phase = Phase::Releasing;
                let path = self.mine.clone().unwrap_or_default();
                self.want = Some(Call::Op(TreeOp::Delete { path, version: None }));
            }
            _ => {}
        }
    }

    fn moved(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        if self.phase == Phase::Waiting {
            self.phase = Phase::Busy;
            self.want = Some(list(self.options.herd));
        }
    }

    fn session_lost(&mut self, ctx: &mut Ctx<ZkTimer>) {
        match self.phase {
            Phase::Releasing => self.released(ctx),
            // Told by a ping's answer: it leaves at once (late: another client may hold it).
            Phase::Holding => {
                ctx.emit(&MutexEvent::ExitCs { resource: RESOURCE.into() });
                self.released(ctx);
            }
            Phase::Busy | Phase::Waiting => {
                self.mine = None;
                self.create_node();
            }
            _ => {}
        }
    }
}

/// The [`Spec::CLIENT`] of `zk-lock`.
pub fn lock_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    let options = workload.recipe.clone().unwrap_or_default();
    options.refuse("zk-lock", &["versioned"])?;
    let mut plain = workload.clone();
    plain.recipe = None;
    let recipe = LockRecipe::new(options, client_index(me, servers));
    Ok(Hosted::boxed(ZkClient::new(me, servers, plain)?.with_driver(Box::new(recipe))))
}

/// A lock node's deletion: by its holder's delete, or with its session.
#[derive(Clone, Debug)]
pub struct Release {
    pub t: Nanos,
    pub zxid: u64,
    pub path: String,
    /// The client that deleted it; `None` for a session's expiry.
    pub by: Option<NodeId>,
    pub at: EventRef,
    /// Clients waiting for the lock then.
    pub waiting: usize,
    /// Clients a watch notification of this transaction reached.
    pub woken: BTreeSet<NodeId>,
}

/// Every release of the run, in time order, with the waiters and the clients it woke.
pub fn releases(run: &Execution) -> Vec<Release> {
    let servers: BTreeSet<NodeId> = run.nodes.iter().copied().collect();
    let mut found: Vec<Release> = Vec::new();
    let mut seen: BTreeSet<(u64, String)> = BTreeSet::new();
    let mut waiting: BTreeSet<NodeId> = BTreeSet::new();
    let mut woken: BTreeMap<u64, BTreeSet<NodeId>> = BTreeMap::new();
    for r in &run.records {
        if let Some(e) = r.event_as::<MutexEvent>() {
            match e {
                MutexEvent::Request(_) => {
                    waiting.insert(r.node);
                }
                MutexEvent::EnterCs { .. } => {
                    waiting.remove(&r.node);
                }
                _ => {}
            }
            continue;
        }
        let mut found_one = |zxid: u64, path: String, by: Option<NodeId>| {
            if path.starts_with(PREFIX) && seen.insert((zxid, path.clone())) {
                let waiting = waiting.iter().filter(|c| Some(**c) != by).count();
                let at = EventRef::of(r);
                found.push(Release { t: r.t, zxid, path, by, at, waiting, woken: BTreeSet::new() });
            }
        };
        match r.event_as::<ZkEvent>() {
            Some(ZkEvent::ZkDone { f, path, zxid, ok: true, .. }) if f == "delete" && !servers.contains(&r.node) => {
                found_one(zxid, path, Some(r.node));
            }
            Some(ZkEvent::SessionExpired { zxid, ephemerals, .. }) if servers.contains(&r.node) => {
                for path in ephemerals {
                    found_one(zxid, path, None);
                }
            }
            Some(ZkEvent::ZkWatch { zxid, path, .. }) if path.starts_with(DIR) && !servers.contains(&r.node) => {
                woken.entry(zxid).or_default().insert(r.node);
            }
            _ => {}
        }
    }
    for release in &mut found {
        release.woken = woken.get(&release.zxid).cloned().unwrap_or_default();
    }
    found
}

fn describe(run: &Execution, r: &Release) -> String {
    let how = match r.by {
        Some(c) => format!("client {c}'s delete"),
        None => "its session's expiry".into(),
    };
    let woken: Vec<String> = r.woken.iter().map(|c| c.to_string()).collect();
    format!(
        "the release of {} ({how} at zxid {}, {:.1} ms) woke {} client(s) [{}] with {} waiting",
        r.path,
        shown_zxid(r.zxid),
        run.ms(r.t),
        r.woken.len(),
        woken.join(", "),
        r.waiting
    )
}

/// Each release wakes at most one waiter (none when its successor had not set its watch yet and
/// lists the directory again instead).
pub fn no_herd(run: &Execution, releases: &[Release]) -> PropertyResult {
    if let Some(r) = releases.iter().find(|r| r.woken.len() > 1) {
        let detail = format!("{}: every waiter was watching, the herd effect", describe(run, r));
        return PropertyResult::violated(NO_HERD.name, detail, vec![r.at.clone()]);
    }
    let woke = releases.iter().filter(|r| r.woken.len() == 1).count();
    let detail = format!(
        "{} release(s) of a lock node, each waking at most one waiter ({woke} woke exactly one)",
        releases.len()
    );
    PropertyResult::held(NO_HERD.name, releases.len(), "release of a lock node", detail)
}

/// Each client's lock nodes, as `(time, path)` in order.
fn lock_nodes(run: &Execution) -> BTreeMap<NodeId, Vec<(Nanos, String)>> {
    let mut nodes: BTreeMap<NodeId, Vec<(Nanos, String)>> = BTreeMap::new();
    for (r, e) in run.events::<RecipeEvent>() {
        if let RecipeEvent::LockNode { path } = e {
            nodes.entry(r.node).or_default().push((r.t, path));
        }
    }
    nodes
}

fn node_at(nodes: &BTreeMap<NodeId, Vec<(Nanos, String)>>, client: NodeId, t: Nanos) -> Option<&str> {
    nodes.get(&client)?.iter().rev().find(|(at, _)| *at <= t).map(|(_, p)| p.as_str())
}

fn short(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Who got the lock after each holder, and whether it was the waiter with the lowest sequence
/// number (the class exercise: "P1 holds, P2 and P3 wait, P1 releases: which gets it?"); the
/// first ten in words, and how many of all went to the lowest.
pub fn handovers(run: &Execution, h: &History) -> serde_json::Value {
    let nodes = lock_nodes(run);
    let (mut words, mut lowest, mut total) = (Vec::new(), 0, 0);
    for pair in h.sections.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let Some(winner) = node_at(&nodes, b.node, b.start.t) else { continue };
        // The waiters when b entered: a request before, its entry after (b itself included),
        // with the node each created for that request.
        let requests = h
            .sections
            .iter()
            .filter(|s| s.start.t >= b.start.t)
            .filter_map(|s| s.request.map(|r| (s.node, r.t)))
            .chain(h.pending.iter().map(|p| (p.node, p.request.t)))
            .filter(|(_, t)| *t <= b.start.t);
        let mut waiting: Vec<(&str, NodeId)> = requests
            .filter_map(|(c, asked)| {
                let (made, path) = nodes.get(&c)?.iter().rev().find(|(at, _)| *at <= b.start.t)?;
                (*made >= asked).then(|| (short(path), c))
            })
            .collect();
        waiting.sort_unstable();
        let Some(&(low, low_client)) = waiting.first() else { continue };
        total += 1;
        let was_lowest = low_client == b.node;
        lowest += usize::from(was_lowest);
        if words.len() < 10 {
            let left = node_at(&nodes, a.node, a.start.t).map_or("?", short);
            let list: Vec<String> = waiting.iter().map(|(p, c)| format!("node {c} ({p})")).collect();
            let verdict = match was_lowest {
                true => "the lowest sequence number among the waiters".to_string(),
                false => format!("not the lowest: node {low_client} had {low}"),
            };
            words.push(format!(
                "node {} ({left}) released; waiting: {}; node {} ({}) got it at {:.1} ms, {verdict}",
                a.node,
                list.join(", "),
                b.node,
                short(winner),
                run.ms(b.start.t)
            ));
        }
    }
    json!({ "to_lowest": lowest, "handovers": total, "first": words })
}

/// `mutual_exclusion`, naming the pitfall when the earlier holder's lock node went with its
/// session while it was still inside.
pub fn lock_mutual_exclusion(run: &Execution, h: &History) -> PropertyResult {
    let Some((a, b, why)) = first_overlap(run, &h.sections, "the critical section of") else {
        return mutex::mutual_exclusion(run, h);
    };
    let mut evidence = a.evidence();
    evidence.extend(b.evidence());
    let mut detail = why;
    let held = node_at(&lock_nodes(run), a.node, a.start.t).map(str::to_string);
    let expiry = run.events::<ZkEvent>().find(|(r, e)| match e {
        ZkEvent::SessionExpired { ephemerals, .. } => {
            r.t >= a.start.t && r.t <= b.start.t && held.as_ref().is_some_and(|p| ephemerals.contains(p))
        }
        _ => false,
    });
    if let Some((r, ZkEvent::SessionExpired { zxid, .. })) = expiry {
        evidence.push(EventRef::of(r));
        detail = format!(
            "{detail}. Node {}'s session expired at {:.1} ms while it was inside (its lock node {} deleted at zxid {}), so node {}'s node became the lowest; node {} went on holding the lock it no longer had: the pitfall of ZooKeeper locks without fencing (a holder cannot know its lock is gone until it hears from the service)",
            a.node,
            run.ms(r.t),
            held.unwrap_or_default(),
            shown_zxid(zxid),
            b.node,
            a.node
        );
    }
    PropertyResult::violated(MUTUAL_EXCLUSION.name, detail, evidence)
}

pub fn check_lock(run: &Execution, p: &ZabParams) -> CheckReport {
    let mut report = crate::coordination::check::check_coordination(run, p);
    let h = History::from_run(run);
    let common = mutex::common_report(run, &h);
    let releases = releases(run);
    report.properties.extend([lock_mutual_exclusion(run, &h), mutex::liveness(run, &h), no_herd(run, &releases)]);
    report.metrics.extend(common.metrics);
    let woken: Vec<f64> = releases.iter().map(|r| r.woken.len() as f64).collect();
    let waiting: Vec<f64> = releases.iter().map(|r| r.waiting as f64).collect();
    report.metrics.insert("notifications_per_release".into(), stats(&woken));
    report.metrics.insert("waiters_at_release".into(), stats(&waiting));
    report.metrics.insert("handovers".into(), handovers(run, &h));
    report
}

/// The catalogue entry.
pub struct ZkLock;

impl Spec for ZkLock {
    const NAME: &'static str = "zk-lock";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "the coordination service's lock recipe: ephemeral sequential nodes under /lock, each waiter watching only the next lower one (herd = true: the directory)";
    type Params = ZabParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(lock_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZkServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        let mut all = crate::coordination::check::properties();
        all.extend([MUTUAL_EXCLUSION, LIVENESS, NO_HERD]);
        all
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        check_lock(run, p)
    }
}

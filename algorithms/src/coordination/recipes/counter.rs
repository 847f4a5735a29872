//! `zk-counter`: the counter race of the course ("count = 15, both write 16, should be 17"):
//! clients increment one shared znode, `/counter`, by reading it and writing what they read plus
//! one.
//!
//! Rules, for each client:
//! 1. A round begins (after `think`; the first after the client's `stagger`): it reads
//!    `/counter`; absent, it creates it with `0` ("already there" will do) and reads again.
//! 2. It read `v` at version `n`: it sets `/counter` to `v + 1`; with `versioned = true` only if
//!    the version is still `n`.
//! 3. The set succeeded: the increment is acknowledged; it thinks, then the next round. A bad
//!    version (another client's set came in between): back to 1, the same round.
//!
//! Without the version two clients that read the same value both write the same next one, and one
//! increment is lost; with it the second set fails and that client reads again. `no_lost_updates`
//! orders the acknowledged sets by their zxids: each must have written a value no earlier one did.

use super::{client_index, RecipeEvent, RecipeOptions};
use crate::algorithm::{Family, PropertyInfo, Spec};
use crate::check::{CheckReport, EventRef, Execution, PropertyResult};
use crate::consensus::zab::ZabParams;
use crate::coordination::client::{shown_zxid, Driver, ZkClient, ZkTimer};
use crate::coordination::service::{Call, ZkOutcome, ZkServer};
use crate::coordination::tree::{EventKind, TreeOp, TreeResult};
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NodeId, Process};
use crate::service::client::Workload;
use serde_json::json;
use std::collections::BTreeMap;

pub const PATH: &str = "/counter";

pub const NO_LOST_UPDATES: PropertyInfo = PropertyInfo {
    name: "no_lost_updates",
    promise: "every acknowledged increment counts: no two acknowledged sets of the counter write the same value",
};

/// One client's counter recipe (see the module doc).
pub struct CounterRecipe {
    options: RecipeOptions,
    index: u64,
    started: bool,
    /// In a round (an operation queued or in flight).
    busy: bool,
    want: Option<Call>,
    /// What the round read: value and version.
    read: Option<(i64, u64)>,
    rounds: u64,
}

fn get() -> Call {
    Call::Op(TreeOp::Get { path: PATH.into(), watch: false })
}

impl CounterRecipe {
    pub fn new(options: RecipeOptions, index: u64) -> CounterRecipe {
        CounterRecipe { options, index, started: false, busy: false, want: None, read: None, rounds: 0 }
    }

    fn begin(&mut self) {
        self.busy = true;
        self.want = Some(get());
    }
}

impl Driver for CounterRecipe {
    fn next(&mut self, ctx: &mut Ctx<ZkTimer>) -> Option<Call> {
        if !self.started && self.options.rounds != Some(0) {
            self.started = true;
            match self.options.stagger.as_nanos() as Nanos * self.index as Nanos {
                0 => self.begin(),
                after => ctx.set_timer(ZkTimer::Recipe, after),
            }
        }
        self.want.take()
    }

    fn done(&mut self, ctx: &mut Ctx<ZkTimer>, call: &Call, zxid: u64, outcome: &ZkOutcome) {
        let (Call::Op(op), ZkOutcome::Done(result)) = (call, outcome) else { return };
        match (op, result) {
            (TreeOp::Get { .. }, TreeResult::NoNode { .. }) => {
                let create =
                    TreeOp::Create { path: PATH.into(), data: "0".into(), ephemeral: false, sequential: false };
                self.want = Some(Call::Op(create));
            }
            (TreeOp::Create { .. }, _) => self.want = Some(get()),
            (TreeOp::Get { .. }, TreeResult::Data { data, version }) => {
                let value = data.trim().parse::<i64>().unwrap_or(0);
                self.read = Some((value, *version));
                let version = self.options.versioned.then_some(*version);
                self.want = Some(Call::Op(TreeOp::Set { path: PATH.into(), data: (value + 1).to_string(), version }));
            }
            (TreeOp::Set { .. }, result) => {
                let (from, version) = self.read.take().unwrap_or_default();
                let ok = matches!(result, TreeResult::Stat { .. });
                ctx.emit(&RecipeEvent::Increment { from, to: from + 1, version, ok, zxid });
                if !ok {
                    self.want = Some(get());
                    return;
                }
                self.busy = false;
                self.rounds += 1;
                if self.options.rounds.is_none_or(|n| self.rounds < n) {
                    let think = RecipeOptions::draw(ctx, self.options.think);
                    ctx.set_timer(ZkTimer::Recipe, think);
                }
            }
            _ => {}
        }
    }

    fn watch(&mut self, _ctx: &mut Ctx<ZkTimer>, _path: &str, _kind: EventKind) {}

    fn timer(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        if !self.busy {
            self.begin();
        }
    }

    fn session_lost(&mut self, _ctx: &mut Ctx<ZkTimer>) {
        if self.busy {
            self.read = None;
            self.want = Some(get());
        }
    }
}

/// The [`Spec::CLIENT`] of `zk-counter`.
pub fn counter_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    let options = workload.recipe.clone().unwrap_or_default();
    options.refuse("zk-counter", &["hold", "herd"])?;
    let mut plain = workload.clone();
    plain.recipe = None;
    let recipe = CounterRecipe::new(options, client_index(me, servers));
    Ok(Hosted::boxed(ZkClient::new(me, servers, plain)?.with_driver(Box::new(recipe))))
}

/// An acknowledged increment.
#[derive(Clone, Debug)]
pub struct Increment {
    pub client: NodeId,
    pub from: i64,
    pub to: i64,
    pub zxid: u64,
    pub at: EventRef,
}

/// The acknowledged increments, in zxid order.
pub fn increments(run: &Execution) -> Vec<Increment> {
    let mut all: Vec<Increment> = run
        .events::<RecipeEvent>()
        .filter_map(|(r, e)| match e {
            RecipeEvent::Increment { from, to, ok: true, zxid, .. } => {
                Some(Increment { client: r.node, from, to, zxid, at: EventRef::of(r) })
            }
            _ => None,
        })
        .collect();
    all.sort_by_key(|i| i.zxid);
    all
}

/// No two acknowledged sets write the same value (each lost update is one such pair).
pub fn no_lost_updates(increments: &[Increment]) -> PropertyResult {
    let mut first: BTreeMap<i64, &Increment> = BTreeMap::new();
    let mut lost: Vec<(&Increment, &Increment)> = Vec::new();
    for i in increments {
        match first.get(&i.to) {
            Some(earlier) => lost.push((earlier, i)),
            None => {
                first.insert(i.to, i);
            }
        }
    }
    let last = increments.last().map_or(0, |i| i.to);
    if let Some((a, b)) = lost.first() {
        let detail = format!(
            "{} lost update(s) in {} acknowledged increments (the counter ends at {last}); the first: count = {}, clients {} and {} both read it and both wrote {} (zxids {} and {}), should be {}",
            lost.len(),
            increments.len(),
            a.from,
            a.client,
            b.client,
            a.to,
            shown_zxid(a.zxid),
            shown_zxid(b.zxid),
            a.to + 1
        );
        return PropertyResult::violated(NO_LOST_UPDATES.name, detail, vec![a.at.clone(), b.at.clone()]);
    }
    let detail =
        format!("{} acknowledged increment(s), each writing a new value; the counter ends at {last}", increments.len());
    PropertyResult::held(NO_LOST_UPDATES.name, increments.len(), "acknowledged increment", detail)
}

pub fn check_counter(run: &Execution, p: &ZabParams) -> CheckReport {
    let mut report = crate::coordination::check::check_coordination(run, p);
    let increments = increments(run);
    report.properties.push(no_lost_updates(&increments));
    let distinct: std::collections::BTreeSet<i64> = increments.iter().map(|i| i.to).collect();
    let retried =
        run.events::<RecipeEvent>().filter(|(_, e)| matches!(e, RecipeEvent::Increment { ok: false, .. })).count();
    report.metrics.insert(
        "increments".into(),
        json!({
            "acknowledged": increments.len(),
            "lost": increments.len() - distinct.len(),
            "final": increments.last().map_or(0, |i| i.to),
            "bad_version_retries": retried,
        }),
    );
    report
}

/// The catalogue entry.
pub struct ZkCounter;

impl Spec for ZkCounter {
    const NAME: &'static str = "zk-counter";
    const FAMILY: Family = Family::Replication;
    const SUMMARY: &'static str =
        "the counter race on the coordination service: get-then-set loses increments; versioned = true (set with the version read, retry on a bad version) loses none";
    type Params = ZabParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(counter_client);

    fn build(me: NodeId, _peers: &[NodeId], p: &ZabParams) -> Result<impl Process, String> {
        Ok(ZkServer::new(me, p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        let mut all = crate::coordination::check::properties();
        all.push(NO_LOST_UPDATES);
        all
    }

    fn check(run: &Execution, p: &ZabParams) -> CheckReport {
        check_counter(run, p)
    }
}

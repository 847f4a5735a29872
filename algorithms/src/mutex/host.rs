//! What every mutual exclusion algorithm shares: the client side of the critical section.
//!
//! An algorithm file (`central.rs`, `lamport.rs`, ...) holds only the algorithm's rules, as a
//! [`MutexRules`]: how to ask for a resource, how to answer others, how to release. The
//! [`MutexNode`] host wraps those rules into a [`Process`] and plays the client: the workload's
//! timers and the `acquire RESOURCE` / `release RESOURCE` commands decide *when* a node wants a
//! resource and when it leaves; the rules decide *whether* it may enter.
//!
//! The host and the rules together write the events ([`MutexEvent`]) the checkers in
//! [`crate::check::mutex`] read:
//! - `request {"resource", ...}`: the node wants the resource (the rules add their stamp, e.g.
//!   `"ts"` for the timestamp-ordered algorithms), written by the rules with [`Cs::requested`];
//! - `enter_cs {"resource"}`: the node entered, written by the rules with [`Cs::enter`];
//! - `exit_cs {"resource"}`: the node left, written by the host *before* the rules send anything,
//!   so the exit happens-before whatever lets the next node in.

use crate::core::process::{Ctx, Message, NoTimer, NodeId, Process, Status, Timer};
use crate::mutex::event::{MutexEvent, Request};
use crate::mutex::workload::Workload;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The timers of a mutual exclusion node: the host's own (the workload's next request, the end of
/// a critical section the workload entered) and the rules'. Keys: `workload`, `hold:RESOURCE`,
/// and the rules' own keys unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MutexTimer<T> {
    Workload,
    Hold(String),
    Rules(T),
}

impl<T: Timer> Timer for MutexTimer<T> {
    fn key(&self) -> String {
        match self {
            MutexTimer::Workload => "workload".into(),
            MutexTimer::Hold(resource) => format!("hold:{resource}"),
            MutexTimer::Rules(timer) => timer.key(),
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "workload" => Some(MutexTimer::Workload),
            _ => match key.strip_prefix("hold:") {
                Some(resource) => Some(MutexTimer::Hold(resource.to_string())),
                None => T::from_key(key).map(MutexTimer::Rules),
            },
        }
    }
}

/// The rules set their own timers: `ctx.set_timer(TokenRingTimer::Pass(r), ..)`.
impl<T: Timer> From<T> for MutexTimer<T> {
    fn from(timer: T) -> Self {
        MutexTimer::Rules(timer)
    }
}

/// What a token algorithm persists once it created its tokens, so that a restarted initial holder
/// does not create them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensCreated;

/// What the rules' handlers get: a context whose timers are the host's and the rules' `T`.
pub type MutexCtx<'a, T = NoTimer> = Ctx<'a, MutexTimer<T>>;

/// The rules of one mutual exclusion algorithm, for one node, over any number of resources.
pub trait MutexRules: 'static {
    type Msg: Message;
    /// The rules' own timers ([`NoTimer`] for none); the host keeps `workload` and `hold:*`.
    type Timer: Timer;
    /// What the rules persist ([`crate::core::process::NoState`] for nothing).
    type Durable: Serialize + DeserializeOwned;

    /// The process (re)starts; a restarted process starts from nothing but what it persisted,
    /// `recovered` (`None` at the first start).
    fn start(&mut self, ctx: &mut MutexCtx<Self::Timer>, cs: &mut Cs, recovered: Option<Self::Durable>);

    /// The client wants `resource` (it is idle for it). The rules first record the request with
    /// [`Cs::requested`], then ask for permission; they call [`Cs::enter`] once they have it,
    /// here or in a later handler.
    fn request(&mut self, ctx: &mut MutexCtx<Self::Timer>, cs: &mut Cs, resource: &str);

    /// The client has left the critical section of `resource` (`exit_cs` is already traced).
    fn release(&mut self, ctx: &mut MutexCtx<Self::Timer>, cs: &mut Cs, resource: &str);

    fn message(&mut self, ctx: &mut MutexCtx<Self::Timer>, cs: &mut Cs, from: NodeId, msg: Self::Msg);

    /// One of the rules' own timers fired.
    fn timer(&mut self, _ctx: &mut MutexCtx<Self::Timer>, _cs: &mut Cs, _timer: Self::Timer) {}

    /// Whether `resource` can be asked for at all (token algorithms know only their tokens).
    fn can_request(&self, _resource: &str) -> Result<(), String> {
        Ok(())
    }

    /// Whether this node takes part in the workload (the central coordinator serves instead).
    fn runs_workload(&self) -> bool {
        true
    }

    /// The node the `leader` fault target should hit, as this node sees it: the coordinator, or
    /// this node while it holds a token.
    fn leader(&self) -> Option<NodeId> {
        None
    }

    /// The rules' state for the `state` command.
    fn state(&self) -> Value {
        Value::Null
    }
}

/// Where the client is with one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// Asked for it, not in yet. `auto`: the workload asked (and will release after `hold_ms`).
    Waiting { auto: bool, traced: bool },
    /// In its critical section.
    Held { auto: bool },
}

/// The critical sections of one node as its client sees them, handed to the rules.
pub struct Cs {
    workload: Workload,
    uses: BTreeMap<String, Use>,
}

impl Cs {
    fn new(workload: Workload) -> Cs {
        Cs { workload, uses: BTreeMap::new() }
    }

    /// The client is waiting for `resource`: it asked and has not entered yet.
    pub fn wants(&self, resource: &str) -> bool {
        matches!(self.uses.get(resource), Some(Use::Waiting { .. }))
    }

    /// The client is in the critical section of `resource`.
    pub fn holds(&self, resource: &str) -> bool {
        matches!(self.uses.get(resource), Some(Use::Held { .. }))
    }

    /// Records the request in the trace, with the rules' stamp, e.g.
    /// `Request { ts: Some(17), ..Request::of(resource) }`.
    pub fn requested<T: Timer>(&mut self, ctx: &mut MutexCtx<T>, request: Request) {
        if let Some(Use::Waiting { traced, .. }) = self.uses.get_mut(&request.resource) {
            *traced = true;
        }
        ctx.emit(&MutexEvent::Request(request));
    }

    /// The rules grant the client `resource`: it enters the critical section. Entering a
    /// resource the client is not waiting for is a bug in the rules, and ignored.
    pub fn enter<T: Timer>(&mut self, ctx: &mut MutexCtx<T>, resource: &str) {
        let Some(Use::Waiting { auto, .. }) = self.uses.get(resource).copied() else {
            debug_assert!(false, "node {} entered {resource:?} without waiting for it", ctx.me());
            return;
        };
        self.uses.insert(resource.to_string(), Use::Held { auto });
        ctx.emit(&MutexEvent::EnterCs { resource: resource.to_string() });
        if auto {
            ctx.set_timer(MutexTimer::Hold(resource.to_string()), self.workload.hold());
        }
    }

    fn describe(&self) -> Value {
        let pick = |held: bool| -> Vec<&String> {
            self.uses.iter().filter(|(_, u)| matches!(u, Use::Held { .. }) == held).map(|(r, _)| r).collect()
        };
        json!({ "held": pick(true), "waiting": pick(false) })
    }
}

/// [`MutexRules::can_request`] for a token algorithm: only the resources it made tokens for
/// (`params.workload.resources`) can be asked for; the error lists them.
pub fn token_resource<V>(algorithm: &str, tokens: &BTreeMap<String, V>, resource: &str) -> Result<(), String> {
    match tokens.contains_key(resource) {
        true => Ok(()),
        false => Err(format!(
            "{algorithm} has a token only for the resources in params.workload.resources: {:?}",
            tokens.keys().collect::<Vec<_>>()
        )),
    }
}

/// A mutual exclusion algorithm as a [`Process`]: its rules, driven by the workload and commands.
pub struct MutexNode<R: MutexRules> {
    rules: R,
    cs: Cs,
    /// `ctx.now()` when the process started: the workload's `start_after`/`stop_after` count from it.
    started_at: u64,
}

impl<R: MutexRules> MutexNode<R> {
    pub fn new(rules: R, workload: Workload) -> Self {
        MutexNode { rules, cs: Cs::new(workload), started_at: 0 }
    }

    /// The client asks for `resource`; `auto` when the workload asks.
    fn acquire(&mut self, ctx: &mut MutexCtx<R::Timer>, resource: &str, auto: bool) {
        self.cs.uses.insert(resource.to_string(), Use::Waiting { auto, traced: false });
        self.rules.request(ctx, &mut self.cs, resource);
        if let Some(Use::Waiting { traced: false, .. }) = self.cs.uses.get(resource) {
            debug_assert!(false, "the rules did not record the request for {resource:?}");
            self.cs.requested(ctx, Request::of(resource));
        }
    }

    /// The client leaves `resource`: `exit_cs` first, then the rules let the next one in.
    fn leave(&mut self, ctx: &mut MutexCtx<R::Timer>, resource: &str) {
        self.cs.uses.remove(resource);
        ctx.cancel_timer(MutexTimer::Hold(resource.to_string()));
        ctx.emit(&MutexEvent::ExitCs { resource: resource.to_string() });
        self.rules.release(ctx, &mut self.cs, resource);
    }

    /// One workload request: a resource this node is idle for, picked uniformly.
    fn workload_tick(&mut self, ctx: &mut MutexCtx<R::Timer>) {
        let w = &self.cs.workload;
        if w.stop_after().is_some_and(|stop| ctx.now().saturating_sub(self.started_at) >= stop) {
            return;
        }
        let idle: Vec<String> = w.resources.iter().filter(|r| !self.cs.uses.contains_key(*r)).cloned().collect();
        if !idle.is_empty() {
            let pick = ctx.rng().random_range(0..idle.len());
            self.acquire(ctx, &idle[pick], true);
        }
        let gap = self.cs.workload.next_gap(ctx.rng());
        ctx.set_timer(MutexTimer::Workload, gap);
    }
}

impl<R: MutexRules> Process for MutexNode<R> {
    type Msg = R::Msg;
    type Timer = MutexTimer<R::Timer>;
    type Durable = R::Durable;

    fn on_start(&mut self, ctx: &mut MutexCtx<R::Timer>, recovered: Option<R::Durable>) {
        self.started_at = ctx.now();
        self.cs.uses.clear();
        self.rules.start(ctx, &mut self.cs, recovered);
        if self.cs.workload.active() && self.rules.runs_workload() {
            let first = self.cs.workload.start_after() + self.cs.workload.next_gap(ctx.rng());
            ctx.set_timer(MutexTimer::Workload, first);
        }
    }

    fn on_message(&mut self, ctx: &mut MutexCtx<R::Timer>, from: NodeId, msg: R::Msg) {
        self.rules.message(ctx, &mut self.cs, from, msg);
    }

    fn on_timer(&mut self, ctx: &mut MutexCtx<R::Timer>, timer: MutexTimer<R::Timer>) {
        match timer {
            MutexTimer::Workload => self.workload_tick(ctx),
            MutexTimer::Hold(resource) => {
                if self.cs.holds(&resource) {
                    self.leave(ctx, &resource);
                }
            }
            MutexTimer::Rules(timer) => self.rules.timer(ctx, &mut self.cs, timer),
        }
    }

    /// `acquire RESOURCE` (held until `release RESOURCE`), `release RESOURCE`, `state`.
    fn on_command(&mut self, ctx: &mut MutexCtx<R::Timer>, args: &[String]) -> Result<String, String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["acquire", resource] => {
                self.rules.can_request(resource)?;
                if self.cs.wants(resource) {
                    return Err(format!("already waiting for {resource}"));
                }
                if self.cs.holds(resource) {
                    return Err(format!("already holding {resource}"));
                }
                self.acquire(ctx, resource, false);
                Ok(if self.cs.holds(resource) {
                    format!("entered {resource}")
                } else {
                    format!("requested {resource}; waiting")
                })
            }
            ["release", resource] => {
                if !self.cs.holds(resource) {
                    return Err(format!("not holding {resource}"));
                }
                self.leave(ctx, resource);
                Ok(format!("released {resource}"))
            }
            ["state"] => Ok(json!({ "client": self.cs.describe(), "rules": self.rules.state() }).to_string()),
            _ => Err(format!(
                "unknown command {args:?}; mutex algorithms know: acquire RESOURCE, release RESOURCE, state"
            )),
        }
    }

    fn status(&self) -> Status {
        let role = if self.cs.uses.values().any(|u| matches!(u, Use::Held { .. })) {
            "in_cs"
        } else if self.cs.uses.is_empty() {
            "idle"
        } else {
            "waiting"
        };
        Status { role: role.into(), leader: self.rules.leader(), term: None }
    }
}

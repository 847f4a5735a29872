//! One actix actor per algorithm instance: it owns the process and carries out its effects.
//!
//! The effects of a handler are carried out in the order the handler asked, exactly as the
//! simulator's `carry_out` does (`algorithms/src/sim.rs`), so a real run and a simulated run of
//! the same algorithm differ only in timing:
//! - `Send`: stamp a `send` record, whose clocks travel in the envelope, then queue the frame;
//! - `SetTimer`: `run_later` with a fresh generation number; a fire whose generation is no longer
//!   the timer's (cancelled, replaced, or set before a restart) is ignored and not traced;
//! - `CancelTimer`: forget the generation;
//! - `Persist`: write the state durably, whole, *before* the next effect (temp file, fsync,
//!   rename), dropping the records appended before it;
//! - `PersistAppend`: append the record to the instance's append log and fsync it *before* the
//!   next effect (see [`crate::durable`]);
//! - `Event`: an `event` record.
//!
//! Handlers see the node's drifting clock ([`crate::clock`]): `ctx.now()` and timer delays follow
//! the drift fault, while trace timestamps stay on the true monotonic clock.

use crate::lifecycle::{Lifecycle, Start};
use crate::tracer::Tracer;
use crate::transport::{Deliver, Links};
use actix::prelude::*;
use algorithms::process::{node_rng, World};
use algorithms::trace::What;
use algorithms::{DynProcess, Effect, NodeId, Status};
use bytes::Bytes;
use node::durable::StateFiles;
use node::wire::{self, Envelope};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Envelopes that arrive before a held instance starts wait, at most this many.
const EARLY_LIMIT: usize = 10_000;

pub struct Instance {
    name: String,
    me: NodeId,
    peers: Vec<NodeId>,
    process: Box<dyn DynProcess>,
    rng: ChaCha8Rng,
    incarnation: u64,
    /// Where `Persist` and `PersistAppend` write the process's state; read back (and decoded)
    /// when the node starts.
    files: StateFiles,
    /// Live timers: name → generation.
    timers: HashMap<String, u64>,
    generation: u64,
    started: bool,
    early: Vec<Envelope>,
    links: Links,
    tracer: Arc<Tracer>,
    life: Rc<Lifecycle>,
}

/// Where and how an instance lives; everything but the algorithm's own config.
pub struct Setup<'a> {
    pub me: NodeId,
    pub peers: &'a [NodeId],
    pub seed: u64,
    pub incarnation: u64,
    pub data_dir: &'a Path,
    pub links: Links,
    pub tracer: Arc<Tracer>,
    pub life: Rc<Lifecycle>,
}

impl Instance {
    /// Builds the process and recovers its persisted state; errors name the instance, and the
    /// file when its state cannot be read or does not decode (the node then stops with exit 3:
    /// starting from default state would break what the algorithm promised, e.g. forget a vote).
    pub fn new(cfg: &node::config::InstanceConfig, setup: Setup) -> Result<Instance, String> {
        let mut process = cfg.build(setup.me, setup.peers).map_err(|e| format!("instance {:?}: {e}", cfg.name))?;
        let mut files = StateFiles::new(setup.data_dir, &cfg.name);
        let loaded = files.load().map_err(|e| format!("cannot recover the state of instance {:?}: {e}", cfg.name))?;
        for note in &loaded.notes {
            tracing::warn!("instance {:?}: {note}", cfg.name);
        }
        if let Some(whole) = &loaded.whole {
            process.recover(whole).map_err(|e| {
                format!(
                    "cannot recover the state of instance {:?} from {}: {e}",
                    cfg.name,
                    files.state_path().display()
                )
            })?;
        }
        for (n, record) in loaded.records.iter().enumerate() {
            process.replay(record).map_err(|e| {
                let wal = files.wal_path().display();
                format!("cannot recover the state of instance {:?}: record {} of {wal}: {e}", cfg.name, n + 1)
            })?;
        }
        Ok(Instance {
            name: cfg.name.clone(),
            me: setup.me,
            peers: cfg.process_peers(setup.me, setup.peers),
            process,
            rng: node_rng(setup.seed, setup.me, setup.incarnation),
            incarnation: setup.incarnation,
            files,
            timers: HashMap::new(),
            generation: 0,
            started: false,
            early: Vec::new(),
            links: setup.links,
            tracer: setup.tracer,
            life: setup.life,
        })
    }

    /// Runs one handler in the process's world; returns its result and its effects.
    fn run<R>(&mut self, handler: impl FnOnce(&mut dyn DynProcess, World) -> (R, Vec<Effect>)) -> (R, Vec<Effect>) {
        self.run_at(node::monotonic_ns(), handler)
    }

    /// [`Instance::run`] at monotonic time `t`, already read.
    fn run_at<R>(
        &mut self,
        t: u64,
        handler: impl FnOnce(&mut dyn DynProcess, World) -> (R, Vec<Effect>),
    ) -> (R, Vec<Effect>) {
        let now = self.life.clock.at(t);
        let world = World { me: self.me, peers: &self.peers, now, rng: &mut self.rng };
        handler(self.process.as_mut(), world)
    }

    fn carry_out(&mut self, ctx: &mut Context<Self>, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(out) => {
                    let frame = self.tracer.record_send(&self.name, out.to, out.kind, &out.shown, |lc, vc| {
                        wire::encode_msg(self.me, out.to, &self.name, lc, vc, out.kind, &out.body)
                    });
                    self.links.send(out.to, Bytes::from(frame));
                }
                Effect::SetTimer { name, after } => {
                    self.generation += 1;
                    let generation = self.generation;
                    self.timers.insert(name.clone(), generation);
                    // The old handle is not cancelled: the generation makes its fire a no-op,
                    // which stays right even where cancelling `run_later` has been buggy.
                    let delay = self.life.clock.delay(after); // shorter or longer under a drift fault
                    ctx.run_later(delay, move |act, ctx| act.timer_fired(ctx, name, generation));
                }
                Effect::CancelTimer { name } => {
                    self.timers.remove(&name);
                }
                Effect::Persist(bytes) => {
                    if let Err(e) = self.files.rewrite(&bytes) {
                        return self.cannot_persist(self.files.state_path(), e);
                    }
                }
                Effect::PersistAppend(record) => {
                    if let Err(e) = self.files.append(&record) {
                        return self.cannot_persist(self.files.wal_path(), e);
                    }
                }
                Effect::Event { name, data } => {
                    self.tracer.record(&self.name, What::Event { name, data });
                }
            }
        }
    }

    /// Going on would break the promise that state is durable before the next effect: the node
    /// stops instead (exit 3, a runtime failure).
    fn cannot_persist(&self, path: &Path, e: std::io::Error) {
        let reason = format!("cannot persist instance {:?} ({}): {e}", self.name, path.display());
        tracing::error!("{reason}");
        self.life.stop(&reason, 3);
    }

    fn start(&mut self, ctx: &mut Context<Self>) {
        if self.started {
            return;
        }
        self.started = true;
        self.tracer.record(&self.name, What::Start { incarnation: self.incarnation });
        let ((), effects) = self.run(|p, w| ((), p.on_start(w)));
        self.carry_out(ctx, effects);
        for envelope in std::mem::take(&mut self.early) {
            self.receive(ctx, envelope);
        }
    }

    fn receive(&mut self, ctx: &mut Context<Self>, envelope: Envelope) {
        let Envelope { from, lc, vc, kind, body, .. } = envelope;
        let t = self.tracer.record_recv(&self.name, from, &kind, lc, &vc);
        let (result, effects) = self.run_at(t, |p, w| match p.on_body(w, from, &body) {
            Ok(effects) => (Ok(()), effects),
            Err(bad) => (Err(bad), Vec::new()),
        });
        if let Err(bad) = result {
            self.links.stats.malformed_frames.fetch_add(1, Relaxed);
            self.tracer.record(&self.name, What::Malformed { from: Some(from), reason: bad.to_string() });
        }
        self.carry_out(ctx, effects);
    }

    fn timer_fired(&mut self, ctx: &mut Context<Self>, name: String, generation: u64) {
        if !self.started || self.timers.get(&name) != Some(&generation) {
            return; // stale: cancelled or replaced
        }
        if self.life.quiet() {
            return; // the run is over: the node is falling quiet before it stops
        }
        self.timers.remove(&name);
        self.tracer.record(&self.name, What::Timer { name: name.clone() });
        let ((), effects) = self.run(|p, w| ((), p.on_timer(w, &name)));
        self.carry_out(ctx, effects);
    }
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The control server uses `send().await`, which would wait beyond 16 queued messages.
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

impl Handler<Start> for Instance {
    type Result = ();

    fn handle(&mut self, _: Start, ctx: &mut Self::Context) {
        self.start(ctx);
    }
}

impl Handler<Deliver> for Instance {
    type Result = ();

    fn handle(&mut self, Deliver(envelopes): Deliver, ctx: &mut Self::Context) {
        for envelope in envelopes {
            if self.started {
                self.receive(ctx, envelope);
            } else if self.early.len() < EARLY_LIMIT {
                // A peer that started first: the message waits, as if delayed in the network.
                self.early.push(envelope);
            } else {
                self.links.stats.dropped_frames.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Operator or client input; the reply is the process's answer.
pub struct RunCommand(pub Vec<String>);

impl Message for RunCommand {
    type Result = Result<String, String>;
}

impl Handler<RunCommand> for Instance {
    type Result = Result<String, String>;

    fn handle(&mut self, RunCommand(args): RunCommand, ctx: &mut Self::Context) -> Self::Result {
        if !self.started {
            return Err(format!("instance {:?} has not started (the node is held until a start request)", self.name));
        }
        let (result, effects) = self.run(|p, w| p.on_command(w, &args));
        let (ok, reply) = match &result {
            Ok(reply) => (true, reply.clone()),
            Err(error) => (false, error.clone()),
        };
        // Recorded before the effects: the command causes its sends and events.
        self.tracer.record(&self.name, What::Command { args, ok, reply });
        self.carry_out(ctx, effects);
        result
    }
}

/// The `corrupt` fault, for the instance's process; an algorithm that does not opt in refuses.
pub struct Corrupt;

impl Message for Corrupt {
    type Result = Result<(), String>;
}

impl Handler<Corrupt> for Instance {
    type Result = Result<(), String>;

    fn handle(&mut self, _: Corrupt, ctx: &mut Self::Context) -> Self::Result {
        if !self.started {
            return Err(format!("instance {:?} has not started (the node is held until a start request)", self.name));
        }
        let (supported, effects) = self.run(|p, w| p.on_corrupt(w));
        if !supported {
            return Err(algorithms::faults::unsupported_corrupt(&self.name));
        }
        self.carry_out(ctx, effects);
        Ok(())
    }
}

/// The process's own view, `held` before it starts.
pub struct GetStatus;

impl Message for GetStatus {
    type Result = Status;
}

impl Handler<GetStatus> for Instance {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        if self.started {
            MessageResult(self.process.status())
        } else {
            MessageResult(Status { role: "held".into(), leader: None, term: None })
        }
    }
}

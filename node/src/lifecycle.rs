//! Starting and stopping the node: one [`Lifecycle`] shared by the control server, the signal
//! handlers and the instances.
//!
//! It knows the instances only as recipients of [`Start`], not as the instance actor's type, so
//! this module depends on nothing but the clock and the tracer.

use crate::clock::DriftClock;
use crate::tracer::Tracer;
use actix::prelude::*;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::Arc;

/// Start the process (first `start` request, or at once for a node that is not held).
pub struct Start;

impl Message for Start {
    type Result = ();
}

/// Starting and stopping the node, shared by the control server, signal handlers and instances.
pub struct Lifecycle {
    /// The time algorithms see (`ctx.now()`, timer delays), which a drift fault changes.
    pub clock: DriftClock,
    tracer: Arc<Tracer>,
    names: Vec<String>,
    control: Option<PathBuf>,
    stopping: Cell<bool>,
    started: Cell<bool>,
    /// `quiesce` was asked: timers no longer fire, so the cluster falls quiet before it stops.
    quiet: Cell<bool>,
    instances: RefCell<Vec<Recipient<Start>>>,
}

impl Lifecycle {
    /// A node with instances `names` (for their `stop` records) and its control socket at
    /// `control` (removed on stop); nothing is started yet.
    pub fn new(tracer: Arc<Tracer>, names: Vec<String>, control: Option<PathBuf>) -> Lifecycle {
        Lifecycle {
            clock: DriftClock::default(),
            tracer,
            names,
            control,
            stopping: Cell::new(false),
            started: Cell::new(false),
            quiet: Cell::new(false),
            instances: RefCell::new(Vec::new()),
        }
    }

    /// An instance that [`Lifecycle::start`] starts.
    pub fn add_instance(&self, instance: Recipient<Start>) {
        self.instances.borrow_mut().push(instance);
    }

    /// Starts every instance, once; later calls do nothing.
    pub fn start(&self) {
        if !self.started.replace(true) {
            tracing::info!("starting instances");
            for instance in self.instances.borrow().iter() {
                instance.do_send(Start);
            }
        }
    }

    pub fn started(&self) -> bool {
        self.started.get()
    }

    /// From now on no timer fires (and none is traced); messages are still received and
    /// answered. Every message of an algorithm is caused by a timer, a command or another
    /// message, so a cluster whose nodes all quiesce falls quiet, and what was in flight arrives
    /// before the nodes stop (a stop while peers still send loses their last messages).
    pub fn quiesce(&self) {
        if !self.quiet.replace(true) {
            tracing::info!("quiescing: timers no longer fire");
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet.get()
    }

    /// Writes the `stop` records (nothing is traced after them), removes the control socket and
    /// ends the actix system, whose runner returns `code` as the exit status.
    pub fn stop(&self, reason: &str, code: i32) {
        if self.stopping.replace(true) {
            return;
        }
        tracing::info!("stopping: {reason}");
        self.tracer.stop(&self.names, reason);
        if let Some(path) = &self.control {
            let _ = std::fs::remove_file(path);
        }
        System::current().stop_with_code(code);
    }
}

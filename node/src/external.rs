//! A Maelstrom-protocol program as an instance: `algorithm = "maelstrom"` with `params.command`.
//!
//! The node starts the program as its child when the instance starts, sends it Maelstrom's `init`
//! and waits (at most `params.init_timeout_ms`) for `init_ok`; then it bridges the program's
//! stdout and stdin, one JSON message `{src, dest, body}` per line:
//!
//! - a line to `n<k>` (another server) or `c<k>` (a client node) travels as the body of a
//!   clusterlab envelope (MessagePack of the JSON body, kind = the body's `type`) over the node's
//!   links, so every proxy and iptables fault applies to it, and is traced like any send;
//! - an envelope from node `k` becomes a line from `n<k>` or `c<k>` on the program's stdin;
//! - a line to `lin-kv`, `seq-kv` or `lww-kv` is a request to clusterlab's own services
//!   ([`algorithms::maelstrom::kv`]). They live on the lowest server (its node holds the one copy
//!   of each store, so `lin-kv` is linearizable by construction), reached over the same links in
//!   envelopes whose instance is the service's name: traced (instance `lin-kv`, kind the body's
//!   `type`) and faulted like any message. On the host the request is served by this actor
//!   whatever its program is doing; the answer comes back as a line from `lin-kv`. The host's own
//!   program reaches them without the network, traced as a send to and a receive from itself.
//!   The host persists their whole state in its data directory (`maelstrom-services.state`)
//!   after each operation that changed it, before the answer goes out, and recovers it when it
//!   starts again: a state that does not decode stops the node with a message naming the file.
//!
//! The program's stderr is the node's (the node's log). The child, and whatever it starts (a
//! `sh -c '… & exec …'` leaves grandchildren), stays in the node's process group, which the
//! orchestrator makes for each node: its pause (SIGSTOP of the group) stops them all, its kill is
//! a SIGKILL of the group, and it kills the group again once a node has exited, so nothing a
//! program started outlives its node's run. The child itself also dies with the node on every exit
//! path (`PR_SET_PDEATHSIG`, SIGKILL of the node included), for nodes started by hand; and when
//! the node and its orchestrator are both gone (the orchestrator SIGKILLed), a watchdog in the
//! node's group kills what is left of it ([`guard_process_group`]). `status`
//! lists the instance like any other, its role saying where the program is (`held`, `starting`,
//! `running`, `exited`). A program that exits, prints
//! something that is not a message before `init_ok`, or does not answer `init` in time stops the
//! node with exit 3 and an error naming the node and quoting what it printed; its exit is traced
//! (a `program_exit` event) and, while the node runs, stops the node the same way, which the
//! orchestrator reports as a problem of the run.

use crate::instance::{Corrupt, GetStatus, RunCommand};
use crate::lifecycle::{Lifecycle, Start};
use crate::tracer::Tracer;
use crate::transport::{Deliver, Links};
use actix::prelude::*;
use algorithms::maelstrom::kv::{Services, SERVICES};
use algorithms::maelstrom::{client_name, intern, server_name, MaelstromParams};
use algorithms::trace::{ShownMsg, What};
use algorithms::{NodeId, Status};
use bytes::Bytes;
use node::durable::StateFiles;
use node::wire::{self, Envelope};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// A line from the program longer than this is not a message.
const MAX_LINE: usize = 1 << 20;
/// Lines waiting for the program's stdin, at most (more are dropped and counted).
const STDIN_QUEUE: usize = 10_000;
/// Envelopes that arrive before `init_ok` wait, at most this many.
const EARLY_LIMIT: usize = 10_000;
/// The source of `init`: no node of the cluster has id 0.
const INIT_SRC: &str = "c0";
/// The services' whole state in the host's data directory: `maelstrom-services.state`.
pub const SERVICES_STATE: &str = "maelstrom-services";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// `init` sent, waiting for `init_ok`.
    Init,
    Ready,
    /// Failed or exited: nothing more is bridged.
    Gone,
}

pub struct External {
    name: String,
    me: NodeId,
    /// Every server id, `me` included: they are `n<k>`; every other node is `c<k>`.
    servers: BTreeSet<NodeId>,
    peers: BTreeSet<NodeId>,
    params: MaelstromParams,
    incarnation: u64,
    phase: Phase,
    stdin: Option<tokio::sync::mpsc::Sender<String>>,
    early: Vec<Envelope>,
    /// The services, on the lowest server only, with the rng `seq-kv` and `lww-kv` draw from.
    services: Option<(Services, rand_chacha::ChaCha8Rng)>,
    /// Where the host keeps the services' state, and the state last written there.
    store: Option<(StateFiles, Vec<u8>)>,
    links: Links,
    tracer: Arc<Tracer>,
    life: Rc<Lifecycle>,
}

impl External {
    /// `servers`: the service's servers when the cluster has client nodes, else every node. On
    /// the host of the services, their state is recovered from `data_dir`; state that cannot be
    /// read or does not decode is an error naming the file (the node stops: serving empty stores
    /// would lose what they acknowledged).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        me: NodeId,
        peers: &[NodeId],
        servers: Option<&[NodeId]>,
        params: MaelstromParams,
        seed: u64,
        incarnation: u64,
        data_dir: &std::path::Path,
        links: Links,
        tracer: Arc<Tracer>,
        life: Rc<Lifecycle>,
    ) -> Result<External, String> {
        let servers: BTreeSet<NodeId> = match servers {
            Some(s) => s.iter().copied().chain([me]).collect(),
            None => peers.iter().copied().chain([me]).collect(),
        };
        let host = servers.first() == Some(&me);
        let (mut services, mut store) = (None, None);
        if host {
            let (recovered, files, bytes) = recover_services(data_dir)?;
            services = Some((recovered, algorithms::core::process::node_rng(seed, me, incarnation)));
            store = Some((files, bytes));
        }
        Ok(External {
            name: name.to_string(),
            me,
            servers,
            peers: peers.iter().copied().collect(),
            params,
            incarnation,
            phase: Phase::Idle,
            stdin: None,
            early: Vec::new(),
            services,
            store,
            links,
            tracer,
            life,
        })
    }

    /// Writes the services' state (fsynced, whole: see [`StateFiles::rewrite`]) when an operation
    /// changed it, before its reply goes out; a state that cannot be written stops the node.
    fn persist_services(&mut self) {
        let (Some((services, _)), Some((files, last))) = (&self.services, &mut self.store) else { return };
        let bytes = serde_json::to_vec(services).expect("the services' state always encodes");
        if bytes == *last {
            return;
        }
        if let Err(e) = files.rewrite(&bytes) {
            let path = files.state_path().display().to_string();
            return self.fail(format!("node {}: cannot persist the services' state to {path}: {e}", self.me));
        }
        *last = bytes;
    }

    fn program(&self) -> String {
        self.params.command.join(" ")
    }

    /// Maelstrom's name of node `k`.
    fn name_of(&self, k: NodeId) -> String {
        if self.servers.contains(&k) {
            server_name(k)
        } else {
            client_name(k)
        }
    }

    /// The node a Maelstrom name stands for, if it is one of this cluster's.
    fn id_of(&self, name: &str) -> Option<NodeId> {
        let (server, digits) = match name.as_bytes().first() {
            Some(b'n') => (true, &name[1..]),
            Some(b'c') => (false, &name[1..]),
            _ => return None,
        };
        let k: NodeId = digits.parse().ok()?;
        (self.peers.contains(&k) && self.servers.contains(&k) == server).then_some(k)
    }

    /// The program cannot go on: the node stops (exit 3) with `reason`, which names the node.
    fn fail(&mut self, reason: String) {
        self.phase = Phase::Gone;
        self.stdin = None;
        tracing::error!("{reason}");
        self.life.stop(&reason, 3);
    }

    fn spawn(&mut self, ctx: &mut Context<Self>) -> Result<(), String> {
        let (program, args) = self.params.command.split_first().ok_or("params.command is empty")?;
        guard_process_group();
        let mut cmd = std::process::Command::new(program);
        cmd.args(args).envs(&self.params.env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        if let Some(cwd) = &self.params.cwd {
            cmd.current_dir(cwd);
        }
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(1); // the node died between fork and prctl
                }
                Ok(())
            });
        }
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("node {}: cannot start the program {:?}: {e}", self.me, self.program()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        ctx.add_stream(FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE)));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(STDIN_QUEUE);
        actix_rt::spawn(async move {
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
                    break; // the program closed its stdin or exited: its exit is reported
                }
            }
        });
        // Not `ctx.address()`: with the mailbox capacity at usize::MAX actix overflows counting
        // senders. The wait runs in the actor's context instead.
        ctx.spawn(actix::fut::wrap_future(async move { child.wait().await }).map(|status, act: &mut Self, _| {
            act.exited(status.map_err(|e| e.to_string()));
        }));
        self.stdin = Some(tx);
        Ok(())
    }

    /// Writes one message to the program's stdin.
    fn write(&self, src: &str, body: &Value) {
        let Some(stdin) = &self.stdin else { return };
        let mut line = json!({ "src": src, "dest": server_name(self.me), "body": body }).to_string();
        line.push('\n');
        if stdin.try_send(line).is_err() {
            self.links.stats.dropped_frames.fetch_add(1, Relaxed);
        }
    }

    fn receive(&mut self, envelope: Envelope) {
        let Envelope { from, lc, vc, kind, body, .. } = envelope;
        self.tracer.record_recv(&self.name, from, &kind, lc, &vc);
        if let Some(body) = self.decode(&self.name, from, &body) {
            self.write(&self.name_of(from), &body);
        }
    }

    /// A received body as JSON; one that does not decode is counted and traced as malformed.
    fn decode(&self, instance: &str, from: NodeId, body: &[u8]) -> Option<Value> {
        rmp_serde::from_slice::<Value>(body)
            .map_err(|e| {
                self.links.stats.malformed_frames.fetch_add(1, Relaxed);
                let reason = format!("a body that is not a Maelstrom message: {e}");
                self.tracer.record(instance, What::Malformed { from: Some(from), reason });
            })
            .ok()
    }

    /// One line the program printed.
    fn line(&mut self, line: &str) {
        let message = serde_json::from_str::<Value>(line).ok().filter(|m| m.get("body").is_some_and(Value::is_object));
        let Some(message) = message else {
            if self.phase == Phase::Init {
                return self.fail(format!(
                    "node {}: the program {:?} printed something that is not a Maelstrom message before init_ok: {:?}",
                    self.me,
                    self.program(),
                    cut(line)
                ));
            }
            tracing::warn!("the program printed a line that is not a Maelstrom message: {:?}", cut(line));
            let reason = format!("the program printed a line that is not a Maelstrom message: {:?}", cut(line));
            self.tracer.record(&self.name, What::Malformed { from: None, reason });
            return;
        };
        let dest = message.get("dest").and_then(Value::as_str).unwrap_or("");
        let body = &message["body"];
        if dest == INIT_SRC {
            if self.phase == Phase::Init && body.get("type").and_then(Value::as_str) == Some("init_ok") {
                self.ready();
            }
            return;
        }
        if SERVICES.contains(&dest) {
            return self.request_service(dest, body.clone());
        }
        let Some(to) = self.id_of(dest) else {
            tracing::warn!("the program sent a message to {dest:?}, which is no node of the cluster");
            let reason = format!("the program sent a message to {dest:?}, which is no node of the cluster");
            self.tracer.record(&self.name, What::Malformed { from: None, reason });
            return;
        };
        self.send_as(&self.name, to, body);
    }

    /// Sends `body` in an envelope of `instance` (this one's, or a service's name) to node `to`.
    fn send_as(&self, instance: &str, to: NodeId, body: &Value) {
        let kind = intern(body.get("type").and_then(Value::as_str).unwrap_or(""));
        let encoded: std::sync::Arc<[u8]> = rmp_serde::to_vec_named(body).expect("JSON values always encode").into();
        let me = self.me;
        let frame = self.tracer.record_send(instance, to, kind, &ShownMsg::packed(encoded.clone()), |lc, vc| {
            wire::encode_msg(me, to, instance, lc, vc, kind, &encoded)
        });
        self.links.send(to, Bytes::from(frame));
    }

    /// The program's request to `service`: to the host over the links, or served here.
    fn request_service(&mut self, service: &str, body: Value) {
        let host = *self.servers.first().expect("this node is a server");
        if host != self.me {
            return self.send_as(service, host, &body);
        }
        let me = self.me;
        self.loop_back(service, &body);
        let requester = server_name(me);
        let Some((services, rng)) = &mut self.services else { return };
        if let Some(reply) = services.handle(service, &requester, &body, rng) {
            self.persist_services();
            self.loop_back(service, &reply);
            self.write(service, &reply);
        }
    }

    /// A message between this node's program and the services it hosts: traced as a send to this
    /// node and its receipt.
    fn loop_back(&self, service: &str, body: &Value) {
        let kind = intern(body.get("type").and_then(Value::as_str).unwrap_or(""));
        let (lc, vc) = self.tracer.record_send(service, self.me, kind, &ShownMsg::of(body), |lc, vc| (lc, vc.clone()));
        self.tracer.record_recv(service, self.me, kind, lc, &vc);
    }

    /// An envelope of a service's instance: a request to the services here, or an answer for the
    /// program.
    fn service_envelope(&mut self, envelope: Envelope) {
        let Envelope { from, lc, vc, kind, body, instance, .. } = envelope;
        self.tracer.record_recv(&instance, from, &kind, lc, &vc);
        let Some(body) = self.decode(&instance, from, &body) else { return };
        let requester = self.name_of(from);
        if let Some((services, rng)) = &mut self.services {
            if let Some(reply) = services.handle(&instance, &requester, &body, rng) {
                self.persist_services();
                return self.send_as(&instance, from, &reply);
            }
        }
        if self.phase == Phase::Ready {
            self.write(&instance, &body);
        }
    }

    fn ready(&mut self) {
        self.phase = Phase::Ready;
        self.tracer.record(&self.name, What::Event { name: "program_ready".into(), data: json!({}) });
        for envelope in std::mem::take(&mut self.early) {
            self.receive(envelope);
        }
    }
}

/// The services' state as the host's last incarnation left it in `data_dir` (empty stores when
/// there is none), its files, and its bytes.
fn recover_services(data_dir: &std::path::Path) -> Result<(Services, StateFiles, Vec<u8>), String> {
    let mut files = StateFiles::new(data_dir, SERVICES_STATE);
    let loaded = files.load().map_err(|e| format!("cannot recover the services' state: {e}"))?;
    for note in &loaded.notes {
        tracing::warn!("the services' state: {note}");
    }
    let Some(bytes) = loaded.whole else { return Ok((Services::default(), files, Vec::new())) };
    let services = serde_json::from_slice(&bytes).map_err(|e| {
        format!("cannot recover the services' state from {}: it does not decode: {e}", files.state_path().display())
    })?;
    Ok((services, files, bytes))
}

/// What a program started (`sh -c 'helper & exec my_node'`) must not outlive the node, even when
/// nothing is left to kill it: a node SIGKILLed with its orchestrator (`PR_SET_PDEATHSIG`) takes
/// its program along, but a grandchild is reparented and goes on. So, once per node, before its
/// first program: a watchdog shell in the node's process group, blocked reading a pipe whose only
/// writer is the node. However the node ends, the kernel closes that pipe; the watchdog's read
/// returns and it SIGKILLs its own process group (`kill -KILL 0`): every process the node's
/// programs started, and itself. It ignores SIGHUP, which the kernel sends (with SIGCONT) to a
/// process group orphaned while some of it is stopped (a paused node's), so it wakes and kills
/// then too. Only when the node leads its own process group (the orchestrator makes one per node):
/// a node started by hand inside some other group leaves that group alone.
fn guard_process_group() {
    static WATCHDOG: std::sync::OnceLock<Option<std::process::ChildStdin>> = std::sync::OnceLock::new();
    WATCHDOG.get_or_init(|| {
        // SAFETY: getpgrp and getpid have no preconditions.
        if unsafe { libc::getpgrp() != libc::getpid() } {
            return None;
        }
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "trap '' HUP; read -r _; kill -KILL 0", "clusterlab-watchdog"]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
        match cmd.spawn() {
            // The write end stays open for the node's whole life (the static is never dropped);
            // it is close-on-exec, so no program holds it.
            Ok(mut watchdog) => watchdog.stdin.take(),
            Err(e) => {
                tracing::warn!("cannot start the process group's watchdog (sh): {e}");
                None
            }
        }
    });
}

/// At most 200 characters of a line, for error messages.
fn cut(line: &str) -> String {
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

impl Actor for External {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(usize::MAX);
    }
}

impl Handler<Start> for External {
    type Result = ();

    fn handle(&mut self, _: Start, ctx: &mut Self::Context) {
        if self.phase != Phase::Idle {
            return;
        }
        self.tracer.record(&self.name, What::Start { incarnation: self.incarnation });
        if let Err(reason) = self.spawn(ctx) {
            return self.fail(reason);
        }
        self.phase = Phase::Init;
        let node_ids: Vec<String> = self.servers.iter().map(|k| server_name(*k)).collect();
        let init = json!({"type": "init", "msg_id": 1, "node_id": server_name(self.me), "node_ids": node_ids});
        self.write(INIT_SRC, &init);
        let timeout = self.params.init_timeout();
        ctx.run_later(timeout, move |act, _| {
            if act.phase == Phase::Init {
                act.fail(format!(
                    "node {}: the program {:?} did not answer init with init_ok within {} ms",
                    act.me,
                    act.program(),
                    timeout.as_millis()
                ));
            }
        });
    }
}

impl StreamHandler<Result<String, LinesCodecError>> for External {
    fn handle(&mut self, item: Result<String, LinesCodecError>, _: &mut Self::Context) {
        if self.phase == Phase::Gone {
            return;
        }
        match item {
            Ok(line) => self.line(&line),
            Err(e) => self.fail(format!("node {}: the program {:?} printed a bad line: {e}", self.me, self.program())),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // stdout closed: the program is exiting; `Exited` says how. The actor stays for it.
    }
}

impl Handler<Deliver> for External {
    type Result = ();

    fn handle(&mut self, Deliver(envelopes): Deliver, _: &mut Self::Context) {
        for envelope in envelopes {
            if SERVICES.contains(&envelope.instance.as_str()) {
                self.service_envelope(envelope);
                continue;
            }
            match self.phase {
                Phase::Ready => self.receive(envelope),
                Phase::Idle | Phase::Init if self.early.len() < EARLY_LIMIT => self.early.push(envelope),
                _ => {
                    self.links.stats.dropped_frames.fetch_add(1, Relaxed);
                }
            }
        }
    }
}

/// The instance as `status` lists it: where the program is.
impl Handler<GetStatus> for External {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        let role = match self.phase {
            Phase::Idle => "held",
            Phase::Init => "starting",
            Phase::Ready => "running",
            Phase::Gone => "exited",
        };
        MessageResult(Status { role: role.into(), leader: None, term: None })
    }
}

impl Handler<RunCommand> for External {
    type Result = Result<String, String>;

    fn handle(&mut self, RunCommand(args): RunCommand, _: &mut Self::Context) -> Self::Result {
        Err(format!(
            "instance {:?} is the program {:?}, which takes its input as Maelstrom messages, not commands ({args:?})",
            self.name,
            self.program()
        ))
    }
}

impl Handler<Corrupt> for External {
    type Result = Result<(), String>;

    fn handle(&mut self, _: Corrupt, _: &mut Self::Context) -> Self::Result {
        Err(algorithms::faults::unsupported_corrupt(&self.name))
    }
}

impl External {
    /// The program exited (or waiting for it failed).
    fn exited(&mut self, status: Result<ExitStatus, String>) {
        use std::os::unix::process::ExitStatusExt;
        let (code, signal, text) = match &status {
            Ok(s) => (s.code(), s.signal(), s.to_string()),
            Err(e) => (None, None, format!("cannot be waited for: {e}")),
        };
        self.tracer.record(
            &self.name,
            What::Event { name: "program_exit".into(), data: json!({"code": code, "signal": signal}) },
        );
        if self.phase == Phase::Gone {
            return;
        }
        let when = if self.phase == Phase::Init { "before answering init" } else { "while the node ran" };
        self.fail(format!("node {}: the program {:?} exited {when} ({text})", self.me, self.program()));
    }
}

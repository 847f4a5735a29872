//! The node processes of one run: launching, connecting, killing, restarting and stopping them.
//!
//! Nodes must never outlive the orchestrator, whatever ends it: each child gets
//! `PR_SET_PDEATHSIG = SIGKILL` (the kernel kills it when the orchestrator's main thread dies,
//! SIGKILL included), holds an `attach` control connection that it treats as its lifeline, and is
//! killed by [`Cluster`]'s `Drop` on every ordinary exit path. Children run in their own process
//! group so that a terminal's Ctrl-C reaches only the orchestrator, which then stops them in order
//! and keeps their traces complete.

use crate::child::die_with_orchestrator;
use crate::netns::Netns;
use algorithms::{NodeId, Status};
use anyhow::{anyhow, bail, Context, Result};
use node::config::{InstanceConfig, NodeConfig, Peer};
use node::control::{Client, NodeStatus, Request, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);
/// From this many nodes on, nodes run at a lower CPU priority than the orchestrator: the proxy
/// relays every node's traffic, so among hundreds of equally weighted node processes on two
/// cores its few threads starve, hellos miss their deadline and connections churn.
const LARGE_CLUSTER: usize = 20;
/// The nice value of nodes in a large cluster (a process may always lower its own priority).
const NODE_NICE: i32 = 10;

/// Runs the child at [`NODE_NICE`].
fn lower_priority(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setpriority is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, NODE_NICE);
            Ok(())
        });
    }
}

/// How to lay out one cluster.
pub struct ClusterSpec {
    pub node_bin: PathBuf,
    pub run_dir: PathBuf,
    pub cluster_id: String,
    pub seed: u64,
    pub instance: InstanceConfig,
    /// A service's client nodes and the instance they run (the same name as the servers', so
    /// frames reach the servers' instance).
    pub clients: Option<(Vec<NodeId>, InstanceConfig)>,
    /// Each node's own listen address.
    pub listen: BTreeMap<NodeId, SocketAddr>,
    /// The address node `from` dials to reach `to`: the proxy's listener for that link, or the
    /// peer's own address.
    pub dial: BTreeMap<(NodeId, NodeId), SocketAddr>,
    /// The multiplexing proxy every node reaches all its peers through (one connection each), on
    /// the proxy network.
    pub mux: Option<SocketAddr>,
    /// Bind outgoing connections to the node's own listen address (iptables rules need it).
    pub bind_own_address: bool,
    /// Start the nodes inside this network namespace.
    pub netns: Option<Arc<Netns>>,
}

struct Member {
    config: NodeConfig,
    config_path: PathBuf,
    child: Option<Child>,
    /// The `attach` connection: when it closes, the node exits.
    lifeline: Option<Client>,
}

pub struct Cluster {
    spec: ClusterSpec,
    members: BTreeMap<NodeId, Member>,
    /// Nodes stopped with SIGSTOP: they cannot answer, so nobody asks them.
    paused: BTreeSet<NodeId>,
    /// Where control sockets live when the run directory's path is too long for one.
    socket_dir: Option<PathBuf>,
}

/// Picks `n` free ports on 127.0.0.1 (bound together, then released for the nodes).
///
/// The ports come from below the kernel's ephemeral range: a port released there could be taken
/// by any outgoing connection on the machine (nodes make many) before the node binds it, while
/// below it only another listener could. Where the range leaves no room, ephemeral ports it is.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = 10_000u16;
    let mut listeners: Vec<TcpListener> = Vec::with_capacity(n);
    if ephemeral_start > low + 1000 {
        // Start somewhere different in every process, so concurrent runs rarely probe the same ports.
        let span = (ephemeral_start - low) as u64;
        let mut next = (std::process::id() as u64 * 7919 + node::monotonic_ns() / 1000) % span;
        for _ in 0..span {
            if listeners.len() == n {
                break;
            }
            if let Ok(l) = TcpListener::bind(("127.0.0.1", low + next as u16)) {
                listeners.push(l);
            }
            next = (next + 1) % span;
        }
    }
    while listeners.len() < n {
        listeners.push(TcpListener::bind("127.0.0.1:0")?);
    }
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

impl Cluster {
    /// Writes every node's config; starts nothing yet.
    pub fn prepare(spec: ClusterSpec) -> Result<Cluster> {
        let ids: Vec<NodeId> = spec.listen.keys().copied().collect();
        let socket_dir = socket_dir(&spec.run_dir)?;
        fs::create_dir_all(spec.run_dir.join("nodes"))?;
        fs::create_dir_all(spec.run_dir.join("logs"))?;
        let mut members = BTreeMap::new();
        for &id in &ids {
            let data_dir = spec.run_dir.join("data").join(format!("node-{id}"));
            fs::create_dir_all(&data_dir)?;
            let control = socket_dir.as_ref().unwrap_or(&spec.run_dir).join(format!("node-{id}.sock"));
            let config = NodeConfig {
                id,
                cluster: spec.cluster_id.clone(),
                listen: spec.listen[&id],
                bind: spec.bind_own_address.then(|| spec.listen[&id].ip()),
                mux: spec.mux,
                peers: ids.iter().filter(|p| **p != id).map(|p| Peer { id: *p, addr: spec.dial[&(id, *p)] }).collect(),
                trace: spec.run_dir.join(format!("node-{id}.jsonl")),
                data_dir,
                control: Some(control),
                seed: spec.seed,
                hold: true,
                trace_messages: true,
                instances: vec![match &spec.clients {
                    Some((clients, instance)) if clients.contains(&id) => instance.clone(),
                    _ => spec.instance.clone(),
                }],
            };
            let config_path = spec.run_dir.join("nodes").join(format!("node-{id}.toml"));
            members.insert(id, Member { config, config_path, child: None, lifeline: None });
        }
        Ok(Cluster { spec, members, paused: BTreeSet::new(), socket_dir })
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    fn member(&mut self, id: NodeId) -> Result<&mut Member> {
        let n = self.members.len();
        self.members.get_mut(&id).ok_or_else(|| anyhow!("node {id} does not exist (nodes are 1..={n})"))
    }

    /// Launches node `id`; `hold` keeps its instances waiting for `start`.
    pub fn spawn(&mut self, id: NodeId, hold: bool) -> Result<()> {
        let node_bin = self.spec.node_bin.clone();
        let log_path = self.spec.run_dir.join("logs").join(format!("node-{id}.log"));
        self.paused.remove(&id);
        let m = self.member(id)?;
        m.config.hold = hold;
        let text = toml::to_string_pretty(&m.config).context("rendering node config")?;
        fs::write(&m.config_path, text).with_context(|| format!("writing {}", m.config_path.display()))?;
        if let Some(sock) = &m.config.control {
            let _ = fs::remove_file(sock);
        }
        let log = fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let mut cmd = Command::new(&node_bin);
        cmd.arg("--config").arg(&m.config_path).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        die_with_orchestrator(&mut cmd);
        if self.members.len() >= LARGE_CLUSTER {
            lower_priority(&mut cmd);
        }
        if let Some(netns) = &self.spec.netns {
            netns.enter(&mut cmd);
        }
        let child = cmd.spawn().with_context(|| format!("starting {}", node_bin.display()))?;
        let m = self.member(id)?;
        m.child = Some(child);
        m.lifeline = None;
        Ok(())
    }

    /// Waits until node `id` answers on its control socket, then attaches the lifeline.
    pub fn attach(&mut self, id: NodeId, deadline: Instant) -> Result<()> {
        loop {
            let m = self.member(id)?;
            if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("node {id} exited during start-up ({status}); {}", self.log_tail(id));
            }
            let sock = m.config.control.clone().expect("orchestrated nodes have a control socket");
            if let Ok(mut client) = Client::connect(&sock, CONTROL_TIMEOUT) {
                if client.call(&Request::Attach).is_ok_and(|r| r.ok) {
                    // The lifeline is only read on close; no timeout may end it.
                    self.member(id)?.lifeline = Some(client);
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("node {id} did not open its control socket in time; {}", self.log_tail(id));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Attaches every node's lifeline and waits on it, for all nodes at once, until each node is
    /// connected to and greeted by every peer (`await_connected`: the node answers the moment it
    /// is, so a launch costs the slowest node's time, not the sum).
    pub fn attach_connected(&mut self, deadline: Instant) -> Result<()> {
        let nodes: Vec<(NodeId, PathBuf, Option<u32>)> = (self.members.iter())
            .map(|(id, m)| {
                let sock = m.config.control.clone().expect("orchestrated nodes have a control socket");
                (*id, sock, m.child.as_ref().map(Child::id))
            })
            .collect();
        let results: Vec<(NodeId, Result<Client, String>)> = std::thread::scope(|scope| {
            let waiting: Vec<_> =
                nodes.iter().map(|(id, sock, pid)| (*id, scope.spawn(move || ready(sock, *pid, deadline)))).collect();
            waiting
                .into_iter()
                .map(|(id, thread)| (id, thread.join().unwrap_or_else(|_| Err("its launch thread panicked".into()))))
                .collect()
        });
        let mut failed = Vec::new();
        for (id, result) in results {
            match result {
                // The lifeline is only read on close; no timeout may end it.
                Ok(client) => self.member(id)?.lifeline = Some(client),
                Err(e) => failed.push((id, e)),
            }
        }
        if let Some((id, _)) = failed.first() {
            let why: Vec<String> = failed.iter().take(5).map(|(id, e)| format!("node {id}: {e}")).collect();
            let more = if failed.len() > 5 { format!(" (and {} more)", failed.len() - 5) } else { String::new() };
            bail!(
                "{} of {} nodes did not connect in time{more}: {}; {}",
                failed.len(),
                nodes.len(),
                why.join("; "),
                self.log_tail(*id)
            );
        }
        Ok(())
    }

    pub fn request(&self, id: NodeId, request: &Request) -> Result<Response> {
        let reply = self.call(id, request)?;
        match reply.ok {
            true => Ok(reply),
            false => Err(anyhow!("node {id}: {}", reply.error.unwrap_or_default())),
        }
    }

    /// A request whose refusal is an answer, not a failure: `Ok(Err(why))` when the node
    /// answered no (an algorithm refusing a command), `Err` when it could not be asked.
    pub fn ask(&self, id: NodeId, request: &Request) -> Result<std::result::Result<String, String>> {
        let reply = self.call(id, request)?;
        Ok(match reply.ok {
            true => Ok(reply.reply.unwrap_or_default()),
            false => Err(reply.error.unwrap_or_default()),
        })
    }

    fn call(&self, id: NodeId, request: &Request) -> Result<Response> {
        let m = self.members.get(&id).ok_or_else(|| anyhow!("node {id} does not exist"))?;
        let sock = m.config.control.as_ref().expect("orchestrated nodes have a control socket");
        let mut client =
            Client::connect(sock, CONTROL_TIMEOUT).with_context(|| format!("node {id}: control socket"))?;
        client.call(request).with_context(|| format!("node {id}: control request"))
    }

    pub fn status(&self, id: NodeId) -> Result<NodeStatus> {
        self.request(id, &Request::Status)?.status.ok_or_else(|| anyhow!("node {id}: status reply without status"))
    }

    /// Nodes whose process is running.
    pub fn live(&mut self) -> Vec<NodeId> {
        self.members
            .iter_mut()
            .filter_map(|(id, m)| {
                let running = m.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)));
                running.then_some(*id)
            })
            .collect()
    }

    /// Running nodes that are not paused (the ones that can answer).
    pub fn responsive(&mut self) -> Vec<NodeId> {
        let paused = self.paused.clone();
        self.live().into_iter().filter(|id| !paused.contains(id)).collect()
    }

    pub fn paused(&self) -> &BTreeSet<NodeId> {
        &self.paused
    }

    /// SIGSTOP (`stop = true`) or SIGCONT.
    pub fn signal_pause(&mut self, id: NodeId, stop: bool) -> Result<()> {
        let running = self.live().contains(&id);
        let m = self.member(id)?;
        let child = m.child.as_ref().filter(|_| running).ok_or_else(|| anyhow!("node {id} is not running"))?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let signal = if stop { nix::sys::signal::Signal::SIGSTOP } else { nix::sys::signal::Signal::SIGCONT };
        // The node leads its process group (`die_with_orchestrator`): signalling the group also
        // pauses a program the node runs as its child (`algorithm = "maelstrom"`).
        nix::sys::signal::killpg(pid, signal)
            .or_else(|_| nix::sys::signal::kill(pid, signal))
            .with_context(|| format!("signalling node {id}"))?;
        if stop {
            self.paused.insert(id);
        } else {
            self.paused.remove(&id);
        }
        Ok(())
    }

    /// Nodes that exited although nobody asked them to, with their exit status.
    pub fn reap_unexpected(&mut self) -> Vec<(NodeId, Option<i32>)> {
        let mut gone = Vec::new();
        for (id, m) in self.members.iter_mut() {
            if let Some(child) = m.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    kill_group(child); // what the node's program started, left behind
                    gone.push((*id, status.code()));
                    m.child = None;
                    m.lifeline = None;
                }
            }
        }
        gone
    }

    /// What the instance on each node that can answer says of itself (role, leader).
    pub fn views(&mut self) -> Vec<(NodeId, Status)> {
        let instance = self.spec.instance.name.clone();
        self.responsive()
            .into_iter()
            .filter_map(|id| self.status(id).ok().and_then(|s| s.instances.get(&instance).cloned()).map(|s| (id, s)))
            .collect()
    }

    /// Waits until no instance of `ids` is still starting (role `held` or `starting`: a bridged
    /// program that has not answered `init`), leaving out nodes that exited, at most until
    /// `deadline`; returns the nodes still starting then.
    pub fn await_started(&mut self, ids: &[NodeId], deadline: Instant) -> Vec<NodeId> {
        let instance = self.spec.instance.name.clone();
        loop {
            let live = self.live();
            let asked: Vec<NodeId> = ids.iter().copied().filter(|id| live.contains(id)).collect();
            let answers = ask_all(&self.control_sockets(&asked), &Request::Status);
            let starting = |answer: &Option<Response>| {
                let role = answer.as_ref().and_then(|r| r.status.as_ref()?.instances.get(&instance).map(|s| &s.role));
                role.is_none_or(|role| role == "held" || role == "starting")
            };
            let waiting: Vec<NodeId> =
                asked.iter().zip(&answers).filter(|(_, answer)| starting(answer)).map(|(id, _)| *id).collect();
            if waiting.is_empty() || Instant::now() >= deadline {
                return waiting;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self, id: NodeId) -> Result<()> {
        let m = self.member(id)?;
        let mut child = m.child.take().ok_or_else(|| anyhow!("node {id} is not running"))?;
        // SIGKILL before the lifeline closes: a node that saw its lifeline close first would
        // stop gracefully, and a kill must be a crash.
        kill_group(&mut child);
        child.wait().with_context(|| format!("waiting for node {id}"))?;
        m.lifeline = None;
        self.paused.remove(&id);
        self.tidy_after_exit(id);
        Ok(())
    }

    /// Tidies what a node that did not stop cleanly leaves behind; only for a node whose process
    /// is gone. Its trace's unwritten tail is cut (see `node::trace_file`) and its control socket
    /// removed: a clean stop removes the socket itself, a SIGKILL leaves it in the run directory
    /// (a restart binds it again).
    fn tidy_after_exit(&self, id: NodeId) {
        let path = self.spec.run_dir.join(format!("node-{id}.jsonl"));
        if let Err(e) = node::trace_file::trim(&path) {
            tracing::warn!("cannot trim {}: {e}", path.display());
        }
        if let Some(socket) = self.members.get(&id).and_then(|m| m.config.control.as_ref()) {
            match fs::remove_file(socket) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("cannot remove {}: {e}", socket.display()),
            }
        }
    }

    /// Quiesces every live node and waits until what is in flight has arrived (see
    /// [`await_quiet`]), then asks them all to stop and kills what is left after
    /// `grace`. Stopping nodes one by one while the others still send would lose every message
    /// sent to a node already stopped: hundreds of nodes take seconds to stop.
    pub fn shutdown(&mut self, grace: Duration) {
        for id in self.paused.clone() {
            let _ = self.signal_pause(id, false);
        }
        let ids = self.live();
        let live = self.control_sockets(&ids);
        ask_all(&live, &Request::Quiesce);
        await_quiet(&live);
        ask_all(&live, &Request::Shutdown);
        let deadline = Instant::now() + grace;
        while !self.live().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill_all();
    }

    /// The control sockets of `ids`.
    fn control_sockets(&self, ids: &[NodeId]) -> Vec<PathBuf> {
        let sock = |id| self.members.get(id).and_then(|m: &Member| m.config.control.clone());
        ids.iter().filter_map(sock).collect()
    }

    pub fn pid(&self, id: NodeId) -> Option<u32> {
        self.members.get(&id)?.child.as_ref().map(Child::id)
    }

    pub fn instance_name(&self) -> &str {
        &self.spec.instance.name
    }

    pub fn netns(&self) -> Option<&Netns> {
        self.spec.netns.as_deref()
    }

    fn kill_all(&mut self) {
        for m in self.members.values_mut() {
            m.lifeline = None;
            if let Some(mut child) = m.child.take() {
                kill_group(&mut child);
                child.wait().ok();
            }
        }
        for id in self.ids() {
            self.tidy_after_exit(id);
        }
    }

    /// The last lines of a node's log, for error messages.
    pub fn log_tail(&self, id: NodeId) -> String {
        let path = self.spec.run_dir.join("logs").join(format!("node-{id}.log"));
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
        if lines.is_empty() {
            format!("its log {} is empty", path.display())
        } else {
            format!("last lines of {}:\n  {}", path.display(), lines.join("\n  "))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        if let Some(dir) = &self.socket_dir {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// SIGKILL to the node's process group (`die_with_orchestrator` makes one per node), so that what
/// a node's program started (`sh -c 'helper & exec my_node'`) goes with it; and to the node itself
/// should the group be gone. A node already exited (and reaped) may leave such processes in its
/// group, which this ends too: the group's id stays taken while any of them lives.
fn kill_group(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    child.kill().ok();
}

/// Longest wait for a quiesced cluster to fall quiet (a circulating token never does).
const QUIET_MAX: Duration = Duration::from_secs(1);

/// Sends `request` on each of the control sockets `socks`, all at once (a thread each); the
/// answers in order, `None` where a node could not be asked.
fn ask_all(socks: &[PathBuf], request: &Request) -> Vec<Option<Response>> {
    std::thread::scope(|scope| {
        let asked: Vec<_> = (socks.iter())
            .map(|sock| scope.spawn(move || Client::connect(sock, CONTROL_TIMEOUT).ok()?.call(request).ok()))
            .collect();
        asked.into_iter().map(|t| t.join().ok().flatten()).collect()
    })
}

/// Waits, at most [`QUIET_MAX`], until the quiesced nodes behind `socks` have read as many frames
/// as they wrote (nothing in flight), or their counters stop moving (frames a fault dropped, or
/// a restarted node's counters, never balance).
fn await_quiet(socks: &[PathBuf]) {
    let deadline = Instant::now() + QUIET_MAX;
    let mut last = None;
    loop {
        let counts: Vec<Option<(u64, u64)>> = (ask_all(socks, &Request::Status).into_iter())
            .map(|r| r?.status.map(|s| (s.counters.frames_sent, s.counters.frames_received)))
            .collect();
        let (sent, received) = counts.iter().flatten().fold((0, 0), |(s, r), (ds, dr)| (s + ds, r + dr));
        if sent == received || last.as_ref() == Some(&counts) || Instant::now() >= deadline {
            return;
        }
        last = Some(counts);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One node's launch: its control socket opened, the lifeline attached, then `await_connected`
/// on it until `deadline`. Gives up early when the process `pid` has exited (a zombie).
fn ready(sock: &std::path::Path, pid: Option<u32>, deadline: Instant) -> Result<Client, String> {
    let exited = || {
        pid.is_some_and(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(')').next().is_none_or(|rest| rest.trim_start().starts_with(['Z', 'X']))
        })
    };
    let mut client = loop {
        if let Ok(mut client) = Client::connect(sock, CONTROL_TIMEOUT) {
            if client.call(&Request::Attach).is_ok_and(|r| r.ok) {
                break client;
            }
        }
        if exited() {
            return Err("exited during start-up".into());
        }
        if Instant::now() > deadline {
            return Err("did not open its control socket in time".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let left = deadline.saturating_duration_since(Instant::now());
    client.set_timeout(left + CONTROL_TIMEOUT).map_err(|e| e.to_string())?;
    let reply = client.call(&Request::AwaitConnected { timeout_ms: left.as_millis() as u64 });
    match reply {
        Ok(reply) if reply.ok => Ok(client),
        Ok(reply) => Err(reply.error.unwrap_or_default()),
        Err(e) => Err(format!("control connection: {e}")),
    }
}

/// A Unix socket path must fit in 108 bytes: a run directory with a long path gets its sockets in
/// a short directory under the system temp dir instead (removed with the cluster).
pub fn socket_dir(run_dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let probe = run_dir.join(format!("node-{}.sock", crate::experiment::MAX_NODES));
    if probe.as_os_str().len() <= 100 {
        return Ok(None);
    }
    let dir = std::env::temp_dir().join(format!("clusterlab-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(Some(dir))
}

//! A cluster that is up: its nodes, its network (proxy, iptables namespace or direct), its fault
//! log, and the one place where faults are applied, whichever way they come (the experiment's
//! schedule, the nemesis, or a live command).

use crate::cluster::{free_ports, Cluster, ClusterSpec};
use crate::experiment::Experiment;
use crate::netns::{self, Netns};
use crate::network::NetMode;
use crate::proxy::Proxy;
use crate::report::{judge, load_traces, Summary};
use crate::run_dir::create_run_dir;
use algorithms::faults::AppliedFault;
use algorithms::faults::{agreed_leader, Action, CutMode, LinkSpec, PartitionSpec, Target};
use algorithms::{Execution, NodeId};
use anyhow::{anyhow, bail, Context, Result};
use node::config::InstanceConfig;
use node::control::Request;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod fault_log;
mod status;

pub use fault_log::FaultLog;
pub use status::{ClusterStatus, NodeLine};

enum Network {
    Proxy(Proxy),
    Iptables,
    Direct,
}

/// A partition in force: what was asked, how links are cut, and which.
type InForce = (String, CutMode, BTreeSet<(NodeId, NodeId)>);

pub struct Session {
    pub exp: Experiment,
    cluster: Cluster,
    network: Network,
    pub log: FaultLog,
    pub run_dir: PathBuf,
    pub problems: Vec<String>,
    started: Option<Instant>,
    last_killed: Option<NodeId>,
    partition: Option<InForce>,
    links: BTreeMap<(NodeId, NodeId), LinkSpec>,
    drift: BTreeMap<NodeId, f64>,
    fault_rng: ChaCha8Rng,
    net_mode: NetMode,
    /// Undo actions of faults applied with a duration, and when they are due.
    pending_undo: Vec<(Instant, Action)>,
}

impl Session {
    /// Creates the run directory, the network and the node configs; starts nothing yet.
    pub fn prepare(exp: &Experiment, out: &Path, node_bin: &Path, net: NetMode) -> Result<Session> {
        let run_dir = create_run_dir(out, &exp.name)?;
        fs::write(run_dir.join("experiment.toml"), exp.to_toml())?;
        let log = FaultLog::create(&run_dir.join("orchestrator.jsonl"))?;
        let ids: Vec<NodeId> = (1..=exp.nodes as NodeId).collect();
        let (listen, netns) = match net {
            NetMode::Iptables => {
                let netns = Netns::create()?;
                let listen = ids.iter().map(|id| (*id, SocketAddr::new(netns::address(*id), 7000))).collect();
                (listen, Some(netns))
            }
            _ => {
                let ports = free_ports(ids.len()).context("finding free loopback ports")?;
                let listen: BTreeMap<NodeId, SocketAddr> =
                    ids.iter().zip(ports).map(|(id, port)| (*id, SocketAddr::from(([127, 0, 0, 1], port)))).collect();
                (listen, None)
            }
        };
        let network = match net {
            NetMode::Proxy => Network::Proxy(Proxy::start(&listen, exp.seed)?),
            NetMode::Iptables => Network::Iptables,
            NetMode::Direct => Network::Direct,
        };
        let mut dial = BTreeMap::new();
        for from in &ids {
            for to in ids.iter().filter(|to| *to != from) {
                let addr = match &network {
                    Network::Proxy(proxy) => proxy.address(*from, *to),
                    _ => listen[to],
                };
                dial.insert((*from, *to), addr);
            }
        }
        let cluster_id = run_dir.file_name().map_or("cluster".into(), |n| n.to_string_lossy().into_owned());
        let spec = ClusterSpec {
            node_bin: node_bin.to_path_buf(),
            run_dir: run_dir.clone(),
            cluster_id,
            seed: exp.seed,
            instance: InstanceConfig {
                name: exp.algorithm.clone(),
                algorithm: exp.algorithm.clone(),
                params: exp.params.clone(),
            },
            listen,
            dial,
            bind_own_address: net == NetMode::Iptables,
            netns,
        };
        let cluster = Cluster::prepare(spec)?;
        Ok(Session {
            exp: exp.clone(),
            cluster,
            network,
            log,
            run_dir,
            problems: Vec::new(),
            started: None,
            last_killed: None,
            partition: None,
            links: BTreeMap::new(),
            drift: BTreeMap::new(),
            fault_rng: ChaCha8Rng::seed_from_u64(exp.seed ^ 0xfa17),
            net_mode: net,
            pending_undo: Vec::new(),
        })
    }

    /// Launches every node, waits until they are all connected, then starts them together.
    pub fn start(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.exp.connect_timeout;
        for id in self.cluster.ids() {
            self.cluster.spawn(id, true)?;
        }
        for id in self.cluster.ids() {
            self.cluster.attach(id, deadline)?;
        }
        self.cluster.await_connected(deadline)?;
        self.log.record(AppliedFault::RunStart { nodes: self.cluster.ids() });
        self.started = Some(Instant::now());
        for id in self.cluster.ids() {
            self.cluster.request(id, &Request::Start)?;
        }
        Ok(())
    }

    /// Time since the nodes were started together.
    pub fn elapsed(&self) -> Duration {
        self.started.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// Housekeeping between events: notices nodes that died on their own, applies due undos.
    pub fn tick(&mut self) {
        for (id, code) in self.cluster.reap_unexpected() {
            let message = format!("node {id} exited unexpectedly (exit code {code:?}); {}", self.cluster.log_tail(id));
            eprintln!("warning: {message}");
            self.problems.push(message);
            self.log.record(AppliedFault::Exited { node: id, code });
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_undo).into_iter().partition(|(t, _)| *t <= now);
        self.pending_undo = later;
        for (_, action) in due {
            match self.apply(&action, None) {
                Ok(done) => eprintln!("{:>8.3} s  {done}", self.elapsed().as_secs_f64()),
                Err(e) => self.note(format!("undo {action:?} failed: {e:#}")),
            }
        }
    }

    pub fn note(&mut self, message: String) {
        eprintln!("warning: {message}");
        self.problems.push(message);
    }

    /// Undoes everything in force (for the nemesis's recovery phase and before judging).
    pub fn heal_all(&mut self) -> Vec<String> {
        let mut done = Vec::new();
        let undos: Vec<Action> = std::mem::take(&mut self.pending_undo).into_iter().map(|(_, a)| a).collect();
        for action in undos {
            if let Ok(text) = self.apply(&action, None) {
                done.push(text);
            }
        }
        for id in self.cluster.paused().clone() {
            if let Ok(text) = self.apply(&Action::Resume { node: Target::Id(id) }, None) {
                done.push(text);
            }
        }
        if self.partition.is_some() || !self.links.is_empty() {
            if let Ok(text) = self.apply(&Action::Heal, None) {
                done.push(text);
            }
        }
        for id in self.drift.keys().copied().collect::<Vec<_>>() {
            if let Ok(text) = self.apply(&Action::Drift { node: Target::Id(id), rate: 1.0 }, None) {
                done.push(text);
            }
        }
        done
    }

    fn resolve(&mut self, target: Target, leader: Option<NodeId>) -> Result<NodeId> {
        let id = match target {
            Target::Id(id) => id,
            Target::Leader => leader.ok_or_else(|| anyhow!("the live nodes agree on no leader"))?,
            Target::LastKilled => self.last_killed.ok_or_else(|| anyhow!("no node has been killed yet"))?,
            Target::Random => {
                use rand::seq::IndexedRandom;
                let live = self.cluster.live();
                *live.choose(&mut self.fault_rng).ok_or_else(|| anyhow!("no node is running"))?
            }
        };
        if id == 0 || id as usize > self.exp.nodes {
            bail!("node {id} does not exist (nodes are 1..={})", self.exp.nodes);
        }
        Ok(id)
    }

    /// Applies one fault, records it, and says what it did. With `lasting`, its undo (with the
    /// targets resolved, so "kill the leader for 2s" restarts the node it killed) is scheduled.
    pub fn apply(&mut self, action: &Action, lasting: Option<Duration>) -> Result<String> {
        action.validate(self.exp.nodes).map_err(|e| anyhow!(e))?;
        self.net_mode.allows(action).map_err(|e| anyhow!(e))?;
        let needs_leader = matches!(
            action,
            Action::Kill { node: Target::Leader }
                | Action::Pause { node: Target::Leader }
                | Action::Drift { node: Target::Leader, .. }
                | Action::Partition { groups: PartitionSpec::Isolate(Target::Leader), .. }
        );
        let leader = if needs_leader || matches!(action, Action::Kill { .. }) { self.cluster.leader() } else { None };
        let (applied, resolved) = match action {
            Action::Kill { node } => {
                let id = self.resolve(*node, leader)?;
                self.cluster.kill(id)?;
                self.last_killed = Some(id);
                (AppliedFault::Kill { node: id, was_leader: leader == Some(id) }, Action::Kill { node: Target::Id(id) })
            }
            Action::Restart { node } => {
                let id = self.resolve(*node, leader)?;
                if self.cluster.live().contains(&id) {
                    bail!("node {id} is running; kill it first");
                }
                self.cluster.spawn(id, false)?;
                self.log.record(AppliedFault::Restart { node: id });
                self.cluster.attach(id, Instant::now() + Duration::from_secs(5))?;
                if let Some(rate) = self.drift.get(&id).copied() {
                    let _ = self.cluster.request(id, &Request::Drift { rate });
                }
                return Ok(AppliedFault::Restart { node: id }.describe());
            }
            Action::Pause { node } => {
                let id = self.resolve(*node, leader)?;
                if self.cluster.paused().contains(&id) {
                    bail!("node {id} is already paused");
                }
                self.cluster.signal_pause(id, true)?;
                (AppliedFault::Pause { node: id }, Action::Pause { node: Target::Id(id) })
            }
            Action::Resume { node } => {
                let id = self.resolve(*node, leader)?;
                if !self.cluster.paused().contains(&id) {
                    bail!("node {id} is not paused");
                }
                self.cluster.signal_pause(id, false)?;
                (AppliedFault::Resume { node: id }, Action::Resume { node: Target::Id(id) })
            }
            Action::Drift { node, rate } => {
                let id = self.resolve(*node, leader)?;
                self.cluster.request(id, &Request::Drift { rate: *rate })?;
                if *rate == 1.0 {
                    self.drift.remove(&id);
                } else {
                    self.drift.insert(id, *rate);
                }
                (AppliedFault::Drift { node: id, rate: *rate }, Action::Drift { node: Target::Id(id), rate: *rate })
            }
            Action::Partition { groups, mode } => {
                let ids = self.cluster.ids();
                let cut = groups.cut(&ids, leader, &mut self.fault_rng).map_err(|e| anyhow!(e))?;
                self.set_cut(&cut, *mode)?;
                self.partition = Some((groups.to_string(), *mode, cut.clone()));
                let fault =
                    AppliedFault::Partition { spec: groups.to_string(), mode: *mode, cut: cut.into_iter().collect() };
                (fault, action.clone())
            }
            Action::Heal => {
                match &self.network {
                    Network::Proxy(proxy) => proxy.clear_all(),
                    Network::Iptables => {
                        self.cluster.netns().expect("iptables mode").set_cut(&BTreeSet::new(), CutMode::Blackhole)?
                    }
                    Network::Direct => {}
                }
                self.partition = None;
                self.links.clear();
                (AppliedFault::Heal, Action::Heal)
            }
            Action::Link(spec) => {
                self.set_link(spec)?;
                (AppliedFault::Link(spec.clone()), action.clone())
            }
        };
        let text = applied.describe();
        self.log.record(applied);
        if let (Some(after), Some(undo)) = (lasting, resolved.undo()) {
            self.pending_undo.push((Instant::now() + after, undo));
        }
        Ok(text)
    }

    /// Puts a partition in force on the network (replacing the previous one, keeping link faults).
    fn set_cut(&mut self, cut: &BTreeSet<(NodeId, NodeId)>, mode: CutMode) -> Result<()> {
        match &self.network {
            Network::Proxy(proxy) => {
                for from in self.cluster.ids() {
                    for to in self.cluster.ids().into_iter().filter(|t| *t != from) {
                        let mut spec =
                            self.links.get(&(from, to)).cloned().unwrap_or_else(|| LinkSpec::clear(from, to));
                        if cut.contains(&(from, to)) {
                            spec.cut = true;
                            spec.mode = mode;
                        }
                        proxy.set(spec)?;
                    }
                }
                Ok(())
            }
            Network::Iptables => self.cluster.netns().expect("iptables mode").set_cut(cut, mode),
            Network::Direct => unreachable!("refused by NetMode::allows"),
        }
    }

    fn set_link(&mut self, spec: &LinkSpec) -> Result<()> {
        match &self.network {
            Network::Proxy(proxy) => {
                let mut effective = spec.clone();
                if let Some((_, mode, cut)) = &self.partition {
                    if cut.contains(&(spec.from, spec.to)) {
                        effective.cut = true;
                        effective.mode = *mode;
                    }
                }
                proxy.set(effective)?;
            }
            Network::Iptables => {
                let mut cut: BTreeSet<(NodeId, NodeId)> =
                    self.partition.as_ref().map(|p| p.2.clone()).unwrap_or_default();
                for l in self.links.values().chain(std::iter::once(spec)).filter(|l| l.cut) {
                    cut.insert((l.from, l.to));
                }
                if !spec.cut {
                    cut.remove(&(spec.from, spec.to));
                }
                self.cluster.netns().expect("iptables mode").set_cut(&cut, spec.mode)?;
            }
            Network::Direct => unreachable!("refused by NetMode::allows"),
        }
        if spec.is_clear() {
            self.links.remove(&(spec.from, spec.to));
        } else {
            self.links.insert((spec.from, spec.to), spec.clone());
        }
        Ok(())
    }

    /// Passes a command to an algorithm instance on a node.
    pub fn command(&mut self, node: NodeId, instance: Option<&str>, args: Vec<String>) -> Result<String> {
        if node == 0 || node as usize > self.exp.nodes {
            bail!("node {node} does not exist (nodes are 1..={})", self.exp.nodes);
        }
        if !self.cluster.responsive().contains(&node) {
            bail!("node {node} is not running (or paused)");
        }
        let instance = instance.unwrap_or(self.cluster.instance_name()).to_string();
        let reply = self.cluster.request(node, &Request::Command { instance, args })?;
        Ok(reply.reply.unwrap_or_default())
    }

    /// A link's faults, and what the proxy has done on it so far.
    fn describe_link(&self, spec: &LinkSpec) -> String {
        let mut text = spec.describe();
        if let Network::Proxy(proxy) = &self.network {
            if let Some(c) = proxy.counters(spec.from, spec.to) {
                use std::sync::atomic::Ordering::Relaxed;
                text += &format!(
                    " (forwarded {}, dropped {}, duplicated {}, delayed {}, reordered {})",
                    c.forwarded.load(Relaxed),
                    c.dropped.load(Relaxed),
                    c.duplicated.load(Relaxed),
                    c.delayed.load(Relaxed),
                    c.reordered.load(Relaxed)
                );
            }
        }
        text
    }

    pub fn status(&mut self) -> ClusterStatus {
        let live = self.cluster.live();
        let instance = self.cluster.instance_name().to_string();
        let mut nodes = Vec::new();
        let mut views = Vec::new();
        for id in self.cluster.ids() {
            let paused = self.cluster.paused().contains(&id);
            let state = if !live.contains(&id) {
                "down"
            } else if paused {
                "paused"
            } else {
                "up"
            };
            let status = if state == "up" { self.cluster.status(id).ok() } else { None };
            let view = status.as_ref().and_then(|s| s.instances.get(&instance).cloned());
            if let Some(v) = &view {
                views.push((id, v.clone()));
            }
            nodes.push(NodeLine {
                id,
                state: state.into(),
                pid: if state == "down" { None } else { self.cluster.pid(id) },
                view,
                connected: status.map(|s| s.connected).unwrap_or_default(),
            });
        }
        ClusterStatus {
            run_dir: self.run_dir.clone(),
            algorithm: self.exp.algorithm.clone(),
            net: format!("{:?}", self.net_mode).to_lowercase(),
            elapsed_ms: self.elapsed().as_millis() as u64,
            leader: agreed_leader(&views),
            nodes,
            partition: self
                .partition
                .as_ref()
                .map(|(spec, _, cut)| format!("{spec} ({} directed links cut)", cut.len())),
            links: self.links.values().map(|l| self.describe_link(l)).collect(),
            rules: self.cluster.netns().and_then(|n| n.rules().ok()),
            drift: self.drift.clone(),
        }
    }

    /// Stops the nodes, then judges the run from the traces and writes `summary.json`; returns
    /// the summary and the run it judged.
    pub fn finish(mut self, interrupted: bool) -> Result<(Summary, Execution)> {
        self.log.record(AppliedFault::RunEnd);
        self.cluster.shutdown(Duration::from_secs(3));
        let netns_id = self.cluster.netns().map(|n| n.id.clone());
        let Session { exp, cluster, network, run_dir, mut problems, .. } = self;
        drop(cluster);
        drop(network);
        if let Some(id) = netns_id {
            let left = netns::holders(&id);
            if !left.is_empty() {
                problems.push(format!("processes {left:?} still hold the run's network namespace"));
            }
        }
        let algorithm = algorithms::find(&exp.algorithm).map_err(|e| anyhow!(e))?;
        let ids: Vec<NodeId> = (1..=exp.nodes as NodeId).collect();
        let (records, faults, mut trace_problems) = load_traces(&run_dir, &ids)?;
        problems.append(&mut trace_problems);
        let run = Execution::new(algorithm.name(), ids, exp.params.clone(), records, faults);
        let summary = judge(algorithm, &exp.name, "real", exp.seed, &run, interrupted, problems, &run_dir);
        summary.write(&run_dir)?;
        Ok((summary, run))
    }
}

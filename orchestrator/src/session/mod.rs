//! A cluster that is up: its nodes, its network (proxy, iptables namespace or direct), its fault
//! log, and the faults in force. Every fault, whichever way it comes (the experiment's schedule,
//! the nemesis, or a live command), goes through [`Session::apply`] to the fault engine, which the
//! simulator uses too; [`cluster_ops`] is what the engine may do to this cluster.

use crate::cluster::{Cluster, ClusterSpec};
use crate::experiment::Experiment;
use crate::netns;
use crate::network::{NetMode, Network};
use crate::report::{judge, load_traces, Summary};
use crate::run_dir::{create_run_dir, RunInfo};
use algorithms::faults::{self, agreed_leader, Action, Applied, AppliedFault, FaultState};
use algorithms::{Execution, NodeId};
use anyhow::{anyhow, bail, Result};
use cluster_ops::LiveCluster;
use node::config::InstanceConfig;
use node::control::Request;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod cluster_ops;
mod fault_log;
mod status;

pub use fault_log::FaultLog;
pub use status::{ClusterStatus, NodeLine};

/// The longest wait for servers to finish starting before the clients start anyway (a program
/// that never answers `init` stops its own node after `params.init_timeout_ms`).
const STARTUP_MAX: Duration = Duration::from_secs(120);

/// A cluster that is up, from `prepare` to `finish`.
pub struct Session {
    pub exp: Experiment,
    cluster: Cluster,
    network: Network,
    pub log: FaultLog,
    pub run_dir: PathBuf,
    pub problems: Vec<String>,
    started: Option<Instant>,
    /// The fault engine's memory: random targets, the node killed last, the faults in force.
    fault_state: FaultState,
    /// Undo actions of faults applied with a duration, and when they are due.
    pending_undo: Vec<(Instant, Action)>,
    /// When `prepare` began: the start of the launch that `connect_ms` measures.
    created: Instant,
    /// Milliseconds from `created` until every node was connected to every peer.
    pub connect_ms: Option<f64>,
}

impl Session {
    /// Creates the run directory, the network and the node configs; starts nothing yet.
    pub fn prepare(exp: &Experiment, out: &Path, node_bin: &Path, net: NetMode) -> Result<Session> {
        let created = Instant::now();
        let run_dir = create_run_dir(out, &exp.name)?;
        fs::write(run_dir.join("experiment.toml"), exp.to_toml())?;
        RunInfo::real(net).write(&run_dir)?;
        let log = FaultLog::create(&run_dir.join("orchestrator.jsonl"))?;
        let ids = exp.all_ids();
        let (listen, network) = Network::start(net, &ids, exp.seed)?;
        let mut dial = BTreeMap::new();
        for from in &ids {
            for to in ids.iter().filter(|to| *to != from) {
                dial.insert((*from, *to), network.dial(*from, *to, listen[to]));
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
                servers: exp.workload.as_ref().map(|_| exp.server_ids()),
                members: (exp.spare_nodes > 0).then(|| exp.member_ids()),
                client: None,
            },
            clients: exp.workload.as_ref().map(|workload| {
                let instance = InstanceConfig {
                    name: exp.algorithm.clone(),
                    algorithm: exp.algorithm.clone(),
                    params: serde_json::Value::Null,
                    servers: Some(exp.server_ids()),
                    members: None,
                    client: Some(workload.clone()),
                };
                (ids[exp.servers()..].to_vec(), instance)
            }),
            listen,
            dial,
            mux: network.mux(),
            bind_own_address: net == NetMode::Iptables,
            netns: network.netns(),
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
            fault_state: FaultState::new(exp.seed),
            pending_undo: Vec::new(),
            created,
            connect_ms: None,
        })
    }

    /// Launches every node, waits until they are all connected, then starts them together.
    /// Records `connect_ms`: from the session's creation to every node connected to and from
    /// every peer.
    pub fn start(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.exp.connect_timeout;
        for id in self.cluster.ids() {
            self.cluster.spawn(id, true)?;
        }
        self.cluster.attach_connected(deadline)?;
        self.connect_ms = Some(self.created.elapsed().as_secs_f64() * 1000.0);
        self.log.record(AppliedFault::RunStart { nodes: self.cluster.ids() });
        self.started = Some(Instant::now());
        // With client nodes, the servers start first, and the clients once every server's
        // instance is past its start-up (a bridged program has answered `init`, as in Maelstrom).
        let ids = self.cluster.ids();
        let (servers, clients) = ids.split_at(if self.exp.workload.is_some() { self.exp.servers() } else { ids.len() });
        for id in servers {
            self.cluster.request(*id, &Request::Start)?;
        }
        if !clients.is_empty() {
            let waiting = self.cluster.await_started(servers, Instant::now() + STARTUP_MAX);
            if !waiting.is_empty() {
                self.note(format!("nodes {waiting:?} still starting after {STARTUP_MAX:?}: clients started anyway"));
            }
        }
        for id in clients {
            self.cluster.request(*id, &Request::Start)?;
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
        let pending = std::mem::take(&mut self.pending_undo).into_iter().map(|(_, action)| action).collect();
        let (mut ops, state) = self.for_engine();
        let recovered = faults::recover(&mut ops, state, pending);
        for failure in recovered.failed {
            self.note(failure);
        }
        recovered.done.iter().map(Applied::describe).collect()
    }

    /// Applies one fault, records it, and says what it did. With `lasting`, its undo (with the
    /// targets resolved, so "kill the leader for 2s" restarts the node it killed) is scheduled.
    pub fn apply(&mut self, action: &Action, lasting: Option<Duration>) -> Result<String> {
        let (mut ops, state) = self.for_engine();
        let applied = faults::apply(&mut ops, action, state).map_err(|e| anyhow!(e))?;
        if let (Some(after), Some(undo)) = (lasting, applied.undo()) {
            self.pending_undo.push((Instant::now() + after, undo));
        }
        Ok(applied.describe())
    }

    /// The cluster as the fault engine may change it, and the engine's memory.
    fn for_engine(&mut self) -> (LiveCluster<'_>, &mut FaultState) {
        let ops = LiveCluster { cluster: &mut self.cluster, network: &self.network, log: &mut self.log };
        (ops, &mut self.fault_state)
    }

    /// Passes a command to an algorithm instance on a node.
    pub fn command(&mut self, node: NodeId, instance: Option<&str>, args: Vec<String>) -> Result<String> {
        let all = self.exp.all_ids().len();
        if node == 0 || node as usize > all {
            bail!("node {node} does not exist (nodes are 1..={all})");
        }
        if !self.cluster.responsive().contains(&node) {
            bail!("node {node} is not running (or paused)");
        }
        let instance = instance.unwrap_or(self.cluster.instance_name()).to_string();
        let reply = self.cluster.request(node, &Request::Command { instance, args })?;
        Ok(reply.reply.unwrap_or_default())
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
            net: self.network.mode().word().into(),
            elapsed_ms: self.elapsed().as_millis() as u64,
            leader: agreed_leader(&views),
            nodes,
            partition: (self.fault_state.network().partition.as_ref())
                .map(|p| format!("{} ({} directed links cut)", p.spec, p.cut.len())),
            links: self.fault_state.network().links.values().map(|l| self.network.describe_link(l)).collect(),
            rules: self.network.rules(),
            drift: self.fault_state.drift().clone(),
        }
    }

    /// Stops the nodes, then judges the run from the traces and writes `summary.json`; returns
    /// the summary and the run it judged.
    pub fn finish(mut self, interrupted: bool) -> Result<(Summary, Execution)> {
        self.log.record(AppliedFault::RunEnd);
        self.cluster.shutdown(Duration::from_secs(3));
        let netns_id = self.cluster.netns().map(|n| n.id.clone());
        let Session { exp, cluster, network, run_dir, mut problems, connect_ms, .. } = self;
        drop(cluster);
        let proxy = network.proxy_totals();
        drop(network);
        if let Some(id) = netns_id {
            let left = netns::holders(&id);
            if !left.is_empty() {
                problems.push(format!("processes {left:?} still hold the run's network namespace"));
            }
        }
        let algorithm = algorithms::find(&exp.algorithm).map_err(|e| anyhow!(e))?;
        // Servers and clients leave traces; the run's nodes are the servers (see check::service).
        let (records, faults, mut trace_problems) = load_traces(&run_dir, &exp.all_ids())?;
        problems.append(&mut trace_problems);
        let run = Execution::new(algorithm.name(), exp.server_ids(), exp.params.clone(), records, faults);
        let mut summary = judge(algorithm, &exp.name, "real", exp.seed, &run, interrupted, problems, &run_dir);
        if let Some(ms) = connect_ms {
            // Launch to every node connected to every peer (see `start`).
            summary.metrics.insert("connect_ms".into(), serde_json::json!((ms * 10.0).round() / 10.0));
        }
        if let Some(proxy) = proxy {
            // What the network itself dropped, beside what the nodes counted.
            let metrics = &mut summary.metrics;
            metrics.insert("proxy_frames_forwarded".into(), serde_json::json!(proxy.forwarded));
            metrics.insert("proxy_frames_dropped".into(), serde_json::json!(proxy.dropped));
            metrics.insert("proxy_frames_overflowed".into(), serde_json::json!(proxy.overflowed));
            metrics.insert("proxy_peak_queued_kib".into(), serde_json::json!(proxy.peak_queued_bytes >> 10));
        }
        summary.write(&run_dir)?;
        Ok((summary, run))
    }
}

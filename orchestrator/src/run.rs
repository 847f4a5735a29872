//! `orchestrator run`: one experiment on real node processes.

use crate::cluster::{Cluster, ClusterSpec};
use crate::experiment::Experiment;
use crate::report::{judge, load_traces, Summary};
use crate::Failure;
use algorithms::schedule::{Action, FaultSpec, Target};
use algorithms::trace::{AppliedFault, FaultRecord};
use algorithms::{NodeId, Run};
use anyhow::{anyhow, Context, Result};
use node::config::InstanceConfig;
use node::control::Request;
use node::monotonic_ns;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct RunOptions {
    pub out: PathBuf,
    pub node_bin: PathBuf,
}

/// Creates `out/<name>-<timestamp>/` and points `out/latest` at it.
pub fn create_run_dir(out: &Path, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let mut dir = out.join(format!("{name}-{stamp}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = out.join(format!("{name}-{stamp}-{n}"));
    }
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let latest = out.join("latest");
    let _ = fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(dir.file_name().expect("named"), &latest);
    Ok(dir)
}

/// The orchestrator's own event log, `orchestrator.jsonl`: one fault record a line.
pub struct FaultLog {
    file: File,
    pub records: Vec<FaultRecord>,
}

impl FaultLog {
    pub fn create(path: &Path) -> Result<FaultLog> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(FaultLog { file, records: Vec::new() })
    }

    pub fn record(&mut self, fault: AppliedFault) {
        let record = FaultRecord { t: monotonic_ns(), fault };
        if let Ok(mut line) = serde_json::to_string(&record) {
            line.push('\n');
            // One write per record: a killed orchestrator loses at most the record in flight.
            let _ = self.file.write_all(line.as_bytes());
        }
        self.records.push(record);
    }
}

pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<Summary, Failure> {
    if let Some(i) = exp.faults.iter().position(|f| !matches!(f.action, Action::Kill { .. } | Action::Restart { .. })) {
        return Err(Failure::BadInput(format!(
            "faults[{i}]: only kill and restart work on real nodes so far; use `orchestrator sim` for the others"
        )));
    }
    let algorithm = algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    if !opts.node_bin.is_file() {
        return Err(Failure::BadInput(format!(
            "node binary {} not found (build it with `cargo build -p node`, or pass --node-bin)",
            opts.node_bin.display()
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| Failure::Run(e.into()))?;
    }
    let run_dir = create_run_dir(&opts.out, &exp.name).map_err(Failure::Run)?;
    fs::write(run_dir.join("experiment.toml"), exp.to_toml()).map_err(|e| Failure::Run(e.into()))?;
    let mut log = FaultLog::create(&run_dir.join("orchestrator.jsonl")).map_err(Failure::Run)?;
    let cluster_id = run_dir.file_name().map_or("cluster".into(), |n| n.to_string_lossy().into_owned());
    let spec = ClusterSpec {
        node_bin: opts.node_bin.clone(),
        run_dir: run_dir.clone(),
        cluster_id,
        nodes: exp.nodes,
        seed: exp.seed,
        instance: InstanceConfig {
            name: exp.algorithm.clone(),
            algorithm: exp.algorithm.clone(),
            params: exp.params.clone(),
        },
    };
    let mut cluster = Cluster::prepare(spec).map_err(Failure::Run)?;
    eprintln!("run directory: {}", run_dir.display());

    let mut problems = Vec::new();
    let outcome = drive(exp, &mut cluster, &mut log, &stop, &mut problems);
    log.record(AppliedFault::RunEnd);
    cluster.shutdown(Duration::from_secs(3));
    drop(cluster);
    let interrupted = match outcome {
        Ok(interrupted) => interrupted,
        Err(e) => return Err(Failure::Run(e.context(format!("run directory: {}", run_dir.display())))),
    };

    let ids: Vec<NodeId> = (1..=exp.nodes as NodeId).collect();
    let (records, faults, mut trace_problems) = load_traces(&run_dir, &ids).map_err(Failure::Run)?;
    problems.append(&mut trace_problems);
    let run = Run::new(algorithm.name(), ids, exp.params.clone(), records, faults);
    let summary = judge(algorithm, &exp.name, "real", exp.seed, &run, interrupted, problems, &run_dir);
    summary.write(&run_dir).map_err(Failure::Run)?;
    Ok(summary)
}

/// Starts the cluster, runs the schedule until the duration is over or a signal arrives.
/// Returns whether a signal cut the run short.
fn drive(
    exp: &Experiment,
    cluster: &mut Cluster,
    log: &mut FaultLog,
    stop: &AtomicBool,
    problems: &mut Vec<String>,
) -> Result<bool> {
    let deadline = Instant::now() + exp.connect_timeout;
    for id in cluster.ids() {
        cluster.spawn(id, true)?;
    }
    for id in cluster.ids() {
        cluster.attach(id, deadline)?;
    }
    cluster.await_connected(deadline)?;
    log.record(AppliedFault::RunStart { nodes: cluster.ids() });
    let started = Instant::now();
    for id in cluster.ids() {
        cluster.request(id, &Request::Start)?;
    }

    let mut schedule: Vec<&FaultSpec> = exp.faults.iter().collect();
    schedule.sort_by_key(|f| f.at);
    let mut schedule = schedule.into_iter().peekable();
    let mut last_killed: Option<NodeId> = None;
    while started.elapsed() < exp.duration {
        if stop.load(Ordering::Relaxed) {
            return Ok(true);
        }
        for (id, code) in cluster.reap_unexpected() {
            let message = format!("node {id} exited unexpectedly (exit code {code:?}); {}", cluster.log_tail(id));
            eprintln!("warning: {message}");
            problems.push(message);
            log.record(AppliedFault::Exited { node: id, code });
        }
        while let Some(fault) = schedule.next_if(|f| started.elapsed() >= f.at) {
            if let Err(e) = apply(fault, cluster, log, &mut last_killed) {
                let message = format!("fault at {} skipped: {e}", humantime::format_duration(fault.at));
                eprintln!("warning: {message}");
                problems.push(message);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(false)
}

fn apply(fault: &FaultSpec, cluster: &mut Cluster, log: &mut FaultLog, last_killed: &mut Option<NodeId>) -> Result<()> {
    match &fault.action {
        Action::Kill { node } => {
            let leader = cluster.leader();
            let id = resolve(*node, leader, *last_killed)?;
            cluster.kill(id)?;
            log.record(AppliedFault::Kill { node: id, was_leader: leader == Some(id) });
            eprintln!("killed node {id}{}", if leader == Some(id) { " (the leader)" } else { "" });
            *last_killed = Some(id);
        }
        Action::Restart { node } => {
            let id = resolve(*node, None, *last_killed)?;
            if cluster.live().contains(&id) {
                return Err(anyhow!("node {id} is running"));
            }
            cluster.spawn(id, false)?;
            log.record(AppliedFault::Restart { node: id });
            cluster.attach(id, Instant::now() + Duration::from_secs(5))?;
            eprintln!("restarted node {id}");
        }
        _ => unreachable!("rejected before the run"),
    }
    Ok(())
}

fn resolve(target: Target, leader: Option<NodeId>, last_killed: Option<NodeId>) -> Result<NodeId> {
    match target {
        Target::Id(id) => Ok(id),
        Target::Leader => leader.ok_or_else(|| anyhow!("the live nodes agree on no leader")),
        Target::LastKilled => last_killed.ok_or_else(|| anyhow!("no node has been killed yet")),
        Target::Random => Err(anyhow!("random targets are not supported here yet")),
    }
}

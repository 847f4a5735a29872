//! `orchestrator bench scale`: how a real cluster on the proxy network grows. For each
//! algorithm and size it runs the shipped config without its faults and prints the launch time
//! (`connect_ms`), the time to the first agreed leader, messages delivered of sent, and the peak
//! resident memory of the orchestrator (which hosts the proxy; over the whole run, and while the
//! nodes were up, before their traces are judged) and of the nodes, sampled from /proc while the
//! run lasts. After each run it checks that nothing is left behind: no child
//! process, no descriptor of the orchestrator's own.

use crate::experiment::{Experiment, Overrides};
use crate::network::NetMode;
use crate::run::{run, RunOptions};
use crate::Failure;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Peak memory seen while one run lasted, in KiB.
#[derive(Default)]
struct Peaks {
    /// Every node together, at the sample where their sum was highest.
    nodes_total: u64,
    /// The largest node.
    node_max: u64,
    /// The orchestrator (with the proxy) while nodes were up: before the traces are judged.
    orchestrator_up: u64,
}

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn status_kib(pid: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's children: (pid, command name).
fn children() -> Vec<(String, String)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid ...: the name may hold spaces, so split after the last ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            (fields.next()? == me && state != "Z").then_some((pid, comm))
        })
        .collect()
}

/// Samples the children's memory every 100 ms until `stop`.
fn sample(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Peaks> {
    std::thread::spawn(move || {
        let mut peaks = Peaks::default();
        while !stop.load(Ordering::Relaxed) {
            let mut nodes = 0;
            let mut up = false;
            for (pid, comm) in children() {
                let rss = status_kib(&pid, "VmRSS:").unwrap_or(0);
                if comm == "node" {
                    up = true;
                    nodes += rss;
                    peaks.node_max = peaks.node_max.max(status_kib(&pid, "VmHWM:").unwrap_or(rss));
                }
            }
            peaks.nodes_total = peaks.nodes_total.max(nodes);
            if up {
                peaks.orchestrator_up = peaks.orchestrator_up.max(status_kib("self", "VmRSS:").unwrap_or(0));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        peaks
    })
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

pub fn scale(sizes: &[usize], algorithms: &[String], duration: Duration, node_bin: PathBuf) -> Result<(), Failure> {
    if sizes.is_empty() || algorithms.is_empty() || sizes.contains(&0) {
        return Err(Failure::BadInput("--nodes and --algorithms must name at least one (sizes above 0)".into()));
    }
    let out = std::env::temp_dir().join(format!("clusterlab-bench-scale-{}", std::process::id()));
    let header = format!(
        "{:<14} {:>5} {:>10} {:>12} {:>19} {:>9} {:>13} {:>13} {:>13} {:>9}",
        "algorithm",
        "nodes",
        "connect_ms",
        "leader_ms",
        "delivered / sent",
        "verdict",
        "orch+proxy MiB",
        "while up MiB",
        "nodes MiB (max)",
        "left",
    );
    let mut rows = Vec::new();
    println!("scale benchmark on the proxy network: {} s per run, no faults\n", duration.as_secs_f64());
    println!("{header}");
    for algorithm in algorithms {
        for &n in sizes {
            let config = Path::new("configs").join(format!("{algorithm}.toml"));
            let overrides = Overrides { nodes: Some(n), seed: None, duration: Some(duration) };
            let mut exp = Experiment::load(&config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
            exp.faults.clear();
            exp.nemesis = None;
            exp.connect_timeout = exp.connect_timeout.max(Duration::from_secs(30));
            // The orchestrator's own peak from here on (writing 5 resets VmHWM).
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let descriptors = open_descriptors();
            let stop = Arc::new(AtomicBool::new(false));
            let sampler = sample(Arc::clone(&stop));
            let opts = RunOptions {
                out: out.clone(),
                node_bin: node_bin.clone(),
                net: NetMode::Proxy,
                stay_up: false,
                on_ready: None,
            };
            let result = run(&exp, opts);
            stop.store(true, Ordering::Relaxed);
            let peaks = sampler.join().map_err(|_| Failure::BadInput("the memory sampler panicked".into()))?;
            let summary = result?;
            let orchestrator = status_kib("self", "VmHWM:").unwrap_or(0);
            let left_processes = children().len();
            let left_descriptors = open_descriptors().saturating_sub(descriptors);
            let metric = |key: &str| summary.metrics.get(key).cloned().unwrap_or_default();
            let connect = metric("connect_ms").as_f64().map_or("-".into(), |ms| format!("{ms:.0}"));
            let first = metric("election_ms")["values"][0].as_f64().map_or("none".into(), |ms| format!("{ms:.0}"));
            let row = format!(
                "{:<14} {:>5} {:>10} {:>12} {:>19} {:>9} {:>13} {:>13} {:>13} {:>9}",
                algorithm,
                n,
                connect,
                first,
                format!("{} / {}", summary.messages.delivered, summary.messages.total),
                format!("{:?}", summary.verdict).to_lowercase(),
                mib(orchestrator),
                mib(peaks.orchestrator_up),
                format!("{} ({})", mib(peaks.nodes_total), mib(peaks.node_max)),
                if left_processes == 0 && left_descriptors == 0 {
                    "nothing".to_string()
                } else {
                    format!("{left_processes}p {left_descriptors}fd")
                },
            );
            println!("{row}");
            rows.push(row);
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    println!("\n{header}");
    for row in rows {
        println!("{row}");
    }
    println!(
        "\nconnect_ms: orchestrator start → every node connected to and greeted by every peer; leader_ms: run \
         start → first agreed leader; memory: peak resident (the orchestrator, which hosts the proxy: over the \
         whole run with the judging of its traces, and while the nodes were up; every node together, and the \
         largest); left: child processes and descriptors of the orchestrator left after the run"
    );
    Ok(())
}

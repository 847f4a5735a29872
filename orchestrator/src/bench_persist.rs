//! `orchestrator bench persist`: what persisting one appended Raft entry costs the real node at
//! several log lengths, the whole durable state rewritten (how every persist was written before
//! records) against one record appended, measured in the same run through the node's own files
//! (`node::durable`): encoding, writing and fsync included.

use crate::simulate::cpu_time;
use algorithms::consensus::raft::{Durable, Entry, Log, Op, Record};
use algorithms::service::{Command, Request};
use anyhow::{Context, Result};
use node::durable::StateFiles;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A client's put, as the workload sends them: a few keys, short values.
fn entry(i: usize) -> Entry {
    let command = Command::Put { key: format!("k{}", i % 5), value: format!("{i}") };
    Entry { term: 3, op: Op::Client(Request { client: 6 + (i % 3) as u32, seq: i as u64, command }) }
}

/// The directory the files go in, removed however the bench ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wall and CPU time per persist, and bytes written per persist.
struct Cost {
    wall: Duration,
    cpu: Duration,
    bytes: usize,
}

/// `appends` entries appended to a log of `length`, each persisted by `persist` (which returns
/// the bytes it wrote).
fn measure(
    length: usize,
    appends: usize,
    mut persist: impl FnMut(&mut Durable, Entry) -> Result<usize>,
) -> Result<Cost> {
    let log = Log::from_entries((0..length).map(entry).collect());
    let mut durable = Durable { current_term: 3, voted_for: Some(1), log, snapshot: None };
    let (wall, cpu) = (Instant::now(), cpu_time());
    let mut bytes = 0;
    for i in 0..appends {
        bytes += persist(&mut durable, entry(length + i))?;
    }
    let n = appends as u32;
    Ok(Cost { wall: wall.elapsed() / n, cpu: (cpu_time() - cpu) / n, bytes: bytes / appends })
}

fn files(dir: &Path, name: &str) -> Result<StateFiles> {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).with_context(|| format!("cannot create {}", sub.display()))?;
    Ok(StateFiles::new(&sub, "raft"))
}

pub fn persist(lengths: &[usize], appends: usize, dir: &Path) -> Result<()> {
    let scratch = Scratch(dir.join(format!(".persist-bench-{}", std::process::id())));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "persisting one appended entry of Raft's durable state (term, vote, log), {appends} appends per length, \
         fsync'd in {}; load average {}",
        dir.display(),
        load.join(" ")
    );
    println!(
        "{:>8}  {:>12} {:>10} {:>10}  {:>10} {:>9} {:>7}  {:>10} {:>9}",
        "entries", "rewrite wall", "CPU", "bytes", "append wall", "CPU", "bytes", "wall ratio", "CPU ratio"
    );
    for (k, &length) in lengths.iter().enumerate() {
        let mut whole = files(&scratch.0, &format!("whole-{k}"))?;
        let before = measure(length, appends, |durable, e| {
            durable.log.push(e);
            let bytes = rmp_serde::to_vec_named(durable)?;
            whole.rewrite(&bytes)?;
            Ok(bytes.len())
        })?;
        let mut wal = files(&scratch.0, &format!("append-{k}"))?;
        let base = Log::from_entries((0..length).map(entry).collect());
        wal.rewrite(&rmp_serde::to_vec_named(&Durable {
            current_term: 3,
            voted_for: Some(1),
            log: base,
            snapshot: None,
        })?)?;
        let after = measure(length, appends, |durable, e| {
            let index = durable.log.push(e.clone());
            let bytes = rmp_serde::to_vec_named(&Record::Entries { after: index - 1, entries: vec![e] })?;
            wal.append(&bytes)?;
            Ok(bytes.len() + 8)
        })?;
        let us = |d: Duration| match d.as_secs_f64() {
            s if s >= 1e-3 => format!("{:.1} ms", s * 1e3),
            s => format!("{:.1} µs", s * 1e6),
        };
        let ratio = |a: Duration, b: Duration| format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64().max(1e-9));
        println!(
            "{:>8}  {:>12} {:>10} {:>10}  {:>10} {:>9} {:>7}  {:>10} {:>9}",
            length,
            us(before.wall),
            us(before.cpu),
            before.bytes,
            us(after.wall),
            us(after.cpu),
            after.bytes,
            ratio(before.wall, after.wall),
            ratio(before.cpu, after.cpu)
        );
    }
    Ok(())
}

//! The trace writer: one JSON line per event, appended to `node-<id>.jsonl`.
//!
//! The node's clocks and the file sit behind one mutex, so a record is stamped and written in one
//! critical section: the order of lines in the file is the order of the Lamport clock, even when
//! several instances and the transport record at once. Each line is copied into a shared mapping
//! of the file ([`TraceFile`]): nothing waits in a user-space buffer and no system call is made
//! per record, yet a SIGKILL loses at most the record being copied; a torn last line is repaired
//! at the next start.

use crate::trace_file::TraceFile;
use algorithms::trace::{Clocks, RecordRef, ShownMsg, TraceRecord, VectorClock, What, WhatRef};
use algorithms::NodeId;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct Tracer {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    clocks: Clocks,
    file: TraceFile,
    /// Whether `send` and `recv` records are written (they are always stamped).
    trace_messages: bool,
    /// Set once the `stop` records are written: nothing may follow them.
    closed: bool,
    /// A failed write is logged once, not once per record.
    write_failed: bool,
    /// The line being written, reused: no allocation per record.
    line: Vec<u8>,
}

/// What an existing trace file says about earlier lives of this node.
#[derive(Debug, Default, PartialEq)]
pub struct History {
    /// The last record that parses, to resume the clocks from.
    pub last: Option<TraceRecord>,
    /// The highest incarnation of any `start` record.
    pub incarnations: u64,
    /// The file is non-empty and does not end with a newline (a write was cut short).
    pub torn: bool,
}

impl History {
    pub fn read(text: &str) -> History {
        let torn = !text.is_empty() && !text.ends_with('\n');
        let last = text.lines().rev().find_map(|line| serde_json::from_str::<TraceRecord>(line).ok());
        // Only lines that can be start records are parsed: a long trace is read quickly.
        let incarnations = text
            .lines()
            .filter(|line| line.contains(r#""kind":"start""#))
            .filter_map(|line| serde_json::from_str::<TraceRecord>(line).ok())
            .filter_map(|r| match r.what {
                What::Start { incarnation } => Some(incarnation),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        History { last, incarnations, torn }
    }
}

impl Tracer {
    /// Opens (or creates) the trace file, resumes the clocks from its last record and returns the
    /// incarnation this life of the node has: one more than the highest recorded so far. (With
    /// several instances each start writes one `start` record per instance, all with the same
    /// incarnation, so the highest number is counted rather than the records.)
    pub fn open(path: &Path, node: NodeId, trace_messages: bool) -> io::Result<(Tracer, u64)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (mut file, bytes) = TraceFile::open(path)?;
        let history = History::read(&String::from_utf8_lossy(&bytes));
        if history.torn {
            file.append(b"\n")?;
        }
        let clocks = match history.last {
            // Resume with this node's id even if the file was another node's.
            Some(mut last) => {
                last.node = node;
                Clocks::resume(&last)
            }
            None => Clocks::new(node),
        };
        let inner =
            Inner { clocks, file, trace_messages, closed: false, write_failed: false, line: Vec::with_capacity(512) };
        Ok((Tracer { path: path.to_path_buf(), inner: Mutex::new(inner) }, history.incarnations + 1))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (a stamp is a few additions).
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stamps a local event and writes it; returns its `lc`.
    pub fn record(&self, instance: &str, what: What) -> u64 {
        let mut inner = self.lock();
        let lc = inner.clocks.tick();
        inner.write(None, WhatRef::Other(&what), instance, &self.path);
        lc
    }

    /// Stamps a send of `msg` and hands its `lc` and `vc` to `frame`, which encodes the envelope:
    /// the clocks are lent, not copied, and the frame carries exactly the clocks of its record.
    pub fn record_send<R>(
        &self,
        instance: &str,
        to: NodeId,
        msg_type: &str,
        msg: &ShownMsg,
        frame: impl FnOnce(u64, &VectorClock) -> R,
    ) -> R {
        let mut inner = self.lock();
        let lc = inner.clocks.tick();
        inner.write(None, WhatRef::Send { to, msg_type, msg }, instance, &self.path);
        frame(lc, inner.clocks.vc())
    }

    /// Stamps a receive of the message `(from, lc)` whose send carried `vc`; returns the time
    /// it read (`monotonic_ns`), so the handler that follows runs at that time without reading
    /// the clock again.
    pub fn record_recv(&self, instance: &str, from: NodeId, msg_type: &str, lc: u64, vc: &VectorClock) -> u64 {
        let t = crate::monotonic_ns();
        let mut inner = self.lock();
        inner.clocks.merge(lc, vc);
        inner.clocks.tick();
        inner.write(Some(t), WhatRef::Recv { from, msg_type, msg_lc: lc }, instance, &self.path);
        t
    }

    /// Writes a `stop` record for each instance and closes the trace: a stopped node's trace
    /// ends with its stop records, whatever else was still under way.
    pub fn stop(&self, instances: &[String], reason: &str) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        let what = What::Stop { reason: reason.to_string() };
        for instance in instances {
            inner.clocks.tick();
            inner.write(None, WhatRef::Other(&what), instance, &self.path);
        }
        inner.closed = true;
        if let Err(e) = inner.file.finish() {
            tracing::error!("cannot trim the trace {}: {e}", self.path.display());
        }
    }
}

impl Inner {
    /// Writes the event just stamped (the clocks are its clocks) at time `t` (read now if
    /// `None`, and only if the record is written), unless the trace is closed or it is a message
    /// and messages are not traced.
    fn write(&mut self, t: Option<u64>, what: WhatRef<'_>, instance: &str, path: &Path) {
        if self.closed || (!self.trace_messages && matches!(what, WhatRef::Send { .. } | WhatRef::Recv { .. })) {
            return;
        }
        let record = RecordRef {
            t: t.unwrap_or_else(crate::monotonic_ns),
            node: self.clocks.me(),
            instance,
            lc: self.clocks.lc(),
            vc: self.clocks.vc(),
            what,
        };
        self.line.clear();
        record.write_json_line(&mut self.line);
        if let Err(e) = self.file.append(&self.line) {
            if !self.write_failed {
                self.write_failed = true;
                tracing::error!("cannot write the trace {}: {e}; later records may be missing", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::trace::parse_jsonl;
    use std::io::Write;
    use std::path::PathBuf;

    fn temp_trace(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clusterlab-tracer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("node-1.jsonl")
    }

    #[test]
    fn a_restart_resumes_clocks_counts_incarnations_and_mends_a_torn_line() {
        let path = temp_trace("resume");
        let (tracer, incarnation) = Tracer::open(&path, 1, true).unwrap();
        assert_eq!(incarnation, 1);
        tracer.record("a", What::Start { incarnation });
        tracer.record("b", What::Start { incarnation });
        let (lc, vc) = tracer.record_send("a", 2, "m", &ShownMsg::null(), |lc, vc| (lc, vc.clone()));
        assert_eq!((lc, vc), (3, VectorClock::from([(1, 3)])));
        drop(tracer);
        // A SIGKILL in the middle of a write leaves half a line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(br#"{"t":1,"no"#).unwrap();

        let (tracer, incarnation) = Tracer::open(&path, 1, true).unwrap();
        assert_eq!(incarnation, 2);
        let lc = tracer.record("a", What::Start { incarnation });
        assert_eq!(lc, 4, "clocks go on from the last whole record");
        tracer.stop(&["a".into()], "test");
        tracer.record("a", What::Timer { name: "late".into() });
        let text = std::fs::read_to_string(&path).unwrap();
        let good: Vec<&str> = text.lines().filter(|l| !l.starts_with(r#"{"t":1,"no"#)).collect();
        let records = parse_jsonl(&good.join("\n")).unwrap();
        assert_eq!(records.len(), 5, "{text}");
        assert!(matches!(records.last().unwrap().what, What::Stop { .. }), "nothing after stop");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn without_message_tracing_sends_are_stamped_but_not_written() {
        let path = temp_trace("quiet");
        let (tracer, _) = Tracer::open(&path, 1, false).unwrap();
        let sent_lc = tracer.record_send("a", 2, "m", &ShownMsg::null(), |lc, _| lc);
        assert_eq!(sent_lc, 1, "stamped");
        tracer.record_recv("a", 2, "m", 5, &VectorClock::from([(2, 5)]));
        let lc = tracer.record("a", What::Timer { name: "t".into() });
        assert_eq!(lc, 7, "the receive took the sender's clock");
        // Read while the tracer is open: the records, then the file's allocated tail.
        let bytes = std::fs::read(&path).unwrap();
        let records = parse_jsonl(std::str::from_utf8(crate::trace_file::written(&bytes)).unwrap()).unwrap();
        let timer = TraceRecord {
            t: records[0].t,
            node: 1,
            instance: "a".into(),
            lc: 7,
            vc: VectorClock::from([(1, 3), (2, 5)]),
            what: What::Timer { name: "t".into() },
        };
        assert_eq!(records, vec![timer]);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

//! The merged timeline: every node's records and the orchestrator's faults in one order, written
//! as `timeline.jsonl`, and the message pairing (which receive belongs to which send) that the
//! report, the diagram and the ShiViz export share.
//!
//! The order is monotonic time, as one host's CLOCK_MONOTONIC gives it, with causality on top:
//! a node's records stay in the order the node wrote them, and a receive never comes before its
//! send, even when two records carry the same time (the simulator stamps a whole step with one
//! virtual instant) or, on a misbehaving host, when a receive's stamp is earlier than its send's.
//! Ties are broken by the sum of the vector clock, which grows along every causal chain, so the
//! order is a linear extension of happened-before: any prefix of it is a consistent cut.

use algorithms::faults::FaultRecord;
use algorithms::trace::{TraceRecord, What};
use algorithms::NodeId;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// One line of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// Index into [`Timeline::records`].
    Record(usize),
    /// Index into [`Timeline::faults`].
    Fault(usize),
}

pub struct Timeline {
    pub records: Vec<TraceRecord>,
    pub faults: Vec<FaultRecord>,
    /// Every record and fault, merged.
    pub order: Vec<Item>,
    /// For each record that is a receive: the index of its send, when the send is in the traces.
    pub send_of: Vec<Option<usize>>,
    /// For each send: the indices of its receives (none: not delivered; two: duplicated).
    pub recvs_of: HashMap<usize, Vec<usize>>,
}

impl Timeline {
    /// Merges the records (in the order each node wrote them) and the faults.
    pub fn new(records: Vec<TraceRecord>, mut faults: Vec<FaultRecord>) -> Timeline {
        faults.sort_by_key(|f| f.t);
        let mut sends: HashMap<(NodeId, u64), usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if matches!(r.what, What::Send { .. }) {
                sends.insert((r.node, r.lc), i);
            }
        }
        let mut send_of = vec![None; records.len()];
        let mut recvs_of: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            if let What::Recv { from, msg_lc, .. } = &r.what {
                if let Some(s) = sends.get(&(*from, *msg_lc)) {
                    send_of[i] = Some(*s);
                    recvs_of.entry(*s).or_default().push(i);
                }
            }
        }
        let order = merge(&records, &faults, &send_of);
        Timeline { records, faults, order, send_of, recvs_of }
    }

    /// The records alone, in timeline order.
    pub fn record_order(&self) -> impl Iterator<Item = usize> + '_ {
        self.order.iter().filter_map(|item| match item {
            Item::Record(i) => Some(*i),
            Item::Fault(_) => None,
        })
    }

    /// Writes `timeline.jsonl`: node records exactly as in the node traces (they have `lc`), and
    /// the orchestrator's records with `"kind":"fault"` beside their `action`.
    pub fn write_jsonl(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        for item in &self.order {
            let line = match item {
                Item::Record(i) => serde_json::to_string(&self.records[*i])?,
                Item::Fault(i) => fault_line(&self.faults[*i])?,
            };
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush().with_context(|| format!("writing {}", path.display()))
    }
}

/// An orchestrator record as a timeline line: `{"t":…,"kind":"fault","action":"kill",…}`.
fn fault_line(f: &FaultRecord) -> Result<String> {
    // The fault serializes as an object with its `action` tag; `t` and `kind` go first.
    let fault = serde_json::to_string(&f.fault)?;
    let rest = fault.strip_prefix('{').unwrap_or(&fault);
    Ok(format!("{{\"t\":{},\"kind\":\"fault\",{rest}", f.t))
}

/// A k-way merge of the nodes' record lists. The next record is the one with the smallest
/// (time, vector-clock sum, node) among the lists' heads whose send (for a receive) is already
/// out; a fault goes before every record later than it and after records at its own instant
/// (a kill is logged after whatever the victim wrote at that moment).
fn merge(records: &[TraceRecord], faults: &[FaultRecord], send_of: &[Option<usize>]) -> Vec<Item> {
    let mut lists: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        lists.entry(r.node).or_default().push(i);
    }
    let lists: Vec<Vec<usize>> = lists.into_values().collect();
    let mut heads = vec![0usize; lists.len()];
    let mut emitted = vec![false; records.len()];
    // Computed once: every step compares every list's head.
    let keys: Vec<(u64, u64, NodeId, u64)> =
        records.iter().map(|r| (r.t, r.vc.values().sum::<u64>(), r.node, r.lc)).collect();
    let key = |i: usize| keys[i];
    let mut order = Vec::with_capacity(records.len() + faults.len());
    let mut next_fault = 0;
    loop {
        let candidates =
            || lists.iter().zip(&heads).enumerate().filter_map(|(l, (list, h))| list.get(*h).map(|i| (key(*i), l, *i)));
        let ready = candidates().filter(|(_, _, i)| send_of[*i].is_none_or(|s| emitted[s])).min();
        // Every head waiting on a send that is itself stuck means the traces contradict
        // themselves (a cycle); take the earliest head anyway rather than stop.
        let Some((_, list, pick)) = ready.or_else(|| candidates().min()) else { break };
        let t = records[pick].t;
        while next_fault < faults.len() && faults[next_fault].t < t {
            order.push(Item::Fault(next_fault));
            next_fault += 1;
        }
        order.push(Item::Record(pick));
        emitted[pick] = true;
        heads[list] += 1;
    }
    order.extend((next_fault..faults.len()).map(Item::Fault));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::faults::AppliedFault;
    use algorithms::trace::{Clocks, ShownMsg};

    fn send(c: &mut Clocks, t: u64, to: NodeId) -> TraceRecord {
        c.stamp(t, "x", What::Send { to, msg_type: "m".into(), msg: ShownMsg::null() })
    }

    fn recv(c: &mut Clocks, t: u64, s: &TraceRecord) -> TraceRecord {
        let what = What::Recv { from: s.node, msg_type: "m".into(), msg_lc: s.lc };
        c.stamp_receive(t, "x", s.lc, &s.vc, what)
    }

    #[test]
    fn a_receive_never_precedes_its_send_even_at_the_same_instant_or_earlier() {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let local = b.stamp(5, "x", What::Timer { name: "t".into() });
        let s = send(&mut a, 10, 2);
        let r_same = recv(&mut b, 10, &s);
        let s2 = send(&mut a, 20, 2);
        let r_early = recv(&mut b, 15, &s2); // a stamp earlier than its send's
                                             // Node 2 listed first, so a naive merge on (t, node) would be wrong on both counts.
        let tl = Timeline::new(vec![local.clone(), r_same.clone(), r_early.clone(), s.clone(), s2.clone()], vec![]);
        let order: Vec<&TraceRecord> = tl.record_order().map(|i| &tl.records[i]).collect();
        assert_eq!(order, vec![&local, &s, &r_same, &s2, &r_early]);
        assert_eq!(tl.send_of[1], Some(3));
        assert_eq!(tl.recvs_of[&4], vec![2]);
    }

    #[test]
    fn faults_interleave_by_time_after_records_of_their_instant() {
        let mut a = Clocks::new(1);
        let r1 = a.stamp(10, "x", What::Timer { name: "t".into() });
        let r2 = a.stamp(30, "x", What::Timer { name: "t".into() });
        let faults = vec![
            FaultRecord { t: 20, fault: AppliedFault::Kill { node: 1, was_leader: false } },
            FaultRecord { t: 10, fault: AppliedFault::RunStart { nodes: vec![1] } },
        ];
        let tl = Timeline::new(vec![r1, r2], faults);
        assert_eq!(tl.order, vec![Item::Record(0), Item::Fault(0), Item::Fault(1), Item::Record(1)]);
        let dir = std::env::temp_dir().join(format!("clusterlab-timeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        tl.write_jsonl(&dir.join("timeline.jsonl")).unwrap();
        let text = std::fs::read_to_string(dir.join("timeline.jsonl")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with(r#"{"t":10,"kind":"fault","action":"run_start""#), "{}", lines[1]);
        assert!(lines[3].contains(r#""lc":2"#));
        std::fs::remove_dir_all(dir).unwrap();
    }
}

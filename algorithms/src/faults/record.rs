//! The record of a fault as applied (targets resolved to ids), as written to `orchestrator.jsonl`
//! and read back by the checkers.

use super::{CutMode, LinkSpec};
use crate::core::process::{Nanos, NodeId};
use serde::{Deserialize, Serialize};

/// A fault the orchestrator (or simulator) applied, as written to `orchestrator.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub t: Nanos,
    #[serde(flatten)]
    pub fault: AppliedFault,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AppliedFault {
    /// The experiment's clock starts: nodes are up and connected.
    RunStart {
        nodes: Vec<NodeId>,
    },
    /// SIGKILL (or a simulated crash). `was_leader` says whether it was the leader then.
    Kill {
        node: NodeId,
        was_leader: bool,
    },
    Restart {
        node: NodeId,
    },
    /// A process ended that nobody killed (it crashed or exited on its own).
    Exited {
        node: NodeId,
        code: Option<i32>,
    },
    /// SIGSTOP / SIGCONT.
    Pause {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    /// The node's clock now runs at `rate` times true time.
    Drift {
        node: NodeId,
        rate: f64,
    },
    /// These directed links are cut (replacing any earlier partition); `spec` is what was asked.
    Partition {
        spec: String,
        mode: CutMode,
        cut: Vec<(NodeId, NodeId)>,
    },
    /// Every partition and link fault removed.
    Heal,
    /// Per-message faults on one directed link (all clear: the link is healthy again).
    Link(LinkSpec),
    /// The node's algorithm set its state to arbitrary values.
    Corrupt {
        node: NodeId,
    },
    /// A command given to the node's algorithm, and its answer (`ok` false: it refused).
    Command {
        node: NodeId,
        args: Vec<String>,
        ok: bool,
        reply: String,
    },
    RunEnd,
}

impl AppliedFault {
    /// The fault as a person reads it in logs and summaries.
    pub fn describe(&self) -> String {
        match self {
            AppliedFault::RunStart { nodes } => format!("run started with nodes {nodes:?}"),
            AppliedFault::Kill { node, was_leader: true } => format!("killed node {node} (the leader)"),
            AppliedFault::Kill { node, .. } => format!("killed node {node}"),
            AppliedFault::Restart { node } => format!("restarted node {node}"),
            AppliedFault::Exited { node, code } => format!("node {node} exited on its own (code {code:?})"),
            AppliedFault::Pause { node } => format!("paused node {node}"),
            AppliedFault::Resume { node } => format!("resumed node {node}"),
            AppliedFault::Drift { node, rate } => format!("node {node}'s clock runs at {rate}× true time"),
            AppliedFault::Partition { spec, cut, .. } => format!("partition {spec} ({} directed links cut)", cut.len()),
            AppliedFault::Heal => "healed every partition and link".into(),
            AppliedFault::Link(spec) => format!("link {}", spec.describe()),
            AppliedFault::Corrupt { node } => format!("corrupted node {node}'s state"),
            AppliedFault::Command { node, args, ok: true, reply } => {
                format!("command {:?} at node {node}: {reply}", args.join(" "))
            }
            AppliedFault::Command { node, args, ok: false, reply } => {
                format!("command {:?} refused by node {node}: {reply}", args.join(" "))
            }
            AppliedFault::RunEnd => "run ended".into(),
        }
    }
}

/// Reads `orchestrator.jsonl`: the fault records, and for every line that is not one (torn by a
/// crash, edited by hand, written by a later version) its line number and what is wrong with it.
pub fn read_fault_lines(text: &str) -> (Vec<FaultRecord>, Vec<String>) {
    let (mut records, mut bad) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    (records, bad)
}

/// The fault records of `orchestrator.jsonl`, for tests and tools that only need the good lines;
/// checkers go through [`read_fault_lines`], which reports the others.
pub fn parse_fault_lines(text: &str) -> Vec<FaultRecord> {
    read_fault_lines(text).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_fault_line_is_reported_with_its_number() {
        let text = "{\"t\":5,\"action\":\"heal\"}\n\n{\"t\":7,\"action\":\"ki";
        let (records, bad) = read_fault_lines(text);
        assert_eq!(records, vec![FaultRecord { t: 5, fault: AppliedFault::Heal }]);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].starts_with("line 3: "), "{bad:?}");
    }
}

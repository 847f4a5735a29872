//! What `orchestrator status` shows of a cluster that is up.

use algorithms::{NodeId, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `status` shows: each node and the faults in force.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub run_dir: PathBuf,
    pub algorithm: String,
    pub net: String,
    pub elapsed_ms: u64,
    pub leader: Option<NodeId>,
    pub nodes: Vec<NodeLine>,
    pub partition: Option<String>,
    pub links: Vec<String>,
    pub drift: BTreeMap<NodeId, f64>,
    /// iptables mode: the rules in force inside the run's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NodeLine {
    pub id: NodeId,
    /// `up`, `paused` or `down`.
    pub state: String,
    pub pid: Option<u32>,
    pub view: Option<Status>,
    pub connected: Vec<NodeId>,
}

impl ClusterStatus {
    /// The leader every running, unpaused node names (a leader names itself), if they agree;
    /// client nodes of a service name none and are not asked.
    pub fn unanimous_leader(&self) -> Option<NodeId> {
        let mut named = self
            .nodes
            .iter()
            .filter(|n| n.state == "up" && n.view.as_ref().is_none_or(|v| v.role != "client"))
            .map(|n| n.view.as_ref().and_then(|v| if v.role == "leader" { Some(n.id) } else { v.leader }));
        let first = named.next()??;
        named.all(|l| l == Some(first)).then_some(first)
    }

    pub fn human(&self) -> String {
        // Algorithms without a leader (mutual exclusion) name none: say nothing about one then.
        let has_leaders = self.nodes.iter().flat_map(|n| &n.view).any(|v| v.leader.is_some() || v.role == "leader");
        let leader = match (self.leader, has_leaders) {
            (Some(l), _) => format!(" · leader {l}"),
            (None, true) => " · no agreed leader".into(),
            (None, false) => String::new(),
        };
        let mut out = format!(
            "{} · {} network · up {:.1} s{leader}\n",
            self.algorithm,
            self.net,
            self.elapsed_ms as f64 / 1000.0
        );
        for n in &self.nodes {
            let view = n.view.as_ref().map_or(String::new(), |v| {
                let mut s = format!("{:<9}", v.role);
                if let Some(l) = v.leader {
                    s += &format!(" leader {l}");
                }
                if let Some(t) = v.term {
                    s += &format!(" term {t}");
                }
                s
            });
            let pid = n.pid.map_or("-".into(), |p| p.to_string());
            out += &format!("  node {:<3} {:<7} pid {:<8} {view}\n", n.id, n.state, pid);
        }
        match &self.partition {
            Some(p) => out += &format!("  partition: {p}\n"),
            None => out += "  partition: none\n",
        }
        for l in &self.links {
            out += &format!("  link {l}\n");
        }
        for (id, rate) in &self.drift {
            out += &format!("  node {id} clock rate {rate}\n");
        }
        if let Some(rules) = &self.rules {
            out += "  iptables rules in the run's namespace:\n";
            for rule in rules.lines() {
                out += &format!("    {rule}\n");
            }
        }
        out
    }
}

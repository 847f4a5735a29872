//! How nodes reach each other: the network modes (`--net`) and what each can do.

use algorithms::faults::Action;
use serde::{Deserialize, Serialize};

/// How nodes reach each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NetMode {
    /// Through the orchestrator's frame-aware proxy: every fault, no root needed.
    #[default]
    Proxy,
    /// Each node on its own 127.0.0.x in a private network namespace; partitions are iptables
    /// rules inside it (root only; partitions and one-way cuts, no per-message faults).
    Iptables,
    /// Straight TCP between nodes: process faults only.
    Direct,
}

impl NetMode {
    /// Whether this network can apply `action`; the error says what could.
    pub fn allows(self, action: &Action) -> Result<(), String> {
        match (self, action) {
            (NetMode::Direct, Action::Partition { .. } | Action::Heal) => {
                Err("partitions need the proxy (default) or --net iptables; this cluster runs --net direct".into())
            }
            (NetMode::Direct, Action::Link(_)) => {
                Err("link faults need the proxy (default); this cluster runs --net direct".into())
            }
            (NetMode::Iptables, Action::Link(spec))
                if spec.delay.is_some() || spec.loss > 0.0 || spec.duplicate > 0.0 || spec.reorder > 0.0 =>
            {
                Err("--net iptables can only cut links; delay, loss, duplication and reordering need the proxy".into())
            }
            _ => Ok(()),
        }
    }
}

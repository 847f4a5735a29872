//! How nodes reach each other: the network modes (`--net`), what each can do, and the network of
//! a cluster that is up, which carries out partitions and link faults in its own way.

use crate::cluster::free_ports;
use crate::netns::Netns;
use crate::proxy::Proxy;
use algorithms::faults::{Action, Cut, CutMode, LinkSpec, NetworkFaults};
use algorithms::NodeId;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// How nodes reach each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NetMode {
    /// Through the orchestrator's frame-aware proxy, one connection per node: every fault, no
    /// root needed.
    #[default]
    Proxy,
    /// Each node on its own 127.0.0.x in a private network namespace; partitions are iptables
    /// rules inside it (root only; partitions and one-way cuts, no per-message faults).
    Iptables,
    /// Straight TCP between nodes: process faults only.
    Direct,
}

const DIRECT_CANNOT_PARTITION: &str =
    "partitions need the proxy (default) or --net iptables; this cluster runs --net direct";
const DIRECT_CANNOT_LINK: &str = "link faults need the proxy (default); this cluster runs --net direct";
const IPTABLES_ONLY_CUTS: &str =
    "--net iptables can only cut links; delay, loss, duplication and reordering need the proxy";

impl NetMode {
    /// Whether this network can apply `action`; the error says what could.
    pub fn allows(self, action: &Action) -> Result<(), String> {
        match (self, action) {
            (NetMode::Direct, Action::Partition { .. } | Action::Heal) => Err(DIRECT_CANNOT_PARTITION.into()),
            (NetMode::Direct, Action::Link(_)) => Err(DIRECT_CANNOT_LINK.into()),
            (NetMode::Iptables, Action::Link(spec)) if per_message(spec) => Err(IPTABLES_ONLY_CUTS.into()),
            _ => Ok(()),
        }
    }

    /// The word `status` and `run.json` use: `proxy`, `iptables`, `direct`.
    pub fn word(self) -> &'static str {
        match self {
            NetMode::Proxy => "proxy",
            NetMode::Iptables => "iptables",
            NetMode::Direct => "direct",
        }
    }
}

/// Faults a proxy applies per message, beyond cutting the link.
fn per_message(spec: &LinkSpec) -> bool {
    spec.delay.is_some() || spec.loss > 0.0 || spec.duplicate > 0.0 || spec.reorder > 0.0
}

/// The network of a cluster that is up.
pub enum Network {
    /// Every directed link through the orchestrator's proxy.
    Proxy(Proxy),
    /// iptables rules in the run's namespace, which the cluster also starts its nodes in.
    Iptables(Arc<Netns>),
    /// Nodes dial each other straight: nothing to cut.
    Direct,
}

impl Network {
    /// The network for nodes `ids`: where each node listens, and the backend. iptables mode
    /// creates the run's namespace and gives each node its own 127.0.0.x in it; the others put
    /// every node on 127.0.0.1 on a free port (the proxy: one listener that every node dials once).
    pub fn start(mode: NetMode, ids: &[NodeId], seed: u64) -> Result<(BTreeMap<NodeId, SocketAddr>, Network)> {
        match mode {
            NetMode::Iptables => {
                let netns = Netns::create()?;
                let listen = ids.iter().map(|id| (*id, SocketAddr::new(crate::netns::address(*id), 7000))).collect();
                Ok((listen, Network::Iptables(Arc::new(netns))))
            }
            NetMode::Proxy => {
                let listen = loopback(ids)?;
                let proxy = Proxy::start(ids.iter().copied(), seed)?;
                Ok((listen, Network::Proxy(proxy)))
            }
            NetMode::Direct => Ok((loopback(ids)?, Network::Direct)),
        }
    }

    pub fn mode(&self) -> NetMode {
        match self {
            Network::Proxy(_) => NetMode::Proxy,
            Network::Iptables(_) => NetMode::Iptables,
            Network::Direct => NetMode::Direct,
        }
    }

    /// The address node `from` dials to reach `to`, which listens on `listen`.
    pub fn dial(&self, _from: NodeId, _to: NodeId, listen: SocketAddr) -> SocketAddr {
        self.mux().unwrap_or(listen)
    }

    /// The proxy's address, where every node's one connection carries all its links (the proxy
    /// network only; on the others each link is its own connection).
    pub fn mux(&self) -> Option<SocketAddr> {
        match self {
            Network::Proxy(proxy) => Some(proxy.address()),
            Network::Iptables(_) | Network::Direct => None,
        }
    }

    /// What the proxy did over all links (the proxy network only).
    pub fn proxy_totals(&self) -> Option<crate::proxy::ProxyTotals> {
        match self {
            Network::Proxy(proxy) => Some(proxy.totals()),
            Network::Iptables(_) | Network::Direct => None,
        }
    }

    /// The namespace the nodes run in, in iptables mode.
    pub fn netns(&self) -> Option<Arc<Netns>> {
        match self {
            Network::Iptables(netns) => Some(Arc::clone(netns)),
            Network::Proxy(_) | Network::Direct => None,
        }
    }

    /// Puts a partition in force among `ids`, replacing the previous one. Both backends keep each
    /// link's own faults (`in_force`): the proxy per link, iptables by rewriting its rules to this
    /// cut together with the one-way link cuts in force, so each lasts until it is healed.
    pub fn set_cut(&self, ids: &[NodeId], cut: &Cut, mode: CutMode, in_force: &NetworkFaults) -> Result<()> {
        match self {
            Network::Proxy(proxy) => {
                for &from in ids {
                    for &to in ids.iter().filter(|t| **t != from) {
                        let mut spec =
                            in_force.links.get(&(from, to)).cloned().unwrap_or_else(|| LinkSpec::clear(from, to));
                        if cut.contains(&(from, to)) {
                            spec.cut = true;
                            spec.mode = mode;
                        }
                        proxy.set(spec)?;
                    }
                }
                Ok(())
            }
            Network::Iptables(netns) => netns.set_cut(&rules_with_partition(cut, mode, in_force)),
            Network::Direct => bail!(DIRECT_CANNOT_PARTITION),
        }
    }

    /// Replaces the faults of one directed link; the partition in force (`in_force`) stays.
    pub fn set_link(&self, spec: &LinkSpec, in_force: &NetworkFaults) -> Result<()> {
        match self {
            Network::Proxy(proxy) => {
                let mut effective = spec.clone();
                if let Some(partition) = &in_force.partition {
                    if partition.cut.contains(&(spec.from, spec.to)) {
                        effective.cut = true;
                        effective.mode = partition.mode;
                    }
                }
                proxy.set(effective)
            }
            Network::Iptables(_) if per_message(spec) => bail!(IPTABLES_ONLY_CUTS),
            Network::Iptables(netns) => netns.set_cut(&rules_with_link(spec, in_force)),
            Network::Direct => bail!(DIRECT_CANNOT_LINK),
        }
    }

    /// Removes every partition and link fault.
    pub fn heal(&self) -> Result<()> {
        match self {
            Network::Proxy(proxy) => proxy.clear_all(),
            Network::Iptables(netns) => netns.set_cut(&BTreeMap::new()),
            Network::Direct => bail!(DIRECT_CANNOT_PARTITION),
        }
    }

    /// A link's faults, and what the proxy has done on it so far.
    pub fn describe_link(&self, spec: &LinkSpec) -> String {
        let mut text = spec.describe();
        if let Network::Proxy(proxy) = self {
            if let Some(c) = proxy.counters(spec.from, spec.to) {
                text += &format!(
                    " (forwarded {}, dropped {}, duplicated {}, delayed {}, reordered {})",
                    c.forwarded, c.dropped, c.duplicated, c.delayed, c.reordered
                );
            }
        }
        text
    }

    /// iptables mode: the rules in force inside the run's namespace.
    pub fn rules(&self) -> Option<String> {
        match self {
            Network::Iptables(netns) => netns.rules().ok(),
            Network::Proxy(_) | Network::Direct => None,
        }
    }
}

/// The directed links iptables cuts, and how: those of the partition in force (its mode) and
/// every one-way link cut in force (its own mode). They compose: a partition does not lift a
/// link cut, nor a link fault a partition; where both cut a link, the partition's mode wins.
fn iptables_cut<'a>(
    partition: Option<(&Cut, CutMode)>,
    links: impl IntoIterator<Item = &'a LinkSpec>,
) -> BTreeMap<(NodeId, NodeId), CutMode> {
    let mut rules: BTreeMap<(NodeId, NodeId), CutMode> =
        links.into_iter().filter(|l| l.cut).map(|l| ((l.from, l.to), l.mode)).collect();
    if let Some((cut, mode)) = partition {
        rules.extend(cut.iter().map(|link| (*link, mode)));
    }
    rules
}

/// The iptables cut once partition `cut` replaces the one in force (`in_force`).
fn rules_with_partition(cut: &Cut, mode: CutMode, in_force: &NetworkFaults) -> BTreeMap<(NodeId, NodeId), CutMode> {
    iptables_cut(Some((cut, mode)), in_force.links.values())
}

/// The iptables cut once `spec` replaces its link's faults in force; the partition and the other
/// links stay.
fn rules_with_link(spec: &LinkSpec, in_force: &NetworkFaults) -> BTreeMap<(NodeId, NodeId), CutMode> {
    let mut links = in_force.links.clone();
    links.insert((spec.from, spec.to), spec.clone());
    iptables_cut(in_force.partition.as_ref().map(|p| (&p.cut, p.mode)), links.values())
}

/// Every node on 127.0.0.1, each on a free port.
fn loopback(ids: &[NodeId]) -> Result<BTreeMap<NodeId, SocketAddr>> {
    let ports = free_ports(ids.len()).context("finding free loopback ports")?;
    Ok(ids.iter().zip(ports).map(|(id, port)| (*id, SocketAddr::from(([127, 0, 0, 1], port)))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::faults::Partition;

    fn one_way(from: NodeId, to: NodeId, mode: CutMode) -> LinkSpec {
        LinkSpec { cut: true, mode, ..LinkSpec::clear(from, to) }
    }

    /// In force: the engine's record after the faults so far (what it hands `set_cut`/`set_link`).
    fn in_force(partition: Option<(&Cut, CutMode)>, links: &[LinkSpec]) -> NetworkFaults {
        NetworkFaults {
            partition: partition.map(|(cut, mode)| Partition { spec: "test".into(), mode, cut: cut.clone() }),
            links: links.iter().map(|l| ((l.from, l.to), l.clone())).collect(),
        }
    }

    #[test]
    fn a_partition_and_a_one_way_link_cut_compose_until_each_is_healed() {
        use CutMode::{Blackhole, Reset};
        let link = one_way(1, 2, Blackhole);
        let isolate_3: Cut = [(1, 3), (3, 1), (2, 3), (3, 2)].into();
        let expect = |pairs: &[((NodeId, NodeId), CutMode)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();

        // The link cut first, then a partition: the partition does not lift the link cut.
        let rules = rules_with_partition(&isolate_3, Reset, &in_force(None, std::slice::from_ref(&link)));
        let both = expect(&[((1, 2), Blackhole), ((1, 3), Reset), ((2, 3), Reset), ((3, 1), Reset), ((3, 2), Reset)]);
        assert_eq!(rules, both);
        // The partition first, then the link cut: the same rules, each with its own mode.
        let rules = rules_with_link(&link, &in_force(Some((&isolate_3, Reset)), &[]));
        assert_eq!(rules, both);
        // Clearing the link leaves the partition in force, in its own mode.
        let in_force_now = in_force(Some((&isolate_3, Reset)), std::slice::from_ref(&link));
        let rules = rules_with_link(&LinkSpec::clear(1, 2), &in_force_now);
        assert_eq!(rules, expect(&[((1, 3), Reset), ((2, 3), Reset), ((3, 1), Reset), ((3, 2), Reset)]));
        // A new partition replaces the old one, and the link cut stays.
        let halves: Cut = [(1, 2), (2, 1)].into();
        let rules = rules_with_partition(&halves, Reset, &in_force_now);
        assert_eq!(rules, expect(&[((1, 2), Reset), ((2, 1), Reset)]), "where both cut a link, the partition's mode");
        let rules = rules_with_partition(&[(2, 1)].into(), Reset, &in_force_now);
        assert_eq!(rules, expect(&[((1, 2), Blackhole), ((2, 1), Reset)]));
        // A per-message fault on a link is no cut.
        let lossy = LinkSpec { loss: 0.5, ..LinkSpec::clear(2, 3) };
        assert_eq!(rules_with_link(&lossy, &in_force(None, &[])), BTreeMap::new());
    }
}

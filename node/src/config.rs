//! A node's configuration: one TOML file, written by the orchestrator for each node it launches or
//! by a person starting nodes by hand (on one host or several; see `configs/node-example.toml`).

use algorithms::service::client::Workload;
use algorithms::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub id: NodeId,
    /// Nodes only talk to nodes of the same cluster (checked in the hello).
    pub cluster: String,
    /// Address to listen on for peers.
    pub listen: SocketAddr,
    /// Address outgoing connections are bound to (iptables rules tell nodes apart by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<std::net::IpAddr>,
    /// Every other node of the cluster.
    pub peers: Vec<Peer>,
    /// A multiplexing proxy to reach every peer through: one connection, on which each frame
    /// names its destination and the proxy greets this node on behalf of each peer (the peers'
    /// own addresses are then not dialed). The orchestrator's default network sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mux: Option<SocketAddr>,
    /// The trace file, `node-<id>.jsonl`; appended to across restarts.
    pub trace: PathBuf,
    /// Where instances persist state (survives restarts).
    pub data_dir: PathBuf,
    /// Unix socket for the control protocol; none for a node started without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<PathBuf>,
    /// Seed of the run; each instance's RNG derives from it, the node id and the incarnation.
    #[serde(default)]
    pub seed: u64,
    /// Wait for a `start` request before starting instances (the orchestrator starts all nodes
    /// together once they are connected).
    #[serde(default)]
    pub hold: bool,
    /// Record every send and receive in the trace (off only for transport benchmarks).
    #[serde(default = "yes")]
    pub trace_messages: bool,
    pub instances: Vec<InstanceConfig>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub id: NodeId,
    pub addr: SocketAddr,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// The instance name frames carry, e.g. `"bully"` or `"lock"`.
    pub name: String,
    /// The algorithm's name in the catalogue.
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// A service's servers, when the cluster also has client nodes: the instance's
    /// `ctx.peers()` are these (itself left out), so a server broadcasts to servers only and
    /// replies to the clients it hears from. Unset: every peer of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<Vec<NodeId>>,
    /// The initial configuration of an algorithm with membership changes, when spare servers
    /// are outside it (`spare_nodes` in the experiment). Unset: every server is a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<NodeId>>,
    /// Set on a client node: the instance runs the service's client with this workload (its
    /// `ctx.peers()` are the servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Workload>,
}

impl InstanceConfig {
    /// The program a `maelstrom` server instance runs as its child, when `params.command` is given
    /// (see `node/src/external.rs`); `None` for every other instance, which runs in-process.
    pub fn program(&self) -> Result<Option<algorithms::maelstrom::MaelstromParams>, String> {
        if self.algorithm != <algorithms::maelstrom::Maelstrom as algorithms::algorithm::Spec>::NAME
            || self.client.is_some()
        {
            return Ok(None);
        }
        let params: algorithms::maelstrom::MaelstromParams = algorithms::algorithm::parse_params(&self.params)?;
        Ok((!params.command.is_empty()).then_some(params))
    }

    /// The ids the process sees as `ctx.peers()`: the servers (without `me`) when set, else
    /// the node's peers.
    pub fn process_peers(&self, me: NodeId, node_peers: &[NodeId]) -> Vec<NodeId> {
        match &self.servers {
            Some(servers) => servers.iter().copied().filter(|s| *s != me).collect(),
            None => node_peers.to_vec(),
        }
    }

    /// Builds the instance's process: the algorithm's, or its client's on a client node.
    pub fn build(&self, me: NodeId, node_peers: &[NodeId]) -> Result<Box<dyn algorithms::DynProcess>, String> {
        let algorithm = algorithms::find(&self.algorithm).map_err(|e| format!("instances.algorithm: {e}"))?;
        let peers = self.process_peers(me, node_peers);
        if self.client.is_some() && self.servers.is_none() {
            return Err("servers: a client instance needs the service's servers (ids)".into());
        }
        if let Some(servers) = &self.servers {
            if let Some(stranger) = servers.iter().find(|s| **s != me && !node_peers.contains(s)) {
                return Err(format!("servers: {stranger} is not a peer of node {me}"));
            }
        }
        match (&self.client, &self.members) {
            (Some(workload), _) => algorithm.build_client(me, &peers, workload),
            (None, Some(members)) => algorithm.build_server(me, &peers, members, &self.params),
            (None, None) => algorithm.build(me, &peers, &self.params),
        }
    }
}

impl NodeConfig {
    /// Reads a node config file; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let settings = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .build()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let cfg: NodeConfig = settings.try_deserialize().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        cfg.validate().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.peers.iter().any(|p| p.id == self.id) {
            return Err(format!("peers: node {} lists itself", self.id));
        }
        if self.instances.is_empty() {
            return Err("instances: a node needs at least one instance".into());
        }
        let ids: Vec<NodeId> = self.peers.iter().map(|p| p.id).collect();
        for inst in &self.instances {
            inst.build(self.id, &ids).map_err(|e| format!("instance {:?}: {e}", inst.name))?;
        }
        Ok(())
    }

    /// Ids of the other nodes, ascending.
    pub fn peer_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.peers.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(servers: Option<Vec<NodeId>>, client: Option<Workload>) -> InstanceConfig {
        InstanceConfig {
            name: "kv".into(),
            algorithm: "kv-single".into(),
            params: Value::Null,
            servers,
            members: None,
            client,
        }
    }

    #[test]
    fn a_server_sees_the_servers_and_a_client_needs_them() {
        let server = instance(Some(vec![1, 2, 3]), None);
        assert_eq!(server.process_peers(2, &[1, 3, 4, 5]), vec![1, 3], "a server's peers are the other servers");
        assert!(server.build(2, &[1, 3, 4, 5]).is_ok());
        let client = instance(Some(vec![1, 2, 3]), Some(Workload::default()));
        assert_eq!(client.process_peers(4, &[1, 2, 3, 5]), vec![1, 2, 3]);
        assert!(client.build(4, &[1, 2, 3, 5]).is_ok());
        let err = instance(None, Some(Workload::default())).build(4, &[1, 2, 3]).err().unwrap();
        assert!(err.starts_with("servers: "), "{err}");
        let err = instance(Some(vec![1, 2, 9]), None).build(1, &[2, 3]).err().unwrap();
        assert_eq!(err, "servers: 9 is not a peer of node 1");
        let bully =
            InstanceConfig { algorithm: "bully".into(), ..instance(Some(vec![1, 2]), Some(Workload::default())) };
        assert!(bully.build(3, &[1, 2]).err().unwrap().starts_with("workload: bully has no clients"));
    }
}

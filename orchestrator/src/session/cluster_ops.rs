//! The real cluster's primitive operations, for the fault engine ([`algorithms::faults::apply`]):
//! signals to node processes, control requests, the network's backend, and the fault log.

use super::FaultLog;
use crate::cluster::Cluster;
use crate::network::Network;
use algorithms::faults::{Action, AppliedFault, ClusterOps, Cut, CutMode, LinkSpec, NetworkFaults};
use algorithms::{NodeId, Status};
use node::control::Request;
use std::time::{Duration, Instant};

/// How long a restarted node may take to open its control socket.
const RESTART_TIMEOUT: Duration = Duration::from_secs(5);

/// A session's cluster, network and fault log, lent to the fault engine for one action.
pub struct LiveCluster<'a> {
    pub cluster: &'a mut Cluster,
    pub network: &'a Network,
    pub log: &'a mut FaultLog,
}

/// An error as the user reads it, with its causes.
fn text(e: anyhow::Error) -> String {
    format!("{e:#}")
}

impl ClusterOps for LiveCluster<'_> {
    fn ids(&self) -> Vec<NodeId> {
        self.cluster.ids()
    }

    /// The views of the nodes that can answer (paused ones cannot).
    fn statuses(&mut self) -> Vec<(NodeId, Status)> {
        self.cluster.views()
    }

    fn is_running(&mut self, id: NodeId) -> bool {
        self.cluster.live().contains(&id)
    }

    fn is_paused(&mut self, id: NodeId) -> bool {
        self.cluster.paused().contains(&id)
    }

    fn can_apply(&self, action: &Action) -> Result<(), String> {
        self.network.mode().allows(action)
    }

    /// SIGKILL, and wait until the process is gone.
    fn kill(&mut self, id: NodeId) -> Result<(), String> {
        self.cluster.kill(id).map_err(text)
    }

    fn start(&mut self, id: NodeId) -> Result<(), String> {
        self.cluster.spawn(id, false).map_err(text)
    }

    /// Until the node answers on its control socket, and holds its lifeline again.
    fn await_started(&mut self, id: NodeId) -> Result<(), String> {
        self.cluster.attach(id, Instant::now() + RESTART_TIMEOUT).map_err(text)
    }

    fn pause(&mut self, id: NodeId) -> Result<(), String> {
        self.cluster.signal_pause(id, true).map_err(text)
    }

    fn resume(&mut self, id: NodeId) -> Result<(), String> {
        self.cluster.signal_pause(id, false).map_err(text)
    }

    /// The node's own clock (`node/src/clock.rs`) takes the new rate.
    fn set_drift(&mut self, id: NodeId, rate: f64) -> Result<(), String> {
        self.cluster.request(id, &Request::Drift { rate }).map(|_| ()).map_err(text)
    }

    fn set_cut(&mut self, cut: &Cut, mode: CutMode, in_force: &NetworkFaults) -> Result<(), String> {
        self.network.set_cut(&self.cluster.ids(), cut, mode, in_force).map_err(text)
    }

    fn set_link(&mut self, spec: &LinkSpec, in_force: &NetworkFaults) -> Result<(), String> {
        self.network.set_link(spec, in_force).map_err(text)
    }

    fn heal(&mut self) -> Result<(), String> {
        self.network.heal().map_err(text)
    }

    /// The node's instance sets arbitrary state, or refuses naming its algorithm.
    fn corrupt(&mut self, id: NodeId) -> Result<(), String> {
        let instance = self.cluster.instance_name().to_string();
        self.cluster.request(id, &Request::Corrupt { instance }).map(|_| ()).map_err(text)
    }

    /// Over the control socket, as `orchestrator cmd` does; the node traces it.
    fn command(&mut self, id: NodeId, args: &[String]) -> Result<Result<String, String>, String> {
        let instance = self.cluster.instance_name().to_string();
        let request = Request::Command { instance, args: args.to_vec() };
        self.cluster.ask(id, &request).map_err(text)
    }

    fn record(&mut self, fault: AppliedFault) {
        self.log.record(fault);
    }
}

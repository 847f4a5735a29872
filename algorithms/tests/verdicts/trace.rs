//! Hand-made runs: every record is stamped by its node's [`Clocks`], so Lamport and vector
//! clocks are what a real node would have written (a receive merges the sender's clocks).
//! Times are in milliseconds since the run started.

use algorithms::check::EventRef;
use algorithms::faults::{AppliedFault, CutMode, FaultRecord, LinkSpec};
use algorithms::trace::{Clocks, TraceRecord, What};
use algorithms::{Execution, Message, NodeId, MS};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Trace {
    nodes: Vec<NodeId>,
    clocks: BTreeMap<NodeId, Clocks>,
    records: Vec<TraceRecord>,
    faults: Vec<FaultRecord>,
    params: Value,
    servers: Option<usize>,
}

impl Trace {
    /// Nodes `1..=n`, every one started at 0 ms.
    pub fn new(n: u32) -> Trace {
        let nodes: Vec<NodeId> = (1..=n).collect();
        let mut t = Trace {
            clocks: nodes.iter().map(|id| (*id, Clocks::new(*id))).collect(),
            records: vec![],
            faults: vec![FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: nodes.clone() } }],
            nodes,
            params: json!({}),
            servers: None,
        };
        for id in t.nodes.clone() {
            t.add(0, id, What::Start { incarnation: 1 });
        }
        t
    }

    /// Only the first `n` nodes are the run's nodes (a service's servers); the others are its
    /// client nodes, present in the records only.
    pub fn servers(mut self, n: usize) -> Trace {
        self.servers = Some(n);
        self
    }

    /// The algorithm's `[params]` the checker reads.
    pub fn params(mut self, params: Value) -> Trace {
        self.params = params;
        self
    }

    pub fn add(&mut self, ms: u64, node: NodeId, what: What) -> TraceRecord {
        let r = self.clocks.get_mut(&node).expect("a node of the trace").stamp(ms * MS, "x", what);
        self.records.push(r.clone());
        r
    }

    pub fn event(&mut self, ms: u64, node: NodeId, name: &str, data: Value) -> EventRef {
        EventRef::of(&self.add(ms, node, What::Event { name: name.into(), data }))
    }

    /// Every node of `nodes` names `leader` at `ms`.
    pub fn follow(&mut self, ms: u64, nodes: &[NodeId], leader: NodeId) {
        for n in nodes {
            self.event(ms, *n, "leader", json!({ "leader": leader, "term": 1 }));
        }
    }

    /// A send that never arrives.
    pub fn send(&mut self, ms: u64, from: NodeId, to: NodeId, msg_type: &str, msg: Value) -> TraceRecord {
        self.add(ms, from, What::Send { to, msg_type: msg_type.into(), msg: msg.into() })
    }

    /// The receive of `send` by its addressee at `ms`.
    pub fn receive(&mut self, ms: u64, send: &TraceRecord) -> TraceRecord {
        let What::Send { to, msg_type, .. } = &send.what else { panic!("not a send: {send:?}") };
        let what = What::Recv { from: send.node, msg_type: msg_type.clone(), msg_lc: send.lc };
        let r = self.clocks.get_mut(to).unwrap().stamp_receive(ms * MS, "x", send.lc, &send.vc, what);
        self.records.push(r.clone());
        r
    }

    /// A message of type `msg_type`, sent at `ms` and received 1 ms later.
    pub fn raw(&mut self, ms: u64, from: NodeId, to: NodeId, msg_type: &str, msg: Value) -> (EventRef, EventRef) {
        let send = self.send(ms, from, to, msg_type, msg);
        let recv = self.receive(ms + 1, &send);
        (EventRef::of(&send), EventRef::of(&recv))
    }

    /// An algorithm's own message, as its node traces it, sent at `ms` and received 1 ms later.
    pub fn message<M: Message>(&mut self, ms: u64, from: NodeId, to: NodeId, msg: &M) -> (EventRef, EventRef) {
        self.raw(ms, from, to, msg.kind(), serde_json::to_value(msg).unwrap())
    }

    pub fn fault(&mut self, ms: u64, fault: AppliedFault) {
        self.faults.push(FaultRecord { t: ms * MS, fault });
    }

    pub fn kill(&mut self, ms: u64, node: NodeId) {
        self.fault(ms, AppliedFault::Kill { node, was_leader: true });
    }

    /// Every link between two different nodes cut, both ways.
    pub fn isolate_everyone(&mut self, ms: u64) {
        let nodes = self.nodes.clone();
        let cut = nodes.iter().flat_map(|a| nodes.iter().filter(move |b| *b != a).map(move |b| (*a, *b))).collect();
        self.fault(ms, AppliedFault::Partition { spec: "isolate:all".into(), mode: CutMode::Blackhole, cut });
    }

    /// One direction of one link cut: `from` can no longer send to `to`.
    pub fn cut_link(&mut self, ms: u64, from: NodeId, to: NodeId) {
        let spec = LinkSpec { from, to, cut: true, ..Default::default() };
        self.fault(ms, AppliedFault::Link(spec));
    }

    /// The run, ended at `end_ms`.
    pub fn end(mut self, end_ms: u64) -> Execution {
        self.fault(end_ms, AppliedFault::RunEnd);
        self.faults.sort_by_key(|f| f.t);
        let nodes = self.nodes[..self.servers.unwrap_or(self.nodes.len())].to_vec();
        Execution::new("hand-made", nodes, self.params, self.records, self.faults)
    }
}

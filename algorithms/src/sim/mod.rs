//! A deterministic simulator: virtual time, one seed, and the same trace format as real nodes.
//!
//! Everything random (message delays, loss, start skew, each process's RNG) is drawn from RNGs
//! derived from the seed, and events at equal times are ordered by when they were scheduled, so
//! a seed always gives the same trace, byte for byte. Links are FIFO by default, like TCP.

use crate::algorithm::Algorithm;
use crate::check::Execution;
use crate::core::process::{node_rng, DynProcess, Effect, Nanos, NodeId, Status, Stored, World, MS};
use crate::core::trace::{Clocks, TraceRecord, VectorClock, What};
use crate::faults::{self, Action, Applied, ClusterOps, Cut, CutMode, Delay, FaultSpec, LinkSpec};
use crate::faults::{unsupported_corrupt, AppliedFault, FaultRecord, FaultState, NetworkFaults};
use crate::service::client::Workload;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

/// The simulated network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkModel {
    pub delay: Delay,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Deliver in send order on each directed link, as TCP does.
    pub fifo: bool,
    /// Processes start at random moments within this many milliseconds.
    pub start_skew_ms: f64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        NetworkModel { delay: Delay::default(), loss: 0.0, fifo: true, start_skew_ms: 10.0 }
    }
}

/// One simulated experiment.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// Servers in the initial configuration, ids `1..=nodes`.
    pub nodes: usize,
    /// Spare servers, ids after those, outside the initial configuration until added (only for
    /// an algorithm with membership changes, see [`crate::algorithm::Spec::MEMBERSHIP`]).
    pub spare_nodes: usize,
    pub seed: u64,
    pub duration: Duration,
    pub instance: String,
    pub params: Value,
    pub network: NetworkModel,
    pub faults: Vec<FaultSpec>,
    /// A service's clients: `workload.clients` client nodes, ids after the servers, each running
    /// the algorithm's client. Faults can target them like any node.
    pub workload: Option<Workload>,
}

impl SimConfig {
    /// Every server, the spares included.
    pub fn servers(&self) -> usize {
        self.nodes + self.spare_nodes
    }

    /// Every node's id, servers (spares included) then clients.
    pub fn ids(&self) -> Vec<NodeId> {
        let clients = self.workload.as_ref().map_or(0, |w| w.clients);
        (1..=(self.servers() + clients) as NodeId).collect()
    }

    /// The nodes `id` talks to: the other servers for a server (so its broadcasts reach servers
    /// only; it can still reply to a client), every server for a client.
    pub fn peers(&self, id: NodeId) -> Vec<NodeId> {
        (1..=self.servers() as NodeId).filter(|p| *p != id).collect()
    }

    /// Builds node `id`'s process: a server (in the initial configuration or a spare), or a
    /// client of the service.
    pub fn build(&self, algorithm: &dyn Algorithm, id: NodeId) -> Result<Box<dyn DynProcess>, String> {
        let peers = self.peers(id);
        match &self.workload {
            Some(workload) if id as usize > self.servers() => algorithm.build_client(id, &peers, workload),
            _ => {
                let members: Vec<NodeId> = (1..=self.nodes as NodeId).collect();
                algorithm.build_server(id, &peers, &members, &self.params)
            }
        }
    }
}

/// What a simulation produced: the same artefacts a real run leaves behind. The records are
/// `run.records` (one copy: a long run holds millions).
pub struct SimOutcome {
    pub faults: Vec<FaultRecord>,
    pub run: Execution,
}

impl SimOutcome {
    /// All records as JSON lines, in the order they happened.
    pub fn trace_jsonl(&self) -> String {
        self.run.records.iter().map(TraceRecord::to_json_line).collect()
    }
}

enum Event {
    Start(NodeId),
    Deliver {
        from: NodeId,
        to: NodeId,
        lc: u64,
        vc: VectorClock,
        kind: &'static str,
        /// Shared with the send's record and a duplicate's copy.
        body: Arc<[u8]>,
    },
    Timer {
        node: NodeId,
        name: String,
        generation: u64,
    },
    /// A fault to apply now; `undo_after` schedules its undo (a `for` duration).
    Fault {
        action: Action,
        undo_after: Option<Duration>,
    },
}

/// The event queue: the heap holds only `(time, sequence, slot)` (the order: time, then the order
/// scheduled) and the events wait in slots, reused, so a heap operation moves 24 bytes, not an
/// event with its clock and body.
#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(Nanos, u64, u32)>>,
    slots: Vec<Option<Event>>,
    free: Vec<u32>,
}

impl Queue {
    fn push(&mut self, at: Nanos, seq: u64, event: Event) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, seq, slot)));
    }

    /// The earliest event and its time, if it is due by `end`.
    fn pop_until(&mut self, end: Nanos) -> Option<(Nanos, Event)> {
        let &Reverse((at, _, slot)) = self.heap.peek()?;
        if at > end {
            return None;
        }
        self.heap.pop();
        self.free.push(slot);
        Some((at, self.slots[slot as usize].take().expect("a queued slot holds its event")))
    }
}

struct SimNode {
    process: Option<Box<dyn DynProcess>>,
    /// [`SimConfig::peers`], computed once: every handler is handed it.
    peers: Vec<NodeId>,
    incarnation: u64,
    /// Live timers: name → generation; a fire with another generation is stale.
    timers: BTreeMap<String, u64>,
    /// What the process persisted: its last whole state and the records appended after it.
    persisted: Stored,
    clocks: Clocks,
    rng: ChaCha8Rng,
    /// Events held while the process is paused (SIGSTOP), replayed in order on resume.
    held: Option<Vec<Event>>,
    /// The node's own clock: `local = base_local + (true − base_true) × rate`.
    drift: LocalClock,
}

#[derive(Clone, Copy)]
struct LocalClock {
    base_true: Nanos,
    base_local: Nanos,
    rate: f64,
}

impl LocalClock {
    fn at(&self, now: Nanos) -> Nanos {
        self.base_local + ((now - self.base_true) as f64 * self.rate) as Nanos
    }

    /// The true time from `now` until this clock has advanced by at least `after` (a fast clock
    /// fires early in true time). Rounded up, and checked against [`LocalClock::at`]'s own
    /// rounding: a timer that fired a nanosecond before its local deadline would find its
    /// condition still false, re-arm for one local nanosecond, which a fast clock maps to zero
    /// true nanoseconds, and spin at one instant for ever.
    fn true_delay(&self, now: Nanos, after: Nanos) -> Nanos {
        let deadline = self.at(now) + after;
        let mut true_after = (after as f64 / self.rate).ceil() as Nanos;
        while self.at(now + true_after) < deadline {
            true_after += 1;
        }
        true_after
    }
}

struct Simulation<'a> {
    algorithm: &'a dyn Algorithm,
    cfg: &'a SimConfig,
    ids: Vec<NodeId>,
    now: Nanos,
    seq: u64,
    generation: u64,
    queue: Queue,
    nodes: BTreeMap<NodeId, SimNode>,
    net_rng: ChaCha8Rng,
    link_free_at: BTreeMap<(NodeId, NodeId), Nanos>,
    /// Directed links a partition cuts.
    cut: Cut,
    /// Per-message faults on directed links.
    links: BTreeMap<(NodeId, NodeId), LinkSpec>,
    /// The fault engine's memory (random targets, the node killed last, what is in force); out
    /// only while the engine applies a fault to this simulation.
    fault_state: Option<FaultState>,
    records: Vec<TraceRecord>,
    faults: Vec<FaultRecord>,
    /// What stopped the simulation: persisted state that did not decode.
    error: Option<String>,
}

/// Runs one experiment in virtual time. Parameters are checked by building every process first;
/// a restarted process whose persisted state does not decode as its `Durable` type stops the
/// simulation with an error, as it stops a real node.
pub fn simulate(algorithm: &dyn Algorithm, cfg: &SimConfig) -> Result<SimOutcome, String> {
    let ids = cfg.ids();
    let mut nodes = BTreeMap::new();
    for &id in &ids {
        cfg.build(algorithm, id)?;
        nodes.insert(
            id,
            SimNode {
                process: None,
                peers: cfg.peers(id),
                incarnation: 0,
                timers: BTreeMap::new(),
                persisted: Stored::default(),
                clocks: Clocks::new(id),
                rng: node_rng(cfg.seed, id, 0),
                // Like a real node held until `start`, a node not started yet keeps what arrives.
                held: Some(Vec::new()),
                drift: LocalClock { base_true: 0, base_local: 0, rate: 1.0 },
            },
        );
    }
    cfg.network.delay.validate()?;
    for f in &cfg.faults {
        f.validate(ids.len())?;
    }
    crate::algorithm::check_corruptible(algorithm, &cfg.params, cfg.nodes, &cfg.faults)?;
    let mut sim = Simulation {
        algorithm,
        cfg,
        ids: ids.clone(),
        now: 0,
        seq: 0,
        generation: 0,
        queue: Queue::default(),
        nodes,
        net_rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        link_free_at: BTreeMap::new(),
        cut: Cut::new(),
        links: BTreeMap::new(),
        fault_state: Some(FaultState::new(cfg.seed)),
        records: Vec::new(),
        faults: Vec::new(),
        error: None,
    };
    sim.faults.push(FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: ids.clone() } });
    for &id in &ids {
        let skew = (sim.net_rng.random::<f64>() * cfg.network.start_skew_ms * MS as f64) as Nanos;
        sim.schedule(skew, Event::Start(id));
    }
    for f in &cfg.faults {
        sim.schedule(f.at.as_nanos() as Nanos, Event::Fault { action: f.action.clone(), undo_after: f.lasting });
    }
    let end = cfg.duration.as_nanos() as Nanos;
    while let Some((at, event)) = sim.queue.pop_until(end) {
        sim.now = at;
        sim.handle(event);
        if let Some(error) = sim.error.take() {
            return Err(error);
        }
    }
    sim.faults.push(FaultRecord { t: end, fault: AppliedFault::RunEnd });
    // The run's nodes are the servers; clients are in the records (see `check::service`).
    let servers = ids[..cfg.servers()].to_vec();
    let run = Execution::new(algorithm.name(), servers, cfg.params.clone(), sim.records, sim.faults.clone());
    Ok(SimOutcome { faults: sim.faults, run })
}

impl Simulation<'_> {
    fn schedule(&mut self, at: Nanos, event: Event) {
        self.seq += 1;
        self.queue.push(at, self.seq, event);
    }

    fn record(&mut self, node: NodeId, what: What) -> u64 {
        let n = self.nodes.get_mut(&node).expect("known node");
        let r = n.clocks.stamp(self.now, &self.cfg.instance, what);
        let lc = r.lc;
        self.records.push(r);
        lc
    }

    fn handle(&mut self, event: Event) {
        let target = match &event {
            Event::Deliver { to, .. } => Some(*to),
            Event::Timer { node, .. } => Some(*node),
            _ => None,
        };
        if let Some(held) = target.and_then(|id| self.nodes.get_mut(&id)).and_then(|n| n.held.as_mut()) {
            held.push(event);
            return;
        }
        match event {
            Event::Start(id) => self.launch(id),
            Event::Deliver { from, to, lc, vc, kind, body } => {
                if !self.linked(from, to) || self.nodes[&to].process.is_none() {
                    return;
                }
                let n = self.nodes.get_mut(&to).expect("known node");
                let what = What::Recv { from, msg_type: kind.to_string(), msg_lc: lc };
                let r = n.clocks.stamp_receive(self.now, &self.cfg.instance, lc, &vc, what);
                self.records.push(r);
                let result = self.drive(to, |p, world| match p.on_body(world, from, &body) {
                    Ok(effects) => (Ok(()), effects),
                    Err(bad) => (Err(bad.to_string()), Vec::new()),
                });
                if let Some(Err(reason)) = result {
                    self.record(to, What::Malformed { from: Some(from), reason });
                }
            }
            Event::Timer { node, name, generation } => {
                let n = &self.nodes[&node];
                if n.process.is_none() || n.timers.get(&name) != Some(&generation) {
                    return; // stale: cancelled, replaced, or from an earlier incarnation
                }
                self.nodes.get_mut(&node).unwrap().timers.remove(&name);
                self.record(node, What::Timer { name: name.clone() });
                self.drive(node, |p, world| ((), p.on_timer(world, &name)));
            }
            Event::Fault { action, undo_after } => {
                // A fault that cannot apply now (killing a node that is down, resuming one that
                // is not paused) is skipped, as a real run skips it with a warning.
                if let Ok(applied) = self.apply_fault(&action) {
                    if let (Some(after), Some(undo)) = (undo_after, applied.undo()) {
                        self.schedule(
                            self.now + after.as_nanos() as Nanos,
                            Event::Fault { action: undo, undo_after: None },
                        );
                    }
                }
            }
        }
    }

    fn launch(&mut self, id: NodeId) {
        let mut process = self.cfg.build(self.algorithm, id).expect("parameters were checked");
        let seed = self.cfg.seed;
        let n = self.nodes.get_mut(&id).expect("known node");
        if let Err(e) = n.persisted.recover_into(process.as_mut()) {
            // A real node stops here too (exit 3): going on would start from default state.
            self.error = Some(format!("node {id} cannot restart at {} ms: {e}", self.now / MS));
            return;
        }
        n.incarnation += 1;
        n.rng = node_rng(seed, id, n.incarnation);
        n.timers.clear();
        n.process = Some(process);
        let early = n.held.take().unwrap_or_default();
        let incarnation = n.incarnation;
        self.record(id, What::Start { incarnation });
        self.drive(id, |p, world| ((), p.on_start(world)));
        for event in early {
            self.schedule(self.now, event);
        }
    }

    /// The `corrupt` fault: the process sets arbitrary state, or refuses naming the algorithm.
    fn corrupt_node(&mut self, id: NodeId) -> Result<(), String> {
        match self.drive(id, |p, world| p.on_corrupt(world)) {
            Some(true) => Ok(()),
            Some(false) => Err(unsupported_corrupt(self.algorithm.name())),
            None => Err(format!("node {id} is not running")),
        }
    }

    /// Runs one handler of `id`'s process and carries out its effects in order.
    fn drive<R>(
        &mut self,
        id: NodeId,
        handler: impl FnOnce(&mut dyn DynProcess, World) -> (R, Vec<Effect>),
    ) -> Option<R> {
        let n = self.nodes.get_mut(&id)?;
        let now = n.drift.at(self.now);
        let mut process = n.process.take()?;
        let world = World { me: id, peers: &n.peers, now, rng: &mut n.rng };
        let (result, effects) = handler(process.as_mut(), world);
        n.process = Some(process);
        for effect in effects {
            self.carry_out(id, effect);
        }
        Some(result)
    }

    fn carry_out(&mut self, id: NodeId, effect: Effect) {
        match effect {
            Effect::Send(out) => {
                let what = What::Send { to: out.to, msg_type: out.kind.to_string(), msg: out.shown };
                let lc = self.record(id, what);
                let vc = self.records.last().expect("just recorded").vc.clone();
                let link = self.links.get(&(id, out.to)).cloned().unwrap_or_default();
                let chance = |rng: &mut ChaCha8Rng, p: f64| p > 0.0 && rng.random::<f64>() < p;
                let lost = chance(&mut self.net_rng, self.cfg.network.loss) || chance(&mut self.net_rng, link.loss);
                if lost || link.cut || !self.linked(id, out.to) {
                    return;
                }
                let copies = if chance(&mut self.net_rng, link.duplicate) { 2 } else { 1 };
                let (mut vc, mut body) = (Some(vc), Some(out.body));
                for copy in 1..=copies {
                    // The last copy takes the clock and the body, earlier ones a clone.
                    let last = copy == copies;
                    let mut at = self.now + self.cfg.network.delay.sample(&mut self.net_rng);
                    at += link.delay.as_ref().map_or(0, |d| d.sample(&mut self.net_rng));
                    // A reordered message skips the FIFO queue and overtakes or trails the others.
                    let reordered = chance(&mut self.net_rng, link.reorder);
                    if self.cfg.network.fifo && !reordered {
                        let free = self.link_free_at.entry((id, out.to)).or_insert(0);
                        at = at.max(*free);
                        *free = at;
                    }
                    let deliver = Event::Deliver {
                        from: id,
                        to: out.to,
                        lc,
                        vc: take_or_clone(&mut vc, last),
                        kind: out.kind,
                        body: take_or_clone(&mut body, last),
                    };
                    self.schedule(at, deliver);
                }
            }
            Effect::SetTimer { name, after } => {
                self.generation += 1;
                let generation = self.generation;
                let n = self.nodes.get_mut(&id).unwrap();
                n.timers.insert(name.clone(), generation);
                let true_after = n.drift.true_delay(self.now, after);
                self.schedule(self.now + true_after, Event::Timer { node: id, name, generation });
            }
            Effect::CancelTimer { name } => {
                self.nodes.get_mut(&id).unwrap().timers.remove(&name);
            }
            persist @ (Effect::Persist(_) | Effect::PersistAppend(_)) => {
                self.nodes.get_mut(&id).unwrap().persisted.store(persist);
            }
            Effect::Event { name, data } => {
                self.record(id, What::Event { name, data });
            }
        }
    }

    fn linked(&self, from: NodeId, to: NodeId) -> bool {
        !self.cut.contains(&(from, to))
    }

    fn running(&self, id: NodeId) -> bool {
        self.nodes.get(&id).is_some_and(|n| n.process.is_some())
    }

    /// Applies one fault through the fault engine, the same code a real run uses.
    fn apply_fault(&mut self, action: &Action) -> Result<Applied, String> {
        let mut state = self.fault_state.take().expect("one fault at a time");
        let applied = faults::apply(self, action, &mut state);
        self.fault_state = Some(state);
        applied
    }
}

/// The value for the last user (moved out), a clone for the others.
fn take_or_clone<T: Clone>(slot: &mut Option<T>, last: bool) -> T {
    if last { slot.take() } else { slot.clone() }.expect("taken only by the last")
}

/// The simulated cluster's primitive operations, for the fault engine.
impl ClusterOps for Simulation<'_> {
    fn ids(&self) -> Vec<NodeId> {
        self.ids.clone()
    }

    /// Every node with a process answers, a paused one too (from the state it froze in).
    fn statuses(&mut self) -> Vec<(NodeId, Status)> {
        self.nodes.iter().filter_map(|(id, n)| n.process.as_ref().map(|p| (*id, p.status()))).collect()
    }

    fn is_running(&mut self, id: NodeId) -> bool {
        self.running(id)
    }

    fn is_paused(&mut self, id: NodeId) -> bool {
        self.running(id) && self.nodes[&id].held.is_some()
    }

    fn kill(&mut self, id: NodeId) -> Result<(), String> {
        let n = self.nodes.get_mut(&id).expect("known node");
        n.process = None;
        n.timers.clear();
        n.held = None;
        Ok(())
    }

    fn start(&mut self, id: NodeId) -> Result<(), String> {
        self.launch(id);
        Ok(())
    }

    /// Events for a paused node are held, and replayed in order on resume.
    fn pause(&mut self, id: NodeId) -> Result<(), String> {
        self.nodes.get_mut(&id).expect("known node").held = Some(Vec::new());
        Ok(())
    }

    fn resume(&mut self, id: NodeId) -> Result<(), String> {
        let held = self.nodes.get_mut(&id).expect("known node").held.take().unwrap_or_default();
        for event in held {
            self.schedule(self.now, event);
        }
        Ok(())
    }

    /// The clock goes on from where it is, at the new rate. It belongs to the node, not to its
    /// process: a restarted node keeps it.
    fn set_drift(&mut self, id: NodeId, rate: f64) -> Result<(), String> {
        let now = self.now;
        let n = self.nodes.get_mut(&id).expect("known node");
        if n.drift.rate != rate {
            n.drift = LocalClock { base_true: now, base_local: n.drift.at(now), rate };
        }
        Ok(())
    }

    fn set_cut(&mut self, cut: &Cut, _mode: CutMode, _in_force: &NetworkFaults) -> Result<(), String> {
        self.cut = cut.clone();
        Ok(())
    }

    fn set_link(&mut self, spec: &LinkSpec, _in_force: &NetworkFaults) -> Result<(), String> {
        if spec.is_clear() {
            self.links.remove(&(spec.from, spec.to));
        } else {
            self.links.insert((spec.from, spec.to), spec.clone());
        }
        Ok(())
    }

    fn heal(&mut self) -> Result<(), String> {
        self.cut.clear();
        self.links.clear();
        Ok(())
    }

    fn corrupt(&mut self, id: NodeId) -> Result<(), String> {
        self.corrupt_node(id)
    }

    /// Traced as a real node traces it: the command and the answer, before the effects.
    fn command(&mut self, id: NodeId, args: &[String]) -> Result<Result<String, String>, String> {
        let n = self.nodes.get_mut(&id).expect("known node");
        let now = n.drift.at(self.now);
        let mut process = n.process.take().ok_or_else(|| format!("node {id} is not running"))?;
        let world = World { me: id, peers: &n.peers, now, rng: &mut n.rng };
        let (result, effects) = process.on_command(world, args);
        n.process = Some(process);
        let (ok, reply) = match &result {
            Ok(reply) => (true, reply.clone()),
            Err(error) => (false, error.clone()),
        };
        self.record(id, What::Command { args: args.to_vec(), ok, reply });
        for effect in effects {
            self.carry_out(id, effect);
        }
        Ok(result)
    }

    fn record(&mut self, fault: AppliedFault) {
        self.faults.push(FaultRecord { t: self.now, fault });
    }
}

#[cfg(test)]
mod tests {
    use super::LocalClock;

    #[test]
    fn a_timer_on_a_drifting_clock_fires_no_earlier_than_its_local_deadline() {
        for rate in [0.5, 0.9, 0.999, 1.0, 1.001, 1.3, 2.0, 3.7] {
            let clock = LocalClock { base_true: 17, base_local: 1_000_003, rate };
            for now in [17, 18, 1_000, 123_456_789] {
                for after in [1, 2, 3, 999, 1_000_000] {
                    let true_after = clock.true_delay(now, after);
                    assert!(clock.at(now + true_after) >= clock.at(now) + after, "rate {rate} now {now} after {after}");
                    assert!(true_after >= 1, "a nanosecond's timer at rate {rate} must let true time pass");
                    assert!(true_after <= (after as f64 / rate).ceil() as u64 + 1, "about after / rate");
                }
            }
        }
    }
}

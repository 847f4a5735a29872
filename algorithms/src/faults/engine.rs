//! The fault engine: the one piece of code that turns an [`Action`] into operations on a cluster.
//!
//! A host (the real orchestrator, the simulator) offers a handful of primitive operations, the
//! [`ClusterOps`] trait: kill a process, start it, stop and continue it, set its clock's rate, put a
//! partition or a link fault in force on its network, record what was done. [`apply`] decides
//! everything else, once for both hosts:
//!
//! - which node a target means: `leader` as the live nodes see it ([`agreed_leader`], asked once
//!   per action), `last_killed`, or `random`, drawn from one seeded RNG among the nodes the action
//!   can hit (a running node to kill, pause or drift, a stopped one to restart, a paused one to
//!   resume, a running unpaused one to corrupt);
//! - whether the action makes sense now (killing a node that is not running, resuming one that
//!   is not paused, restarting one that runs are errors, with the same words in both hosts);
//! - what is in force afterwards ([`FaultState`]): a partition replaces the previous one and keeps
//!   link faults, `heal` removes both, a cleared link is no longer listed, a drifting clock
//!   survives a restart;
//! - what is recorded ([`AppliedFault`], in `orchestrator.jsonl`), and the action with its targets
//!   resolved, whose [`Action::undo`] the host schedules for a `for` duration (so "kill the leader
//!   for 2s" restarts the node it killed).
//!
//! So a schedule means the same thing in `orchestrator run`, `up` and `sim` by construction, and
//! a new kind of fault is written here once, plus one primitive per host if it needs a new one.

use super::{agreed_leader, Action, AppliedFault, Cut, CutMode, LinkSpec, PartitionSpec, Target};
use crate::core::process::{NodeId, Status};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Mixed into the run's seed for the fault RNG (random targets, random partition shapes), so it
/// draws independently of the network's and the processes' RNGs.
pub const FAULT_SEED: u64 = 0xfa17;

/// The primitive operations a host carries out on its cluster. [`apply`] has checked the action
/// and resolved its targets before it calls any of them; an `Err` is passed on to the caller as
/// the reason the fault could not be applied.
pub trait ClusterOps {
    /// Every node of the cluster, running or not, in id order.
    fn ids(&self) -> Vec<NodeId>;
    /// What the nodes that can be asked say of themselves (role, leader), to find the leader.
    fn statuses(&mut self) -> Vec<(NodeId, Status)>;
    /// The node's process is running (paused or not).
    fn is_running(&mut self, id: NodeId) -> bool;
    /// The node's process is running and paused.
    fn is_paused(&mut self, id: NodeId) -> bool;
    /// Whether this cluster can carry out `action` at all (a network without a proxy cannot
    /// delay messages); the error says what could. Default: everything.
    fn can_apply(&self, _action: &Action) -> Result<(), String> {
        Ok(())
    }
    /// Crashes a running node: its process, its timers and its unread input are gone.
    fn kill(&mut self, id: NodeId) -> Result<(), String>;
    /// Starts a node that is not running again, with the same id and data directory.
    fn start(&mut self, id: NodeId) -> Result<(), String>;
    /// Waits until a node just started takes requests. Default: at once.
    fn await_started(&mut self, _id: NodeId) -> Result<(), String> {
        Ok(())
    }
    /// Freezes a running node (SIGSTOP): it neither handles input nor fires timers.
    fn pause(&mut self, id: NodeId) -> Result<(), String>;
    /// Lets a paused node go on (SIGCONT).
    fn resume(&mut self, id: NodeId) -> Result<(), String>;
    /// The node's clock runs at `rate` times true time from now on. Setting the rate a clock
    /// already runs at changes nothing.
    fn set_drift(&mut self, id: NodeId, rate: f64) -> Result<(), String>;
    /// Puts a partition in force: exactly the directed links in `cut` are cut, in `mode`,
    /// replacing any earlier partition; link faults stay. `in_force` is what was in force before.
    fn set_cut(&mut self, cut: &Cut, mode: CutMode, in_force: &NetworkFaults) -> Result<(), String>;
    /// Replaces the faults of one directed link (a clear spec makes it healthy again); the
    /// partition stays. `in_force` is what was in force before.
    fn set_link(&mut self, spec: &LinkSpec, in_force: &NetworkFaults) -> Result<(), String>;
    /// Removes every partition and link fault.
    fn heal(&mut self) -> Result<(), String>;
    /// Has the running node's algorithm set its state to arbitrary values; an algorithm that
    /// does not support it is an error naming the algorithm.
    fn corrupt(&mut self, id: NodeId) -> Result<(), String>;
    /// Gives the running node's algorithm instance a command: `Ok(Ok(answer))`, or
    /// `Ok(Err(answer))` when the algorithm refuses it; `Err` when it could not be given at all.
    fn command(&mut self, id: NodeId, args: &[String]) -> Result<Result<String, String>, String>;
    /// Writes down a fault as applied, at the host's current time.
    fn record(&mut self, fault: AppliedFault);
}

/// A partition in force: what was asked, how links are cut, and which.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    pub spec: String,
    pub mode: CutMode,
    pub cut: Cut,
}

/// The network faults in force.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkFaults {
    pub partition: Option<Partition>,
    /// Per-message faults by directed link; healthy links are not listed.
    pub links: BTreeMap<(NodeId, NodeId), LinkSpec>,
}

impl NetworkFaults {
    /// No partition and no link fault.
    pub fn is_clear(&self) -> bool {
        self.partition.is_none() && self.links.is_empty()
    }
}

/// What the engine remembers between actions: the fault RNG, the node killed last, and the faults
/// in force. One per run, made from the run's seed.
#[derive(Clone, Debug)]
pub struct FaultState {
    rng: ChaCha8Rng,
    last_killed: Option<NodeId>,
    network: NetworkFaults,
    /// Clocks that do not run at true time, by node.
    drift: BTreeMap<NodeId, f64>,
}

impl FaultState {
    pub fn new(seed: u64) -> FaultState {
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(seed ^ FAULT_SEED),
            last_killed: None,
            network: NetworkFaults::default(),
            drift: BTreeMap::new(),
        }
    }

    pub fn last_killed(&self) -> Option<NodeId> {
        self.last_killed
    }

    /// The partition and link faults in force.
    pub fn network(&self) -> &NetworkFaults {
        &self.network
    }

    /// The rate of every clock that does not run at true time.
    pub fn drift(&self) -> &BTreeMap<NodeId, f64> {
        &self.drift
    }
}

/// A fault as applied: the action with its targets resolved to ids, and what was recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub action: Action,
    pub fault: AppliedFault,
}

impl Applied {
    /// The action that undoes this one, aimed at the same nodes.
    pub fn undo(&self) -> Option<Action> {
        self.action.undo()
    }

    /// What was done, as a person reads it.
    pub fn describe(&self) -> String {
        self.fault.describe()
    }
}

/// Applies one action to the cluster: checks it, resolves its targets, carries it out through
/// `ops`, records it, and returns it as applied. An error means nothing was done (a restart whose
/// node did not come up in time is the exception: it was recorded when the process launched).
pub fn apply(ops: &mut impl ClusterOps, action: &Action, state: &mut FaultState) -> Result<Applied, String> {
    let ids = ops.ids();
    action.validate(ids.len())?;
    ops.can_apply(action)?;
    // The leader, asked once: a kill records whether it hit the leader.
    let leader = if matches!(action, Action::Kill { .. }) || aims_at_leader(action) {
        agreed_leader(&ops.statuses())
    } else {
        None
    };
    let (fault, resolved) = match action {
        Action::Kill { node } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Running)?;
            if !ops.is_running(id) {
                return Err(format!("node {id} is not running"));
            }
            ops.kill(id)?;
            state.last_killed = Some(id);
            (AppliedFault::Kill { node: id, was_leader: leader == Some(id) }, Action::Kill { node: Target::Id(id) })
        }
        Action::Restart { node } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Stopped)?;
            if ops.is_running(id) {
                return Err(format!("node {id} is running; kill it first"));
            }
            ops.start(id)?;
            // Recorded once the process is launched, before it answers: the restart comes before
            // anything the new incarnation traces.
            let fault = AppliedFault::Restart { node: id };
            ops.record(fault.clone());
            ops.await_started(id)?;
            // A clock's drift belongs to the node's machine: the new incarnation keeps it.
            if let Some(rate) = state.drift.get(&id) {
                let _ = ops.set_drift(id, *rate);
            }
            return Ok(Applied { action: Action::Restart { node: Target::Id(id) }, fault });
        }
        Action::Pause { node } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Unpaused)?;
            if ops.is_paused(id) {
                return Err(format!("node {id} is already paused"));
            }
            if !ops.is_running(id) {
                return Err(format!("node {id} is not running"));
            }
            ops.pause(id)?;
            (AppliedFault::Pause { node: id }, Action::Pause { node: Target::Id(id) })
        }
        Action::Resume { node } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Paused)?;
            if !ops.is_paused(id) {
                return Err(format!("node {id} is not paused"));
            }
            ops.resume(id)?;
            (AppliedFault::Resume { node: id }, Action::Resume { node: Target::Id(id) })
        }
        Action::Drift { node, rate } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Running)?;
            ops.set_drift(id, *rate)?;
            if *rate == 1.0 {
                state.drift.remove(&id);
            } else {
                state.drift.insert(id, *rate);
            }
            (AppliedFault::Drift { node: id, rate: *rate }, Action::Drift { node: Target::Id(id), rate: *rate })
        }
        Action::Partition { groups, mode } => {
            let cut = groups.cut(&ids, leader, &mut state.rng)?;
            ops.set_cut(&cut, *mode, &state.network)?;
            let spec = groups.to_string();
            let fault = AppliedFault::Partition { spec: spec.clone(), mode: *mode, cut: cut.iter().copied().collect() };
            state.network.partition = Some(Partition { spec, mode: *mode, cut });
            (fault, action.clone())
        }
        Action::Heal => {
            ops.heal()?;
            state.network = NetworkFaults::default();
            (AppliedFault::Heal, Action::Heal)
        }
        Action::Corrupt { node } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Unpaused)?;
            if !ops.is_running(id) {
                return Err(format!("node {id} is not running"));
            }
            if ops.is_paused(id) {
                return Err(format!("node {id} is paused; resume it first"));
            }
            ops.corrupt(id)?;
            (AppliedFault::Corrupt { node: id }, Action::Corrupt { node: Target::Id(id) })
        }
        Action::Command { node, args } => {
            let id = resolve(ops, state, &ids, *node, leader, Pool::Unpaused)?;
            if !ops.is_running(id) || ops.is_paused(id) {
                return Err(format!("node {id} is not running (or paused)"));
            }
            // `{node}` in an argument is the node the command goes to, e.g. `["remove-server",
            // "{node}"]` at the leader, whoever it is then.
            let args: Vec<String> = args.iter().map(|a| a.replace("{node}", &id.to_string())).collect();
            let args = &args;
            let answer = ops.command(id, args)?;
            let (ok, reply) = match &answer {
                Ok(reply) => (true, reply.clone()),
                Err(reply) => (false, reply.clone()),
            };
            let fault = AppliedFault::Command { node: id, args: args.clone(), ok, reply: reply.clone() };
            ops.record(fault.clone());
            let applied = Applied { action: Action::Command { node: Target::Id(id), args: args.clone() }, fault };
            // Refused: recorded as given, and an error for the host to report as a problem.
            return answer.map(|_| applied).map_err(|e| format!("node {id} refused {:?}: {e}", args.join(" ")));
        }
        Action::Link(spec) => {
            ops.set_link(spec, &state.network)?;
            if spec.is_clear() {
                state.network.links.remove(&(spec.from, spec.to));
            } else {
                state.network.links.insert((spec.from, spec.to), spec.clone());
            }
            (AppliedFault::Link(spec.clone()), action.clone())
        }
    };
    ops.record(fault.clone());
    Ok(Applied { action: resolved, fault })
}

/// Undoes every fault in force (a corruption is not undone: the algorithm must recover by itself), for a recovery phase or before judging: first `pending` (the undos
/// the host had scheduled, in order), then it resumes every paused node, heals the network and
/// puts every drifting clock back to true time. Returns what was done, and every scheduled undo
/// that could not be done with the reason: a problem of the run for the host to report.
pub fn recover(ops: &mut impl ClusterOps, state: &mut FaultState, pending: Vec<Action>) -> Recovered {
    let mut recovered = Recovered::default();
    for action in pending {
        match apply(ops, &action, state) {
            Ok(done) => recovered.done.push(done),
            Err(e) => recovered.failed.push(format!("undo {action:?} failed: {e}")),
        }
    }
    let mut cleanup = Vec::new();
    for id in ops.ids() {
        if ops.is_paused(id) {
            cleanup.push(Action::Resume { node: Target::Id(id) });
        }
    }
    if !state.network.is_clear() {
        cleanup.push(Action::Heal);
    }
    for id in state.drift.keys().copied().collect::<Vec<_>>() {
        cleanup.push(Action::Drift { node: Target::Id(id), rate: 1.0 });
    }
    for action in cleanup {
        match apply(ops, &action, state) {
            Ok(done) => recovered.done.push(done),
            Err(e) => recovered.failed.push(format!("{action:?} during recovery failed: {e}")),
        }
    }
    recovered
}

/// What [`recover`] did, and what it could not do.
#[derive(Debug, Default)]
pub struct Recovered {
    pub done: Vec<Applied>,
    pub failed: Vec<String>,
}

/// Whether the action aims at the leader (and so needs to know who it is).
fn aims_at_leader(action: &Action) -> bool {
    match action {
        Action::Kill { node }
        | Action::Restart { node }
        | Action::Pause { node }
        | Action::Resume { node }
        | Action::Drift { node, .. }
        | Action::Corrupt { node }
        | Action::Command { node, .. } => *node == Target::Leader,
        Action::Partition { groups, .. } => {
            matches!(groups, PartitionSpec::Isolate(Target::Leader) | PartitionSpec::IsolateWith(Target::Leader, _))
        }
        Action::Heal | Action::Link(_) => false,
    }
}

/// The nodes an action can hit, from which `random` draws.
#[derive(Clone, Copy)]
enum Pool {
    /// Running nodes (to kill or drift).
    Running,
    /// Running nodes that are not paused (to pause).
    Unpaused,
    /// Nodes that are not running (to restart).
    Stopped,
    /// Paused nodes (to resume).
    Paused,
}

impl Pool {
    fn holds(self, ops: &mut impl ClusterOps, id: NodeId) -> bool {
        match self {
            Pool::Running => ops.is_running(id),
            Pool::Unpaused => ops.is_running(id) && !ops.is_paused(id),
            Pool::Stopped => !ops.is_running(id),
            Pool::Paused => ops.is_paused(id),
        }
    }

    fn empty(self) -> &'static str {
        match self {
            Pool::Running | Pool::Unpaused => "no node is running",
            Pool::Stopped => "every node is running",
            Pool::Paused => "no node is paused",
        }
    }
}

fn resolve(
    ops: &mut impl ClusterOps,
    state: &mut FaultState,
    ids: &[NodeId],
    target: Target,
    leader: Option<NodeId>,
    pool: Pool,
) -> Result<NodeId, String> {
    let id = match target {
        Target::Id(id) => id,
        Target::Leader => leader.ok_or("the live nodes agree on no leader")?,
        Target::LastKilled => state.last_killed.ok_or("no node has been killed yet")?,
        Target::Random => {
            let candidates: Vec<NodeId> = ids.iter().copied().filter(|id| pool.holds(ops, *id)).collect();
            if candidates.is_empty() {
                return Err(pool.empty().into());
            }
            candidates[state.rng.random_range(0..candidates.len())]
        }
    };
    if !ids.contains(&id) {
        return Err(format!("node {id} does not exist (nodes are 1..={})", ids.len()));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Delay;

    /// A cluster of five nodes that only writes down what it is asked to do.
    struct Fake {
        running: Vec<NodeId>,
        paused: Vec<NodeId>,
        /// The leader every answering node names.
        leader: Option<NodeId>,
        /// A network without a proxy: link faults are refused.
        refuses_links: bool,
        calls: Vec<String>,
    }

    fn cluster(leader: Option<NodeId>) -> Fake {
        Fake { running: (1..=5).collect(), paused: vec![], leader, refuses_links: false, calls: vec![] }
    }

    impl ClusterOps for Fake {
        fn ids(&self) -> Vec<NodeId> {
            (1..=5).collect()
        }
        fn statuses(&mut self) -> Vec<(NodeId, Status)> {
            self.calls.push("statuses".into());
            let answering = self.running.iter().filter(|id| !self.paused.contains(id));
            answering.map(|id| (*id, Status { role: "follower".into(), leader: self.leader, term: None })).collect()
        }
        fn is_running(&mut self, id: NodeId) -> bool {
            self.running.contains(&id)
        }
        fn is_paused(&mut self, id: NodeId) -> bool {
            self.paused.contains(&id)
        }
        fn can_apply(&self, action: &Action) -> Result<(), String> {
            match action {
                Action::Link(_) if self.refuses_links => Err("link faults need the proxy".into()),
                _ => Ok(()),
            }
        }
        fn kill(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("kill {id}"));
            self.running.retain(|n| *n != id);
            self.paused.retain(|n| *n != id);
            Ok(())
        }
        fn start(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("start {id}"));
            self.running.push(id);
            Ok(())
        }
        fn await_started(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("await {id}"));
            Ok(())
        }
        fn pause(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("pause {id}"));
            self.paused.push(id);
            Ok(())
        }
        fn resume(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("resume {id}"));
            self.paused.retain(|n| *n != id);
            Ok(())
        }
        fn set_drift(&mut self, id: NodeId, rate: f64) -> Result<(), String> {
            self.calls.push(format!("drift {id} {rate}"));
            Ok(())
        }
        fn set_cut(&mut self, cut: &Cut, mode: CutMode, in_force: &NetworkFaults) -> Result<(), String> {
            let links: Vec<_> = in_force.links.keys().collect();
            self.calls.push(format!("cut {} links {mode:?}, links in force {links:?}", cut.len()));
            Ok(())
        }
        fn set_link(&mut self, spec: &LinkSpec, in_force: &NetworkFaults) -> Result<(), String> {
            let partition = in_force.partition.as_ref().map(|p| p.spec.clone());
            self.calls.push(format!("link {}, partition in force {partition:?}", spec.describe()));
            Ok(())
        }
        fn heal(&mut self) -> Result<(), String> {
            self.calls.push("heal".into());
            Ok(())
        }
        fn corrupt(&mut self, id: NodeId) -> Result<(), String> {
            self.calls.push(format!("corrupt {id}"));
            match id {
                4 => Err("bully does not support corrupt".into()),
                _ => Ok(()),
            }
        }
        fn command(&mut self, id: NodeId, args: &[String]) -> Result<Result<String, String>, String> {
            self.calls.push(format!("command {id} {}", args.join(" ")));
            Ok(match id {
                4 => Err("not the leader".into()),
                _ => Ok("done".into()),
            })
        }
        fn record(&mut self, fault: AppliedFault) {
            self.calls.push(format!("record: {}", fault.describe()));
        }
    }

    fn calls(fake: &mut Fake) -> Vec<String> {
        std::mem::take(&mut fake.calls)
    }

    #[test]
    fn kill_the_leader_for_a_while_restarts_the_node_it_killed() {
        let mut fake = cluster(Some(3));
        let mut state = FaultState::new(1);
        let applied = apply(&mut fake, &Action::Kill { node: Target::Leader }, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["statuses", "kill 3", "record: killed node 3 (the leader)"]);
        assert_eq!(applied.fault, AppliedFault::Kill { node: 3, was_leader: true });
        let undo = applied.undo().unwrap();
        assert_eq!(undo, Action::Restart { node: Target::Id(3) });
        // Meanwhile node 5 leads: the undo still restarts node 3.
        fake.leader = Some(5);
        let restarted = apply(&mut fake, &undo, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["start 3", "record: restarted node 3", "await 3"]);
        assert_eq!(restarted.undo(), None);
    }

    #[test]
    fn a_kill_records_whether_it_hit_the_leader() {
        let mut fake = cluster(Some(3));
        let mut state = FaultState::new(1);
        apply(&mut fake, &Action::Kill { node: Target::Id(2) }, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["statuses", "kill 2", "record: killed node 2"]);
        assert_eq!(state.last_killed(), Some(2));
        apply(&mut fake, &Action::Restart { node: Target::LastKilled }, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["start 2", "record: restarted node 2", "await 2"]);
    }

    #[test]
    fn partition_isolate_leader_resolves_the_leader_once() {
        let mut fake = cluster(Some(4));
        let mut state = FaultState::new(1);
        let action =
            Action::Partition { groups: PartitionSpec::parse("isolate:leader").unwrap(), mode: CutMode::Reset };
        let applied = apply(&mut fake, &action, &mut state).unwrap();
        assert_eq!(
            calls(&mut fake),
            [
                "statuses",
                "cut 8 links Reset, links in force []",
                "record: partition isolate:leader (8 directed links cut)"
            ]
        );
        let partition = state.network().partition.clone().unwrap();
        assert!(partition.cut.iter().all(|(a, b)| *a == 4 || *b == 4), "{:?}", partition.cut);
        assert_eq!(applied.undo(), Some(Action::Heal));
        // Shapes that do not name the leader do not ask for it.
        let halves = Action::Partition { groups: PartitionSpec::Halves, mode: CutMode::Blackhole };
        apply(&mut fake, &halves, &mut state).unwrap();
        assert_eq!(calls(&mut fake)[0], "cut 12 links Blackhole, links in force []");
    }

    #[test]
    fn a_partition_replaces_the_earlier_one_and_keeps_link_faults() {
        let mut fake = cluster(None);
        let mut state = FaultState::new(1);
        let loss = LinkSpec { loss: 0.3, ..LinkSpec::clear(1, 2) };
        apply(&mut fake, &Action::Link(loss.clone()), &mut state).unwrap();
        let first = Action::Partition { groups: PartitionSpec::parse("1,2|3,4,5").unwrap(), mode: CutMode::Blackhole };
        let second = Action::Partition { groups: PartitionSpec::parse("isolate:5").unwrap(), mode: CutMode::Blackhole };
        apply(&mut fake, &first, &mut state).unwrap();
        apply(&mut fake, &second, &mut state).unwrap();
        assert_eq!(
            calls(&mut fake),
            [
                "link 1→2 loss 0.3, partition in force None",
                "record: link 1→2 loss 0.3",
                "cut 12 links Blackhole, links in force [(1, 2)]",
                "record: partition 1,2|3,4,5 (12 directed links cut)",
                "cut 8 links Blackhole, links in force [(1, 2)]",
                "record: partition isolate:5 (8 directed links cut)",
            ]
        );
        assert_eq!(state.network().partition.as_ref().unwrap().spec, "isolate:5");
        assert_eq!(state.network().links[&(1, 2)], loss);
    }

    #[test]
    fn heal_clears_the_partition_and_every_link_fault() {
        let mut fake = cluster(None);
        let mut state = FaultState::new(1);
        let delay = Some(Delay::Fixed { ms: 20.0 });
        apply(&mut fake, &Action::Link(LinkSpec { delay, ..LinkSpec::clear(2, 3) }), &mut state).unwrap();
        apply(&mut fake, &Action::Partition { groups: PartitionSpec::Halves, mode: CutMode::Blackhole }, &mut state)
            .unwrap();
        calls(&mut fake);
        apply(&mut fake, &Action::Heal, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["heal", "record: healed every partition and link"]);
        assert!(state.network().is_clear());
        // A link fault after the heal sees neither.
        apply(&mut fake, &Action::Link(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }), &mut state).unwrap();
        assert_eq!(calls(&mut fake)[0], "link 1→2 cut (blackhole), partition in force None");
    }

    #[test]
    fn a_cleared_link_is_no_longer_in_force() {
        let mut fake = cluster(None);
        let mut state = FaultState::new(1);
        let applied =
            apply(&mut fake, &Action::Link(LinkSpec { reorder: 0.5, ..LinkSpec::clear(4, 1) }), &mut state).unwrap();
        assert_eq!(state.network().links.len(), 1);
        apply(&mut fake, &applied.undo().unwrap(), &mut state).unwrap();
        assert_eq!(calls(&mut fake)[2..], ["link 4→1 clear, partition in force None", "record: link 4→1 clear"]);
        assert!(state.network().is_clear());
    }

    #[test]
    fn actions_that_make_no_sense_now_are_refused_and_nothing_is_done() {
        let mut fake = cluster(None);
        fake.running.retain(|id| *id != 2);
        let mut state = FaultState::new(1);
        let mut refused = |action: Action| apply(&mut fake, &action, &mut state).unwrap_err();
        assert_eq!(refused(Action::Resume { node: Target::Id(3) }), "node 3 is not paused");
        assert_eq!(refused(Action::Kill { node: Target::Id(2) }), "node 2 is not running");
        assert_eq!(refused(Action::Pause { node: Target::Id(2) }), "node 2 is not running");
        assert_eq!(refused(Action::Restart { node: Target::Id(3) }), "node 3 is running; kill it first");
        assert_eq!(refused(Action::Restart { node: Target::LastKilled }), "no node has been killed yet");
        assert_eq!(refused(Action::Pause { node: Target::Leader }), "the live nodes agree on no leader");
        assert_eq!(refused(Action::Kill { node: Target::Id(9) }), "node 9 does not exist (nodes are 1..=5)");
        let isolate = Action::Partition { groups: PartitionSpec::Isolate(Target::Leader), mode: CutMode::Blackhole };
        assert_eq!(refused(isolate), "isolate:leader, but the live nodes agree on no leader");
        fake.paused.push(4);
        let mut refused = |action: Action| apply(&mut fake, &action, &mut state).unwrap_err();
        assert_eq!(refused(Action::Pause { node: Target::Id(4) }), "node 4 is already paused");
        assert!(fake.calls.iter().all(|c| c == "statuses"), "{:?}", fake.calls);
    }

    #[test]
    fn a_network_that_cannot_carry_an_action_refuses_it_before_anything_happens() {
        let mut ops = Fake { refuses_links: true, ..cluster(None) };
        let mut state = FaultState::new(1);
        let err = apply(&mut ops, &Action::Link(LinkSpec { loss: 0.1, ..LinkSpec::clear(1, 2) }), &mut state);
        assert_eq!(err.unwrap_err(), "link faults need the proxy");
        // Bad input is named before the network is asked.
        let err = apply(&mut ops, &Action::Link(LinkSpec::clear(1, 1)), &mut state);
        assert_eq!(err.unwrap_err(), "link 1→1 is not a link");
        assert!(ops.calls.is_empty() && state.network().is_clear());
    }

    #[test]
    fn a_command_goes_to_the_leader_and_a_refusal_is_recorded_and_reported() {
        let mut fake = cluster(Some(3));
        let mut state = FaultState::new(1);
        let args: Vec<String> = vec!["add-server".into(), "6".into()];
        let applied = apply(&mut fake, &Action::Command { node: Target::Leader, args: args.clone() }, &mut state);
        assert_eq!(applied.unwrap().action, Action::Command { node: Target::Id(3), args: args.clone() });
        assert_eq!(
            calls(&mut fake),
            ["statuses", "command 3 add-server 6", "record: command \"add-server 6\" at node 3: done"]
        );
        let refused = apply(&mut fake, &Action::Command { node: Target::Id(4), args: args.clone() }, &mut state);
        assert_eq!(refused.unwrap_err(), "node 4 refused \"add-server 6\": not the leader");
        assert_eq!(
            calls(&mut fake),
            ["command 4 add-server 6", "record: command \"add-server 6\" refused by node 4: not the leader"],
            "a refusal is recorded too"
        );
        fake.paused.push(2);
        let paused = apply(&mut fake, &Action::Command { node: Target::Id(2), args }, &mut state);
        assert_eq!(paused.unwrap_err(), "node 2 is not running (or paused)");
        let own = Action::Command { node: Target::Leader, args: vec!["remove-server".into(), "{node}".into()] };
        assert_eq!(
            apply(&mut fake, &own, &mut state).unwrap().describe(),
            "command \"remove-server 3\" at node 3: done"
        );
        let none = Action::Command { node: Target::Id(1), args: vec![] };
        assert!(apply(&mut fake, &none, &mut state).unwrap_err().starts_with("args: "));
    }

    #[test]
    fn corrupt_hits_a_running_unpaused_node_and_passes_on_the_algorithms_refusal() {
        let mut fake = cluster(None);
        fake.running.retain(|id| *id != 2);
        fake.paused.push(3);
        let mut state = FaultState::new(1);
        let applied = apply(&mut fake, &Action::Corrupt { node: Target::Id(1) }, &mut state).unwrap();
        assert_eq!(calls(&mut fake), ["corrupt 1", "record: corrupted node 1's state"]);
        assert_eq!(applied.undo(), None, "a corruption is not undone");
        let mut refused = |action: Action| apply(&mut fake, &action, &mut state).unwrap_err();
        assert_eq!(refused(Action::Corrupt { node: Target::Id(2) }), "node 2 is not running");
        assert_eq!(refused(Action::Corrupt { node: Target::Id(3) }), "node 3 is paused; resume it first");
        assert_eq!(refused(Action::Corrupt { node: Target::Id(4) }), "bully does not support corrupt");
        assert_eq!(calls(&mut fake), ["corrupt 4"], "nothing recorded for a refusal");
        for _ in 0..10 {
            let Action::Corrupt { node: Target::Id(id) } =
                apply(&mut fake, &Action::Corrupt { node: Target::Random }, &mut state)
                    .map(|a| a.action)
                    .unwrap_or(Action::Corrupt { node: Target::Id(4) })
            else {
                panic!()
            };
            assert!([1, 4, 5].contains(&id), "random picks a running, unpaused node: {id}");
        }
    }

    #[test]
    fn a_restarted_node_keeps_its_clock_drift() {
        let mut fake = cluster(None);
        let mut state = FaultState::new(1);
        apply(&mut fake, &Action::Drift { node: Target::Id(2), rate: 1.5 }, &mut state).unwrap();
        apply(&mut fake, &Action::Kill { node: Target::Id(2) }, &mut state).unwrap();
        apply(&mut fake, &Action::Restart { node: Target::Id(2) }, &mut state).unwrap();
        assert_eq!(
            calls(&mut fake),
            [
                "drift 2 1.5",
                "record: node 2's clock runs at 1.5× true time",
                "statuses",
                "kill 2",
                "record: killed node 2",
                "start 2",
                "record: restarted node 2",
                "await 2",
                "drift 2 1.5",
            ]
        );
        apply(&mut fake, &Action::Drift { node: Target::Id(2), rate: 1.0 }, &mut state).unwrap();
        assert!(state.drift().is_empty(), "true time again: no drift in force");
    }

    #[test]
    fn random_targets_come_from_the_seed_and_only_hit_nodes_the_action_can_hit() {
        let picks = |seed| {
            let mut fake = cluster(None);
            let mut state = FaultState::new(seed);
            let mut killed = Vec::new();
            for _ in 0..4 {
                let applied = apply(&mut fake, &Action::Kill { node: Target::Random }, &mut state).unwrap();
                killed.push(applied.action);
            }
            assert_eq!(fake.running.len(), 1, "four different nodes were killed: {killed:?}");
            let restarted = apply(&mut fake, &Action::Restart { node: Target::Random }, &mut state).unwrap();
            let Action::Restart { node } = restarted.action else { panic!("{restarted:?}") };
            assert!(killed.contains(&Action::Kill { node }), "restarted a node that was down");
            killed
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!((1..20).map(picks).collect::<Vec<_>>(), vec![picks(7); 19]);
        let mut fake = cluster(None);
        fake.running.clear();
        let mut state = FaultState::new(1);
        assert_eq!(
            apply(&mut fake, &Action::Kill { node: Target::Random }, &mut state).unwrap_err(),
            "no node is running"
        );
        assert_eq!(
            apply(&mut fake, &Action::Resume { node: Target::Random }, &mut state).unwrap_err(),
            "no node is paused"
        );
    }

    #[test]
    fn recovery_undoes_everything_in_force() {
        let mut fake = cluster(None);
        let mut state = FaultState::new(1);
        apply(&mut fake, &Action::Pause { node: Target::Id(3) }, &mut state).unwrap();
        apply(&mut fake, &Action::Pause { node: Target::Id(1) }, &mut state).unwrap();
        apply(&mut fake, &Action::Drift { node: Target::Id(4), rate: 2.0 }, &mut state).unwrap();
        apply(&mut fake, &Action::Link(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }), &mut state).unwrap();
        let killed = apply(&mut fake, &Action::Kill { node: Target::Id(5) }, &mut state).unwrap();
        calls(&mut fake);
        let done = recover(&mut fake, &mut state, vec![killed.undo().unwrap()]).done;
        let done: Vec<String> = done.iter().map(Applied::describe).collect();
        assert_eq!(
            done,
            [
                "restarted node 5",
                "resumed node 1",
                "resumed node 3",
                "healed every partition and link",
                "node 4's clock runs at 1× true time"
            ]
        );
        assert!(state.network().is_clear() && state.drift().is_empty() && fake.paused.is_empty());
        let nothing = recover(&mut fake, &mut state, vec![]);
        assert!(nothing.done.is_empty() && nothing.failed.is_empty(), "nothing left to undo");
    }
}

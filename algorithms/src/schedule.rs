//! Faults, shared by the real orchestrator and the simulator so that one `[[faults]]` list (or one
//! live command) means the same thing in `orchestrator run`, `orchestrator up` and `orchestrator sim`.

use crate::process::{NodeId, Status};
use crate::sim::Delay;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// One `[[faults]]` entry: at `at` (since the run started) do the action; with `for`, undo it
/// that much later (restart a killed node, resume a paused one, heal, clear a link, stop drifting).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultSpec {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    #[serde(rename = "for", with = "humantime_serde::option", skip_serializing_if = "Option::is_none")]
    pub lasting: Option<Duration>,
    #[serde(flatten)]
    pub action: Action,
}

impl<'de> Deserialize<'de> for FaultSpec {
    /// `at` and `for` sit beside the action's own keys in one table; the action's keys are checked
    /// strictly (unknown keys are errors), which serde's `flatten` cannot do.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = match Value::deserialize(d)? {
            Value::Object(map) => map,
            other => return Err(de::Error::custom(format!("a fault is a table, not {other}"))),
        };
        let duration = |key: &str, v: Value| -> Result<Duration, D::Error> {
            let text =
                v.as_str().ok_or_else(|| de::Error::custom(format!("`{key}` must be a duration like \"2s\"")))?;
            humantime::parse_duration(text).map_err(|e| de::Error::custom(format!("`{key}` = {text:?}: {e}")))
        };
        let at = duration("at", table.remove("at").ok_or_else(|| de::Error::missing_field("at"))?)?;
        let lasting = table.remove("for").map(|v| duration("for", v)).transpose()?;
        // serde does not check unknown keys of a unit variant (`heal`): do it here.
        if table.get("action").and_then(Value::as_str) == Some("heal") {
            if let Some(key) = table.keys().find(|k| *k != "action") {
                return Err(de::Error::custom(format!("unknown field `{key}`: heal takes no other keys")));
            }
        }
        let action = Action::deserialize(Value::Object(table)).map_err(de::Error::custom)?;
        Ok(FaultSpec { at, lasting, action })
    }
}

/// What a fault does. Every way of injecting faults (schedule, nemesis, live CLI) speaks this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// SIGKILL the node (a crash in the simulator).
    Kill { node: Target },
    /// Start a killed node again with the same id and data directory.
    Restart { node: Target },
    /// SIGSTOP: the process freezes; its peers see silence, its timers fire late.
    Pause { node: Target },
    /// SIGCONT.
    Resume { node: Target },
    /// The node's clock runs at `rate` times true time (its timers fire after `after / rate`).
    Drift { node: Target, rate: f64 },
    /// Cut links according to a partition shape (see [`PartitionSpec`]).
    Partition {
        groups: PartitionSpec,
        #[serde(default)]
        mode: CutMode,
    },
    /// Remove every partition and link fault.
    Heal,
    /// Per-message faults on one directed link (all fields default to "no fault").
    Link(LinkSpec),
}

impl Action {
    /// The action that undoes this one after a `for` duration. Call it on the action as applied
    /// (targets resolved to ids), so that "kill the leader for 2s" restarts the node it killed.
    pub fn undo(&self) -> Option<Action> {
        match self {
            Action::Kill { node } => Some(Action::Restart { node: *node }),
            Action::Pause { node } => Some(Action::Resume { node: *node }),
            Action::Drift { node, .. } => Some(Action::Drift { node: *node, rate: 1.0 }),
            Action::Partition { .. } => Some(Action::Heal),
            Action::Link(spec) => Some(Action::Link(LinkSpec::clear(spec.from, spec.to))),
            Action::Restart { .. } | Action::Resume { .. } | Action::Heal => None,
        }
    }

    /// Checks ids and values against the cluster size before anything starts.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        let check = |id: NodeId| {
            if id == 0 || id as usize > nodes {
                Err(format!("node {id} does not exist (nodes are 1..={nodes})"))
            } else {
                Ok(())
            }
        };
        let target = |t: &Target| if let Target::Id(id) = t { check(*id) } else { Ok(()) };
        match self {
            Action::Kill { node } | Action::Restart { node } | Action::Pause { node } | Action::Resume { node } => {
                target(node)
            }
            Action::Drift { node, rate } => {
                target(node)?;
                if !(rate.is_finite() && *rate > 0.0) {
                    return Err(format!("rate {rate} must be above 0 (1.0 is true time)"));
                }
                Ok(())
            }
            Action::Partition { groups, .. } => groups.validate(nodes),
            Action::Heal => Ok(()),
            Action::Link(spec) => {
                check(spec.from)?;
                check(spec.to)?;
                if spec.from == spec.to {
                    return Err(format!("link {0}→{0} is not a link", spec.from));
                }
                spec.validate()
            }
        }
    }
}

impl FaultSpec {
    pub fn new(at: Duration, action: Action) -> FaultSpec {
        FaultSpec { at, lasting: None, action }
    }

    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        self.action.validate(nodes)?;
        if self.lasting.is_some() && self.action.undo().is_none() {
            return Err("`for` only applies to kill, pause, drift, partition and link".into());
        }
        Ok(())
    }
}

/// What a cut link does with traffic: drop it silently, or close the connection (TCP reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    #[default]
    Blackhole,
    Reset,
}

/// Faults on one directed link, applied per message by the proxy (and the simulator).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: NodeId,
    pub to: NodeId,
    /// Nothing gets through from `from` to `to` (a one-way partition).
    #[serde(default)]
    pub cut: bool,
    #[serde(default)]
    pub mode: CutMode,
    /// Extra delay per message, with jitter from the distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Probability a message is dropped.
    #[serde(default)]
    pub loss: f64,
    /// Probability a message is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability a message is held back and delivered after the next one.
    #[serde(default)]
    pub reorder: f64,
}

impl LinkSpec {
    pub fn clear(from: NodeId, to: NodeId) -> LinkSpec {
        LinkSpec { from, to, ..Default::default() }
    }

    /// True when the link behaves like a healthy one.
    pub fn is_clear(&self) -> bool {
        !self.cut && self.delay.is_none() && self.loss == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} is not a probability (0 to 1)"));
            }
        }
        self.delay.as_ref().map_or(Ok(()), Delay::validate)
    }

    /// One line for logs and `status`, e.g. `1→2 loss 0.3, delay uniform 5–20 ms`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cut {
            parts.push(format!("cut ({})", if self.mode == CutMode::Reset { "reset" } else { "blackhole" }));
        }
        if let Some(d) = &self.delay {
            parts.push(format!("delay {}", d.describe()));
        }
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            if p > 0.0 {
                parts.push(format!("{name} {p}"));
            }
        }
        if parts.is_empty() {
            parts.push("clear".into());
        }
        format!("{}→{} {}", self.from, self.to, parts.join(", "))
    }
}

/// Which node a process fault hits: a fixed id, the current leader, the node killed last, or
/// one drawn from the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Id(NodeId),
    Leader,
    LastKilled,
    Random,
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        match text {
            "leader" => Ok(Target::Leader),
            "last_killed" => Ok(Target::LastKilled),
            "random" => Ok(Target::Random),
            other => other.parse::<NodeId>().map(Target::Id).map_err(|_| {
                format!("{other:?} is not a node: expected a node id, \"leader\", \"last_killed\" or \"random\"")
            }),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Target::Id(id) => write!(f, "{id}"),
            Target::Leader => f.write_str("leader"),
            Target::LastKilled => f.write_str("last_killed"),
            Target::Random => f.write_str("random"),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Id(id) => s.serialize_u32(*id),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_u64()
                .and_then(|v| NodeId::try_from(v).ok())
                .map(Target::Id)
                .ok_or_else(|| de::Error::custom(format!("{n} is not a node id"))),
            Value::String(s) => Target::parse(&s).map_err(de::Error::custom),
            other => Err(de::Error::custom(format!(
                "{other} is not a node: expected a node id, \"leader\", \"last_killed\" or \"random\""
            ))),
        }
    }
}

/// A partition, by explicit groups or by one of the shapes Jepsen users know.
///
/// - `"1,2|3,4,5"`: explicit groups; links between groups are cut, a node in no group is isolated
/// - `"isolate:3"`, `"isolate:leader"`, `"isolate:random"`: one node alone
/// - `"halves"`: the lower half of the ids against the upper; `"random-halves"`: shuffled first
/// - `"majorities-ring"`: every node sees a majority, but no two nodes see the same majority
/// - `"bridge"`: two halves that only one node in the middle still connects
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionSpec {
    Groups(Vec<Vec<NodeId>>),
    Isolate(Target),
    Halves,
    RandomHalves,
    MajoritiesRing,
    Bridge,
}

/// The directed links a partition cuts.
pub type Cut = BTreeSet<(NodeId, NodeId)>;

impl PartitionSpec {
    pub fn parse(spec: &str) -> Result<PartitionSpec, String> {
        let spec = spec.trim();
        match spec {
            "halves" => return Ok(PartitionSpec::Halves),
            "random-halves" => return Ok(PartitionSpec::RandomHalves),
            "majorities-ring" => return Ok(PartitionSpec::MajoritiesRing),
            "bridge" => return Ok(PartitionSpec::Bridge),
            _ => {}
        }
        if let Some(target) = spec.strip_prefix("isolate:") {
            return Target::parse(target).map(PartitionSpec::Isolate);
        }
        let groups = spec
            .split('|')
            .map(|group| {
                group
                    .split(',')
                    .map(|id| {
                        id.trim().parse::<NodeId>().map_err(|_| {
                            format!(
                                "bad partition {spec:?}: {:?} is not a node id (expected groups like \"1,2|3,4,5\" \
                                 or a shape: isolate:N, halves, random-halves, majorities-ring, bridge)",
                                id.trim()
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        for id in groups.iter().flatten() {
            if !seen.insert(*id) {
                return Err(format!("bad partition {spec:?}: node {id} appears twice"));
            }
        }
        Ok(PartitionSpec::Groups(groups))
    }

    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        let check = |id: &NodeId| {
            if *id == 0 || *id as usize > nodes {
                Err(format!("partition names node {id}, which does not exist (nodes are 1..={nodes})"))
            } else {
                Ok(())
            }
        };
        match self {
            PartitionSpec::Groups(groups) => groups.iter().flatten().try_for_each(check),
            PartitionSpec::Isolate(Target::Id(id)) => check(id),
            PartitionSpec::Isolate(Target::LastKilled) => Err("isolate:last_killed makes no sense".into()),
            _ => Ok(()),
        }
    }

    /// The directed links this partition cuts among `nodes`, given the current leader and the
    /// run's RNG (for the random shapes).
    pub fn cut(&self, nodes: &[NodeId], leader: Option<NodeId>, rng: &mut impl Rng) -> Result<Cut, String> {
        let groups: Vec<Vec<NodeId>> = match self {
            PartitionSpec::Groups(groups) => groups.clone(),
            PartitionSpec::Isolate(target) => {
                let alone = match target {
                    Target::Id(id) => *id,
                    Target::Leader => leader.ok_or("isolate:leader, but the live nodes agree on no leader")?,
                    Target::Random => *nodes.choose(rng).ok_or("no nodes")?,
                    Target::LastKilled => return Err("isolate:last_killed makes no sense".into()),
                };
                vec![vec![alone], nodes.iter().copied().filter(|n| *n != alone).collect()]
            }
            PartitionSpec::Halves | PartitionSpec::RandomHalves => {
                let mut order = nodes.to_vec();
                if *self == PartitionSpec::RandomHalves {
                    order.shuffle(rng);
                }
                let (a, b) = order.split_at(order.len() / 2);
                vec![a.to_vec(), b.to_vec()]
            }
            PartitionSpec::MajoritiesRing => {
                // Nodes on a shuffled ring; each sees the neighbours within `reach` on both
                // sides, which makes a majority that is different for every node.
                let mut ring = nodes.to_vec();
                ring.shuffle(rng);
                let n = ring.len();
                let majority = n / 2 + 1;
                let reach = majority / 2;
                let mut cut = Cut::new();
                for (i, a) in ring.iter().enumerate() {
                    for (j, b) in ring.iter().enumerate() {
                        let dist = (i as isize - j as isize).unsigned_abs();
                        if a != b && dist.min(n - dist) > reach {
                            cut.insert((*a, *b));
                        }
                    }
                }
                return Ok(cut);
            }
            PartitionSpec::Bridge => {
                let (a, rest) = nodes.split_at(nodes.len() / 2);
                let (bridge, b) = rest.split_first().ok_or("bridge needs at least one node")?;
                let mut cut = Cut::new();
                for x in a {
                    for y in b {
                        cut.insert((*x, *y));
                        cut.insert((*y, *x));
                    }
                }
                let _ = bridge;
                return Ok(cut);
            }
        };
        let group_of = |n: NodeId| groups.iter().position(|g| g.contains(&n));
        let mut cut = Cut::new();
        for a in nodes {
            for b in nodes {
                if a != b && (group_of(*a).is_none() || group_of(*a) != group_of(*b)) {
                    cut.insert((*a, *b));
                }
            }
        }
        Ok(cut)
    }
}

impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            PartitionSpec::Groups(groups) => {
                let text: Vec<String> =
                    groups.iter().map(|g| g.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",")).collect();
                f.write_str(&text.join("|"))
            }
            PartitionSpec::Isolate(t) => write!(f, "isolate:{t}"),
            PartitionSpec::Halves => f.write_str("halves"),
            PartitionSpec::RandomHalves => f.write_str("random-halves"),
            PartitionSpec::MajoritiesRing => f.write_str("majorities-ring"),
            PartitionSpec::Bridge => f.write_str("bridge"),
        }
    }
}

impl Serialize for PartitionSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PartitionSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => PartitionSpec::parse(&s).map_err(de::Error::custom),
            Value::Array(groups) => {
                let groups: Vec<Vec<NodeId>> =
                    serde_json::from_value(Value::Array(groups)).map_err(de::Error::custom)?;
                Ok(PartitionSpec::Groups(groups))
            }
            other => Err(de::Error::custom(format!("{other} is not a partition (e.g. \"1,2|3,4,5\" or \"halves\")"))),
        }
    }
}

/// The leader as the live nodes see it: the view most of them report (ties: the higher id).
/// A node that calls itself leader counts for itself. `None` when nobody names a leader.
pub fn agreed_leader(views: &[(NodeId, Status)]) -> Option<NodeId> {
    let mut votes: std::collections::BTreeMap<NodeId, usize> = Default::default();
    for (id, status) in views {
        let named = if status.role == "leader" { Some(*id) } else { status.leader };
        if let Some(leader) = named {
            *votes.entry(leader).or_default() += 1;
        }
    }
    votes.into_iter().max_by_key(|(id, n)| (*n, *id)).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(1)
    }

    #[test]
    fn explicit_groups_cut_links_between_groups_only() {
        let spec = PartitionSpec::parse("1,2|3,4,5").unwrap();
        let cut = spec.cut(&[1, 2, 3, 4, 5], None, &mut rng()).unwrap();
        assert!(!cut.contains(&(1, 2)) && !cut.contains(&(3, 5)));
        assert!(cut.contains(&(2, 3)) && cut.contains(&(3, 2)));
        assert_eq!(cut.len(), 12);
        assert!(PartitionSpec::parse("1,x|2").unwrap_err().contains("\"x\""));
        assert!(PartitionSpec::parse("1,2|2").unwrap_err().contains("twice"));
    }

    #[test]
    fn shapes_cut_what_their_names_say() {
        let nodes = [1, 2, 3, 4, 5];
        let isolate = PartitionSpec::parse("isolate:leader").unwrap().cut(&nodes, Some(5), &mut rng()).unwrap();
        assert_eq!(isolate.len(), 8);
        assert!(isolate.iter().all(|(a, b)| *a == 5 || *b == 5));
        let ring = PartitionSpec::parse("majorities-ring").unwrap().cut(&nodes, None, &mut rng()).unwrap();
        for n in nodes {
            let sees = nodes.iter().filter(|m| **m == n || !ring.contains(&(n, **m))).count();
            assert_eq!(sees, 3, "node {n} sees a majority of 5");
        }
        let bridge = PartitionSpec::parse("bridge").unwrap().cut(&nodes, None, &mut rng()).unwrap();
        assert!(bridge.iter().all(|(a, b)| *a != 3 && *b != 3), "node 3 is the bridge: {bridge:?}");
        assert!(bridge.contains(&(1, 4)));
    }

    #[test]
    fn the_nemesis_plans_the_same_faults_for_the_same_seed_and_leaves_a_quiet_end() {
        let nemesis = Nemesis { kinds: NEMESIS_KINDS.iter().map(|k| k.to_string()).collect(), ..Nemesis::default() };
        nemesis.validate().unwrap();
        let plan = nemesis.plan(5, Duration::from_secs(20), 9);
        assert_eq!(plan, nemesis.plan(5, Duration::from_secs(20), 9));
        assert_ne!(plan, nemesis.plan(5, Duration::from_secs(20), 10));
        assert_eq!(plan.len(), 16, "one fault a second from 1 s to 16.5 s");
        assert!(plan.iter().all(|f| f.at + f.lasting.unwrap() <= Duration::from_secs(17)));
        assert!(plan.iter().all(|f| f.action.validate(5).is_ok()));
        let bad = Nemesis { kinds: vec!["meteor".into()], ..Nemesis::default() };
        assert!(bad.validate().unwrap_err().contains("meteor"));
    }

    #[test]
    fn fault_specs_read_from_toml_like_values() {
        let spec: FaultSpec =
            serde_json::from_value(serde_json::json!({"action": "kill", "at": "3s", "node": "leader", "for": "1s"}))
                .unwrap();
        assert_eq!(spec.action, Action::Kill { node: Target::Leader });
        assert_eq!(spec.lasting, Some(Duration::from_secs(1)));
        let applied = Action::Kill { node: Target::Id(5) };
        assert_eq!(applied.undo(), Some(Action::Restart { node: Target::Id(5) }));
        let err =
            serde_json::from_value::<FaultSpec>(serde_json::json!({"action": "kill", "at": "3s", "node": "boss"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("boss"), "{err}");
        let err = serde_json::from_value::<FaultSpec>(serde_json::json!({"action": "heal", "at": "3s", "nod": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nod"), "{err}");
        let link: FaultSpec = serde_json::from_value(serde_json::json!(
            {"action": "link", "at": "1s", "from": 1, "to": 2, "loss": 0.5, "delay": {"dist": "fixed", "ms": 5.0}}
        ))
        .unwrap();
        assert!(matches!(link.action, Action::Link(LinkSpec { from: 1, to: 2, loss, .. }) if loss == 0.5));
    }
}

/// A nemesis: every `interval`, a fault drawn from `kinds` with the run's seed, lasting half the
/// interval; none in the last `recovery` of the run, so that liveness can be judged after a
/// safety phase. It expands to an ordinary schedule, so real runs and the simulator see the same
/// faults for the same seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nemesis {
    #[serde(with = "humantime_serde")]
    pub start: Duration,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub recovery: Duration,
    pub kinds: Vec<String>,
}

impl Default for Nemesis {
    fn default() -> Self {
        Nemesis {
            start: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            recovery: Duration::from_secs(3),
            kinds: ["kill", "pause", "partition-halves", "isolate-leader"].map(String::from).to_vec(),
        }
    }
}

/// Every kind the nemesis knows, as written in `kinds`.
pub const NEMESIS_KINDS: &[&str] = &[
    "kill",
    "kill-leader",
    "pause",
    "pause-leader",
    "partition-halves",
    "partition-random-halves",
    "partition-majorities-ring",
    "partition-bridge",
    "isolate-random",
    "isolate-leader",
    "one-way",
    "link-loss",
    "link-delay",
    "link-duplicate",
    "link-reorder",
    "drift",
];

impl Nemesis {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("nemesis.interval must be above zero".into());
        }
        if self.kinds.is_empty() {
            return Err("nemesis.kinds is empty".into());
        }
        for kind in &self.kinds {
            if !NEMESIS_KINDS.contains(&kind.as_str()) {
                return Err(format!("nemesis.kinds: unknown kind {kind:?}; known kinds: {}", NEMESIS_KINDS.join(", ")));
            }
        }
        Ok(())
    }

    /// The faults of a run of `duration` on `nodes` nodes.
    pub fn plan(&self, nodes: usize, duration: Duration, seed: u64) -> Vec<FaultSpec> {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
        let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let lasting = self.interval / 2;
        let stop = duration.saturating_sub(self.recovery);
        let mut plan = Vec::new();
        let mut at = self.start;
        while at + lasting <= stop && nodes >= 2 {
            let kind = self.kinds.choose(&mut rng).expect("validated: not empty").as_str();
            let node = Target::Id(*ids.choose(&mut rng).expect("nodes"));
            let mut link = || {
                let from = *ids.choose(&mut rng).expect("nodes");
                let to = *ids.iter().filter(|n| **n != from).collect::<Vec<_>>().choose(&mut rng).expect("two nodes");
                LinkSpec::clear(from, *to)
            };
            let action = match kind {
                "kill" => Action::Kill { node },
                "kill-leader" => Action::Kill { node: Target::Leader },
                "pause" => Action::Pause { node },
                "pause-leader" => Action::Pause { node: Target::Leader },
                "partition-halves" => Action::Partition { groups: PartitionSpec::Halves, mode: CutMode::Blackhole },
                "partition-random-halves" => {
                    Action::Partition { groups: PartitionSpec::RandomHalves, mode: CutMode::Blackhole }
                }
                "partition-majorities-ring" => {
                    Action::Partition { groups: PartitionSpec::MajoritiesRing, mode: CutMode::Blackhole }
                }
                "partition-bridge" => Action::Partition { groups: PartitionSpec::Bridge, mode: CutMode::Blackhole },
                "isolate-random" => {
                    Action::Partition { groups: PartitionSpec::Isolate(node), mode: CutMode::Blackhole }
                }
                "isolate-leader" => {
                    Action::Partition { groups: PartitionSpec::Isolate(Target::Leader), mode: CutMode::Blackhole }
                }
                "one-way" => Action::Link(LinkSpec { cut: true, ..link() }),
                "link-loss" => Action::Link(LinkSpec { loss: 0.5, ..link() }),
                "link-delay" => {
                    Action::Link(LinkSpec { delay: Some(Delay::Uniform { min_ms: 20.0, max_ms: 100.0 }), ..link() })
                }
                "link-duplicate" => Action::Link(LinkSpec { duplicate: 0.5, ..link() }),
                "link-reorder" => Action::Link(LinkSpec { reorder: 0.5, ..link() }),
                "drift" => Action::Drift { node, rate: 2.0 },
                other => unreachable!("validated kind {other}"),
            };
            plan.push(FaultSpec { at, lasting: Some(lasting), action });
            at += self.interval;
        }
        plan
    }
}

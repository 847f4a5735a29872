//! Partition shapes: explicit groups, or the shapes Jepsen users know, turned into the set of
//! directed links they cut.

use super::Target;
use crate::core::process::NodeId;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// A partition, by explicit groups or by one of the shapes Jepsen users know.
///
/// - `"1,2|3,4,5"`: explicit groups; links between groups are cut, a node in no group is isolated
/// - `"isolate:3"`, `"isolate:leader"`, `"isolate:random"`: one node alone
/// - `"isolate:leader+6"`: the leader cut off together with node 6 (e.g. a client, which keeps
///   reaching it), everyone else on the other side; `"isolate:leader+6+7"` for several
/// - `"halves"`: the lower half of the ids against the upper; `"random-halves"`: shuffled first
/// - `"majorities-ring"`: every node sees a majority, but no two nodes see the same majority
/// - `"bridge"`: two halves that only one node in the middle still connects
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionSpec {
    Groups(Vec<Vec<NodeId>>),
    Isolate(Target),
    /// One node (resolved when applied) and the given nodes on one side, the rest on the other.
    IsolateWith(Target, Vec<NodeId>),
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
        if let Some(rest) = spec.strip_prefix("isolate:") {
            let mut parts = rest.split('+');
            let target = Target::parse(parts.next().unwrap_or("").trim())?;
            let with = parts
                .map(|id| {
                    id.trim().parse::<NodeId>().map_err(|_| {
                        format!("bad partition {spec:?}: {:?} is not a node id (expected isolate:leader+6)", id.trim())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if with.is_empty() {
                PartitionSpec::Isolate(target)
            } else {
                PartitionSpec::IsolateWith(target, with)
            });
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
            PartitionSpec::Isolate(Target::LastKilled) | PartitionSpec::IsolateWith(Target::LastKilled, _) => {
                Err("isolate:last_killed makes no sense".into())
            }
            PartitionSpec::IsolateWith(target, with) => {
                if let Target::Id(id) = target {
                    check(id)?;
                }
                with.iter().try_for_each(check)
            }
            _ => Ok(()),
        }
    }

    /// The directed links this partition cuts among `nodes`, given the current leader and the
    /// run's RNG (for the random shapes).
    pub fn cut(&self, nodes: &[NodeId], leader: Option<NodeId>, rng: &mut impl Rng) -> Result<Cut, String> {
        let groups: Vec<Vec<NodeId>> = match self {
            PartitionSpec::Groups(groups) => groups.clone(),
            PartitionSpec::Isolate(target) | PartitionSpec::IsolateWith(target, _) => {
                let alone = match target {
                    Target::Id(id) => *id,
                    Target::Leader => leader.ok_or_else(|| format!("{self}, but the live nodes agree on no leader"))?,
                    Target::Random => *nodes.choose(rng).ok_or("no nodes")?,
                    Target::LastKilled => return Err("isolate:last_killed makes no sense".into()),
                };
                let mut side = vec![alone];
                if let PartitionSpec::IsolateWith(_, with) = self {
                    side.extend(with.iter().copied().filter(|n| *n != alone));
                }
                let rest = nodes.iter().copied().filter(|n| !side.contains(n)).collect();
                vec![side, rest]
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
            PartitionSpec::IsolateWith(t, with) => {
                write!(f, "isolate:{t}")?;
                with.iter().try_for_each(|id| write!(f, "+{id}"))
            }
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
        let with = PartitionSpec::parse("isolate:leader+6").unwrap();
        assert_eq!(with.to_string(), "isolate:leader+6");
        let cut = with.cut(&[1, 2, 3, 4, 5, 6, 7], Some(2), &mut rng()).unwrap();
        assert!(!cut.contains(&(2, 6)) && !cut.contains(&(6, 2)), "the leader keeps node 6");
        assert!(cut.contains(&(2, 1)) && cut.contains(&(6, 7)) && !cut.contains(&(1, 7)));
        assert_eq!(cut.len(), 2 * 2 * 5);
        assert!(PartitionSpec::parse("isolate:leader+x").unwrap_err().contains("\"x\""));
        assert!(with.cut(&[1, 2, 6], None, &mut rng()).unwrap_err().contains("isolate:leader+6, but"));
        let ring = PartitionSpec::parse("majorities-ring").unwrap().cut(&nodes, None, &mut rng()).unwrap();
        for n in nodes {
            let sees = nodes.iter().filter(|m| **m == n || !ring.contains(&(n, **m))).count();
            assert_eq!(sees, 3, "node {n} sees a majority of 5");
        }
        let bridge = PartitionSpec::parse("bridge").unwrap().cut(&nodes, None, &mut rng()).unwrap();
        assert!(bridge.iter().all(|(a, b)| *a != 3 && *b != 3), "node 3 is the bridge: {bridge:?}");
        assert!(bridge.contains(&(1, 4)));
    }
}

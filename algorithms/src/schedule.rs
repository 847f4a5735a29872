//! Faults scheduled by an experiment file, shared by the real orchestrator and the simulator so
//! that one `[[faults]]` list means the same thing in `orchestrator run` and `orchestrator sim`.

use crate::process::{NodeId, Status};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// One `[[faults]]` entry: at time `at` (since the run started), do `action`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultSpec {
    /// SIGKILL the node (a crash in the simulator).
    Kill {
        #[serde(with = "humantime_serde")]
        at: Duration,
        node: Target,
    },
    /// Start a killed node again with the same id and data directory.
    Restart {
        #[serde(with = "humantime_serde")]
        at: Duration,
        node: Target,
    },
    /// Cut every link between nodes of different groups, e.g. `groups = "1,2|3,4,5"`.
    Partition {
        #[serde(with = "humantime_serde")]
        at: Duration,
        groups: Groups,
    },
    /// Remove every partition.
    Heal {
        #[serde(with = "humantime_serde")]
        at: Duration,
    },
}

impl FaultSpec {
    pub fn at(&self) -> Duration {
        match self {
            FaultSpec::Kill { at, .. }
            | FaultSpec::Restart { at, .. }
            | FaultSpec::Partition { at, .. }
            | FaultSpec::Heal { at } => *at,
        }
    }

    /// Checks ids against the cluster size before anything starts.
    pub fn validate(&self, nodes: usize) -> Result<(), String> {
        let check = |id: NodeId| {
            if id == 0 || id as usize > nodes {
                Err(format!("node {id} does not exist (nodes are 1..={nodes})"))
            } else {
                Ok(())
            }
        };
        match self {
            FaultSpec::Kill { node: Target::Id(id), .. } | FaultSpec::Restart { node: Target::Id(id), .. } => {
                check(*id)
            }
            FaultSpec::Partition { groups, .. } => groups.0.iter().flatten().try_for_each(|id| check(*id)),
            _ => Ok(()),
        }
    }
}

/// Which node a process fault hits: a fixed id, the current leader, or the node killed last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Id(NodeId),
    Leader,
    LastKilled,
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Id(id) => s.serialize_u32(*id),
            Target::Leader => s.serialize_str("leader"),
            Target::LastKilled => s.serialize_str("last_killed"),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Target;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a node id, "leader" or "last_killed""#)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Target, E> {
                NodeId::try_from(v).map(Target::Id).map_err(|_| E::custom(format!("node id {v} is too large")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Target, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("node id {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Target, E> {
                match v {
                    "leader" => Ok(Target::Leader),
                    "last_killed" => Ok(Target::LastKilled),
                    other => other
                        .parse::<u64>()
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self))
                        .and_then(|n| self.visit_u64(n)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Partition groups, written `"1,2|3,4,5"` or as a list of lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Groups(pub Vec<Vec<NodeId>>);

impl Groups {
    pub fn parse(spec: &str) -> Result<Groups, String> {
        let groups = spec
            .split('|')
            .map(|group| {
                group
                    .split(',')
                    .map(|id| {
                        id.trim().parse::<NodeId>().map_err(|_| {
                            format!("bad node id {:?} in partition {spec:?} (expected e.g. \"1,2|3,4,5\")", id.trim())
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::BTreeSet::new();
        for id in groups.iter().flatten() {
            if !seen.insert(*id) {
                return Err(format!("node {id} appears twice in partition {spec:?}"));
            }
        }
        Ok(Groups(groups))
    }

    /// Whether a message may travel from `a` to `b` under this partition.
    pub fn connects(&self, a: NodeId, b: NodeId) -> bool {
        self.0.iter().any(|g| g.contains(&a) && g.contains(&b))
    }
}

impl Serialize for Groups {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self
            .0
            .iter()
            .map(|g| g.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join("|");
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Lists(Vec<Vec<NodeId>>),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => Groups::parse(&s).map_err(de::Error::custom),
            Raw::Lists(l) => Groups::parse(
                &l.iter()
                    .map(|g| g.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","))
                    .collect::<Vec<_>>()
                    .join("|"),
            )
            .map_err(de::Error::custom),
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

    #[test]
    fn groups_parse_and_reject_nonsense() {
        let g = Groups::parse("1,2|3,4,5").unwrap();
        assert!(g.connects(1, 2) && g.connects(3, 5) && !g.connects(2, 3));
        assert!(Groups::parse("1,x|2").unwrap_err().contains("\"x\""));
        assert!(Groups::parse("1,2|2").unwrap_err().contains("twice"));
    }

    #[test]
    fn fault_specs_read_from_toml_like_values() {
        let spec: FaultSpec =
            serde_json::from_value(serde_json::json!({"action": "kill", "at": "3s", "node": "leader"})).unwrap();
        assert_eq!(spec, FaultSpec::Kill { at: Duration::from_secs(3), node: Target::Leader });
        let err =
            serde_json::from_value::<FaultSpec>(serde_json::json!({"action": "kill", "at": "3s", "node": "boss"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("boss"), "{err}");
    }
}

//! Which node a process fault hits, and who "the leader" is when a fault aims at it.

use crate::core::process::{NodeId, Status};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// Which node a process fault hits: a fixed id, the current leader, the node killed last, or
/// one drawn from the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Id(NodeId),
    /// `"leader"`: the node the live nodes name in their status ([`agreed_leader`]), asked when
    /// the fault is applied. For an election that is its leader. For mutual exclusion it is the
    /// node a failure hurts most: the coordinator (`central`), or a token holder (`suzuki-kasami`,
    /// `token-ring`: each holder names itself; with tokens of several resources, the highest id
    /// holding one). Lamport, Ricart–Agrawala and Maekawa have no such node, so a fault aimed at
    /// `leader` is refused ("the live nodes agree on no leader"). The key keeps its name so that
    /// experiment files keep working.
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

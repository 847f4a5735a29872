//! One `[[faults]]` entry and the action it names: the vocabulary every way of injecting faults
//! (schedule, nemesis, live CLI) speaks.

use super::{CutMode, LinkSpec, PartitionSpec, Target};
use crate::core::process::NodeId;
use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;
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
    /// A transient fault: the node's algorithm sets its state to arbitrary values. Only
    /// algorithms that opt in ([`crate::Process::on_corrupt`]) accept it; others refuse with an
    /// error naming the algorithm.
    Corrupt { node: Target },
    /// Operator input to the node's algorithm instance, as `orchestrator cmd` gives it (e.g.
    /// `args = ["add-server", "6"]` for Raft at `node = "leader"`); `{node}` in an argument
    /// stands for the node it goes to (`["remove-server", "{node}"]`: the leader removes itself).
    /// A command the algorithm refuses is recorded with its answer, and is a problem of the run,
    /// not a crash.
    Command { node: Target, args: Vec<String> },
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
            Action::Restart { .. }
            | Action::Resume { .. }
            | Action::Heal
            | Action::Corrupt { .. }
            | Action::Command { .. } => None,
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
            Action::Kill { node }
            | Action::Restart { node }
            | Action::Pause { node }
            | Action::Resume { node }
            | Action::Corrupt { node } => target(node),
            Action::Drift { node, rate } => {
                target(node)?;
                if !(rate.is_finite() && *rate > 0.0) {
                    return Err(format!("rate {rate} must be above 0 (1.0 is true time)"));
                }
                Ok(())
            }
            Action::Partition { groups, .. } => groups.validate(nodes),
            Action::Heal => Ok(()),
            Action::Command { node, args } => {
                target(node)?;
                if args.is_empty() {
                    return Err("args: a command needs at least one word, e.g. [\"add-server\", \"6\"]".into());
                }
                Ok(())
            }
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

/// Why a `corrupt` fault cannot hit an algorithm that does not opt in: the same words from
/// every host.
pub fn unsupported_corrupt(algorithm: &str) -> String {
    format!("{algorithm} does not support the corrupt fault (only self-stabilizing algorithms such as dijkstra-ring opt in)")
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

#[cfg(test)]
mod tests {
    use super::*;

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

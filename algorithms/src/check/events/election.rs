//! The events every leader election records, which the shared checks in
//! [`crate::check::election`] and the leader views of [`crate::check::LeaderViews`] read
//! (re-exported as `crate::election::event`).
//!
//! Each carries the fields all algorithms write, and optional ones that only some write (left
//! out of the trace when unset): Raft adds its `term`, the lease its `transitions`, the randomized
//! election its `round`. On a trace line:
//!
//! ```text
//! election_started {}                       bully; rings add "initiator", Raft "term" and "pre_vote"
//! elected          {"leader": 3}            the node won; Raft adds "term" and "votes", an
//!                                           election by attribute the winner's "attribute"
//! leader           {"leader": 3}            the node's view of the leader changed
//! leader_lost      {"leader": 3, "reason": "no heartbeat"}
//! ```

use crate::check::election::Attributes;
use crate::core::event::Event;
use crate::core::process::NodeId;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum ElectionEvent {
    /// The node calls or joins an election.
    ElectionStarted(Started),
    /// The node won an election.
    Elected(Elected),
    /// The node's view of the leader changed to `leader` (itself included).
    Leader(LeaderView),
    /// The node stopped believing in a leader.
    LeaderLost(LeaderLost),
}

impl Event for ElectionEvent {}

impl ElectionEvent {
    pub fn started() -> Self {
        ElectionEvent::ElectionStarted(Started::default())
    }

    pub fn elected(leader: NodeId) -> Self {
        ElectionEvent::Elected(Elected { leader, ..Elected::default() })
    }

    /// A win in an election by attribute: carries the winner's attribute, when the run has any
    /// (without, a plain [`ElectionEvent::elected`]: the trace lines stay as they were).
    pub fn elected_by(leader: NodeId, attributes: &Attributes) -> Self {
        let attribute = (!attributes.is_empty()).then(|| attributes.of(leader));
        ElectionEvent::Elected(Elected { leader, attribute, ..Elected::default() })
    }

    pub fn leader(leader: NodeId) -> Self {
        ElectionEvent::Leader(LeaderView { leader, ..LeaderView::default() })
    }

    pub fn leader_lost(leader: NodeId, reason: &str) -> Self {
        ElectionEvent::LeaderLost(LeaderLost { leader, reason: reason.into(), term: None })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// Rings and the randomized election: whether this node called the election (or joined one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<bool>,
    /// Raft: the term stood for (the next one, for a pre-vote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// Raft: whether this is the pre-vote phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_vote: Option<bool>,
    /// The randomized election's round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Elected {
    pub leader: NodeId,
    /// Raft: the term won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// Raft: who voted for the winner, itself included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<NodeId>>,
    /// An election by attribute: the winner's attribute, what it was elected by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<u64>,
    /// The lease: the record's transitions counter after the takeover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<u64>,
    /// The randomized election: the round won ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u64>,
    /// ... the winning draw ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u32>,
    /// ... and how many draws the winner had received, its own included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaderView {
    pub leader: NodeId,
    /// Raft: the leader's term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    /// The randomized election: the round the leader won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u64>,
}

/// Every field may be missing when read back: a `leader_lost` means "no leader" whatever it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaderLost {
    #[serde(default)]
    pub leader: NodeId,
    #[serde(default)]
    pub reason: String,
    /// Raft: the term in which the leader was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_the_trace_lines_they_always_were() {
        let cases = [
            (ElectionEvent::started(), "election_started", json!({})),
            (
                ElectionEvent::ElectionStarted(Started { term: Some(2), pre_vote: Some(true), ..Started::default() }),
                "election_started",
                json!({ "term": 2, "pre_vote": true }),
            ),
            (ElectionEvent::elected(3), "elected", json!({ "leader": 3 })),
            (
                ElectionEvent::Elected(Elected {
                    leader: 3,
                    term: Some(4),
                    votes: Some(vec![1, 3]),
                    ..Elected::default()
                }),
                "elected",
                json!({ "leader": 3, "term": 4, "votes": [1, 3] }),
            ),
            (ElectionEvent::leader(5), "leader", json!({ "leader": 5 })),
            (
                ElectionEvent::leader_lost(5, "no heartbeat"),
                "leader_lost",
                json!({ "leader": 5, "reason": "no heartbeat" }),
            ),
        ];
        for (event, name, data) in cases {
            assert_eq!(event.to_parts(), (name.to_string(), data.clone()));
            assert_eq!(ElectionEvent::from_parts(name, &data), Some(event));
        }
    }

    #[test]
    fn reading_back_takes_what_it_needs_and_no_more() {
        // Extra fields (another algorithm's) are ignored; a leader_lost needs nothing.
        let leader = ElectionEvent::from_parts("leader", &json!({ "leader": 2, "epoch": 9 }));
        assert_eq!(leader, Some(ElectionEvent::leader(2)));
        assert!(matches!(ElectionEvent::from_parts("leader_lost", &json!({})), Some(ElectionEvent::LeaderLost(_))));
        // A leader event without its leader, or another family's event, is not one.
        assert_eq!(ElectionEvent::from_parts("leader", &json!({})), None);
        assert_eq!(ElectionEvent::from_parts("enter_cs", &json!({ "resource": "printer" })), None);
    }
}

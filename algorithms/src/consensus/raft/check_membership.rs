//! The membership check: Raft's majorities judged against the configuration each leader was
//! using (thesis §4.1), and the two rules of single-server changes.
//!
//! One pass over the records follows, per server, its log (`log_restored`, `appended`,
//! `truncated`; an index a restart left unknown may hold anything), its commit index, the
//! configuration in force (`config` events; before any, every server of the run) and the term it
//! leads. A run with no `config` event never had its configuration in question: the two change
//! rules are then `not_promised`, and majorities are of all servers.

use super::event::RaftEvent;
use crate::check::{EventRef, Execution, PropertyInfo, PropertyResult};
use crate::core::process::NodeId;
use crate::core::trace::What;
use crate::election::raft::RaftEvent as TermEvent;
use crate::election::ElectionEvent;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: "configuration_quorums",
            promise: "every leader is elected by, and commits each entry with, a majority of the configuration it uses",
        },
        PropertyInfo {
            name: "one_change_at_a_time",
            promise: "no leader appends a configuration while an earlier one of its log is uncommitted",
        },
        PropertyInfo {
            name: "removed_leader_steps_down",
            promise: "a leader outside its committed configuration stops leading",
        },
    ]
}

#[derive(Clone, Default)]
struct Server {
    /// (term, digest) per index from 1; `None` where a restart left it unknown.
    log: Vec<Option<(u64, String)>>,
    commit: u64,
    config_index: u64,
    members: BTreeSet<NodeId>,
    leading: Option<u64>,
    /// A leader whose removal committed, since when: it must step down before leading on.
    removed: Option<(EventRef, f64)>,
}

impl Server {
    fn slot(&self, index: u64) -> Option<&Option<(u64, String)>> {
        index.checked_sub(1).and_then(|i| self.log.get(i as usize))
    }

    fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }
}

/// First violation, or how many cases held.
#[derive(Default)]
struct Tally {
    judged: usize,
    violation: Option<(String, Vec<EventRef>)>,
}

impl Tally {
    fn violate(&mut self, detail: String, evidence: Vec<EventRef>) {
        self.violation.get_or_insert((detail, evidence));
    }

    fn result(self, name: &str, what: &str, held: String) -> PropertyResult {
        match self.violation {
            Some((detail, evidence)) => PropertyResult::violated(name, detail, evidence),
            None => PropertyResult::held(name, self.judged, what, held),
        }
    }
}

/// The three membership properties, in [`properties`] order.
pub fn check_membership(run: &Execution) -> Vec<PropertyResult> {
    let everyone: BTreeSet<NodeId> = run.nodes.iter().copied().collect();
    let fresh = Server { members: everyone.clone(), ..Server::default() };
    let mut servers: BTreeMap<NodeId, Server> = run.nodes.iter().map(|n| (*n, fresh.clone())).collect();
    let (mut quorums, mut one_change, mut steps_down) = (Tally::default(), Tally::default(), Tally::default());
    let (mut elections, mut commits) = (0usize, 0usize);
    let mut changed = false;

    for r in &run.records {
        let here = EventRef::of(r);
        let node = r.node;
        if !servers.contains_key(&node) {
            continue;
        }
        if let What::Start { .. } = r.what {
            let s = servers.get_mut(&node).expect("a server");
            (s.commit, s.leading, s.removed) = (0, None, None);
            continue;
        }
        if let What::Send { msg_type, .. } = &r.what {
            let s = &servers[&node];
            if let (Some((since, at)), true) = (&s.removed, msg_type == "append_entries") {
                steps_down.violate(
                    format!(
                        "node {node}, leader of term {}, committed its removal (configuration {:?} at index {}) at {at:.0} ms and went on leading: it sent append_entries at {:.0} ms",
                        s.leading.unwrap_or_default(), s.members, s.config_index, run.ms(r.t)
                    ),
                    vec![since.clone(), here.clone()],
                );
            }
            continue;
        }
        if let Some(event) = r.event_as::<ElectionEvent>() {
            let s = servers.get_mut(&node).expect("a server");
            match event {
                ElectionEvent::Elected(e) => {
                    s.leading = e.term;
                    let (Some(term), Some(votes)) = (e.term, e.votes) else { continue };
                    elections += 1;
                    quorums.judged += 1;
                    let counted = votes.iter().filter(|v| s.members.contains(v)).count();
                    if counted < s.majority() {
                        quorums.violate(
                            format!(
                                "node {node} was elected in term {term} by {votes:?}: {counted} of its configuration {:?} (index {}), which needs {}",
                                s.members, s.config_index, s.majority()
                            ),
                            vec![here],
                        );
                    }
                }
                ElectionEvent::LeaderLost(lost) if lost.leader == node && s.leading.is_some() => {
                    if s.removed.take().is_some() {
                        steps_down.judged += 1;
                    }
                    s.leading = None;
                }
                _ => {}
            }
            continue;
        }
        if let Some(TermEvent::Term { term, .. }) = r.event_as::<TermEvent>() {
            let s = servers.get_mut(&node).expect("a server");
            if s.leading.is_some_and(|l| l < term) {
                s.leading = None;
                s.removed = None; // deposed by a higher term: it stopped leading
            }
            continue;
        }
        let Some(event) = r.event_as::<RaftEvent>() else { continue };
        match event {
            RaftEvent::LogRestored { last_index, .. } => {
                servers.get_mut(&node).expect("a server").log.resize(last_index as usize, None);
            }
            RaftEvent::Appended(id) => {
                let s = servers.get_mut(&node).expect("a server");
                s.log.resize(id.index.saturating_sub(1) as usize, None);
                s.log.push(Some((id.term, id.digest)));
            }
            RaftEvent::Truncated { from, .. } => {
                let s = servers.get_mut(&node).expect("a server");
                s.log.truncate(from.saturating_sub(1) as usize);
            }
            // The covered slots become unknown but the last (as in the main checker); the
            // configuration the snapshot carries is traced as `config` after it.
            RaftEvent::SnapshotInstalled { snapshot, .. } | RaftEvent::SnapshotRestored(snapshot) => {
                super::check::cover(&mut servers.get_mut(&node).expect("a server").log, &snapshot);
            }
            RaftEvent::SnapshotTaken(_) | RaftEvent::Transfer { .. } => {} // compaction deletes no entry
            RaftEvent::Config { index, members } => {
                changed = true;
                let s = servers.get_mut(&node).expect("a server");
                if let Some(term) = s.leading.filter(|_| index > s.config_index && index == s.log.len() as u64) {
                    one_change.judged += 1;
                    if s.config_index > s.commit {
                        one_change.violate(
                            format!(
                                "node {node}, leader of term {term}, appended the configuration {members:?} at index {index} while the configuration {:?} at index {} of its log was not committed (its commit index {})",
                                s.members, s.config_index, s.commit
                            ),
                            vec![here.clone()],
                        );
                    }
                }
                (s.config_index, s.members) = (index, members.into_iter().collect());
                note_removal(node, s, &here, run.ms(r.t));
            }
            RaftEvent::Committed { index, .. } => {
                let leader = &servers[&node];
                if let (Some(term), Some(Some(entry))) = (leader.leading, leader.slot(index).cloned()) {
                    commits += 1;
                    quorums.judged += 1;
                    let holders: Vec<NodeId> = (leader.members.iter().copied())
                        .filter(|m| {
                            servers
                                .get(m)
                                .and_then(|o| o.slot(index))
                                .is_some_and(|s| s.as_ref().is_none_or(|e| *e == entry))
                        })
                        .collect();
                    if holders.len() < leader.majority() {
                        quorums.violate(
                            format!(
                                "node {node}, leader of term {term}, committed index {index} (term {}) held by {holders:?} only: not a majority of its configuration {:?} (index {})",
                                entry.0, leader.members, leader.config_index
                            ),
                            vec![here.clone()],
                        );
                    }
                }
                let s = servers.get_mut(&node).expect("a server");
                s.commit = s.commit.max(index);
                note_removal(node, s, &here, run.ms(r.t));
            }
            RaftEvent::AppliedEntry(_) => {}
        }
    }

    let quorums = quorums.result(
        "configuration_quorums",
        "election or commitment by a leader",
        format!(
            "{elections} election(s) and {commits} commitment(s), each by a majority of the leader's configuration"
        ),
    );
    if !changed {
        let why = "the configuration never changed in this run (no spare servers, no configuration entry)";
        return vec![
            quorums,
            PropertyResult::not_promised("one_change_at_a_time", why),
            PropertyResult::not_promised("removed_leader_steps_down", why),
        ];
    }
    let (appended, stepped) = (one_change.judged, steps_down.judged);
    vec![
        quorums,
        one_change.result(
            "one_change_at_a_time",
            "configuration appended by a leader",
            format!("{} configuration(s) appended by leaders, each after the one before had committed", appended),
        ),
        steps_down.result(
            "removed_leader_steps_down",
            "leader whose removal committed",
            format!("{} leader(s) whose removal committed stepped down before leading on", stepped),
        ),
    ]
}

/// A leader outside its configuration, with that configuration committed, must step down next.
fn note_removal(node: NodeId, s: &mut Server, here: &EventRef, ms: f64) {
    let out = s.config_index > 0 && !s.members.contains(&node) && s.commit >= s.config_index;
    if s.leading.is_some() && out && s.removed.is_none() {
        s.removed = Some((here.clone(), ms));
    }
}

//! Single-server membership changes (Ongaro's thesis §4.1–4.2), the rules as the thesis states
//! them:
//! - **A configuration is a log entry** ([`Op::Config`]). Each server uses the latest
//!   configuration in its log, committed or not, from the moment the entry is appended (and goes
//!   back to the one before when a conflicting suffix is deleted); before any, the initial one.
//! - **Majorities are of the configuration in force**: votes and replicas count only from its
//!   members, a server outside it counting not even itself.
//! - **One change at a time**: a leader accepts `add-server` / `remove-server` only once its
//!   previous configuration entry is committed, and only after it has committed an entry of its
//!   own term (the fix found after the thesis: otherwise two overlapping changes from leaders of
//!   different terms can leave two disjoint majorities). Configurations that differ by one server
//!   always share a majority, so one change at a time keeps one leader per term.
//! - **A server outside its configuration never starts an election** (a spare, or a removed
//!   server); it still answers AppendEntries, so that a server being added can catch up.
//! - **A removed leader keeps leading until its removal commits** (it replicates and commits
//!   without counting itself), then steps down.
//! - **Removed servers do not disrupt** (§4.2.3): once membership changes are in play (spare
//!   servers, or a configuration entry in the log), a server that heard from a leader less than
//!   the minimum election timeout ago, and a leader, ignore RequestVote: neither the term nor the
//!   vote changes. (With `read = "lease"` followers keep this rule always; the lease rests on it.)
//!
//! Cost: a change is one log entry, replicated like any other: 2(N−1) messages with a stable
//! leader, N the size of the new configuration.

use super::log::{Log, Op};
use super::{RaftEvent, RaftMsg, RaftServer, RaftTimer, Role};
use crate::core::process::{Ctx, NodeId};
use crate::service::{Outcome, Reply};
use std::collections::BTreeSet;

/// The reason of the `leader_lost` a leader traces when its removal commits.
pub const REMOVED: &str = "removed from the configuration";

/// The configuration a server uses: where its log sets it (0: the initial one) and its members.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Config {
    pub index: u64,
    pub members: BTreeSet<NodeId>,
}

impl Config {
    /// The latest configuration entry of `log` up to `upto`, committed or not; `base` (the
    /// snapshot's, else the initial one) when it holds none.
    pub fn of(log: &Log, upto: u64, base: &Config) -> Config {
        (log.offset() + 1..=upto.min(log.last_index()))
            .rev()
            .find_map(|i| match &log.get(i)?.op {
                Op::Config { members } => Some(Config { index: i, members: members.iter().copied().collect() }),
                _ => None,
            })
            .unwrap_or_else(|| base.clone())
    }

    pub fn majority(&self) -> usize {
        self.members.len() / 2 + 1
    }

    pub fn has(&self, id: NodeId) -> bool {
        self.members.contains(&id)
    }

    /// Whether the members among `ids` are a majority of this configuration.
    pub fn is_quorum<'a>(&self, ids: impl IntoIterator<Item = &'a NodeId>) -> bool {
        ids.into_iter().filter(|id| self.has(**id)).count() >= self.majority()
    }
}

/// An operator's change: `add-server N` or `remove-server N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Add(NodeId),
    Remove(NodeId),
}

impl Change {
    /// Reads `["add-server", "6"]`; `None` for a command that is not a membership change.
    pub fn parse(args: &[String]) -> Option<Result<Change, String>> {
        let verb = args.first()?.as_str();
        let make: fn(NodeId) -> Change = match verb {
            "add-server" => Change::Add,
            "remove-server" => Change::Remove,
            _ => return None,
        };
        Some(match args {
            [_, id] => id.parse().map(make).map_err(|_| format!("{verb}: {id:?} is not a node id")),
            _ => Err(format!("{verb} takes one node id, e.g. `{verb} 4`")),
        })
    }

    /// The members after this change, or why it makes no sense for `current`.
    fn apply(self, current: &BTreeSet<NodeId>) -> Result<BTreeSet<NodeId>, String> {
        let mut members = current.clone();
        match self {
            Change::Add(id) if !members.insert(id) => Err(format!("node {id} is already in the configuration")),
            Change::Remove(id) if !members.remove(&id) => Err(format!("node {id} is not in the configuration")),
            Change::Remove(_) if members.is_empty() => Err("the last server cannot be removed".into()),
            _ => Ok(members),
        }
    }
}

impl RaftServer {
    /// Whether single-server changes are in play: spare servers outside the initial
    /// configuration, or a configuration entry in the log. Only then does the §4.2.3 rule hold
    /// back votes (a cluster that never changes keeps Figure 2's rules exactly).
    pub(super) fn membership_in_play(&self, ctx: &Ctx<RaftTimer>) -> bool {
        self.config.index > 0 || self.initial.len() < ctx.cluster_size()
    }

    /// After any change to the log: the configuration in force is the latest in the log; a change
    /// is traced as `config`.
    pub(super) fn refresh_config(&mut self, ctx: &mut Ctx<RaftTimer>) {
        let config = Config::of(self.log(), self.log().last_index(), &self.base_config());
        if config != self.config {
            self.config = config;
            self.trace_config(ctx);
        }
    }

    pub(super) fn trace_config(&self, ctx: &mut Ctx<RaftTimer>) {
        let members = self.config.members.iter().copied().collect();
        ctx.emit(&RaftEvent::Config { index: self.config.index, members });
    }

    /// `add-server N` / `remove-server N` at the leader: the new configuration is appended (and
    /// in force at once). Elsewhere, or while a change is pending, an error that says why.
    pub(super) fn change_membership(&mut self, ctx: &mut Ctx<RaftTimer>, change: Change) -> Result<String, String> {
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        let id = match change {
            Change::Add(id) | Change::Remove(id) => id,
        };
        if id != self.me && !ctx.peers().contains(&id) {
            return Err(format!(
                "node {id} is not a server of this cluster (servers: {:?} and {})",
                ctx.peers(),
                self.me
            ));
        }
        if !self.committed_own_term() {
            return Err(format!(
                "no entry of term {} is committed yet (a leader changes the configuration only after committing one of its own term)",
                self.term()
            ));
        }
        if self.config.index > self.commit_index {
            return Err(format!(
                "the configuration at index {} is not committed yet (one change at a time)",
                self.config.index
            ));
        }
        let members = change.apply(&self.config.members)?;
        let listed: Vec<NodeId> = members.iter().copied().collect();
        self.append(ctx, Op::Config { members: listed.clone() });
        Ok(format!("configuration {listed:?} appended at index {} in term {}", self.log().last_index(), self.term()))
    }

    /// Why a command for the leader is refused here.
    pub(super) fn not_leader(&self) -> String {
        match self.leader {
            Some(leader) => format!("not the leader: node {leader} leads term {}", self.term()),
            None => format!("not the leader, and no leader is known in term {}", self.term()),
        }
    }

    /// A leader whose removal is committed steps down; it stays outside the configuration, so it
    /// never stands again.
    pub(super) fn step_down_if_removed(&mut self, ctx: &mut Ctx<RaftTimer>) {
        if self.role == Role::Leader && !self.config.has(self.me) && self.config.index <= self.commit_index {
            self.role = Role::Follower;
            self.lose_leader(ctx, REMOVED);
            self.leave_leadership(ctx);
        }
    }

    /// A former leader cancels its heartbeat, restarts its election timer, and tells the clients
    /// whose reads were waiting that it no longer leads.
    pub(super) fn leave_leadership(&mut self, ctx: &mut Ctx<RaftTimer>) {
        ctx.cancel_timer(RaftTimer::Heartbeat);
        if self.transfer.take().is_some() {
            ctx.cancel_timer(RaftTimer::Transfer);
        }
        self.reset_election_timer(ctx);
        for read in std::mem::take(&mut self.reads) {
            let reply = Reply { seq: read.request.seq, outcome: Outcome::NotLeader { leader: None } };
            ctx.send(read.request.client, &RaftMsg::Reply(reply));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::raft::log::Entry;

    #[test]
    fn the_latest_configuration_entry_is_in_force_committed_or_not() {
        let initial: BTreeSet<NodeId> = [1, 2, 3].into();
        let config = |members: &[NodeId]| Entry { term: 1, op: Op::Config { members: members.to_vec() } };
        let noop = Entry { term: 1, op: Op::Noop };
        let initial = Config { index: 0, members: initial };
        assert_eq!(Config::of(&Log::default(), 0, &initial), initial);
        let log = Log::from_entries(vec![noop.clone(), config(&[1, 2, 3, 4]), noop, config(&[2, 3, 4])]);
        assert_eq!(Config::of(&log, 4, &initial), Config { index: 4, members: [2, 3, 4].into() });
        assert_eq!(Config::of(&log, 3, &initial), Config { index: 2, members: [1, 2, 3, 4].into() });
        let mut compacted = log.clone();
        compacted.compact(2);
        assert_eq!(
            Config::of(&compacted, 3, &initial),
            initial,
            "a compacted configuration entry counts only through the base (the snapshot's)"
        );
        let c = Config::of(&log, 9, &initial);
        assert_eq!(c.majority(), 2);
        assert!(c.is_quorum(&[1, 2, 3]) && !c.is_quorum(&[1, 5, 2]), "only members count");
    }

    #[test]
    fn changes_parse_and_refuse_what_makes_no_sense() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Change::parse(&args(&["add-server", "6"])), Some(Ok(Change::Add(6))));
        assert_eq!(Change::parse(&args(&["remove-server", "2"])), Some(Ok(Change::Remove(2))));
        assert!(Change::parse(&args(&["add-server", "x"])).unwrap().unwrap_err().contains("\"x\" is not a node id"));
        assert!(Change::parse(&args(&["add-server"])).unwrap().is_err());
        assert_eq!(Change::parse(&args(&["elect"])), None);
        let members: BTreeSet<NodeId> = [1, 2].into();
        assert_eq!(Change::Add(3).apply(&members), Ok([1, 2, 3].into()));
        assert_eq!(Change::Add(2).apply(&members), Err("node 2 is already in the configuration".into()));
        assert_eq!(Change::Remove(5).apply(&members), Err("node 5 is not in the configuration".into()));
        assert_eq!(Change::Remove(1).apply(&[1].into()), Err("the last server cannot be removed".into()));
    }
}

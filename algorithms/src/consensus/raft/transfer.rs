//! Leadership transfer (Ongaro's thesis §3.10), the rules as the thesis states them:
//! - **The leader** given `transfer-leadership M` (M a member of its configuration) stops
//!   accepting client commands, brings M's log up to date with AppendEntries as usual, and once
//!   M's matchIndex is its last index sends M a TimeoutNow.
//! - **M**, on a TimeoutNow of its term, starts an election at once, without waiting for its
//!   election timeout; its RequestVote is flagged, so that voters that heard the leader within
//!   the minimum election timeout hear it anyway (§4.2.3 is for disruptive servers, and this one
//!   was asked). M's term is higher, so the old leader steps down on its RequestVote.
//! - **Giving up.** If no election has deposed it an election timeout (the maximum) after the
//!   transfer began, the leader takes client commands again.
//!
//! Cost: the AppendEntries that bring M up (none if it is), one TimeoutNow, then an election:
//! 2(N−1) messages.

use super::event::RaftEvent;
use super::{RaftMsg, RaftServer, RaftTimer, Role};
use crate::core::process::{Ctx, NodeId, MS};

impl RaftServer {
    /// `transfer-leadership M` at the leader.
    pub(super) fn transfer_leadership(&mut self, ctx: &mut Ctx<RaftTimer>, args: &[String]) -> Result<String, String> {
        let to: NodeId = match args {
            [_, id] => id.parse().map_err(|_| format!("transfer-leadership: {id:?} is not a node id"))?,
            _ => return Err("transfer-leadership takes one node id, e.g. `transfer-leadership 2`".into()),
        };
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        if to == self.me {
            return Ok(format!("node {to} already leads term {}", self.term()));
        }
        if !self.config.has(to) {
            return Err(format!("node {to} is not in the configuration {:?}: it cannot lead", self.config.members));
        }
        if let Some((other, _)) = self.transfer {
            return Err(format!("a transfer to node {other} is under way"));
        }
        self.transfer = Some((to, false));
        ctx.emit(&RaftEvent::Transfer { to, outcome: "started".into() });
        ctx.set_timer(RaftTimer::Transfer, self.params.election_timeout_max_ms * MS);
        if !self.timeout_now_if_caught_up(ctx) {
            let next = self.next_index[&to];
            self.send_append(ctx, to, next, self.params.max_batch);
        }
        Ok(format!("transferring the leadership of term {} to node {to}", self.term()))
    }

    /// TimeoutNow to the transfer's target once its log matches the leader's; whether it went.
    pub(super) fn timeout_now_if_caught_up(&mut self, ctx: &mut Ctx<RaftTimer>) -> bool {
        let Some((to, false)) = self.transfer else { return false };
        if self.match_index.get(&to).copied().unwrap_or(0) < self.log().last_index() {
            return false;
        }
        self.transfer = Some((to, true));
        ctx.send(to, &RaftMsg::TimeoutNow { term: self.term() });
        true
    }

    /// The transfer's time is up and this server still leads: it takes commands again.
    pub(super) fn abandon_transfer(&mut self, ctx: &mut Ctx<RaftTimer>) {
        if let Some((to, _)) = self.transfer.take().filter(|_| self.role == Role::Leader) {
            ctx.emit(&RaftEvent::Transfer { to, outcome: "gave up".into() });
        }
    }

    pub(super) fn on_timeout_now(&mut self, ctx: &mut Ctx<RaftTimer>, from: NodeId, term: u64) {
        self.observe_term(ctx, term, from);
        if term != self.term() || self.role == Role::Leader || !self.config.has(self.me) {
            return; // a stale one, or nothing to stand for
        }
        self.lose_leader(ctx, "leadership transfer");
        self.start_election(ctx, true);
    }
}

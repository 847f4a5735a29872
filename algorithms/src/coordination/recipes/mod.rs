//! The coordination service's recipes (Hunt et al., USENIX ATC 2010, §2.4; the course's
//! "Cluster Coordination Service"): client programs built from znode operations and watches, each
//! an algorithm of its own whose servers are the `coordination` servers and whose client nodes run
//! the recipe in the workload's place ([`super::client::Driver`]), each with its checker.
//!
//! - [`lock`] (`zk-lock`): the herd-free lock, and its herd variant.
//! - [`counter`] (`zk-counter`): a shared counter incremented by get-then-set, racing or versioned.
//! - [`election`] (`zk-election`): leader election by the lock's scheme.
//! - [`members`] (`zk-members`): group membership, a watcher tracking who is alive.
//!
//! A recipe's options are the `[workload.recipe]` table ([`RecipeOptions`]).

pub mod counter;
pub mod election;
pub mod lock;
pub mod members;

use super::client::ZkTimer;
use crate::core::event::Event;
use crate::core::process::{Ctx, Nanos, NodeId};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[workload.recipe]`: what a recipe client does; each recipe says which keys it reads, and
/// refuses the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecipeOptions {
    /// `zk-lock`: how long a holder keeps the lock (each hold drawn from ½× to 1½× this).
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// The pause between one round (an acquisition, an increment) and the next (drawn likewise).
    #[serde(with = "humantime_serde")]
    pub think: Duration,
    /// `zk-lock`: every waiter watches the lock directory's children (the herd), instead of only
    /// the next lower node.
    pub herd: bool,
    /// `zk-counter`: set with the version read, and on a bad version read again.
    pub versioned: bool,
    /// Rounds per client; absent: until the run ends.
    pub rounds: Option<u64>,
    /// Client k (0 for the first client) starts its first round k × `stagger` after its session
    /// opened: the class exercise's "P1 holds, then P2 asks, then P3".
    #[serde(with = "humantime_serde")]
    pub stagger: Duration,
}

impl Default for RecipeOptions {
    fn default() -> Self {
        RecipeOptions {
            hold: Duration::from_millis(100),
            think: Duration::from_millis(50),
            herd: false,
            versioned: false,
            rounds: None,
            stagger: Duration::ZERO,
        }
    }
}

impl RecipeOptions {
    /// `key` is not one of `recipe`'s: an error naming it when it was changed from its default.
    pub fn refuse(&self, recipe: &str, keys: &[&str]) -> Result<(), String> {
        let d = RecipeOptions::default();
        for key in keys {
            let changed = match *key {
                "hold" => self.hold != d.hold,
                "herd" => self.herd != d.herd,
                "versioned" => self.versioned != d.versioned,
                "stagger" => self.stagger != d.stagger,
                _ => false,
            };
            if changed {
                return Err(format!("workload.recipe.{key}: not an option of {recipe}"));
            }
        }
        Ok(())
    }

    /// A duration drawn from ½× to 1½× `d`, from the client's seeded RNG.
    pub fn draw(ctx: &mut Ctx<ZkTimer>, d: Duration) -> Nanos {
        let base = d.as_nanos() as Nanos;
        if base == 0 {
            return 0;
        }
        ctx.rng().random_range(base / 2..=base + base / 2)
    }
}

/// The position of client `me` among the clients (0 for the first): clients come after the
/// servers.
pub fn client_index(me: NodeId, servers: &[NodeId]) -> u64 {
    let last = servers.iter().copied().max().unwrap_or(0);
    u64::from(me.saturating_sub(last + 1))
}

/// The recipes' own events, beside the service's and the mutex family's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum RecipeEvent {
    /// `zk-lock`: the client's lock node for this round (`/lock/n-0000000003`).
    LockNode { path: String },
    /// `zk-lock`: the client waits for a change of `path` (the next lower node, or in the herd
    /// variant the lock directory).
    LockWait { path: String },
    /// `zk-counter`: an increment's set completed at `zxid`: it read `from` (at `version`) and
    /// wrote `to`, or failed on a bad version (`ok` false).
    Increment { from: i64, to: i64, version: u64, ok: bool, zxid: u64 },
    /// `zk-members`: the watcher's view of who is in the group, after each listing.
    Members { alive: Vec<NodeId> },
}

impl Event for RecipeEvent {}

//! Gossip by flooding (eager reliable broadcast): every node spreads a few rumors of its own, and
//! every node relays each rumor it hears of for the first time to everyone else.
//!
//! Rules (Cachin, Guerraoui and Rodrigues, *Reliable and Secure Distributed Programming*, §3.3,
//! "eager reliable broadcast"):
//!
//! 1. **Spread.** Every `spread_ms` (the first after `start_after_ms`), until it has spread
//!    `rumors`, a node makes a new rumor `<me>.<n>`, delivers it itself and sends it to every
//!    other node. The command `spread` does the same at once.
//! 2. **Relay.** A node that receives a rumor it has not delivered delivers it and sends it to
//!    every other node but the one it came from.
//! 3. **Once.** A rumor already delivered is ignored.
//!
//! With reliable links, each rumor costs (n−1) sends from its origin and (n−2) from every other
//! node: (n−1)² messages.
//!
//! A node persists how many rumors it has spread before it spreads the next (the host writes and
//! fsyncs it before the sends go out), so a restarted node never gives a new rumor an old id; what
//! it delivered it forgets, as a new process would.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, NodeId, Process, Status, MS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The one message: a rumor, by its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GossipMsg {
    Rumor { id: String },
}

impl Message for GossipMsg {
    fn kind(&self) -> &'static str {
        "rumor"
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GossipTimer {
    /// Time to spread the next rumor of one's own (rule 1).
    Spread,
}

impl crate::core::process::Timer for GossipTimer {}

/// What the trace says, and the checker reads back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum GossipEvent {
    /// This node made rumor `rumor` (and delivers it at once).
    Spread { rumor: String },
    /// This node delivered `rumor`, from node `from` (itself for its own).
    Delivered { rumor: String, from: NodeId },
}

impl Event for GossipEvent {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipParams {
    /// Rumors each node spreads by itself (0: only those spread by command).
    pub rumors: u64,
    pub spread_ms: u64,
    pub start_after_ms: u64,
    /// Rumors delivered less than this before the end of a run are not held to agreement.
    pub settle_ms: u64,
}

impl Default for GossipParams {
    fn default() -> Self {
        GossipParams { rumors: 3, spread_ms: 200, start_after_ms: 100, settle_ms: 500 }
    }
}

impl Params for GossipParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if self.spread_ms == 0 {
            return Err("params.spread_ms: must be at least 1".into());
        }
        Ok(())
    }
}

/// What a node keeps across a crash: the rumors of its own spread so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipDurable {
    pub spread: u64,
}

pub struct GossipNode {
    me: NodeId,
    params: GossipParams,
    /// Rumors of one's own spread so far.
    spread: u64,
    delivered: BTreeSet<String>,
}

impl GossipNode {
    pub fn new(me: NodeId, params: GossipParams) -> Self {
        GossipNode { me, params, spread: 0, delivered: BTreeSet::new() }
    }

    /// Rule 1: a new rumor, delivered here and sent to everyone.
    fn spread_one(&mut self, ctx: &mut Ctx<GossipTimer>) -> String {
        self.spread += 1;
        ctx.persist(&GossipDurable { spread: self.spread });
        let rumor = format!("{}.{}", self.me, self.spread);
        ctx.emit(&GossipEvent::Spread { rumor: rumor.clone() });
        self.deliver(ctx, &rumor, self.me);
        rumor
    }

    /// Delivers `rumor` and sends it to every node but `from` (rules 1 and 2).
    fn deliver(&mut self, ctx: &mut Ctx<GossipTimer>, rumor: &str, from: NodeId) {
        self.delivered.insert(rumor.to_string());
        ctx.emit(&GossipEvent::Delivered { rumor: rumor.to_string(), from });
        let msg = GossipMsg::Rumor { id: rumor.to_string() };
        for peer in ctx.peers().to_vec() {
            if peer != from {
                ctx.send(peer, &msg);
            }
        }
    }
}

impl Process for GossipNode {
    type Msg = GossipMsg;
    type Timer = GossipTimer;
    type Durable = GossipDurable;

    fn on_start(&mut self, ctx: &mut Ctx<GossipTimer>, recovered: Option<GossipDurable>) {
        self.spread = recovered.map_or(0, |d| d.spread);
        if self.spread < self.params.rumors {
            ctx.set_timer(GossipTimer::Spread, self.params.start_after_ms * MS);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<GossipTimer>, from: NodeId, msg: GossipMsg) {
        let GossipMsg::Rumor { id } = msg;
        if !self.delivered.contains(&id) {
            self.deliver(ctx, &id, from); // rule 2
        } // rule 3: else ignored
    }

    fn on_timer(&mut self, ctx: &mut Ctx<GossipTimer>, timer: GossipTimer) {
        match timer {
            GossipTimer::Spread => {
                self.spread_one(ctx);
                if self.spread < self.params.rumors {
                    ctx.set_timer(GossipTimer::Spread, self.params.spread_ms * MS);
                }
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<GossipTimer>, args: &[String]) -> Result<String, String> {
        match args {
            [cmd] if cmd == "spread" => Ok(format!("spread {}", self.spread_one(ctx))),
            _ => Err(format!("unknown command {args:?}; gossip takes: spread")),
        }
    }

    fn status(&self) -> Status {
        Status { role: format!("delivered {}", self.delivered.len()), leader: None, term: None }
    }
}

/// The declaration: one line in the catalogue makes this an algorithm of clusterlab.
pub struct Gossip;

impl Spec for Gossip {
    const NAME: &'static str = "gossip";
    const FAMILY: Family = Family::Broadcast;
    const SUMMARY: &'static str =
        "gossip by flooding (eager reliable broadcast): the bring-your-own template, every rumor relayed once by every node";
    type Params = GossipParams;

    fn properties() -> Vec<PropertyInfo> {
        super::check::properties()
    }

    fn build(me: NodeId, _peers: &[NodeId], params: &GossipParams) -> Result<impl Process, String> {
        Ok(GossipNode::new(me, params.clone()))
    }

    fn check(exec: &Execution, params: &GossipParams) -> CheckReport {
        super::check::check(exec, params)
    }
}

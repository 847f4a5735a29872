//! Maelstrom's workloads: nodes in any language, speaking Maelstrom's JSON protocol, judged here.
//!
//! A Maelstrom node is a program that reads `{src, dest, body}` lines on stdin and writes them on
//! stdout. On a real cluster the `node` binary runs such a program as its child and bridges its
//! messages (`node/src/external.rs`); between nodes a message travels as a [`Body`] in a clusterlab
//! envelope, so every fault applies to it. This module holds what the simulator and the checkers
//! need, as sans-IO processes:
//!
//! - [`client::MaelstromClient`]: the client of a workload (`echo`, `unique-ids`, `broadcast`,
//!   `g-counter`, `lin-kv`), on client nodes;
//!   it records each operation as an `op` event (the history convention of [`crate::service`]);
//! - [`standin::StandIn`]: a Rust node answering every workload, which the simulator runs (and a
//!   real node without `params.command`) in place of a program;
//! - [`check`]: the workloads' checkers;
//! - [`kv`]: the `lin-kv`, `seq-kv` and `lww-kv` services clusterlab provides to programs.
//!
//! Message cost: one request and one reply per operation for `echo` and `unique-ids`.
//!
//! Node names follow Maelstrom: server `k` is `n<k>`, client node `k` is `c<k>`.

pub mod check;
pub mod client;
pub mod kv;
pub mod standin;

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Message, NodeId, Process};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// A Maelstrom message body (`{"type": "echo", "msg_id": 1, ...}`), as it travels between
/// clusterlab nodes; its `type` is the message kind in traces and counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Body(pub Value);

impl Body {
    /// The body's `type`, or `""` when it has none.
    pub fn type_name(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// `msg_id` or `in_reply_to`, when the body has one.
    pub fn id(&self, field: &str) -> Option<u64> {
        self.0.get(field).and_then(Value::as_u64)
    }
}

impl Message for Body {
    fn kind(&self) -> &'static str {
        intern(self.type_name())
    }
}

/// Message kinds are `&'static str`; a program's body types are known only at run time, so each
/// distinct one is leaked once (a program uses a handful).
pub fn intern(kind: &str) -> &'static str {
    static KINDS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let kind = if kind.is_empty() { "untyped" } else { kind };
    let mut kinds = KINDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = kinds.get(kind) {
        return known;
    }
    let leaked: &'static str = Box::leak(kind.to_string().into_boxed_str());
    kinds.insert(leaked);
    leaked
}

/// Maelstrom's name of server `k`.
pub fn server_name(k: NodeId) -> String {
    format!("n{k}")
}

/// Maelstrom's name of client node `k`.
pub fn client_name(k: NodeId) -> String {
    format!("c{k}")
}

/// The workloads a [`client::MaelstromClient`] runs (`workload.maelstrom`).
pub const WORKLOADS: &[&str] = &["echo", "unique-ids", "broadcast", "g-counter", "lin-kv"];

/// `[params]` of `maelstrom`: the program each server node runs. Without a `command` the
/// [`standin::StandIn`] runs instead (and always in the simulator).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaelstromParams {
    /// The program and its arguments, e.g. `["python3", "tests/maelstrom/echo.py"]`.
    pub command: Vec<String>,
    /// Environment variables added to the node's for the program.
    pub env: BTreeMap<String, String>,
    /// The program's working directory (relative: to the node's); unset: the node's.
    pub cwd: Option<PathBuf>,
    /// How long the program has to answer `init` with `init_ok` (0: 5 s).
    pub init_timeout_ms: u64,
    /// The broadcast checker holds a server's last read only to values acknowledged at least this
    /// long before it (0: 1000 ms); more hops or slower links need longer.
    pub settle_ms: u64,
}

impl MaelstromParams {
    /// See [`MaelstromParams::settle_ms`].
    pub fn settle_ms(&self) -> f64 {
        if self.settle_ms == 0 {
            1000.0
        } else {
            self.settle_ms as f64
        }
    }

    /// The bound on the `init` handshake.
    pub fn init_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(if self.init_timeout_ms == 0 { 5000 } else { self.init_timeout_ms })
    }
}

impl Params for MaelstromParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if let Some(first) = self.command.first() {
            if first.trim().is_empty() {
                return Err("params.command: the program's name is empty".into());
            }
        }
        if self.command.is_empty() && (!self.env.is_empty() || self.cwd.is_some()) {
            return Err("params.command: env and cwd are given but no command to run".into());
        }
        if let Some(key) = self.env.keys().find(|k| k.is_empty() || k.contains('=')) {
            return Err(format!("params.env: {key:?} is not a variable name"));
        }
        Ok(())
    }
}

/// The `maelstrom` algorithm: a program under one of Maelstrom's workloads.
pub struct Maelstrom;

impl Spec for Maelstrom {
    const NAME: &'static str = "maelstrom";
    const FAMILY: Family = Family::Maelstrom;
    const SUMMARY: &'static str =
        "a Maelstrom-protocol program in any language (params.command), under Maelstrom's workloads";
    type Params = MaelstromParams;
    const CLIENT: Option<crate::algorithm::ClientFactory> = Some(client::maelstrom_client);

    fn properties() -> Vec<PropertyInfo> {
        check::properties()
    }

    fn build(me: NodeId, _peers: &[NodeId], _params: &MaelstromParams) -> Result<impl Process, String> {
        Ok(standin::StandIn::new(me))
    }

    fn check(exec: &Execution, params: &MaelstromParams) -> CheckReport {
        check::check(exec, params.settle_ms())
    }
}

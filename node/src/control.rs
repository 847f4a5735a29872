//! The control protocol between the orchestrator (or a person with `socat`) and a node.
//!
//! A node listens on a Unix domain socket (mode 0600) named in its config. Each request is one
//! JSON object on one line; each reply is one JSON object on one line. A Unix socket needs no
//! port, works from inside a network namespace, and file permissions keep other users out.
//!
//! ```text
//! {"op":"status"}                                  → {"ok":true,"status":{...}}
//! {"op":"start"}                                   → {"ok":true}   (starts held instances)
//! {"op":"command","instance":"bully","args":["elect"]} → {"ok":true,"reply":"election started"}
//! {"op":"shutdown"}                                → {"ok":true}   (then the node exits)
//! {"op":"attach"}                                  → {"ok":true}   (the node exits when this connection closes)
//! {"op":"drift","rate":1.5}                        → {"ok":true}   (the node's clock runs 1.5× true time)
//! {"op":"corrupt","instance":"dijkstra-ring"}      → {"ok":true}   (the instance sets arbitrary state)
//! {"op":"await_connected","timeout_ms":5000}       → {"ok":true}   (once connected to and from every peer)
//! {"op":"quiesce"}                                 → {"ok":true}   (timers stop; messages still answered)
//! ```

use algorithms::{NodeId, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Start the instances of a node launched with `hold = true`.
    Start,
    Command {
        instance: String,
        args: Vec<String>,
    },
    Shutdown,
    /// Ties the node's life to this connection: the orchestrator's death ends the node.
    Attach,
    /// From now on the node's clock runs at `rate` times true time: `ctx.now()` advances `rate`
    /// times as fast and timers fire after `after / rate` (the clock-drift fault).
    Drift {
        rate: f64,
    },
    /// The `corrupt` fault: the instance's algorithm sets its state to arbitrary values, or
    /// refuses (an error naming the algorithm) when it does not support it.
    Corrupt {
        instance: String,
    },
    /// Answers once the node has a connection to every peer and has accepted the hello of every
    /// peer (so every path to and from it works), or with an error naming the missing peers
    /// after `timeout_ms`. The orchestrator's launch waits on it: one request per node, answered
    /// the moment the node is ready, instead of polling every node's status.
    AwaitConnected {
        timeout_ms: u64,
    },
    /// The run is over: timers stop firing while messages are still received and answered, so
    /// the cluster falls quiet and nothing in flight is lost when the nodes then stop.
    Quiesce,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

impl Response {
    pub fn ok() -> Self {
        Response { ok: true, ..Default::default() }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Response { ok: false, error: Some(message.into()), ..Default::default() }
    }
}

/// A node's answer to `status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub pid: u32,
    /// Whether the instances run (false while held before `start`).
    pub started: bool,
    /// Peers with an established outbound connection (hello sent).
    pub connected: Vec<NodeId>,
    /// Peers whose hello this node accepted, on connections still open.
    #[serde(default)]
    pub greeted: Vec<NodeId>,
    pub instances: BTreeMap<String, Status>,
    pub counters: Counters,
}

/// What the transport has seen, for status and for tests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Frames that were not valid MessagePack frames, or too long.
    pub malformed_frames: u64,
    /// Connections closed because the hello was missing, malformed or from another cluster.
    pub rejected_connections: u64,
    /// Frames for an instance this node does not host.
    pub unroutable_frames: u64,
    /// Frames dropped because the peer could not be reached.
    pub dropped_frames: u64,
}

/// A blocking client for the control socket, used by the orchestrator and tests.
pub struct Client {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
}

impl Client {
    pub fn connect(path: &std::path::Path, timeout: std::time::Duration) -> std::io::Result<Client> {
        let stream = std::os::unix::net::UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client { reader: std::io::BufReader::new(stream.try_clone()?), writer: stream })
    }

    /// How long a reply may take from now on (e.g. for `await_connected`).
    pub fn set_timeout(&self, timeout: std::time::Duration) -> std::io::Result<()> {
        self.writer.set_read_timeout(Some(timeout))
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: &Request) -> std::io::Result<Response> {
        use std::io::{BufRead, Write};
        let mut line = serde_json::to_string(request).expect("requests always encode");
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "node closed the control connection"));
        }
        serde_json::from_str(&reply).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

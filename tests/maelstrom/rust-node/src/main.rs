//! A Maelstrom-protocol node in Rust: the bring-your-own template for a node that clusterlab (or
//! Maelstrom itself) runs as a program, one JSON message `{src, dest, body}` per line on stdin and
//! stdout, logs on stderr.
//!
//! It answers the workloads `echo`, `unique-ids` and `broadcast`:
//!
//! - `init` → `init_ok`, remembering its name and every node's;
//! - `echo` → `echo_ok` with the same `echo`;
//! - `generate` → `generate_ok` with an id unique in the cluster: `<node>-<count>`;
//! - `topology` → `topology_ok`, keeping its own neighbours (all other nodes until then);
//! - `broadcast` → `broadcast_ok`; a value new to it goes to every neighbour at once (`gossip`),
//!   and every 200 ms each neighbour gets again the values it has not acknowledged
//!   (`gossip_ok`), so a value lost to a partition arrives once the link heals;
//! - `read` → `read_ok` with every value it holds.
//!
//! Build and run it: `cargo build -p maelstrom-node`, then
//! `orchestrator maelstrom test -w broadcast --bin target/debug/maelstrom-node --node-count 5`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

/// How often unacknowledged values are sent again.
const REGOSSIP: Duration = Duration::from_millis(200);

/// What the main loop waits for: a line from stdin, or the regossip tick.
enum Input {
    Line(String),
    Tick,
    Closed,
}

#[derive(Default)]
struct Node {
    me: String,
    neighbours: Vec<String>,
    next_msg_id: u64,
    next_unique: u64,
    values: BTreeSet<i64>,
    /// What each neighbour is known to hold (it sent or acknowledged it).
    known: BTreeMap<String, BTreeSet<i64>>,
    out: Vec<String>,
}

impl Node {
    fn send(&mut self, dest: &str, mut body: Value) {
        self.next_msg_id += 1;
        body["msg_id"] = json!(self.next_msg_id);
        self.out.push(json!({"src": self.me, "dest": dest, "body": body}).to_string());
    }

    fn reply(&mut self, request: &Value, mut body: Value) {
        body["in_reply_to"] = request["body"]["msg_id"].clone();
        let dest = request["src"].as_str().unwrap_or_default().to_string();
        self.send(&dest, body);
    }

    /// Sends `neighbour` what it is not known to hold of `values`.
    fn gossip(&mut self, neighbour: &str, values: &BTreeSet<i64>) {
        let known = self.known.entry(neighbour.to_string()).or_default();
        let missing: Vec<i64> = values.difference(known).copied().collect();
        if !missing.is_empty() {
            self.send(neighbour, json!({"type": "gossip", "values": missing}));
        }
    }

    /// New values from `from` (`None`: a client): kept, and passed on to the other neighbours.
    fn learn(&mut self, values: &[i64], from: Option<&str>) {
        let fresh: BTreeSet<i64> = values.iter().copied().filter(|v| self.values.insert(*v)).collect();
        if let Some(from) = from {
            self.known.entry(from.to_string()).or_default().extend(values);
        }
        for n in self.neighbours.clone() {
            if Some(n.as_str()) != from {
                self.gossip(&n, &fresh);
            }
        }
    }

    fn handle(&mut self, msg: &Value) {
        let body = &msg["body"];
        match body["type"].as_str().unwrap_or_default() {
            "init" => {
                self.me = body["node_id"].as_str().unwrap_or_default().to_string();
                let all = body["node_ids"].as_array().cloned().unwrap_or_default();
                self.neighbours =
                    all.iter().filter_map(Value::as_str).filter(|n| *n != self.me).map(String::from).collect();
                eprintln!("rust node {} of {} nodes", self.me, all.len());
                self.reply(msg, json!({"type": "init_ok"}));
            }
            "echo" => self.reply(msg, json!({"type": "echo_ok", "echo": body["echo"]})),
            "generate" => {
                self.next_unique += 1;
                let id = format!("{}-{}", self.me, self.next_unique);
                self.reply(msg, json!({"type": "generate_ok", "id": id}));
            }
            "topology" => {
                if let Some(mine) = body["topology"][&self.me].as_array() {
                    self.neighbours = mine.iter().filter_map(Value::as_str).map(String::from).collect();
                }
                self.reply(msg, json!({"type": "topology_ok"}));
            }
            "broadcast" => {
                if let Some(v) = body["message"].as_i64() {
                    self.learn(&[v], None);
                }
                self.reply(msg, json!({"type": "broadcast_ok"}));
            }
            "read" => {
                let values: Vec<i64> = self.values.iter().copied().collect();
                self.reply(msg, json!({"type": "read_ok", "messages": values}));
            }
            "gossip" => {
                let values: Vec<i64> =
                    body["values"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect();
                let from = msg["src"].as_str().unwrap_or_default().to_string();
                self.learn(&values, Some(&from));
                self.reply(msg, json!({"type": "gossip_ok", "values": values}));
            }
            "gossip_ok" => {
                let values = body["values"].as_array().into_iter().flatten().filter_map(Value::as_i64);
                let from = msg["src"].as_str().unwrap_or_default().to_string();
                self.known.entry(from).or_default().extend(values);
            }
            other => {
                let text = format!("unsupported message type {other:?}");
                if body.get("msg_id").is_some() {
                    self.reply(msg, json!({"type": "error", "code": 10, "text": text}));
                }
            }
        }
    }

    fn tick(&mut self) {
        let values = self.values.clone();
        for n in self.neighbours.clone() {
            self.gossip(&n, &values);
        }
    }
}

fn main() {
    let (tx, rx) = mpsc::channel();
    let lines = tx.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = lines.send(Input::Closed);
    });
    std::thread::spawn(move || loop {
        std::thread::sleep(REGOSSIP);
        if tx.send(Input::Tick).is_err() {
            return;
        }
    });
    let mut node = Node::default();
    let mut stdout = std::io::stdout().lock();
    for input in rx {
        match input {
            Input::Line(line) => match serde_json::from_str::<Value>(&line) {
                Ok(msg) => node.handle(&msg),
                Err(e) => eprintln!("not a message ({e}): {line}"),
            },
            Input::Tick if !node.me.is_empty() => node.tick(),
            Input::Tick => {}
            Input::Closed => return,
        }
        let written = node.out.drain(..).try_for_each(|line| writeln!(stdout, "{line}"));
        if written.and_then(|_| stdout.flush()).is_err() {
            return; // stdout closed: the host is gone
        }
    }
}

//! The client every key-value service shares, and the seeded workload it runs.
//!
//! A client node runs one [`KvClient`]: its `ctx.peers()` are the servers. It has at most one
//! operation outstanding (the session table of [`super::kv`] keeps one reply per client), and
//! follows the client protocol of Raft §8, which suits any service with a leader:
//!
//! - a new operation gets the next `seq` and goes to the server the client believes leads (a
//!   random server at first, and after a timeout);
//! - `NotLeader { leader: Some(l) }` sends the same request to `l` at once; `NotLeader { leader:
//!   None }` (an election under way) retries at another server after a tenth of the timeout;
//! - no reply within `timeout` retries the same `seq` at another server: a command that was
//!   applied but whose reply was lost is answered from the session table, not applied again;
//! - `Ok` completes the operation `ok` (a get's value is its result), `Rejected` completes it
//!   `fail` (a cas whose `from` did not match: it certainly changed nothing).
//!
//! Each operation is traced as `op` events (`invoke`, then `ok` or `fail`), the convention of
//! [`History::from_run`](crate::check::history::History::from_run), from which the run's `history.jsonl` comes; an operation
//! still open when the client dies or the run ends is `info` there. Values are unique per client
//! and seq (`c7-12`), so the linearizability checker can tell writes apart. Cost: one request and
//! one reply per attempt.
//!
//! The `seq` survives a restart: the client persists a reservation (`seq` below it may have been
//! used) every [`SEQ_BLOCK`] operations, and a restarted client starts above it, because a server
//! rejects a seq at or below the last one it applied for the client as a retry or stale.

use super::{ClientMsg, Command, Outcome, Reply, Request};
use crate::core::event::Event;
use crate::core::process::{Ctx, DynProcess, Hosted, Nanos, NodeId, Process, Status, Timer};
use rand::Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Seqs reserved per persist (see the module doc).
pub const SEQ_BLOCK: u64 = 1000;

/// The `[workload]` of an experiment: how many client nodes, and what each asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Client nodes (ids after the servers).
    pub clients: usize,
    /// Operations per second per client (Poisson arrivals; a tick while an operation is still
    /// outstanding is skipped). Absent: closed loop, the next operation as soon as one completes.
    pub rate_per_s: Option<f64>,
    /// Keys `k1` … `k<keys>`, picked uniformly.
    pub keys: usize,
    /// Weights of the operations. No `delete`: the linearizability checker's `kv` model has none,
    /// so a history with deletes could not be judged (a delete by hand can still be issued).
    pub mix: Mix,
    /// A request unanswered this long is retried at another server.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Operations per client, then it stops (by-hand operations are not counted). Absent: until
    /// the run ends. `0`: only operations given by hand.
    pub ops: Option<u64>,
    /// The first operation waits this long after the client starts, so the servers are up.
    #[serde(with = "humantime_serde")]
    pub start_after: Duration,
    /// The Maelstrom workload a `maelstrom` client runs (`echo`, `unique-ids`, `broadcast`,
    /// `g-counter`, `lin-kv`; see
    /// [`crate::maelstrom`]); unset for every other service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maelstrom: Option<String>,
    /// The coordination service's session timeout (see [`crate::coordination::service`]): the
    /// client pings a third of it apart; unset: 1 s. An error for every other service.
    #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub session_timeout: Option<Duration>,
    /// A coordination recipe's options (`[workload.recipe]`, see
    /// [`crate::coordination::recipes::RecipeOptions`]); an error for every other service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipe: Option<crate::coordination::recipes::RecipeOptions>,
    /// The `broadcast` workload's topology (Maelstrom's `--topology`: `grid`, `line`, `tree2`…,
    /// `total`); unset: `grid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
}

/// How often each operation is drawn. A `mix` table that is given names every operation the
/// workload should draw (`mix = { get = 0.5, put = 0.5 }` draws no cas and no append); without
/// one, [`Mix::default`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    #[serde(default)]
    pub get: f64,
    #[serde(default)]
    pub put: f64,
    #[serde(default)]
    pub cas: f64,
    #[serde(default)]
    pub append: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { get: 0.5, put: 0.3, cas: 0.1, append: 0.1 }
    }
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            clients: 3,
            rate_per_s: None,
            keys: 3,
            mix: Mix::default(),
            timeout: Duration::from_millis(500),
            ops: None,
            start_after: Duration::from_millis(100),
            maelstrom: None,
            session_timeout: None,
            recipe: None,
            topology: None,
        }
    }
}

impl Workload {
    /// Reads a `[workload]` table (as JSON); unknown keys and bad values are errors naming the key
    /// as `workload.<key>`.
    pub fn parse(table: &Value) -> Result<Workload, String> {
        let workload: Workload = serde_path_to_error::deserialize(table.clone()).map_err(|e| {
            let path = e.path().to_string();
            match path.as_str() {
                "." => format!("workload: {}", e.inner()),
                _ => format!("workload.{path}: {}", e.inner()),
            }
        })?;
        workload.validate()?;
        Ok(workload)
    }

    /// Checks what the types cannot; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 {
            return Err("workload.clients must be at least 1".into());
        }
        if self.keys == 0 {
            return Err("workload.keys must be at least 1".into());
        }
        if let Some(rate) = self.rate_per_s {
            if !rate.is_finite() || rate <= 0.0 || rate > 10_000.0 {
                return Err(format!(
                    "workload.rate_per_s ({rate}) must be above 0 and at most 10000 (leave it out for a closed loop)"
                ));
            }
        }
        let Mix { get, put, cas, append } = self.mix;
        for (name, w) in [("get", get), ("put", put), ("cas", cas), ("append", append)] {
            if !w.is_finite() || w < 0.0 {
                return Err(format!("workload.mix.{name} ({w}) must be 0 or above"));
            }
        }
        if get + put + cas + append <= 0.0 {
            return Err("workload.mix: at least one weight must be above 0".into());
        }
        if self.timeout.is_zero() {
            return Err("workload.timeout must be above 0".into());
        }
        Ok(())
    }

    /// The key names, `k1` … `k<keys>`.
    pub fn key(&self, i: usize) -> String {
        format!("k{}", i + 1)
    }
}

/// The client's `op` event: one line of the history convention (see the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum ClientEvent {
    Op {
        #[serde(rename = "type")]
        kind: String,
        f: String,
        key: String,
        value: Value,
    },
}

impl Event for ClientEvent {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTimer {
    /// The workload's next operation.
    Next,
    /// The outstanding request was not answered: retry elsewhere.
    Retry,
}

impl Timer for ClientTimer {}

/// The operation in flight.
#[derive(Clone, Debug, PartialEq)]
struct Pending {
    seq: u64,
    command: Command,
    /// The server it was last sent to.
    target: NodeId,
    attempts: u32,
    by_hand: bool,
}

/// The client process (see the module doc).
pub struct KvClient {
    me: NodeId,
    servers: Vec<NodeId>,
    workload: Workload,
    /// The last seq used.
    seq: u64,
    /// Seqs up to here are reserved in persisted state.
    reserved: u64,
    pending: Option<Pending>,
    /// Operations given by hand, waiting for the one in flight.
    queued: VecDeque<Command>,
    leader: Option<NodeId>,
    /// The last value this client saw for each key, for its next cas's `from`.
    seen: BTreeMap<String, Option<String>>,
    /// Workload operations issued.
    issued: u64,
    /// Operations given by hand, and how many of them completed.
    hand_given: u64,
    hand_done: u64,
    /// The last by-hand operation's outcome, for the `last` command.
    last_by_hand: Option<String>,
}

/// Builds the client of node `me` for the servers `servers` (what a service names as its
/// [`crate::algorithm::Spec::CLIENT`]).
pub fn kv_client(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
    Ok(Hosted::boxed(KvClient::new(me, servers, workload.clone())?))
}

impl KvClient {
    pub fn new(me: NodeId, servers: &[NodeId], workload: Workload) -> Result<KvClient, String> {
        workload.validate()?;
        if let Some(name) = &workload.maelstrom {
            return Err(format!("workload.maelstrom: {name:?} is a workload of the maelstrom algorithm only"));
        }
        if workload.session_timeout.is_some() {
            return Err("workload.session_timeout: sessions are the coordination service's only".into());
        }
        if workload.recipe.is_some() {
            return Err(
                "workload.recipe: recipes are the coordination service's only (zk-lock, zk-counter, ...)".into()
            );
        }
        if servers.is_empty() {
            return Err("workload: a client needs at least one server".into());
        }
        Ok(KvClient {
            me,
            servers: servers.to_vec(),
            workload,
            seq: 0,
            reserved: 0,
            pending: None,
            queued: VecDeque::new(),
            leader: None,
            seen: BTreeMap::new(),
            issued: 0,
            hand_given: 0,
            hand_done: 0,
            last_by_hand: None,
        })
    }

    fn ms(d: Duration) -> Nanos {
        d.as_nanos() as Nanos
    }

    fn more_workload(&self) -> bool {
        self.workload.ops.is_none_or(|n| self.issued < n)
    }

    /// The workload's next command, drawn from the client's RNG.
    fn draw(&mut self, ctx: &mut Ctx<ClientTimer>, seq: u64) -> Command {
        let Mix { get, put, cas, append } = self.workload.mix;
        let key = self.workload.key(ctx.rng().random_range(0..self.workload.keys));
        let value = format!("c{}-{seq}", self.me);
        let mut pick = ctx.rng().random::<f64>() * (get + put + cas + append);
        for (weight, f) in [(get, "get"), (put, "put"), (cas, "cas"), (append, "append")] {
            if pick < weight {
                return match f {
                    "get" => Command::Get { key },
                    "put" => Command::Put { key, value },
                    "cas" => {
                        let from = self.seen.get(&key).cloned().flatten();
                        Command::Cas { key, from, to: value }
                    }
                    _ => Command::Append { key, value },
                };
            }
            pick -= weight;
        }
        Command::Get { key }
    }

    /// A server other than `not` (the one that just failed us), when there is one.
    fn random_server(&self, ctx: &mut Ctx<ClientTimer>, not: Option<NodeId>) -> NodeId {
        let others: Vec<NodeId> = self.servers.iter().copied().filter(|s| Some(*s) != not).collect();
        let from = if others.is_empty() { &self.servers } else { &others };
        from[ctx.rng().random_range(0..from.len())]
    }

    /// Starts the next operation: one given by hand first, else the workload's.
    fn next(&mut self, ctx: &mut Ctx<ClientTimer>) {
        if self.pending.is_some() {
            return;
        }
        let (command, by_hand) = match self.queued.pop_front() {
            Some(command) => (command, true),
            None if self.more_workload() => {
                self.issued += 1;
                let seq = self.seq + 1;
                (self.draw(ctx, seq), false)
            }
            None => return,
        };
        self.seq += 1;
        if self.seq > self.reserved {
            self.reserved = self.seq + SEQ_BLOCK - 1;
            ctx.persist(&self.reserved);
        }
        let target = self.leader.unwrap_or_else(|| self.random_server(ctx, None));
        let (f, key, value) = op_parts(&command);
        ctx.emit(&ClientEvent::Op { kind: "invoke".into(), f: f.into(), key: key.into(), value });
        self.pending = Some(Pending { seq: self.seq, command, target, attempts: 0, by_hand });
        self.send(ctx, target);
    }

    fn send(&mut self, ctx: &mut Ctx<ClientTimer>, to: NodeId) {
        let Some(p) = self.pending.as_mut() else { return };
        p.target = to;
        p.attempts += 1;
        let request = Request { client: self.me, seq: p.seq, command: p.command.clone() };
        ctx.send(to, &ClientMsg::Request(request));
        ctx.set_timer(ClientTimer::Retry, Self::ms(self.workload.timeout));
    }

    /// The outstanding operation completed `kind` (`ok` or `fail`) with `value`.
    fn complete(&mut self, ctx: &mut Ctx<ClientTimer>, kind: &str, result: Option<Option<String>>) {
        let Some(p) = self.pending.take() else { return };
        ctx.cancel_timer(ClientTimer::Retry);
        let (f, key, input) = op_parts(&p.command);
        let value = match &result {
            Some(v) => json!(v),
            None => input,
        };
        if kind == "ok" {
            let written = match &p.command {
                Command::Get { .. } => result.clone().flatten(),
                Command::Put { value, .. } | Command::Cas { to: value, .. } => Some(value.clone()),
                Command::Append { .. } | Command::Delete { .. } => None,
            };
            match &p.command {
                Command::Append { .. } => {
                    self.seen.remove(key);
                }
                Command::Delete { .. } => {
                    self.seen.insert(key.to_string(), None);
                }
                _ => {
                    self.seen.insert(key.to_string(), written);
                }
            }
        }
        if p.by_hand {
            self.hand_done += 1;
            self.last_by_hand = Some(format!("seq {}: {f} {key} → {kind} {value}", p.seq));
        }
        ctx.emit(&ClientEvent::Op { kind: kind.into(), f: f.into(), key: key.into(), value });
        match self.workload.rate_per_s {
            None => self.next(ctx),
            Some(_) if !self.queued.is_empty() => self.next(ctx),
            Some(_) => {}
        }
    }

    fn schedule_next(&self, ctx: &mut Ctx<ClientTimer>) {
        if let Some(rate) = self.workload.rate_per_s.filter(|_| self.more_workload()) {
            let gap = Exp::new(rate).expect("rate was validated").sample(ctx.rng());
            ctx.set_timer(ClientTimer::Next, (gap * 1e9) as Nanos);
        }
    }
}

/// `(f, key, value)` of a command as the history writes its invocation.
fn op_parts(command: &Command) -> (&'static str, &str, Value) {
    let value = match command {
        Command::Get { .. } | Command::Delete { .. } => Value::Null,
        Command::Put { value, .. } | Command::Append { value, .. } => json!(value),
        Command::Cas { from, to, .. } => json!([from, to]),
    };
    (command.f(), command.key(), value)
}

/// A command from words: `put x 1`, `get x`, `append x 1`, `cas x 1 2` (`cas x - 2`: from
/// absent), `delete x`.
pub fn parse_command(args: &[String]) -> Result<Command, String> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = |w: &str| w.to_string();
    Ok(match words.as_slice() {
        ["get", key] => Command::Get { key: s(key) },
        ["put", key, value] => Command::Put { key: s(key), value: s(value) },
        ["append", key, value] => Command::Append { key: s(key), value: s(value) },
        ["cas", key, from, to] => {
            Command::Cas { key: s(key), from: (*from != "-").then(|| s(from)), to: s(to) }
        }
        ["delete", key] => Command::Delete { key: s(key) },
        _ => {
            return Err(format!(
                "unknown client command {args:?}: get KEY | put KEY VALUE | append KEY VALUE | cas KEY FROM TO (FROM - for absent) | delete KEY | last"
            ))
        }
    })
}

impl Process for KvClient {
    type Msg = ClientMsg;
    type Timer = ClientTimer;
    /// The seq reservation (see the module doc).
    type Durable = u64;

    fn on_start(&mut self, ctx: &mut Ctx<ClientTimer>, recovered: Option<u64>) {
        self.seq = recovered.unwrap_or(0);
        self.reserved = self.seq;
        if self.more_workload() {
            ctx.set_timer(ClientTimer::Next, Self::ms(self.workload.start_after));
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<ClientTimer>, from: NodeId, msg: ClientMsg) {
        let ClientMsg::Reply(Reply { seq, outcome }) = msg else { return };
        let Some(p) = &self.pending else { return };
        if p.seq != seq {
            return; // a late reply to an earlier attempt of a completed operation
        }
        match outcome {
            Outcome::Ok { value } => {
                self.leader = Some(from);
                let result = matches!(p.command, Command::Get { .. }).then_some(value);
                self.complete(ctx, "ok", result);
            }
            Outcome::Rejected { .. } => {
                self.leader = Some(from);
                self.complete(ctx, "fail", None);
            }
            Outcome::NotLeader { leader: Some(l) } if l != from && self.servers.contains(&l) => {
                self.leader = Some(l);
                self.send(ctx, l);
            }
            Outcome::NotLeader { .. } => {
                self.leader = None;
                ctx.set_timer(ClientTimer::Retry, Self::ms(self.workload.timeout) / 10);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<ClientTimer>, timer: ClientTimer) {
        match timer {
            ClientTimer::Next => {
                self.next(ctx);
                self.schedule_next(ctx);
            }
            ClientTimer::Retry => {
                let Some(p) = &self.pending else { return };
                let last = p.target;
                self.leader = None;
                let to = self.random_server(ctx, Some(last));
                self.send(ctx, to);
            }
        }
    }

    /// `put x 1`, `get x`, `append x 1`, `cas x 1 2`, `delete x`: issued after the operation in
    /// flight, the answer says its seq; `last` answers the last by-hand operation's outcome.
    fn on_command(&mut self, ctx: &mut Ctx<ClientTimer>, args: &[String]) -> Result<String, String> {
        if args.len() == 1 && args[0] == "last" {
            let open = self.hand_given - self.hand_done;
            return match &self.last_by_hand {
                _ if open > 0 => Ok(format!("pending: {open} of the {} operations given by hand", self.hand_given)),
                Some(last) => Ok(last.clone()),
                None => Err("no operation given by hand has completed".into()),
            };
        }
        let command = parse_command(args)?;
        let waiting = self.pending.is_some() as u64 + self.queued.len() as u64;
        let text = format!("{} {}", command.f(), command.key());
        self.queued.push_back(command);
        self.hand_given += 1;
        self.next(ctx);
        match self.pending.as_ref().filter(|p| p.by_hand && waiting == 0) {
            Some(p) => Ok(format!("seq {}: {text} sent to server {}", p.seq, p.target)),
            None => Ok(format!("{text} queued after {waiting} operation(s) in flight")),
        }
    }

    fn status(&self) -> Status {
        Status { role: "client".into(), leader: None, term: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_keys_and_values_are_checked_and_named() {
        let w = Workload::parse(&json!({"clients": 2, "keys": 5, "mix": {"get": 1.0}, "timeout": "200ms"})).unwrap();
        assert_eq!((w.clients, w.keys, w.timeout), (2, 5, Duration::from_millis(200)));
        assert_eq!(w.mix, Mix { get: 1.0, put: 0.0, cas: 0.0, append: 0.0 }, "a given mix draws only what it names");
        assert_eq!(w.rate_per_s, None, "closed loop by default");
        let err = |v: Value| Workload::parse(&v).unwrap_err();
        assert!(err(json!({"clinets": 2})).starts_with("workload.clinets: unknown field"));
        assert!(err(json!({"keys": -1})).starts_with("workload.keys: "));
        assert!(err(json!({"timeout": "soon"})).starts_with("workload.timeout: "));
        assert!(err(json!({"mix": {"delete": 0.1}})).starts_with("workload.mix.delete: unknown field"));
        assert!(err(json!({"mix": {"get": -1.0}})).starts_with("workload.mix.get"));
        assert!(err(json!({"mix": {"get": 0.0, "put": 0.0, "cas": 0.0, "append": 0.0}})).starts_with("workload.mix:"));
        assert!(err(json!({"rate_per_s": 0.0})).starts_with("workload.rate_per_s"));
        assert!(err(json!({"clients": 0})).starts_with("workload.clients"));
        assert!(err(json!({"timeout": "0s"})).starts_with("workload.timeout"));
    }

    #[test]
    fn by_hand_words_read_as_commands() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(parse_command(&words("put x 1")), Ok(Command::Put { key: "x".into(), value: "1".into() }));
        assert_eq!(
            parse_command(&words("cas x - 2")),
            Ok(Command::Cas { key: "x".into(), from: None, to: "2".into() })
        );
        assert_eq!(
            parse_command(&words("cas x 1 2")),
            Ok(Command::Cas { key: "x".into(), from: Some("1".into()), to: "2".into() })
        );
        assert!(parse_command(&words("put x")).unwrap_err().contains("put KEY VALUE"));
    }
}

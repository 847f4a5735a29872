//! Seeded histories with real concurrency: linearizable by construction, or with one injected
//! violation. For tests and the benchmark.
//!
//! Clients run against a true copy of the model's state, in virtual time: each invokes an
//! operation, the operation takes effect at a random instant between its invocation and its
//! completion (its linearization point), and the client learns the result at completion, thinks
//! for a while and goes again. Operations overlap as they would against a real service, and the
//! history is linearizable because the linearization points are an order that works.
//!
//! Some operations go wrong the way they do in real systems: a client crashes (its operation is
//! `info`, and took effect or not; the crashed client comes back as a new process, as in
//! Jepsen), or a request is refused (`fail`, no effect). A cas whose compare fails completes
//! `fail`. Written values are fresh (`1, 2, 3, ...`; kv puts `"p17"`, appends `"[18]"`, cas
//! targets `"c19"`), so a wrong read cannot be explained by a write of the same value.
//!
//! An injected bug is made certain, not likely: the client that shows it first waits until no
//! other operation on its key is in flight and keeps the key to itself (others use other keys,
//! or wait), so that real time alone forces the order that the bug contradicts.

use super::{Event, EventType, History, ModelKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

/// A violation the generator can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// A read that comes after a completed write returns the value from before it.
    StaleRead,
    /// A write that completed `fail` took effect after all: a later read sees it.
    FailVisible,
    /// A lock is granted to a second process while the first still holds it.
    DoubleGrant,
}

impl Bug {
    pub const ALL: [Bug; 3] = [Bug::StaleRead, Bug::FailVisible, Bug::DoubleGrant];

    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::FailVisible => "fail-visible",
            Bug::DoubleGrant => "double-grant",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Bug::StaleRead => "a read after a completed write returns the value from before it",
            Bug::FailVisible => "a write that completed fail took effect: a later read sees it",
            Bug::DoubleGrant => "a lock is granted while another process holds it",
        }
    }

    pub fn parse(name: &str) -> Result<Bug, String> {
        Bug::ALL.into_iter().find(|b| b.name() == name).ok_or_else(|| {
            format!(
                "unknown bug {name:?}; known bugs: {}",
                Bug::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Whether the bug means anything for the model.
    pub fn fits(self, model: ModelKind) -> bool {
        match self {
            Bug::DoubleGrant => model == ModelKind::Mutex,
            Bug::StaleRead | Bug::FailVisible => model != ModelKind::Mutex,
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub model: ModelKind,
    /// Clients running at once.
    pub clients: usize,
    /// Operations (invocations) in the history.
    pub ops: usize,
    pub seed: u64,
    pub bug: Option<Bug>,
    /// Keys the operations spread over (kv 10, mutex 3, the others 1 by default).
    pub keys: usize,
    /// Share of operations whose client crashes (`info`).
    pub crash_rate: f64,
    /// Share of operations the service refuses (`fail`, no effect).
    pub fail_rate: f64,
}

impl GenOptions {
    pub fn new(model: ModelKind, clients: usize, ops: usize, seed: u64) -> GenOptions {
        let keys = match model {
            ModelKind::Kv => 10,
            ModelKind::Mutex => 3,
            _ => 1,
        };
        GenOptions { model, clients, ops, seed, bug: None, keys, crash_rate: 0.01, fail_rate: 0.01 }
    }
}

/// The key's true state.
enum Truth {
    Value(Value),
    Text(Option<String>),
    Set(BTreeSet<u64>),
    Count(i64),
    Lock { holders: Vec<usize>, waiting: VecDeque<usize> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Ok,
    Fail,
    /// The client crashed: the operation took effect or not; its completion is written as
    /// `info`, or not at all.
    Crash {
        effect: bool,
        silent: bool,
    },
}

struct GenOp {
    client: usize,
    process: u64,
    f: &'static str,
    key: usize,
    input: Value,
    output: Value,
    fate: Fate,
    /// A bug's read: its result, fixed when it takes effect.
    forced: Option<Forced>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Forced {
    Read(Bug),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Invoke(usize),
    Apply(usize),
    Complete(usize),
}

/// Where a client is with the bug it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    /// Waiting for its key to be quiet, then the write.
    Write(usize),
    /// The write is done; now the read.
    Read(usize),
}

#[derive(Default)]
struct Client {
    process: u64,
    /// Mutex: the lock it holds or waits for, and whether its acquire completed.
    lock: Option<(usize, bool)>,
    /// Mutex: not to release before this time (the double grant keeps the first holder in).
    release_after: u64,
    /// Mutex: its release is invoked and not yet complete.
    releasing: bool,
    script: Option<Script>,
    /// Per key: the last value this client saw (for cas's `from`).
    seen: Vec<Value>,
}

/// Per key, what the bugs need to know.
#[derive(Clone, Default)]
struct Ledger {
    in_flight: usize,
    /// The value the last `ok` write (or cas) left, in linearization order.
    last_ok: Value,
    /// Counter: the sum of `ok` adds, and of every crashed add (whether it took effect or not).
    ok_sum: i64,
    crash_sum: i64,
}

const MS: u64 = 1_000_000;

struct Gen<'o> {
    o: &'o GenOptions,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    events: Vec<Event>,
    ops: Vec<GenOp>,
    clients: Vec<Client>,
    truth: Vec<Truth>,
    ledger: Vec<Ledger>,
    issued: usize,
    next_value: u64,
    bug: BugState,
    /// The bug's scripted operations not yet issued (room is kept for them in the budget).
    script_left: usize,
    /// The value the last `ok` write left before the bug's write: what the stale read returns.
    stale: Value,
    /// Mutex: acquires invoked whose release is still to come (each needs room in the budget).
    owed: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BugState {
    None,
    /// To be injected once half the operations are issued.
    Pending(Bug),
    /// A client is showing it; nobody else touches this key.
    Running {
        key: usize,
    },
    Done,
}

/// Generates a history (see the module docs).
pub fn generate(o: &GenOptions) -> Result<History, String> {
    if o.clients == 0 || o.ops == 0 || o.keys == 0 {
        return Err("clients, ops and keys must be at least 1".into());
    }
    if o.model == ModelKind::Znode {
        return Err("no generator for znode histories (coordination runs write them); models: register, cas-register, kv, mutex, set, counter".into());
    }
    if let Some(bug) = o.bug {
        if !bug.fits(o.model) {
            let fitting: Vec<&str> = Bug::ALL.iter().filter(|b| b.fits(o.model)).map(|b| b.name()).collect();
            return Err(format!(
                "bug {} does not apply to {}; for {} try {}",
                bug.name(),
                o.model,
                o.model,
                fitting.join(", ")
            ));
        }
        if o.ops < 4 {
            return Err("a history with a bug needs at least 4 operations".into());
        }
    }
    if o.model == ModelKind::Mutex && o.ops < 2 {
        return Err("a mutex history needs at least 2 operations (an acquire and its release)".into());
    }
    let truth = (0..o.keys)
        .map(|_| match o.model {
            ModelKind::Register | ModelKind::CasRegister => Truth::Value(Value::Null),
            ModelKind::Kv => Truth::Text(None),
            ModelKind::Set => Truth::Set(BTreeSet::new()),
            ModelKind::Counter => Truth::Count(0),
            ModelKind::Mutex => Truth::Lock { holders: vec![], waiting: VecDeque::new() },
            ModelKind::Znode => unreachable!("refused above"),
        })
        .collect();
    let clients = (0..o.clients)
        .map(|c| Client { process: c as u64, seen: vec![Value::Null; o.keys], ..Client::default() })
        .collect();
    let mut g = Gen {
        o,
        rng: ChaCha8Rng::seed_from_u64(o.seed),
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        events: Vec::with_capacity(o.ops * 2),
        ops: Vec::with_capacity(o.ops),
        clients,
        truth,
        ledger: vec![Ledger::default(); o.keys],
        issued: 0,
        next_value: 0,
        bug: o.bug.map_or(BugState::None, BugState::Pending),
        script_left: if matches!(o.bug, Some(Bug::StaleRead | Bug::FailVisible)) { 2 } else { 0 },
        stale: Value::Null,
        owed: 0,
    };
    for c in 0..o.clients {
        let at = g.rng.random_range(0..MS);
        g.at(at, Ev::Invoke(c));
    }
    while let Some(Reverse((t, _, ev))) = g.queue.pop() {
        g.now = t;
        match ev {
            Ev::Invoke(c) => g.invoke(c),
            Ev::Apply(op) => g.apply(op),
            Ev::Complete(op) => g.complete(op),
        }
    }
    match (g.bug, o.bug) {
        (BugState::Pending(_) | BugState::Running { .. }, Some(bug)) => {
            Err(format!("could not inject {} in {} operations (try more operations or clients)", bug.name(), o.ops))
        }
        _ => History::from_events(g.events).map_err(|e| format!("the generator made an invalid history: {e}")),
    }
}

impl Gen<'_> {
    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, ev)));
    }

    fn think(&mut self) -> u64 {
        self.rng.random_range(0..2 * MS)
    }

    fn duration(&mut self) -> u64 {
        self.rng.random_range(MS / 10..5 * MS)
    }

    fn fresh(&mut self) -> u64 {
        self.next_value += 1;
        self.next_value
    }

    fn key_value(&self, key: usize) -> Option<Value> {
        match (self.o.model, self.o.keys) {
            (ModelKind::Kv, _) => Some(json!(format!("k{key}"))),
            (ModelKind::Mutex, _) => Some(json!(format!("lock{key}"))),
            (_, 1) => None,
            _ => Some(json!(key)),
        }
    }

    fn record(&mut self, op: usize, kind: EventType, value: Value) {
        let o = &self.ops[op];
        let event = Event::new(o.process, kind, o.f, self.key_value(o.key), value, Some(self.now));
        self.events.push(event);
    }

    /// Operations still to issue, keeping room for the bug's two and the mutex's releases.
    fn budget_left(&self) -> usize {
        self.o.ops.saturating_sub(self.issued + self.script_left + self.owed)
    }

    fn invoke(&mut self, c: usize) {
        if self.o.model == ModelKind::Mutex {
            return self.invoke_lock(c);
        }
        // The bug starts with the first client to invoke past half way.
        if matches!(self.bug, BugState::Pending(_)) && self.issued >= self.o.ops / 2 {
            let key = self.rng.random_range(0..self.o.keys);
            self.bug = BugState::Running { key };
            self.clients[c].script = Some(Script::Write(key));
        }
        if let Some(script) = self.clients[c].script {
            return self.scripted(c, script);
        }
        if self.budget_left() == 0 {
            return;
        }
        let reserved = match self.bug {
            BugState::Running { key, .. } => Some(key),
            _ => None,
        };
        let key = self.rng.random_range(0..self.o.keys);
        let key = match reserved {
            Some(r) if r == key && self.o.keys == 1 => {
                // The only key is the bug's for now: come back later.
                let later = self.now + self.think() + 1;
                return self.at(later, Ev::Invoke(c));
            }
            Some(r) if r == key => (key + 1 + self.rng.random_range(0..self.o.keys - 1)) % self.o.keys,
            _ => key,
        };
        let (f, input) = self.choose(c, key);
        let fate = self.fate();
        self.start(c, f, key, input, fate, None);
    }

    fn fate(&mut self) -> Fate {
        let roll: f64 = self.rng.random();
        if roll < self.o.crash_rate {
            Fate::Crash { effect: self.rng.random_bool(0.5), silent: self.rng.random_bool(0.5) }
        } else if roll < self.o.crash_rate + self.o.fail_rate {
            Fate::Fail
        } else {
            Fate::Ok
        }
    }

    /// Invokes an operation: it takes effect (if it does) at a random point before it completes.
    fn start(
        &mut self,
        c: usize,
        f: &'static str,
        key: usize,
        input: Value,
        fate: Fate,
        forced: Option<Forced>,
    ) -> usize {
        let op = self.ops.len();
        let process = self.clients[c].process;
        self.ops.push(GenOp { client: c, process, f, key, input: input.clone(), output: Value::Null, fate, forced });
        self.record(op, EventType::Invoke, input);
        self.issued += 1;
        self.ledger[key].in_flight += 1;
        let duration = self.duration();
        let effect_at = self.now + self.rng.random_range(0..=duration);
        if matches!(fate, Fate::Ok | Fate::Crash { effect: true, .. }) || forced.is_some() {
            self.at(effect_at, Ev::Apply(op));
        }
        self.at(self.now + duration + 1, Ev::Complete(op));
        op
    }

    /// The next operation of a client, by the model's mix.
    fn choose(&mut self, c: usize, key: usize) -> (&'static str, Value) {
        let roll = self.rng.random_range(0..100);
        let seen = self.clients[c].seen[key].clone();
        match self.o.model {
            ModelKind::Register => {
                if roll < 50 {
                    ("read", Value::Null)
                } else {
                    ("write", json!(self.fresh()))
                }
            }
            ModelKind::CasRegister => match roll {
                0..40 => ("read", Value::Null),
                40..70 => ("write", json!(self.fresh())),
                _ => ("cas", json!([seen, self.fresh()])),
            },
            ModelKind::Kv => match roll {
                0..40 => ("get", Value::Null),
                40..55 => ("put", json!(format!("p{}", self.fresh()))),
                55..90 => ("append", json!(format!("[{}]", self.fresh()))),
                _ => ("cas", json!([seen, format!("c{}", self.fresh())])),
            },
            ModelKind::Set => {
                if roll < 60 {
                    ("add", json!(self.fresh()))
                } else {
                    ("read", Value::Null)
                }
            }
            ModelKind::Counter => {
                if roll < 60 {
                    ("add", json!(self.rng.random_range(1..=5)))
                } else {
                    ("read", Value::Null)
                }
            }
            ModelKind::Mutex => unreachable!("locks have their own cycle"),
            ModelKind::Znode => unreachable!("no znode generator"),
        }
    }

    /// The bug's client: wait for its key to be quiet, write, then read.
    fn scripted(&mut self, c: usize, script: Script) {
        let BugState::Running { .. } = self.bug else { return };
        let bug = self.o.bug.expect("a script runs only with a bug");
        match script {
            Script::Write(key) => {
                if self.ledger[key].in_flight > 0 {
                    let later = self.now + MS / 10;
                    return self.at(later, Ev::Invoke(c));
                }
                let (f, input) = match self.o.model {
                    ModelKind::Kv => ("put", json!(format!("p{}", self.fresh()))),
                    ModelKind::Set => ("add", json!(self.fresh())),
                    ModelKind::Counter => ("add", json!(self.rng.random_range(1..=5))),
                    _ => ("write", json!(self.fresh())),
                };
                // fail-visible: it takes effect, and says fail.
                let fate = if bug == Bug::FailVisible { Fate::Fail } else { Fate::Ok };
                // Every earlier operation on the key is complete: this is the value before it.
                self.stale = self.ledger[key].last_ok.clone();
                self.script_left -= 1;
                let op = self.start(c, f, key, input, fate, None);
                if bug == Bug::FailVisible {
                    self.at(self.now + 1, Ev::Apply(op));
                }
                self.clients[c].script = Some(Script::Read(key));
            }
            Script::Read(key) => {
                let f = if self.o.model == ModelKind::Kv { "get" } else { "read" };
                self.script_left -= 1;
                self.start(c, f, key, Value::Null, Fate::Ok, Some(Forced::Read(bug)));
                self.clients[c].script = None;
            }
        }
    }

    fn apply(&mut self, op: usize) {
        let (f, key) = (self.ops[op].f, self.ops[op].key);
        let input = self.ops[op].input.clone();
        let ok = self.ops[op].fate == Fate::Ok;
        if self.o.model == ModelKind::Mutex {
            return self.apply_lock(op);
        }
        if let Some(Forced::Read(bug)) = self.ops[op].forced {
            self.ops[op].output = self.bug_read(bug, key);
            return;
        }
        let ledger = &mut self.ledger[key];
        let output = match (&mut self.truth[key], f) {
            (Truth::Value(v), "read") => v.clone(),
            (Truth::Value(v), "write") => {
                *v = input.clone();
                if ok {
                    ledger.last_ok = input;
                }
                Value::Null
            }
            (Truth::Value(v), "cas") => {
                if *v == input[0] {
                    *v = input[1].clone();
                    if ok {
                        ledger.last_ok = input[1].clone();
                    }
                } else {
                    self.ops[op].fate = match self.ops[op].fate {
                        Fate::Ok => Fate::Fail,
                        other => other,
                    };
                }
                Value::Null
            }
            (Truth::Text(t), "get") => t.as_ref().map_or(Value::Null, |s| json!(s)),
            (Truth::Text(t), "put") => {
                *t = input.as_str().map(str::to_string);
                if ok {
                    ledger.last_ok = input;
                }
                Value::Null
            }
            (Truth::Text(t), "append") => {
                let mut s = t.take().unwrap_or_default();
                s.push_str(input.as_str().unwrap_or(""));
                *t = Some(s);
                Value::Null
            }
            (Truth::Text(t), "cas") => {
                let current = t.as_ref().map_or(Value::Null, |s| json!(s));
                if current == input[0] {
                    *t = input[1].as_str().map(str::to_string);
                    if ok {
                        ledger.last_ok = input[1].clone();
                    }
                } else if self.ops[op].fate == Fate::Ok {
                    self.ops[op].fate = Fate::Fail;
                }
                Value::Null
            }
            (Truth::Set(s), "add") => {
                s.insert(input.as_u64().unwrap_or(0));
                Value::Null
            }
            (Truth::Set(s), "read") => json!(s.iter().collect::<Vec<_>>()),
            (Truth::Count(n), "add") => {
                let d = input.as_i64().unwrap_or(0);
                *n += d;
                if ok {
                    ledger.ok_sum += d;
                }
                Value::Null
            }
            (Truth::Count(n), "read") => json!(*n),
            _ => Value::Null,
        };
        self.ops[op].output = output;
    }

    /// The result the bug's read returns: one that no linearization allows.
    fn bug_read(&self, bug: Bug, key: usize) -> Value {
        let ledger = &self.ledger[key];
        // The bug's write is the last operation on the key before this read.
        let write = self.ops.iter().rev().find(|o| o.key == key && o.f != "read" && o.f != "get").expect("the write");
        match (&self.truth[key], bug) {
            (Truth::Value(_) | Truth::Text(_), Bug::StaleRead) => self.stale.clone(),
            (Truth::Value(v), _) => v.clone(),
            (Truth::Text(t), _) => t.as_ref().map_or(Value::Null, |s| json!(s)),
            (Truth::Set(s), Bug::StaleRead) => {
                let x = write.input.as_u64().unwrap_or(0);
                json!(s.iter().filter(|&&e| e != x).collect::<Vec<_>>())
            }
            (Truth::Set(s), _) => json!(s.iter().collect::<Vec<_>>()),
            (Truth::Count(_), Bug::StaleRead) => json!(ledger.ok_sum - write.input.as_i64().unwrap_or(0)),
            (Truth::Count(_), _) => json!(ledger.ok_sum + ledger.crash_sum + write.input.as_i64().unwrap_or(0)),
            (Truth::Lock { .. }, _) => Value::Null,
        }
    }

    fn complete(&mut self, op: usize) {
        let (c, key, fate) = (self.ops[op].client, self.ops[op].key, self.ops[op].fate);
        self.ledger[key].in_flight -= 1;
        if self.ops[op].forced.is_some() {
            self.bug = BugState::Done;
        }
        if self.o.model == ModelKind::Counter && matches!(fate, Fate::Crash { .. }) {
            self.ledger[key].crash_sum += self.ops[op].input.as_i64().unwrap_or(0);
        }
        match fate {
            Fate::Ok => {
                let output = self.ops[op].output.clone();
                let shown = match self.ops[op].f {
                    "read" | "get" => output.clone(),
                    _ => self.ops[op].input.clone(),
                };
                let seen = match self.ops[op].f {
                    "read" | "get" => output,
                    "write" | "put" => self.ops[op].input.clone(),
                    "cas" => self.ops[op].input[1].clone(),
                    _ => self.clients[c].seen[key].clone(),
                };
                self.clients[c].seen[key] = seen;
                self.record(op, EventType::Ok, shown);
            }
            Fate::Fail => self.record(op, EventType::Fail, Value::Null),
            Fate::Crash { silent, .. } => {
                if !silent {
                    self.record(op, EventType::Info, Value::Null);
                }
                // The crashed client comes back as a new process.
                self.clients[c].process += self.o.clients as u64;
            }
        }
        let next = self.now + self.think();
        if self.o.model == ModelKind::Mutex {
            return self.completed_lock(op, next);
        }
        self.at(next, Ev::Invoke(c));
    }

    // -- locks ---------------------------------------------------------------------------

    /// A lock client alternates acquire and release; a release waits for its hold time.
    fn invoke_lock(&mut self, c: usize) {
        if let Some((key, true)) = self.clients[c].lock {
            if self.now < self.clients[c].release_after {
                let at = self.clients[c].release_after + 1;
                return self.at(at, Ev::Invoke(c));
            }
            self.owed -= 1;
            self.clients[c].releasing = true;
            let fate = if self.rng.random::<f64>() < self.o.crash_rate {
                Fate::Crash { effect: true, silent: self.rng.random_bool(0.5) }
            } else {
                Fate::Ok
            };
            self.start(c, "release", key, Value::Null, fate, None);
            return;
        }
        if self.budget_left() == 0 {
            return;
        }
        let key = self.rng.random_range(0..self.o.keys);
        let roll: f64 = self.rng.random();
        // With room for one operation only, the acquire is refused (it needs no release).
        let fate = if self.budget_left() == 1 {
            Fate::Fail
        } else if roll < self.o.crash_rate {
            // The request was lost: it never reaches the lock.
            Fate::Crash { effect: false, silent: self.rng.random_bool(0.5) }
        } else if roll < self.o.crash_rate + self.o.fail_rate {
            Fate::Fail
        } else {
            Fate::Ok
        };
        let op = self.ops.len();
        let process = self.clients[c].process;
        self.ops.push(GenOp {
            client: c,
            process,
            f: "acquire",
            key,
            input: Value::Null,
            output: Value::Null,
            fate,
            forced: None,
        });
        self.record(op, EventType::Invoke, Value::Null);
        self.issued += 1;
        self.ledger[key].in_flight += 1;
        let arrives = self.now + self.rng.random_range(1..MS);
        if fate == Fate::Ok {
            self.owed += 1;
            self.clients[c].lock = Some((key, false));
            self.at(arrives, Ev::Apply(op));
        } else {
            self.at(arrives + 1, Ev::Complete(op));
        }
    }

    fn apply_lock(&mut self, op: usize) {
        let (c, key) = (self.ops[op].client, self.ops[op].key);
        let double = matches!(self.bug, BugState::Pending(Bug::DoubleGrant)) && self.issued >= self.o.ops / 2;
        let Truth::Lock { holders, waiting } = &mut self.truth[key] else { return };
        match self.ops[op].f {
            "acquire" if holders.is_empty() => {
                holders.push(c);
                self.granted(op);
            }
            "acquire" => {
                // The double grant: a holder whose acquire completed is still in, and must stay
                // in until this acquire has completed too.
                let first = holders[0];
                let holding = self.clients[first].lock == Some((key, true)) && !self.clients[first].releasing;
                if double && holders.len() == 1 && holding {
                    holders.push(c);
                    self.bug = BugState::Done;
                    let done = self.granted(op);
                    self.clients[first].release_after = self.clients[first].release_after.max(done + 1);
                } else {
                    waiting.push_back(op);
                }
            }
            _ => {
                holders.retain(|&h| h != c);
                if holders.is_empty() {
                    if let Some(next) = waiting.pop_front() {
                        let nc = self.ops[next].client;
                        holders.push(nc);
                        self.granted(next);
                    }
                }
            }
        }
    }

    /// The acquire got the lock now; it completes a little later. Returns when.
    fn granted(&mut self, op: usize) -> u64 {
        let done = self.now + self.rng.random_range(1..MS / 2);
        self.at(done, Ev::Complete(op));
        done
    }

    fn completed_lock(&mut self, op: usize, next: u64) {
        let c = self.ops[op].client;
        match (self.ops[op].f, self.ops[op].fate) {
            ("acquire", Fate::Ok) => {
                let key = self.ops[op].key;
                self.clients[c].lock = Some((key, true));
                let hold = self.rng.random_range(MS..5 * MS);
                self.clients[c].release_after = self.clients[c].release_after.max(self.now + hold);
                self.at(self.now + hold, Ev::Invoke(c));
            }
            ("release", _) => {
                self.clients[c].lock = None;
                self.clients[c].releasing = false;
                self.clients[c].release_after = 0;
                self.at(next, Ev::Invoke(c));
            }
            _ => self.at(next, Ev::Invoke(c)),
        }
    }
}

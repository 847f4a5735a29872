//! Sequential models: what one object does when operations reach it one at a time.
//!
//! A model is a small [`Model`] impl: an initial state, a step rule, and a state type with
//! equality and a hash (so the search can remember which states it has been in). Every model
//! describes *one* object; a history's `key`s name independent objects of the same model, and
//! the checker judges each key on its own (P-compositionality). So `kv` is a string register
//! with `append`, checked once per key, and a `register` history with keys is many registers.
//!
//! | model | operations (`f`: invoke value → ok value) |
//! |---|---|
//! | `register` | `read`: → the value (`null` before the first write); `write`: v |
//! | `cas-register` | as `register`, and `cas`: `[from, to]` (a cas whose compare failed completes `fail`) |
//! | `kv` | `get` (or `read`): → the string, `null` if never written; `put` (or `write`): string; `append`: string, onto the current one (absent counts as `""`); `cas`: `[from, to]`, `from` `null` for absent |
//! | `mutex` | `acquire`, `release` of the lock named by `key`, by `process` (not reentrant) |
//! | `set` | `add`: element; `read`: → every element, as an array (order ignored) |
//! | `counter` | `add`: integer; `read`: → the sum |
//! | `znode` | a znode's version (`null` while absent): `create` → 0 (fails if present); `set`: the expected version or `null` → the version after (one more); `delete`: the expected version or `null`; `read`: → the version or `null` |
//!
//! Adding one: implement [`Model`] (usually under 40 lines), add a [`ModelKind`] arm.

use super::{canonical, History, Op, Status};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// What an operation does in a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<S> {
    /// It cannot have happened here (e.g. a read of another value, or acquiring a held lock).
    Invalid,
    /// It happens here and leaves the state as it was (a read, a cas whose compare failed).
    Same,
    /// It happens here and the state becomes this.
    To(S),
}

/// One operation as a model reads it: its argument and, for `ok`, its result.
#[derive(Clone, Debug)]
pub struct Call<I, O> {
    pub input: I,
    /// `Some` for `ok` operations only (a placeholder for operations whose result the model
    /// does not read, such as writes); `None` means the result is unknown (`info`) or there is
    /// none to judge (`fail`).
    pub output: Option<O>,
    pub status: Status,
}

/// A sequential specification of one object.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    fn name(&self) -> &'static str;

    fn init(&self) -> Self::State;

    /// Reads an operation's `f`, argument and (for `ok`) result; an error says what is wrong
    /// with it, in the words of the model.
    fn parse(&self, op: &Op) -> Result<Call<Self::Input, Self::Output>, String>;

    /// The operation applied in `state`. `output` is `None` for an `info` operation: it takes
    /// effect whatever it would have returned.
    fn step(&self, state: &Self::State, input: &Self::Input, output: Option<&Self::Output>) -> Step<Self::State>;

    /// Whether the operation never changes any state (a read). The search may then place it as
    /// soon as it fits, without trying other orders first (it commutes with everything placed
    /// after it), and an `info` read is left out: it cannot matter.
    fn read_only(&self, _input: &Self::Input) -> bool {
        false
    }

    /// For each call, whether the search must consider placing it if it is `info`. An `info`
    /// operation may be left out whenever placing it can never help any `ok` operation take
    /// place; a model that can tell (e.g. a written value that no read ever returns) says so
    /// here, which keeps histories with many crashed clients cheap. Only `info` entries are
    /// read (answer `true` for the others without work); the default keeps them all.
    fn needed(&self, calls: &[Call<Self::Input, Self::Output>]) -> Vec<bool> {
        vec![true; calls.len()]
    }

    /// The state as a person reads it.
    fn describe(&self, state: &Self::State) -> String;
}

/// A JSON value interned as its canonical text: cheap to clone, compare and hash.
pub type Val = Arc<str>;

fn val(v: &Value) -> Val {
    Arc::from(canonical(v))
}

fn unknown_f(model: &str, f: &str, known: &str) -> String {
    format!("{model} has no operation {f:?} (it knows {known})")
}

/// The output of an `ok` operation, or `None` for `fail` and `info` ones.
fn ok_output<T>(op: &Op, read: impl FnOnce(&Value) -> Result<T, String>) -> Result<Option<T>, String> {
    if op.status == Status::Ok {
        read(&op.output).map(Some)
    } else {
        Ok(None)
    }
}

/// The output of an operation whose result the model does not read (a write): `Some` when it
/// completed `ok`, so the step can tell "took effect" from "unknown".
fn done<T>(op: &Op, placeholder: T) -> Option<T> {
    (op.status == Status::Ok).then_some(placeholder)
}

/// `[from, to]`, as cas takes it.
fn pair(v: &Value) -> Result<(&Value, &Value), String> {
    match v.as_array().map(Vec::as_slice) {
        Some([from, to]) => Ok((from, to)),
        _ => Err(format!("cas takes [from, to], found {v}")),
    }
}

// ---------------------------------------------------------------------------------------------

/// A read/write register of any JSON value, initially `null`; with `cas`, a compare-and-set
/// register.
pub struct Register {
    pub cas: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    Read,
    Write(Val),
    Cas(Val, Val),
}

impl Model for Register {
    type State = Val;
    type Input = RegisterOp;
    type Output = Val;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> Val {
        Arc::from("null")
    }

    fn parse(&self, op: &Op) -> Result<Call<RegisterOp, Val>, String> {
        let (input, output) = match op.f.as_str() {
            "read" => (RegisterOp::Read, ok_output(op, |v| Ok(val(v)))?),
            "write" => (RegisterOp::Write(val(&op.input)), done(op, self.init())),
            "cas" if self.cas => {
                let (from, to) = pair(&op.input)?;
                (RegisterOp::Cas(val(from), val(to)), done(op, self.init()))
            }
            f if self.cas => return Err(unknown_f(self.name(), f, "read, write and cas")),
            "cas" => return Err(unknown_f(self.name(), "cas", "read and write; cas-register adds cas")),
            f => return Err(unknown_f(self.name(), f, "read and write")),
        };
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &Val, input: &RegisterOp, output: Option<&Val>) -> Step<Val> {
        match input {
            RegisterOp::Read => match output {
                Some(v) if v != state => Step::Invalid,
                _ => Step::Same,
            },
            RegisterOp::Write(v) if v == state => Step::Same,
            RegisterOp::Write(v) => Step::To(v.clone()),
            RegisterOp::Cas(from, to) if from == state => {
                if to == state {
                    Step::Same
                } else {
                    Step::To(to.clone())
                }
            }
            // An ok cas succeeded; a failed compare completes `fail`, or is `info` and then
            // simply takes no effect here.
            RegisterOp::Cas(..) if output.is_none() => Step::Same,
            RegisterOp::Cas(..) => Step::Invalid,
        }
    }

    fn read_only(&self, input: &RegisterOp) -> bool {
        *input == RegisterOp::Read
    }

    /// An `info` write (or cas) of a value that nothing ever reads or compares against can be
    /// left out: until the next write, every state it leaves is one that no `ok` operation can
    /// take place in, so dropping it loses no linearization.
    fn needed(&self, calls: &[Call<RegisterOp, Val>]) -> Vec<bool> {
        let mut seen: HashSet<&str> = HashSet::new();
        for c in calls.iter().filter(|c| c.status != Status::Fail) {
            match (&c.input, &c.output) {
                (RegisterOp::Read, Some(v)) => {
                    seen.insert(v);
                }
                (RegisterOp::Cas(from, _), _) => {
                    seen.insert(from);
                }
                _ => {}
            }
        }
        calls
            .iter()
            .map(|c| match &c.input {
                _ if c.status != Status::Info => true,
                RegisterOp::Write(v) | RegisterOp::Cas(_, v) => seen.contains(&**v),
                RegisterOp::Read => false,
            })
            .collect()
    }

    fn describe(&self, state: &Val) -> String {
        state.to_string()
    }
}

// ---------------------------------------------------------------------------------------------

/// One key of a key-value store of strings: absent until written.
pub struct Kv;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Put(Arc<str>),
    Append(Arc<str>),
    Cas(Option<Arc<str>>, Arc<str>),
}

fn string(what: &str, v: &Value) -> Result<Arc<str>, String> {
    v.as_str().map(Arc::from).ok_or_else(|| format!("kv values are strings: {what} needs a string, found {v}"))
}

fn string_or_null(what: &str, v: &Value) -> Result<Option<Arc<str>>, String> {
    if v.is_null() {
        Ok(None)
    } else {
        string(what, v).map(Some)
    }
}

impl Model for Kv {
    type State = Option<Arc<str>>;
    type Input = KvOp;
    type Output = Option<Arc<str>>;

    fn name(&self) -> &'static str {
        "kv"
    }

    fn init(&self) -> Self::State {
        None
    }

    fn parse(&self, op: &Op) -> Result<Call<KvOp, Option<Arc<str>>>, String> {
        if op.key.is_none() {
            return Err(format!("kv operations need a \"key\" ({:?} has none)", op.f));
        }
        let (input, output) = match op.f.as_str() {
            "get" | "read" => (KvOp::Get, ok_output(op, |v| string_or_null("a get's result", v))?),
            "put" | "write" => (KvOp::Put(string("put", &op.input)?), done(op, None)),
            "append" => (KvOp::Append(string("append", &op.input)?), done(op, None)),
            "cas" => {
                let (from, to) = pair(&op.input)?;
                (KvOp::Cas(string_or_null("cas's from", from)?, string("cas's to", to)?), done(op, None))
            }
            f => return Err(unknown_f("kv", f, "get, put, append and cas (read and write also work)")),
        };
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &Self::State, input: &KvOp, output: Option<&Self::Output>) -> Step<Self::State> {
        match input {
            KvOp::Get => match output {
                Some(v) if v != state => Step::Invalid,
                _ => Step::Same,
            },
            KvOp::Put(v) if state.as_ref() == Some(v) => Step::Same,
            KvOp::Put(v) => Step::To(Some(v.clone())),
            KvOp::Append(s) if s.is_empty() && state.is_some() => Step::Same,
            KvOp::Append(s) => {
                let before = state.as_deref().unwrap_or("");
                let mut text = String::with_capacity(before.len() + s.len());
                text.push_str(before);
                text.push_str(s);
                Step::To(Some(Arc::from(text)))
            }
            KvOp::Cas(from, to) if from == state => {
                if state.as_ref() == Some(to) {
                    Step::Same
                } else {
                    Step::To(Some(to.clone()))
                }
            }
            KvOp::Cas(..) if output.is_none() => Step::Same,
            KvOp::Cas(..) => Step::Invalid,
        }
    }

    fn read_only(&self, input: &KvOp) -> bool {
        *input == KvOp::Get
    }

    /// An `info` put, append or cas whose string appears in no result and no cas's `from` can be
    /// left out: from where it would take effect until the next put, every string contains it,
    /// so no `ok` get or cas could take place there.
    fn needed(&self, calls: &[Call<KvOp, Option<Arc<str>>>]) -> Vec<bool> {
        if calls.iter().all(|c| c.status != Status::Info) {
            return vec![true; calls.len()];
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for c in calls.iter().filter(|c| c.status != Status::Fail) {
            match (&c.input, &c.output) {
                (KvOp::Get, Some(Some(v))) | (KvOp::Cas(Some(v), _), _) => {
                    seen.insert(v);
                }
                _ => {}
            }
        }
        // A string that is a prefix of another (appends grow them) contains nothing the longer
        // one does not; in sorted order such a string sits right before one it is a prefix of.
        let sorted: Vec<&str> = seen.into_iter().collect();
        let seen: Vec<&str> = sorted
            .iter()
            .enumerate()
            .filter(|(i, s)| sorted.get(i + 1).is_none_or(|next| !next.starts_with(**s)))
            .map(|(_, s)| *s)
            .collect();
        calls
            .iter()
            .map(|c| match &c.input {
                _ if c.status != Status::Info => true,
                KvOp::Put(s) | KvOp::Append(s) | KvOp::Cas(_, s) => seen.iter().any(|v| v.contains(&**s)),
                KvOp::Get => false,
            })
            .collect()
    }

    fn describe(&self, state: &Self::State) -> String {
        match state {
            None => "absent".into(),
            Some(s) => format!("{:?}", &**s),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// One named lock: free, or held by one process. Not reentrant.
pub struct Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MutexOp {
    Acquire(u64),
    Release(u64),
}

impl Model for Mutex {
    type State = Option<u64>;
    type Input = MutexOp;
    type Output = ();

    fn name(&self) -> &'static str {
        "mutex"
    }

    fn init(&self) -> Option<u64> {
        None
    }

    fn parse(&self, op: &Op) -> Result<Call<MutexOp, ()>, String> {
        let input = match op.f.as_str() {
            "acquire" => MutexOp::Acquire(op.process),
            "release" => MutexOp::Release(op.process),
            f => return Err(unknown_f("mutex", f, "acquire and release")),
        };
        let output = (op.status == Status::Ok).then_some(());
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &Option<u64>, input: &MutexOp, _: Option<&()>) -> Step<Option<u64>> {
        match (input, state) {
            (MutexOp::Acquire(p), None) => Step::To(Some(*p)),
            (MutexOp::Release(p), Some(holder)) if holder == p => Step::To(None),
            _ => Step::Invalid,
        }
    }

    /// An `info` acquire by a process that never releases the lock can be left out: once it
    /// took the lock, nobody else could acquire it and no `ok` operation could follow.
    fn needed(&self, calls: &[Call<MutexOp, ()>]) -> Vec<bool> {
        let releasers: BTreeSet<u64> = calls
            .iter()
            .filter(|c| c.status != Status::Fail)
            .filter_map(|c| match c.input {
                MutexOp::Release(p) => Some(p),
                MutexOp::Acquire(_) => None,
            })
            .collect();
        calls
            .iter()
            .map(|c| match c.input {
                _ if c.status != Status::Info => true,
                MutexOp::Acquire(p) => releasers.contains(&p),
                MutexOp::Release(_) => true,
            })
            .collect()
    }

    fn describe(&self, state: &Option<u64>) -> String {
        match state {
            None => "free".into(),
            Some(p) => format!("held by process {p}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// A grow-only set of JSON values, initially empty.
pub struct Set;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOp {
    Add(Val),
    Read,
}

impl Model for Set {
    type State = BTreeSet<Val>;
    type Input = SetOp;
    type Output = BTreeSet<Val>;

    fn name(&self) -> &'static str {
        "set"
    }

    fn init(&self) -> BTreeSet<Val> {
        BTreeSet::new()
    }

    fn parse(&self, op: &Op) -> Result<Call<SetOp, BTreeSet<Val>>, String> {
        let (input, output) = match op.f.as_str() {
            "add" => (SetOp::Add(val(&op.input)), done(op, BTreeSet::new())),
            "read" => {
                let output = ok_output(op, |v| match v {
                    Value::Array(items) => Ok(items.iter().map(val).collect()),
                    v => Err(format!("a set's read returns an array, found {v}")),
                })?;
                (SetOp::Read, output)
            }
            f => return Err(unknown_f("set", f, "add and read")),
        };
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &BTreeSet<Val>, input: &SetOp, output: Option<&BTreeSet<Val>>) -> Step<BTreeSet<Val>> {
        match input {
            SetOp::Read => match output {
                Some(v) if v != state => Step::Invalid,
                _ => Step::Same,
            },
            SetOp::Add(x) if state.contains(x) => Step::Same,
            SetOp::Add(x) => {
                let mut next = state.clone();
                next.insert(x.clone());
                Step::To(next)
            }
        }
    }

    fn read_only(&self, input: &SetOp) -> bool {
        *input == SetOp::Read
    }

    /// An `info` add of an element that no read returns can be left out: once added, every
    /// later read would have to return it.
    fn needed(&self, calls: &[Call<SetOp, BTreeSet<Val>>]) -> Vec<bool> {
        let seen: HashSet<&str> = calls
            .iter()
            .filter(|c| c.input == SetOp::Read)
            .filter_map(|c| c.output.as_ref())
            .flat_map(|s| s.iter().map(|v| &**v))
            .collect();
        calls
            .iter()
            .map(|c| match &c.input {
                _ if c.status != Status::Info => true,
                SetOp::Add(x) => seen.contains(&**x),
                SetOp::Read => false,
            })
            .collect()
    }

    fn describe(&self, state: &BTreeSet<Val>) -> String {
        format!("{{{}}}", state.iter().map(|v| &**v).collect::<Vec<_>>().join(", "))
    }
}

// ---------------------------------------------------------------------------------------------

/// An integer counter, initially 0.
pub struct Counter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CounterOp {
    Add(i64),
    Read,
}

impl Model for Counter {
    type State = i64;
    type Input = CounterOp;
    type Output = i64;

    fn name(&self) -> &'static str {
        "counter"
    }

    fn init(&self) -> i64 {
        0
    }

    fn parse(&self, op: &Op) -> Result<Call<CounterOp, i64>, String> {
        let int = |what: &str, v: &Value| v.as_i64().ok_or_else(|| format!("{what} must be an integer, found {v}"));
        let (input, output) = match op.f.as_str() {
            "add" => (CounterOp::Add(int("add's argument", &op.input)?), done(op, 0)),
            "read" => (CounterOp::Read, ok_output(op, |v| int("a counter's read", v))?),
            f => return Err(unknown_f("counter", f, "add and read")),
        };
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &i64, input: &CounterOp, output: Option<&i64>) -> Step<i64> {
        match input {
            CounterOp::Read => match output {
                Some(v) if v != state => Step::Invalid,
                _ => Step::Same,
            },
            CounterOp::Add(0) => Step::Same,
            CounterOp::Add(n) => state.checked_add(*n).map_or(Step::Invalid, Step::To),
        }
    }

    fn read_only(&self, input: &CounterOp) -> bool {
        *input == CounterOp::Read
    }

    fn describe(&self, state: &i64) -> String {
        state.to_string()
    }
}

// ---------------------------------------------------------------------------------------------

/// A znode of the coordination service, seen through its version: absent (`None`) or present
/// with a version that each `set` raises by one. A set's or delete's argument is the version it
/// expects (`null`: any); a set answers the version after it.
pub struct Znode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZnodeOp {
    Create,
    Set(Option<u64>),
    Delete(Option<u64>),
    Read,
}

impl Model for Znode {
    type State = Option<u64>;
    type Input = ZnodeOp;
    type Output = Option<u64>;

    fn name(&self) -> &'static str {
        "znode"
    }

    fn init(&self) -> Option<u64> {
        None
    }

    fn parse(&self, op: &Op) -> Result<Call<ZnodeOp, Option<u64>>, String> {
        let version = |what: &str, v: &Value| match v {
            Value::Null => Ok(None),
            v => {
                v.as_u64().map(Some).ok_or_else(|| format!("{what} must be a version (an integer) or null, found {v}"))
            }
        };
        let (input, output) = match op.f.as_str() {
            "create" => (ZnodeOp::Create, done(op, Some(0))),
            "set" => (
                ZnodeOp::Set(version("set's expected version", &op.input)?),
                ok_output(op, |v| version("a set's version", v))?,
            ),
            "delete" => (ZnodeOp::Delete(version("delete's expected version", &op.input)?), done(op, None)),
            "read" => (ZnodeOp::Read, ok_output(op, |v| version("a read's version", v))?),
            f => return Err(unknown_f("znode", f, "create, set, delete and read")),
        };
        Ok(Call { input, output, status: op.status })
    }

    fn step(&self, state: &Option<u64>, input: &ZnodeOp, output: Option<&Option<u64>>) -> Step<Option<u64>> {
        let matches = |expected: &Option<u64>| state.is_some() && expected.is_none_or(|e| Some(e) == *state);
        match (input, output) {
            (ZnodeOp::Read, Some(v)) if v != state => Step::Invalid,
            (ZnodeOp::Read, _) => Step::Same,
            // `ok`: it took effect, so its condition held here; `info`: it took effect if it held.
            (ZnodeOp::Create, _) if state.is_none() => Step::To(Some(0)),
            (ZnodeOp::Set(e), _) if matches(e) => {
                let after = state.map(|v| v + 1);
                match output {
                    Some(v) if *v != after => Step::Invalid,
                    _ => Step::To(after),
                }
            }
            (ZnodeOp::Delete(e), _) if matches(e) => Step::To(None),
            (_, Some(_)) => Step::Invalid,
            (_, None) => Step::Same,
        }
    }

    fn read_only(&self, input: &ZnodeOp) -> bool {
        *input == ZnodeOp::Read
    }

    fn describe(&self, state: &Option<u64>) -> String {
        state.map_or("absent".into(), |v| format!("version {v}"))
    }
}

// ---------------------------------------------------------------------------------------------

/// The models by name, for the command line and the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelKind {
    Register,
    CasRegister,
    Kv,
    Mutex,
    Set,
    Counter,
    /// Not in [`ModelKind::ALL`]: the generator has no znode histories (the coordination
    /// service's runs write them).
    Znode,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::Counter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::Counter => "counter",
            ModelKind::Znode => "znode",
        }
    }

    /// What the model is, in one line.
    pub fn summary(self) -> &'static str {
        match self {
            ModelKind::Register => "read/write of one value (initially null)",
            ModelKind::CasRegister => "read/write/cas [from, to] of one value (initially null)",
            ModelKind::Kv => "get/put/append/cas of strings, one register per key (absent until written)",
            ModelKind::Mutex => "acquire/release of named locks (key), by process",
            ModelKind::Set => "add/read of a grow-only set",
            ModelKind::Counter => "add/read of an integer counter (initially 0)",
            ModelKind::Znode => {
                "create/set/delete/read of a znode's version (absent until created), with expected versions"
            }
        }
    }

    pub fn parse(name: &str) -> Result<ModelKind, String> {
        let known = ModelKind::ALL.into_iter().chain([ModelKind::Znode]);
        known.clone().find(|m| m.name() == name).ok_or_else(|| {
            format!("unknown model {name:?}; known models: {}", known.map(|m| m.name()).collect::<Vec<_>>().join(", "))
        })
    }

    /// The model a history was most likely written for, from its operations' names: what a
    /// run report uses, where nobody named one.
    pub fn guess(history: &History) -> Option<ModelKind> {
        let fs: BTreeSet<&str> = history.ops().iter().map(|o| o.f.as_str()).collect();
        let has = |f: &str| fs.contains(f);
        if has("acquire") || has("release") {
            Some(ModelKind::Mutex)
        } else if has("create") || (has("set") && !has("put")) {
            Some(ModelKind::Znode)
        } else if has("get") || has("put") || has("append") {
            Some(ModelKind::Kv)
        } else if has("add") {
            let array_reads =
                history.ops().iter().any(|o| o.f == "read" && o.status == Status::Ok && o.output.is_array());
            Some(if array_reads { ModelKind::Set } else { ModelKind::Counter })
        } else if has("cas") {
            Some(ModelKind::CasRegister)
        } else if has("read") || has("write") {
            Some(ModelKind::Register)
        } else {
            None
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(f: &str, input: Value, status: Status, output: Value) -> Op {
        Op { process: 1, f: f.into(), key: Some(json!("k")), input, output, status, invoke: 0, complete: Some(1) }
    }

    fn ok(f: &str, input: Value, output: Value) -> Op {
        op(f, input, Status::Ok, output)
    }

    fn step<M: Model>(m: &M, state: &M::State, o: &Op) -> Step<M::State> {
        let call = m.parse(o).unwrap();
        m.step(state, &call.input, call.output.as_ref())
    }

    #[test]
    fn register_reads_what_was_written_and_cas_compares() {
        let m = Register { cas: true };
        let s = m.init();
        assert_eq!(&*s, "null");
        assert_eq!(step(&m, &s, &ok("read", Value::Null, Value::Null)), Step::Same);
        assert_eq!(step(&m, &s, &ok("read", Value::Null, json!(1))), Step::Invalid);
        let one = match step(&m, &s, &ok("write", json!(1), Value::Null)) {
            Step::To(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(step(&m, &one, &ok("read", Value::Null, json!(1))), Step::Same);
        assert_eq!(step(&m, &one, &ok("write", json!(1), Value::Null)), Step::Same);
        assert_eq!(step(&m, &one, &ok("cas", json!([1, 2]), Value::Null)), Step::To(Arc::from("2")));
        assert_eq!(step(&m, &one, &ok("cas", json!([3, 2]), Value::Null)), Step::Invalid, "an ok cas succeeded");
        let info = op("cas", json!([3, 2]), Status::Info, Value::Null);
        assert_eq!(step(&m, &one, &info), Step::Same, "an info cas whose compare fails has no effect");
        assert!(Register { cas: false }
            .parse(&ok("cas", json!([1, 2]), Value::Null))
            .unwrap_err()
            .contains("cas-register"));
        assert!(m.parse(&ok("cas", json!(3), Value::Null)).unwrap_err().contains("[from, to]"));
        // Objects are compared by value, whatever the key order in the file.
        let obj = step(&m, &s, &ok("write", json!({"a": 1, "b": 2}), Value::Null));
        let Step::To(obj) = obj else { panic!() };
        let read: Value = serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap();
        assert_eq!(step(&m, &obj, &ok("read", Value::Null, read)), Step::Same);
    }

    #[test]
    fn kv_appends_onto_absent_as_empty_and_gets_null_until_written() {
        let m = Kv;
        let s = m.init();
        assert_eq!(step(&m, &s, &ok("get", Value::Null, Value::Null)), Step::Same);
        assert_eq!(step(&m, &s, &ok("get", Value::Null, json!(""))), Step::Invalid, "absent is not empty");
        let Step::To(a) = step(&m, &s, &ok("append", json!("ab"), Value::Null)) else { panic!() };
        assert_eq!(a.as_deref(), Some("ab"));
        let Step::To(b) = step(&m, &a, &ok("append", json!("c"), Value::Null)) else { panic!() };
        assert_eq!(step(&m, &b, &ok("get", Value::Null, json!("abc"))), Step::Same);
        assert_eq!(step(&m, &b, &ok("put", json!("z"), Value::Null)), Step::To(Some(Arc::from("z"))));
        assert_eq!(step(&m, &b, &ok("cas", json!(["abc", "d"]), Value::Null)), Step::To(Some(Arc::from("d"))));
        assert_eq!(step(&m, &s, &ok("cas", json!([null, "d"]), Value::Null)), Step::To(Some(Arc::from("d"))));
        assert_eq!(step(&m, &b, &ok("cas", json!([null, "d"]), Value::Null)), Step::Invalid);
        assert_eq!(step(&m, &s, &ok("read", Value::Null, Value::Null)), Step::Same, "Maelstrom's names work too");
        assert!(m.parse(&ok("put", json!(3), Value::Null)).unwrap_err().contains("strings"));
        let mut keyless = ok("get", Value::Null, Value::Null);
        keyless.key = None;
        assert!(m.parse(&keyless).unwrap_err().contains("key"));
        assert!(m.parse(&ok("incr", Value::Null, Value::Null)).unwrap_err().contains("get, put, append and cas"));
    }

    #[test]
    fn mutex_is_held_by_one_process_and_released_only_by_it() {
        let m = Mutex;
        let acquire = |p| Op { process: p, ..ok("acquire", Value::Null, Value::Null) };
        let release = |p| Op { process: p, ..ok("release", Value::Null, Value::Null) };
        let s = m.init();
        let Step::To(held) = step(&m, &s, &acquire(1)) else { panic!() };
        assert_eq!(held, Some(1));
        assert_eq!(step(&m, &held, &acquire(2)), Step::Invalid);
        assert_eq!(step(&m, &held, &acquire(1)), Step::Invalid, "not reentrant");
        assert_eq!(step(&m, &held, &release(2)), Step::Invalid);
        assert_eq!(step(&m, &held, &release(1)), Step::To(None));
        assert_eq!(step(&m, &s, &release(1)), Step::Invalid);
    }

    #[test]
    fn set_reads_compare_as_sets_and_counter_sums() {
        let m = Set;
        let Step::To(one) = step(&m, &m.init(), &ok("add", json!(1), Value::Null)) else { panic!() };
        let Step::To(two) = step(&m, &one, &ok("add", json!("x"), Value::Null)) else { panic!() };
        assert_eq!(step(&m, &two, &ok("read", Value::Null, json!(["x", 1]))), Step::Same);
        assert_eq!(step(&m, &two, &ok("read", Value::Null, json!([1]))), Step::Invalid);
        assert_eq!(step(&m, &two, &ok("add", json!(1), Value::Null)), Step::Same);
        let c = Counter;
        let Step::To(five) = step(&c, &c.init(), &ok("add", json!(5), Value::Null)) else { panic!() };
        assert_eq!(step(&c, &five, &ok("read", Value::Null, json!(5))), Step::Same);
        assert_eq!(step(&c, &five, &ok("read", Value::Null, json!(4))), Step::Invalid);
        assert_eq!(step(&c, &five, &ok("add", json!(-5), Value::Null)), Step::To(0));
        assert!(c.parse(&ok("add", json!("1"), Value::Null)).unwrap_err().contains("integer"));
    }

    #[test]
    fn info_writes_nobody_observes_are_not_needed() {
        let m = Register { cas: true };
        let calls: Vec<_> = [
            ok("read", Value::Null, json!(2)),
            op("write", json!(1), Status::Info, Value::Null),
            op("write", json!(2), Status::Info, Value::Null),
            op("cas", json!([3, 4]), Status::Info, Value::Null),
            op("write", json!(3), Status::Info, Value::Null),
        ]
        .iter()
        .map(|o| m.parse(o).unwrap())
        .collect();
        assert_eq!(
            m.needed(&calls),
            vec![true, false, true, false, true],
            "3 is compared by the cas; ok ops always count"
        );
        let kv: Vec<_> = [
            ok("get", Value::Null, json!("p1[2][3]")),
            op("append", json!("[2]"), Status::Info, Value::Null),
            op("append", json!("[9]"), Status::Info, Value::Null),
            op("put", json!("p1"), Status::Info, Value::Null),
        ]
        .iter()
        .map(|o| Kv.parse(o).unwrap())
        .collect();
        assert_eq!(Kv.needed(&kv), vec![true, true, false, true]);
    }

    #[test]
    fn model_names_parse_and_unknown_ones_list_the_known() {
        for m in ModelKind::ALL {
            assert_eq!(ModelKind::parse(m.name()), Ok(m));
        }
        let e = ModelKind::parse("queue").unwrap_err();
        assert!(e.contains("queue") && e.contains("cas-register") && e.contains("counter"), "{e}");
    }
}

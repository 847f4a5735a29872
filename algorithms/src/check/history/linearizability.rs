//! Is there an order of the operations that respects real time and the model?
//!
//! The search is Wing and Gong's, with Lowe's memoization, as porcupine does it:
//!
//! - The operations of one key are a list of call and return entries in real-time order (a
//!   doubly linked list, so taking an operation out and putting it back are O(1), in
//!   last-out-first-in order as a depth-first search needs).
//! - An operation can be linearized next when its call comes before the first return left in
//!   the list: nothing still waiting finished before it started. The search tries those in
//!   order; one whose step the model accepts is *lifted* out of the list and pushed on a stack
//!   with the state before it. When none fits, the top of the stack is put back and the next
//!   candidate after it is tried.
//! - A configuration is the set of operations linearized and the model's state. Two paths that
//!   reach the same configuration have the same future, so each is explored once: a cache holds
//!   every configuration seen (it failed, or the search would have ended).
//!
//! What this implementation adds, and why:
//!
//! - **Keys are checked one at a time** (P-compositionality, Horn and Kroening 2015): a history
//!   over many keys is linearizable if and only if each key's sub-history is, and the search
//!   space of the whole is the product of the parts'.
//! - **Compact configurations.** Rather than a bitset of every operation, a configuration is
//!   `(state, lo, window)`: `lo` is the earliest operation not yet linearized, and every
//!   operation linearized after it must have started before `lo` returned, so the bits of that
//!   window are all that differ between configurations. A 100,000-operation history costs a few
//!   words per configuration, not 12 KiB.
//! - **Reads go first.** An operation that never changes the state (a read) and fits now is
//!   lifted without trying alternatives: any linearization from here can be rearranged to start
//!   with it, so if that fails, everything fails. This is what keeps many concurrent reads of
//!   one value from multiplying the search.
//! - **`info` operations are optional.** They may take effect at any point after their
//!   invocation, or never: they are not in the list of entries (they never return, so they
//!   never hold anything back), the search succeeds once every `ok` operation is placed, and
//!   an `info` operation is tried only after the `ok` candidates, and only when it changes the
//!   state. A configuration records which `info` operations were placed, and one whose set
//!   contains an already failed configuration's set (with equal state and `ok` operations)
//!   fails too: it has fewer options left. Right after one `info` operation, another that
//!   would leave the same state in its place (a blind write over it) is not tried: its sibling
//!   placed alone gets there with less. `info` reads, and `info` writes nobody could observe
//!   (the model says which, see [`Model::needed`]), are dropped before the search.
//! - **Candidates in midpoint order.** Operations that may go next are tried in the order of
//!   their intervals' midpoints, the likeliest order of their linearization points when
//!   nothing else is known (any order is complete; a good one backtracks less: a fifth fewer
//!   configurations than invocation order on 50-client kv histories).
//! - **States are interned**, and each (state, operation) step is computed once: the search
//!   retries the same candidates in the same state often, and a kv state can be a long string.
//!
//! When the search fails, the longest prefix it managed to linearize, the operation that had to
//! come next and could not, and the operations concurrent with it are what a person needs to
//! see why (porcupine draws the same).
//!
//! No clock is read here: the caller passes a `stop` callback (the orchestrator's checks a
//! deadline) and the search asks it every 1,024 steps; a stopped key is `unknown`.

use super::model::{Call, Counter, Kv, Model, ModelKind, Mutex, Register, Set, Step, Znode};
use super::{History, HistoryError, Op, Status};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// How to run a check.
#[derive(Clone, Copy)]
pub struct CheckOptions<'a> {
    /// Asked now and then; `true` stops the check, and what was not decided is `unknown`.
    pub stop: &'a dyn Fn() -> bool,
}

fn never() -> bool {
    false
}

impl Default for CheckOptions<'static> {
    fn default() -> Self {
        CheckOptions { stop: &never }
    }
}

/// The verdict on a history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Linearizable,
    NotLinearizable,
    /// The check was stopped before it could decide (and found no violation until then).
    Unknown,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Linearizable => "linearizable",
            Outcome::NotLinearizable => "NOT linearizable",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Why one key's operations have no linearization.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub key: Option<Value>,
    /// The operation that cannot be placed (an index into [`History::ops`]): the first to
    /// return among those left after the longest linearizable prefix.
    pub op: usize,
    /// Operations whose interval overlaps its own (indices into [`History::ops`]): every
    /// status, but for `info` operations that cannot matter (reads, writes nobody observes).
    pub concurrent: Vec<usize>,
    /// The longest linearizable prefix the search found, in its linearization order (`info`
    /// operations it placed included).
    pub prefix: Vec<usize>,
    /// The model's state after that prefix, as [`Model::describe`] puts it.
    pub state: String,
    /// The prefix's last operations (at most [`TAIL`]) with the state each one left.
    pub tail: Vec<(usize, String)>,
    /// How many operations the key has (every status).
    pub key_ops: usize,
}

impl Violation {
    /// One paragraph a person reads.
    pub fn explain(&self, history: &History, model: ModelKind) -> String {
        let op = &history.ops()[self.op];
        let line = op.complete.map_or(history.line(op.invoke), |c| history.line(c));
        let placed = self.prefix.iter().filter(|&&i| history.ops()[i].status == Status::Ok).count();
        let others = match self.concurrent.len() {
            0 => "no other operation overlaps it".to_string(),
            1 => "neither order with the one operation concurrent with it helps".to_string(),
            n => format!("no order of the {n} operations concurrent with it helps"),
        };
        format!(
            "after the longest linearizable prefix ({placed} of the key's {} operations), the {model} is {}; \
             process {}'s {} (line {line}) cannot take effect there, and {others}",
            self.key_ops,
            self.state,
            op.process,
            op.describe(),
        )
    }
}

/// What a check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    pub model: ModelKind,
    /// One per key found not linearizable, in key order.
    pub violations: Vec<Violation>,
    /// Keys the check was stopped on or before.
    pub undecided: Vec<Option<Value>>,
    pub keys: usize,
    /// Configurations the search visited, over all keys (a measure of its work).
    pub explored: u64,
}

/// Checks `history` against `model`. An operation the model cannot read (an unknown `f`, a
/// malformed value) is an error naming its line.
pub fn check(history: &History, model: ModelKind, options: CheckOptions) -> Result<Report, HistoryError> {
    match model {
        ModelKind::Register => check_with(&Register { cas: false }, model, history, options),
        ModelKind::CasRegister => check_with(&Register { cas: true }, model, history, options),
        ModelKind::Kv => check_with(&Kv, model, history, options),
        ModelKind::Mutex => check_with(&Mutex, model, history, options),
        ModelKind::Set => check_with(&Set, model, history, options),
        ModelKind::Counter => check_with(&Counter, model, history, options),
        ModelKind::Znode => check_with(&Znode, model, history, options),
    }
}

/// [`check`] for any [`Model`], e.g. one of your own.
pub fn check_with<M: Model>(
    model: &M,
    kind: ModelKind,
    history: &History,
    options: CheckOptions,
) -> Result<Report, HistoryError> {
    // Keys in a fixed order (canonical JSON), so results never depend on hashing.
    let mut by_key: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.ops().iter().enumerate() {
        by_key.entry(op.key.as_ref().map(super::canonical)).or_default().push(i);
    }
    let mut parts = Vec::with_capacity(by_key.len());
    for indices in by_key.values() {
        let calls =
            indices.iter().map(|&i| parse_op(model, history, &history.ops()[i])).collect::<Result<Vec<_>, _>>()?;
        parts.push((indices, calls));
    }
    let mut report = Report {
        outcome: Outcome::Linearizable,
        model: kind,
        violations: vec![],
        undecided: vec![],
        keys: parts.len(),
        explored: 0,
    };
    for (indices, calls) in parts {
        let key = history.ops()[indices[0]].key.clone();
        if (options.stop)() {
            report.undecided.push(key);
            continue;
        }
        let (result, explored, dropped) = check_key(model, history, indices, calls, options.stop);
        report.explored += explored;
        match result {
            KeyResult::Linearizable => {}
            KeyResult::Stopped => report.undecided.push(key),
            KeyResult::Violation { op, prefix, state, tail } => {
                let concurrent = concurrent_with(history, indices, op, &dropped);
                report.violations.push(Violation { key, op, concurrent, prefix, state, tail, key_ops: indices.len() });
            }
        }
    }
    report.outcome = if !report.violations.is_empty() {
        Outcome::NotLinearizable
    } else if !report.undecided.is_empty() {
        Outcome::Unknown
    } else {
        Outcome::Linearizable
    };
    Ok(report)
}

/// The model's reading of an operation; an error points at the completion when only the result
/// is wrong, else at the invocation.
fn parse_op<M: Model>(model: &M, history: &History, op: &Op) -> Result<Call<M::Input, M::Output>, HistoryError> {
    model.parse(op).map_err(|message| {
        let result_only = op.status == Status::Ok && model.parse(&Op { status: Status::Info, ..op.clone() }).is_ok();
        let at = match (result_only, op.complete) {
            (true, Some(c)) => c,
            _ => op.invoke,
        };
        HistoryError { line: history.line(at), message }
    })
}

/// Operations of the key overlapping `op` in real time, but for the `info` ones that cannot
/// matter (`dropped`: sorted).
fn concurrent_with(history: &History, indices: &[usize], op: usize, dropped: &[usize]) -> Vec<usize> {
    let ops = history.ops();
    let end = |o: &Op| o.complete.filter(|_| o.status != Status::Info).unwrap_or(usize::MAX);
    let (start, stop) = (ops[op].invoke, end(&ops[op]));
    indices
        .iter()
        .copied()
        .filter(|&i| i != op && ops[i].invoke < stop && end(&ops[i]) > start)
        .filter(|i| dropped.binary_search(i).is_err())
        .collect()
}

enum KeyResult {
    Linearizable,
    /// Indices into `History::ops`.
    Violation {
        op: usize,
        prefix: Vec<usize>,
        state: String,
        tail: Vec<(usize, String)>,
    },
    Stopped,
}

fn check_key<M: Model>(
    model: &M,
    history: &History,
    indices: &[usize],
    calls: Vec<Call<M::Input, M::Output>>,
    stop: &dyn Fn() -> bool,
) -> (KeyResult, u64, Vec<usize>) {
    let needed = model.needed(&calls);
    let ops = history.ops();
    // Local numbering: ok operations 0..m in invocation order, then the info ones worth placing.
    let mut ok = Vec::new();
    let mut info = Vec::new();
    let mut dropped = Vec::new();
    for (n, call) in calls.into_iter().enumerate() {
        match call.status {
            Status::Ok => ok.push((indices[n], call)),
            Status::Info if needed[n] && !model.read_only(&call.input) => info.push((indices[n], call)),
            Status::Info => dropped.push(indices[n]),
            Status::Fail => {}
        }
    }
    if ok.is_empty() {
        return (KeyResult::Linearizable, 0, dropped);
    }
    let mut search = Search::new(model, ops, ok, info);
    let result = search.run(stop);
    let explored = search.cache.len() as u64;
    let result = match result {
        End::Found => KeyResult::Linearizable,
        End::Stopped => KeyResult::Stopped,
        End::Exhausted => KeyResult::Violation {
            op: search.origin[search.best.blocker as usize],
            prefix: search.best.ops.iter().map(|&l| search.origin[l as usize]).collect(),
            state: model.describe(&search.states.list[search.best.state as usize]),
            tail: search.tail(),
        },
    };
    (result, explored, dropped)
}

// ---------------------------------------------------------------------------------------------

/// A fast, deterministic hash for small integer keys and short strings (the multiply-rotate
/// scheme of Firefox and rustc, with a final mix so the high bits hashbrown uses are good).
#[derive(Default, Clone, Copy)]
struct Fast(u64);

impl Fast {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fast {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 32;
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fast>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<Fast>>;

/// Every state the search has been in, numbered, so configurations hold a `u32`.
struct States<S> {
    list: Vec<S>,
    ids: FastMap<S, u32>,
}

impl<S: Clone + Eq + std::hash::Hash> States<S> {
    fn intern(&mut self, state: S) -> u32 {
        match self.ids.entry(state) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let id = self.list.len() as u32;
                self.list.push(e.key().clone());
                e.insert(id);
                id
            }
        }
    }
}

/// A configuration's key: a few words, kept inline when short (the usual case), so the cache
/// allocates nothing per configuration.
#[derive(Clone)]
enum Key {
    Inline(u8, [u64; 3]),
    Heap(Box<[u64]>),
}

impl Key {
    fn new(words: &[u64]) -> Key {
        if words.len() <= 3 {
            let mut inline = [0; 3];
            inline[..words.len()].copy_from_slice(words);
            Key::Inline(words.len() as u8, inline)
        } else {
            Key::Heap(words.into())
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            Key::Inline(n, words) => &words[..*n as usize],
            Key::Heap(words) => words,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.words() == other.words()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.words().hash(state);
    }
}

/// The `info` sets an `ok` configuration was reached with.
enum InfoSets {
    /// Reached with none placed: that dominates every other set.
    Empty,
    /// Sorted sets, none containing another.
    Sets(Vec<Box<[u32]>>),
}

/// Configurations seen. With no `info` operations a set; with them, each `ok` configuration
/// keeps the sets of `info` operations it was reached with.
enum Cache {
    Plain(FastSet<Key>),
    WithInfo(FastMap<Key, InfoSets>),
}

/// Whether sorted `a` is a subset of sorted `b`.
fn subset(a: &[u32], b: &[u32]) -> bool {
    let mut rest = b.iter();
    a.iter().all(|x| rest.by_ref().any(|y| y == x))
}

impl Cache {
    fn new(info: bool, capacity: usize) -> Cache {
        let hasher = BuildHasherDefault::<Fast>::default();
        if info {
            Cache::WithInfo(FastMap::with_capacity_and_hasher(capacity, hasher))
        } else {
            Cache::Plain(FastSet::with_capacity_and_hasher(capacity, hasher))
        }
    }

    /// Records the configuration; `false` if it (or one with fewer `info` operations placed)
    /// was seen before.
    fn visit(&mut self, key: &[u64], info: &[u32]) -> bool {
        match self {
            Cache::Plain(set) => set.insert(Key::new(key)),
            Cache::WithInfo(map) => match map.entry(Key::new(key)) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(if info.is_empty() { InfoSets::Empty } else { InfoSets::Sets(vec![info.into()]) });
                    true
                }
                std::collections::hash_map::Entry::Occupied(mut e) => match e.get_mut() {
                    InfoSets::Empty => false,
                    InfoSets::Sets(_) if info.is_empty() => {
                        e.insert(InfoSets::Empty);
                        true
                    }
                    InfoSets::Sets(sets) => {
                        if sets.iter().any(|seen| subset(seen, info)) {
                            return false;
                        }
                        sets.retain(|seen| !subset(info, seen));
                        sets.push(info.into());
                        true
                    }
                },
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            Cache::Plain(set) => set.len(),
            Cache::WithInfo(map) => {
                map.values().map(|v| if let InfoSets::Sets(sets) = v { sets.len() } else { 1 }).sum()
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ok,
    /// A read lifted without alternatives: backtracking passes over it.
    Greedy,
    Info,
}

/// One lifted operation: which, the state before it, and where the scan resumes: for `ok`
/// operations their place among the node's candidates, for `info` ones the scan's limit.
#[derive(Clone, Copy)]
struct Frame {
    local: u32,
    before: u32,
    kind: Kind,
    limit: u32,
}

enum Cursor {
    /// Scanning the entry list at this node for reads (they go first, without alternatives).
    Reads(u32),
    /// Trying this node's other candidates (see [`Search::candidates`]), from this one.
    Ok(usize),
    /// Scanning `info` operations at this node, up to (not including) this position.
    Info(u32, u32),
}

enum Lift {
    /// Lifted; the new state.
    Yes(u32),
    No,
    /// A read that fits leads to a failed configuration: so does every choice here.
    Dead,
}

enum End {
    Found,
    Exhausted,
    Stopped,
}

/// The longest linearizable prefix so far.
struct Best {
    ok: usize,
    ops: Vec<u32>,
    /// How many leading entries of `ops` are still the stack's.
    shared: usize,
    state: u32,
    /// The first operation to return after the prefix (local id).
    blocker: u32,
}

struct Search<'a, M: Model> {
    model: &'a M,
    /// Number of ok operations (local ids 0..m); info operations are m.. .
    m: usize,
    inputs: Vec<M::Input>,
    outputs: Vec<Option<M::Output>>,
    greedy: Vec<bool>,
    /// History op index per local id.
    origin: Vec<usize>,
    // The entry list: node 2i is ok operation i's call, 2i + 1 its return; node 2m the head.
    next: Vec<u32>,
    prev: Vec<u32>,
    pos: Vec<u32>,
    /// Per ok operation: the first ok operation invoked after it returned.
    reach: Vec<u32>,
    // The info list: node j is info operation m + j; node k the head.
    inext: Vec<u32>,
    iprev: Vec<u32>,
    ipos: Vec<u32>,
    /// Which ok operations are linearized.
    bits: Vec<u64>,
    /// Which info operations are placed (local ids, sorted).
    placed: Vec<u32>,
    remaining: usize,
    states: States<M::State>,
    steps: FastMap<u64, u32>,
    cache: Cache,
    key: Vec<u64>,
    stack: Vec<Frame>,
    /// Per depth: the node's non-read candidates in the order they are tried, and the position
    /// of its first return (what bounds the info candidates).
    candidates: Vec<(Vec<u32>, u32)>,
    /// Per ok operation: the order key candidates are tried in.
    priority: Vec<u64>,
    best: Best,
}

const INVALID: u32 = u32::MAX;

/// Operations of one key as the search takes them: history index and the model's reading.
type Calls<M> = Vec<(usize, Call<<M as Model>::Input, <M as Model>::Output>)>;

/// How many of the prefix's last operations a violation shows with their states.
pub const TAIL: usize = 12;

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &[Op], ok: Calls<M>, info: Calls<M>) -> Self {
        let (m, k) = (ok.len(), info.len());
        let mut entries: Vec<(u32, u32)> = Vec::with_capacity(2 * m);
        let mut reach = vec![m as u32; m];
        for (i, (o, _)) in ok.iter().enumerate() {
            let op = &ops[*o];
            entries.push((op.invoke as u32, 2 * i as u32));
            entries.push((op.complete.expect("ok operations complete") as u32, 2 * i as u32 + 1));
        }
        // reach: ok operations are in invocation order, so one pointer walks forward.
        let mut j = 0;
        let mut by_return: Vec<usize> = (0..m).collect();
        by_return.sort_by_key(|&i| ops[ok[i].0].complete);
        for i in by_return {
            let ret = ops[ok[i].0].complete;
            while j < m && Some(ops[ok[j].0].invoke) < ret {
                j += 1;
            }
            reach[i] = j as u32;
        }
        entries.sort_unstable();
        let head = 2 * m as u32;
        let mut next = vec![head; 2 * m + 1];
        let mut prev = vec![head; 2 * m + 1];
        let mut pos = vec![u32::MAX; 2 * m + 1];
        let mut last = head;
        for &(p, node) in &entries {
            pos[node as usize] = p;
            next[last as usize] = node;
            prev[node as usize] = last;
            last = node;
        }
        next[last as usize] = head;
        prev[head as usize] = last;
        let ihead = k as u32;
        let mut inext = vec![ihead; k + 1];
        let mut iprev = vec![ihead; k + 1];
        let mut ipos = vec![u32::MAX; k + 1];
        let mut last = ihead;
        for (j, (o, _)) in info.iter().enumerate() {
            ipos[j] = ops[*o].invoke as u32;
            inext[last as usize] = j as u32;
            iprev[j] = last;
            last = j as u32;
        }
        inext[last as usize] = ihead;
        iprev[ihead as usize] = last;

        let mut origin = Vec::with_capacity(m + k);
        let mut inputs = Vec::with_capacity(m + k);
        let mut outputs = Vec::with_capacity(m + k);
        for (o, call) in ok.into_iter().chain(info) {
            origin.push(o);
            inputs.push(call.input);
            outputs.push(call.output);
        }
        let greedy = inputs[..m].iter().map(|i| model.read_only(i)).collect();
        // Twice the midpoint of each interval (see `candidates`).
        let priority: Vec<u64> = (0..m).map(|i| pos[2 * i] as u64 + pos[2 * i + 1] as u64).collect();
        let mut states =
            States { list: Vec::with_capacity(m), ids: FastMap::with_capacity_and_hasher(m, Default::default()) };
        let init = states.intern(model.init());
        let cache = Cache::new(k > 0, 2 * m);
        let mut search = Search {
            model,
            m,
            inputs,
            outputs,
            greedy,
            origin,
            next,
            prev,
            pos,
            reach,
            inext,
            iprev,
            ipos,
            bits: vec![0; m.div_ceil(64)],
            placed: Vec::new(),
            remaining: m,
            states,
            steps: FastMap::with_capacity_and_hasher(4 * m, Default::default()),
            cache,
            key: Vec::new(),
            stack: Vec::new(),
            candidates: Vec::new(),
            priority,
            best: Best { ok: 0, ops: Vec::new(), shared: 0, state: init, blocker: 0 },
        };
        search.best.blocker = search.first_return();
        search
    }

    fn head(&self) -> u32 {
        2 * self.m as u32
    }

    fn ihead(&self) -> u32 {
        (self.inputs.len() - self.m) as u32
    }

    /// The ok operation whose return comes first among those left.
    fn first_return(&self) -> u32 {
        let mut e = self.next[self.head() as usize];
        while e.is_multiple_of(2) {
            e = self.next[e as usize];
        }
        e / 2
    }

    /// The state after `local` in state `state`, or INVALID; each pair is computed once.
    fn step(&mut self, state: u32, local: u32) -> u32 {
        let memo = (state as u64) << 32 | local as u64;
        if let Some(&to) = self.steps.get(&memo) {
            return to;
        }
        let l = local as usize;
        let to = match self.model.step(&self.states.list[state as usize], &self.inputs[l], self.outputs[l].as_ref()) {
            Step::Invalid => INVALID,
            Step::Same => state,
            Step::To(next) => self.states.intern(next),
        };
        self.steps.insert(memo, to);
        to
    }

    fn unlink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    fn relink(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        self.prev[n as usize] = x;
    }

    fn lift(&mut self, i: u32) {
        self.unlink(2 * i);
        self.unlink(2 * i + 1);
        self.bits[i as usize / 64] |= 1 << (i % 64);
        self.remaining -= 1;
    }

    fn unlift(&mut self, i: u32) {
        self.relink(2 * i + 1);
        self.relink(2 * i);
        self.bits[i as usize / 64] &= !(1 << (i % 64));
        self.remaining += 1;
    }

    fn place(&mut self, j: u32) {
        let (p, n) = (self.iprev[j as usize], self.inext[j as usize]);
        self.inext[p as usize] = n;
        self.iprev[n as usize] = p;
        let local = self.m as u32 + j;
        let at = self.placed.partition_point(|&x| x < local);
        self.placed.insert(at, local);
    }

    fn unplace(&mut self, j: u32) {
        let (p, n) = (self.iprev[j as usize], self.inext[j as usize]);
        self.inext[p as usize] = j;
        self.iprev[n as usize] = j;
        let local = self.m as u32 + j;
        let at = self.placed.partition_point(|&x| x < local);
        self.placed.remove(at);
    }

    /// The configuration's key: state and `lo`, then the linearized bits of lo's window.
    fn make_key(&mut self, state: u32) {
        self.key.clear();
        let lo = self.next[self.head() as usize] / 2;
        self.key.push((state as u64) << 32 | lo as u64);
        let (mut from, to) = (lo as usize + 1, self.reach[lo as usize] as usize);
        while from < to {
            let n = (to - from).min(64);
            let (w, o) = (from / 64, from % 64);
            let mut word = self.bits[w] >> o;
            if o != 0 && w + 1 < self.bits.len() {
                word |= self.bits[w + 1] << (64 - o);
            }
            if n < 64 {
                word &= (1u64 << n) - 1;
            }
            self.key.push(word);
            from += n;
        }
    }

    /// Lists the node's non-read candidates (calls before the first return), in the order of
    /// their intervals' midpoints: the likeliest order of their linearization points, when
    /// nothing else is known. Any order is complete; a good one finds the way sooner.
    fn candidates(&mut self) {
        let depth = self.stack.len();
        if self.candidates.len() <= depth {
            self.candidates.resize_with(depth + 1, || (Vec::new(), 0));
        }
        let (mut list, _) = std::mem::take(&mut self.candidates[depth]);
        list.clear();
        let mut e = self.next[self.head() as usize];
        while e.is_multiple_of(2) {
            if !self.greedy[e as usize / 2] {
                list.push(e / 2);
            }
            e = self.next[e as usize];
        }
        list.sort_unstable_by_key(|&i| (self.priority[i as usize], i));
        self.candidates[depth] = (list, self.pos[e as usize]);
    }

    fn try_ok(&mut self, i: u32, state: u32, slot: u32) -> Lift {
        let to = self.step(state, i);
        if to == INVALID {
            return Lift::No;
        }
        let greedy = self.greedy[i as usize];
        self.lift(i);
        if self.remaining > 0 {
            self.make_key(to);
            if !self.cache.visit(&self.key, &self.placed) {
                self.unlift(i);
                return if greedy { Lift::Dead } else { Lift::No };
            }
        }
        let kind = if greedy { Kind::Greedy } else { Kind::Ok };
        self.stack.push(Frame { local: i, before: state, kind, limit: slot });
        if self.m - self.remaining > self.best.ok {
            self.record_best(to);
        }
        Lift::Yes(to)
    }

    fn try_info(&mut self, j: u32, state: u32, limit: u32) -> Lift {
        let local = self.m as u32 + j;
        let to = self.step(state, local);
        if to == INVALID || to == state {
            return Lift::No;
        }
        // Right after another info operation, one that would leave the same state in its place
        // (a blind write over it) is left to that sibling: it reaches the same state with a
        // smaller set of info operations placed.
        if let Some(&Frame { kind: Kind::Info, before, .. }) = self.stack.last() {
            if self.step(before, local) == to {
                return Lift::No;
            }
        }
        self.place(j);
        self.make_key(to);
        if !self.cache.visit(&self.key, &self.placed) {
            self.unplace(j);
            return Lift::No;
        }
        self.stack.push(Frame { local, before: state, kind: Kind::Info, limit });
        Lift::Yes(to)
    }

    /// The best prefix's last operations, replayed from the initial state (interned first).
    fn tail(&mut self) -> Vec<(usize, String)> {
        let ops = self.best.ops.clone();
        let mut state = 0;
        let mut tail = Vec::with_capacity(TAIL);
        for (n, &local) in ops.iter().enumerate() {
            state = self.step(state, local);
            debug_assert_ne!(state, INVALID, "the prefix replays");
            if n + TAIL >= ops.len() {
                tail.push((self.origin[local as usize], self.model.describe(&self.states.list[state as usize])));
            }
        }
        tail
    }

    fn record_best(&mut self, state: u32) {
        let best = &mut self.best;
        best.ops.truncate(best.shared);
        best.ops.extend(self.stack[best.shared..].iter().map(|f| f.local));
        best.shared = best.ops.len();
        best.ok = self.m - self.remaining;
        best.state = state;
        if self.remaining > 0 {
            self.best.blocker = self.first_return();
        }
    }

    fn run(&mut self, stop: &dyn Fn() -> bool) -> End {
        let (head, ihead) = (self.head(), self.ihead());
        let mut state = self.best.state;
        let mut cursor = Cursor::Reads(self.next[head as usize]);
        let mut steps: u64 = 0;
        loop {
            if self.remaining == 0 {
                return End::Found;
            }
            steps += 1;
            if steps.is_multiple_of(1024) && stop() {
                return End::Stopped;
            }
            let dead_end = match cursor {
                Cursor::Reads(e) if e.is_multiple_of(2) => {
                    if self.greedy[e as usize / 2] {
                        match self.try_ok(e / 2, state, 0) {
                            Lift::Yes(to) => {
                                state = to;
                                cursor = Cursor::Reads(self.next[head as usize]);
                                false
                            }
                            Lift::No => {
                                cursor = Cursor::Reads(self.next[e as usize]);
                                false
                            }
                            Lift::Dead => true,
                        }
                    } else {
                        cursor = Cursor::Reads(self.next[e as usize]);
                        false
                    }
                }
                Cursor::Reads(_) => {
                    // Reads that fit were lifted; those left do not fit. Now the others.
                    self.candidates();
                    cursor = Cursor::Ok(0);
                    false
                }
                Cursor::Ok(n) => {
                    let (list, limit) = &self.candidates[self.stack.len()];
                    match list.get(n).copied() {
                        Some(i) => match self.try_ok(i, state, n as u32) {
                            Lift::Yes(to) => {
                                state = to;
                                cursor = Cursor::Reads(self.next[head as usize]);
                            }
                            _ => cursor = Cursor::Ok(n + 1),
                        },
                        // No ok operation after the first return may go next; info ones may.
                        None => cursor = Cursor::Info(self.inext[ihead as usize], *limit),
                    }
                    false
                }
                Cursor::Info(j, limit) => {
                    if j == ihead || self.ipos[j as usize] > limit {
                        true
                    } else {
                        match self.try_info(j, state, limit) {
                            Lift::Yes(to) => {
                                state = to;
                                cursor = Cursor::Reads(self.next[head as usize]);
                            }
                            _ => cursor = Cursor::Info(self.inext[j as usize], limit),
                        }
                        false
                    }
                }
            };
            if !dead_end {
                continue;
            }
            // Backtrack: put the last choice back and try the next candidate after it.
            loop {
                let Some(frame) = self.stack.pop() else {
                    return End::Exhausted;
                };
                self.best.shared = self.best.shared.min(self.stack.len());
                state = frame.before;
                match frame.kind {
                    Kind::Greedy => self.unlift(frame.local),
                    Kind::Ok => {
                        self.unlift(frame.local);
                        cursor = Cursor::Ok(frame.limit as usize + 1);
                        break;
                    }
                    Kind::Info => {
                        let j = frame.local - self.m as u32;
                        self.unplace(j);
                        cursor = Cursor::Info(self.inext[j as usize], frame.limit);
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_of_sorted_lists() {
        assert!(subset(&[], &[1, 2]));
        assert!(subset(&[2], &[1, 2]));
        assert!(subset(&[1, 3], &[1, 2, 3]));
        assert!(!subset(&[1, 4], &[1, 2, 3]));
        assert!(!subset(&[3, 1], &[1, 3]), "both sorted");
    }

    #[test]
    fn the_hash_spreads_neighbouring_keys() {
        let hash = |n: u64| {
            let mut h = Fast::default();
            h.write_u64(n);
            h.finish()
        };
        let tops: HashSet<u64> = (0..1000).map(|n| hash(n) >> 57).collect();
        assert!(tops.len() > 100, "the top 7 bits take many values: {}", tops.len());
    }
}

//! Client histories, and the linearizability checker that judges them against a model.
//!
//! Replicated services are judged by what their clients saw: every operation's invocation and
//! completion, in real-time order. This module holds that history (in Jepsen's shape, so users
//! can bring their own), the sequential models it is checked against ([`model`]), the search
//! that decides whether some order of the operations respects both real time and the model
//! ([`linearizability`]), a seeded generator of histories with optional injected bugs
//! ([`gen`]), and the rules that derive a history from a run's traces ([`History::from_run`]).
//!
//! # The file format
//!
//! JSON lines, one event each, in real-time order (the line order *is* the order; `time` is
//! carried along for people and pictures):
//!
//! ```text
//! {"process": 3, "type": "invoke", "f": "cas", "key": "x", "value": [1, 2], "time": 81234567890}
//! {"process": 3, "type": "ok",     "f": "cas", "key": "x", "value": [1, 2], "time": 81234601234}
//! ```
//!
//! - `process`: the client, a non-negative integer. A process has at most one operation open at
//!   a time. Lines whose process is `"nemesis"` (Jepsen's fault injector) are skipped.
//! - `type`: `invoke`, then one of `ok` (took effect and returned `value`), `fail` (certainly
//!   took no effect) or `info` (unknown: it may take effect at any time after its invocation, or
//!   never). An invocation with no completion in the file is `info`. After an `info` completion
//!   the process may invoke again; the `info` operation stays possible forever.
//! - `f`: the operation, e.g. `read`, `write`, `cas`, `get`, `put`, `append`, `acquire`.
//! - `key`: optional, a string or an integer. Operations on different keys are independent and
//!   are checked separately (P-compositionality): a key names one object of the model.
//! - `value`: the argument on `invoke`, the result on `ok` (a read's value; `null` for an absent
//!   key). A completion's `f` must be its invocation's; its `key` may be left out.
//! - `time`: optional, nanoseconds (CLOCK_MONOTONIC in real runs, virtual time in the simulator).
//!
//! Other fields (Jepsen's `index`, `error`, ...) are ignored. A malformed line is an error that
//! names its line number and what is wrong with it.

pub mod gen;
pub mod linearizability;
pub mod model;
mod traces;

pub use linearizability::{check, CheckOptions, Outcome, Report, Violation};
pub use model::ModelKind;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What an event of the history says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    fn parse(text: &str) -> Option<EventType> {
        Some(match text {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// One line of a history. Serialized with the fields in the order Jepsen's examples use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

impl Event {
    pub fn new(process: u64, kind: EventType, f: &str, key: Option<Value>, value: Value, time: Option<u64>) -> Event {
        Event { process, kind, f: f.to_string(), key, value, time }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Took effect and returned its completion's value.
    Ok,
    /// Certainly took no effect: the checker leaves it out.
    Fail,
    /// Unknown: completed `info`, or never completed in the file. It may take effect at any
    /// point after its invocation, or never.
    Info,
}

/// One operation: an invocation and its completion (if the file has one).
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    /// The invocation's value (the argument).
    pub input: Value,
    /// The `ok` completion's value (the result); `null` for `fail` and `info`.
    pub output: Value,
    pub status: Status,
    /// Index of the invocation in [`History::events`].
    pub invoke: usize,
    /// Index of the completion in [`History::events`], if the file has one.
    pub complete: Option<usize>,
}

/// A malformed history: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// 1-based line number (event number for histories built in memory).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HistoryError {}

/// A history: events in real-time order, and the operations they form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    events: Vec<Event>,
    /// The line each event came from (1-based).
    lines: Vec<usize>,
    ops: Vec<Op>,
}

impl History {
    /// A history from events in real-time order; event `i` counts as line `i + 1`.
    pub fn from_events(events: Vec<Event>) -> Result<History, HistoryError> {
        let lines = (1..=events.len()).collect();
        History::with_lines(events, lines)
    }

    fn with_lines(events: Vec<Event>, lines: Vec<usize>) -> Result<History, HistoryError> {
        let mut ops: Vec<Op> = Vec::new();
        // process → the index in `ops` of its open operation
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            let err = |message: String| HistoryError { line: lines[i], message };
            if e.f.is_empty() {
                return Err(err("\"f\" is empty: name the operation".into()));
            }
            match e.kind {
                EventType::Invoke => {
                    if let Some(&o) = open.get(&e.process) {
                        return Err(err(format!(
                            "process {} invokes {:?} while its {:?} from line {} is still open \
                             (a process has at most one operation open at a time)",
                            e.process, e.f, ops[o].f, lines[ops[o].invoke]
                        )));
                    }
                    open.insert(e.process, ops.len());
                    ops.push(Op {
                        process: e.process,
                        f: e.f.clone(),
                        key: e.key.clone(),
                        input: e.value.clone(),
                        output: Value::Null,
                        status: Status::Info,
                        invoke: i,
                        complete: None,
                    });
                }
                kind => {
                    let Some(o) = open.remove(&e.process) else {
                        return Err(err(format!(
                            "process {} completes {:?} ({}) but has no open invocation",
                            e.process,
                            e.f,
                            kind.name()
                        )));
                    };
                    let op = &mut ops[o];
                    if op.f != e.f {
                        return Err(err(format!(
                            "process {} completes {:?} but invoked {:?} on line {}",
                            e.process, e.f, op.f, lines[op.invoke]
                        )));
                    }
                    if e.key.is_some() && e.key != op.key {
                        return Err(err(format!(
                            "process {} completes {:?} on key {} but invoked it on key {} (line {})",
                            e.process,
                            e.f,
                            key_label(e.key.as_ref()),
                            key_label(op.key.as_ref()),
                            lines[op.invoke]
                        )));
                    }
                    op.complete = Some(i);
                    op.status = match kind {
                        EventType::Ok => Status::Ok,
                        EventType::Fail => Status::Fail,
                        _ => Status::Info,
                    };
                    if kind == EventType::Ok {
                        op.output = e.value.clone();
                    }
                }
            }
        }
        Ok(History { events, lines, ops })
    }

    /// Parses JSON lines (see the module docs). Blank lines are skipped.
    pub fn parse(text: &str) -> Result<History, HistoryError> {
        let mut events = Vec::new();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(event) = parse_line(line).map_err(|message| HistoryError { line: i + 1, message })? {
                events.push(event);
                lines.push(i + 1);
            }
        }
        History::with_lines(events, lines)
    }

    /// The history as JSON lines, one event each.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 80);
        for e in &self.events {
            out += &serde_json::to_string(e).expect("events always encode");
            out.push('\n');
        }
        out
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Operations in the order of their invocations.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The line of event `index`.
    pub fn line(&self, index: usize) -> usize {
        self.lines[index]
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Counts for a one-line description: operations by status, processes and keys.
    pub fn counts(&self) -> Counts {
        let mut c = Counts { ops: self.ops.len(), ..Counts::default() };
        let mut processes = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for op in &self.ops {
            match op.status {
                Status::Ok => c.ok += 1,
                Status::Fail => c.fail += 1,
                Status::Info => c.info += 1,
            }
            processes.insert(op.process);
            keys.insert(op.key.as_ref().map(canonical));
        }
        c.processes = processes.len();
        c.keys = keys.len();
        c
    }

    /// The time of event `index`, if it has one.
    pub fn time(&self, index: usize) -> Option<u64> {
        self.events[index].time
    }
}

/// Operations by status, processes and keys of a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ops: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub processes: usize,
    pub keys: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations ({} ok, {} fail, {} info) · {} processes · {} key{}",
            self.ops,
            self.ok,
            self.fail,
            self.info,
            self.processes,
            self.keys,
            if self.keys == 1 { "" } else { "s" }
        )
    }
}

/// One line of a history file; `None` for a line to skip (Jepsen's nemesis).
fn parse_line(line: &str) -> Result<Option<Event>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err(format!("expected a JSON object, found {}", kind_of(&value)));
    };
    let process = match map.get("process") {
        None => return Err("no \"process\" field".into()),
        Some(Value::String(s)) if s == "nemesis" => return Ok(None),
        Some(v) => v.as_u64().ok_or_else(|| format!("\"process\" must be a non-negative integer, found {v}"))?,
    };
    let kind = match map.get("type") {
        None => return Err("no \"type\" field".into()),
        Some(Value::String(s)) => {
            EventType::parse(s).ok_or_else(|| format!("unknown \"type\" {s:?} (expected invoke, ok, fail or info)"))?
        }
        Some(v) => return Err(format!("\"type\" must be a string, found {v}")),
    };
    let f = match map.get("f") {
        None => return Err("no \"f\" field (the operation, e.g. \"read\")".into()),
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(format!("\"f\" must be a string, found {v}")),
    };
    let key = match map.get("key") {
        None | Some(Value::Null) => None,
        Some(v @ Value::String(_)) => Some(v.clone()),
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v.clone()),
        Some(v) => return Err(format!("\"key\" must be a string or an integer, found {v}")),
    };
    let time = match map.get("time") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| format!("\"time\" must be non-negative nanoseconds, found {v}"))?),
    };
    let value = map.get("value").cloned().unwrap_or(Value::Null);
    Ok(Some(Event { process, kind, f, key, value, time }))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON value as one canonical string (object keys sorted, as serde_json keeps them), so equal
/// values compare and hash equal.
pub fn canonical(v: &Value) -> String {
    serde_json::to_string(v).expect("values always encode")
}

/// A key as a person reads it: strings without quotes, `(no key)` for none.
pub fn key_label(key: Option<&Value>) -> String {
    match key {
        None => "(no key)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

impl Op {
    /// The operation as one short line, e.g. `cas x [1,2] → ok`, `read x → 3`, `write 5 → info`.
    pub fn describe(&self) -> String {
        let mut text = self.f.clone();
        if let Some(key) = &self.key {
            text += " ";
            text += &key_label(Some(key));
        }
        if !self.input.is_null() {
            text += " ";
            text += &self.input.to_string();
        }
        text += " → ";
        text += &match self.status {
            // A read's result is the point, even null; a write's echo is not.
            Status::Ok if matches!(self.f.as_str(), "read" | "get") => self.output.to_string(),
            Status::Ok if self.output.is_null() || self.output == self.input => "ok".to_string(),
            Status::Ok => self.output.to_string(),
            Status::Fail => "fail".to_string(),
            Status::Info if self.complete.is_some() => "info".to_string(),
            Status::Info => "info (never completed)".to_string(),
        };
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_pair_into_operations_and_round_trip() {
        let text = r#"{"process": 3, "type": "invoke", "f": "cas", "key": "x", "value": [1, 2], "time": 10}
{"process": 1, "type": "invoke", "f": "read", "key": "x", "value": null}

{"process": 3, "type": "ok", "f": "cas", "key": "x", "value": [1, 2], "time": 20}
{"process": 1, "type": "info", "f": "read"}
{"process": 1, "type": "invoke", "f": "write", "value": 4}
"#;
        let h = History::parse(text).unwrap();
        assert_eq!(h.ops().len(), 3);
        assert_eq!(h.ops()[0].status, Status::Ok);
        assert_eq!(h.ops()[0].output, json!([1, 2]));
        assert_eq!(h.ops()[1].status, Status::Info);
        assert_eq!(h.ops()[1].complete, Some(3));
        assert_eq!(h.ops()[2].status, Status::Info, "never completed");
        assert_eq!(h.ops()[2].complete, None);
        assert_eq!(h.line(2), 4, "the blank line still counts");
        let again = History::parse(&h.to_jsonl()).unwrap();
        assert_eq!(again.events(), h.events());
        assert!(h
            .to_jsonl()
            .starts_with(r#"{"process":3,"type":"invoke","f":"cas","key":"x","value":[1,2],"time":10}"#));
    }

    #[test]
    fn malformed_lines_name_their_number_and_the_problem() {
        let err = |text: &str| History::parse(text).unwrap_err();
        let e = err("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\nnot json\n");
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("not JSON"), "{e}");
        let e = err("{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":1}");
        assert_eq!(e.to_string(), "line 1: process 1 completes \"read\" (ok) but has no open invocation");
        let e = err(
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"invoke\",\"f\":\"write\"}",
        );
        assert_eq!(e.line, 2);
        assert!(e.message.contains("still open") && e.message.contains("line 1"), "{e}");
        let e = err("{\"process\":1,\"type\":\"done\",\"f\":\"read\"}");
        assert!(e.message.contains("unknown \"type\" \"done\""), "{e}");
        let e = err("{\"type\":\"invoke\",\"f\":\"read\"}");
        assert_eq!(e.message, "no \"process\" field");
        let e = err("{\"process\":-1,\"type\":\"invoke\",\"f\":\"read\"}");
        assert!(e.message.contains("non-negative integer"), "{e}");
        let e =
            err("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"write\"}");
        assert!(e.message.contains("invoked \"read\" on line 1"), "{e}");
        let e = err("[1,2]");
        assert_eq!(e.message, "expected a JSON object, found an array");
    }

    #[test]
    fn nemesis_lines_are_skipped() {
        let h = History::parse(
            "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start\"}\n{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}",
        )
        .unwrap();
        assert_eq!(h.events().len(), 1);
        assert_eq!(h.line(0), 2);
    }
}

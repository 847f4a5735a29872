//! Histories from a run's traces.
//!
//! # The convention for client operations
//!
//! A client algorithm traces each operation's invocation and completion as an algorithm event
//! named `op` whose data is the history event without its time:
//!
//! ```text
//! ctx.event("op", json!({"type": "invoke", "f": "put", "key": "x", "value": "1"}));
//! ctx.event("op", json!({"type": "ok", "f": "put", "key": "x", "value": "1"}));
//! ```
//!
//! `process` may be given in the data (a node hosting several clients); it defaults to the node
//! id. The event's time is the record's `t`.
//!
//! # Mutual exclusion as a lock service
//!
//! A run without `op` events but with the mutual exclusion events ([`MutexEvent`]) gives a
//! `mutex`-model history, one key per resource: `request` invokes `acquire`, `enter_cs`
//! completes it `ok`, and `exit_cs` is a `release` that takes effect at once (invoked and
//! completed at its record). A node may wait for one resource while it holds or waits for
//! another, so each (node, resource) pair is its own process: `node × 100 + r`, where `r`
//! numbers the run's resources in name order from 0 (`× 10^k` once there are more than 100).
//!
//! # Crashes
//!
//! When a process dies (a kill or an exit in the fault log, or its next incarnation's `start`
//! record), its open operation completes `info`: it may have taken effect or not. A node that
//! dies inside a critical section also gets a `release` invoked at its death and completed
//! `info`: the lock is freed at some unknown time after the death, as the mutual exclusion
//! checker counts the node out from the moment it died. Records are taken in time order, and
//! among records of one instant in causal order (a vector clock's sum grows along every chain
//! of happens-before), so a release always precedes the entry it made possible.

use super::{Event, EventType, History};
use crate::check::events::MutexEvent;
use crate::check::Execution;
use crate::faults::{AppliedFault, FaultRecord};
use crate::process::NodeId;
use crate::trace::{TraceRecord, What};
use serde_json::Value;
use std::collections::BTreeMap;

/// Builds a valid history from trace events, whatever the traces hold: an event that does not
/// fit (a completion with nothing open, say) is left out and counted.
#[derive(Default)]
struct Builder {
    events: Vec<Event>,
    /// process → (f, key) of its open operation.
    open: BTreeMap<u64, (String, Option<Value>)>,
    /// node → processes it has spoken for (for closing them when it dies).
    by_node: BTreeMap<NodeId, Vec<u64>>,
    /// Mutex view: node → resources held.
    held: BTreeMap<NodeId, Vec<String>>,
    /// Mutex view: every resource's number, and the factor that makes room for them.
    resources: BTreeMap<String, u64>,
    factor: u64,
    skipped: usize,
}

impl Builder {
    fn push(&mut self, node: NodeId, event: Event) {
        let process = event.process;
        match event.kind {
            EventType::Invoke => {
                if self.open.contains_key(&process) {
                    self.skipped += 1;
                    return;
                }
                self.open.insert(process, (event.f.clone(), event.key.clone()));
                let spoken = self.by_node.entry(node).or_default();
                if !spoken.contains(&process) {
                    spoken.push(process);
                }
            }
            _ => match self.open.get(&process) {
                Some((f, key)) if *f == event.f && (event.key.is_none() || event.key == *key) => {
                    self.open.remove(&process);
                }
                _ => {
                    self.skipped += 1;
                    return;
                }
            },
        }
        self.events.push(event);
    }

    /// The node died at `t`: its open operations complete `info`, its locks are released `info`.
    fn died(&mut self, node: NodeId, t: u64) {
        for process in self.by_node.get(&node).cloned().unwrap_or_default() {
            if let Some((f, key)) = self.open.get(&process).cloned() {
                self.push(node, Event::new(process, EventType::Info, &f, key, Value::Null, Some(t)));
            }
        }
        for resource in self.held.remove(&node).unwrap_or_default() {
            let p = self.process(node, &resource);
            let key = Some(Value::String(resource));
            self.push(node, Event::new(p, EventType::Invoke, "release", key.clone(), Value::Null, Some(t)));
            self.push(node, Event::new(p, EventType::Info, "release", key, Value::Null, Some(t)));
        }
    }

    /// One client `op` event.
    fn client(&mut self, r: &TraceRecord, data: &Value) {
        let kind = match data.get("type").and_then(Value::as_str) {
            Some("invoke") => EventType::Invoke,
            Some("ok") => EventType::Ok,
            Some("fail") => EventType::Fail,
            Some("info") => EventType::Info,
            _ => {
                self.skipped += 1;
                return;
            }
        };
        let Some(f) = data.get("f").and_then(Value::as_str) else {
            self.skipped += 1;
            return;
        };
        let process = data.get("process").and_then(Value::as_u64).unwrap_or(r.node as u64);
        let key = data.get("key").filter(|k| !k.is_null()).cloned();
        let value = data.get("value").cloned().unwrap_or(Value::Null);
        self.push(r.node, Event::new(process, kind, f, key, value, Some(r.t)));
    }

    /// The process of `node`'s requests for `resource`.
    fn process(&self, node: NodeId, resource: &str) -> u64 {
        node as u64 * self.factor + self.resources.get(resource).copied().unwrap_or(0)
    }

    /// One mutual exclusion event.
    fn mutex(&mut self, r: &TraceRecord, e: &MutexEvent) {
        let Some(resource) = resource_of(e) else { return };
        let (p, key) = (self.process(r.node, resource), Some(Value::String(resource.to_string())));
        let event = |kind, f: &str| Event::new(p, kind, f, key.clone(), Value::Null, Some(r.t));
        match e {
            MutexEvent::Request(_) => self.push(r.node, event(EventType::Invoke, "acquire")),
            MutexEvent::EnterCs { .. } => {
                let before = self.events.len();
                self.push(r.node, event(EventType::Ok, "acquire"));
                if self.events.len() > before {
                    self.held.entry(r.node).or_default().push(resource.to_string());
                }
            }
            MutexEvent::ExitCs { .. } => {
                let held = self.held.entry(r.node).or_default();
                let Some(at) = held.iter().position(|h| h == resource) else {
                    self.skipped += 1;
                    return;
                };
                held.remove(at);
                self.push(r.node, event(EventType::Invoke, "release"));
                self.push(r.node, event(EventType::Ok, "release"));
            }
            MutexEvent::Token(_) => {}
        }
    }
}

/// The resource a lock-service event names: requests, entries and exits (not token custody).
fn resource_of(e: &MutexEvent) -> Option<&str> {
    match e {
        MutexEvent::Request(request) => Some(&request.resource),
        MutexEvent::EnterCs { resource } | MutexEvent::ExitCs { resource } => Some(resource),
        MutexEvent::Token(_) => None,
    }
}

/// Records in time order, causal order within one instant.
fn ordered(records: &[TraceRecord]) -> Vec<&TraceRecord> {
    let mut sorted: Vec<&TraceRecord> = records.iter().collect();
    sorted.sort_by_key(|r| (r.t, r.vc.values().sum::<u64>(), r.node, r.lc));
    sorted
}

fn derive(records: &[TraceRecord], faults: &[FaultRecord]) -> History {
    let clients = records.iter().any(|r| r.event_name() == Some("op"));
    let mut b = Builder::default();
    if !clients {
        for (_, e) in crate::check::events_of::<MutexEvent>(records) {
            if let Some(resource) = resource_of(&e) {
                b.resources.entry(resource.to_string()).or_default();
            }
        }
        for (i, n) in b.resources.values_mut().enumerate() {
            *n = i as u64;
        }
        b.factor = 100;
        while b.factor < b.resources.len() as u64 {
            b.factor *= 10;
        }
    }
    let mut deaths = faults
        .iter()
        .filter_map(|f| match f.fault {
            AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => Some((f.t, node)),
            _ => None,
        })
        .peekable();
    for r in ordered(records) {
        // A process that dies writes nothing more: its death comes after its records at that time.
        while let Some((t, node)) = deaths.next_if(|(t, _)| *t < r.t) {
            b.died(node, t);
        }
        match &r.what {
            What::Start { incarnation } if *incarnation > 1 => b.died(r.node, r.t),
            What::Event { name, data } if clients && name == "op" => b.client(r, data),
            What::Event { .. } if !clients => {
                if let Some(e) = r.event_as::<MutexEvent>() {
                    b.mutex(r, &e);
                }
            }
            _ => {}
        }
    }
    for (t, node) in deaths {
        b.died(node, t);
    }
    History::from_events(b.events).expect("the builder keeps every process's events in order")
}

impl History {
    /// The clients' history in these traces (see the module docs for the convention), with
    /// crashes seen only through restarts. Empty when the traces hold no client operations.
    pub fn from_records(records: &[TraceRecord]) -> History {
        derive(records, &[])
    }

    /// Like [`History::from_records`], with deaths also taken from the run's fault log (a node
    /// killed for good closes its operations at its death).
    pub fn from_run(run: &Execution) -> History {
        derive(&run.records, &run.faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::{check, CheckOptions, ModelKind, Outcome, Status};
    use crate::trace::{Clocks, ShownMsg};
    use serde_json::json;

    fn event(c: &mut Clocks, t: u64, name: &str, data: Value) -> TraceRecord {
        c.stamp(t, "x", What::Event { name: name.into(), data })
    }

    #[test]
    fn client_op_events_become_the_history() {
        let mut a = Clocks::new(1);
        let records = vec![
            event(&mut a, 10, "op", json!({"type": "invoke", "f": "put", "key": "x", "value": "1"})),
            event(&mut a, 20, "op", json!({"type": "ok", "f": "put", "key": "x", "value": "1"})),
            event(&mut a, 30, "op", json!({"type": "invoke", "f": "get", "key": "x", "process": 7})),
            event(&mut a, 40, "op", json!({"type": "ok", "f": "get", "key": "x", "value": "1", "process": 7})),
            event(&mut a, 50, "request", json!({"resource": "r"})),
        ];
        let h = History::from_records(&records);
        assert_eq!(h.events().len(), 4, "mutex events are not client operations when op events exist");
        assert_eq!(h.ops()[1].process, 7);
        assert_eq!(h.events()[3].time, Some(40));
        let report = check(&h, ModelKind::Kv, CheckOptions::default()).unwrap();
        assert_eq!(report.outcome, Outcome::Linearizable);
    }

    #[test]
    fn mutex_events_become_acquires_and_releases_and_a_death_frees_the_lock() {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let r = json!({"resource": "printer"});
        let records = vec![
            event(&mut a, 10, "request", r.clone()),
            event(&mut a, 11, "enter_cs", r.clone()),
            event(&mut b, 12, "request", r.clone()),
            // node 1 is killed at 15, inside; node 2 enters after the death.
            event(&mut b, 30, "enter_cs", r.clone()),
            event(&mut b, 40, "exit_cs", r.clone()),
        ];
        let faults = vec![FaultRecord { t: 15, fault: AppliedFault::Kill { node: 1, was_leader: false } }];
        let run = Execution::new("lamport", vec![1, 2], Value::Null, records.clone(), faults);
        let h = History::from_run(&run);
        let fs: Vec<(u64, &str, EventType)> = h.events().iter().map(|e| (e.process, e.f.as_str(), e.kind)).collect();
        assert_eq!(
            fs,
            vec![
                (100, "acquire", EventType::Invoke),
                (100, "acquire", EventType::Ok),
                (200, "acquire", EventType::Invoke),
                (100, "release", EventType::Invoke),
                (100, "release", EventType::Info),
                (200, "acquire", EventType::Ok),
                (200, "release", EventType::Invoke),
                (200, "release", EventType::Ok),
            ]
        );
        assert_eq!(h.ops()[2].status, Status::Info);
        let verdict = |h: &History| check(h, ModelKind::Mutex, CheckOptions::default()).unwrap().outcome;
        assert_eq!(verdict(&h), Outcome::Linearizable, "the dead holder's lock is freed");
        // Without the fault log the death is unknown: node 2 entered a held lock.
        assert_eq!(verdict(&History::from_records(&records)), Outcome::NotLinearizable);
    }

    #[test]
    fn one_node_waiting_for_two_resources_is_two_processes() {
        let mut a = Clocks::new(3);
        let records = vec![
            event(&mut a, 10, "request", json!({"resource": "b"})),
            event(&mut a, 11, "request", json!({"resource": "a"})),
            event(&mut a, 12, "enter_cs", json!({"resource": "a"})),
            event(&mut a, 13, "enter_cs", json!({"resource": "b"})),
            event(&mut a, 14, "exit_cs", json!({"resource": "a"})),
        ];
        let h = History::from_records(&records);
        let ops: Vec<(u64, &str, Status)> = h.ops().iter().map(|o| (o.process, o.f.as_str(), o.status)).collect();
        assert_eq!(ops, vec![(301, "acquire", Status::Ok), (300, "acquire", Status::Ok), (300, "release", Status::Ok)]);
    }

    #[test]
    fn a_restart_closes_what_the_previous_incarnation_left_open() {
        let mut a = Clocks::new(1);
        let records = vec![
            event(&mut a, 10, "op", json!({"type": "invoke", "f": "write", "value": 1})),
            a.stamp(20, "x", What::Start { incarnation: 2 }),
            event(&mut a, 30, "op", json!({"type": "invoke", "f": "read"})),
            event(&mut a, 40, "op", json!({"type": "ok", "f": "read", "value": 1})),
        ];
        let h = History::from_records(&records);
        assert_eq!(h.ops().len(), 2);
        assert_eq!(h.ops()[0].status, Status::Info);
        assert_eq!(h.events()[1].kind, EventType::Info);
        let report = check(&h, ModelKind::Register, CheckOptions::default()).unwrap();
        assert_eq!(report.outcome, Outcome::Linearizable, "the crashed write may have taken effect");
    }

    #[test]
    fn within_one_instant_causes_come_first() {
        let (mut a, mut b) = (Clocks::new(2), Clocks::new(1));
        let r = json!({"resource": "r"});
        let mut records = vec![event(&mut a, 5, "request", r.clone()), event(&mut a, 6, "enter_cs", r.clone())];
        records.push(event(&mut b, 7, "request", r.clone()));
        let exit = event(&mut a, 9, "exit_cs", r.clone());
        let send = a.stamp(9, "x", What::Send { to: 1, msg_type: "release".into(), msg: ShownMsg::null() });
        let recv = b.stamp_receive(
            9,
            "x",
            send.lc,
            &send.vc,
            What::Recv { from: 2, msg_type: "release".into(), msg_lc: send.lc },
        );
        // Node 1 enters at the same virtual instant node 2 left; node 1's id sorts first.
        let enter = event(&mut b, 9, "enter_cs", r);
        records.extend([enter, recv, send, exit]);
        let h = History::from_records(&records);
        let report = check(&h, ModelKind::Mutex, CheckOptions::default()).unwrap();
        assert_eq!(report.outcome, Outcome::Linearizable, "{:?}", h.events());
    }
}

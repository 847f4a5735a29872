//! The checkers of Maelstrom's workloads, over the clients' `op` events.
//!
//! Each client has one operation outstanding at a time, so its events pair up in order: an
//! `invoke`, then `ok`, `fail` or `info`. A property whose operations the run has none of is
//! `not promised` when the run ran another workload (its clients say which by their `f`), and
//! `unknown` when it ran none at all.

use crate::check::metric::{Distribution, Metric};
use crate::check::{CheckReport, EventRef, Execution, PropertyInfo, PropertyResult};
use crate::core::process::NodeId;
use crate::core::trace::{TraceRecord, What};
use crate::service::client::ClientEvent;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const ECHO: &str = "echo_matches";
pub const UNIQUE: &str = "ids_unique";
pub const ALL_READ: &str = "broadcast_all_read";
pub const COUNTER: &str = "counter_final_reads";
pub const LINEARIZABLE: &str = "linearizable";

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo { name: ECHO, promise: "every echo_ok echoes exactly the text its echo request sent" },
        PropertyInfo { name: UNIQUE, promise: "every id a generate_ok returned is returned once in the whole run" },
        PropertyInfo {
            name: ALL_READ,
            promise: "every acknowledged broadcast value is in the last read of every server (values acknowledged within params.settle_ms of that read excepted: they may still be on their way)",
        },
        PropertyInfo {
            name: COUNTER,
            promise: "g-counter, Maelstrom's bounds: every read is at most the sum of the adds invoked before it returned (ok or indeterminate), and each server's last read at least the sum of the adds acknowledged params.settle_ms before it was invoked",
        },
        PropertyInfo {
            name: LINEARIZABLE,
            promise: "lin-kv: the clients' reads, writes and cas have a linearization, each key a cas-register",
        },
    ]
}

/// One client operation: its invocation and, unless the run ended first, its completion.
#[derive(Clone, Debug)]
pub struct Op<'a> {
    pub client: NodeId,
    pub f: String,
    /// The server it went to (`n2`).
    pub key: String,
    pub sent: Value,
    pub invoked: &'a TraceRecord,
    /// `ok`, `fail` or `info`, the value, and the record.
    pub completed: Option<(String, Value, &'a TraceRecord)>,
}

/// The clients' operations, in invocation order per client.
pub fn operations(exec: &Execution) -> Vec<Op<'_>> {
    let mut open: BTreeMap<NodeId, usize> = BTreeMap::new();
    let mut ops: Vec<Op> = Vec::new();
    for r in &exec.records {
        if let What::Start { .. } = r.what {
            open.remove(&r.node); // a restarted client does not complete what it had open
        }
        let Some(ClientEvent::Op { kind, f, key, value }) = r.event_as::<ClientEvent>() else { continue };
        if kind == "invoke" {
            open.insert(r.node, ops.len());
            ops.push(Op { client: r.node, f, key, sent: value, invoked: r, completed: None });
        } else if let Some(i) = open.remove(&r.node) {
            ops[i].completed = Some((kind, value, r));
        }
    }
    ops
}

/// Judges a run of any Maelstrom workload (see the module doc).
pub fn check(exec: &Execution, settle_ms: f64) -> CheckReport {
    let ops = operations(exec);
    let ran: Vec<&str> = {
        let mut fs: Vec<&str> = ops.iter().map(|o| o.f.as_str()).collect();
        fs.sort_unstable();
        fs.dedup();
        fs
    };
    let judged = |name: &str, f: &str, judge: &dyn Fn() -> PropertyResult| -> PropertyResult {
        if !ran.contains(&f) && !ran.is_empty() {
            return PropertyResult::not_promised(name, format!("the run's clients ran {}, not {f}", ran.join(", ")));
        }
        judge()
    };
    let mut report = CheckReport::default();
    report.properties.push(judged(ECHO, "echo", &|| echo_matches(&ops)));
    report.properties.push(judged(UNIQUE, "generate", &|| ids_unique(&ops)));
    report.properties.push(judged(ALL_READ, "broadcast", &|| all_read(exec, &ops, settle_ms)));
    report.properties.push(judged(COUNTER, "add", &|| counter_final_reads(exec, &ops, settle_ms)));
    report.properties.push(judged(LINEARIZABLE, "write", &|| {
        crate::check::service::linearizable_as(exec, crate::check::history::ModelKind::CasRegister)
    }));
    if ran.contains(&"broadcast") {
        broadcast_figures(exec, &ops, &mut report.metrics);
    }
    if !ops.is_empty() {
        counts(exec, &ops, &mut report.metrics);
    }
    report
}

fn ok<'a, 'b>(ops: &'b [Op<'a>], f: &'b str) -> impl Iterator<Item = (&'b Op<'a>, &'b Value, &'a TraceRecord)> {
    ops.iter().filter(move |o| o.f == f).filter_map(|o| match &o.completed {
        Some((kind, value, r)) if kind == "ok" => Some((o, value, *r)),
        _ => None,
    })
}

fn echo_matches(ops: &[Op]) -> PropertyResult {
    let mut judged = 0;
    for (op, got, r) in ok(ops, "echo") {
        if *got != op.sent {
            return PropertyResult::violated(
                ECHO,
                format!("client c{} sent echo {} and got back {}", op.client, op.sent, got),
                vec![EventRef::of(op.invoked), EventRef::of(r)],
            );
        }
        judged += 1;
    }
    PropertyResult::held(ECHO, judged, "echo answered ok", format!("{judged} echoes came back unchanged"))
}

fn ids_unique(ops: &[Op]) -> PropertyResult {
    let mut seen: BTreeMap<String, (&Op, &TraceRecord)> = BTreeMap::new();
    let mut judged = 0;
    for (op, id, r) in ok(ops, "generate") {
        let key = id.to_string();
        if let Some((first, first_r)) = seen.get(&key) {
            return PropertyResult::violated(
                UNIQUE,
                format!("id {id} was generated twice: for client c{} and for client c{}", first.client, op.client),
                vec![EventRef::of(first_r), EventRef::of(r)],
            );
        }
        seen.insert(key, (op, r));
        judged += 1;
    }
    PropertyResult::held(UNIQUE, judged, "generate answered ok", format!("{judged} ids, all distinct"))
}

/// The g-counter's bounds (see [`COUNTER`]): adds are `(invoked, completed if ok, delta)`.
fn counter_final_reads(exec: &Execution, ops: &[Op], settle_ms: f64) -> PropertyResult {
    let adds: Vec<(u64, Option<u64>, u64)> = ops
        .iter()
        .filter(|o| o.f == "add")
        .filter_map(|o| {
            let delta = o.sent.as_u64()?;
            match &o.completed {
                Some((kind, _, _)) if kind == "fail" => None,
                Some((kind, _, r)) if kind == "ok" => Some((o.invoked.t, Some(r.t), delta)),
                _ => Some((o.invoked.t, None, delta)),
            }
        })
        .collect();
    let reads: Vec<(&Op, u64, &TraceRecord)> =
        ok(ops, "read").filter_map(|(o, v, r)| v.as_u64().map(|v| (o, v, r))).collect();
    let mut judged = 0;
    for (op, value, r) in &reads {
        let upper: u64 = adds.iter().filter(|(invoked, _, _)| invoked < &r.t).map(|(_, _, d)| d).sum();
        if *value > upper {
            return PropertyResult::violated(
                COUNTER,
                format!(
                    "{} read {value} at {:.0} ms, but the adds invoked by then sum to {upper}",
                    op.key,
                    exec.ms(r.t)
                ),
                vec![EventRef::of(op.invoked), EventRef::of(r)],
            );
        }
        judged += 1;
    }
    let mut last: BTreeMap<&str, (&Op, u64, &TraceRecord)> = BTreeMap::new();
    for (op, value, r) in reads {
        last.insert(op.key.as_str(), (op, value, r));
    }
    for (server, (op, value, r)) in last {
        let before = |done: u64| exec.ms(op.invoked.t) - exec.ms(done) >= settle_ms;
        let lower: u64 = adds.iter().filter(|(_, done, _)| done.is_some_and(before)).map(|(_, _, d)| d).sum();
        if value < lower {
            return PropertyResult::violated(
                COUNTER,
                format!(
                    "{server}'s last read, at {:.0} ms, returned {value}, but the adds acknowledged {settle_ms:.0} ms before it sum to {lower}",
                    exec.ms(r.t)
                ),
                vec![EventRef::of(op.invoked), EventRef::of(r)],
            );
        }
        judged += 1;
    }
    PropertyResult::held(
        COUNTER,
        judged,
        "read answered ok",
        format!("{judged} reads within the bounds (each at most the adds invoked; each server's last at least the adds acknowledged)"),
    )
}

/// One ok read: when it completed, the values it returned, its record.
type Read<'a> = (u64, BTreeSet<u64>, &'a TraceRecord);

/// The ok reads of each server, in completion order.
fn reads<'a>(ops: &[Op<'a>]) -> BTreeMap<String, Vec<Read<'a>>> {
    let mut by: BTreeMap<String, Vec<Read>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.f == "read") {
        if let Some((kind, Value::Array(values), r)) = &op.completed {
            if kind == "ok" {
                let set = values.iter().filter_map(Value::as_u64).collect();
                by.entry(op.key.clone()).or_default().push((r.t, set, *r));
            }
        }
    }
    for reads in by.values_mut() {
        reads.sort_by_key(|(t, _, _)| *t);
    }
    by
}

fn all_read(exec: &Execution, ops: &[Op], settle_ms: f64) -> PropertyResult {
    let reads = reads(ops);
    let acked: Vec<(&Op, u64, &TraceRecord)> =
        ok(ops, "broadcast").filter_map(|(op, v, r)| v.as_u64().map(|v| (op, v, r))).collect();
    let servers: Vec<String> = exec.nodes.iter().map(|n| crate::maelstrom::server_name(*n)).collect();
    let mut judged = 0;
    for server in &servers {
        let Some((last, values, last_r)) = reads.get(server).and_then(|r| r.last()) else { continue };
        for (op, v, acked_r) in &acked {
            if exec.ms(*last) - exec.ms(acked_r.t) < settle_ms {
                continue;
            }
            if !values.contains(v) {
                return PropertyResult::violated(
                    ALL_READ,
                    format!(
                        "value {v} (broadcast to {} by c{}, acknowledged at {:.0} ms) was never read at {server}: its last read, at {:.0} ms, returned {} values without it",
                        op.key,
                        op.client,
                        exec.ms(acked_r.t),
                        exec.ms(*last),
                        values.len()
                    ),
                    vec![EventRef::of(acked_r), EventRef::of(last_r)],
                );
            }
            judged += 1;
        }
    }
    PropertyResult::held(
        ALL_READ,
        judged,
        "acknowledged value compared with a server's last read",
        format!("{judged} (value, server) pairs: every acknowledged value was in the server's last read"),
    )
}

/// Maelstrom's broadcast figure, stable latency: from a value's acknowledgement to the last read,
/// at any server, that missed it (0 when no read missed it after that), over the values in every
/// server's last read; the rest are `values_never_stable`. Beside it, `visible_everywhere_ms`:
/// from the broadcast's invocation until every server's reads include the value from then on
/// (which waits for a read at each server, so it says as much about how often the clients read).
fn broadcast_figures(exec: &Execution, ops: &[Op], metrics: &mut BTreeMap<String, Value>) {
    let reads = reads(ops);
    let (mut stable, mut everywhere) = (Vec::new(), Vec::new());
    let mut never = 0u64;
    for (op, v, acked) in ok(ops, "broadcast") {
        let Some(v) = v.as_u64() else { continue };
        let mut when: Option<u64> = Some(op.invoked.t);
        let mut last_missed = acked.t;
        for server in &exec.nodes {
            let name = crate::maelstrom::server_name(*server);
            let Some(rs) = reads.get(&name) else {
                when = None;
                break;
            };
            // The first read from which on every read includes v.
            let missed = rs.iter().rposition(|(_, set, _)| !set.contains(&v));
            if let Some(i) = missed {
                last_missed = last_missed.max(rs[i].0);
            }
            match rs.get(missed.map_or(0, |i| i + 1)) {
                Some((t, _, _)) => when = when.map(|w| w.max(*t)),
                None => {
                    when = None;
                    break;
                }
            }
        }
        match when {
            Some(t) => {
                stable.push(exec.ms(last_missed) - exec.ms(acked.t));
                everywhere.push(exec.ms(t) - exec.ms(op.invoked.t));
            }
            None => never += 1,
        }
    }
    metrics.insert("stable_latency_ms".into(), Metric::Distribution(Distribution::of(&stable)).to_value());
    metrics.insert("visible_everywhere_ms".into(), Metric::Distribution(Distribution::of(&everywhere)).to_value());
    metrics.insert("values_never_stable".into(), Metric::Count(never).to_value());
}

/// Maelstrom's figures: operations, how many were ok, failed or indeterminate, availability (the
/// share ok), the latency of the ok ones, and Maelstrom's msgs-per-op (messages between servers
/// per client operation).
fn counts(exec: &Execution, ops: &[Op], metrics: &mut BTreeMap<String, Value>) {
    let mut by: BTreeMap<&str, u64> = BTreeMap::new();
    let mut latency = Vec::new();
    for op in ops {
        let kind = op.completed.as_ref().map_or("open", |(k, _, _)| k.as_str());
        *by.entry(kind).or_default() += 1;
        if let Some(("ok", _, r)) = op.completed.as_ref().map(|(k, v, r)| (k.as_str(), v, r)) {
            latency.push(exec.ms(r.t) - exec.ms(op.invoked.t));
        }
    }
    let ok = *by.get("ok").unwrap_or(&0);
    metrics.insert("operations".into(), Metric::Count(ops.len() as u64).to_value());
    for (kind, n) in &by {
        metrics.insert(format!("operations_{kind}"), Metric::Count(*n).to_value());
    }
    metrics.insert("availability".into(), Metric::Figure(ok as f64 / ops.len() as f64).to_value());
    metrics.insert("latency_ms".into(), Metric::Distribution(Distribution::of(&latency)).to_value());
    let servers: BTreeSet<NodeId> = exec.nodes.iter().copied().collect();
    let service = |r: &TraceRecord| super::kv::SERVICES.contains(&r.instance.as_str());
    let sends = exec.records.iter().filter(|r| matches!(&r.what, What::Send { .. }));
    let (to_services, between) = sends
        .filter(|r| servers.contains(&r.node) && matches!(&r.what, What::Send { to, .. } if servers.contains(to)))
        .fold((0, 0), |(s, b), r| if service(r) { (s + 1, b) } else { (s, b + 1) });
    metrics.insert("msgs_per_op".into(), Metric::Figure(between as f64 / ops.len() as f64).to_value());
    if to_services > 0 {
        // Requests to lin-kv/seq-kv/lww-kv and their answers, between a program and its host.
        let per_op = to_services as f64 / ops.len() as f64;
        metrics.insert("service_msgs_per_op".into(), Metric::Figure(per_op).to_value());
    }
}

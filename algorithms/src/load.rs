//! `load`: not a distributed algorithm but a load generator, so the transport of real nodes can be
//! measured with the same machinery (commands, traces, checkers) as any algorithm.
//!
//! Commands (sent to one node over its control endpoint):
//! - `ping COUNT [PEER]`: sends `Ping(k)` to `PEER` (default: the lowest other id) and waits for
//!   `Pong(k)` before sending `Ping(k+1)`, one at a time, timing each round trip with `ctx.now()`.
//!   When all `COUNT` are back it records the event `load_done {count, rtt_ns_p50, rtt_ns_p99, ...}`.
//! - `flood COUNT [PEER]`: sends `COUNT` one-way `Flood` messages. At most `window` are
//!   unacknowledged at a time and the receiver acknowledges every `ack_every` messages, so every
//!   queue on the way stays bounded (a node drops frames beyond its per-peer queue limit). The
//!   receiver records `flood_done {count, first_ns, last_ns, msgs_per_s}` when it has them all.
//! - `results`: the latest finished ping and flood results of this node, as one JSON object.
//!
//! A run with no progress for `watchdog_ms` (a peer died, a frame was dropped) is abandoned with
//! the event `load_aborted`, so a broken link shows up as a failed property, not a hang.

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{stats, CheckReport, EventRef, Execution, PropertyResult};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Process, Status, Timer, MS};
use crate::core::trace::What;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoadMsg {
    Ping {
        k: u64,
    },
    Pong {
        k: u64,
    },
    /// Message `seq` (from 1) of a flood of `total`.
    Flood {
        seq: u64,
        total: u64,
    },
    /// The receiver has the first `upto` messages of the current flood.
    FloodAck {
        upto: u64,
    },
}

impl Message for LoadMsg {
    fn kind(&self) -> &'static str {
        match self {
            LoadMsg::Ping { .. } => "ping",
            LoadMsg::Pong { .. } => "pong",
            LoadMsg::Flood { .. } => "flood",
            LoadMsg::FloodAck { .. } => "flood_ack",
        }
    }
}

/// The load generator's events: a run started (`ping_started`, `flood_started`), finished
/// (`load_done` with the round-trip figures, `flood_done` at the receiver, `flood_sent` at the
/// sender), or was abandoned (`load_aborted`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum LoadEvent {
    PingStarted {
        count: u64,
        peer: NodeId,
    },
    FloodStarted {
        count: u64,
        to: NodeId,
    },
    LoadDone {
        count: u64,
        peer: NodeId,
        rtt_ns_p50: Nanos,
        rtt_ns_p99: Nanos,
        rtt_ns_min: Nanos,
        rtt_ns_max: Nanos,
        rtt_ns_mean: Nanos,
    },
    FloodDone {
        count: u64,
        from: NodeId,
        first_ns: Nanos,
        last_ns: Nanos,
        msgs_per_s: f64,
    },
    FloodSent {
        count: u64,
        to: NodeId,
    },
    LoadAborted {
        what: String,
        reason: String,
    },
}

impl Event for LoadEvent {}

/// The watchdog that abandons a ping or flood without progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadTimer {
    Watchdog,
}

impl Timer for LoadTimer {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadParams {
    /// Most flood messages in flight (sent, not yet acknowledged). Keep it well below the node's
    /// per-peer queue (10 000 frames) so a flood never loses frames to a full queue. Larger
    /// windows measured slower on loopback: bigger bursts delay the acknowledgements behind them.
    pub window: u64,
    /// The receiver acknowledges after this many flood messages.
    pub ack_every: u64,
    /// A ping or flood with no progress for this long is abandoned (`load_aborted`).
    pub watchdog_ms: u64,
}

impl Default for LoadParams {
    fn default() -> Self {
        LoadParams { window: 1024, ack_every: 128, watchdog_ms: 2000 }
    }
}

impl LoadParams {}

impl Params for LoadParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        if self.window == 0 || self.ack_every == 0 || self.ack_every > self.window {
            return Err(format!(
                "params.ack_every ({}) must be above 0 and at most params.window ({})",
                self.ack_every, self.window
            ));
        }
        if self.watchdog_ms == 0 {
            return Err("params.watchdog_ms must be above 0".into());
        }
        Ok(())
    }
}

struct PingRun {
    peer: NodeId,
    count: u64,
    /// The ping in flight and when it left.
    k: u64,
    sent_at: Nanos,
    rtts: Vec<Nanos>,
}

struct FloodOut {
    peer: NodeId,
    total: u64,
    sent: u64,
    acked: u64,
}

struct FloodIn {
    total: u64,
    received: u64,
    unacked: u64,
    first_ns: Nanos,
    last_ns: Nanos,
}

pub struct LoadNode {
    params: LoadParams,
    ping: Option<PingRun>,
    flood_out: Option<FloodOut>,
    flood_in: BTreeMap<NodeId, FloodIn>,
    /// Rises with every message handled; the watchdog compares it between two fires.
    progress: u64,
    progress_at_last_check: u64,
    /// Latest finished results by event name, for the `results` command.
    results: BTreeMap<&'static str, Value>,
}

impl LoadNode {
    pub fn new(params: LoadParams) -> Self {
        LoadNode {
            params,
            ping: None,
            flood_out: None,
            flood_in: BTreeMap::new(),
            progress: 0,
            progress_at_last_check: 0,
            results: BTreeMap::new(),
        }
    }

    fn arm_watchdog(&mut self, ctx: &mut Ctx<LoadTimer>) {
        self.progress_at_last_check = self.progress;
        ctx.set_timer(LoadTimer::Watchdog, self.params.watchdog_ms * MS);
    }

    fn pick_peer(ctx: &Ctx<LoadTimer>, arg: Option<&String>) -> Result<NodeId, String> {
        match arg {
            Some(text) => {
                let peer: NodeId = text.parse().map_err(|_| format!("peer {text:?} is not a node id"))?;
                if ctx.peers().contains(&peer) {
                    Ok(peer)
                } else {
                    Err(format!("node {peer} is not a peer of node {}", ctx.me()))
                }
            }
            None => ctx.peers().first().copied().ok_or_else(|| "no peer to talk to".to_string()),
        }
    }

    fn parse_count(arg: Option<&String>) -> Result<u64, String> {
        let text = arg.ok_or("missing COUNT")?;
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("COUNT {text:?} must be a positive integer")),
        }
    }

    fn send_flood_window(&mut self, ctx: &mut Ctx<LoadTimer>) {
        let Some(out) = self.flood_out.as_mut() else { return };
        while out.sent < out.total && out.sent < out.acked + self.params.window {
            out.sent += 1;
            ctx.send(out.peer, &LoadMsg::Flood { seq: out.sent, total: out.total });
        }
    }

    /// Records a finished run's event, and keeps its data for the `results` command.
    fn result(&mut self, ctx: &mut Ctx<LoadTimer>, name: &'static str, event: LoadEvent) {
        ctx.emit(&event);
        self.results.insert(name, event.to_parts().1);
    }

    fn finish_ping(&mut self, ctx: &mut Ctx<LoadTimer>) {
        let Some(run) = self.ping.take() else { return };
        let mut sorted = run.rtts.clone();
        sorted.sort_unstable();
        let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let mean = sorted.iter().sum::<Nanos>() / sorted.len() as Nanos;
        let done = LoadEvent::LoadDone {
            count: run.count,
            peer: run.peer,
            rtt_ns_p50: pick(0.5),
            rtt_ns_p99: pick(0.99),
            rtt_ns_min: sorted[0],
            rtt_ns_max: sorted[sorted.len() - 1],
            rtt_ns_mean: mean,
        };
        self.result(ctx, "load_done", done);
    }
}

impl Process for LoadNode {
    type Msg = LoadMsg;
    type Timer = LoadTimer;
    type Durable = NoState;

    fn on_start(&mut self, _ctx: &mut Ctx<LoadTimer>, _: Option<NoState>) {}

    fn on_message(&mut self, ctx: &mut Ctx<LoadTimer>, from: NodeId, msg: LoadMsg) {
        self.progress += 1;
        match msg {
            LoadMsg::Ping { k } => ctx.send(from, &LoadMsg::Pong { k }),
            LoadMsg::Pong { k } => {
                let now = ctx.now();
                let Some(run) = self.ping.as_mut().filter(|r| r.peer == from && r.k == k) else {
                    return; // a late pong of an abandoned run
                };
                run.rtts.push(now.saturating_sub(run.sent_at));
                if run.rtts.len() as u64 >= run.count {
                    self.finish_ping(ctx);
                } else {
                    run.k += 1;
                    run.sent_at = now;
                    let k = run.k;
                    ctx.send(from, &LoadMsg::Ping { k });
                }
            }
            LoadMsg::Flood { seq, total } => {
                let now = ctx.now();
                let flood = self.flood_in.entry(from).or_insert(FloodIn {
                    total,
                    received: 0,
                    unacked: 0,
                    first_ns: now,
                    last_ns: now,
                });
                if seq == 1 {
                    *flood = FloodIn { total, received: 0, unacked: 0, first_ns: now, last_ns: now };
                }
                flood.received += 1;
                flood.unacked += 1;
                flood.last_ns = now;
                let done = flood.received == flood.total;
                if done || flood.unacked >= self.params.ack_every {
                    flood.unacked = 0;
                    let upto = flood.received;
                    ctx.send(from, &LoadMsg::FloodAck { upto });
                }
                if done {
                    let span = flood.last_ns.saturating_sub(flood.first_ns);
                    let rate = if span > 0 { flood.total as f64 * 1e9 / span as f64 } else { 0.0 };
                    let done = LoadEvent::FloodDone {
                        count: flood.total,
                        from,
                        first_ns: flood.first_ns,
                        last_ns: flood.last_ns,
                        msgs_per_s: rate.round(),
                    };
                    self.flood_in.remove(&from);
                    self.result(ctx, "flood_done", done);
                }
            }
            LoadMsg::FloodAck { upto } => {
                let Some(out) = self.flood_out.as_mut().filter(|o| o.peer == from) else { return };
                out.acked = out.acked.max(upto);
                if out.acked >= out.total {
                    let sent = LoadEvent::FloodSent { count: out.total, to: out.peer };
                    self.flood_out = None;
                    self.result(ctx, "flood_sent", sent);
                } else {
                    self.send_flood_window(ctx);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<LoadTimer>, timer: LoadTimer) {
        let LoadTimer::Watchdog = timer;
        if self.ping.is_none() && self.flood_out.is_none() {
            return;
        }
        if self.progress == self.progress_at_last_check {
            let what = if self.ping.is_some() { "ping" } else { "flood" };
            self.ping = None;
            self.flood_out = None;
            let reason = format!("no progress for {} ms", self.params.watchdog_ms);
            ctx.emit(&LoadEvent::LoadAborted { what: what.into(), reason });
        } else {
            self.arm_watchdog(ctx);
        }
    }

    fn on_command(&mut self, ctx: &mut Ctx<LoadTimer>, args: &[String]) -> Result<String, String> {
        let usage = "load knows: ping COUNT [PEER], flood COUNT [PEER], results";
        match args.first().map(String::as_str) {
            Some("ping") => {
                if self.ping.is_some() {
                    return Err("a ping run is already going".into());
                }
                let count = Self::parse_count(args.get(1))?;
                let peer = Self::pick_peer(ctx, args.get(2))?;
                ctx.emit(&LoadEvent::PingStarted { count, peer });
                let now = ctx.now();
                self.ping = Some(PingRun { peer, count, k: 1, sent_at: now, rtts: Vec::with_capacity(count as usize) });
                ctx.send(peer, &LoadMsg::Ping { k: 1 });
                self.arm_watchdog(ctx);
                Ok(format!("pinging node {peer} {count} times"))
            }
            Some("flood") => {
                if self.flood_out.is_some() {
                    return Err("a flood is already going".into());
                }
                let count = Self::parse_count(args.get(1))?;
                let peer = Self::pick_peer(ctx, args.get(2))?;
                ctx.emit(&LoadEvent::FloodStarted { count, to: peer });
                self.flood_out = Some(FloodOut { peer, total: count, sent: 0, acked: 0 });
                self.send_flood_window(ctx);
                self.arm_watchdog(ctx);
                Ok(format!("flooding node {peer} with {count} messages"))
            }
            Some("results") => Ok(Value::from(
                self.results.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<serde_json::Map<_, _>>(),
            )
            .to_string()),
            _ => Err(format!("unknown command {args:?}; {usage}")),
        }
    }

    fn status(&self) -> Status {
        let role = if self.ping.is_some() {
            "pinging"
        } else if self.flood_out.is_some() {
            "flooding"
        } else if !self.flood_in.is_empty() {
            "receiving"
        } else {
            "idle"
        };
        Status { role: role.into(), leader: None, term: None }
    }
}

/// The catalogue entry: what the algorithm declares.
pub struct Load;

impl Spec for Load {
    const NAME: &'static str = "load";
    const FAMILY: Family = Family::Load;
    const SUMMARY: &'static str =
        "load generator for the transport benchmark: ping-pong round trips and windowed one-way floods, driven by commands";
    type Params = LoadParams;

    fn build(_me: NodeId, _peers: &[NodeId], p: &LoadParams) -> Result<impl Process, String> {
        Ok(LoadNode::new(p.clone()))
    }

    fn properties() -> Vec<PropertyInfo> {
        vec![
            PropertyInfo { name: "pings_answered", promise: "every ping run gets all its pongs back" },
            PropertyInfo {
                name: "floods_delivered",
                promise: "every flood reaches its receiver whole (with window flow control nothing is dropped)",
            },
        ]
    }

    fn check(run: &Execution, p: &LoadParams) -> CheckReport {
        check_load(run, p)
    }
}

fn event_u64(data: &Value, key: &str) -> Option<u64> {
    data.get(key).and_then(Value::as_u64)
}

/// Pairs every `ping_started` with the next `load_done` of the same node and instance, and every
/// `flood_started` with a `flood_done` of the receiver naming the sender.
fn check_load(run: &Execution, _params: &LoadParams) -> CheckReport {
    let events: Vec<(&crate::core::trace::TraceRecord, &str, &Value)> = run
        .records
        .iter()
        .filter_map(|r| match &r.what {
            What::Event { name, data } => Some((r, name.as_str(), data)),
            _ => None,
        })
        .collect();

    let (mut runs, mut rtt_p50_us, mut pings) = (0, vec![], None);
    for (i, (r, name, data)) in events.iter().enumerate() {
        if *name != "ping_started" {
            continue;
        }
        runs += 1;
        let count = event_u64(data, "count");
        let outcome = events[i + 1..].iter().find(|(o, n, _)| {
            o.node == r.node && o.instance == r.instance && matches!(*n, "load_done" | "load_aborted" | "ping_started")
        });
        match outcome {
            Some((_, "load_done", done)) if event_u64(done, "count") == count => {
                if let Some(p50) = event_u64(done, "rtt_ns_p50") {
                    rtt_p50_us.push(p50 as f64 / 1000.0);
                }
            }
            other if pings.is_none() => {
                let detail = format!(
                    "node {} started {} pings at {:.0} ms and {}",
                    r.node,
                    count.unwrap_or(0),
                    run.ms(r.t),
                    match other {
                        Some((_, "load_aborted", d)) => format!("gave up: {}", d["reason"]),
                        _ => "never got them all back".to_string(),
                    }
                );
                pings = Some(PropertyResult::violated("pings_answered", detail, vec![EventRef::of(r)]));
            }
            _ => {}
        }
    }
    let pings = pings.unwrap_or_else(|| {
        PropertyResult::held(
            "pings_answered",
            runs,
            "ping run in this trace",
            format!("{runs} ping run(s), all answered"),
        )
    });

    let (mut flood_runs, mut rates, mut floods) = (0, vec![], None);
    for (r, name, data) in &events {
        if *name != "flood_started" {
            continue;
        }
        flood_runs += 1;
        let (count, to) = (event_u64(data, "count"), event_u64(data, "to"));
        let done = events.iter().find(|(o, n, d)| {
            *n == "flood_done"
                && o.t >= r.t
                && Some(o.node as u64) == to
                && event_u64(d, "from") == Some(r.node as u64)
                && event_u64(d, "count") == count
        });
        match done {
            Some((_, _, d)) => rates.extend(d.get("msgs_per_s").and_then(Value::as_f64)),
            None if floods.is_none() => {
                let detail = format!(
                    "node {} flooded node {} with {} messages at {:.0} ms; the receiver never had them all",
                    r.node,
                    to.unwrap_or(0),
                    count.unwrap_or(0),
                    run.ms(r.t)
                );
                floods = Some(PropertyResult::violated("floods_delivered", detail, vec![EventRef::of(r)]));
            }
            None => {}
        }
    }
    let floods = floods.unwrap_or_else(|| {
        let detail = format!("{flood_runs} flood(s), all delivered whole");
        PropertyResult::held("floods_delivered", flood_runs, "flood in this trace", detail)
    });

    let mut report = CheckReport { properties: vec![pings, floods], ..Default::default() };
    report.metrics.insert("rtt_us_p50".into(), stats(&rtt_p50_us));
    report.metrics.insert("flood_msgs_per_s".into(), stats(&rates));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::core::process::node_rng;
    use crate::core::trace::{Clocks, TraceRecord};
    use crate::{Algorithm, Effect};
    use serde_json::json;
    use std::collections::VecDeque;

    /// Two load nodes wired back to back: effects are carried out in order, messages delivered
    /// FIFO with a fixed 10 µs delay, events recorded as trace records.
    struct Pair {
        nodes: BTreeMap<NodeId, LoadNode>,
        clocks: BTreeMap<NodeId, Clocks>,
        wire: VecDeque<(NodeId, NodeId, std::sync::Arc<[u8]>)>,
        now: Nanos,
        records: Vec<TraceRecord>,
        drop_every: Option<usize>,
        sent: usize,
    }

    impl Pair {
        fn new(params: LoadParams) -> Pair {
            Pair {
                nodes: [(1, LoadNode::new(params.clone())), (2, LoadNode::new(params))].into(),
                clocks: [(1, Clocks::new(1)), (2, Clocks::new(2))].into(),
                wire: VecDeque::new(),
                now: 0,
                records: vec![],
                drop_every: None,
                sent: 0,
            }
        }

        fn drive(
            &mut self,
            id: NodeId,
            f: impl FnOnce(&mut LoadNode, &mut Ctx<LoadTimer>) -> Result<String, String>,
        ) -> Result<String, String> {
            let peers: Vec<NodeId> = [1, 2].into_iter().filter(|p| *p != id).collect();
            let mut rng = node_rng(0, id, 1);
            let mut ctx = Ctx::new(id, &peers, self.now, &mut rng);
            let result = f(self.nodes.get_mut(&id).unwrap(), &mut ctx);
            for effect in ctx.into_effects() {
                match effect {
                    Effect::Send(out) => {
                        self.sent += 1;
                        if self.drop_every.is_some_and(|n| self.sent.is_multiple_of(n)) {
                            continue;
                        }
                        self.wire.push_back((id, out.to, out.body));
                    }
                    Effect::Event { name, data } => {
                        let r = self.clocks.get_mut(&id).unwrap().stamp(self.now, "load", What::Event { name, data });
                        self.records.push(r);
                    }
                    _ => {}
                }
            }
            result
        }

        fn run(&mut self) {
            while let Some((from, to, body)) = self.wire.pop_front() {
                self.now += 10_000;
                self.drive(to, |p, ctx| {
                    let msg: LoadMsg = rmp_serde::from_slice(&body).map_err(|e| e.to_string())?;
                    Process::on_message(p, ctx, from, msg);
                    Ok(String::new())
                })
                .unwrap();
            }
        }

        fn events(&self, name: &str) -> Vec<&TraceRecord> {
            self.records.iter().filter(|r| r.event_name() == Some(name)).collect()
        }

        fn check(&self) -> CheckReport {
            let run = Execution::new("load", vec![1, 2], Value::Null, self.records.clone(), vec![]);
            Load.check(&run)
        }
    }

    #[test]
    fn ping_measures_every_round_trip() {
        let mut pair = Pair::new(LoadParams::default());
        let reply = pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["ping".into(), "50".into()])).unwrap();
        assert!(reply.contains("node 2"), "{reply}");
        pair.run();
        let done = pair.events("load_done");
        assert_eq!(done.len(), 1);
        let What::Event { data, .. } = &done[0].what else { unreachable!() };
        assert_eq!(data["count"], 50);
        assert_eq!(data["rtt_ns_p50"], 20_000, "two hops of 10 µs");
        let results = pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["results".into()])).unwrap();
        assert!(results.contains("rtt_ns_p99"), "{results}");
        let report = pair.check();
        assert_eq!(report.verdict(), Verdict::Unknown, "no flood ran: {report:?}");
        assert_eq!(report.properties[0].verdict, Verdict::Held, "{report:?}");
    }

    #[test]
    fn flood_stays_within_the_window_and_arrives_whole() {
        let params = LoadParams { window: 64, ack_every: 16, watchdog_ms: 1000 };
        let mut pair = Pair::new(params);
        pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["flood".into(), "1000".into()])).unwrap();
        assert_eq!(pair.wire.len(), 64, "only one window leaves before the first ack");
        pair.run();
        assert_eq!(pair.events("flood_done").len(), 1);
        assert_eq!(pair.events("flood_sent").len(), 1);
        let report = pair.check();
        assert_eq!(report.properties[1].verdict, Verdict::Held, "{report:?}");
    }

    #[test]
    fn a_lost_message_is_caught_by_the_watchdog_and_the_checker() {
        let mut pair = Pair::new(LoadParams::default());
        pair.drop_every = Some(7);
        pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["ping".into(), "20".into()])).unwrap();
        pair.run();
        assert!(pair.events("load_done").is_empty());
        pair.now += 3000 * MS;
        pair.drive(1, |p, ctx| {
            Process::on_timer(p, ctx, LoadTimer::Watchdog);
            Ok(String::new())
        })
        .unwrap();
        assert_eq!(pair.events("load_aborted").len(), 0, "progress was made since the watchdog was armed");
        pair.drive(1, |p, ctx| {
            Process::on_timer(p, ctx, LoadTimer::Watchdog);
            Ok(String::new())
        })
        .unwrap();
        assert_eq!(pair.events("load_aborted").len(), 1);
        let report = pair.check();
        assert_eq!(report.properties[0].verdict, Verdict::Violated, "{report:?}");
    }

    #[test]
    fn bad_commands_and_params_are_explained() {
        let mut pair = Pair::new(LoadParams::default());
        let err = pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["ping".into(), "x".into()])).unwrap_err();
        assert!(err.contains("COUNT"), "{err}");
        let err =
            pair.drive(1, |p, ctx| Process::on_command(p, ctx, &["flood".into(), "5".into(), "9".into()])).unwrap_err();
        assert!(err.contains("not a peer"), "{err}");
        let err = Load.build(1, &[2], &json!({"window": 4, "ack_every": 8})).err().unwrap();
        assert!(err.contains("params.ack_every"), "{err}");
    }
}

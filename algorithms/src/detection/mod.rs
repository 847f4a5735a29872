//! Failure detection as a study of its own: every node heartbeats every peer and runs a failure
//! detector per peer ([`detector`]), and says what it concludes with `suspect` / `trust` events.
//!
//! Rules (the same for both algorithms; only the detector differs):
//! - every `interval_ms` a node sends HEARTBEAT to every peer;
//! - a heartbeat from `p` is fed to the detector of `p`; if `p` was suspected, it is trusted again
//!   (`trust {peer}`);
//! - a node looks at its detector of `p` at the moment it said it would suspect; if it does, and
//!   no heartbeat came since, `p` is suspected (`suspect {peer, level}`).
//!
//! `heartbeat` suspects after a fixed `timeout_ms`; `phi-accrual` when φ reaches `threshold`.
//!
//! Properties (Chandra and Toueg's classes, judged in `check.rs`): **strong completeness**, every
//! crashed node is eventually suspected permanently by every correct node (here: by the
//! detection bound after each kill, and still when it restarts or the run ends); **eventual strong accuracy**, after
//! the faults end no correct node is suspected by a correct node (judged in the quiet tail). Under
//! partial synchrony a timeout larger than the delays gives both; a jittery network or a pause
//! breaks accuracy for a while, which is the trade-off measured: detection time after a kill
//! against false suspicions per minute. Cost: N(N−1) heartbeats per interval.

pub mod check;
pub mod detector;
pub mod leader;

use crate::algorithm::{Family, Params, PropertyInfo, Spec};
use crate::check::{CheckReport, Execution};
use crate::core::event::Event;
use crate::core::process::{Ctx, Message, Nanos, NoState, NodeId, Process, Status, Timer, MS};
use detector::{Detector, DetectorSpec, FailureDetector, PhiSettings};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DetectorMsg {
    /// The `seq`-th heartbeat of its sender's incarnation.
    Heartbeat { seq: u64 },
}

impl Message for DetectorMsg {
    fn kind(&self) -> &'static str {
        "heartbeat"
    }
}

/// The node's own heartbeat, and one look at the detector of each peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorTimer {
    Beat,
    Look(NodeId),
}

impl Timer for DetectorTimer {}

/// What a node concludes about a peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
pub enum DetectorEvent {
    /// The node now suspects `peer`; `level` is the detector's level then (elapsed/timeout, or φ).
    Suspect { peer: NodeId, level: f64 },
    /// A heartbeat from a suspected `peer` arrived: it is trusted again.
    Trust { peer: NodeId },
}

impl Event for DetectorEvent {}

/// What the process and the checker need of either algorithm's `[params]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub interval: Nanos,
    pub detector: DetectorSpec,
    /// A kill must be suspected by every correct node this long after it.
    pub detection_bound: Nanos,
    /// Suspicions may outlast the last fault by this much before the quiet tail is judged.
    pub settle: Nanos,
}

impl Watch {
    fn new(interval_ms: u64, detector: DetectorSpec, bound_ms: Option<u64>, settle_ms: Option<u64>) -> Watch {
        let interval = interval_ms * MS;
        // Derived: the detector's patience for arrivals spread up to the interval itself (four
        // times the φ seed's deviation), plus 100 ms for delivery and scheduling.
        let derived = detector.patience(interval, 4.0) + 100 * MS;
        Watch {
            interval,
            detection_bound: bound_ms.map_or(derived, |ms| ms * MS),
            settle: settle_ms.map_or(2 * interval + 100 * MS, |ms| ms * MS),
            detector,
        }
    }
}

fn validate_common(interval_ms: u64) -> Result<(), String> {
    if interval_ms == 0 {
        return Err("params.interval_ms must be above 0".into());
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatParams {
    pub interval_ms: u64,
    /// Suspect a peer this long after its last heartbeat.
    pub timeout_ms: u64,
    /// Longest acceptable time from a kill to its suspicion by every correct node; derived
    /// (timeout + 100 ms) when not given.
    pub detection_bound_ms: Option<u64>,
    /// How long suspicions may outlast the last fault; two intervals + 100 ms when not given.
    pub settle_ms: Option<u64>,
}

impl Default for HeartbeatParams {
    fn default() -> Self {
        HeartbeatParams { interval_ms: 50, timeout_ms: 200, detection_bound_ms: None, settle_ms: None }
    }
}

impl HeartbeatParams {
    pub fn watch(&self) -> Watch {
        Watch::new(
            self.interval_ms,
            DetectorSpec::Timeout(self.timeout_ms * MS),
            self.detection_bound_ms,
            self.settle_ms,
        )
    }
}

impl Params for HeartbeatParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        validate_common(self.interval_ms)?;
        if self.timeout_ms <= self.interval_ms {
            return Err(format!(
                "params.timeout_ms ({}) must be above params.interval_ms ({}), or every node is always suspected",
                self.timeout_ms, self.interval_ms
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhiParams {
    pub interval_ms: u64,
    /// Suspect a peer when φ reaches this (Akka and Cassandra: 8).
    pub threshold: f64,
    /// Inter-arrival times kept per peer.
    pub window: usize,
    /// The smallest standard deviation assumed, in milliseconds.
    pub min_std_ms: f64,
    /// Longest acceptable time from a kill to its suspicion by every correct node; derived when
    /// not given (where φ reaches the threshold for arrivals spread as much as the interval, plus
    /// 100 ms).
    pub detection_bound_ms: Option<u64>,
    /// How long suspicions may outlast the last fault; two intervals + 100 ms when not given.
    pub settle_ms: Option<u64>,
}

impl Default for PhiParams {
    fn default() -> Self {
        let phi = PhiSettings::default();
        PhiParams {
            interval_ms: 50,
            threshold: phi.threshold,
            window: phi.window,
            min_std_ms: phi.min_std_ms,
            detection_bound_ms: None,
            settle_ms: None,
        }
    }
}

impl PhiParams {
    pub fn settings(&self) -> PhiSettings {
        PhiSettings { threshold: self.threshold, window: self.window, min_std_ms: self.min_std_ms }
    }

    pub fn watch(&self) -> Watch {
        Watch::new(self.interval_ms, DetectorSpec::Phi(self.settings()), self.detection_bound_ms, self.settle_ms)
    }
}

impl Params for PhiParams {
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        validate_common(self.interval_ms)?;
        self.settings().validate("")
    }
}

/// One node: its heartbeats out, and a detector per peer.
pub struct Watcher {
    watch: Watch,
    seq: u64,
    detectors: BTreeMap<NodeId, Detector>,
    suspected: BTreeSet<NodeId>,
}

impl Watcher {
    pub fn new(watch: Watch) -> Watcher {
        Watcher { watch, seq: 0, detectors: BTreeMap::new(), suspected: BTreeSet::new() }
    }

    /// The peers this node suspects now.
    pub fn suspected(&self) -> &BTreeSet<NodeId> {
        &self.suspected
    }

    fn beat(&mut self, ctx: &mut Ctx<DetectorTimer>) {
        self.seq += 1;
        ctx.broadcast(&DetectorMsg::Heartbeat { seq: self.seq });
        ctx.set_timer(DetectorTimer::Beat, self.watch.interval);
    }

    /// Looks at `peer`'s detector again when it would first suspect.
    fn look_later(&self, ctx: &mut Ctx<DetectorTimer>, peer: NodeId) {
        let at = self.detectors[&peer].suspect_at(ctx.now());
        ctx.set_timer(DetectorTimer::Look(peer), (at - ctx.now()).max(1));
    }
}

impl Process for Watcher {
    type Msg = DetectorMsg;
    type Timer = DetectorTimer;
    type Durable = NoState;

    fn on_start(&mut self, ctx: &mut Ctx<DetectorTimer>, _: Option<NoState>) {
        for peer in ctx.peers().to_vec() {
            self.detectors.insert(peer, self.watch.detector.detector(self.watch.interval, ctx.now()));
            self.look_later(ctx, peer);
        }
        self.beat(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<DetectorTimer>, from: NodeId, msg: DetectorMsg) {
        let DetectorMsg::Heartbeat { .. } = msg;
        let Some(detector) = self.detectors.get_mut(&from) else { return };
        detector.heartbeat(ctx.now());
        if self.suspected.remove(&from) {
            ctx.emit(&DetectorEvent::Trust { peer: from });
        }
        self.look_later(ctx, from);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<DetectorTimer>, timer: DetectorTimer) {
        match timer {
            DetectorTimer::Beat => self.beat(ctx),
            DetectorTimer::Look(peer) => {
                let Some(detector) = self.detectors.get(&peer) else { return };
                if !detector.suspects(ctx.now()) {
                    return self.look_later(ctx, peer);
                }
                if self.suspected.insert(peer) {
                    let level = (detector.level(ctx.now()) * 100.0).round() / 100.0;
                    ctx.emit(&DetectorEvent::Suspect { peer, level });
                }
            }
        }
    }

    fn on_command(&mut self, _ctx: &mut Ctx<DetectorTimer>, args: &[String]) -> Result<String, String> {
        match args.first().map(String::as_str) {
            Some("suspects") => Ok(format!("{:?}", self.suspected)),
            _ => Err(format!("unknown command {args:?}; a failure detector knows: suspects")),
        }
    }

    fn status(&self) -> Status {
        let role = if self.suspected.is_empty() { "trusting" } else { "suspecting" };
        Status { role: role.into(), leader: None, term: None }
    }
}

fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: check::STRONG_COMPLETENESS,
            promise: "every killed node is suspected by every correct node by the detection bound after its kill, and still when it restarts (or the run ends)",
        },
        PropertyInfo {
            name: check::EVENTUAL_STRONG_ACCURACY,
            promise: "once the faults have ended (and the settle time passed), no correct node suspects a correct node",
        },
    ]
}

/// The catalogue entry of the fixed-timeout detector.
pub struct HeartbeatDetector;

impl Spec for HeartbeatDetector {
    const NAME: &'static str = "heartbeat";
    const FAMILY: Family = Family::Detection;
    const SUMMARY: &'static str =
        "heartbeat failure detector: suspect a peer timeout_ms after its last heartbeat; N(N−1) heartbeats per interval";
    type Params = HeartbeatParams;

    fn build(_me: NodeId, _peers: &[NodeId], params: &HeartbeatParams) -> Result<impl Process, String> {
        Ok(Watcher::new(params.watch()))
    }

    fn properties() -> Vec<PropertyInfo> {
        properties()
    }

    fn check(run: &Execution, params: &HeartbeatParams) -> CheckReport {
        check::check_detector(run, &params.watch())
    }
}

/// The catalogue entry of the φ-accrual detector.
pub struct PhiAccrualDetector;

impl Spec for PhiAccrualDetector {
    const NAME: &'static str = "phi-accrual";
    const FAMILY: Family = Family::Detection;
    const SUMMARY: &'static str =
        "φ-accrual failure detector (Hayashibara 2004): suspect when φ of the inter-arrival history reaches the threshold; N(N−1) heartbeats per interval";
    type Params = PhiParams;

    fn build(_me: NodeId, _peers: &[NodeId], params: &PhiParams) -> Result<impl Process, String> {
        Ok(Watcher::new(params.watch()))
    }

    fn properties() -> Vec<PropertyInfo> {
        properties()
    }

    fn check(run: &Execution, params: &PhiParams) -> CheckReport {
        check::check_detector(run, &params.watch())
    }
}

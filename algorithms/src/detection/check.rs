//! The failure detectors' checker: Chandra and Toueg's strong completeness and eventual strong
//! accuracy, judged from the `suspect`/`trust` events and the fault log, and the figures of the
//! trade-off between them: detection time after each kill, false suspicions per minute and how
//! long they lasted.
//!
//! Words used here:
//! - a node is *up* from its `start` record until it is killed or exits, and *paused* between a
//!   pause and its resume; *correct* means up and not paused;
//! - a *suspicion* runs from a `suspect {peer}` event of its observer until the observer's
//!   `trust {peer}`, its restart or its death (a dead observer suspects nothing), or the end;
//! - a suspicion is *false* when its peer was correct when it began (a node slowed by a delayed
//!   link is correct: that is the course's "spike in network latency").

use super::{DetectorEvent, Watch};
use crate::check::metric::{Distribution, Metric};
use crate::check::{count_messages, CheckReport, EventRef, Execution, PropertyResult};
use crate::core::process::{Nanos, NodeId, MS};
use crate::core::trace::What;
use crate::faults::AppliedFault;
use serde_json::json;
use std::collections::BTreeMap;

pub const STRONG_COMPLETENESS: &str = "strong_completeness";
pub const EVENTUAL_STRONG_ACCURACY: &str = "eventual_strong_accuracy";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Down,
    Up,
    Paused,
}

/// One observer's suspicion of one peer.
#[derive(Clone, Debug)]
pub struct Suspicion {
    pub observer: NodeId,
    pub peer: NodeId,
    pub from: Nanos,
    /// When it ended; `None` when it lasted to the end of the run.
    pub to: Option<Nanos>,
    pub event: EventRef,
}

/// What the checker reads of a run: each node's life, and every suspicion.
pub struct Detections<'a> {
    run: &'a Execution,
    lives: BTreeMap<NodeId, Vec<(Nanos, Life)>>,
    pub suspicions: Vec<Suspicion>,
}

impl<'a> Detections<'a> {
    pub fn new(run: &'a Execution) -> Detections<'a> {
        let mut changes: Vec<(Nanos, NodeId, Option<Life>, Option<&crate::core::trace::TraceRecord>)> = Vec::new();
        for f in &run.faults {
            let change = match f.fault {
                AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => Some((node, Life::Down)),
                AppliedFault::Pause { node } => Some((node, Life::Paused)),
                AppliedFault::Resume { node } => Some((node, Life::Up)),
                _ => None,
            };
            if let Some((node, life)) = change {
                changes.push((f.t, node, Some(life), None));
            }
        }
        for r in &run.records {
            match &r.what {
                What::Start { .. } => changes.push((r.t, r.node, Some(Life::Up), Some(r))),
                What::Stop { .. } => changes.push((r.t, r.node, Some(Life::Down), None)),
                What::Event { .. } if r.event_as::<DetectorEvent>().is_some() => {
                    changes.push((r.t, r.node, None, Some(r)))
                }
                _ => {}
            }
        }
        // Records before faults at the same instant: a dead process writes nothing after its kill.
        changes.sort_by_key(|(t, node, life, r)| (*t, life.is_some() && r.is_none(), *node, r.map(|r| r.lc)));

        let mut lives: BTreeMap<NodeId, Vec<(Nanos, Life)>> =
            run.nodes.iter().map(|n| (*n, vec![(0, Life::Down)])).collect();
        let mut open: BTreeMap<(NodeId, NodeId), usize> = BTreeMap::new();
        let mut suspicions: Vec<Suspicion> = Vec::new();
        for (t, node, life, record) in changes {
            if let Some(life) = life {
                let list = lives.entry(node).or_default();
                let before = list.last().map_or(Life::Down, |(_, l)| *l);
                // A resume of a node killed while paused does not bring it back.
                if !(before == Life::Down && life == Life::Up && record.is_none()) {
                    list.push((t, life));
                }
                // A restarted or dead observer no longer suspects anyone.
                if life == Life::Down || record.is_some() {
                    let ended: Vec<_> = open.keys().filter(|(o, _)| *o == node).copied().collect();
                    for key in ended {
                        let i = open.remove(&key).expect("open");
                        suspicions[i].to = Some(t);
                    }
                }
                continue;
            }
            let r = record.expect("an event");
            match r.event_as::<DetectorEvent>() {
                Some(DetectorEvent::Suspect { peer, .. }) if !open.contains_key(&(node, peer)) => {
                    open.insert((node, peer), suspicions.len());
                    let event = EventRef::of(r);
                    suspicions.push(Suspicion { observer: node, peer, from: t, to: None, event });
                }
                Some(DetectorEvent::Trust { peer }) => {
                    if let Some(i) = open.remove(&(node, peer)) {
                        suspicions[i].to = Some(t);
                    }
                }
                _ => {}
            }
        }
        Detections { run, lives, suspicions }
    }

    fn life(&self, node: NodeId, t: Nanos) -> Life {
        self.lives
            .get(&node)
            .and_then(|l| l.iter().take_while(|(at, _)| *at <= t).last())
            .map_or(Life::Down, |(_, life)| *life)
    }

    /// Whether `node` is correct at `t`.
    pub fn correct(&self, node: NodeId, t: Nanos) -> bool {
        self.life(node, t) == Life::Up
    }

    /// Whether `node` is correct throughout `[from, to]`.
    fn correct_throughout(&self, node: NodeId, from: Nanos, to: Nanos) -> bool {
        self.correct(node, from)
            && self
                .lives
                .get(&node)
                .is_none_or(|l| l.iter().all(|(t, life)| *t <= from || *t > to || *life == Life::Up))
    }

    /// When `node` is next up after `t` (a restart), if it is.
    fn next_up(&self, node: NodeId, t: Nanos) -> Option<Nanos> {
        self.lives.get(&node)?.iter().find(|(at, life)| *at > t && *life == Life::Up).map(|(at, _)| *at)
    }

    /// When `node` next stops being correct after `t`, if it does.
    fn next_down(&self, node: NodeId, t: Nanos) -> Option<Nanos> {
        self.lives.get(&node)?.iter().find(|(at, life)| *at > t && *life != Life::Up).map(|(at, _)| *at)
    }

    /// The suspicions that began while their peer was correct.
    pub fn false_suspicions(&self) -> Vec<&Suspicion> {
        self.suspicions.iter().filter(|s| self.correct(s.peer, s.from)).collect()
    }

    fn covering(&self, observer: NodeId, peer: NodeId, t: Nanos) -> Option<&Suspicion> {
        self.suspicions
            .iter()
            .find(|s| s.observer == observer && s.peer == peer && s.from <= t && s.to.is_none_or(|to| to > t))
    }
}

pub fn check_detector(run: &Execution, watch: &Watch) -> CheckReport {
    let d = Detections::new(run);
    let (completeness, detection_ms) = strong_completeness(&d, watch);
    let accuracy = eventual_strong_accuracy(&d, watch);

    let false_ones = d.false_suspicions();
    let minutes = run.end.saturating_sub(run.start) as f64 / (60_000.0 * MS as f64);
    let per_min = if minutes > 0.0 { false_ones.len() as f64 / minutes } else { 0.0 };
    let durations: Vec<f64> =
        false_ones.iter().map(|s| (s.to.unwrap_or(run.end).saturating_sub(s.from)) as f64 / MS as f64).collect();
    let n = run.nodes.len() as u64;
    let heartbeats = count_messages(&run.records).by_type.get("heartbeat").copied().unwrap_or(0);
    let intervals = run.end.saturating_sub(run.start) as f64 / watch.interval as f64;

    let mut metrics = BTreeMap::new();
    metrics.insert("detection_ms".into(), Metric::Distribution(Distribution::of(&detection_ms)).to_value());
    metrics.insert("suspicions".into(), Metric::Count(d.suspicions.len() as u64).to_value());
    metrics.insert("false_suspicions".into(), Metric::Count(false_ones.len() as u64).to_value());
    metrics.insert("false_suspicions_per_min".into(), Metric::Figure((per_min * 10.0).round() / 10.0).to_value());
    metrics.insert("false_suspicion_ms".into(), Metric::Distribution(Distribution::of(&durations)).to_value());
    let measured = if intervals > 0.0 { (heartbeats as f64 / intervals * 10.0).round() / 10.0 } else { 0.0 };
    metrics.insert(
        "heartbeats_per_interval".into(),
        json!({ "measured": measured, "textbook": format!("N(N−1) = {}", n * n.saturating_sub(1)) }),
    );
    CheckReport { properties: vec![completeness, accuracy], metrics }
}

/// Every kill whose node stays down for the detection bound, against every node correct
/// throughout that bound: the observer suspects it at the bound, and keeps suspecting it until it
/// comes back (or the observer itself goes down). Also returns each detection time.
fn strong_completeness(d: &Detections, watch: &Watch) -> (PropertyResult, Vec<f64>) {
    let run = d.run;
    let bound = watch.detection_bound;
    let (mut judged, mut times, mut skipped) = (0, Vec::new(), 0);
    for f in &run.faults {
        let (AppliedFault::Kill { node: dead, .. } | AppliedFault::Exited { node: dead, .. }) = f.fault else {
            continue;
        };
        let deadline = f.t + bound;
        let back = d.next_up(dead, f.t);
        if deadline > run.end || back.is_some_and(|b| b <= deadline) {
            skipped += 1;
            continue;
        }
        for &observer in run.nodes.iter().filter(|n| **n != dead) {
            if !d.correct_throughout(observer, f.t, deadline) {
                continue;
            }
            judged += 1;
            let at = |t: Nanos| run.ms(t);
            let Some(s) = d.covering(observer, dead, deadline) else {
                let detail = format!(
                    "node {dead} was killed at {:.0} ms and node {observer} did not suspect it {:.0} ms later (the detection bound)",
                    at(f.t),
                    bound as f64 / MS as f64
                );
                return (PropertyResult::violated(STRONG_COMPLETENESS, detail, vec![]), times);
            };
            // Until it comes back, the observer goes down, or the run ends: a heartbeat that was on
            // its way at the kill may make it trust the dead node for a moment, but not for good.
            let stop = [back, d.next_down(observer, deadline), Some(run.end)].into_iter().flatten().min();
            let stop = stop.unwrap_or(run.end).saturating_sub(1).max(deadline);
            if d.covering(observer, dead, stop).is_none() {
                let detail = format!(
                    "node {observer} no longer suspected node {dead} at {:.0} ms, while it was still down (killed at {:.0} ms)",
                    at(stop),
                    at(f.t)
                );
                return (PropertyResult::violated(STRONG_COMPLETENESS, detail, vec![s.event.clone()]), times);
            }
            times.push(s.from.saturating_sub(f.t) as f64 / MS as f64);
        }
    }
    let detail = format!(
        "{judged} (kill, observer) pairs suspected within {:.0} ms and until the restart; detection {} ms{}",
        bound as f64 / MS as f64,
        Distribution::of(&times).p50.map_or("—".into(), |p| format!("p50 {p}")),
        if skipped > 0 {
            format!("; {skipped} kill(s) not judged (restarted within the bound, or too near the end)")
        } else {
            String::new()
        }
    );
    let result =
        PropertyResult::held(STRONG_COMPLETENESS, judged, "kill followed by a detection bound of downtime", detail);
    (result, times)
}

/// After the last fault and the settle time, no correct node suspects a correct node.
fn eventual_strong_accuracy(d: &Detections, watch: &Watch) -> PropertyResult {
    let run = d.run;
    let last = run.disturbances().iter().map(|f| f.t).max().unwrap_or(run.start).max(run.start);
    let tail = last + watch.settle;
    if tail >= run.end {
        let detail = format!(
            "nothing to judge: no quiet tail (the last fault at {:.0} ms, plus {:.0} ms to settle, reaches the end)",
            run.ms(last),
            watch.settle as f64 / MS as f64
        );
        return PropertyResult::unknown(EVENTUAL_STRONG_ACCURACY, detail);
    }
    let correct: Vec<NodeId> = run.nodes.iter().copied().filter(|n| d.correct_throughout(*n, tail, run.end)).collect();
    let mut judged = 0;
    for &observer in &correct {
        for &peer in correct.iter().filter(|p| **p != observer) {
            judged += 1;
            let wrong = d.suspicions.iter().find(|s| {
                s.observer == observer && s.peer == peer && s.from < run.end && s.to.is_none_or(|to| to > tail)
            });
            if let Some(s) = wrong {
                let detail = format!(
                    "node {observer} suspected node {peer}, which is correct, from {:.0} ms to {}: inside the quiet tail from {:.0} ms",
                    run.ms(s.from),
                    s.to.map_or("the end".into(), |to| format!("{:.0} ms", run.ms(to))),
                    run.ms(tail)
                );
                return PropertyResult::violated(EVENTUAL_STRONG_ACCURACY, detail, vec![s.event.clone()]);
            }
        }
    }
    let detail = format!(
        "{judged} pairs of correct nodes, none suspected from {:.0} ms (last fault + {:.0} ms) to the end",
        run.ms(tail),
        watch.settle as f64 / MS as f64
    );
    PropertyResult::held(EVENTUAL_STRONG_ACCURACY, judged, "pair of correct nodes in a quiet tail", detail)
}

//! The latency charts: election durations and critical-section waits over the run's time, from
//! the families' events ([`ElectionEvent`], [`MutexEvent`]).

use super::spans;
use crate::plots::{Chart, Series, Style};
use crate::timeline::Timeline;
use algorithms::check::events::{ElectionEvent, MutexEvent};
use algorithms::NodeId;
use std::collections::BTreeMap;

/// Election durations (first `election_started` → next `elected`) and critical-section waits
/// (`request` → `enter_cs` of the same node and resource), over the run's time.
pub fn charts(tl: &Timeline, ms: &dyn Fn(u64) -> f64, end_ms: f64, fault_spans: &[spans::Span]) -> Vec<Chart> {
    let mut elections: Vec<(f64, f64, String)> = Vec::new();
    let mut open: Option<(f64, NodeId)> = None;
    let mut waits: Vec<(f64, f64, String)> = Vec::new();
    let mut requests: BTreeMap<(NodeId, String), f64> = BTreeMap::new();
    for i in tl.record_order() {
        let r = &tl.records[i];
        let t = ms(r.t);
        match r.event_as::<ElectionEvent>() {
            Some(ElectionEvent::ElectionStarted(_)) if open.is_none() => open = Some((t, r.node)),
            Some(ElectionEvent::Elected(_)) => {
                if let Some((t0, starter)) = open.take() {
                    let tip = format!(
                        "{:.3} s: node {starter} started an election; node {} elected after {:.1} ms",
                        t0 / 1000.0,
                        r.node,
                        t - t0
                    );
                    elections.push((t0 / 1000.0, t - t0, tip));
                }
            }
            _ => {}
        }
        match r.event_as::<MutexEvent>() {
            Some(MutexEvent::Request(request)) => {
                requests.insert((r.node, request.resource), t);
            }
            Some(MutexEvent::EnterCs { resource }) => {
                if let Some(t0) = requests.remove(&(r.node, resource.clone())) {
                    let tip = format!(
                        "node {} asked for {resource:?} at {:.3} s, entered {:.1} ms later",
                        r.node,
                        t0 / 1000.0,
                        t - t0
                    );
                    waits.push((t0 / 1000.0, t - t0, tip));
                }
            }
            _ => {}
        }
    }
    let mut charts = Vec::new();
    for (points, title, name, colour) in [
        (elections, "Election duration: first election_started → elected", "election", "#b8860b"),
        (waits, "Critical-section wait: request → enter_cs", "wait", "#2e7d32"),
    ] {
        if points.is_empty() {
            continue;
        }
        let count = points.len();
        let series = if count <= MAX_DOTS {
            vec![Series {
                name: name.into(),
                colour: colour.into(),
                style: Style::Dots,
                points: points.iter().map(|(x, y, _)| (*x, *y)).collect(),
                tips: points.into_iter().map(|(_, _, tip)| tip).collect(),
            }]
        } else {
            summarized(&points, end_ms / 1000.0, colour)
        };
        charts.push(Chart {
            title: format!("{title} ({count} in this run)"),
            x_label: "when it started (s since the run started)".into(),
            y_label: "ms".into(),
            x_max: end_ms / 1000.0,
            bands: spans::bands(fault_spans),
            series,
        });
    }
    charts
}

/// More dots than this would make the page heavy and unreadable: they become lines instead.
const MAX_DOTS: usize = 1500;

/// Median and maximum per time bucket, for a plot with too many points to show one by one.
fn summarized(points: &[(f64, f64, String)], x_max: f64, colour: &str) -> Vec<Series> {
    const BUCKETS: usize = 120;
    let width = (x_max / BUCKETS as f64).max(1e-9);
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); BUCKETS];
    for (x, y, _) in points {
        buckets[((x / width) as usize).min(BUCKETS - 1)].push(*y);
    }
    let (mut median, mut max) = (Vec::new(), Vec::new());
    for (i, values) in buckets.iter_mut().enumerate().filter(|(_, v)| !v.is_empty()) {
        values.sort_by(f64::total_cmp);
        let x = (i as f64 + 0.5) * width;
        median.push((x, values[values.len() / 2]));
        max.push((x, values[values.len() - 1]));
    }
    let line = |name: &str, colour: &str, points| Series {
        name: format!("{name} per {:.2} s", width),
        colour: colour.into(),
        style: Style::Line,
        points,
        tips: vec![],
    };
    vec![line("median", colour, median), line("max", "#c62828", max)]
}

//! Fault periods: from the orchestrator's point events (kill, restart, pause, partition, heal…)
//! to intervals with the lanes they hit, for shading the diagram and the plots.

use crate::plots::Band;
use algorithms::faults::LinkSpec;
use algorithms::faults::{AppliedFault, FaultRecord};
use algorithms::NodeId;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One fault period, times in ms since the run started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Span {
    pub t0: f64,
    pub t1: f64,
    /// `down`, `paused`, `drift`, `partition` or `link`: the diagram's colour and shape.
    pub kind: &'static str,
    /// The lanes (nodes) the fault hits.
    pub lanes: Vec<NodeId>,
    pub label: String,
    pub detail: String,
}

/// A fault's moment, for the marker on the diagram's time axis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    pub t: f64,
    pub label: String,
}

/// The CSS colour of a kind of fault period (the plots' bands; the page's CSS matches).
pub fn colour(kind: &str) -> &'static str {
    match kind {
        "down" => "rgba(90,90,90,0.22)",
        "paused" => "rgba(230,160,20,0.25)",
        "drift" => "rgba(40,140,160,0.20)",
        "partition" => "rgba(220,60,60,0.20)",
        _ => "rgba(150,80,200,0.20)",
    }
}

/// The legend's words for a kind of fault period.
pub fn legend(kind: &str) -> &'static str {
    match kind {
        "down" => "node down",
        "paused" => "node paused",
        "drift" => "clock drift",
        "partition" => "partition",
        _ => "link fault",
    }
}

/// Periods and marks of a run's faults; `ms` converts a monotonic time to the report's axis.
pub fn spans(faults: &[FaultRecord], end: f64, ms: impl Fn(u64) -> f64) -> (Vec<Span>, Vec<Mark>) {
    let mut done = Vec::new();
    let mut marks = Vec::new();
    let mut down: BTreeMap<NodeId, Span> = BTreeMap::new();
    let mut paused: BTreeMap<NodeId, Span> = BTreeMap::new();
    let mut drift: BTreeMap<NodeId, Span> = BTreeMap::new();
    let mut links: BTreeMap<(NodeId, NodeId), Span> = BTreeMap::new();
    let mut partition: Option<Span> = None;
    let close = |span: Option<Span>, t: f64, done: &mut Vec<Span>| {
        if let Some(mut s) = span {
            s.t1 = t;
            done.push(s);
        }
    };
    let open = |t: f64, kind: &'static str, lanes: Vec<NodeId>, label: String, detail: String| Span {
        t0: t,
        t1: end,
        kind,
        lanes,
        label,
        detail,
    };
    for f in faults {
        let t = ms(f.t);
        if !matches!(f.fault, AppliedFault::RunStart { .. } | AppliedFault::RunEnd) {
            marks.push(Mark { t, label: short(&f.fault) });
        }
        match &f.fault {
            AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => {
                close(paused.remove(node), t, &mut done);
                let word = if matches!(f.fault, AppliedFault::Kill { .. }) { "killed" } else { "exited" };
                let span = open(t, "down", vec![*node], word.into(), f.fault.describe());
                close(down.insert(*node, span), t, &mut done);
            }
            AppliedFault::Restart { node } => close(down.remove(node), t, &mut done),
            AppliedFault::Pause { node } => {
                let span = open(t, "paused", vec![*node], "paused".into(), f.fault.describe());
                close(paused.insert(*node, span), t, &mut done);
            }
            AppliedFault::Resume { node } => close(paused.remove(node), t, &mut done),
            AppliedFault::Drift { node, rate } => {
                close(drift.remove(node), t, &mut done);
                if *rate != 1.0 {
                    drift.insert(*node, open(t, "drift", vec![*node], format!("clock ×{rate}"), f.fault.describe()));
                }
            }
            AppliedFault::Partition { spec, cut, .. } => {
                close(partition.take(), t, &mut done);
                if !cut.is_empty() {
                    let lanes: BTreeSet<NodeId> = cut.iter().flat_map(|(a, b)| [*a, *b]).collect();
                    let detail = format!("partition {spec}: {}", describe_cut(cut));
                    partition =
                        Some(open(t, "partition", lanes.into_iter().collect(), format!("partition {spec}"), detail));
                }
            }
            AppliedFault::Heal => {
                close(partition.take(), t, &mut done);
                for (_, span) in std::mem::take(&mut links) {
                    close(Some(span), t, &mut done);
                }
            }
            AppliedFault::Link(spec) => {
                close(links.remove(&(spec.from, spec.to)), t, &mut done);
                if !spec.is_clear() {
                    let label = link_label(spec);
                    links.insert(
                        (spec.from, spec.to),
                        open(t, "link", vec![spec.from, spec.to], label, f.fault.describe()),
                    );
                }
            }
            // A corruption is a moment, not a span: its axis mark shows it.
            AppliedFault::Corrupt { .. }
            | AppliedFault::Command { .. }
            | AppliedFault::RunStart { .. }
            | AppliedFault::RunEnd => {}
        }
    }
    let still_open = down.into_values().chain(paused.into_values()).chain(drift.into_values());
    done.extend(still_open.chain(links.into_values()).chain(partition));
    done.sort_by(|a, b| a.t0.total_cmp(&b.t0).then(a.kind.cmp(b.kind)));
    (done, marks)
}

/// A few words for the axis marker.
fn short(f: &AppliedFault) -> String {
    match f {
        AppliedFault::Kill { node, .. } => format!("kill {node}"),
        AppliedFault::Restart { node } => format!("restart {node}"),
        AppliedFault::Exited { node, .. } => format!("{node} exited"),
        AppliedFault::Pause { node } => format!("pause {node}"),
        AppliedFault::Resume { node } => format!("resume {node}"),
        AppliedFault::Drift { node, rate } => format!("drift {node} ×{rate}"),
        AppliedFault::Partition { spec, .. } => format!("partition {spec}"),
        AppliedFault::Heal => "heal".into(),
        AppliedFault::Link(spec) if spec.is_clear() => format!("link {}→{} clear", spec.from, spec.to),
        AppliedFault::Link(spec) => format!("link {}→{}", spec.from, spec.to),
        AppliedFault::Corrupt { node } => format!("corrupt {node}"),
        AppliedFault::Command { node, args, .. } => format!("{} @{node}", args.join(" ")),
        AppliedFault::RunStart { .. } => "start".into(),
        AppliedFault::RunEnd => "end".into(),
    }
}

fn link_label(spec: &LinkSpec) -> String {
    let text = spec.describe();
    text.split_once(' ').map_or(text.clone(), |(_, rest)| format!("{}→{} {rest}", spec.from, spec.to))
}

/// A cut as groups (`1,2 | 3,4,5`) when it is a clean partition into groups, else its links.
pub fn describe_cut(cut: &[(NodeId, NodeId)]) -> String {
    let set: BTreeSet<(NodeId, NodeId)> = cut.iter().copied().collect();
    let nodes: BTreeSet<NodeId> = cut.iter().flat_map(|(a, b)| [*a, *b]).collect();
    // Groups: nodes that can talk both ways; clean when every cross-group pair is cut both ways.
    let mut groups: Vec<Vec<NodeId>> = Vec::new();
    for n in &nodes {
        match groups.iter_mut().find(|g| !set.contains(&(g[0], *n)) && !set.contains(&(*n, g[0]))) {
            Some(g) => g.push(*n),
            None => groups.push(vec![*n]),
        }
    }
    let group_of = |n: NodeId| groups.iter().position(|g| g.contains(&n));
    let clean =
        nodes.iter().all(|a| nodes.iter().all(|b| a == b || set.contains(&(*a, *b)) == (group_of(*a) != group_of(*b))));
    if clean && groups.len() > 1 {
        let text: Vec<String> =
            groups.iter().map(|g| g.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")).collect();
        format!("groups {}", text.join(" | "))
    } else {
        let text: Vec<String> = cut.iter().map(|(a, b)| format!("{a}→{b}")).collect();
        format!("links cut: {}", text.join(", "))
    }
}

/// The fault periods as the plots' shaded bands, in seconds.
pub fn bands(fault_spans: &[Span]) -> Vec<Band> {
    fault_spans
        .iter()
        .map(|s| Band {
            x0: s.t0 / 1000.0,
            x1: s.t1 / 1000.0,
            colour: colour(s.kind).into(),
            label: format!("{:.3}–{:.3} s: {}", s.t0 / 1000.0, s.t1 / 1000.0, s.detail),
            legend: legend(s.kind).into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::faults::CutMode;

    fn at(t: u64, fault: AppliedFault) -> FaultRecord {
        FaultRecord { t, fault }
    }

    #[test]
    fn faults_become_periods_on_the_lanes_they_hit() {
        let halves: Vec<(NodeId, NodeId)> =
            [(1, 3), (1, 4), (2, 3), (2, 4), (3, 1), (3, 2), (4, 1), (4, 2)].into_iter().collect();
        let faults = vec![
            at(0, AppliedFault::RunStart { nodes: vec![1, 2, 3, 4] }),
            at(1, AppliedFault::Kill { node: 4, was_leader: true }),
            at(2, AppliedFault::Partition { spec: "halves".into(), mode: CutMode::Blackhole, cut: halves }),
            at(3, AppliedFault::Link(LinkSpec { loss: 0.5, ..LinkSpec::clear(1, 2) })),
            at(4, AppliedFault::Restart { node: 4 }),
            at(5, AppliedFault::Heal),
            at(6, AppliedFault::Pause { node: 2 }),
            at(9, AppliedFault::RunEnd),
        ];
        let (spans, marks) = spans(&faults, 9.0, |t| t as f64);
        let view: Vec<(f64, f64, &str, Vec<NodeId>)> =
            spans.iter().map(|s| (s.t0, s.t1, s.kind, s.lanes.clone())).collect();
        assert_eq!(
            view,
            vec![
                (1.0, 4.0, "down", vec![4]),
                (2.0, 5.0, "partition", vec![1, 2, 3, 4]),
                (3.0, 5.0, "link", vec![1, 2]),
                (6.0, 9.0, "paused", vec![2]),
            ]
        );
        assert_eq!(spans[1].detail, "partition halves: groups 1,2 | 3,4");
        assert_eq!(spans[2].label, "1→2 loss 0.5");
        assert_eq!(marks.len(), 6);
        assert_eq!(marks[0].label, "kill 4");
    }

    #[test]
    fn an_unclean_cut_lists_its_links() {
        assert_eq!(describe_cut(&[(1, 2)]), "links cut: 1→2");
    }
}

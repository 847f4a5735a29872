//! The gossip's checker: judged from the traces alone (the `spread` and `delivered` events, the
//! starts and the faults), so a real run, a simulated run and a node someone else wrote are
//! judged alike.

use super::gossip::{GossipEvent, GossipParams};
use crate::check::{CheckReport, EventRef, Execution, PropertyInfo, PropertyResult};
use crate::core::process::{NodeId, MS};
use crate::core::trace::What;
use crate::faults::record::AppliedFault;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

pub fn properties() -> Vec<PropertyInfo> {
    vec![
        PropertyInfo {
            name: "no_duplication",
            promise: "no process delivers a rumor twice, nor one that nobody spread",
        },
        PropertyInfo {
            name: "agreement",
            promise: "a rumor delivered by a correct node (never killed) is delivered by every correct node",
        },
    ]
}

pub fn check(run: &Execution, params: &GossipParams) -> CheckReport {
    let mut report =
        CheckReport { properties: vec![no_duplication(run), agreement(run, params)], ..Default::default() };
    let spread = run.events::<GossipEvent>().filter(|(_, e)| matches!(e, GossipEvent::Spread { .. })).count();
    let sends = run.records.iter().filter(|r| matches!(&r.what, What::Send { msg_type, .. } if msg_type == "rumor"));
    let n = run.nodes.len() as f64;
    report.metrics.insert("rumors".into(), json!(spread));
    if spread > 0 {
        let per_rumor = sends.count() as f64 / spread as f64;
        report.metrics.insert("messages_per_rumor".into(), json!((per_rumor * 10.0).round() / 10.0));
        report.metrics.insert("textbook_messages_per_rumor".into(), json!((n - 1.0) * (n - 1.0)));
    }
    report
}

/// Each delivery: the first of its rumor in its process's life, of a rumor spread before it.
fn no_duplication(run: &Execution) -> PropertyResult {
    const NAME: &str = "no_duplication";
    let mut incarnation: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut spread = BTreeSet::new();
    let mut delivered = BTreeSet::new();
    let mut judged = 0;
    for r in &run.records {
        if let What::Start { incarnation: i } = &r.what {
            incarnation.insert(r.node, *i);
        }
        match r.event_as::<GossipEvent>() {
            Some(GossipEvent::Spread { rumor }) => {
                spread.insert(rumor);
            }
            Some(GossipEvent::Delivered { rumor, .. }) => {
                judged += 1;
                if !spread.contains(&rumor) {
                    let detail = format!("node {} delivered {rumor}, which nobody spread", r.node);
                    return PropertyResult::violated(NAME, detail, vec![EventRef::of(r)]);
                }
                let life = incarnation.get(&r.node).copied().unwrap_or(0);
                if !delivered.insert((r.node, life, rumor.clone())) {
                    let detail = format!("node {} delivered {rumor} a second time", r.node);
                    return PropertyResult::violated(NAME, detail, vec![EventRef::of(r)]);
                }
            }
            None => {}
        }
    }
    PropertyResult::held(NAME, judged, "rumor delivered", format!("{judged} deliveries, each the first of its rumor"))
}

/// Where one rumor got: the nodes that delivered it, and its first delivery by a correct node
/// early enough to be judged (the evidence, and its time in ms).
#[derive(Default)]
struct Reach {
    nodes: BTreeSet<NodeId>,
    first: Option<(EventRef, f64)>,
}

/// Each rumor a correct node delivered early enough: delivered by every correct node.
fn agreement(run: &Execution, params: &GossipParams) -> PropertyResult {
    const NAME: &str = "agreement";
    let crashed: BTreeSet<NodeId> = run
        .faults
        .iter()
        .filter_map(|f| match f.fault {
            AppliedFault::Kill { node, .. } | AppliedFault::Exited { node, .. } => Some(node),
            _ => None,
        })
        .collect();
    let correct: BTreeSet<NodeId> = run.nodes.iter().copied().filter(|n| !crashed.contains(n)).collect();
    let cutoff = run.end.saturating_sub(params.settle_ms * MS);
    let mut by_rumor: BTreeMap<String, Reach> = BTreeMap::new();
    for (r, e) in run.events::<GossipEvent>() {
        let GossipEvent::Delivered { rumor, .. } = e else { continue };
        let Reach { nodes, first } = by_rumor.entry(rumor).or_default();
        nodes.insert(r.node);
        if first.is_none() && correct.contains(&r.node) && r.t <= cutoff {
            *first = Some((EventRef::of(r), run.ms(r.t)));
        }
    }
    let mut judged = 0;
    for (rumor, Reach { nodes, first }) in &by_rumor {
        let Some((first, at_ms)) = first else { continue };
        judged += 1;
        if let Some(missing) = correct.iter().find(|n| !nodes.contains(n)) {
            let detail = format!(
                "rumor {rumor}, delivered by node {} at {at_ms:.0} ms, never reached node {missing} (never killed)",
                first.node
            );
            return PropertyResult::violated(NAME, detail, vec![first.clone()]);
        }
    }
    PropertyResult::held(
        NAME,
        judged,
        "rumor delivered by a correct node before the settle time",
        format!("{judged} rumor(s), each delivered by all {} correct node(s)", correct.len()),
    )
}

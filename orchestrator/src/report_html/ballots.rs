//! Paxos's section: every ballot, its proposer and value, who promised it, who accepted it, and
//! what became of it (preempted by which ballot, timed out, learned by whom), from the `paxos`
//! events. Bounded: the first [`ROWS`] ballots.

use crate::plots::esc;
use crate::timeline::Timeline;
use algorithms::consensus::paxos::{Ballot, PaxosEvent};
use algorithms::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

pub const ROWS: usize = 100;

#[derive(Default)]
struct Row {
    value: Option<String>,
    adopted: Option<Ballot>,
    promised: BTreeSet<NodeId>,
    accepted: BTreeSet<NodeId>,
    learned: BTreeSet<NodeId>,
    preempted: Option<Option<Ballot>>,
}

fn nodes(set: &BTreeSet<NodeId>) -> String {
    match set.is_empty() {
        true => "—".into(),
        false => set.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
    }
}

/// Nothing when the run has no Paxos ballots.
pub fn section(page: &mut String, tl: &Timeline) {
    let mut ballots: BTreeMap<Ballot, Row> = BTreeMap::new();
    for r in &tl.records {
        let Some(e) = r.event_as::<PaxosEvent>() else { continue };
        match e {
            PaxosEvent::BallotStarted { ballot, value } => {
                ballots.entry(ballot).or_default().value.get_or_insert(value);
            }
            PaxosEvent::Proposed { ballot, value, adopted } => {
                let row = ballots.entry(ballot).or_default();
                row.value = Some(value);
                row.adopted = adopted;
            }
            PaxosEvent::Preempted { ballot, by } => ballots.entry(ballot).or_default().preempted = Some(by),
            PaxosEvent::Promised { ballot } => {
                ballots.entry(ballot).or_default().promised.insert(r.node);
            }
            PaxosEvent::Accepted { ballot, .. } => {
                ballots.entry(ballot).or_default().accepted.insert(r.node);
            }
            PaxosEvent::Learned { ballot, .. } => {
                ballots.entry(ballot).or_default().learned.insert(r.node);
            }
        }
    }
    if ballots.is_empty() {
        return;
    }
    page.push_str(r#"<section id="ballots"><h2>Ballots and promises</h2>"#);
    if ballots.len() > ROWS {
        let _ = write!(page, "<p class=\"muted\">The first {ROWS} of {} ballots.</p>", ballots.len());
    }
    page.push_str(r#"<table class="ballots"><thead><tr><th>ballot</th><th>proposer</th><th>value</th><th>promised by</th><th>accepted by</th><th>outcome</th></tr></thead><tbody>"#);
    for (ballot, row) in ballots.iter().take(ROWS) {
        let value = match (&row.value, row.adopted) {
            (Some(v), Some(from)) => format!("{v} (adopted from {from})"),
            (Some(v), None) => v.clone(),
            (None, _) => "—".into(),
        };
        let outcome = match (&row.preempted, row.learned.is_empty()) {
            (_, false) => format!("learned by {}", nodes(&row.learned)),
            (Some(Some(by)), true) => format!("preempted by {by}"),
            (Some(None), true) => "timed out".into(),
            (None, true) => "—".into(),
        };
        let class = if row.learned.is_empty() { "" } else { " class=\"held\"" };
        let _ = write!(
            page,
            "<tr{class}><td>{ballot}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ballot.proposer,
            esc(&value),
            nodes(&row.promised),
            nodes(&row.accepted),
            esc(&outcome)
        );
    }
    page.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::core::event::Event;
    use algorithms::trace::{Clocks, What};

    #[test]
    fn each_ballot_shows_its_promises_acceptances_and_fate() {
        let b = |round, proposer| Ballot { round, proposer };
        let mut clocks: BTreeMap<NodeId, Clocks> = (1..=3).map(|n| (n, Clocks::new(n))).collect();
        let mut records = Vec::new();
        let events = [
            (1, PaxosEvent::BallotStarted { ballot: b(1, 1), value: "v1".into() }),
            (2, PaxosEvent::Promised { ballot: b(1, 1) }),
            (1, PaxosEvent::Preempted { ballot: b(1, 1), by: Some(b(2, 2)) }),
            (2, PaxosEvent::BallotStarted { ballot: b(2, 2), value: "v2".into() }),
            (3, PaxosEvent::Promised { ballot: b(2, 2) }),
            (2, PaxosEvent::Promised { ballot: b(2, 2) }),
            (2, PaxosEvent::Accepted { ballot: b(2, 2), value: "v2".into() }),
            (3, PaxosEvent::Accepted { ballot: b(2, 2), value: "v2".into() }),
            (1, PaxosEvent::Learned { ballot: b(2, 2), value: "v2".into() }),
        ];
        for (i, (node, e)) in events.into_iter().enumerate() {
            let (name, data) = e.to_parts();
            records.push(clocks.get_mut(&node).unwrap().stamp(i as u64 * 1000, "x", What::Event { name, data }));
        }
        let mut page = String::new();
        section(&mut page, &Timeline::new(records, vec![]));
        assert!(
            page.contains(
                "<tr><td>(1, 1)</td><td>1</td><td>v1</td><td>2</td><td>—</td><td>preempted by (2, 2)</td></tr>"
            ),
            "{page}"
        );
        assert!(
            page.contains("<td>(2, 2)</td><td>2</td><td>v2</td><td>2, 3</td><td>2, 3</td><td>learned by 1</td>"),
            "{page}"
        );
    }
}

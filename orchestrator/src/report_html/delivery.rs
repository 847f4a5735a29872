//! The broadcast's section: the delivery order per member, one row per member and one column per
//! position of the total order, the message each member delivered there. A position where a member
//! delivered another message than the first member to deliver it is highlighted. Bounded: at most
//! [`COLUMNS`] positions are shown, from the first mismatch when there is one.

use crate::plots::esc;
use crate::timeline::Timeline;
use algorithms::broadcast::BroadcastEvent;
use algorithms::NodeId;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const COLUMNS: usize = 120;

/// Nothing when the run delivered no broadcast.
pub fn section(page: &mut String, tl: &Timeline) {
    let mut rows: BTreeMap<NodeId, BTreeMap<u64, String>> = BTreeMap::new();
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    for r in &tl.records {
        if let Some(BroadcastEvent::Delivered { seq, id, .. }) = r.event_as::<BroadcastEvent>() {
            rows.entry(r.node).or_default().insert(seq, id.to_string());
            first.entry(seq).or_insert_with(|| id.to_string());
        }
    }
    if rows.is_empty() {
        return;
    }
    let mismatch = |seq: u64, id: &str| first.get(&seq).is_some_and(|f| f != id);
    let first_mismatch =
        rows.values().flat_map(|row| row.iter()).filter(|(s, id)| mismatch(**s, id)).map(|(s, _)| *s).min();
    let positions: Vec<u64> = first.keys().copied().collect();
    let from = first_mismatch.map_or(0, |s| positions.partition_point(|p| *p < s).saturating_sub(3));
    let shown = &positions[from..positions.len().min(from + COLUMNS)];
    page.push_str(r#"<section id="delivery"><h2>Delivery order</h2>"#);
    let _ = write!(
        page,
        "<p class=\"muted\">Each member's deliveries by position of the total order ({} position(s){}); a cell that disagrees with the first member to deliver that position is marked.</p>",
        positions.len(),
        if shown.len() < positions.len() {
            format!(", positions {}–{} shown", shown[0], shown[shown.len() - 1])
        } else {
            String::new()
        }
    );
    page.push_str(r#"<div class="scroll"><table class="delivery"><thead><tr><th>member</th>"#);
    for seq in shown {
        let _ = write!(page, "<th>{seq}</th>");
    }
    page.push_str("</tr></thead><tbody>");
    for (node, row) in &rows {
        let _ = write!(page, "<tr><th>node {node}</th>");
        for seq in shown {
            match row.get(seq) {
                Some(id) if mismatch(*seq, id) => {
                    let _ = write!(
                        page,
                        "<td class=\"mismatch\" title=\"first delivered here: {}\">{}</td>",
                        esc(&first[seq]),
                        esc(id)
                    );
                }
                Some(id) => {
                    let _ = write!(page, "<td>{}</td>", esc(id));
                }
                None => page.push_str("<td class=\"muted\">·</td>"),
            }
        }
        page.push_str("</tr>");
    }
    page.push_str("</tbody></table></div></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::broadcast::event::MsgId;
    use algorithms::core::event::Event;
    use algorithms::trace::{Clocks, What};

    #[test]
    fn a_member_that_delivers_another_message_at_a_position_is_marked() {
        let mut clocks: BTreeMap<NodeId, Clocks> = (1..=2).map(|n| (n, Clocks::new(n))).collect();
        let mut records = Vec::new();
        for (node, seq, origin) in [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 2, 3)] {
            let (name, data) =
                BroadcastEvent::Delivered { seq, id: MsgId { origin, n: 1 }, payload: "p".into() }.to_parts();
            records.push(clocks.get_mut(&node).unwrap().stamp(seq * 1000, "x", What::Event { name, data }));
        }
        let mut page = String::new();
        section(&mut page, &Timeline::new(records, vec![]));
        assert!(page.contains("<th>node 1</th><td>1.1</td><td>2.1</td>"), "{page}");
        assert!(page.contains("<td class=\"mismatch\" title=\"first delivered here: 2.1\">3.1</td>"), "{page}");
        let mut empty = String::new();
        section(&mut empty, &Timeline::new(vec![], vec![]));
        assert!(empty.is_empty(), "no broadcast, no section");
    }
}

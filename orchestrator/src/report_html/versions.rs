//! The quorum registers' section: every get, the versions the R replicas it used replied with
//! (read from their `query_reply` messages), the version it returned, and the replicas it wrote
//! that version back to. Bounded: the first [`ROWS`] gets.

use crate::plots::esc;
use crate::timeline::Timeline;
use algorithms::replication::quorum::{QuorumEvent, QuorumMsg, Version};
use algorithms::trace::What;
use algorithms::NodeId;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const ROWS: usize = 100;

fn version(v: &Version) -> String {
    format!("({}, {})", v.n, v.writer)
}

/// Nothing when the run has no quorum gets.
pub fn section(page: &mut String, tl: &Timeline) {
    // The last version each replica replied to each coordinator operation with.
    let mut replies: BTreeMap<(NodeId, u64, NodeId), Version> = BTreeMap::new();
    for r in &tl.records {
        if let What::Send { to, msg_type, msg } = &r.what {
            if msg_type == "query_reply" {
                if let Ok(QuorumMsg::QueryReply { op, register, .. }) = msg.decode().ok_or(()) {
                    replies.insert((*to, op, r.node), register.version);
                }
            }
        }
    }
    let gets: Vec<(NodeId, QuorumEvent)> = tl
        .records
        .iter()
        .filter_map(|r| r.event_as::<QuorumEvent>().map(|e| (r.node, e)))
        .filter(|(_, e)| matches!(e, QuorumEvent::Done { f, .. } if f == "get"))
        .collect();
    if gets.is_empty() {
        return;
    }
    page.push_str(r#"<section id="versions"><h2>Versions read</h2>"#);
    if gets.len() > ROWS {
        let _ = write!(page, "<p class=\"muted\">The first {ROWS} of {} gets.</p>", gets.len());
    }
    page.push_str(r#"<table class="versions"><thead><tr><th>coordinator</th><th>op</th><th>key</th><th>replies (replica: version)</th><th>returned</th><th>written back to</th></tr></thead><tbody>"#);
    for (node, e) in gets.iter().take(ROWS) {
        let QuorumEvent::Done { op, key, version: returned, queried, stored, .. } = e else { continue };
        let shown: Vec<String> = queried
            .iter()
            .map(|q| match replies.get(&(*node, *op, *q)) {
                Some(v) if v == returned => format!("{q}: {}", version(v)),
                Some(v) => format!("{q}: {} (older)", version(v)),
                None => format!("{q}: ?"),
            })
            .collect();
        let back = if stored.is_empty() {
            "—".to_string()
        } else {
            stored.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
        };
        let _ = write!(
            page,
            "<tr><td>{node}</td><td>{op}</td><td>{}</td><td>{}</td><td>{}</td><td>{back}</td></tr>",
            esc(key),
            esc(&shown.join("; ")),
            version(returned)
        );
    }
    page.push_str("</tbody></table></section>\n");
}

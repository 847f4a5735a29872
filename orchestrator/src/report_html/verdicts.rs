//! The verdicts section: one row per property, with links from its evidence to the diagram, and
//! the problems around the run.

use super::page::verdict_class;
use crate::plots::esc;
use crate::report::{verdict_word, Summary};
use crate::shiviz::describe;
use crate::timeline::Timeline;
use algorithms::{NodeId, Verdict};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Writes the section; `by_event` finds a record of the timeline by `(node, lc)`.
pub fn section(
    page: &mut String,
    s: &Summary,
    tl: &Timeline,
    by_event: &HashMap<(NodeId, u64), usize>,
    ms: &dyn Fn(u64) -> f64,
) {
    page.push_str(r#"<section id="verdicts"><h2>Verdicts</h2><table class="verdicts"><thead><tr><th>property</th><th>verdict</th><th>what the checker found</th></tr></thead><tbody>"#);
    for p in &s.properties {
        let _ = write!(
            page,
            r#"<tr class="{}"><td><code>{}</code></td><td><span class="pill {}">{}</span></td><td>{}"#,
            verdict_class(p.verdict),
            esc(&p.name),
            verdict_class(p.verdict),
            verdict_word(p.verdict),
            esc(&p.detail)
        );
        if !p.evidence.is_empty() {
            let label = if p.verdict == Verdict::Violated { "the events that show it" } else { "witnesses" };
            let _ = write!(page, r#"<div class="evidence"><span class="muted">{label}:</span><ul>"#);
            for e in &p.evidence {
                let what = by_event.get(&(e.node, e.lc)).map(|i| {
                    let r = &tl.records[*i];
                    format!("{:.3} s · {}", ms(r.t) / 1000.0, describe(r))
                });
                let _ = write!(
                    page,
                    r##"<li><a class="evidence-link" href="#ev-{0}-{1}" data-node="{0}" data-lc="{1}">node {0}, lc {1}</a> {2}</li>"##,
                    e.node,
                    e.lc,
                    esc(&what.unwrap_or_else(|| "(not in the traces)".into()))
                );
            }
            page.push_str("</ul></div>");
        }
        page.push_str("</td></tr>");
    }
    page.push_str("</tbody></table>");
    if !s.problems.is_empty() {
        page.push_str(r#"<div class="problems"><h3>Problems around the run</h3><ul>"#);
        for p in &s.problems {
            let _ = write!(page, "<li>{}</li>", esc(p));
        }
        page.push_str("</ul></div>");
    }
    page.push_str("</section>\n");
}

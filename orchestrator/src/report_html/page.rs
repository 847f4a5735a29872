//! The page itself: its head, header and footer, the sections in order, and the diagram's data
//! for the page's script. Each section is its own module.

use super::diagram::{self, types_by_count, PALETTE};
use super::{ballots, delivery, faults, history, messages, metrics, plots, slots, spans, verdicts, versions};
use crate::plots::esc;
use crate::report::{verdict_word, Summary};
use crate::timeline::Timeline;
use algorithms::{NodeId, Verdict};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The run's time axis: `run_start` to `run_end` when the orchestrator logged them.
fn axis(tl: &Timeline) -> (u64, u64) {
    use algorithms::faults::AppliedFault;
    let first = tl.records.iter().map(|r| r.t).min().unwrap_or(0);
    let last = tl.records.iter().map(|r| r.t).max().unwrap_or(0);
    let start =
        tl.faults.iter().find_map(|f| matches!(f.fault, AppliedFault::RunStart { .. }).then_some(f.t)).unwrap_or(first);
    let end = tl.faults.iter().find_map(|f| matches!(f.fault, AppliedFault::RunEnd).then_some(f.t)).unwrap_or(last);
    (start, end.max(last).max(start))
}

/// The page, and how many events its diagram draws.
pub fn render(summary: &Summary, nodes: &[NodeId], tl: &Timeline, max_events: usize) -> (String, usize) {
    let (start, end) = axis(tl);
    let ms = move |t: u64| (t as f64 - start as f64) / 1e6;
    let end_ms = ms(end);
    let (fault_spans, marks) = spans::spans(&tl.faults, end_ms, ms);
    let by_event: HashMap<(NodeId, u64), usize> =
        tl.records.iter().enumerate().map(|(i, r)| ((r.node, r.lc), i)).collect();
    let evidence: Vec<_> =
        summary.properties.iter().flat_map(|p| p.evidence.iter().map(|e| (e.clone(), p.name.clone()))).collect();
    let must: HashSet<(NodeId, u64)> = evidence.iter().map(|(e, _)| (e.node, e.lc)).collect();
    let anchor = summary
        .properties
        .iter()
        .find(|p| p.verdict == Verdict::Violated && !p.evidence.is_empty())
        .map(|p| (p.evidence[0].node, p.evidence[0].lc));
    let (keep, trim) = diagram::select(tl, &must, anchor, max_events, start);
    let data = diagram::data(tl, nodes, &ms, end_ms, &keep, trim.clone(), (fault_spans.clone(), marks), evidence);
    let drawn = data.ev.len();
    let types = types_by_count(tl);
    let colour_of: BTreeMap<&str, &str> =
        types.iter().enumerate().map(|(i, (t, _))| (t.as_str(), PALETTE[i % PALETTE.len()])).collect();

    let mut page = String::with_capacity(64 * 1024 + drawn * 120);
    let title = format!("{} · {} · {}", summary.name, summary.algorithm, verdict_word(summary.verdict));
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>{CSS}</style>
<script>
window.__reportErrors = [];
window.addEventListener('error', function (e) {{
  window.__reportErrors.push(String(e.message) + ' (' + (e.filename || 'page') + ':' + e.lineno + ')');
  var s = document.getElementById('report-status');
  if (s) {{ s.setAttribute('data-errors', String(window.__reportErrors.length)); s.textContent = 'Script error: ' + window.__reportErrors.join('; '); s.hidden = false; }}
}});
</script>
</head><body>
"#,
        esc(&title)
    );
    header(&mut page, summary);
    page += r#"<div id="report-status" class="status-box" data-status="loading" data-errors="0" hidden></div>"#;
    page += "\n<main>\n";
    verdicts::section(&mut page, summary, tl, &by_event, &ms);
    page += &history::section_for_run(&summary.run_dir).unwrap_or_default();
    slots::section(&mut page, tl, summary.nodes, &ms);
    diagram::section(&mut page, tl, &types, &colour_of, trim.as_ref());
    plots::section(&mut page, tl, &types, &colour_of, &fault_spans, &ms, end_ms);
    messages::section(&mut page, summary, tl, &types, &colour_of);
    // The families' own views, each empty for a run without its events.
    delivery::section(&mut page, tl);
    ballots::section(&mut page, tl);
    versions::section(&mut page, tl);
    metrics::section(&mut page, summary);
    faults::section(&mut page, tl, &ms);
    page += "</main>\n";
    let _ = writeln!(
        page,
        r#"<footer>Every event of the run, in one order: <code>timeline.jsonl</code>; the node traces: <code>node-&lt;id&gt;.jsonl</code>; the verdicts as data: <code>summary.json</code>. For ShiViz: <code>orchestrator export --shiviz {} &gt; run.log</code>. Made by clusterlab {}.</footer>"#,
        esc(&summary.run_dir.display().to_string()),
        env!("CARGO_PKG_VERSION")
    );
    // '<' inside the JSON only occurs in strings, where \u003c means the same: no "</script>".
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    let _ = write!(
        page,
        "<div id=\"tip\" role=\"tooltip\" hidden></div>\n<script type=\"application/json\" id=\"diagram-data\">{json}</script>\n<script>\n{SCRIPT}\n</script>\n</body></html>\n"
    );
    (page, drawn)
}

pub(super) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Held => "held",
        Verdict::Violated => "violated",
        Verdict::Unknown => "unknown",
        Verdict::NotPromised => "not-promised",
    }
}

fn header(page: &mut String, s: &Summary) {
    let mode = match s.mode.as_str() {
        "sim" => "simulated",
        "real" => "real processes",
        _ => "run mode unknown (no run.json)",
    };
    let _ = write!(
        page,
        r##"<header><div class="title"><h1>{} <span class="muted">· {}</span></h1>
<p class="facts">{} nodes · seed {} · {:.1} s · {mode}{} · <code>{}</code></p></div>
<div class="badge {}">{}</div></header>
<nav><a href="#verdicts">Verdicts</a><a href="#diagram-section">Diagram</a><a href="#plots">Plots</a><a href="#messages">Messages</a><a href="#metrics">Metrics</a><a href="#faults">Faults</a></nav>
"##,
        esc(&s.name),
        esc(&s.algorithm),
        s.nodes,
        s.seed,
        s.duration_ms / 1000.0,
        if s.interrupted { " · <strong>interrupted</strong>" } else { "" },
        esc(&s.run_dir.display().to_string()),
        verdict_class(s.verdict),
        verdict_word(s.verdict).to_uppercase(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::check::{EventRef, MessageCounts, PropertyResult};
    use algorithms::faults::{AppliedFault, FaultRecord};
    use algorithms::trace::Clocks;
    use algorithms::trace::{ShownMsg, What};
    use serde_json::json;
    use serde_json::Value;
    use std::path::PathBuf;

    fn summary(properties: Vec<PropertyResult>, metrics: BTreeMap<String, Value>) -> Summary {
        Summary {
            name: "t".into(),
            algorithm: "bully".into(),
            mode: "sim".into(),
            nodes: 2,
            seed: 1,
            duration_ms: 1.0,
            verdict: Verdict::Violated,
            properties,
            messages: MessageCounts::default(),
            metrics,
            faults: vec![],
            interrupted: false,
            problems: vec!["node 2 exited <unexpectedly>".into()],
            run_dir: PathBuf::from("/tmp/run"),
        }
    }

    #[test]
    fn the_page_escapes_what_nodes_wrote_and_links_evidence_to_the_diagram() {
        let (mut a, mut b) = (Clocks::new(1), Clocks::new(2));
        let body = json!("</script><script>alert(1)</script>");
        let s = a.stamp(1_000_000, "x", What::Send { to: 2, msg_type: "evil<b>".into(), msg: ShownMsg::of(&body) });
        let r = b.stamp_receive(
            2_000_000,
            "x",
            s.lc,
            &s.vc,
            What::Recv { from: 1, msg_type: "evil<b>".into(), msg_lc: s.lc },
        );
        let leader = b.stamp(3_000_000, "x", What::Event { name: "leader".into(), data: json!({"leader": 2}) });
        let lost = a.stamp(4_000_000, "x", What::Send { to: 2, msg_type: "evil<b>".into(), msg: ShownMsg::null() });
        let faults = vec![
            FaultRecord { t: 0, fault: AppliedFault::RunStart { nodes: vec![1, 2] } },
            FaultRecord { t: 3_500_000, fault: AppliedFault::Kill { node: 2, was_leader: true } },
            FaultRecord { t: 5_000_000, fault: AppliedFault::RunEnd },
        ];
        let tl = Timeline::new(vec![s, r, leader.clone(), lost], faults);
        let violated = PropertyResult::violated("agreement", "views 1→none, 2→2", vec![EventRef::of(&leader)]);
        let (page, drawn) = render(&summary(vec![violated], BTreeMap::new()), &[1, 2], &tl, 100);
        assert_eq!(drawn, 4);
        assert!(!page.contains("</script><script>alert"), "a message body cannot end the page's script");
        assert!(!page.contains("evil<b>"), "nor add markup");
        assert!(page.contains("&lt;unexpectedly&gt;"));
        assert!(page.contains(r##"href="#ev-2-3" data-node="2" data-lc="3""##), "evidence links to its event");
        assert!(page.contains("0.003 s · leader {&quot;leader&quot;:2} [lc 3]"), "and says what it is");
        assert!(page.contains(r#""evidence":[[2,3,"agreement"]]"#));
        // One delivered message, one not delivered (its addressee was killed).
        assert!(page.contains(r#""msgs":[[0,1,0,2],[3,-1,0,2]]"#), "{}", &page[page.find("\"msgs\"").unwrap()..][..80]);
        assert!(page.contains(r#""kind":"down","lanes":[2]"#));
    }
}

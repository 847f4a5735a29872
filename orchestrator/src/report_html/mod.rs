//! `report.html`: one self-contained page per run that shows what happened.
//!
//! People would rather look than read. The page puts the verdicts first (with links from a
//! violation's evidence to its place in the diagram), then a space-time diagram of the run (one
//! lane per node, messages as arrows, algorithm events marked, faults shaded over the lanes and
//! links they hit), plots of message rates and election or critical-section latency, and the
//! message table beside the textbook's figures. Everything is inline (CSS, script, SVG, data):
//! the page opens from a mail attachment or an air-gapped lab machine, and a report is
//! byte-identical for a byte-identical run (no dates in it).
//!
//! The diagram is drawn in the browser from compact JSON (so the page can zoom, switch between a
//! real-time and an event-order axis, and filter message types without a round trip), while the
//! plots are SVG made here. The page's script reports itself in `#report-status`
//! (`data-status="rendered"`, the number of lanes and arrows drawn, and any script error), which
//! is what the headless-browser test reads.

mod diagram;
pub mod history;
mod spans;

use crate::plots::{esc, Band, Chart, Series, Style};
use crate::report::{short_metric, verdict_word, Summary};
use crate::shiviz::describe;
use crate::timeline::Timeline;
use algorithms::trace::What;
use algorithms::{NodeId, Verdict};
use anyhow::{Context, Result};
use diagram::{thousands, types_by_count, PALETTE};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How many events the diagram draws at most (see `diagram` for which ones it keeps).
pub const DEFAULT_MAX_EVENTS: usize = 6000;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What was written, for the user and the tests.
pub struct Written {
    pub report: PathBuf,
    pub timeline: PathBuf,
    pub bytes: usize,
    pub drawn: usize,
    pub total: usize,
}

/// Writes `timeline.jsonl`, `history.jsonl` (when the traces have client operations) and
/// `report.html` in the run directory from the run's traces (those the summary was judged
/// from: nothing is read twice).
pub fn write_run_files(summary: &Summary, run: algorithms::Execution, max_events: usize) -> Result<Written> {
    let ids: Vec<NodeId> = (1..=summary.nodes as NodeId).collect();
    // The clients' history (if the traces have one), before the page that shows it.
    crate::history::write_run_history(&run, &summary.run_dir);
    let tl = Timeline::new(run.records, run.faults);
    let timeline = summary.run_dir.join("timeline.jsonl");
    tl.write_jsonl(&timeline)?;
    let (html, drawn) = render(summary, &ids, &tl, max_events);
    let report = summary.run_dir.join("report.html");
    std::fs::write(&report, &html).with_context(|| format!("writing {}", report.display()))?;
    Ok(Written { report, timeline, bytes: html.len(), drawn, total: tl.records.len() })
}

/// Writes the run's files and returns the report's path; a failure is a note, never fatal,
/// because the verdict and `summary.json` matter more than the page.
pub fn write_or_warn(summary: &Summary, run: algorithms::Execution) -> Option<PathBuf> {
    match write_run_files(summary, run, DEFAULT_MAX_EVENTS) {
        Ok(w) => Some(w.report),
        Err(e) => {
            eprintln!("warning: no report for {}: {e:#}", summary.run_dir.display());
            None
        }
    }
}

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
    verdicts(&mut page, summary, tl, &by_event, &ms);
    page += &history::section_for_run(&summary.run_dir).unwrap_or_default();
    diagram_section(&mut page, tl, &types, &colour_of, trim.as_ref());
    plots_section(&mut page, tl, &types, &colour_of, &fault_spans, &ms, end_ms);
    messages_section(&mut page, summary, tl, &types, &colour_of);
    metrics_section(&mut page, summary);
    faults_section(&mut page, tl, &ms);
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

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Held => "held",
        Verdict::Violated => "violated",
        Verdict::Unknown => "unknown",
        Verdict::NotPromised => "not-promised",
    }
}

fn header(page: &mut String, s: &Summary) {
    let mode = if s.mode == "sim" { "simulated" } else { "real processes" };
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

fn verdicts(
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

fn diagram_section(
    page: &mut String,
    tl: &Timeline,
    types: &[(String, usize)],
    colour_of: &BTreeMap<&str, &str>,
    trim: Option<&diagram::Trim>,
) {
    page.push_str(
        r#"<section id="diagram-section"><h2>Space-time diagram</h2>
<p class="hint">One lane per node, time to the right. An arrow is a message from its send to its receive; hover over anything for details (a message shows its body). Ctrl + wheel (or the buttons) zooms; “event order” spaces events evenly while keeping every arrow pointing forward.</p>
"#,
    );
    if let Some(trim) = trim {
        let _ = write!(
            page,
            r#"<div class="trim" id="diagram-trim"><strong>This diagram draws {} of the run's {} events.</strong> Left out:<ul>"#,
            thousands(trim.drawn),
            thousands(trim.total)
        );
        for line in &trim.left_out {
            let _ = write!(page, "<li>{}</li>", esc(line));
        }
        page.push_str("</ul>Every event is in <code>timeline.jsonl</code>; the counts, tables and plots on this page use all of them. <code>orchestrator report --max-events N</code> draws more.</div>\n");
    }
    page.push_str(r#"<div class="controls"><span class="group"><button type="button" data-zoom="out" title="zoom out">−</button><button type="button" data-zoom="in" title="zoom in">+</button><button type="button" data-zoom="fit">fit</button></span>"#);
    page.push_str(r#"<span class="group"><label><input type="radio" name="axis" value="time" checked> real time</label><label><input type="radio" name="axis" value="order"> event order</label></span>"#);
    let timers = tl.records.iter().filter(|r| matches!(r.what, What::Timer { .. })).count();
    let _ = write!(
        page,
        r#"<span class="group"><label><input type="checkbox" id="show-timers" checked> timers ({})</label><label><input type="checkbox" id="show-labels" checked> event names</label></span>"#,
        thousands(timers)
    );
    page.push_str(r#"<span class="group types">"#);
    for (i, (t, n)) in types.iter().enumerate() {
        let _ = write!(
            page,
            r#"<label class="type"><input type="checkbox" data-type="{i}" checked><span class="swatch" style="background:{}"></span>{} <span class="muted">({})</span></label>"#,
            colour_of[t.as_str()],
            esc(t),
            thousands(*n)
        );
    }
    page.push_str("</span></div>\n");
    page.push_str(LEGEND);
    page.push_str(
        r#"<div class="diagram-wrap"><div id="lane-labels"></div><div id="diagram-scroll"><svg id="diagram" xmlns="http://www.w3.org/2000/svg"></svg></div></div>
</section>
"#,
    );
}

/// The symbols of the diagram, drawn the way the script draws them.
const LEGEND: &str = r##"<div class="legend">
<span><svg width="34" height="14"><line x1="2" y1="12" x2="30" y2="3" stroke="#555" stroke-width="1.4"/><path d="M30,3 l-7,0 l4,5 z" fill="#555"/></svg>message delivered</span>
<span><svg width="34" height="14"><line x1="2" y1="12" x2="22" y2="5" stroke="#555" stroke-dasharray="3 2"/><path d="M19,2 l6,6 M25,2 l-6,6" stroke="#d62728" stroke-width="2"/></svg>not delivered</span>
<span><svg width="14" height="14"><path d="M7,1 L13,7 L7,13 L1,7 Z" fill="#d4a017" stroke="#333" stroke-width=".6"/></svg>algorithm event</span>
<span><svg width="14" height="14"><path d="M2,1 L13,7 L2,13 Z" fill="#2e7d32"/></svg>start</span>
<span><svg width="14" height="14"><rect x="2" y="2" width="10" height="10" fill="#333"/></svg>stop</span>
<span><svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="#7b1fa2"/></svg>command</span>
<span><svg width="14" height="14"><line x1="7" y1="2" x2="7" y2="12" stroke="#999" stroke-width="1.5"/></svg>timer</span>
<span><svg width="30" height="14"><rect x="1" y="3" width="28" height="8" rx="2" fill="rgba(46,160,67,.45)"/></svg>critical section</span>
<span><svg width="16" height="16"><circle cx="8" cy="8" r="6" fill="none" stroke="#d62728" stroke-width="2"/></svg>evidence</span>
<span class="sw span-down">killed / exited</span><span class="sw span-paused">paused</span><span class="sw span-partition">partition</span><span class="sw span-link">link fault</span><span class="sw span-drift">clock drift</span>
</div>
"##;

/// Bucket width for the message-rate plot: a round number of ms giving at most ~120 buckets.
fn bucket_ms(span_ms: f64) -> f64 {
    let steps =
        [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0];
    steps.iter().copied().find(|s| span_ms / s <= 120.0).unwrap_or(60000.0)
}

fn bands(fault_spans: &[spans::Span]) -> Vec<Band> {
    fault_spans
        .iter()
        .map(|s| Band {
            x0: s.t0 / 1000.0,
            x1: s.t1 / 1000.0,
            colour: spans::colour(s.kind).into(),
            label: format!("{:.3}–{:.3} s: {}", s.t0 / 1000.0, s.t1 / 1000.0, s.detail),
            legend: spans::legend(s.kind).into(),
        })
        .collect()
}

fn plots_section(
    page: &mut String,
    tl: &Timeline,
    types: &[(String, usize)],
    colour_of: &BTreeMap<&str, &str>,
    fault_spans: &[spans::Span],
    ms: &dyn Fn(u64) -> f64,
    end_ms: f64,
) {
    page.push_str(r#"<section id="plots"><h2>Plots</h2>"#);
    let bucket = bucket_ms(end_ms);
    let buckets = ((end_ms / bucket).ceil() as usize).max(1);
    let mut series = Vec::new();
    for (t, _) in types.iter().take(PALETTE.len()) {
        let mut counts = vec![0u64; buckets];
        for r in &tl.records {
            if matches!(&r.what, What::Send { msg_type, .. } if msg_type == t) {
                let b = (ms(r.t).max(0.0) / bucket) as usize;
                counts[b.min(buckets - 1)] += 1;
            }
        }
        let points = counts
            .iter()
            .enumerate()
            .map(|(i, c)| ((i as f64 + 0.5) * bucket / 1000.0, *c as f64 / (bucket / 1000.0)))
            .collect();
        series.push(Series {
            name: t.clone(),
            colour: colour_of[t.as_str()].into(),
            style: Style::Line,
            points,
            tips: vec![],
        });
    }
    if series.is_empty() {
        page.push_str("<p class=\"muted\">No messages were sent.</p>");
    } else {
        let chart = Chart {
            title: format!("Messages sent per second, by type ({} ms buckets)", bucket),
            x_label: "time since the run started (s)".into(),
            y_label: "messages / s".into(),
            x_max: end_ms / 1000.0,
            bands: bands(fault_spans),
            series,
        };
        let _ = write!(page, r#"<figure>{}</figure>"#, chart.svg());
    }
    for chart in latency_charts(tl, ms, end_ms, fault_spans) {
        let _ = write!(page, r#"<figure>{}</figure>"#, chart.svg());
    }
    page.push_str("</section>\n");
}

/// Election durations (first `election_started` → next `elected`) and critical-section waits
/// (`request` → `enter_cs` of the same node and resource), over the run's time.
fn latency_charts(tl: &Timeline, ms: &dyn Fn(u64) -> f64, end_ms: f64, fault_spans: &[spans::Span]) -> Vec<Chart> {
    let mut elections: Vec<(f64, f64, String)> = Vec::new();
    let mut open: Option<(f64, NodeId)> = None;
    let mut waits: Vec<(f64, f64, String)> = Vec::new();
    let mut requests: BTreeMap<(NodeId, String), f64> = BTreeMap::new();
    for i in tl.record_order() {
        let r = &tl.records[i];
        let What::Event { name, data } = &r.what else { continue };
        let t = ms(r.t);
        let resource =
            || data.get("resource").map_or(String::new(), |v| v.as_str().map_or(v.to_string(), String::from));
        match name.as_str() {
            "election_started" if open.is_none() => open = Some((t, r.node)),
            "elected" => {
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
            "request" => {
                requests.insert((r.node, resource()), t);
            }
            "enter_cs" => {
                if let Some(t0) = requests.remove(&(r.node, resource())) {
                    let tip = format!(
                        "node {} asked for {:?} at {:.3} s, entered {:.1} ms later",
                        r.node,
                        resource(),
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
            bands: bands(fault_spans),
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

fn messages_section(
    page: &mut String,
    s: &Summary,
    tl: &Timeline,
    types: &[(String, usize)],
    colour_of: &BTreeMap<&str, &str>,
) {
    page.push_str(r#"<section id="messages"><h2>Messages</h2><table class="numbers"><thead><tr><th>type</th><th>sent</th><th>delivered</th><th>not delivered</th><th>extra copies</th><th>share of all sent</th></tr></thead><tbody>"#);
    let mut rows: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for (i, r) in tl.records.iter().enumerate() {
        if let What::Send { msg_type, .. } = &r.what {
            let row = rows.entry(msg_type.as_str()).or_default();
            let recvs = tl.recvs_of.get(&i).map_or(0, Vec::len);
            row[0] += usize::from(recvs > 0);
            row[1] += usize::from(recvs == 0);
            row[2] += recvs.saturating_sub(1);
        }
    }
    let total: usize = types.iter().map(|(_, n)| n).sum();
    let mut sums = [0usize; 3];
    for (t, n) in types {
        let row = rows.get(t.as_str()).copied().unwrap_or_default();
        (0..3).for_each(|k| sums[k] += row[k]);
        let _ = write!(
            page,
            r#"<tr><td><span class="swatch" style="background:{}"></span>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} %</td></tr>"#,
            colour_of[t.as_str()],
            esc(t),
            thousands(*n),
            thousands(row[0]),
            thousands(row[1]),
            thousands(row[2]),
            100.0 * *n as f64 / total.max(1) as f64
        );
    }
    let _ = write!(
        page,
        r#"<tr class="total"><td>all</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td></tr></tbody></table>"#,
        thousands(total),
        thousands(sums[0]),
        thousands(sums[1]),
        thousands(sums[2])
    );
    page.push_str(r#"<p class="hint">Not delivered: no receive in the traces — dropped by a fault, sent to a node that was down, or still in flight when the run ended. Extra copies: receives beyond the first (duplicated by a link fault).</p>"#);
    let ops = per_operation(&s.metrics);
    if !ops.is_empty() {
        page.push_str(r#"<h3>Per operation, beside the textbook</h3><table class="numbers ops"><thead><tr><th>operation</th><th>measured</th><th>textbook</th><th>by type, per operation</th></tr></thead><tbody>"#);
        for (op, measured, textbook, by_type) in ops {
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&op),
                esc(&measured),
                esc(&textbook),
                esc(&by_type)
            );
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("</section>\n");
}

/// Rows of the per-operation table from the `messages_per_<operation>` metrics, whatever shape
/// each checker gives them: a statistics object or a plain figure as `measured`, and the
/// textbook's figure as `textbook` (text or number) and/or `textbook_<name>` numbers.
pub fn per_operation(metrics: &BTreeMap<String, Value>) -> Vec<(String, String, String, String)> {
    let mut rows = Vec::new();
    for (name, value) in metrics {
        let Some(op) = name.strip_prefix("messages_per_") else { continue };
        let Some(map) = value.as_object() else {
            rows.push((op.to_string(), short_metric(value), String::new(), String::new()));
            continue;
        };
        let measured = match map.get("measured") {
            Some(Value::Object(stats)) if stats.contains_key("count") => {
                let get = |k: &str| stats.get(k).map_or("-".into(), |v| v.to_string());
                format!("mean {} · p50 {} · max {} (over {})", get("mean"), get("p50"), get("max"), get("count"))
            }
            Some(v) => {
                let mut text = short_metric(v);
                if let (Some(m), Some(e)) = (map.get("messages"), map.get("entries")) {
                    text += &format!(" ({m} messages for {e} entries)");
                }
                text
            }
            None => String::new(),
        };
        let mut textbook = Vec::new();
        match map.get("textbook") {
            Some(Value::String(t)) => textbook.push(t.clone()),
            Some(Value::Null) | None => {}
            Some(v) => textbook.push(short_metric(v)),
        }
        for (k, v) in map {
            if let Some(rest) = k.strip_prefix("textbook_") {
                if (rest != "value" || textbook.is_empty()) && !v.is_null() {
                    textbook.push(format!("{} {}", rest.replace('_', " "), short_metric(v)));
                }
            }
        }
        let by_type: Vec<String> = match map.get("by_type") {
            Some(Value::Object(types)) => types
                .iter()
                .map(|(t, v)| match v.get("mean") {
                    Some(mean) => format!("{t} {mean}"),
                    None => format!("{t} {}", short_metric(v)),
                })
                .collect(),
            _ => map
                .get("counted_types")
                .and_then(Value::as_array)
                .map(|ts| {
                    vec![format!("counts {}", ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))]
                })
                .unwrap_or_default(),
        };
        rows.push((op.replace('_', " "), measured, textbook.join(" · "), by_type.join(" · ")));
    }
    rows
}

fn metrics_section(page: &mut String, s: &Summary) {
    page.push_str(r#"<section id="metrics"><h2>Metrics</h2><table class="metrics"><tbody>"#);
    for (name, value) in &s.metrics {
        let _ = write!(page, "<tr><td><code>{}</code></td><td>{}</td></tr>", esc(name), esc(&short_metric(value)));
    }
    page.push_str("</tbody></table></section>\n");
}

fn faults_section(page: &mut String, tl: &Timeline, ms: &dyn Fn(u64) -> f64) {
    page.push_str(r#"<section id="faults"><h2>Faults</h2>"#);
    let applied: Vec<_> = tl
        .faults
        .iter()
        .filter(|f| {
            !matches!(
                f.fault,
                algorithms::faults::AppliedFault::RunStart { .. } | algorithms::faults::AppliedFault::RunEnd
            )
        })
        .collect();
    if applied.is_empty() {
        page.push_str("<p class=\"muted\">No faults were applied in this run.</p>");
    } else {
        page.push_str(r#"<table class="faults"><thead><tr><th>at</th><th>what</th></tr></thead><tbody>"#);
        for f in applied {
            let _ = write!(page, "<tr><td>{:.3} s</td><td>{}</td></tr>", ms(f.t) / 1000.0, esc(&f.fault.describe()));
        }
        page.push_str("</tbody></table>");
    }
    page.push_str("</section>\n");
}

/// A run that already happened, read back from its directory.
pub struct Loaded {
    pub summary: Summary,
    pub run: algorithms::Execution,
    /// The summary was missing and the traces were judged again.
    pub judged: bool,
    /// Trace lines that did not parse.
    pub problems: Vec<String>,
}

/// `orchestrator report|export RUN_DIR`: the traces, and the summary from `summary.json` or, when
/// the run never got that far (e.g. the orchestrator was killed), judged again from
/// `experiment.toml` and the traces.
pub fn load_run(run_dir: &Path) -> Result<Loaded> {
    let path = run_dir.join("summary.json");
    let saved = match std::fs::read_to_string(&path) {
        Ok(text) => {
            Some(serde_json::from_str::<Summary>(&text).with_context(|| format!("reading {}", path.display()))?)
        }
        Err(_) => None,
    };
    let exp_path = run_dir.join("experiment.toml");
    let exp: Option<crate::experiment::Experiment> = match std::fs::read_to_string(&exp_path) {
        Ok(text) => Some(toml::from_str(&text).with_context(|| format!("reading {}", exp_path.display()))?),
        Err(_) => None,
    };
    let (name, nodes, params) = match (&saved, &exp) {
        (_, Some(exp)) => (exp.algorithm.clone(), exp.nodes, exp.params.clone()),
        (Some(s), None) => (s.algorithm.clone(), s.nodes, Value::Null),
        (None, None) => anyhow::bail!("{} has neither summary.json nor experiment.toml", run_dir.display()),
    };
    let algorithm = algorithms::find(&name).map_err(anyhow::Error::msg)?;
    let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
    // A service's client nodes leave traces too (the history); the run's nodes are the servers.
    let traced = exp.as_ref().map_or(ids.clone(), |exp| exp.all_ids());
    let (records, faults, problems) = crate::report::load_traces(run_dir, &traced)?;
    let run = algorithms::Execution::new(algorithm.name(), ids, params, records, faults);
    let (summary, judged) = match (saved, exp) {
        (Some(mut summary), _) => {
            summary.run_dir = run_dir.to_path_buf();
            // Traces damaged since the summary was written (or never read by it) are problems too.
            let fresh: Vec<String> = problems.iter().filter(|p| !summary.problems.contains(p)).cloned().collect();
            summary.problems.extend(fresh);
            summary.verdict = crate::report::at_best_unknown_with(summary.verdict, &summary.problems);
            (summary, false)
        }
        (None, Some(exp)) => {
            let mode = crate::run_dir::RunInfo::read(run_dir)?.summary_mode();
            let problems = problems.clone();
            (crate::report::judge(algorithm, &exp.name, mode, exp.seed, &run, false, problems, run_dir), true)
        }
        (None, None) => unreachable!("checked above"),
    };
    Ok(Loaded { summary, run, judged, problems })
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::check::{EventRef, MessageCounts, PropertyResult};
    use algorithms::faults::{AppliedFault, FaultRecord};
    use algorithms::trace::Clocks;
    use serde_json::json;

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
        let s = a.stamp(1_000_000, "x", What::Send { to: 2, msg_type: "evil<b>".into(), msg: body });
        let r = b.stamp_receive(
            2_000_000,
            "x",
            s.lc,
            &s.vc,
            What::Recv { from: 1, msg_type: "evil<b>".into(), msg_lc: s.lc },
        );
        let leader = b.stamp(3_000_000, "x", What::Event { name: "leader".into(), data: json!({"leader": 2}) });
        let lost = a.stamp(4_000_000, "x", What::Send { to: 2, msg_type: "evil<b>".into(), msg: Value::Null });
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

    #[test]
    fn per_operation_rows_read_every_checker_shape() {
        let metrics = BTreeMap::from([
            (
                "messages_per_election".to_string(),
                json!({"measured": {"count": 3, "mean": 17.3, "p50": 20.0, "max": 28.0},
                       "textbook_best": 3, "textbook_worst": 24, "counted_types": ["election", "answer"]}),
            ),
            (
                "messages_per_entry".to_string(),
                json!({"measured": 8.0, "messages": 800, "entries": 100, "textbook": "2(N−1) = 8",
                       "textbook_value": 8.0, "by_type": {"reply": 4.0, "request": 4.0}}),
            ),
            ("election_ms".to_string(), json!({"count": 0})),
        ]);
        let rows = per_operation(&metrics);
        assert_eq!(
            rows,
            vec![
                (
                    "election".to_string(),
                    "mean 17.3 · p50 20.0 · max 28.0 (over 3)".to_string(),
                    "best 3 · worst 24".to_string(),
                    "counts election, answer".to_string()
                ),
                (
                    "entry".to_string(),
                    "8.0 (800 messages for 100 entries)".to_string(),
                    "2(N−1) = 8".to_string(),
                    "reply 4.0 · request 4.0".to_string()
                ),
            ]
        );
    }
}

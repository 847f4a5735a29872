//! The history view: one row per client, each operation a bar from its invocation to its
//! completion, the operation that cannot be placed in red and those concurrent with it
//! outlined. It is a section of `report.html` when the run directory has a `history.jsonl`,
//! and the whole of the page `orchestrator history check FILE --html PAGE` writes.
//!
//! Plain SVG made here (the tooltips are SVG titles), so it needs no script. With a violation,
//! it shows [`FOCUS`] operations of the violating key around the failing one; otherwise the first
//! [`MAX_DRAWN`] operations. The section says what it leaves out.

use crate::plots::esc;
use algorithms::check::history::{key_label, History, ModelKind, Outcome, Report, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// At most this many operations are drawn.
pub const MAX_DRAWN: usize = 600;

/// Around a failing operation, this many of its key's operations are drawn, so that the bars
/// near it are wide enough to read.
pub const FOCUS: usize = 80;

/// How long the report may spend checking a run's history.
const REPORT_BUDGET: Duration = Duration::from_secs(10);

const ROW: f64 = 18.0;
const LABEL: f64 = 96.0;
const PLOT: f64 = 1040.0;
const AXIS: f64 = 26.0;

/// The section for a run directory's `history.jsonl`, or nothing when it has none.
pub fn section_for_run(run_dir: &Path) -> Option<String> {
    let path = run_dir.join(crate::history::FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let mut out = String::new();
    let history = match History::parse(&text) {
        Ok(h) => h,
        Err(e) => {
            let _ = write!(
                out,
                r#"<section id="history"><h2>Client history</h2><p class="problems">{}: {}</p></section>"#,
                esc(crate::history::FILE),
                esc(&e.to_string())
            );
            return Some(out);
        }
    };
    let Some(model) = ModelKind::guess(&history) else {
        let _ = write!(
            out,
            r#"<section id="history"><h2>Client history</h2><p class="hint">{}: no model fits its operations; check it with <code>orchestrator history check</code>.</p></section>"#,
            history.counts()
        );
        return Some(out);
    };
    let report = crate::history::check_until(&history, model, REPORT_BUDGET).ok().map(|(r, _)| r);
    let command = format!("orchestrator history check {} --model {model}", path.display());
    Some(format!("<style>{CSS}</style>\n{}", section(&history, model, report.as_ref(), &command)))
}

/// The section: the verdict in words, a legend and the rows.
pub fn section(history: &History, model: ModelKind, report: Option<&Report>, command: &str) -> String {
    let mut page = String::new();
    let outcome = report.map(|r| r.outcome);
    let _ = write!(
        page,
        r#"<section id="history" data-model="{model}" data-outcome="{}"><h2>Client history</h2>"#,
        outcome.map_or("unchecked", |o| match o {
            Outcome::Linearizable => "linearizable",
            Outcome::NotLinearizable => "not_linearizable",
            Outcome::Unknown => "unknown",
        })
    );
    let _ = write!(
        page,
        r#"<p class="facts">{} · checked against the <code>{model}</code> model: "#,
        esc(&history.counts().to_string())
    );
    match report {
        Some(r) if r.outcome == Outcome::Linearizable => {
            page.push_str(r#"<span class="pill held">linearizable</span>"#)
        }
        Some(r) if r.outcome == Outcome::NotLinearizable => {
            page.push_str(r#"<span class="pill violated">not linearizable</span>"#);
            let _ = write!(page, " on {} key(s)", r.violations.len());
        }
        Some(_) => page.push_str(r#"<span class="pill unknown">unknown</span> (the check ran out of time)"#),
        None => page.push_str(r#"<span class="pill unknown">not checked</span>"#),
    }
    let _ = write!(page, r#" · <code>{}</code></p>"#, esc(command));
    if let Some(r) = report {
        for v in &r.violations {
            let _ = write!(
                page,
                r#"<div class="history-why"><strong>Key {}:</strong> {}</div>"#,
                esc(&key_label(v.key.as_ref())),
                esc(&v.explain(history, model))
            );
        }
    }
    page += &view(history, report);
    page.push_str("</section>\n");
    page
}

/// The SVG of the rows, with what it leaves out.
fn view(history: &History, report: Option<&Report>) -> String {
    let ops = history.ops();
    if ops.is_empty() {
        return r#"<p class="muted">The history is empty.</p>"#.into();
    }
    let failing: BTreeSet<usize> = report.map(|r| r.violations.iter().map(|v| v.op).collect()).unwrap_or_default();
    let concurrent: BTreeSet<usize> =
        report.map(|r| r.violations.iter().flat_map(|v| v.concurrent.iter().copied()).collect()).unwrap_or_default();
    // With a violation, only its key's operations matter; a window around the failing one.
    let key = report.and_then(|r| r.violations.first()).map(|v| v.key.clone());
    let candidates: Vec<usize> = match &key {
        Some(k) => (0..ops.len()).filter(|&i| ops[i].key == *k).collect(),
        None => (0..ops.len()).collect(),
    };
    let centre = failing.first().and_then(|f| candidates.iter().position(|c| c == f));
    let most = if centre.is_some() { FOCUS } else { MAX_DRAWN };
    // The failing operation sits two thirds of the way in: what led to it matters most.
    let from = centre.map_or(0, |c| c.saturating_sub(most * 2 / 3));
    let to = (from + most).min(candidates.len());
    let from = to.saturating_sub(most);
    let drawn: Vec<usize> = candidates[from..to].to_vec();

    // x: time when every drawn event has one, else the event's position in the file.
    let events = history.events();
    let timed = drawn
        .iter()
        .all(|&i| events[ops[i].invoke].time.is_some() && ops[i].complete.is_none_or(|c| events[c].time.is_some()));
    let at = |e: usize| if timed { events[e].time.unwrap_or(0) as f64 } else { e as f64 };
    let x0 = drawn.iter().map(|&i| at(ops[i].invoke)).fold(f64::INFINITY, f64::min);
    let last_event = drawn.iter().map(|&i| ops[i].complete.unwrap_or(ops[i].invoke)).max().unwrap_or(0);
    let x1 = at(last_event).max(x0 + 1.0);
    let span = x1 - x0;
    let x = |v: f64| LABEL + (v - x0) / span * PLOT;

    let rows: BTreeMap<u64, usize> = drawn
        .iter()
        .map(|&i| ops[i].process)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(row, p)| (p, row))
        .collect();
    let height = AXIS + rows.len() as f64 * ROW + 8.0;
    let width = LABEL + PLOT + 16.0;
    let mut svg = String::with_capacity(drawn.len() * 200);
    if drawn.len() < ops.len() {
        let which = match &key {
            Some(k) => format!("key {}'s operations", esc(&key_label(k.as_ref()))),
            None => "operations".to_string(),
        };
        let _ = write!(
            svg,
            r#"<p class="trim">Drawing {which} {}–{} of {} (in invocation order){}, out of {} in the history; the whole history is in the file.</p>"#,
            from + 1,
            to,
            candidates.len(),
            if failing.is_empty() { "" } else { ", around the one that cannot be placed" },
            ops.len()
        );
    }
    svg.push_str(LEGEND);
    let _ = write!(
        svg,
        r#"<div class="history-scroll"><svg id="history-view" xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" data-rows="{}" data-ops="{}" data-axis="{}">"#,
        rows.len(),
        drawn.len(),
        if timed { "time" } else { "events" }
    );
    // Rows and their labels.
    for (p, row) in &rows {
        let y = AXIS + *row as f64 * ROW;
        let _ = write!(
            svg,
            r#"<rect class="history-row{}" x="0" y="{y:.1}" width="{width:.0}" height="{ROW}"/><text class="history-label" x="{:.0}" y="{:.1}" text-anchor="end">process {p}</text>"#,
            if row % 2 == 1 { " odd" } else { "" },
            LABEL - 8.0,
            y + ROW * 0.7
        );
    }
    // Axis ticks.
    for k in 0..=5 {
        let v = x0 + span * k as f64 / 5.0;
        let label = if timed { format!("{:.3} ms", (v - x0) / 1e6) } else { format!("event {}", v.round() as u64 + 1) };
        let _ = write!(
            svg,
            r#"<line class="history-tick" x1="{0:.1}" x2="{0:.1}" y1="{1:.0}" y2="{height:.0}"/><text class="history-tick-label" x="{0:.1}" y="14" text-anchor="{3}">{2}</text>"#,
            x(v),
            AXIS - 4.0,
            esc(&label),
            if k == 5 { "end" } else { "middle" }
        );
    }
    // The bars.
    for &i in &drawn {
        let o = &ops[i];
        let row = rows[&o.process];
        let start = x(at(o.invoke));
        let end = match (o.status, o.complete) {
            (Status::Info, _) | (_, None) => LABEL + PLOT,
            (_, Some(c)) => x(at(c)),
        };
        let mut class = match o.status {
            Status::Ok => "op ok".to_string(),
            Status::Fail => "op fail".to_string(),
            Status::Info => "op info".to_string(),
        };
        if failing.contains(&i) {
            class += " failing";
        } else if concurrent.contains(&i) {
            class += " concurrent";
        }
        let y = AXIS + row as f64 * ROW + 3.0;
        let lines = match o.complete {
            Some(c) => format!("lines {}–{}", history.line(o.invoke), history.line(c)),
            None => format!("line {}", history.line(o.invoke)),
        };
        let when = if timed {
            let t = |e: usize| (at(e) - x0) / 1e6;
            match o.complete {
                Some(c) => format!(" · {:.3}–{:.3} ms", t(o.invoke), t(c)),
                None => format!(" · from {:.3} ms", t(o.invoke)),
            }
        } else {
            String::new()
        };
        let note = if failing.contains(&i) {
            " · CANNOT BE PLACED"
        } else if o.status == Status::Info {
            " · may take effect any time after its invocation, or never"
        } else {
            ""
        };
        let w = (end - start).max(2.0);
        let _ = write!(
            svg,
            r#"<rect class="{class}" data-op="{i}" x="{start:.1}" y="{y:.1}" width="{w:.1}" height="{:.1}" rx="2"><title>process {} · {} · {lines}{when}{note}</title></rect>"#,
            ROW - 6.0,
            o.process,
            esc(&o.describe()),
        );
        // A label inside the bar when it fits (about 6 px a character at 10 px).
        let label = bar_label(o);
        if w > 6.0 * label.chars().count() as f64 + 6.0 && o.status != Status::Info {
            let _ = write!(
                svg,
                r#"<text class="history-bar-label" x="{:.1}" y="{:.1}">{}</text>"#,
                start + 3.0,
                y + ROW - 9.5,
                esc(&label)
            );
        }
    }
    svg.push_str("</svg></div>");
    svg
}

/// The few characters a bar has room for: `get "p5"`, `put "p7"`, `acquire`.
fn bar_label(o: &algorithms::check::history::Op) -> String {
    let shown = match (o.status, o.f.as_str()) {
        (Status::Ok, "read" | "get") => &o.output,
        _ => &o.input,
    };
    if shown.is_null() {
        o.f.clone()
    } else {
        format!("{} {shown}", o.f)
    }
}

const LEGEND: &str = r#"<div class="legend"><span><svg width="30" height="12"><rect x="1" y="2" width="28" height="8" rx="2" class="op ok"/></svg>ok</span><span><svg width="30" height="12"><rect x="1" y="2" width="28" height="8" rx="2" class="op fail"/></svg>fail (no effect)</span><span><svg width="30" height="12"><rect x="1" y="2" width="28" height="8" rx="2" class="op info"/></svg>info (unknown; open to the end)</span><span><svg width="30" height="12"><rect x="1" y="2" width="28" height="8" rx="2" class="op ok failing"/></svg>cannot be placed</span><span><svg width="30" height="12"><rect x="1" y="2" width="28" height="8" rx="2" class="op ok concurrent"/></svg>concurrent with it</span><span>hover a bar for the operation and its lines in the file</span></div>"#;

/// Styles for the view (the run report has the rest of them).
pub const CSS: &str = r#"
.history-scroll { overflow-x: auto; border: 1px solid var(--line, #e3e6ec); border-radius: 8px; }
#history-view .history-row { fill: #fff; } #history-view .history-row.odd { fill: #f8f9fb; }
#history-view .history-label { font-size: 12px; fill: #1d2330; }
#history-view .history-bar-label { font-size: 10px; fill: #fff; pointer-events: none; }
#history-view .history-tick { stroke: #eceef2; } #history-view .history-tick-label { font-size: 11px; fill: #6b7280; }
.op.ok { fill: #5b8fd6; } .op.fail { fill: #b8bec9; } .op.info { fill: rgba(230,150,30,.35); stroke: #d08a1a; stroke-dasharray: 3 2; }
.op.failing { fill: #d62728; stroke: #7f0000; stroke-width: 2; } .op.concurrent { stroke: #e0a000; stroke-width: 2; }
.history-why { background: #fdecec; border-radius: 8px; padding: 8px 12px; margin: 8px 0; }
"#;

/// A page of its own: `orchestrator history check FILE --html PAGE`.
pub fn page(title: &str, history: &History, model: ModelKind, report: Option<&Report>) -> String {
    let command = format!("orchestrator history check {title} --model {model}");
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · {model}</title>
<style>
:root {{ --line: #e3e6ec; --muted: #6b7280; }}
body {{ margin: 0; padding: 8px 24px; font: 15px/1.45 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }}
code {{ font: 13px ui-monospace, monospace; }}
section {{ background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 16px 0; }}
.facts, .muted, .hint {{ color: var(--muted); }}
.pill {{ display: inline-block; padding: 1px 10px; border-radius: 99px; font-size: 13px; font-weight: 600; color: #fff; }}
.pill.held {{ background: #1b7f3b; }} .pill.violated {{ background: #c62828; }} .pill.unknown {{ background: #a66300; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; color: var(--muted); margin: 4px 0 10px; }}
.legend span {{ display: inline-flex; align-items: center; gap: 5px; }}
.trim {{ background: #fff8e1; border: 1px solid #f0d58a; border-radius: 8px; padding: 8px 12px; }}
{}
</style></head><body>
<h1>{}</h1>
{}</body></html>
"#,
        esc(title),
        CSS,
        esc(title),
        section(history, model, report, &command)
    )
}

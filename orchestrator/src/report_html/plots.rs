//! The plots section: messages sent per second by type, then the latency charts ([`latency`]).

use super::diagram::PALETTE;
use super::{latency, spans};
use crate::plots::{Chart, Series, Style};
use crate::timeline::Timeline;
use algorithms::trace::What;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bucket width for the message-rate plot: a round number of ms giving at most ~120 buckets.
fn bucket_ms(span_ms: f64) -> f64 {
    let steps =
        [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0];
    steps.iter().copied().find(|s| span_ms / s <= 120.0).unwrap_or(60000.0)
}

pub fn section(
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
            bands: spans::bands(fault_spans),
            series,
        };
        let _ = write!(page, r#"<figure>{}</figure>"#, chart.svg());
    }
    for chart in latency::charts(tl, ms, end_ms, fault_spans) {
        let _ = write!(page, r#"<figure>{}</figure>"#, chart.svg());
    }
    page.push_str("</section>\n");
}

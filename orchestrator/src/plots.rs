//! Plots for the run report, as hand-written SVG.
//!
//! A charting crate would bring a font stack for text measurement that an SVG embedded in a
//! browser page does not need (the browser lays out `<text>` itself); what the report needs is
//! small: a time axis, a value axis, lines or dots, shaded fault periods, a legend, and native
//! hover titles. Everything here is deterministic text, so a report is byte-identical for a
//! byte-identical run.

use std::fmt::Write as _;

/// A shaded time interval (a fault period), in the chart's x units.
#[derive(Clone, Debug)]
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    /// A CSS colour.
    pub colour: String,
    /// The hover text of this band.
    pub label: String,
    /// The legend's name for bands of this colour, e.g. "node down".
    pub legend: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A line through the points (rates over buckets).
    Line,
    /// One dot per point, with its tooltip (one per election or critical-section entry).
    Dots,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub colour: String,
    pub style: Style,
    pub points: Vec<(f64, f64)>,
    /// A hover text per point (dots only); empty for none.
    pub tips: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_max: f64,
    pub bands: Vec<Band>,
    pub series: Vec<Series>,
}

const W: f64 = 900.0;
const H: f64 = 270.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 40.0;

/// Escapes text for SVG/HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Round tick positions from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten.
pub fn ticks(max: f64, about: usize) -> Vec<f64> {
    if !(max.is_finite() && max > 0.0) {
        return vec![0.0, 1.0];
    }
    let raw = max / about.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    let count = (max / step).ceil() as usize;
    // In whole units of the power of ten, so that 3 × 0.2 is 0.6 and not 0.6000000000000001.
    let units = (step / power).round();
    (0..=count)
        .map(|i| {
            let m = i as f64 * units;
            if power >= 1.0 {
                m * power
            } else {
                m / (1.0 / power).round()
            }
        })
        .collect()
}

/// A number as an axis label: no needless decimals.
fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Chart {
    pub fn svg(&self) -> String {
        let y_data = self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        let yt = ticks(if y_data > 0.0 { y_data } else { 1.0 }, 5);
        let y_max = *yt.last().unwrap_or(&1.0);
        let xt = ticks(self.x_max.max(1e-9), 10);
        let x_max = *xt.last().unwrap_or(&1.0);
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let x = |v: f64| LEFT + v / x_max * pw;
        let y = |v: f64| TOP + ph - v / y_max * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="plot" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
            esc(&self.title)
        );
        let _ = write!(s, r#"<text class="plot-title" x="{LEFT}" y="16">{}</text>"#, esc(&self.title));
        for b in &self.bands {
            let (x0, x1) = (x(b.x0.max(0.0)), x(b.x1.min(x_max)));
            let _ = write!(
                s,
                r#"<rect class="band" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{ph}" fill="{}"><title>{}</title></rect>"#,
                (x1 - x0).max(1.5),
                esc(&b.colour),
                esc(&b.label)
            );
        }
        for v in &yt {
            let yy = y(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT + pw,
                LEFT - 6.0,
                yy + 4.0,
                label(*v)
            );
        }
        for v in &xt {
            let xx = x(*v);
            let _ = write!(
                s,
                r#"<line class="tickmark" x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}"/><text class="tick" x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + ph,
                TOP + ph + 4.0,
                TOP + ph + 16.0,
                label(*v)
            );
        }
        let _ = write!(
            s,
            r#"<line class="axis" x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}"/>"#,
            LEFT + pw,
            TOP + ph,
            TOP + ph,
            TOP + ph
        );
        let _ = write!(
            s,
            r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="axis-label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 6.0,
            esc(&self.x_label),
            TOP + ph / 2.0,
            esc(&self.y_label)
        );
        for series in &self.series {
            match series.style {
                Style::Line => {
                    let path: Vec<String> =
                        series.points.iter().map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py))).collect();
                    let _ = write!(
                        s,
                        r#"<polyline class="series" fill="none" stroke="{}" points="{}"><title>{}</title></polyline>"#,
                        esc(&series.colour),
                        path.join(" "),
                        esc(&series.name)
                    );
                }
                Style::Dots => {
                    let _ = write!(s, r#"<g fill="{}">"#, esc(&series.colour));
                    for (i, (px, py)) in series.points.iter().enumerate() {
                        let tip = series.tips.get(i).cloned().unwrap_or_default();
                        let _ = write!(
                            s,
                            r#"<line class="stem" x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{4}"/><circle class="dot" cx="{0:.1}" cy="{1:.1}" r="4"><title>{3}</title></circle>"#,
                            x(*px),
                            y(*py),
                            y(0.0),
                            esc(&tip),
                            esc(&series.colour)
                        );
                    }
                    s += "</g>";
                }
            }
        }
        // The legend, on its own line under the title: series, then each kind of fault period.
        let mut entries: Vec<(String, String, bool)> =
            self.series.iter().map(|s| (s.name.clone(), s.colour.clone(), false)).collect();
        for b in &self.bands {
            if !entries.iter().any(|(name, _, band)| *band && *name == b.legend) {
                entries.push((b.legend.clone(), b.colour.clone(), true));
            }
        }
        let mut lx = LEFT;
        for (name, colour, band) in &entries {
            let swatch = if *band {
                format!(r#"<rect x="{lx:.1}" y="25" width="14" height="10" fill="{}"/>"#, esc(colour))
            } else {
                format!(r#"<rect x="{lx:.1}" y="28" width="14" height="4" fill="{}"/>"#, esc(colour))
            };
            let _ = write!(
                s,
                r#"<g class="legend">{swatch}<text class="tick" x="{:.1}" y="35">{}</text></g>"#,
                lx + 18.0,
                esc(name)
            );
            lx += 7.0 * name.chars().count() as f64 + 34.0;
        }
        s += "</svg>";
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(6000.7, 10), (0..=7).map(|i| i as f64 * 1000.0).collect::<Vec<_>>());
        assert_eq!(ticks(0.9, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.0, 5), vec![0.0, 1.0]);
        assert_eq!(label(2.5), "2.5");
        assert_eq!(label(1500.0), "1500");
    }

    #[test]
    fn a_chart_has_its_series_bands_and_escaped_text() {
        let chart = Chart {
            title: "rate <by type>".into(),
            x_label: "time (s)".into(),
            y_label: "messages/s".into(),
            x_max: 6.0,
            bands: vec![Band {
                x0: 2.0,
                x1: 4.0,
                colour: "red".into(),
                label: "killed node 5".into(),
                legend: "node down".into(),
            }],
            series: vec![
                Series {
                    name: "heartbeat".into(),
                    colour: "#4e79a7".into(),
                    style: Style::Line,
                    points: vec![(0.0, 1.0), (1.0, 80.0)],
                    tips: vec![],
                },
                Series {
                    name: "election".into(),
                    colour: "#f28e2b".into(),
                    style: Style::Dots,
                    points: vec![(2.0, 3.0)],
                    tips: vec!["2.0 s: 3".into()],
                },
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("rate &lt;by type&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches(r#"class="dot""#).count(), 1);
        assert!(svg.contains("<title>killed node 5</title>") && svg.contains(">node down</text>"));
    }
}

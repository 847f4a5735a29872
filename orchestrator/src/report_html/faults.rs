//! The faults section: every fault applied, in order.

use crate::plots::esc;
use crate::timeline::Timeline;
use algorithms::faults::AppliedFault;
use std::fmt::Write as _;

pub fn section(page: &mut String, tl: &Timeline, ms: &dyn Fn(u64) -> f64) {
    page.push_str(r#"<section id="faults"><h2>Faults</h2>"#);
    let applied: Vec<_> =
        tl.faults.iter().filter(|f| !matches!(f.fault, AppliedFault::RunStart { .. } | AppliedFault::RunEnd)).collect();
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

//! The metrics section: every figure the checker reported, each read as the shape it was made as.

use crate::plots::esc;
use crate::report::{short_metric, Summary};
use std::fmt::Write as _;

pub fn section(page: &mut String, s: &Summary) {
    page.push_str(r#"<section id="metrics"><h2>Metrics</h2><table class="metrics"><tbody>"#);
    for (name, value) in &s.metrics {
        let _ = write!(page, "<tr><td><code>{}</code></td><td>{}</td></tr>", esc(name), esc(&short_metric(value)));
    }
    page.push_str("</tbody></table></section>\n");
}

//! The messages section: sends, deliveries and losses by type from the traces, and the
//! checker's per-operation message costs beside the textbook's, read as the [`Metric`] shapes the
//! checkers made.

use super::diagram::thousands;
use crate::plots::esc;
use crate::report::{figure, number, short_metric, Summary};
use crate::timeline::Timeline;
use algorithms::check::metric::{Distribution, Metric};
use algorithms::trace::What;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn section(
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

/// One row of the per-operation table: operation, measured, textbook, by type per operation.
pub type OperationRow = (String, String, String, String);

/// Rows of the per-operation table from the `messages_per_<operation>` metrics.
pub fn per_operation(metrics: &BTreeMap<String, Value>) -> Vec<OperationRow> {
    let mut rows = Vec::new();
    for (name, value) in metrics {
        let Some(op) = name.strip_prefix("messages_per_") else { continue };
        let row = match Metric::of(value) {
            Metric::PerElection(cost) => {
                let by_type = cost.by_type.iter().map(|(t, d)| format!("{t} {}", figure(d.mean))).collect();
                (stats(&cost.measured), cost.textbook.figure().to_string(), by_type)
            }
            Metric::PerElectionV0(cost) => {
                let counts = match cost.counted_types.is_empty() {
                    true => vec![],
                    false => vec![format!("counts {}", cost.counted_types.join(", "))],
                };
                (stats(&cost.measured), cost.figures().join(" · "), counts)
            }
            Metric::PerEntry(cost) => {
                let measured =
                    format!("{} ({} messages for {} entries)", number(cost.measured), cost.messages, cost.entries);
                let by_type = cost.by_type.iter().map(|(t, v)| format!("{t} {}", number(*v))).collect();
                (measured, cost.textbook.clone(), by_type)
            }
            _ => (short_metric(value), String::new(), vec![]),
        };
        let (measured, textbook, by_type) = row;
        rows.push((op.replace('_', " "), measured, textbook, by_type.join(" · ")));
    }
    rows
}

/// `mean 17.3 · p50 20.0 · max 28.0 (over 3)`.
fn stats(d: &Distribution) -> String {
    format!("mean {} · p50 {} · max {} (over {})", figure(d.mean), figure(d.p50), figure(d.max), d.count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

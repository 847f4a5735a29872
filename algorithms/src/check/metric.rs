//! The shapes of the figures a checker reports in [`CheckReport::metrics`](super::CheckReport):
//! made here by the checkers and read back here by whoever shows them (the run report, `compare`),
//! so no reader has to guess a metric's shape from its JSON.
//!
//! A metric is stored as the JSON of its shape (`summary.json` keeps the fields it always had,
//! and the checkers of every family add to the same map); [`Metric::of`] reads one back as the
//! shape it was made as, and anything no shape here describes is [`Metric::Other`], shown as it
//! is.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One metric, read back as the shape a checker made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metric {
    /// A count (`entries`, `transitions`).
    Count(u64),
    /// A single figure (`entries_per_s`).
    Figure(f64),
    /// Summary statistics of a list of figures (`election_ms`, `wait_ms`).
    Distribution(Distribution),
    /// Messages per critical-section entry beside the textbook (`messages_per_entry`).
    PerEntry(EntryCost),
    /// Messages per election beside the textbook (`messages_per_election`).
    PerElection(ElectionCost),
    /// `messages_per_election` as bully wrote it before it used the shared election checks:
    /// still readable in old `summary.json` files.
    PerElectionV0(ElectionCostV0),
    /// Entries deposed leaders appended and never committed, with their fate (`deposed_entries`).
    Deposed(DeposedEntries),
    /// A shape of an algorithm's own (e.g. Raft's `rejoin`), shown as it is.
    Other(Value),
}

impl Metric {
    /// Reads a stored metric back (never fails: an unknown shape is [`Metric::Other`]).
    pub fn of(value: &Value) -> Metric {
        serde_json::from_value(value.clone()).unwrap_or_else(|_| Metric::Other(value.clone()))
    }

    /// The JSON stored in `summary.json`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("metrics always encode")
    }
}

/// Summary statistics of a list of figures, rounded to one decimal; only `count` when the list is
/// empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    pub count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Every figure, in the order given (rounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<f64>,
}

impl Distribution {
    pub fn of(values: &[f64]) -> Distribution {
        if values.is_empty() {
            return Distribution::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let round = |v: f64| (v * 10.0).round() / 10.0;
        Distribution {
            count: sorted.len(),
            mean: Some(round(sorted.iter().sum::<f64>() / sorted.len() as f64)),
            p50: Some(round(pick(0.5))),
            p90: Some(round(pick(0.9))),
            p99: Some(round(pick(0.99))),
            max: Some(round(sorted[sorted.len() - 1])),
            values: values.iter().map(|v| round(*v)).collect(),
        }
    }
}

/// Messages per critical-section entry, measured over a run, beside the textbook's figure. An
/// algorithm may add figures of its own (`quorum_size`, `entries_with_token_at_hand`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryCost {
    pub entries: usize,
    pub messages: u64,
    /// Messages per entry.
    pub measured: f64,
    /// The textbook's formula, with its value for the run's cluster (`2(N−1) = 8`).
    pub textbook: String,
    pub textbook_value: Option<f64>,
    /// Messages per entry, by message type.
    pub by_type: BTreeMap<String, f64>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Messages per election over the measured elections, in total and by type, beside the
/// textbook's figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionCost {
    pub measured: Distribution,
    pub by_type: BTreeMap<String, Distribution>,
    pub textbook: Textbook,
}

/// The textbook's figure: a sentence, or a sentence (`figure`) with the numbers in it by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Textbook {
    Text(String),
    Figures {
        figure: String,
        #[serde(flatten)]
        numbers: BTreeMap<String, Value>,
    },
}

impl Textbook {
    /// The sentence a person reads.
    pub fn figure(&self) -> &str {
        match self {
            Textbook::Text(text) => text,
            Textbook::Figures { figure, .. } => figure,
        }
    }
}

/// What became of the entries that leaders appended in a term a later one replaced, and that
/// never committed: a deposed leader cannot commit them, so they are overwritten when it rejoins,
/// and a client's command among them is retried by its client and applied once, elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeposedEntries {
    pub deposed_entries: Vec<DeposedEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeposedEntry {
    /// The leader that appended it, in its term, at this index and time.
    pub leader: u32,
    pub term: u64,
    pub index: u64,
    pub appended_ms: f64,
    /// `no-op`, or the client's command (`put k1`); `client` and `seq` when it is one (and the
    /// client's request is in the trace).
    pub op: String,
    pub client: Option<u32>,
    pub seq: Option<u64>,
    /// Where it was deleted from a log: (node, ms).
    pub truncated: Vec<(u32, f64)>,
    /// Where the same `(client, seq)` was first applied: (index, ms); none if never. Usually the
    /// client's retry at a later leader; earlier than `appended_ms` when this entry was itself a
    /// retry of a command already applied (its reply was lost).
    pub redone: Option<(u64, f64)>,
}

impl DeposedEntries {
    /// One line a person reads: each entry and its fate.
    pub fn summary(&self) -> String {
        if self.deposed_entries.is_empty() {
            return "none".into();
        }
        let each: Vec<String> = self
            .deposed_entries
            .iter()
            .map(|e| {
                let who = match (e.client, e.seq) {
                    (Some(c), Some(s)) => format!("client {c} seq {s} {}", e.op),
                    _ => e.op.clone(),
                };
                let cut: Vec<String> = e.truncated.iter().map(|(n, ms)| format!("node {n} {ms:.0} ms")).collect();
                let cut =
                    if cut.is_empty() { "never truncated".into() } else { format!("truncated at {}", cut.join(", ")) };
                let redone = match (e.client, e.redone) {
                    (_, Some((index, ms))) => format!(", applied at index {index} ({ms:.0} ms)"),
                    (Some(_), None) => ", never applied".into(),
                    (None, None) => String::new(),
                };
                format!("node {} term {} index {} ({who}): {cut}{redone}", e.leader, e.term, e.index)
            })
            .collect();
        format!("{}: {}", self.deposed_entries.len(), each.join("; "))
    }
}

/// See [`Metric::PerElectionV0`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElectionCostV0 {
    pub measured: Distribution,
    pub textbook_best: Option<u64>,
    pub textbook_worst: Option<u64>,
    #[serde(default)]
    pub counted_types: Vec<String>,
}

impl ElectionCostV0 {
    /// The textbook's figures it names: `best 3`, `worst 24`.
    pub fn figures(&self) -> Vec<String> {
        let named = [("best", self.textbook_best), ("worst", self.textbook_worst)];
        named.iter().filter_map(|(name, v)| v.map(|v| format!("{name} {v}"))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_reads_back_as_itself() {
        let stats = Distribution::of(&[3.0, 1.0, 2.0]);
        let entry = EntryCost {
            entries: 100,
            messages: 800,
            measured: 8.0,
            textbook: "2(N−1) = 8".into(),
            textbook_value: Some(8.0),
            by_type: BTreeMap::from([("reply".into(), 4.0), ("request".into(), 4.0)]),
            extra: BTreeMap::from([("quorum_size".into(), json!(3.0))]),
        };
        let election = ElectionCost {
            measured: stats.clone(),
            by_type: BTreeMap::from([("election".into(), stats.clone())]),
            textbook: Textbook::Figures {
                figure: "2n = 10".into(),
                numbers: BTreeMap::from([("per".into(), json!(10))]),
            },
        };
        let cases = [
            Metric::Count(7),
            Metric::Figure(2.5),
            Metric::Distribution(stats.clone()),
            Metric::Distribution(Distribution::default()),
            Metric::PerEntry(entry),
            Metric::PerElection(election),
            Metric::PerElection(ElectionCost {
                measured: stats.clone(),
                by_type: BTreeMap::new(),
                textbook: Textbook::Text("best n−2".into()),
            }),
            Metric::Deposed(DeposedEntries::default()),
            Metric::Deposed(DeposedEntries {
                deposed_entries: vec![DeposedEntry {
                    leader: 2,
                    term: 1,
                    index: 4,
                    appended_ms: 1600.0,
                    op: "put k1".into(),
                    client: Some(6),
                    seq: Some(3),
                    truncated: vec![(2, 3510.0)],
                    redone: Some((6, 3530.0)),
                }],
            }),
            Metric::Other(json!({"term_jumps": [0, 1]})),
        ];
        for metric in cases {
            assert_eq!(Metric::of(&metric.to_value()), metric);
        }
    }

    #[test]
    fn the_stored_json_is_what_summaries_always_held() {
        assert_eq!(Metric::Distribution(Distribution::of(&[])).to_value(), json!({"count": 0}));
        assert_eq!(
            Metric::Distribution(Distribution::of(&[2.0, 1.04])).to_value(),
            json!({"count": 2, "mean": 1.5, "p50": 2.0, "p90": 2.0, "p99": 2.0, "max": 2.0, "values": [2.0, 1.0]})
        );
        let old = json!({"measured": {"count": 3, "mean": 17.3, "p50": 20.0, "max": 28.0},
                         "textbook_best": 3, "textbook_worst": 24, "counted_types": ["election", "answer"]});
        assert!(matches!(Metric::of(&old), Metric::PerElectionV0(v) if v.textbook_worst == Some(24)));
    }
}

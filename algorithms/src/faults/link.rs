//! Per-message faults on one directed link, and the delay distributions both the proxy and the
//! simulator draw from.

use crate::core::process::{Nanos, NodeId, MS};
use rand::Rng;
use rand_distr::{Distribution, Exp, Normal};
use serde::{Deserialize, Serialize};

/// What a cut link does with traffic: drop it silently, or close the connection (TCP reset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutMode {
    #[default]
    Blackhole,
    Reset,
}

/// Faults on one directed link, applied per message by the proxy (and the simulator).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: NodeId,
    pub to: NodeId,
    /// Nothing gets through from `from` to `to` (a one-way partition).
    #[serde(default)]
    pub cut: bool,
    #[serde(default)]
    pub mode: CutMode,
    /// Extra delay per message, with jitter from the distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Probability a message is dropped.
    #[serde(default)]
    pub loss: f64,
    /// Probability a message is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    /// Probability a message is held back and delivered after the next one.
    #[serde(default)]
    pub reorder: f64,
}

impl LinkSpec {
    pub fn clear(from: NodeId, to: NodeId) -> LinkSpec {
        LinkSpec { from, to, ..Default::default() }
    }

    /// True when the link behaves like a healthy one.
    pub fn is_clear(&self) -> bool {
        !self.cut && self.delay.is_none() && self.loss == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} is not a probability (0 to 1)"));
            }
        }
        self.delay.as_ref().map_or(Ok(()), Delay::validate)
    }

    /// One line for logs and `status`, e.g. `1→2 loss 0.3, delay uniform 5–20 ms`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cut {
            parts.push(format!("cut ({})", if self.mode == CutMode::Reset { "reset" } else { "blackhole" }));
        }
        if let Some(d) = &self.delay {
            parts.push(format!("delay {}", d.describe()));
        }
        for (name, p) in [("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)] {
            if p > 0.0 {
                parts.push(format!("{name} {p}"));
            }
        }
        if parts.is_empty() {
            parts.push("clear".into());
        }
        format!("{}→{} {}", self.from, self.to, parts.join(", "))
    }
}

/// How long a message takes on a link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    Normal { mean_ms: f64, stddev_ms: f64 },
    Exponential { mean_ms: f64 },
}

impl Default for Delay {
    fn default() -> Self {
        Delay::Uniform { min_ms: 0.5, max_ms: 5.0 }
    }
}

impl Delay {
    /// e.g. `uniform 1–5 ms`.
    pub fn describe(&self) -> String {
        match self {
            Delay::Fixed { ms } => format!("{ms} ms"),
            Delay::Uniform { min_ms, max_ms } => format!("uniform {min_ms}–{max_ms} ms"),
            Delay::Normal { mean_ms, stddev_ms } => format!("normal {mean_ms}±{stddev_ms} ms"),
            Delay::Exponential { mean_ms } => format!("exponential, mean {mean_ms} ms"),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            Delay::Fixed { ms } => ms >= 0.0,
            Delay::Uniform { min_ms, max_ms } => min_ms >= 0.0 && max_ms >= min_ms,
            Delay::Normal { mean_ms, stddev_ms } => mean_ms >= 0.0 && stddev_ms >= 0.0,
            Delay::Exponential { mean_ms } => mean_ms > 0.0,
        };
        ok.then_some(()).ok_or_else(|| format!("delay {self:?}: times must be non-negative and min ≤ max"))
    }

    /// Draws one delay; negative draws of the normal distribution count as zero.
    pub fn sample(&self, rng: &mut impl Rng) -> Nanos {
        let ms = match *self {
            Delay::Fixed { ms } => ms,
            Delay::Uniform { min_ms, max_ms } if max_ms > min_ms => rng.random_range(min_ms..max_ms),
            Delay::Uniform { min_ms, .. } => min_ms,
            Delay::Normal { mean_ms, stddev_ms } => Normal::new(mean_ms, stddev_ms).map_or(mean_ms, |d| d.sample(rng)),
            Delay::Exponential { mean_ms } => Exp::new(1.0 / mean_ms).map_or(mean_ms, |d| d.sample(rng)),
        };
        (ms.max(0.0) * MS as f64) as Nanos
    }
}

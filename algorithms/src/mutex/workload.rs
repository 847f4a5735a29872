//! The workload every mutual exclusion experiment shares: each node asks for named resources at a
//! rate and holds each one for a time, so the six algorithms can be compared under the same load.
//!
//! In an experiment file it is the `workload` key of the algorithm's `[params]`:
//!
//! ```toml
//! [params]
//! workload = { rate_per_s = 4.0, hold_ms = 20, resources = ["printer", "table:employees;row:15"], stop_after = "4s" }
//! ```
//!
//! Requests arrive as a Poisson process (exponential gaps drawn from `ctx.rng()`, so a seed gives
//! the same requests in the simulator every time); each picks one of the resources this node is
//! not already waiting for or holding, uniformly. A node may hold several resources at once: each
//! resource is its own critical section. The timers live in [`crate::mutex::host::MutexNode`].

use crate::core::process::{Nanos, MS};
use rand::Rng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Requests per second at each node; 0 leaves requests to the `acquire` command.
    pub rate_per_s: f64,
    /// How long a node stays in a critical section the workload put it in.
    pub hold_ms: u64,
    /// The resources requests pick from. Token algorithms create one token for each, so with those
    /// algorithms `acquire` can name only these.
    pub resources: Vec<String>,
    /// The first request waits this long after the process starts, so every node is up before
    /// anyone asks (a message to a node that has not started yet is lost in the simulator).
    #[serde(with = "humantime_serde")]
    pub start_after: Duration,
    /// No new requests this long after the process started; the rest of the run lets the waiting
    /// ones finish. Unset: requests go on until the run ends.
    #[serde(with = "humantime_serde")]
    pub stop_after: Option<Duration>,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            rate_per_s: 2.0,
            hold_ms: 20,
            resources: vec!["printer".into()],
            start_after: Duration::from_millis(200),
            stop_after: None,
        }
    }
}

impl Workload {
    /// Errors name the key as `params.workload.<key>`.
    pub fn validate(&self) -> Result<(), String> {
        if !self.rate_per_s.is_finite() || self.rate_per_s < 0.0 {
            return Err(format!("params.workload.rate_per_s ({}) must be 0 or above", self.rate_per_s));
        }
        if self.rate_per_s > 10_000.0 {
            return Err(format!("params.workload.rate_per_s ({}) is above 10000 requests/s", self.rate_per_s));
        }
        if let Some(bad) = self.resources.iter().find(|r| r.is_empty() || r.trim() != r.as_str()) {
            return Err(format!("params.workload.resources: {bad:?} is not a resource name (empty or padded)"));
        }
        let mut names = self.resources.clone();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("params.workload.resources: {:?} appears twice", w[0]));
        }
        if self.rate_per_s > 0.0 && self.resources.is_empty() {
            return Err("params.workload.resources must name at least one resource when rate_per_s is above 0".into());
        }
        Ok(())
    }

    /// Whether the workload makes any requests at all.
    pub fn active(&self) -> bool {
        self.rate_per_s > 0.0 && !self.resources.is_empty()
    }

    /// The gap to the next request: exponential with mean 1/rate (Poisson arrivals).
    pub fn next_gap(&self, rng: &mut impl Rng) -> Nanos {
        let seconds = Exp::new(self.rate_per_s).map_or(1.0, |d| d.sample(rng));
        (seconds * 1e9) as Nanos
    }

    pub fn hold(&self) -> Nanos {
        self.hold_ms * MS
    }

    pub fn start_after(&self) -> Nanos {
        self.start_after.as_nanos() as Nanos
    }

    pub fn stop_after(&self) -> Option<Nanos> {
        self.stop_after.map(|d| d.as_nanos() as Nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_params_and_names_bad_keys() {
        let w: Workload = serde_json::from_value(serde_json::json!({
            "rate_per_s": 4.0, "hold_ms": 10, "resources": ["printer", "table:employees;row:15"], "stop_after": "3s"
        }))
        .unwrap();
        assert_eq!(w.stop_after, Some(Duration::from_secs(3)));
        assert_eq!(w.start_after, Duration::from_millis(200), "unset keys keep their defaults");
        w.validate().unwrap();
        let err = serde_json::from_value::<Workload>(serde_json::json!({"rate": 4})).unwrap_err().to_string();
        assert!(err.contains("rate"), "{err}");
        let twice = Workload { resources: vec!["a".into(), "a".into()], ..Workload::default() };
        assert!(twice.validate().unwrap_err().contains("params.workload.resources"));
        let negative = Workload { rate_per_s: -1.0, ..Workload::default() };
        assert!(negative.validate().unwrap_err().contains("params.workload.rate_per_s"));
    }
}

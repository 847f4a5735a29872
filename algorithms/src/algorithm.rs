//! What an algorithm is to the rest of clusterlab: a name, the processes it builds from its
//! `[params]`, the properties it promises, and the checker that judges a run against them.
//!
//! This module is the bottom of the crate: every algorithm imports it and it imports none of them.
//! The list of all algorithms lives at the top, in [`crate::catalogue`].

use crate::check::{CheckReport, Execution};
use crate::core::process::{DynProcess, NodeId};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A property an algorithm promises; the checker reports each one as held or violated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyInfo {
    pub name: &'static str,
    pub promise: &'static str,
}

/// Which family an algorithm belongs to: its folder, and the tests and checks it shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Election,
    Mutex,
    /// Not a distributed algorithm: the load generator of the transport benchmark.
    Load,
}

pub trait Algorithm: Sync {
    /// The name experiment files use (`algorithm = "bully"`).
    fn name(&self) -> &'static str;

    fn family(&self) -> Family;

    /// One line for `orchestrator list` and error messages.
    fn summary(&self) -> &'static str;

    /// Builds the process of node `me`. Bad parameters are an error naming the key.
    fn build(&self, me: NodeId, peers: &[NodeId], params: &Value) -> Result<Box<dyn DynProcess>, String>;

    /// What every run of this algorithm must satisfy.
    fn properties(&self) -> Vec<PropertyInfo>;

    /// Judges a run (real or simulated) from its traces.
    fn check(&self, run: &Execution) -> CheckReport;
}

/// Reads an algorithm's `[params]` table into its parameter struct. `Null` (no table) gives the
/// defaults; unknown keys and bad values are errors naming the key under `params.`, e.g.
/// `params.heartbeat_ms: invalid value: integer `-5`, expected u64`.
pub fn parse_params<T: DeserializeOwned + Default>(params: &Value) -> Result<T, String> {
    if params.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(params.clone()).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." => format!("params: {}", e.inner()),
            _ => format!("params.{path}: {}", e.inner()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        rate_per_s: f64,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Params {
        heartbeat_ms: u64,
        inner: Inner,
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = parse_params::<Params>(&json!({ "heartbeat_ms": -5 })).unwrap_err();
        assert!(err.starts_with("params.heartbeat_ms: invalid value: integer `-5`, expected u64"), "{err}");
        let err = parse_params::<Params>(&json!({ "inner": { "rate_per_s": "fast" } })).unwrap_err();
        assert!(err.starts_with("params.inner.rate_per_s: invalid type: string"), "{err}");
        let err = parse_params::<Params>(&json!({ "hearbeat_ms": 5 })).unwrap_err();
        assert!(err.contains("params") && err.contains("hearbeat_ms"), "{err}");
        assert_eq!(parse_params::<Params>(&Value::Null).unwrap().heartbeat_ms, 0, "no table: the defaults");
    }
}

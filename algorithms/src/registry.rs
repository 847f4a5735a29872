//! The catalogue: algorithm names as written in experiment files, mapped to implementations.
//!
//! To add an algorithm: write a module with a [`crate::Process`], implement [`Algorithm`] for a
//! unit struct beside it (build, properties, check) and list it in [`catalogue`].

use crate::check::{CheckReport, Run};
use crate::process::{DynProcess, NodeId};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A property an algorithm promises; the checker reports each one as held or violated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyInfo {
    pub name: &'static str,
    pub promise: &'static str,
}

pub trait Algorithm: Sync {
    /// The name experiment files use (`algorithm = "bully"`).
    fn name(&self) -> &'static str;

    /// One line for `orchestrator list` and error messages.
    fn summary(&self) -> &'static str;

    /// Builds the process of node `me`. Bad parameters are an error naming the key.
    fn build(&self, me: NodeId, peers: &[NodeId], params: &Value) -> Result<Box<dyn DynProcess>, String>;

    /// What every run of this algorithm must satisfy.
    fn properties(&self) -> Vec<PropertyInfo>;

    /// Judges a run (real or simulated) from its traces.
    fn check(&self, run: &Run) -> CheckReport;
}

/// Every algorithm clusterlab knows, in the order `orchestrator list` shows them.
pub fn catalogue() -> Vec<&'static dyn Algorithm> {
    let mut all: Vec<&'static dyn Algorithm> = vec![&crate::bully::Bully, &crate::bench::Bench];
    // Leader election.
    all.extend([
        &crate::lelann::LeLann as &'static dyn Algorithm,
        &crate::chang_roberts::ChangRoberts,
        &crate::raft_election::RaftElection,
        &crate::lease::Lease,
        &crate::randomized::Randomized,
    ]);
    // Mutual exclusion.
    all.extend([
        &crate::central::Central as &'static dyn Algorithm,
        &crate::token_ring::TokenRing,
        &crate::lamport::Lamport,
        &crate::ricart_agrawala::RicartAgrawala,
        &crate::suzuki_kasami::SuzukiKasami,
        &crate::maekawa::Maekawa,
    ]);
    all
}

/// Looks an algorithm up by name; the error lists the known names.
pub fn find(name: &str) -> Result<&'static dyn Algorithm, String> {
    catalogue().into_iter().find(|a| a.name() == name).ok_or_else(|| {
        let known: Vec<_> = catalogue().iter().map(|a| a.name()).collect();
        format!("unknown algorithm {name:?}; known algorithms: {}", known.join(", "))
    })
}

/// Reads an algorithm's `[params]` table into its parameter struct. `Null` (no table) gives the
/// defaults; unknown keys and bad values are errors naming the key under `params.`.
pub fn parse_params<T: DeserializeOwned + Default>(params: &Value) -> Result<T, String> {
    if params.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(params.clone()).map_err(|e| format!("params: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_algorithm_lists_the_known_ones() {
        let err = find("bullie").err().unwrap();
        assert!(err.contains("\"bullie\"") && err.contains("bully"), "{err}");
    }
}

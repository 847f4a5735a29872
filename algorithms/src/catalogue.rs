//! The catalogue: algorithm names as written in experiment files, mapped to implementations.
//!
//! The top of the crate: it imports every algorithm, and nothing imports it but the hosts. To add
//! an algorithm: write its module (a [`crate::Process`] and a [`crate::algorithm::Spec`] beside
//! it), add one line here, and one experiment file in `configs/`. `orchestrator list`, the README check and
//! the catalogue-wide tests derive their lists from [`catalogue`].

use crate::algorithm::{Algorithm, Family};
use crate::{
    broadcast, consensus, coordination, detection, election, load, maelstrom, mutex, replication, stabilizing, template,
};

/// Every algorithm clusterlab knows, in the order `orchestrator list` shows them.
pub fn catalogue() -> Vec<&'static dyn Algorithm> {
    vec![
        &election::bully::Bully,
        &election::ring::lelann::LeLann,
        &election::ring::chang_roberts::ChangRoberts,
        &election::raft::RaftElection,
        &election::lease::Lease,
        &election::lease::lock::LeaseLock,
        &election::randomized::Randomized,
        &election::timestamp::TimestampElection,
        &mutex::central::Central,
        &mutex::token_ring::TokenRing,
        &mutex::lamport::Lamport,
        &mutex::ricart_agrawala::RicartAgrawala,
        &mutex::suzuki_kasami::SuzukiKasami,
        &mutex::maekawa::Maekawa,
        &mutex::raymond::Raymond,
        &stabilizing::dijkstra::DijkstraRing,
        &replication::single::KvSingle,
        &replication::quorum::Quorum,
        &consensus::paxos::Paxos,
        &consensus::raft::Raft,
        &consensus::multipaxos::MultiPaxos,
        &consensus::zab::Zab,
        &coordination::service::Coordination,
        &coordination::recipes::lock::ZkLock,
        &coordination::recipes::counter::ZkCounter,
        &coordination::recipes::election::ZkElection,
        &coordination::recipes::members::ZkMembers,
        &broadcast::sequencer::Sequencer,
        &template::Gossip,
        &detection::HeartbeatDetector,
        &detection::PhiAccrualDetector,
        &maelstrom::Maelstrom,
        &load::Load,
    ]
}

/// The algorithms of one family, in catalogue order.
pub fn family(family: Family) -> Vec<&'static dyn Algorithm> {
    catalogue().into_iter().filter(|a| a.family() == family).collect()
}

/// Looks an algorithm up by name; the error lists the known names.
pub fn find(name: &str) -> Result<&'static dyn Algorithm, String> {
    catalogue().into_iter().find(|a| a.name() == name).ok_or_else(|| {
        let known: Vec<_> = catalogue().iter().map(|a| a.name()).collect();
        format!("unknown algorithm {name:?}; known algorithms: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_algorithm_lists_the_known_ones() {
        let err = find("bullie").err().unwrap();
        assert!(err.contains("\"bullie\"") && err.contains("bully"), "{err}");
    }

    #[test]
    fn a_run_whose_params_do_not_parse_is_not_judged() {
        for algorithm in catalogue() {
            let params = serde_json::json!({ "renamed_key": 1 });
            let run = crate::Execution::new(algorithm.name(), vec![1, 2, 3], params, vec![], vec![]);
            let report = algorithm.check(&run);
            let names: Vec<&str> = report.properties.iter().map(|p| p.name.as_str()).collect();
            let declared: Vec<&str> = algorithm.properties().iter().map(|p| p.name).collect();
            assert_eq!(names, declared, "{}: every declared property, in order", algorithm.name());
            for p in &report.properties {
                assert_eq!(p.verdict, crate::Verdict::Unknown, "{}: {p:?}", algorithm.name());
                assert!(p.detail.contains("params") && p.detail.contains("renamed_key"), "{}: {p:?}", algorithm.name());
            }
            assert!(report.metrics.is_empty(), "{}: nothing is measured against default parameters", algorithm.name());
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = catalogue().iter().map(|a| a.name()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "two algorithms share a name");
    }
}

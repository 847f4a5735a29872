//! Histories derived from the traces of simulated mutual exclusion runs: every algorithm's
//! critical sections, read as a lock service's client history, are linearizable against the
//! `mutex` model, also when the holder is killed; and a broken trace is not.

use algorithms::check::history::{check, CheckOptions, History, ModelKind, Outcome};
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::{simulate, NetworkModel, SimConfig};
use serde_json::json;
use std::time::Duration;

fn config(algorithm: &str, seed: u64, faults: Vec<FaultSpec>) -> SimConfig {
    let workload = json!({ "rate_per_s": 6.0, "hold_ms": 20, "resources": ["printer", "table"], "stop_after": "2s" });
    SimConfig {
        nodes: 4,
        spare_nodes: 0,
        seed,
        duration: Duration::from_secs(3),
        instance: algorithm.into(),
        params: json!({ "workload": workload }),
        network: NetworkModel::default(),
        faults,
        workload: None,
    }
}

fn history(cfg: &SimConfig) -> History {
    let algorithm = algorithms::find(&cfg.instance).unwrap();
    History::from_run(&simulate(algorithm, cfg).unwrap().run)
}

#[test]
fn every_mutex_algorithm_gives_a_linearizable_lock_history() {
    for algorithm in ["central", "token-ring", "lamport", "ricart-agrawala", "suzuki-kasami", "maekawa"] {
        for seed in 0..8 {
            let h = history(&config(algorithm, seed, vec![]));
            let c = h.counts();
            assert!(c.ok > 20, "{algorithm} seed {seed}: {c}");
            let report = check(&h, ModelKind::Mutex, CheckOptions::default()).unwrap();
            assert_eq!(report.outcome, Outcome::Linearizable, "{algorithm} seed {seed}: {:?}", report.violations);
            assert_eq!(ModelKind::guess(&h), Some(ModelKind::Mutex));
        }
    }
}

#[test]
fn a_holder_killed_inside_frees_its_lock_in_the_history() {
    // The token holder dies (with the token, often inside) and comes back half a second later.
    let mut kill = FaultSpec::new(Duration::from_secs(1), Action::Kill { node: Target::Leader });
    kill.lasting = Some(Duration::from_millis(500));
    let mut crashed = 0;
    for seed in 0..8 {
        let h = history(&config("token-ring", seed, vec![kill.clone()]));
        crashed += h.counts().info;
        let report = check(&h, ModelKind::Mutex, CheckOptions::default()).unwrap();
        assert_eq!(report.outcome, Outcome::Linearizable, "seed {seed}: {:?}", report.violations);
    }
    assert!(crashed > 0, "some kill left an operation open");
}

#[test]
fn two_holders_at_once_in_a_trace_are_not_linearizable() {
    // Swap one exit with the next entry of another node: the history is what a broken lock gives.
    let h = history(&config("lamport", 3, vec![]));
    let mut events = h.events().to_vec();
    let enter =
        events.iter().position(|e| e.f == "acquire" && e.kind == algorithms::check::history::EventType::Ok).unwrap();
    let holder = events[enter].process;
    let key = events[enter].key.clone();
    let release =
        events.iter().skip(enter).position(|e| e.f == "release" && e.process == holder && e.key == key).unwrap()
            + enter;
    let other = events
        .iter()
        .skip(release)
        .position(|e| {
            e.f == "acquire"
                && e.kind == algorithms::check::history::EventType::Ok
                && e.key == key
                && e.process != holder
        })
        .unwrap()
        + release;
    // Move the other node's grant to just before the release.
    let grant = events.remove(other);
    events.insert(release, grant);
    let broken = History::from_events(events).unwrap();
    assert_eq!(check(&broken, ModelKind::Mutex, CheckOptions::default()).unwrap().outcome, Outcome::NotLinearizable);
}

//! Lease-based locking with fencing tokens (`lease-lock`) in the simulator: crashes and restarts
//! of the holder, the lock service and the storage over hundreds of seeds; and the drift of
//! `configs/lease-fencing.toml`, where two clients believe they hold the lock, with fencing (the
//! stale write is rejected) and without (it is accepted, and `fenced_writes` says so).

use crate::common::*;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::{json, Value};

fn lock(seed: u64, params: Value, faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("lease-lock", 5, seed, 10.0, params), faults)
}

/// The holder dies and returns; the lock service (node 1), then the storage (node 2), die for a
/// while.
fn crashes_and_restarts() -> Vec<FaultSpec> {
    vec![
        fault(1.5, Action::Kill { node: Target::Leader }),
        fault(3.5, Action::Restart { node: Target::LastKilled }),
        lasting(4.5, 1.0, Action::Kill { node: Target::Id(1) }),
        lasting(6.0, 0.8, Action::Kill { node: Target::Id(2) }),
    ]
}

/// `configs/lease-fencing.toml`: the holder's clock at 0.4×, then cut off for 2.3 s.
fn drift(fencing: bool) -> (Value, Vec<FaultSpec>) {
    let params =
        json!({ "lease_duration_ms": 1500, "renew_deadline_ms": 1400, "retry_period_ms": 200, "fencing": fencing });
    let faults = vec![
        fault(1.0, Action::Drift { node: Target::Leader, rate: 0.4 }),
        lasting(1.5, 2.3, partition("isolate:leader")),
    ];
    (params, faults)
}

#[test]
fn lease_lock_holds_every_property_over_150_seeds_with_crashes_and_restarts() {
    all_hold(0..150, |seed| lock(seed, json!({}), crashes_and_restarts()));
}

/// With fencing, every seed: the storage never accepts a lower token, and the stale holder's
/// write after the heal is rejected and named in `stale_writes_rejected`, while the lease's
/// overlap shows the two believed holders.
#[test]
fn with_fencing_the_stale_holders_write_is_rejected_over_100_seeds() {
    for seed in 0..100 {
        let (params, faults) = drift(true);
        let (_, report) = run(&lock(seed, params, faults));
        assert_eq!(report.verdict(), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        let rejected = report.metrics["stale_writes_rejected"].as_array().unwrap();
        assert!(!rejected.is_empty(), "seed {seed}: no stale write reached the storage: {report:#?}");
        assert!(rejected[0]["token"].as_u64() < rejected[0]["highest"].as_u64(), "{rejected:?}");
        assert_eq!(report.metrics["lease_overlap"]["overlap"], true, "seed {seed}: {report:#?}");
    }
}

/// Without fencing the same runs break `fenced_writes`: the storage accepts the stale holder's
/// lower token after the new holder's, and the detail names both.
#[test]
fn without_fencing_the_stale_holders_write_is_accepted_over_100_seeds() {
    for seed in 0..100 {
        let (params, faults) = drift(false);
        let (_, report) = run(&lock(seed, params, faults));
        let p = property(&report, "fenced_writes");
        assert_eq!(p.verdict, Verdict::Violated, "seed {seed}: {p:#?}");
        assert!(p.detail.contains("a stale holder's write got through"), "{}", p.detail);
        assert_eq!(p.evidence.len(), 2, "the higher token's acceptance and the stale one's");
        assert_eq!(property(&report, "single_writer_per_token").verdict, Verdict::Held);
    }
}

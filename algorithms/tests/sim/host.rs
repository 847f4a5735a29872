//! The simulator as a host: persisted state survives a crash (and state that does not decode
//! stops the simulation), stale timers never fire, and partitions cut exactly the links between
//! groups.

use crate::common::{experiment, partition, with_faults};
use algorithms::algorithm::{Family, NoParams, PropertyInfo, Spec};
use algorithms::check::{CheckReport, Execution};
use algorithms::core::event::Event;
use algorithms::faults::{Action, FaultSpec, Target};
use algorithms::process::Timer;
use algorithms::sim::{simulate, SimConfig};
use algorithms::trace::What;
use algorithms::{Ctx, Message, NodeId, Process, Status, MS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Counts its ticks durably, pings every peer on each tick, and sets a timer it always cancels.
struct Counter {
    ticks: u64,
    /// Persist something that is not a count (as a corrupt file would hold).
    garble: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ping(u64);

impl Message for Ping {
    fn kind(&self) -> &'static str {
        "ping"
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "data", rename_all = "snake_case")]
enum CounterEvent {
    Recovered { ticks: u64 },
    Pinged { from: NodeId, n: u64 },
}

impl Event for CounterEvent {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CounterTimer {
    Tick,
    Never,
}

impl Timer for CounterTimer {}

impl Process for Counter {
    type Msg = Ping;
    type Timer = CounterTimer;
    type Durable = u64;

    fn on_start(&mut self, ctx: &mut Ctx<CounterTimer>, recovered: Option<u64>) {
        self.ticks = recovered.unwrap_or(0);
        ctx.emit(&CounterEvent::Recovered { ticks: self.ticks });
        ctx.set_timer(CounterTimer::Tick, 100 * MS);
    }

    fn on_message(&mut self, ctx: &mut Ctx<CounterTimer>, from: NodeId, msg: Ping) {
        ctx.emit(&CounterEvent::Pinged { from, n: msg.0 });
    }

    fn on_timer(&mut self, ctx: &mut Ctx<CounterTimer>, timer: CounterTimer) {
        assert_eq!(timer, CounterTimer::Tick, "the cancelled timer must never fire");
        self.ticks += 1;
        match self.garble {
            false => ctx.persist(&self.ticks),
            true => ctx.persist(&"not a count"),
        }
        ctx.broadcast(&Ping(self.ticks));
        ctx.set_timer(CounterTimer::Never, 50 * MS);
        ctx.cancel_timer(CounterTimer::Never);
        ctx.set_timer(CounterTimer::Tick, 100 * MS);
    }

    fn status(&self) -> Status {
        Status::default()
    }
}

struct CounterAlgorithm;

impl Spec for CounterAlgorithm {
    const NAME: &'static str = "counter";
    const FAMILY: Family = Family::Load;
    const SUMMARY: &'static str = "test double";
    type Params = NoParams;

    fn properties() -> Vec<PropertyInfo> {
        vec![]
    }

    fn build(_: NodeId, _: &[NodeId], _: &NoParams) -> Result<impl Process, String> {
        Ok(Counter { ticks: 0, garble: false })
    }

    fn check(_: &Execution, _: &NoParams) -> CheckReport {
        CheckReport::default()
    }
}

/// The counter, persisting what it cannot read back.
struct GarbledCounter;

impl Spec for GarbledCounter {
    const NAME: &'static str = "garbled-counter";
    const FAMILY: Family = Family::Load;
    const SUMMARY: &'static str = "test double that persists what it cannot decode";
    type Params = NoParams;

    fn properties() -> Vec<PropertyInfo> {
        vec![]
    }

    fn build(_: NodeId, _: &[NodeId], _: &NoParams) -> Result<impl Process, String> {
        Ok(Counter { ticks: 0, garble: true })
    }

    fn check(_: &Execution, _: &NoParams) -> CheckReport {
        CheckReport::default()
    }
}

fn config(faults: Vec<FaultSpec>) -> SimConfig {
    with_faults(experiment("counter", 3, 1, 2.0, Value::Null), faults)
}

#[test]
fn persisted_state_survives_a_crash_and_restart() {
    let faults = vec![
        FaultSpec::new(Duration::from_millis(1050), Action::Kill { node: Target::Id(2) }),
        FaultSpec::new(Duration::from_millis(1500), Action::Restart { node: Target::Id(2) }),
    ];
    let outcome = simulate(&CounterAlgorithm, &config(faults)).unwrap();
    let recovered: Vec<u64> = outcome
        .run
        .records
        .iter()
        .filter(|r| r.node == 2)
        .filter_map(|r| match r.event_as::<CounterEvent>() {
            Some(CounterEvent::Recovered { ticks }) => Some(ticks),
            _ => None,
        })
        .collect();
    assert_eq!(recovered, vec![0, 10], "ten ticks persisted before the crash at 1.05 s");
    // Nothing is recorded for node 2 while it is down.
    assert!(!outcome.run.records.iter().any(|r| r.node == 2 && r.t > 1_050 * MS && r.t < 1_500 * MS));
    // Clocks keep counting across the restart: the node's own entry rises by one per record.
    let own: Vec<u64> = outcome.run.records.iter().filter(|r| r.node == 2).map(|r| r.vc.get(2)).collect();
    assert_eq!(own, (1..=own.len() as u64).collect::<Vec<_>>());
}

#[test]
fn persisted_state_that_does_not_decode_stops_the_simulation() {
    let faults = vec![
        FaultSpec::new(Duration::from_millis(1050), Action::Kill { node: Target::Id(2) }),
        FaultSpec::new(Duration::from_millis(1500), Action::Restart { node: Target::Id(2) }),
    ];
    let err = simulate(&GarbledCounter, &config(faults)).err().expect("no run from state that does not decode");
    assert!(err.contains("node 2") && err.contains("1500 ms") && err.contains("u64"), "{err}");
}

#[test]
fn a_partition_cuts_only_links_between_groups() {
    let faults = vec![FaultSpec::new(Duration::ZERO, partition("1,2|3"))];
    let outcome = simulate(&CounterAlgorithm, &config(faults)).unwrap();
    let received = |to: NodeId, from: NodeId| {
        outcome.run.records.iter().any(|r| r.node == to && matches!(r.what, What::Recv { from: f, .. } if f == from))
    };
    assert!(received(1, 2) && received(2, 1));
    assert!(!received(3, 1) && !received(1, 3) && !received(2, 3));
}

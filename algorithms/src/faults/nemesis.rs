//! The nemesis: a seeded plan of faults drawn from a list of kinds, expanded into an ordinary
//! schedule so that real runs and the simulator see the same faults for the same seed.

use super::{Action, CutMode, Delay, FaultSpec, LinkSpec, PartitionSpec, Target};
use crate::core::process::NodeId;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A nemesis: every `interval`, a fault drawn from `kinds` with the run's seed, lasting half the
/// interval; none in the last `recovery` of the run, so that liveness can be judged after a
/// safety phase. It expands to an ordinary schedule, so real runs and the simulator see the same
/// faults for the same seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nemesis {
    #[serde(with = "humantime_serde")]
    pub start: Duration,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub recovery: Duration,
    pub kinds: Vec<NemesisKind>,
}

impl Default for Nemesis {
    fn default() -> Self {
        use NemesisKind::*;
        Nemesis {
            start: Duration::from_secs(1),
            interval: Duration::from_secs(1),
            recovery: Duration::from_secs(3),
            kinds: vec![Kill, Pause, PartitionHalves, IsolateLeader],
        }
    }
}

/// Declares [`NemesisKind`] and [`NemesisKind::ALL`] from one list, so a new kind cannot be left
/// out of `ALL` (the README's order, and the list the tests draw every kind from).
macro_rules! nemesis_kinds {
    ($($(#[$doc:meta])* $kind:ident,)+) => {
        /// One kind of fault the nemesis draws, as written in `kinds` (`"partition-halves"`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum NemesisKind {
            $($(#[$doc])* $kind,)+
        }

        impl NemesisKind {
            /// Every kind, in the order the README lists them.
            pub const ALL: &'static [NemesisKind] = &[$(NemesisKind::$kind,)+];
        }
    };
}

nemesis_kinds! {
    /// SIGKILL a node drawn at random.
    Kill,
    KillLeader,
    /// SIGSTOP a node drawn at random.
    Pause,
    PauseLeader,
    PartitionHalves,
    PartitionRandomHalves,
    PartitionMajoritiesRing,
    PartitionBridge,
    IsolateRandom,
    IsolateLeader,
    /// Cut one directed link drawn at random.
    OneWay,
    /// Lose half the messages of one directed link.
    LinkLoss,
    /// Delay one directed link by 20–100 ms.
    LinkDelay,
    /// Delay one directed link by 150–400 ms: slower than most timeouts, so replies come back
    /// after their sender has given up on them (a vote after its candidacy ended, a bully ANSWER
    /// after the answer timeout).
    LinkSlow,
    LinkDuplicate,
    LinkReorder,
    /// One node's clock runs twice as fast.
    Drift,
    /// One node's state set to arbitrary values (self-stabilizing algorithms only).
    Corrupt,
}

impl NemesisKind {
    /// The action of this kind, aimed at `node` or at `link` where the kind needs one.
    fn action(self, node: Target, link: impl FnOnce() -> LinkSpec) -> Action {
        use NemesisKind::*;
        let partition = |groups| Action::Partition { groups, mode: CutMode::Blackhole };
        match self {
            Kill => Action::Kill { node },
            KillLeader => Action::Kill { node: Target::Leader },
            Pause => Action::Pause { node },
            PauseLeader => Action::Pause { node: Target::Leader },
            PartitionHalves => partition(PartitionSpec::Halves),
            PartitionRandomHalves => partition(PartitionSpec::RandomHalves),
            PartitionMajoritiesRing => partition(PartitionSpec::MajoritiesRing),
            PartitionBridge => partition(PartitionSpec::Bridge),
            IsolateRandom => partition(PartitionSpec::Isolate(node)),
            IsolateLeader => partition(PartitionSpec::Isolate(Target::Leader)),
            OneWay => Action::Link(LinkSpec { cut: true, ..link() }),
            LinkLoss => Action::Link(LinkSpec { loss: 0.5, ..link() }),
            LinkDelay => {
                Action::Link(LinkSpec { delay: Some(Delay::Uniform { min_ms: 20.0, max_ms: 100.0 }), ..link() })
            }
            LinkSlow => {
                Action::Link(LinkSpec { delay: Some(Delay::Uniform { min_ms: 150.0, max_ms: 400.0 }), ..link() })
            }
            LinkDuplicate => Action::Link(LinkSpec { duplicate: 0.5, ..link() }),
            LinkReorder => Action::Link(LinkSpec { reorder: 0.5, ..link() }),
            Drift => Action::Drift { node, rate: 2.0 },
            Corrupt => Action::Corrupt { node },
        }
    }
}

impl Nemesis {
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.is_zero() {
            return Err("nemesis.interval must be above zero".into());
        }
        if self.kinds.is_empty() {
            return Err("nemesis.kinds is empty".into());
        }
        Ok(())
    }

    /// The faults of a run of `duration` on `nodes` nodes.
    pub fn plan(&self, nodes: usize, duration: Duration, seed: u64) -> Vec<FaultSpec> {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
        let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
        let lasting = self.interval / 2;
        let stop = duration.saturating_sub(self.recovery);
        let mut plan = Vec::new();
        let mut at = self.start;
        while at + lasting <= stop && nodes >= 2 {
            let kind = *self.kinds.choose(&mut rng).expect("validated: not empty");
            let node = Target::Id(*ids.choose(&mut rng).expect("nodes"));
            let link = || {
                let from = *ids.choose(&mut rng).expect("nodes");
                let to = *ids.iter().filter(|n| **n != from).collect::<Vec<_>>().choose(&mut rng).expect("two nodes");
                LinkSpec::clear(from, *to)
            };
            let action = kind.action(node, link);
            // A corruption is not undone: the algorithm recovers by itself.
            let lasting = action.undo().map(|_| lasting);
            plan.push(FaultSpec { at, lasting, action });
            at += self.interval;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nemesis_plans_the_same_faults_for_the_same_seed_and_leaves_a_quiet_end() {
        let nemesis = Nemesis { kinds: NemesisKind::ALL.to_vec(), ..Nemesis::default() };
        nemesis.validate().unwrap();
        let plan = nemesis.plan(5, Duration::from_secs(20), 9);
        assert_eq!(plan, nemesis.plan(5, Duration::from_secs(20), 9));
        assert_ne!(plan, nemesis.plan(5, Duration::from_secs(20), 10));
        assert_eq!(plan.len(), 16, "one fault a second from 1 s to 16.5 s");
        assert_eq!(NemesisKind::ALL.len(), 18, "every kind, link-slow and corrupt included");
        assert!(plan.iter().all(|f| f.at + f.lasting.unwrap_or_default() <= Duration::from_secs(17)));
        assert!(plan.iter().all(|f| f.validate(5).is_ok()));
        assert!(plan.iter().all(|f| f.action.validate(5).is_ok()));
        let err = serde_json::from_value::<Nemesis>(serde_json::json!({"kinds": ["kill", "meteor"]}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("meteor") && err.contains("partition-halves"), "{err}");
    }

    #[test]
    fn link_slow_delays_one_link_past_the_usual_timeouts() {
        let nemesis = Nemesis { kinds: vec![NemesisKind::LinkSlow], ..Nemesis::default() };
        let plan = nemesis.plan(3, Duration::from_secs(6), 1);
        assert!(!plan.is_empty());
        for f in &plan {
            let Action::Link(spec) = &f.action else { panic!("not a link fault: {f:?}") };
            assert_eq!(spec.delay, Some(Delay::Uniform { min_ms: 150.0, max_ms: 400.0 }));
            assert!(!spec.cut && spec.loss == 0.0 && spec.from != spec.to);
        }
        let kind: NemesisKind = serde_json::from_value(serde_json::json!("link-slow")).unwrap();
        assert_eq!(kind, NemesisKind::LinkSlow);
    }
}

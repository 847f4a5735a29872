//! An election's suspicion of its leader through a chosen failure detector: `detector =
//! "timeout"` (the default: suspect `leader_timeout_ms` after the last heartbeat) or `"phi"`
//! (suspect when φ of the leader's heartbeat arrivals reaches `phi_threshold`). Bully and the ring
//! elections feed it every heartbeat of their leader and wait as long as it says.

use super::detector::{Detector, DetectorSpec, FailureDetector, PhiSettings};
use crate::core::process::{Nanos, NodeId, MS};
use serde::{Deserialize, Serialize};

/// Which detector an election uses to suspect its leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorChoice {
    /// A fixed `leader_timeout_ms` after the last heartbeat.
    #[default]
    Timeout,
    /// φ-accrual over the leader's heartbeats, suspecting at `phi_threshold`.
    Phi,
}

/// A follower's detector of its current leader; a new leader gets a fresh one.
#[derive(Clone, Debug)]
pub struct LeaderDetector {
    spec: DetectorSpec,
    heartbeat: Nanos,
    watching: Option<(NodeId, Detector)>,
}

impl LeaderDetector {
    /// For an election whose leader heartbeats every `heartbeat_ms`.
    pub fn new(choice: DetectorChoice, heartbeat_ms: u64, leader_timeout_ms: u64, phi_threshold: f64) -> Self {
        let spec = match choice {
            DetectorChoice::Timeout => DetectorSpec::Timeout(leader_timeout_ms * MS),
            DetectorChoice::Phi => {
                DetectorSpec::Phi(PhiSettings { threshold: phi_threshold, ..PhiSettings::default() })
            }
        };
        LeaderDetector { spec, heartbeat: heartbeat_ms * MS, watching: None }
    }

    /// Checks `phi_threshold` when φ is chosen; the error names the key.
    pub fn validate(choice: DetectorChoice, phi_threshold: f64) -> Result<(), String> {
        match choice {
            DetectorChoice::Timeout => Ok(()),
            DetectorChoice::Phi => PhiSettings { threshold: phi_threshold, ..PhiSettings::default() }.validate("phi_"),
        }
    }

    /// `leader` showed it is alive at `now` (a heartbeat, or its election): how long from now
    /// until it is suspected, if nothing more comes.
    pub fn heard(&mut self, leader: NodeId, now: Nanos) -> Nanos {
        match &mut self.watching {
            Some((watched, detector)) if *watched == leader => detector.heartbeat(now),
            _ => self.watching = Some((leader, self.spec.detector(self.heartbeat, now))),
        }
        let (_, detector) = self.watching.as_ref().expect("watching");
        detector.suspect_at(now) - now
    }

    /// How long the detector waits after a heartbeat, for arrivals spread up to the heartbeat
    /// interval itself: for the election bound.
    pub fn patience_ms(choice: DetectorChoice, heartbeat_ms: u64, leader_timeout_ms: u64, phi_threshold: f64) -> u64 {
        let d = LeaderDetector::new(choice, heartbeat_ms, leader_timeout_ms, phi_threshold);
        d.spec.patience(d.heartbeat, 4.0).div_ceil(MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_choice_waits_the_leader_timeout_after_every_heartbeat() {
        let mut d = LeaderDetector::new(DetectorChoice::Timeout, 50, 250, 8.0);
        assert_eq!(d.heard(5, 0), 250 * MS);
        assert_eq!(d.heard(5, 40 * MS), 250 * MS);
        assert_eq!(LeaderDetector::patience_ms(DetectorChoice::Timeout, 50, 250, 8.0), 250);
    }

    #[test]
    fn phi_learns_its_leaders_rhythm_and_starts_afresh_with_a_new_leader() {
        let mut d = LeaderDetector::new(DetectorChoice::Phi, 50, 250, 8.0);
        // The seed: mean 50, deviation 12.5: φ = 8 at 115.3 ms.
        let first = d.heard(5, 0);
        assert!((first as f64 / MS as f64 - 115.3).abs() < 0.1, "{first}");
        // Irregular heartbeats (30 and 90 ms apart) widen the window: it waits longer.
        let mut t = 0;
        for gap in [30, 90, 30, 90, 30, 90] {
            t += gap * MS;
            d.heard(5, t);
        }
        let jittery = d.heard(5, t + 60 * MS);
        assert!(jittery > first + 20 * MS, "{jittery} vs {first}");
        // Another leader: the seed again.
        assert_eq!(d.heard(4, t + 70 * MS), first);
        assert_eq!(LeaderDetector::patience_ms(DetectorChoice::Phi, 50, 250, 8.0), 312);
    }

    #[test]
    fn a_bad_threshold_names_its_key() {
        assert!(LeaderDetector::validate(DetectorChoice::Phi, 0.0).unwrap_err().starts_with("params.phi_threshold"));
        assert!(LeaderDetector::validate(DetectorChoice::Timeout, 0.0).is_ok());
    }
}

//! Failure detectors as a pure library: fed the arrival times of one peer's heartbeats, each says
//! whether it suspects that peer now, and when it should be asked again.
//!
//! Two detectors, the two the course contrasts:
//!
//! - [`Heartbeat`]: a fixed timeout. It suspects once `timeout` has passed since the last
//!   heartbeat. Simple and exact, but the timeout is a guess about the network: a latency spike
//!   longer than the slack between the heartbeat interval and the timeout is a false suspicion
//!   ("may suspect a node has crashed when in fact the node is functioning fine").
//! - [`PhiAccrual`]: the φ-accrual detector (Hayashibara, Défago, Yared, Katayama, SRDS 2004), as
//!   Akka and Cassandra use it. Instead of a yes/no it keeps a sliding window of inter-arrival
//!   times and reports a suspicion level φ(Δt) = −log10(1 − F(Δt)), where Δt is the time since the
//!   last heartbeat and F the cumulative distribution of the inter-arrival times; it suspects when
//!   φ ≥ `threshold`. φ = 8 means "the chance that a heartbeat is still on its way is 10⁻⁸". The
//!   timeout it amounts to grows with the jitter it has seen, so it adapts to a jittery network.
//!
//! What the φ detector approximates, as Akka's does: F is a normal distribution with the window's
//! mean and standard deviation (the latter at least `min_std`), and its tail is computed with the
//! logistic approximation of the normal CDF, 1 − F(y) ≈ e/(1 + e) with
//! e = exp(−y·(1.5976 + 0.070566·y²)) and y = (Δt − mean)/std (maximum error about 0.00014,
//! Bowling et al. 2009). Before any inter-arrival time is known the window is seeded, as Akka
//! seeds it, with two intervals `expected ± expected/4` around the expected heartbeat interval.

use crate::core::process::{Nanos, MS};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One watched peer's failure detector, fed that peer's heartbeat arrivals on the local clock.
pub trait FailureDetector {
    /// A heartbeat from the peer arrived at `t`.
    fn heartbeat(&mut self, t: Nanos);

    /// The suspicion level at `t`: elapsed/timeout for [`Heartbeat`], φ for [`PhiAccrual`]; the
    /// peer is suspected once it reaches [`FailureDetector::threshold`].
    fn level(&self, t: Nanos) -> f64;

    /// The level at which the peer is suspected.
    fn threshold(&self) -> f64;

    /// Whether the peer is suspected at `t`.
    fn suspects(&self, t: Nanos) -> bool {
        self.level(t) >= self.threshold()
    }

    /// The first moment at or after `t` at which the peer is suspected if no heartbeat comes
    /// first: when to look again. The level only grows between heartbeats, so one look then
    /// suffices.
    fn suspect_at(&self, t: Nanos) -> Nanos;
}

/// The fixed-timeout detector: suspects `timeout` after the last heartbeat (or after it started
/// watching, before the first).
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub timeout: Nanos,
    last: Nanos,
}

impl Heartbeat {
    /// Starts watching at `now`, which counts as a heartbeat.
    pub fn new(timeout: Nanos, now: Nanos) -> Heartbeat {
        Heartbeat { timeout, last: now }
    }
}

impl FailureDetector for Heartbeat {
    fn heartbeat(&mut self, t: Nanos) {
        self.last = self.last.max(t);
    }

    fn level(&self, t: Nanos) -> f64 {
        t.saturating_sub(self.last) as f64 / self.timeout.max(1) as f64
    }

    fn threshold(&self) -> f64 {
        1.0
    }

    fn suspect_at(&self, t: Nanos) -> Nanos {
        (self.last + self.timeout).max(t)
    }
}

/// The φ-accrual detector (see the module doc): `window` inter-arrival times in milliseconds,
/// suspicion when φ ≥ `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhiAccrual {
    pub threshold: f64,
    pub window: usize,
    /// The smallest standard deviation assumed, in milliseconds: a perfectly regular history
    /// would otherwise make the smallest delay look like a crash.
    pub min_std_ms: f64,
    intervals: VecDeque<f64>,
    /// The window's sum and sum of squares, kept as it slides.
    sum: f64,
    squares: f64,
    last: Nanos,
}

/// The settings of a φ-accrual detector, as `[params]` give them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhiSettings {
    pub threshold: f64,
    pub window: usize,
    pub min_std_ms: f64,
}

impl Default for PhiSettings {
    /// Akka's defaults (threshold 8, 1000 samples), with a minimum deviation scaled to intervals
    /// of tens of milliseconds (Akka's 100 ms is for a 1 s interval).
    fn default() -> Self {
        PhiSettings { threshold: 8.0, window: 1000, min_std_ms: 10.0 }
    }
}

impl PhiSettings {
    /// Checks the settings; errors name the key as `params.<prefix><key>`.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if !(self.threshold > 0.0 && self.threshold.is_finite()) {
            return Err(format!("params.{prefix}threshold ({}) must be above 0", self.threshold));
        }
        if self.window < 2 {
            return Err(format!("params.{prefix}window ({}) must be at least 2", self.window));
        }
        if !(self.min_std_ms > 0.0 && self.min_std_ms.is_finite()) {
            return Err(format!("params.{prefix}min_std_ms ({}) must be above 0", self.min_std_ms));
        }
        Ok(())
    }

    /// A detector that starts watching at `now`, expecting a heartbeat every `expected`.
    pub fn detector(&self, expected: Nanos, now: Nanos) -> PhiAccrual {
        PhiAccrual::new(self.threshold, self.window, self.min_std_ms, expected, now)
    }
}

impl PhiAccrual {
    /// Starts watching at `now` (which counts as a heartbeat), with the window seeded around the
    /// `expected` interval (see the module doc).
    pub fn new(threshold: f64, window: usize, min_std_ms: f64, expected: Nanos, now: Nanos) -> PhiAccrual {
        let mean = expected as f64 / MS as f64;
        let mut detector = PhiAccrual {
            threshold,
            window: window.max(2),
            min_std_ms,
            intervals: VecDeque::new(),
            sum: 0.0,
            squares: 0.0,
            last: now,
        };
        detector.record(mean - mean / 4.0);
        detector.record(mean + mean / 4.0);
        detector
    }

    fn record(&mut self, interval_ms: f64) {
        if self.intervals.len() == self.window {
            let old = self.intervals.pop_front().expect("a full window");
            self.sum -= old;
            self.squares -= old * old;
        }
        self.intervals.push_back(interval_ms);
        self.sum += interval_ms;
        self.squares += interval_ms * interval_ms;
    }

    /// The window's mean and standard deviation (at least `min_std_ms`), in milliseconds.
    pub fn mean_std(&self) -> (f64, f64) {
        let n = self.intervals.len() as f64;
        let mean = self.sum / n;
        let variance = (self.squares / n - mean * mean).max(0.0);
        (mean, variance.sqrt().max(self.min_std_ms))
    }

    /// φ after `elapsed_ms` without a heartbeat.
    pub fn phi_after(&self, elapsed_ms: f64) -> f64 {
        let (mean, std) = self.mean_std();
        phi(elapsed_ms, mean, std)
    }
}

/// φ = −log10 P(a heartbeat comes later than `elapsed`), for normally distributed inter-arrival
/// times of this mean and deviation, with the logistic approximation of the tail (module doc).
/// Computed on the side that keeps precision: the tail e/(1+e) directly when late, 1 − 1/(1+e)
/// when early.
pub fn phi(elapsed_ms: f64, mean: f64, std: f64) -> f64 {
    let y = (elapsed_ms - mean) / std;
    let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
    if elapsed_ms > mean {
        -(e / (1.0 + e)).log10()
    } else {
        -(1.0 - 1.0 / (1.0 + e)).log10()
    }
}

impl FailureDetector for PhiAccrual {
    fn heartbeat(&mut self, t: Nanos) {
        if t > self.last {
            self.record((t - self.last) as f64 / MS as f64);
            self.last = t;
        }
    }

    fn level(&self, t: Nanos) -> f64 {
        self.phi_after(t.saturating_sub(self.last) as f64 / MS as f64)
    }

    fn threshold(&self) -> f64 {
        self.threshold
    }

    /// φ grows with the elapsed time, so the moment it reaches the threshold is found by
    /// bisection, to the nanosecond.
    fn suspect_at(&self, t: Nanos) -> Nanos {
        if self.suspects(t) {
            return t;
        }
        // Elapsed times (since the last heartbeat): `lo` not yet suspected, `hi` suspected.
        let (mean, std) = self.mean_std();
        let late = |elapsed: Nanos| phi(elapsed as f64 / MS as f64, mean, std) >= self.threshold;
        let mut lo = t - self.last;
        let mut hi = lo + ((mean + std) * MS as f64).max(1.0) as Nanos;
        while !late(hi) {
            hi += hi - lo;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if late(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        self.last + hi
    }
}

/// Which detector watches each peer: the two, behind one type, so a process can hold either.
#[derive(Clone, Debug, PartialEq)]
pub enum Detector {
    Heartbeat(Heartbeat),
    Phi(PhiAccrual),
}

impl FailureDetector for Detector {
    fn heartbeat(&mut self, t: Nanos) {
        match self {
            Detector::Heartbeat(d) => d.heartbeat(t),
            Detector::Phi(d) => d.heartbeat(t),
        }
    }

    fn level(&self, t: Nanos) -> f64 {
        match self {
            Detector::Heartbeat(d) => d.level(t),
            Detector::Phi(d) => d.level(t),
        }
    }

    fn threshold(&self) -> f64 {
        match self {
            Detector::Heartbeat(d) => d.threshold(),
            Detector::Phi(d) => d.threshold(),
        }
    }

    fn suspect_at(&self, t: Nanos) -> Nanos {
        match self {
            Detector::Heartbeat(d) => d.suspect_at(t),
            Detector::Phi(d) => d.suspect_at(t),
        }
    }
}

/// A detector as an experiment chooses it: what [`DetectorSpec::detector`] builds for each peer.
#[derive(Clone, Debug, PartialEq)]
pub enum DetectorSpec {
    /// [`Heartbeat`] with this timeout.
    Timeout(Nanos),
    /// [`PhiAccrual`] with these settings.
    Phi(PhiSettings),
}

impl DetectorSpec {
    /// A detector that starts watching a peer at `now`, which heartbeats every `interval`.
    pub fn detector(&self, interval: Nanos, now: Nanos) -> Detector {
        match self {
            DetectorSpec::Timeout(timeout) => Detector::Heartbeat(Heartbeat::new(*timeout, now)),
            DetectorSpec::Phi(settings) => Detector::Phi(settings.detector(interval, now)),
        }
    }

    /// How long after a heartbeat arrives the detector suspects, given heartbeats every `interval`
    /// whose arrivals spread `spread` times as much as the φ detector's seed assumes (the seed's
    /// deviation, a quarter of the interval, or `min_std_ms` if larger): for bounds a checker
    /// holds a run to.
    pub fn patience(&self, interval: Nanos, spread: f64) -> Nanos {
        match self {
            DetectorSpec::Timeout(timeout) => *timeout,
            DetectorSpec::Phi(s) => {
                let mean = interval as f64 / MS as f64;
                let std = (mean / 4.0).max(s.min_std_ms) * spread;
                let mut d = PhiAccrual::new(s.threshold, 2, std, interval, 0);
                d.record(mean);
                d.record(mean);
                d.suspect_at(0)
            }
        }
    }

    /// The detector's name and setting as tables show it: `timeout 200 ms`, `φ 8`.
    pub fn describe(&self) -> String {
        match self {
            DetectorSpec::Timeout(timeout) => format!("timeout {} ms", timeout / MS),
            DetectorSpec::Phi(s) => format!("φ {}", s.threshold),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn the_timeout_detector_suspects_exactly_at_the_timeout() {
        let mut d = Heartbeat::new(100 * MS, 0);
        assert_eq!(d.suspect_at(0), 100 * MS);
        assert!(!d.suspects(100 * MS - 1));
        assert!(d.suspects(100 * MS));
        d.heartbeat(80 * MS);
        assert_eq!(d.suspect_at(90 * MS), 180 * MS);
        assert!(close(d.level(130 * MS), 0.5));
        d.heartbeat(50 * MS);
        assert_eq!(d.suspect_at(90 * MS), 180 * MS, "a late-delivered older heartbeat changes nothing");
        assert_eq!(d.suspect_at(500 * MS), 500 * MS, "already suspected: now");
    }

    #[test]
    fn phi_of_a_normal_history_at_known_points() {
        // Mean 100, deviation 10: at the mean the tail is one half, φ = log10 2.
        assert!(close(phi(100.0, 100.0, 10.0), std::f64::consts::LOG10_2), "{}", phi(100.0, 100.0, 10.0));
        // One deviation late: logistic tail e/(1+e), e = exp(−1.668166): φ = 0.79951 (the exact
        // normal tail 0.158655 gives 0.79953).
        assert!(close(phi(110.0, 100.0, 10.0), 0.79951), "{}", phi(110.0, 100.0, 10.0));
        // Three deviations late: e = exp(−6.697582), φ = 2.90948 (exact normal: 2.86966).
        assert!(close(phi(130.0, 100.0, 10.0), 2.90948), "{}", phi(130.0, 100.0, 10.0));
        // One deviation early: 1 − 1/(1+e), e = exp(1.668166): φ = 0.07503.
        assert!(close(phi(90.0, 100.0, 10.0), 0.07503), "{}", phi(90.0, 100.0, 10.0));
    }

    #[test]
    fn phi_follows_its_window() {
        // Seeded around 100 ms: intervals 75 and 125, mean 100, deviation 25.
        let mut d = PhiAccrual::new(8.0, 4, 1.0, 100 * MS, 0);
        assert_eq!(d.mean_std(), (100.0, 25.0));
        // Heartbeats at 100, 200, 300: the window of 4 keeps 125, 100, 100, 100.
        for k in 1..=3 {
            d.heartbeat(k * 100 * MS);
        }
        let (mean, std) = d.mean_std();
        assert!(close(mean, 106.25) && close(std, 10.825318), "{mean} {std}");
        // 130 ms after the last heartbeat: y = 23.75/10.825 = 2.19393.
        assert!(close(d.level(430 * MS), phi(130.0, 106.25, 10.825318)));
        assert!(close(d.level(430 * MS), 1.85199), "{}", d.level(430 * MS));
        // One more regular heartbeat: all four 100, the deviation floors at min_std = 1.
        d.heartbeat(400 * MS);
        assert_eq!(d.mean_std(), (100.0, 1.0));
        assert!(d.suspects(400 * MS + 106 * MS), "six deviations late: φ > 8");
    }

    #[test]
    fn phi_suspects_where_it_says_it_will() {
        let mut d = PhiAccrual::new(8.0, 100, 5.0, 100 * MS, 0);
        for k in 1..=20 {
            d.heartbeat(k * 100 * MS + (k % 3) * 7 * MS);
        }
        let now = 2_014 * MS;
        let at = d.suspect_at(now);
        assert!(at > now);
        assert!(!d.suspects(at - 1) && d.suspects(at), "{at}");
        assert!(d.level(at) >= 8.0 && d.level(at - 1) < 8.0);
        // A jittery history waits longer than a steady one of the same mean.
        let mut steady = PhiAccrual::new(8.0, 100, 5.0, 100 * MS, 0);
        for k in 1..=20 {
            steady.heartbeat(k * 100 * MS);
        }
        assert!(steady.suspect_at(2_000 * MS) - 2_000 * MS < at - 2_014 * MS);
    }

    #[test]
    fn patience_is_where_phi_reaches_its_threshold() {
        // Mean 50 ms, deviation 12.5 ms: φ = 8 at y ≈ 5.22, 115.3 ms after the heartbeat.
        let phi = DetectorSpec::Phi(PhiSettings::default());
        let ms = phi.patience(50 * MS, 1.0) as f64 / MS as f64;
        assert!((ms - 115.3).abs() < 0.1, "{ms}");
        // Four times the spread: 50 + 5.226 × 50 ms.
        let ms = phi.patience(50 * MS, 4.0) as f64 / MS as f64;
        assert!((ms - 311.3).abs() < 0.2, "{ms}");
        assert_eq!(DetectorSpec::Timeout(200 * MS).patience(50 * MS, 4.0), 200 * MS);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = PhiSettings { threshold: 0.0, ..Default::default() };
        assert!(bad.validate("phi_").unwrap_err().starts_with("params.phi_threshold"));
        let bad = PhiSettings { window: 1, ..Default::default() };
        assert!(bad.validate("").unwrap_err().starts_with("params.window"));
        let bad = PhiSettings { min_std_ms: -1.0, ..Default::default() };
        assert!(bad.validate("").unwrap_err().starts_with("params.min_std_ms"));
        assert!(PhiSettings::default().validate("").is_ok());
    }
}

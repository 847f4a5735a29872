//! The time the node's algorithms see, which the orchestrator's clock-drift fault can speed up or
//! slow down (`{"op":"drift","rate":1.5}`).
//!
//! Only the algorithms' view drifts: `ctx.now()` advances `rate` times as fast as true time and
//! a timer of `after` fires after `after / rate` of true time. Trace timestamps stay on the true
//! monotonic clock, so traces of drifting and non-drifting nodes still merge by time.

use algorithms::Nanos;
use std::cell::Cell;
use std::time::Duration;

pub struct DriftClock {
    rate: Cell<f64>,
    /// The true time and the drifted time at the last change of rate: the drifted clock is
    /// continuous, it only changes speed.
    since_true: Cell<Nanos>,
    since_drifted: Cell<Nanos>,
}

impl Default for DriftClock {
    fn default() -> Self {
        let now = node::monotonic_ns();
        DriftClock { rate: Cell::new(1.0), since_true: Cell::new(now), since_drifted: Cell::new(now) }
    }
}

impl DriftClock {
    /// The drifted time at true time `t`.
    pub fn at(&self, t: Nanos) -> Nanos {
        let rate = self.rate.get();
        if rate == 1.0 {
            return self.since_drifted.get() + t.saturating_sub(self.since_true.get());
        }
        let elapsed = t.saturating_sub(self.since_true.get()) as f64 * rate;
        self.since_drifted.get() + elapsed as Nanos
    }

    /// How long in true time a timer of `after` drifted nanoseconds takes.
    pub fn delay(&self, after: Nanos) -> Duration {
        Duration::from_nanos((after as f64 / self.rate.get()) as u64)
    }

    /// Changes the speed from now on; the rate must be a positive finite number.
    pub fn set_rate(&self, rate: f64) -> Result<(), String> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("drift rate {rate} must be a positive number (1.0 is true time)"));
        }
        let now = node::monotonic_ns();
        self.since_drifted.set(self.at(now));
        self.since_true.set(now);
        self.rate.set(rate);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_changes_speed_without_jumping() {
        let clock = DriftClock::default();
        let t0 = clock.since_true.get();
        assert_eq!(clock.at(t0 + 1000), t0 + 1000, "true time at rate 1");
        clock.set_rate(2.0).unwrap();
        let (base_true, base_drifted) = (clock.since_true.get(), clock.since_drifted.get());
        assert!(base_drifted >= base_true, "continuous: no step back");
        assert_eq!(clock.at(base_true + 1000), base_drifted + 2000);
        assert_eq!(clock.delay(1000), Duration::from_nanos(500));
        clock.set_rate(0.5).unwrap();
        assert_eq!(clock.delay(1000), Duration::from_nanos(2000));
        assert!(clock.set_rate(0.0).is_err() && clock.set_rate(f64::NAN).is_err() && clock.set_rate(-1.0).is_err());
    }
}

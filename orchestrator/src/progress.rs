//! Progress while a run goes: a bar on a terminal (indicatif), plain lines elsewhere.
//!
//! A run of a minute is long to stare at a silent terminal, but a bar's redraws are noise in a
//! CI log or a detached cluster's log file, so the two cases differ: on a terminal the bar
//! redraws in place on stderr and fault lines print above it; when stderr is not a terminal,
//! a plain line is printed at every tenth of the run (or every 30 s for a cluster that stays up)
//! and fault lines are printed as they come.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed for a run without an end (`up`).
const PLAIN_OPEN_ENDED: Duration = Duration::from_secs(30);

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Known for a run with a duration or a count of seeds.
    total: Option<f64>,
    unit: Unit,
    /// Plain mode: the next value at which a line is due.
    next_line: f64,
    started: Instant,
    last: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Seeds,
}

impl Progress {
    /// Progress over a run's time; `duration` is `None` for a cluster that stays up until `down`.
    pub fn run(duration: Option<Duration>) -> Progress {
        let total = duration.map(|d| d.as_secs_f64());
        Progress::new(total, Unit::Seconds, std::io::stderr().is_terminal())
    }

    /// Progress over a sweep of `count` seeds.
    pub fn seeds(count: u64) -> Progress {
        Progress::new(Some(count as f64), Unit::Seeds, std::io::stderr().is_terminal())
    }

    fn new(total: Option<f64>, unit: Unit, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let (bar, template) = match (total, unit) {
                (Some(t), Unit::Seconds) => {
                    (ProgressBar::new((t * 1000.0) as u64), "{spinner:.green} [{bar:32.cyan/blue}] {msg}")
                }
                (Some(t), Unit::Seeds) => {
                    (ProgressBar::new(t as u64), "{spinner:.green} [{bar:32.cyan/blue}] {msg} ({eta} left)")
                }
                (None, _) => (ProgressBar::new_spinner(), "{spinner:.green} {msg}"),
            };
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let step = Progress::plain_step(total, unit);
        Progress { bar, total, unit, next_line: step, started: Instant::now(), last: 0.0 }
    }

    fn plain_step(total: Option<f64>, unit: Unit) -> f64 {
        match (total, unit) {
            (Some(t), _) => t / 10.0,
            (None, Unit::Seconds) => PLAIN_OPEN_ENDED.as_secs_f64(),
            (None, Unit::Seeds) => f64::INFINITY,
        }
    }

    /// The run has been going for `elapsed`.
    pub fn at(&mut self, elapsed: Duration) {
        self.advance(elapsed.as_secs_f64());
    }

    /// One more seed done.
    pub fn inc(&mut self) {
        self.advance(self.last + 1.0);
    }

    fn advance(&mut self, value: f64) {
        self.last = value;
        let text = self.describe(value);
        if let Some(bar) = &self.bar {
            match self.unit {
                Unit::Seconds if self.total.is_some() => bar.set_position((value * 1000.0) as u64),
                Unit::Seconds => {}
                Unit::Seeds => bar.set_position(value as u64),
            }
            bar.set_message(text);
        } else if value + 1e-9 >= self.next_line && value > 0.0 {
            eprintln!("progress: {text}");
            let step = Progress::plain_step(self.total, self.unit);
            while self.next_line <= value + 1e-9 {
                self.next_line += step;
            }
        }
    }

    fn describe(&self, value: f64) -> String {
        match (self.unit, self.total) {
            (Unit::Seconds, Some(t)) => format!("{value:.1} s of {t:.1} s"),
            (Unit::Seconds, None) => format!("cluster up {value:.0} s (stop it with `orchestrator down`)"),
            (Unit::Seeds, Some(t)) => {
                format!("{value:.0} of {t:.0} seeds ({:.1} s)", self.started.elapsed().as_secs_f64())
            }
            (Unit::Seeds, None) => format!("{value:.0} seeds"),
        }
    }

    /// A line for the user (a fault applied, a failing seed), above the bar if there is one.
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.println(line.as_ref()),
            None => eprintln!("{}", line.as_ref()),
        }
    }

    /// A line for stdout (a failing seed belongs with the sweep's result), clear of the bar.
    pub fn stdout_line(&self, line: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{}", line.as_ref())),
            None => println!("{}", line.as_ref()),
        }
    }

    /// Removes the bar (the summary follows).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mode_prints_at_every_tenth() {
        let mut p = Progress::new(Some(10.0), Unit::Seconds, false);
        assert_eq!(p.next_line, 1.0);
        p.at(Duration::from_millis(500));
        assert_eq!(p.next_line, 1.0, "not due yet");
        p.at(Duration::from_millis(3500));
        assert_eq!(p.next_line, 4.0, "one line for the jump, then the next tenth");
        let open = Progress::new(None, Unit::Seconds, false);
        assert_eq!(open.next_line, 30.0);
        assert_eq!(open.describe(12.0), "cluster up 12 s (stop it with `orchestrator down`)");
    }
}

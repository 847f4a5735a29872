//! `orchestrator run` (one experiment for its duration) and `orchestrator up` (a cluster that
//! stays up until `orchestrator down`). Both apply the experiment's schedule and nemesis, serve
//! live commands on the run's control socket, and end by judging the traces.

use crate::experiment::Experiment;
use crate::live::{DownRequest, LiveServer};
use crate::network::NetMode;
use crate::report::Summary;
use crate::session::Session;
use crate::Failure;
use algorithms::faults::FaultSpec;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What `up` does once the cluster is up (tell the user, or the parent of a detached run).
pub type OnReady = Box<dyn FnOnce(&std::path::Path)>;

pub struct RunOptions {
    pub out: PathBuf,
    pub node_bin: PathBuf,
    pub net: NetMode,
    /// Keep the cluster up until `down` (or a signal) instead of stopping after the duration.
    pub stay_up: bool,
    /// Called once the cluster is up and connected, with its run directory.
    pub on_ready: Option<OnReady>,
}

/// Faults the chosen network cannot apply are bad input, found before anything starts.
fn check_network(faults: &[FaultSpec], net: NetMode) -> Result<(), String> {
    for (i, f) in faults.iter().enumerate() {
        net.allows(&f.action).map_err(|e| format!("faults[{i}]: {e}"))?;
    }
    Ok(())
}

pub fn run(exp: &Experiment, mut opts: RunOptions) -> Result<Summary, Failure> {
    let schedule = exp.all_faults();
    check_network(&schedule, opts.net).map_err(Failure::BadInput)?;
    algorithms::find(&exp.algorithm).map_err(Failure::BadInput)?;
    if !opts.node_bin.is_file() {
        return Err(Failure::BadInput(format!(
            "node binary {} not found (build it with `cargo build -p node`, or pass --node-bin)",
            opts.node_bin.display()
        )));
    }
    // Past what this machine can hold, say which limit before anything starts.
    crate::limits::check(exp.all_ids().len(), opts.net).map_err(Failure::BadInput)?;
    if opts.net == NetMode::Iptables && !nix::unistd::geteuid().is_root() {
        return Err(Failure::BadInput("--net iptables needs root (it creates a network namespace)".into()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut session = Session::prepare(exp, &opts.out, &opts.node_bin, opts.net)?;
    eprintln!("run directory: {}", session.run_dir.display());
    let live = LiveServer::bind(&session.run_dir)?;
    let run_dir = session.run_dir.clone();
    let started = session.start();
    let outcome = match started {
        Ok(()) => {
            if let Some(ready) = opts.on_ready.take() {
                ready(&run_dir);
            }
            drive(exp, &mut session, &live, &schedule, &stop, opts.stay_up)
        }
        Err(e) => Err(Failure::Run(e.context(format!("run directory: {}", run_dir.display())))),
    };
    let (interrupted, down) = match outcome {
        Ok(v) => v,
        Err(e) => {
            // The nodes are stopped by the session's drop; the traces stay for a look.
            drop(session);
            return Err(e);
        }
    };
    let summary = session.finish(interrupted).map_err(Failure::Run).map(|(summary, run)| {
        crate::report_html::write_or_warn(&summary, run);
        summary
    });
    drop(live);
    if let Some(down) = down {
        down.reply(summary.as_ref().map_err(|e| match e {
            Failure::Run(e) => format!("{e:#}"),
            Failure::BadInput(e) => e.clone(),
        }));
    }
    summary
}

/// Applies faults as they fall due and serves live commands until the duration is over (or, when
/// staying up, until `down`), or a signal arrives. Returns whether a signal cut it short, and the
/// `down` request to answer.
fn drive(
    exp: &Experiment,
    session: &mut Session,
    live: &LiveServer,
    schedule: &[FaultSpec],
    stop: &AtomicBool,
    stay_up: bool,
) -> Result<(bool, Option<DownRequest>), Failure> {
    let mut progress = crate::progress::Progress::run((!stay_up).then_some(exp.duration));
    let mut pending = schedule.iter().peekable();
    let recovery_at = exp.nemesis.as_ref().map(|n| exp.duration.saturating_sub(n.recovery));
    let mut recovered = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok((true, None));
        }
        session.tick();
        progress.at(session.elapsed());
        // Only what falls due before the end, as before; the end may come late (see `overdue`).
        let before_end = |f: &FaultSpec| stay_up || f.at < exp.duration;
        while let Some(fault) = pending.next_if(|f| session.elapsed() >= f.at && before_end(f)) {
            let what = format!("the fault scheduled at {}", humantime::format_duration(fault.at));
            if let Some(problem) = overdue(&what, fault.at, session.elapsed()) {
                session.note(problem);
            }
            match session.apply(&fault.action, fault.lasting) {
                Ok(done) => progress.println(format!("{:>8.3} s  {done}", session.elapsed().as_secs_f64())),
                Err(e) => session.note(format!("fault at {} skipped: {e:#}", humantime::format_duration(fault.at))),
            }
        }
        if let Some(at) = recovery_at.filter(|at| !recovered && session.elapsed() >= *at) {
            recovered = true;
            for done in session.heal_all() {
                progress.println(format!("{:>8.3} s  recovery phase: {done}", at.as_secs_f64()));
            }
        }
        // After the faults: a loop that woke late past the end still applies (and reports) the
        // faults that fell due before it, rather than skipping them.
        if !stay_up && session.elapsed() >= exp.duration {
            if let Some(problem) = overdue("the run's end", exp.duration, session.elapsed()) {
                session.note(problem);
            }
            return Ok((false, None));
        }
        if let Some(down) = live.poll(session) {
            return Ok((false, Some(down)));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How late a scheduled moment may come before the run's timing is no longer the experiment's.
/// The loop wakes every 5 ms and a fault takes milliseconds to apply, so seconds late means the
/// orchestrator was starved of CPU (hundreds of nodes in an election storm on two cores once
/// delayed a kill 106 s): faults, the recovery phase and the end all came at other times than the
/// experiment says, and a verdict judged on that run must not read `held`.
const OVERDUE: Duration = Duration::from_secs(5);

/// The problem to record when `what`, due at `due` into the run, came only at `now`.
fn overdue(what: &str, due: Duration, now: Duration) -> Option<String> {
    let late = now.checked_sub(due)?;
    (late > OVERDUE).then(|| {
        format!(
            "{what} came {:.1} s late (at {:.1} s): the orchestrator did not get the CPU in time, so the run's timing is not the experiment's",
            late.as_secs_f64(),
            now.as_secs_f64()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_seconds_late_is_a_problem_and_milliseconds_late_is_not() {
        let s = Duration::from_secs;
        assert_eq!(overdue("the run's end", s(3), s(3) + Duration::from_millis(40)), None);
        assert_eq!(overdue("the run's end", s(3), s(8)), None, "5 s late is still within the bound");
        let problem = overdue("the fault scheduled at 2s", s(2), s(108)).expect("106 s late");
        assert_eq!(
            problem,
            "the fault scheduled at 2s came 106.0 s late (at 108.0 s): the orchestrator did not get the CPU in time, so the run's timing is not the experiment's"
        );
        assert_eq!(overdue("early", s(5), s(1)), None, "not due yet is not late");
    }
}

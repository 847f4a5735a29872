//! `orchestrator`: runs clusterlab experiments on real node processes or in the simulator, and
//! breaks them on purpose.
//!
//! This file is the dispatch: [`cli`] says what the command line is, [`execute`] sends each
//! subcommand to the module that does it, [`failure`] says what exit codes mean.

mod bench;
mod bench_persist;
mod bench_scale;
mod child;
mod cli;
mod cluster;
mod compare;
mod compare_service;
mod detach;
mod detectors;
mod experiment;
mod failure;
mod history;
mod limits;
mod live;
mod live_cmd;
mod maelstrom;
mod netns;
mod network;
mod plots;
mod progress;
mod proxy;
mod report;
mod report_cmd;
mod report_html;
mod run;
mod run_dir;
mod session;
mod shiviz;
mod simulate;
mod timeline;

/// mimalloc instead of glibc's malloc: a simulated seed or a loaded run is millions of small
/// allocations (vector clocks, JSON values, trace records); with glibc's allocator they were a
/// quarter of a sweep's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use algorithms::faults::{Action, CutMode, LinkSpec, PartitionSpec};
use clap::Parser;
use cli::{BenchWhat, Cli, Cmd, Common, Lasting};
use experiment::{Experiment, Overrides};
pub use failure::{verdict_code, Failure};
use live::LiveRequest;
use live_cmd::{apply, delay_of, live_call, target};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match execute(cli.command) {
        Ok(code) => code,
        Err(failure) => {
            match &failure {
                Failure::BadInput(message) => eprintln!("error: {message}"),
                Failure::Run(e) => eprintln!("error: {e:#}"),
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

pub fn load(common: &Common) -> Result<Experiment, Failure> {
    let overrides = Overrides { nodes: common.nodes, seed: common.seed, duration: common.duration };
    let exp = Experiment::load(&common.config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))?;
    for warning in exp.warnings() {
        eprintln!("warning: {}: {warning}", common.config.display());
    }
    Ok(exp)
}

/// The node binary: the one given, or `node` beside this executable.
pub fn node_bin(given: Option<&PathBuf>) -> Result<PathBuf, Failure> {
    match given {
        Some(path) => Ok(path.clone()),
        None => Ok(std::env::current_exe()?.with_file_name("node")),
    }
}

pub fn print_summary(summary: &report::Summary) -> ExitCode {
    print!("{}", summary.human());
    println!("run directory: {}", summary.run_dir.display());
    ExitCode::from(verdict_code(summary.verdict, summary.interrupted))
}

/// `orchestrator run --repeat N`: the experiment at seeds seed..seed+N on real processes, one at a
/// time, one line each, then the tally; the exit code is the worst run's (130 stops at once).
fn repeat(common: &Common, launch: &cli::Launch, n: u64) -> Result<ExitCode, Failure> {
    if n == 0 {
        return Err(Failure::BadInput("--repeat: at least 1".into()));
    }
    let first = load(common)?.seed;
    let started = std::time::Instant::now();
    let (mut tally, mut worst): (std::collections::BTreeMap<&str, u64>, u8) = (Default::default(), 0);
    for seed in first..first + n {
        let exp = load(&Common { seed: Some(seed), ..common.clone() })?;
        let opts = run::RunOptions {
            out: common.out.clone(),
            node_bin: node_bin(launch.node_bin.as_ref())?,
            net: launch.net,
            stay_up: false,
            on_ready: None,
        };
        let summary = run::run(&exp, opts)?;
        let code = verdict_code(summary.verdict, summary.interrupted);
        let word = report::verdict_word(summary.verdict);
        *tally.entry(word).or_default() += 1;
        let not_held: Vec<String> = summary
            .properties
            .iter()
            .filter(|p| p.verdict != algorithms::Verdict::Held)
            .map(|p| format!("{} {}", report::verdict_word(p.verdict), p.name))
            .chain(summary.problems.iter().map(|p| format!("problem: {p}")))
            .collect();
        let tail = if not_held.is_empty() { String::new() } else { format!(" ({})", not_held.join("; ")) };
        println!("seed {seed}: {word}{tail} · {}", summary.run_dir.display());
        worst = worst.max(code);
        if summary.interrupted {
            return Ok(ExitCode::from(code));
        }
    }
    let counts: Vec<String> = tally.iter().map(|(w, c)| format!("{c} {w}")).collect();
    println!(
        "{} · {n} real runs, seeds {first}..{} in {:.0} s: {}",
        common.config.display(),
        first + n - 1,
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    Ok(ExitCode::from(worst))
}

fn execute(command: Cmd) -> Result<ExitCode, Failure> {
    match command {
        Cmd::Run { common, launch, repeat: Some(n) } => repeat(&common, &launch, n),
        Cmd::Run { common, launch, repeat: None } => {
            let exp = load(&common)?;
            let opts = run::RunOptions {
                out: common.out.clone(),
                node_bin: node_bin(launch.node_bin.as_ref())?,
                net: launch.net,
                stay_up: false,
                on_ready: None,
            };
            Ok(print_summary(&run::run(&exp, opts)?))
        }
        Cmd::Up { common, detach: true, .. } => detach::detach(&common),
        Cmd::Up { common, launch, detach: false, ready_file, schedule } => {
            let mut exp = load(&common)?;
            if !schedule {
                exp.faults.clear();
                exp.nemesis = None;
            }
            let on_ready: Box<dyn FnOnce(&Path)> = Box::new(move |run_dir: &Path| {
                match &ready_file {
                    // Detached: from now on the log goes to the run directory, then tell the parent.
                    Some(file) => {
                        detach::redirect_output(&run_dir.join("orchestrator.log"));
                        let _ = std::fs::write(file, run_dir.to_string_lossy().as_bytes());
                    }
                    None => {
                        println!("cluster up; run directory: {} (stop it with `orchestrator down`)", run_dir.display())
                    }
                }
            });
            let opts = run::RunOptions {
                out: common.out.clone(),
                node_bin: node_bin(launch.node_bin.as_ref())?,
                net: launch.net,
                stay_up: true,
                on_ready: Some(on_ready),
            };
            Ok(print_summary(&run::run(&exp, opts)?))
        }
        Cmd::Sim { common, seeds, jobs } => {
            let exp = load(&common)?;
            match (seeds, common.seed) {
                (None, Some(seed)) => {
                    let summary = simulate::replay(&exp, seed, &common.out)?;
                    print!("{}", summary.human());
                    println!("run directory: {}", summary.run_dir.display());
                    Ok(ExitCode::from(verdict_code(summary.verdict, false)))
                }
                (seeds, _) => {
                    let count = seeds.unwrap_or(exp.sim.seeds);
                    let jobs = jobs.unwrap_or_else(simulate::default_jobs);
                    if jobs == 0 {
                        return Err(Failure::BadInput("--jobs: must be at least 1".into()));
                    }
                    let all_held = simulate::sweep(&exp, &common.config, exp.seed, count, jobs)?;
                    Ok(if all_held { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
            }
        }
        Cmd::Compare { configs, args } => compare::compare(&configs, &args),
        Cmd::Detectors { configs, args } => detectors::detectors(&configs, &args),
        Cmd::Maelstrom { what: cli::MaelstromCmd::Test(args) } => maelstrom::test(&args),
        Cmd::List => {
            for algorithm in algorithms::catalogue() {
                println!("{:<16} {}", algorithm.name(), algorithm.summary());
                for p in algorithm.properties() {
                    println!("    {:<26} {}", p.name, p.promise);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kill { node, lasting, target: t } => apply(&t, Action::Kill { node: target(&node)? }, &lasting),
        Cmd::Restart { node, target: t } => {
            apply(&t, Action::Restart { node: target(&node)? }, &Lasting { lasting: None })
        }
        Cmd::Pause { node, lasting, target: t } => apply(&t, Action::Pause { node: target(&node)? }, &lasting),
        Cmd::Resume { node, target: t } => {
            apply(&t, Action::Resume { node: target(&node)? }, &Lasting { lasting: None })
        }
        Cmd::Corrupt { node, target: t } => {
            apply(&t, Action::Corrupt { node: target(&node)? }, &Lasting { lasting: None })
        }
        Cmd::Drift { node, rate, lasting, target: t } => {
            apply(&t, Action::Drift { node: target(&node)?, rate }, &lasting)
        }
        Cmd::Partition { spec, reset, lasting, target: t } => {
            let groups = PartitionSpec::parse(&spec).map_err(Failure::BadInput)?;
            let mode = if reset { CutMode::Reset } else { CutMode::Blackhole };
            apply(&t, Action::Partition { groups, mode }, &lasting)
        }
        Cmd::Heal { target: t } => apply(&t, Action::Heal, &Lasting { lasting: None }),
        Cmd::Link {
            from,
            to,
            cut,
            reset,
            loss,
            duplicate,
            reorder,
            delay,
            jitter,
            dist,
            clear,
            lasting,
            target: t,
        } => {
            let mode = if reset { CutMode::Reset } else { CutMode::Blackhole };
            let spec = if clear {
                LinkSpec::clear(from, to)
            } else {
                LinkSpec { from, to, cut, mode, delay: delay_of(delay, jitter, &dist)?, loss, duplicate, reorder }
            };
            spec.validate().map_err(Failure::BadInput)?;
            apply(&t, Action::Link(spec), &lasting)
        }
        Cmd::Status { json, leader, views, target: t } => live_cmd::status(&t, json, leader, views),
        Cmd::Cmd { node, args, target: t }
            if args.len() > 1 && args[0] == "zk" && !matches!(args[1].as_str(), "last" | "notifications") =>
        {
            live_cmd::client_operation(&t.run, node, args)
        }
        Cmd::Cmd { node, args, target: t } if args.len() > 2 && args[0] == "client" => {
            live_cmd::client_operation(&t.run, node, args)
        }
        Cmd::Cmd { node, args, .. } if args.iter().any(|a| a == "--run") => Err(Failure::BadInput(format!(
            "`--run` goes before NODE (after it, it is taken as part of the command): \
             `orchestrator cmd --run DIR {node} {}`",
            args.iter().take_while(|a| *a != "--run").cloned().collect::<Vec<_>>().join(" ")
        ))),
        Cmd::Cmd { node, args, target: t } => {
            live_call(&t.run, LiveRequest::Cmd { node, instance: None, args }, Duration::from_secs(15))
        }
        Cmd::Bench { what: BenchWhat::Proxy { paced, flood, rounds } } => {
            if paced == 0 || flood == 0 || rounds == 0 {
                return Err(Failure::BadInput("--paced, --flood and --rounds must be above 0".into()));
            }
            bench::proxy(paced, flood, rounds)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::History { what } => history::run(what),
        Cmd::Bench { what: BenchWhat::History(args) } => history::bench(&args),
        Cmd::Bench { what: BenchWhat::Persist { entries, appends, dir } } => {
            if appends == 0 || entries.is_empty() {
                return Err(Failure::BadInput("--appends must be above 0 and --entries name a length".into()));
            }
            bench_persist::persist(&entries, appends, &dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { what: BenchWhat::Scale { nodes, algorithms, duration, node_bin: bin } } => {
            bench_scale::scale(&nodes, &algorithms, duration, node_bin(bin.as_ref())?)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { target: t } => live_call(&t.run, LiveRequest::Down, Duration::from_secs(60)),
        Cmd::Report { run_dir, max_events } => report_cmd::report(&run_dir, max_events),
        Cmd::Export { shiviz, run_dir, max_events } => report_cmd::export(shiviz, &run_dir, max_events),
    }
}

//! `orchestrator`: runs clusterlab experiments on real node processes or in the simulator.
//!
//! Exit codes (the README repeats them): 0 every property held; 1 a property was violated or
//! could not be judged; 2 bad input (usage, experiment file); 3 the run itself failed (e.g. a node
//! could not start); 130 interrupted by Ctrl-C or SIGTERM (the summary is still written).

mod cluster;
mod experiment;
mod proxy;
mod report;
mod run;
mod simulate;

use algorithms::Verdict;
use clap::{Parser, Subcommand};
use experiment::{Experiment, Overrides};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "orchestrator",
    version,
    about = "Run distributed algorithms as real processes, break them, and check what happened"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// The experiment file (TOML), e.g. configs/bully.toml
    config: PathBuf,
    /// Number of nodes (overrides the file and CLUSTERLAB_NODES)
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of every random choice (overrides the file and CLUSTERLAB_SEED)
    #[arg(long)]
    seed: Option<u64>,
    /// Run length, e.g. 10s or 1m30s (overrides the file and CLUSTERLAB_DURATION)
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Where run directories go
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Launch the nodes, apply the scheduled faults, collect the traces, check and report
    Run {
        #[command(flatten)]
        common: Common,
        /// The node binary (default: `node` beside this executable)
        #[arg(long)]
        node_bin: Option<PathBuf>,
    },
    /// Run the experiment in the deterministic simulator: many seeds, or one seed replayed
    Sim {
        #[command(flatten)]
        common: Common,
        /// How many seeds to run, starting at --seed (default: the file's [sim] seeds)
        #[arg(long)]
        seeds: Option<u64>,
    },
    /// List the algorithms and the properties each one promises
    List,
}

/// Why a command could not give a verdict.
pub enum Failure {
    /// Usage or experiment file problems: exit 2.
    BadInput(String),
    /// The run itself failed: exit 3.
    Run(anyhow::Error),
}

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
        Err(Failure::BadInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("error: the run failed: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn load(common: &Common) -> Result<Experiment, Failure> {
    let overrides = Overrides { nodes: common.nodes, seed: common.seed, duration: common.duration };
    Experiment::load(&common.config, &overrides).map_err(|e| Failure::BadInput(e.to_string()))
}

fn verdict_code(verdict: Verdict, interrupted: bool) -> ExitCode {
    match (interrupted, verdict) {
        (true, _) => ExitCode::from(130),
        (false, Verdict::Held) => ExitCode::SUCCESS,
        (false, _) => ExitCode::from(1),
    }
}

fn execute(command: Cmd) -> Result<ExitCode, Failure> {
    match command {
        Cmd::Run { common, node_bin } => {
            let exp = load(&common)?;
            let node_bin = match node_bin {
                Some(path) => path,
                None => std::env::current_exe().map_err(|e| Failure::Run(e.into()))?.with_file_name("node"),
            };
            let summary = run::run(&exp, &run::RunOptions { out: common.out.clone(), node_bin })?;
            print!("{}", summary.human());
            println!("run directory: {}", summary.run_dir.display());
            Ok(verdict_code(summary.verdict, summary.interrupted))
        }
        Cmd::Sim { common, seeds } => {
            let exp = load(&common)?;
            match (seeds, common.seed) {
                (None, Some(seed)) => {
                    let summary = simulate::replay(&exp, seed, &common.out)?;
                    print!("{}", summary.human());
                    println!("run directory: {}", summary.run_dir.display());
                    Ok(verdict_code(summary.verdict, false))
                }
                (seeds, _) => {
                    let count = seeds.unwrap_or(exp.sim.seeds);
                    let all_held = simulate::sweep(&exp, &common.config, exp.seed, count)?;
                    Ok(if all_held { ExitCode::SUCCESS } else { ExitCode::from(1) })
                }
            }
        }
        Cmd::List => {
            for algorithm in algorithms::catalogue() {
                println!("{:<14} {}", algorithm.name(), algorithm.summary());
                for p in algorithm.properties() {
                    println!("    {:<24} {}", p.name, p.promise);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `node --config FILE`: one clusterlab node.
//!
//! Exit status: 0 after a clean stop (`shutdown`, the attached orchestrator gone, SIGTERM or
//! SIGINT), 2 for a bad command line or config, 3 when the node cannot run (a port taken, a trace
//! that cannot be written, state that cannot be persisted, or persisted state that does not decode:
//! the message names the file).

mod app;
mod clock;
mod control_server;
mod external;
mod instance;
mod lifecycle;
use node::tracer;
mod transport;

use clap::Parser;

/// mimalloc instead of glibc's malloc: every message costs a dozen small allocations (clocks,
/// encoded bodies, trace records), and with glibc's allocator they were a third of a busy node's
/// time (see `transport-bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use node::config::NodeConfig;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about = "A clusterlab node: hosts algorithm instances and talks to its peers over TCP")]
struct Args {
    /// The node's config file (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Prints an error on one line (the orchestrator shows a node's last stderr line).
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}

fn main() -> ExitCode {
    let args = Args::parse(); // usage errors exit with 2
    let cfg = match NodeConfig::load(&args.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("node: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: node logs usually go to files in the run directory.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();

    // actix needs its own runtime (actors are spawned with `spawn_local`), not `#[tokio::main]`.
    let system = actix::System::new();
    if let Err(e) = system.block_on(app::start(cfg)) {
        eprintln!("node: {}", one_line(&e));
        return ExitCode::from(3);
    }
    match system.run_with_code() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(3)),
        Err(e) => {
            eprintln!("node: actix system failed: {e}");
            ExitCode::from(3)
        }
    }
}

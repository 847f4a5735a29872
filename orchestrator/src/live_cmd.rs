//! The live commands' client side (`kill`, `partition`, `link`, `status`, `cmd`, `down`, …): turn
//! flags into an [`Action`] or a request, send it to the orchestrator that keeps the cluster up,
//! print its answer.

use crate::cli::{Lasting, RunDir};
use crate::live::{self, LiveRequest, LiveResponse};
use crate::{print_summary, Failure};
use algorithms::faults::{Action, Delay, Target};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub fn target(text: &str) -> Result<Target, Failure> {
    Target::parse(text).map_err(Failure::BadInput)
}

/// Sends a live request and prints the answer; the exit code comes from the orchestrator.
pub fn live_call(run: &Path, request: LiveRequest, timeout: Duration) -> Result<ExitCode, Failure> {
    let response: LiveResponse = live::call(run, &request, timeout)?;
    if let Some(summary) = &response.summary {
        print_summary(summary);
    } else if response.ok {
        println!("{}", response.message.trim_end());
    } else {
        eprintln!("error: {}", response.message);
    }
    Ok(ExitCode::from(response.code))
}

/// `cmd 6 client put x 1` (or `cmd 6 zk create /app1/p --ephemeral`): gives the client node the operation, then asks it (`last`) until the
/// operation has completed, and prints its outcome. The orchestrator is not held up meanwhile.
pub fn client_operation(run: &Path, node: algorithms::NodeId, args: Vec<String>) -> Result<ExitCode, Failure> {
    let call =
        |args: Vec<String>| live::call(run, &LiveRequest::Cmd { node, instance: None, args }, Duration::from_secs(15));
    let given = call(args)?;
    if !given.ok {
        eprintln!("error: {}", given.message);
        return Ok(ExitCode::from(given.code));
    }
    println!("{}", given.message.trim_end());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let last = call(vec!["client".into(), "last".into()])?;
        if !last.ok {
            eprintln!("error: {}", last.message);
            return Ok(ExitCode::from(last.code));
        }
        if !last.message.starts_with("pending") {
            println!("{}", last.message.trim_end());
            return Ok(ExitCode::SUCCESS);
        }
        if std::time::Instant::now() > deadline {
            eprintln!("still {} after 10 s (the client keeps retrying)", last.message.trim_end());
            return Ok(ExitCode::from(1));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn apply(dir: &RunDir, action: Action, lasting: &Lasting) -> Result<ExitCode, Failure> {
    live_call(&dir.run, LiveRequest::Apply { action, lasting: lasting.lasting }, Duration::from_secs(15))
}

pub fn delay_of(delay: Option<Duration>, jitter: Option<Duration>, dist: &str) -> Result<Option<Delay>, Failure> {
    let Some(delay) = delay else {
        return match jitter {
            Some(_) => Err(Failure::BadInput("--jitter needs --delay".into())),
            None => Ok(None),
        };
    };
    let ms = delay.as_secs_f64() * 1000.0;
    let j = jitter.map_or(0.0, |j| j.as_secs_f64() * 1000.0);
    Ok(Some(match (dist, jitter) {
        ("uniform", None) => Delay::Fixed { ms },
        ("uniform", Some(_)) => Delay::Uniform { min_ms: (ms - j).max(0.0), max_ms: ms + j },
        ("normal", _) => Delay::Normal { mean_ms: ms, stddev_ms: j },
        ("exponential", _) => Delay::Exponential { mean_ms: ms },
        (other, _) => {
            return Err(Failure::BadInput(format!("--dist {other:?}: expected uniform, normal or exponential")))
        }
    }))
}

/// `status`: the cluster as a table, or one answer for scripts (`--json`, `--leader`, `--views`).
pub fn status(t: &RunDir, json: bool, leader: bool, views: bool) -> Result<ExitCode, Failure> {
    let response = live::call(&t.run, &LiveRequest::Status, Duration::from_secs(15))?;
    match &response.status {
        Some(status) if json => println!("{}", serde_json::to_string_pretty(status).unwrap_or_default()),
        Some(status) if leader => {
            println!("{}", status.unanimous_leader().map_or("none".to_string(), |l| l.to_string()))
        }
        Some(status) if views => {
            for n in &status.nodes {
                let named = n.view.as_ref().and_then(|v| if v.role == "leader" { Some(n.id) } else { v.leader });
                println!("{} {} {}", n.id, n.state, named.map_or("none".to_string(), |l| l.to_string()));
            }
        }
        _ => print!("{}", response.message),
    }
    Ok(ExitCode::from(response.code))
}

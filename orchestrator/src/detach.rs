//! `up --detach`: the orchestrator that keeps a cluster up, in the background.

use crate::cli::Common;
use crate::{load, Failure};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// `up --detach`: starts `up` again as a background process in its own session and returns once
/// it reports the cluster up (or fails, with its error output).
pub fn detach(common: &Common) -> Result<ExitCode, Failure> {
    use std::os::unix::process::CommandExt;
    load(common)?; // bad input is reported here, in the foreground
    let tag = format!("clusterlab-up-{}", std::process::id());
    let ready = std::env::temp_dir().join(format!("{tag}.ready"));
    let log_path = std::env::temp_dir().join(format!("{tag}.log"));
    let _ = std::fs::remove_file(&ready);
    let log = std::fs::File::create(&log_path)?;
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--detach").collect();
    args.push("--ready-file".into());
    args.push(ready.to_string_lossy().into_owned());
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(&args).stdin(std::process::Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: setsid is async-signal-safe; the background orchestrator leaves our session so a
    // closing terminal does not take it down.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(run_dir) = std::fs::read_to_string(&ready) {
            if !run_dir.is_empty() {
                let _ = std::fs::remove_file(&ready);
                let _ = std::fs::remove_file(&log_path);
                println!("cluster up (orchestrator pid {}); run directory: {run_dir}", child.id());
                return Ok(ExitCode::SUCCESS);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            let _ = std::fs::remove_file(&log_path);
            eprint!("{output}");
            return Ok(ExitCode::from(status.code().unwrap_or(3) as u8));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Run(anyhow::anyhow!("the cluster did not come up within 60 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Points stdout and stderr at a file (a detached orchestrator's log).
pub fn redirect_output(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        // SAFETY: dup2 on descriptors we own; the file stays open through the new descriptors.
        unsafe {
            libc::dup2(file.as_raw_fd(), 1);
            libc::dup2(file.as_raw_fd(), 2);
        }
    }
}

//! Child processes of the orchestrator (nodes, the namespace holder) die with it.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the child die with the orchestrator, however it ends: PR_SET_PDEATHSIG (SIGKILL when the
/// orchestrator's thread that spawned it dies, so spawn from the main thread), in a process group
/// of its own so a terminal's Ctrl-C reaches only the orchestrator.
pub fn die_with_orchestrator(cmd: &mut Command) {
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The orchestrator may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

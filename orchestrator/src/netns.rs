//! iptables mode: the run gets a network namespace of its own; nodes get their own 127.0.0.x
//! address inside it, and partitions are iptables rules inside that namespace only.
//!
//! The namespace is never named (no `ip netns add`, no bind mount under /run/netns): it is held
//! by a `sleep` child that unshared it and dies with the orchestrator (PR_SET_PDEATHSIG), and by
//! the nodes, which die the same way. When the last of them is gone the kernel frees the
//! namespace and every rule in it, even if the orchestrator was SIGKILLed. The host's own
//! firewall is never touched: every iptables command runs inside the namespace.

use algorithms::faults::CutMode;
use algorithms::NodeId;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

pub struct Netns {
    holder: Child,
    /// An open handle on the namespace, for `setns` in children.
    ns: OwnedFd,
    /// `net:[inode]`, to prove afterwards that nothing holds it any more.
    pub id: String,
}

/// The address node `id` has inside the namespace.
pub fn address(id: NodeId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + id as u8))
}

impl Netns {
    /// Creates the namespace and brings `lo` up. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    pub fn create() -> Result<Netns> {
        if !nix::unistd::geteuid().is_root() {
            bail!("--net iptables needs root (it creates a network namespace); use the default proxy network instead");
        }
        if which("iptables").is_none() {
            bail!("--net iptables needs the iptables command (e.g. apt-get install iptables)");
        }
        let mut cmd = Command::new("sleep");
        cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        crate::child::die_with_orchestrator(&mut cmd);
        // SAFETY: unshare is async-signal-safe; it runs after the hooks above, before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut holder = cmd.spawn().context("creating the network namespace")?;
        let path = format!("/proc/{}/ns/net", holder.id());
        let opened = File::open(&path).and_then(|f| Ok((std::fs::read_link(&path)?, f)));
        let (link, file) = match opened {
            Ok(v) => v,
            Err(e) => {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err(anyhow!("opening {path}: {e}"));
            }
        };
        let netns = Netns { holder, ns: file.into(), id: link.to_string_lossy().into_owned() };
        netns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// Makes `cmd` start inside the namespace.
    pub fn enter(&self, cmd: &mut Command) {
        let fd = self.ns.as_raw_fd();
        // SAFETY: setns is async-signal-safe; the fd stays open in the parent until exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Runs a command inside the namespace and fails with its stderr if it fails.
    pub fn run(&self, args: &[&str]) -> Result<()> {
        let mut cmd = Command::new(args[0]);
        cmd.args(&args[1..]);
        self.enter(&mut cmd);
        let out = cmd.output().with_context(|| format!("running {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Replaces every rule with ones that cut each directed link of `cut` ("a cannot send to b")
    /// the way its mode says.
    ///
    /// Matching the connection's original direction (conntrack) cuts exactly one direction:
    /// a plain `-s A -d B` rule would also kill B's replies on connections B opened to A.
    pub fn set_cut(&self, cut: &BTreeMap<(NodeId, NodeId), CutMode>) -> Result<()> {
        self.run(&["iptables", "-F", "INPUT"])?;
        for (&(a, b), &mode) in cut {
            let (src, dst) = (address(a).to_string(), address(b).to_string());
            let mut rule = vec!["iptables", "-A", "INPUT", "-p", "tcp", "-m", "conntrack"];
            rule.extend(["--ctorigsrc", &src, "--ctorigdst", &dst, "-j"]);
            match mode {
                CutMode::Blackhole => rule.push("DROP"),
                CutMode::Reset => rule.extend(["REJECT", "--reject-with", "tcp-reset"]),
            }
            self.run(&rule)?;
        }
        Ok(())
    }

    /// The rules in force, as `iptables -S` prints them.
    pub fn rules(&self) -> Result<String> {
        let mut cmd = Command::new("iptables");
        cmd.args(["-S", "INPUT"]);
        self.enter(&mut cmd);
        Ok(String::from_utf8_lossy(&cmd.output()?.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Idempotent heal first, then let the namespace go with its last process.
        let _ = self.run(&["iptables", "-F", "INPUT"]);
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Processes still inside the namespace `id` (`net:[inode]`): empty once the run is over.
pub fn holders(id: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|l| l.to_string_lossy() == id))
        .collect()
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(program)).find(|p| p.is_file())
}

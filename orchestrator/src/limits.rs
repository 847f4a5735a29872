//! What a run of N nodes needs from the machine (open files, memory, ports) against what it has,
//! checked before anything starts: past a limit the run would fail half-way (a proxy that cannot
//! accept, a node that cannot connect), with an error that names nothing useful.
//!
//! Open files are the limit that bites first. Through the proxy each node has one connection
//! (its links share it), so the orchestrator, which hosts the proxy, holds a socket per node
//! besides a lifeline and a control connection per node; on the other networks each node holds
//! a connection to and from every peer. The orchestrator raises its own soft `RLIMIT_NOFILE` as
//! far as it is allowed (to the hard limit, or past it with CAP_SYS_RESOURCE), and the nodes
//! inherit it.

use crate::network::NetMode;

/// Descriptors a process holds besides its sockets (std streams, runtime, logs, traces, slack).
const BASE_FILES: u64 = 64;
/// Memory a node takes (measured: about 10 MiB at 200 nodes, resident), with room to spare.
const NODE_BYTES: u64 = 24 << 20;
/// The kernel's and the proxy's memory per socket (buffers of a link with a little traffic).
const CONNECTION_BYTES: u64 = 16 << 10;

/// What a run needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    /// Open files in the orchestrator (a lifeline and a control connection per node).
    pub orchestrator_files: u64,
    /// Open files of the proxy, in the orchestrator's process: its listener and a socket per node.
    pub proxy_files: u64,
    /// Open files in each node (a connection to and from every peer).
    pub node_files: u64,
    pub memory_bytes: u64,
    /// Connections to one destination address, each from its own ephemeral port.
    pub connections_per_destination: u64,
}

/// What the machine offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Have {
    pub files_soft: u64,
    pub files_hard: u64,
    pub memory_available: Option<u64>,
    /// Size of the kernel's ephemeral port range.
    pub ephemeral_ports: u64,
}

/// What `nodes` nodes (servers, spares and clients) on `net` need.
pub fn need(nodes: usize, net: NetMode) -> Need {
    let n = nodes as u64;
    let links = n * n.saturating_sub(1);
    let (proxied, connections, per_destination) = match net {
        // One listener; each node one connection, which carries all its links.
        NetMode::Proxy => (1 + n, n, n),
        // Each link a connection of its own.
        NetMode::Iptables | NetMode::Direct => (0, links, n.saturating_sub(1)),
    };
    Need {
        orchestrator_files: BASE_FILES + 2 * n,
        proxy_files: proxied,
        node_files: BASE_FILES + 2 * n,
        memory_bytes: n * NODE_BYTES + 2 * connections * CONNECTION_BYTES,
        connections_per_destination: per_destination,
    }
}

/// The first limit `need` is past, as an error that says which and how to raise it.
pub fn judge(nodes: usize, net: NetMode, need: &Need, have: &Have) -> Result<(), String> {
    let what = format!("{nodes} nodes on --net {}", net.word());
    let files = most_files(need);
    if files > have.files_soft {
        let how = if files <= have.files_hard {
            format!("`ulimit -n {files}` in the shell that runs the orchestrator")
        } else {
            format!(
                "`ulimit -Hn {files}` as root (or a `nofile` line in /etc/security/limits.conf, or \
                 `LimitNOFILE=` for a service), then `ulimit -n {files}`"
            )
        };
        return Err(format!(
            "{what} need {files} open files in one process, but the open-file limit (RLIMIT_NOFILE) is {} \
             (hard limit {}); raise it with {how}, or run fewer nodes",
            have.files_soft, have.files_hard
        ));
    }
    if let Some(available) = have.memory_available.filter(|a| need.memory_bytes > *a) {
        return Err(format!(
            "{what} need about {} MiB of memory, but {} MiB are available (MemAvailable in /proc/meminfo); \
             free memory or run fewer nodes",
            need.memory_bytes >> 20,
            available >> 20
        ));
    }
    if need.connections_per_destination > have.ephemeral_ports {
        return Err(format!(
            "{what} open {} connections to one address, but the ephemeral port range \
             (/proc/sys/net/ipv4/ip_local_port_range) has {} ports; widen it with \
             `sysctl net.ipv4.ip_local_port_range=\"10000 65000\"` (as root), or run fewer nodes",
            need.connections_per_destination, have.ephemeral_ports
        ));
    }
    Ok(())
}

/// The open files the busiest single process needs (the orchestrator holds the proxy's).
fn most_files(need: &Need) -> u64 {
    (need.orchestrator_files + need.proxy_files).max(need.node_files)
}

fn get_nofile() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

fn set_nofile(limit: &libc::rlimit) -> bool {
    // SAFETY: setrlimit only reads the struct.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) == 0 }
}

/// Raises this process's soft open-file limit to its hard limit and, where the process may (as
/// root), the hard limit itself up to `wanted`. Returns the limits now in force.
pub fn raise_nofile(wanted: u64) -> std::io::Result<(u64, u64)> {
    let limit = get_nofile()?;
    if limit.rlim_cur < limit.rlim_max {
        set_nofile(&libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max });
    }
    if limit.rlim_max < wanted {
        // Refused unless privileged: then the hard limit is as far as it goes.
        set_nofile(&libc::rlimit { rlim_cur: wanted, rlim_max: wanted });
    }
    let limit = get_nofile()?;
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// `MemAvailable` from /proc/meminfo, in bytes.
pub fn memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// Memory a check takes per byte of JSON-lines trace: 3.3–3.5× measured in release (records,
/// the checkers' indexes, the timeline), rounded up.
pub const CHECK_MEMORY_PER_TRACE_BYTE: u64 = 4;

/// Whether checking `trace_bytes` of traces fits in `available` bytes of memory: a run too large to
/// check is refused with the figures, before the kernel would kill the orchestrator mid-check.
pub fn traces_fit(trace_bytes: u64, available: Option<u64>) -> Result<(), String> {
    let need = trace_bytes.saturating_mul(CHECK_MEMORY_PER_TRACE_BYTE);
    match available {
        Some(have) if need > have => Err(format!(
            "checking these traces ({} MiB) needs about {} MiB of memory, but {} MiB are available \
             (MemAvailable in /proc/meminfo): the traces are kept; judge them where there is more memory \
             with `orchestrator report RUN_DIR` (after removing summary.json), or make the run shorter or \
             its clients fewer",
            trace_bytes >> 20,
            need >> 20,
            have >> 20
        )),
        _ => Ok(()),
    }
}

/// What this machine offers now, after raising the open-file limit towards `wanted_files`.
fn have(wanted_files: u64) -> std::io::Result<Have> {
    let (files_soft, files_hard) = raise_nofile(wanted_files)?;
    let memory_available = memory_available();
    let ephemeral_ports = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| {
            let mut it = r.split_whitespace().map(|p| p.parse::<u64>().ok());
            Some(it.next()??.abs_diff(it.next()??) + 1)
        })
        .unwrap_or(28_232);
    Ok(Have { files_soft, files_hard, memory_available, ephemeral_ports })
}

/// Checks that this machine can hold `nodes` nodes on `net`, raising the open-file limit first.
pub fn check(nodes: usize, net: NetMode) -> Result<(), String> {
    let need = need(nodes, net);
    let have = have(most_files(&need)).map_err(|e| format!("cannot read the open-file limit (RLIMIT_NOFILE): {e}"))?;
    judge(nodes, net, &need, &have)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plenty() -> Have {
        Have { files_soft: 1 << 20, files_hard: 1 << 20, memory_available: Some(1 << 40), ephemeral_ports: 28_232 }
    }

    #[test]
    fn the_proxy_needs_one_socket_per_node() {
        let need = need(200, NetMode::Proxy);
        assert_eq!(need.proxy_files, 1 + 200);
        assert_eq!((need.orchestrator_files, need.node_files), (64 + 400, 64 + 400));
        assert_eq!(most_files(&need), 64 + 400 + 201, "the proxy's sockets are the orchestrator's");
        assert_eq!(need.connections_per_destination, 200, "every node dials the proxy's one listener");
        assert_eq!(super::need(200, NetMode::Direct).proxy_files, 0);
        assert!(judge(200, NetMode::Proxy, &need, &plenty()).is_ok());
        // This machine's hard limit of 20,000 holds a run of 256 nodes in one process.
        assert!(most_files(&super::need(256, NetMode::Proxy)) < 20_000);
    }

    #[test]
    fn too_few_open_files_names_the_limit_and_how_to_raise_it() {
        let need = need(100, NetMode::Proxy);
        let soft_only = Have { files_soft: 200, files_hard: 1 << 20, ..plenty() };
        let error = judge(100, NetMode::Proxy, &need, &soft_only).unwrap_err();
        assert!(error.contains("RLIMIT_NOFILE") && error.contains("is 200"), "{error}");
        assert!(error.contains("need 365 open files") && error.contains("`ulimit -n 365`"), "{error}");
        let hard_too = Have { files_soft: 200, files_hard: 256, ..plenty() };
        let error = judge(100, NetMode::Proxy, &need, &hard_too).unwrap_err();
        assert!(error.contains("hard limit 256") && error.contains("`ulimit -Hn 365` as root"), "{error}");
    }

    #[test]
    fn too_little_memory_or_too_few_ports_is_named() {
        let need = need(200, NetMode::Proxy);
        let small = Have { memory_available: Some(1 << 30), ..plenty() };
        let error = judge(200, NetMode::Proxy, &need, &small).unwrap_err();
        assert!(error.contains("MemAvailable") && error.contains("1024 MiB are available"), "{error}");
        let few_ports = Have { ephemeral_ports: 100, ..plenty() };
        let error = judge(200, NetMode::Proxy, &need, &few_ports).unwrap_err();
        assert!(error.contains("200 connections") && error.contains("ip_local_port_range"), "{error}");
    }

    /// In a child process (limits are per process): a tiny hard limit that nothing may raise
    /// again, and the check refuses a run it cannot hold, naming the limit.
    #[test]
    fn a_tiny_hard_limit_is_refused_before_anything_starts() {
        if std::env::var_os("LIMITS_CHILD").is_some() {
            // Without CAP_SYS_RESOURCE a process cannot raise its hard limit again; with it, the
            // check does (root outside a container).
            let tiny = libc::rlimit { rlim_cur: 64, rlim_max: 128 };
            assert!(set_nofile(&tiny));
            let result = check(50, NetMode::Proxy);
            let hard = get_nofile().unwrap().rlim_max;
            match result {
                Ok(()) => assert!(hard >= 215, "a run that fits had its hard limit raised, to {hard}"),
                Err(e) => {
                    assert_eq!(hard, 128, "{e}");
                    assert!(e.contains("hard limit 128") && e.contains("RLIMIT_NOFILE"), "{e}");
                    assert!(e.contains("need 215 open files") && e.contains("ulimit -Hn 215"), "{e}");
                }
            }
            assert!(check(2, NetMode::Direct).is_ok(), "a small run fits, soft limit raised to 128");
            assert_eq!(raise_nofile(100).unwrap().0, 128);
            return;
        }
        let me = std::env::current_exe().unwrap();
        let out = std::process::Command::new(me)
            .args(["--exact", "limits::tests::a_tiny_hard_limit_is_refused_before_anything_starts", "--nocapture"])
            .env("LIMITS_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn traces_too_large_to_check_are_refused_with_the_figures() {
        assert_eq!(traces_fit(1 << 30, Some(5 << 30)), Ok(()));
        assert_eq!(traces_fit(1 << 30, None), Ok(()), "unknown memory: the check goes ahead");
        let error = traces_fit(3 << 30, Some(8 << 30)).unwrap_err();
        assert!(
            error.contains("(3072 MiB) needs about 12288 MiB") && error.contains("8192 MiB are available"),
            "{error}"
        );
        assert!(error.contains("orchestrator report RUN_DIR"), "{error}");
    }
}

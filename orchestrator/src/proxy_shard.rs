//! A proxy shard: a child process (`orchestrator proxy-shard`) carrying the relays into some of
//! the run's destinations, for runs whose sockets one process's open-file limit cannot hold
//! (200 nodes are 79,600 relayed sockets). The orchestrator talks to it in JSON lines over its
//! stdin and stdout: first the shard's part of the network, answered by its listeners, then one
//! request per line (set a link's faults, retarget a node, clear every link, read counters),
//! each answered on one line. The shard ends when its stdin closes, and dies with the
//! orchestrator whatever ends it (`die_with_orchestrator`).

use crate::proxy::{Counts, Relays};
use algorithms::faults::LinkSpec;
use algorithms::NodeId;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shard's first line on stdin: its part of the network.
#[derive(Serialize, Deserialize)]
struct Setup {
    seed: u64,
    senders: BTreeSet<NodeId>,
    targets: BTreeMap<NodeId, SocketAddr>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Set { spec: LinkSpec },
    Retarget { to: NodeId, addr: SocketAddr },
    ClearAll,
    Counters { from: NodeId, to: NodeId },
}

#[derive(Default, Serialize, Deserialize)]
struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    counters: Option<Counts>,
}

/// The orchestrator's end of one shard.
pub struct ShardProcess {
    pub listen: BTreeMap<NodeId, SocketAddr>,
    child: Child,
    pipes: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
}

impl ShardProcess {
    /// Starts a shard for `targets` (spawn from the main thread: see `die_with_orchestrator`).
    pub fn spawn(
        senders: &BTreeSet<NodeId>,
        targets: &BTreeMap<NodeId, SocketAddr>,
        seed: u64,
    ) -> Result<ShardProcess> {
        let exe = std::env::current_exe().context("finding the orchestrator's own binary for a proxy shard")?;
        let mut cmd = Command::new(exe);
        cmd.arg("proxy-shard").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        crate::child::die_with_orchestrator(&mut cmd);
        let mut child = cmd.spawn().context("starting a proxy shard")?;
        let (mut stdin, stdout) = (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"));
        let setup = Setup { seed, senders: senders.clone(), targets: targets.clone() };
        let mut stdout = BufReader::new(stdout);
        let mut line = serde_json::to_string(&setup)?;
        line.push('\n');
        stdin.write_all(line.as_bytes()).context("writing to a proxy shard")?;
        let mut answer = String::new();
        stdout.read_line(&mut answer).context("reading a proxy shard's listeners")?;
        let listen: BTreeMap<NodeId, SocketAddr> = serde_json::from_str(&answer)
            .map_err(|e| anyhow!("a proxy shard did not start ({e}): {:?}", answer.trim()))?;
        Ok(ShardProcess { listen, child, pipes: Mutex::new(Some((stdin, stdout))) })
    }

    fn call(&self, request: &Request) -> Result<Reply> {
        let mut pipes = self.pipes.lock().expect("shard pipes");
        let (stdin, stdout) = pipes.as_mut().ok_or_else(|| anyhow!("the proxy shard is gone"))?;
        let mut line = serde_json::to_string(request)?;
        line.push('\n');
        stdin.write_all(line.as_bytes()).context("writing to a proxy shard")?;
        let mut answer = String::new();
        if stdout.read_line(&mut answer).context("reading a proxy shard")? == 0 {
            bail!("the proxy shard exited");
        }
        let reply: Reply = serde_json::from_str(&answer).context("a proxy shard's reply")?;
        match reply.error {
            Some(e) => bail!(e),
            None => Ok(reply),
        }
    }

    pub fn set(&self, spec: LinkSpec) -> Result<()> {
        self.call(&Request::Set { spec }).map(drop)
    }

    pub fn retarget(&self, to: NodeId, addr: SocketAddr) -> Result<()> {
        self.call(&Request::Retarget { to, addr }).map(drop)
    }

    pub fn clear_all(&self) -> Result<()> {
        self.call(&Request::ClearAll).map(drop)
    }

    pub fn counters(&self, from: NodeId, to: NodeId) -> Result<Option<Counts>> {
        self.call(&Request::Counters { from, to }).map(|r| r.counters)
    }
}

impl Drop for ShardProcess {
    fn drop(&mut self) {
        // Closing its stdin ends the shard; one that does not go in time is killed.
        self.pipes.lock().map(|mut p| p.take()).ok();
        let deadline = Instant::now() + Duration::from_secs(1);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shard's side: `orchestrator proxy-shard`, until its stdin closes.
pub fn serve() -> Result<()> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let setup: Setup = serde_json::from_str(&lines.next().ok_or_else(|| anyhow!("no setup line"))??)?;
    let relays = Relays::start(setup.senders, &setup.targets, setup.seed)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&relays.listen)?)?;
    out.flush()?;
    for line in lines {
        let reply = match serde_json::from_str::<Request>(&line?) {
            Err(e) => Reply { error: Some(format!("bad shard request: {e}")), ..Reply::default() },
            Ok(Request::Set { spec }) => Reply { error: relays.set(spec).err().map(|e| e.to_string()), counters: None },
            Ok(Request::Retarget { to, addr }) => {
                relays.retarget(to, addr);
                Reply::default()
            }
            Ok(Request::ClearAll) => {
                relays.clear_all();
                Reply::default()
            }
            Ok(Request::Counters { from, to }) => Reply { counters: relays.counters(from, to), ..Reply::default() },
        };
        writeln!(out, "{}", serde_json::to_string(&reply)?)?;
        out.flush()?;
    }
    Ok(())
}

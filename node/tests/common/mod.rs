//! Test harness: real `node` processes on 127.0.0.1 with configs in a temporary directory.
//!
//! Every child is killed and reaped when its [`Cluster`] is dropped, even when a test panics,
//! and the directory is removed; PR_SET_PDEATHSIG also ends a child if the test process dies.

#![allow(dead_code)] // each test file uses a different part

use algorithms::trace::{parse_jsonl, TraceRecord};
use node::config::{InstanceConfig, NodeConfig, Peer};
use node::control::{Client, NodeStatus, Request, Response};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fresh directory under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("clusterlab-node-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct NodeProc {
    pub cfg: NodeConfig,
    pub config_path: PathBuf,
    pub stderr_path: PathBuf,
    pub child: Option<Child>,
}

impl NodeProc {
    pub fn control(&self) -> &Path {
        self.cfg.control.as_deref().unwrap()
    }

    /// Connects to the control socket, waiting for the node to create it.
    pub fn client(&self) -> Client {
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        loop {
            match Client::connect(self.control(), CONTROL_TIMEOUT) {
                Ok(client) => return client,
                Err(e) if Instant::now() > deadline => panic!("node {} control: {e}; {}", self.cfg.id, self.stderr()),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn call(&self, request: &Request) -> Response {
        self.client().call(request).unwrap_or_else(|e| panic!("node {} {request:?}: {e}", self.cfg.id))
    }

    pub fn status(&self) -> NodeStatus {
        let response = self.call(&Request::Status);
        assert!(response.ok, "{response:?}");
        response.status.unwrap()
    }

    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "node {} did not exit; {}", self.cfg.id, self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.as_ref().expect("running").id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    }

    pub fn trace(&self) -> Vec<TraceRecord> {
        let bytes = std::fs::read(&self.cfg.trace).unwrap_or_default();
        let text = String::from_utf8_lossy(node::trace_file::written(&bytes));
        parse_jsonl(&text).unwrap_or_else(|e| panic!("trace of node {}: {e}\n{text}", self.cfg.id))
    }

    pub fn stderr(&self) -> String {
        format!("stderr of node {}:\n{}", self.cfg.id, std::fs::read_to_string(&self.stderr_path).unwrap_or_default())
    }

    pub fn listen(&self) -> SocketAddr {
        self.cfg.listen
    }
}

/// Nodes of one cluster; killed and cleaned up on drop.
pub struct Cluster {
    pub nodes: Vec<NodeProc>,
    pub dir: TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Cluster {
    /// Configs for `n` nodes of cluster `"test"`, each hosting one instance of `algorithm`.
    pub fn configure(name: &str, n: u32, algorithm: &str, params: serde_json::Value) -> Cluster {
        let dir = TempDir::new(name);
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let addr = |i: u32| SocketAddr::from(([127, 0, 0, 1], ports[i as usize - 1]));
        let nodes = (1..=n)
            .map(|id| {
                let cfg = NodeConfig {
                    id,
                    cluster: "test".into(),
                    listen: addr(id),
                    bind: Some("127.0.0.1".parse().unwrap()),
                    mux: None,
                    peers: (1..=n).filter(|p| *p != id).map(|p| Peer { id: p, addr: addr(p) }).collect(),
                    trace: dir.0.join(format!("node-{id}.jsonl")),
                    data_dir: dir.0.join(format!("data-{id}")),
                    control: Some(dir.0.join(format!("node-{id}.sock"))),
                    seed: 7,
                    hold: false,
                    trace_messages: true,
                    instances: vec![InstanceConfig {
                        name: algorithm.into(),
                        algorithm: algorithm.into(),
                        params: params.clone(),
                        ..Default::default()
                    }],
                };
                NodeProc {
                    config_path: dir.0.join(format!("node-{id}.toml")),
                    stderr_path: dir.0.join(format!("node-{id}.log")),
                    cfg,
                    child: None,
                }
            })
            .collect();
        Cluster { nodes, dir }
    }

    pub fn node(&mut self, id: u32) -> &mut NodeProc {
        &mut self.nodes[id as usize - 1]
    }

    /// Writes node `id`'s config and starts it.
    pub fn spawn(&mut self, id: u32) {
        let node = self.node(id);
        std::fs::write(&node.config_path, toml::to_string(&node.cfg).unwrap()).unwrap();
        node.child = Some(spawn_node(&node.config_path, &node.stderr_path));
    }

    pub fn spawn_all(&mut self) {
        for id in 1..=self.nodes.len() as u32 {
            self.spawn(id);
        }
    }
}

/// Starts the node binary; it dies with this process's thread (PR_SET_PDEATHSIG).
pub fn spawn_node(config: &Path, stderr: &Path) -> Child {
    let log = std::fs::File::create(stderr).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_node"));
    command.arg("--config").arg(config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().expect("the node binary starts")
}

/// Polls `check` every 20 ms until it gives a value or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One length-delimited frame as the wire codec writes it.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

/// Connects to a node's listen port, retrying while it starts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = wait_for(CONTROL_TIMEOUT, "the listen port", || TcpStream::connect(addr).ok());
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

/// Writes `bytes`, then waits until the node closes the connection; false if it stays open.
pub fn node_closes(stream: &mut TcpStream, bytes: &[u8], within: Duration) -> bool {
    let _ = stream.write_all(bytes);
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false, // timed out: still open
        }
    }
}

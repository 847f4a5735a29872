//! Live control of a cluster that is up: `orchestrator kill|restart|pause|resume|partition|heal|
//! link|drift|status|cmd|down` talk to the orchestrator that runs it through a Unix socket in the
//! run directory (`control.sock`, or the path written in `control.path` when the run directory's
//! path is too long for a socket). One JSON request a line, one JSON reply a line.

use crate::report::Summary;
use crate::session::{ClusterStatus, Session};
use algorithms::faults::Action;
use algorithms::NodeId;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LiveRequest {
    Apply {
        action: Action,
        #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
        lasting: Option<Duration>,
    },
    Status,
    Cmd {
        node: NodeId,
        #[serde(default)]
        instance: Option<String>,
        args: Vec<String>,
    },
    Down,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LiveResponse {
    pub ok: bool,
    /// What was done, or why not.
    pub message: String,
    /// The exit code the CLI should end with.
    pub code: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClusterStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

impl LiveResponse {
    fn done(message: String) -> Self {
        LiveResponse { ok: true, message, ..Default::default() }
    }

    fn failed(code: u8, message: String) -> Self {
        LiveResponse { ok: false, message, code, ..Default::default() }
    }
}

/// The orchestrator's end of the control socket.
pub struct LiveServer {
    listener: UnixListener,
    path: PathBuf,
}

/// A `down` request waiting for the summary.
pub struct DownRequest(UnixStream);

impl DownRequest {
    pub fn reply(mut self, summary: Result<&Summary, String>) {
        let response = match summary {
            Ok(s) => LiveResponse {
                ok: true,
                message: format!("cluster stopped; run directory: {}", s.run_dir.display()),
                code: crate::verdict_code(s.verdict, false),
                summary: Some(s.clone()),
                ..Default::default()
            },
            Err(e) => LiveResponse::failed(3, e),
        };
        let _ = write_line(&mut self.0, &response);
    }
}

fn write_line(stream: &mut UnixStream, response: &LiveResponse) -> std::io::Result<()> {
    let mut line = serde_json::to_string(response).map_err(std::io::Error::other)?;
    line.push('\n');
    stream.write_all(line.as_bytes())
}

impl LiveServer {
    pub fn bind(run_dir: &Path) -> Result<LiveServer> {
        let direct = run_dir.join("control.sock");
        let path = match crate::cluster::socket_dir(run_dir)? {
            None => direct,
            Some(dir) => {
                let path = dir.join("control.sock");
                std::fs::write(run_dir.join("control.path"), path.to_string_lossy().as_bytes())?;
                path
            }
        };
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(LiveServer { listener, path })
    }

    /// Serves every request waiting now; returns a `down` request for the caller to finish.
    pub fn poll(&self, session: &mut Session) -> Option<DownRequest> {
        while let Ok((mut stream, _)) = self.listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let response = match serde_json::from_str::<LiveRequest>(&line) {
                Err(e) => LiveResponse::failed(2, format!("bad request: {e}")),
                Ok(LiveRequest::Down) => return Some(DownRequest(stream)),
                Ok(LiveRequest::Status) => {
                    let status = session.status();
                    LiveResponse { ok: true, message: status.human(), status: Some(status), ..Default::default() }
                }
                Ok(LiveRequest::Apply { action, lasting }) => match action.validate(session.exp.all_ids().len()) {
                    Err(e) => LiveResponse::failed(2, e),
                    Ok(()) => match session.apply(&action, lasting) {
                        Ok(done) => LiveResponse::done(done),
                        Err(e) => LiveResponse::failed(3, format!("{e:#}")),
                    },
                },
                Ok(LiveRequest::Cmd { node, instance, mut args }) => {
                    // Every node runs one instance, named after the algorithm: `cmd 3 bully elect`
                    // and `cmd 3 elect` say the same.
                    // A client node runs the service's client: `cmd 6 client put x 1`, and the
                    // coordination service's `cmd 6 zk create /app1/p --ephemeral --sequential`.
                    let client = session.exp.workload.is_some() && node as usize > session.exp.servers();
                    if instance.is_none()
                        && args.len() > 1
                        && (args[0] == session.exp.algorithm || client && (args[0] == "client" || args[0] == "zk"))
                    {
                        args.remove(0);
                    }
                    let all = session.exp.all_ids().len();
                    if node == 0 || node as usize > all {
                        LiveResponse::failed(2, format!("node {node} does not exist (nodes are 1..={all})"))
                    } else {
                        match session.command(node, instance.as_deref(), args) {
                            Ok(reply) => LiveResponse::done(reply),
                            Err(e) => LiveResponse::failed(3, format!("{e:#}")),
                        }
                    }
                }
            };
            let _ = write_line(&mut stream, &response);
        }
        None
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Sends one request to the cluster that is up in `run_dir` and waits for the reply.
pub fn call(run_dir: &Path, request: &LiveRequest, timeout: Duration) -> Result<LiveResponse> {
    let path = match std::fs::read_to_string(run_dir.join("control.path")) {
        Ok(p) => PathBuf::from(p.trim()),
        Err(_) => run_dir.join("control.sock"),
    };
    let mut stream = UnixStream::connect(&path).map_err(|_| {
        anyhow!(
            "no cluster is up in {} (start one with `orchestrator up CONFIG`, or name its run directory with --run)",
            run_dir.display()
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply).context("waiting for the orchestrator's reply")?;
    if reply.is_empty() {
        return Err(anyhow!("the orchestrator closed the connection without a reply"));
    }
    Ok(serde_json::from_str(&reply)?)
}

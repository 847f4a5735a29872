//! The control endpoint: newline-delimited JSON over a Unix socket (see `node::control`), and the
//! signal handlers, which end the node the same clean way a `shutdown` request does.

use crate::instance::{Corrupt, GetStatus, RunCommand};
use crate::lifecycle::Lifecycle;
use crate::transport::{Transport, TransportStatus};
use actix::prelude::*;
use algorithms::NodeId;
use futures::StreamExt;
use node::control::{NodeStatus, Request, Response};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::codec::{FramedRead, LinesCodec};

/// A request line longer than this is refused (and its connection closed).
const MAX_LINE: usize = 1 << 20;

/// Binds the control socket, replacing a stale socket file a killed node left behind, and makes
/// it readable and writable by the owner only.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    use anyhow::Context as _;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            std::fs::remove_file(path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?
        }
        Ok(_) => anyhow::bail!("control socket path {} exists and is not a socket", path.display()),
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The socket is created with mode 0600 (umask), so no other user can connect in between.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.with_context(|| format!("cannot bind the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod {}", path.display()))?;
    Ok(listener)
}

/// What the control endpoint asks of one instance: a built-in algorithm's actor or an external
/// program's bridge, each as the recipient of the three requests.
#[derive(Clone)]
pub struct Handle {
    pub status: Recipient<GetStatus>,
    pub command: Recipient<RunCommand>,
    pub corrupt: Recipient<Corrupt>,
}

impl Handle {
    pub fn of<A>(addr: &Addr<A>) -> Handle
    where
        A: Actor<Context = Context<A>> + Handler<GetStatus> + Handler<RunCommand> + Handler<Corrupt>,
    {
        Handle {
            status: addr.clone().recipient(),
            command: addr.clone().recipient(),
            corrupt: addr.clone().recipient(),
        }
    }
}

/// What the request handlers need.
#[derive(Clone)]
pub struct Shared {
    pub id: NodeId,
    /// Every peer of the node's config (what `await_connected` waits for).
    pub peers: Rc<[NodeId]>,
    pub life: Rc<Lifecycle>,
    pub instances: Rc<BTreeMap<String, Handle>>,
    pub transport: Addr<Transport>,
}

pub async fn serve(listener: UnixListener, shared: Shared) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                actix_rt::spawn(connection(stream, shared.clone()));
            }
            Err(e) => {
                tracing::warn!("control accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// What to do once the reply is written.
enum Then {
    Continue,
    /// The request stream is unusable: close this connection.
    Close,
    /// `shutdown`: stop the node.
    Shutdown,
    /// `attach`: stop the node when this connection ends.
    Attach,
}

async fn connection(stream: UnixStream, shared: Shared) {
    let (reader, mut writer) = stream.into_split();
    let mut lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE));
    let mut attached = false;
    loop {
        let (response, then) = match lines.next().await {
            None => break,
            Some(Err(e)) => (Response::error(format!("unreadable request: {e}")), Then::Close),
            Some(Ok(line)) if line.trim().is_empty() => continue,
            Some(Ok(line)) => match serde_json::from_str::<Request>(&line) {
                Err(e) => (Response::error(format!("bad request: {e}")), Then::Continue),
                Ok(request) => handle(request, &shared).await,
            },
        };
        let mut text = serde_json::to_string(&response).unwrap_or_else(|_| r#"{"ok":false}"#.to_string());
        text.push('\n');
        let written = writer.write_all(text.as_bytes()).await;
        match then {
            Then::Continue => {}
            Then::Attach => attached = true,
            Then::Close => break,
            Then::Shutdown => {
                let _ = writer.flush().await;
                shared.life.stop("shutdown requested", 0);
                return;
            }
        }
        if written.is_err() {
            break;
        }
    }
    if attached {
        shared.life.stop("orchestrator gone", 0);
    }
}

async fn handle(request: Request, shared: &Shared) -> (Response, Then) {
    match request {
        Request::Status => match status(shared).await {
            Ok(status) => (Response { ok: true, status: Some(status), ..Default::default() }, Then::Continue),
            Err(e) => (Response::error(e), Then::Continue),
        },
        Request::Start => {
            shared.life.start();
            (Response::ok(), Then::Continue)
        }
        Request::Command { instance, args } => {
            let Some(addr) = shared.instances.get(&instance) else {
                let known: Vec<&str> = shared.instances.keys().map(String::as_str).collect();
                return (
                    Response::error(format!("no instance {instance:?} on this node; it hosts: {}", known.join(", "))),
                    Then::Continue,
                );
            };
            let response = match addr.command.send(RunCommand(args)).await {
                Ok(Ok(reply)) => Response { ok: true, reply: Some(reply), ..Default::default() },
                Ok(Err(error)) => Response::error(error),
                Err(e) => Response::error(format!("instance {instance:?} is gone: {e}")),
            };
            (response, Then::Continue)
        }
        Request::Corrupt { instance } => {
            let Some(addr) = shared.instances.get(&instance) else {
                return (Response::error(format!("no instance {instance:?} on this node")), Then::Continue);
            };
            let response = match addr.corrupt.send(Corrupt).await {
                Ok(Ok(())) => Response::ok(),
                Ok(Err(error)) => Response::error(error),
                Err(e) => Response::error(format!("instance {instance:?} is gone: {e}")),
            };
            (response, Then::Continue)
        }
        Request::Shutdown => (Response::ok(), Then::Shutdown),
        Request::Quiesce => {
            shared.life.quiesce();
            (Response::ok(), Then::Continue)
        }
        Request::Attach => (Response::ok(), Then::Attach),
        Request::AwaitConnected { timeout_ms } => match await_connected(shared, timeout_ms).await {
            Ok(()) => (Response::ok(), Then::Continue),
            Err(e) => (Response::error(e), Then::Continue),
        },
        Request::Drift { rate } => match shared.life.clock.set_rate(rate) {
            Ok(()) => {
                tracing::info!("clock drift: algorithms' time now runs at {rate}× true time");
                (Response::ok(), Then::Continue)
            }
            Err(e) => (Response::error(e), Then::Continue),
        },
    }
}

async fn status(shared: &Shared) -> Result<NodeStatus, String> {
    let (counters, connected, greeted) =
        shared.transport.send(TransportStatus).await.map_err(|e| format!("transport: {e}"))?;
    let mut instances = BTreeMap::new();
    for (name, addr) in shared.instances.iter() {
        let status = addr.status.send(GetStatus).await.map_err(|e| format!("instance {name:?}: {e}"))?;
        instances.insert(name.clone(), status);
    }
    Ok(NodeStatus {
        id: shared.id,
        pid: std::process::id(),
        started: shared.life.started(),
        connected,
        greeted,
        instances,
        counters,
    })
}

/// Waits until every peer is connected to and has greeted this node (checked every few ms: an
/// in-process question to the transport), or says who is missing after `timeout_ms`.
async fn await_connected(shared: &Shared, timeout_ms: u64) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    loop {
        let (_, connected, greeted) =
            shared.transport.send(TransportStatus).await.map_err(|e| format!("transport: {e}"))?;
        let missing =
            |have: &[NodeId]| -> Vec<NodeId> { shared.peers.iter().copied().filter(|p| !have.contains(p)).collect() };
        let (to, from) = (missing(&connected), missing(&greeted));
        if to.is_empty() && from.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "node {} not connected after {timeout_ms} ms: no connection to {to:?}, no hello from {from:?}",
                shared.id
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// SIGTERM and SIGINT, registered at start-up and handled once the node runs.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    pub fn spawn(mut self, life: Rc<Lifecycle>) {
        actix_rt::spawn(async move {
            let name = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            };
            life.stop(&format!("{name} received"), 0);
        });
    }
}

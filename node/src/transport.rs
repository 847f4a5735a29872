//! The transport: owns every TCP connection of the node.
//!
//! - **Outbound**, one connection per peer, made by a link task: bound to `bind` when set (so
//!   iptables rules can tell nodes apart), reconnected with exponential backoff, opened with a
//!   [`Frame::Hello`], then fed from the peer's queue. Frames are fed into the codec while more are
//!   queued and flushed when the queue is empty, so a burst costs one write(2), not one per frame.
//! - **Inbound**, one reader task per accepted connection: the first frame must be a valid hello
//!   from a known peer of the same cluster within the [`HelloDeadline`] (which grows each time
//!   a connection misses it, so a starved proxy is given time rather than churn); then each frame is decoded
//!   and routed to its instance's actor. What to do with each frame is [`wire::Inbound`]'s
//!   decision (the same code the fuzz targets run); this task reads, counts and traces. Bad
//!   input is counted and traced, never fatal: a frame that does not decode is skipped (the
//!   length prefix keeps the framing intact), a length prefix over [`wire::MAX_FRAME`] closes
//!   that connection only.
//!
//! Instances hand frames to the per-peer queues through [`Links`] directly rather than through
//! the transport actor's mailbox: that saves an actor hop per message on the hottest path. The
//! actor itself starts the tasks (they live in its context) and answers status queries.

use crate::tracer::Tracer;
use actix::prelude::*;
use algorithms::trace::What;
use algorithms::NodeId;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use node::control::Counters;
use node::wire::{self, Envelope, Frame, Gate, HelloDeadline, Inbound, Rejection, Step, WIRE_VERSION};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

/// Frames waiting for one peer, at most. Beyond this a send is dropped (and counted): a stopped
/// or slow peer must not make the node's memory grow without bound.
pub const QUEUE_LIMIT: usize = 10_000;
const BACKOFF_START: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// A connect that neither succeeds nor fails in this time (a black-holed address) is a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Most frames written between two flushes, so one busy link cannot hold a write buffer forever.
const MAX_BATCH: usize = 1024;
/// Most frames handed to instances in one batch (one actor message per batch and instance).
const MAX_DELIVERY: usize = 512;

/// What the transport has seen; atomics so instances and tasks count without messages.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames_sent: AtomicU64,
    pub frames_received: AtomicU64,
    pub malformed_frames: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub unroutable_frames: AtomicU64,
    pub dropped_frames: AtomicU64,
}

impl Stats {
    pub fn counters(&self) -> Counters {
        Counters {
            frames_sent: self.frames_sent.load(Relaxed),
            frames_received: self.frames_received.load(Relaxed),
            malformed_frames: self.malformed_frames.load(Relaxed),
            rejected_connections: self.rejected_connections.load(Relaxed),
            unroutable_frames: self.unroutable_frames.load(Relaxed),
            dropped_frames: self.dropped_frames.load(Relaxed),
        }
    }

    /// Adds what a [`Step`] counts (see [`Step::count`]).
    fn count(&self, step: &Step) {
        let mut c = Counters::default();
        step.count(&mut c);
        bump(&self.malformed_frames, c.malformed_frames);
        bump(&self.rejected_connections, c.rejected_connections);
        bump(&self.unroutable_frames, c.unroutable_frames);
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Relaxed);
    }
}

/// The instances' handle on the outbound queues.
#[derive(Clone)]
pub struct Links {
    queues: Rc<HashMap<NodeId, mpsc::Sender<Bytes>>>,
    pub stats: Arc<Stats>,
}

/// The receiving ends of the queues, for the transport's link tasks.
pub enum Queues {
    /// One queue per peer, each written into that peer's own connection.
    PerPeer(Vec<(NodeId, mpsc::Receiver<Bytes>)>),
    /// One queue for every peer, written into the one connection to a multiplexing proxy (each
    /// frame names its destination): [`QUEUE_LIMIT`] frames per peer, shared.
    Muxed(mpsc::Receiver<Bytes>),
}

impl Links {
    /// The queues for `peers`: one each, or one shared by all when the node reaches them
    /// through a multiplexing proxy (`muxed`).
    pub fn new(peers: &[NodeId], stats: Arc<Stats>, muxed: bool) -> (Links, Queues) {
        let mut senders = HashMap::new();
        if muxed {
            let (tx, rx) = mpsc::channel(QUEUE_LIMIT * peers.len().max(1));
            for &peer in peers {
                senders.insert(peer, tx.clone());
            }
            return (Links { queues: Rc::new(senders), stats }, Queues::Muxed(rx));
        }
        let mut receivers = Vec::new();
        for &peer in peers {
            let (tx, rx) = mpsc::channel(QUEUE_LIMIT);
            senders.insert(peer, tx);
            receivers.push((peer, rx));
        }
        (Links { queues: Rc::new(senders), stats }, Queues::PerPeer(receivers))
    }

    /// Queues one encoded frame for `to`; a full queue or an unknown peer drops it (counted).
    pub fn send(&self, to: NodeId, frame: Bytes) {
        let queued = self.queues.get(&to).map(|q| q.try_send(frame));
        match queued {
            Some(Ok(())) => {}
            Some(Err(_)) => bump(&self.stats.dropped_frames, 1),
            None => {
                bump(&self.stats.dropped_frames, 1);
                tracing::warn!("dropped a frame for node {to}, which is not a peer");
            }
        }
    }
}

/// Envelopes for one instance, in arrival order: what the transport hands on. The transport knows
/// instances only as recipients of this message.
pub struct Deliver(pub Vec<Envelope>);

impl Message for Deliver {
    type Result = ();
}

/// What every transport task shares (one thread: the actix system's).
pub struct Net {
    /// This node, its cluster and peers, and the instances it hosts (the `routes`' names).
    pub gate: Gate,
    pub bind: Option<IpAddr>,
    pub stats: Arc<Stats>,
    pub tracer: Arc<Tracer>,
    pub routes: HashMap<String, Recipient<Deliver>>,
    /// Peers whose outbound connection is up (hello sent).
    pub connected: RefCell<BTreeSet<NodeId>>,
    /// Peers whose hello this node accepted, with how many of their connections are open: the
    /// path from them works end to end (through a proxy too, which connects here only once it
    /// has the sender's connection).
    pub greeted: RefCell<BTreeMap<NodeId, usize>>,
    /// How long an inbound connection may take to say hello.
    pub hello_deadline: HelloDeadline,
}

/// One open inbound connection from a peer that said hello, counted in [`Net::greeted`] while
/// it lives.
struct Greeting<'n> {
    net: &'n Net,
    peer: NodeId,
}

impl<'n> Greeting<'n> {
    fn new(net: &'n Net, peer: NodeId) -> Self {
        *net.greeted.borrow_mut().entry(peer).or_default() += 1;
        Greeting { net, peer }
    }
}

impl Drop for Greeting<'_> {
    fn drop(&mut self) {
        let mut greeted = self.net.greeted.borrow_mut();
        if let Some(open) = greeted.get_mut(&self.peer) {
            *open -= 1;
            if *open == 0 {
                greeted.remove(&self.peer);
            }
        }
    }
}

impl Net {
    /// The hello this node opens each connection it dials with.
    fn hello(&self) -> Bytes {
        Bytes::from(wire::encode(&Frame::Hello {
            node: self.gate.me,
            cluster: self.gate.cluster.clone(),
            version: WIRE_VERSION,
        }))
    }

    /// Counts a step of an inbound connection from `remote` and traces it if it is bad.
    fn judged(&self, remote: SocketAddr, peer: Option<NodeId>, step: &Step) {
        self.stats.count(step);
        match step {
            Step::Rejected(Rejection::Silent) => tracing::debug!("connection from {remote} closed before its hello"),
            Step::Unroutable(envelope) => tracing::debug!(
                "unroutable frame from node {}: instance {:?}, addressed to node {}",
                envelope.from,
                envelope.instance,
                envelope.to
            ),
            _ => {}
        }
        if let Some(reason) = step.reason(peer) {
            let (from, reason) = match step {
                Step::Rejected(_) => {
                    let reason = format!("connection from {remote} {reason}");
                    tracing::warn!("{reason}");
                    (None, reason)
                }
                _ => {
                    tracing::warn!("malformed frame: {reason}");
                    (peer, reason)
                }
            };
            self.tracer.record("", What::Malformed { from, reason });
        }
    }
}

pub struct Transport {
    net: Rc<Net>,
    listener: Option<TcpListener>,
    queues: Option<Queues>,
    addrs: HashMap<NodeId, SocketAddr>,
    /// The multiplexing proxy every peer is reached through, if any.
    mux: Option<SocketAddr>,
}

impl Transport {
    /// `mux`: the proxy that carries every link (then `queues` is [`Queues::Muxed`] and `addrs`
    /// go unused).
    pub fn new(
        net: Rc<Net>,
        listener: TcpListener,
        queues: Queues,
        addrs: HashMap<NodeId, SocketAddr>,
        mux: Option<SocketAddr>,
    ) -> Self {
        Transport { net, listener: Some(listener), queues: Some(queues), addrs, mux }
    }
}

impl Actor for Transport {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(listener) = self.listener.take() {
            ctx.spawn(accept_loop(listener, self.net.clone()).into_actor(self));
        }
        match (self.queues.take(), self.mux) {
            (Some(Queues::PerPeer(queues)), _) => {
                for (peer, rx) in queues {
                    if let Some(addr) = self.addrs.get(&peer).copied() {
                        ctx.spawn(link(peer, addr, rx, self.net.clone()).into_actor(self));
                    }
                }
            }
            (Some(Queues::Muxed(rx)), Some(proxy)) => {
                ctx.spawn(mux_link(proxy, rx, self.net.clone()).into_actor(self));
            }
            (Some(Queues::Muxed(_)), None) => tracing::error!("one shared queue, but no proxy to write it to"),
            (None, _) => {}
        }
    }
}

/// The transport's part of `status`: counters, peers connected to, peers greeted by.
pub struct TransportStatus;

impl Message for TransportStatus {
    type Result = (Counters, Vec<NodeId>, Vec<NodeId>);
}

impl Handler<TransportStatus> for Transport {
    type Result = MessageResult<TransportStatus>;

    fn handle(&mut self, _: TransportStatus, _: &mut Self::Context) -> Self::Result {
        let net = &self.net;
        let connected = net.connected.borrow().iter().copied().collect();
        MessageResult((net.stats.counters(), connected, net.greeted.borrow().keys().copied().collect()))
    }
}

async fn accept_loop(listener: TcpListener, net: Rc<Net>) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                actix_rt::spawn(serve_inbound(stream, remote, net.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, the condition may pass.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads the hello, then frames until the peer closes or sends something unframeable.
async fn serve_inbound(stream: TcpStream, remote: SocketAddr, net: Rc<Net>) {
    let _ = stream.set_nodelay(true);
    let mut frames = FramedRead::new(stream, wire::FrameReader::new());
    let mut conn = Inbound::new(&net.gate);
    let deadline = net.hello_deadline.get();
    let first = match tokio::time::timeout(deadline, frames.next()).await {
        Err(_) => {
            net.hello_deadline.missed();
            Step::Rejected(Rejection::Timeout { secs: deadline.as_secs() })
        }
        Ok(None) => conn.ended().unwrap_or(Step::Rejected(Rejection::Silent)),
        Ok(Some(Err(e))) => conn.unreadable(&e),
        Ok(Some(Ok(bytes))) => {
            bump(&net.stats.frames_received, 1);
            conn.frame(&bytes)
        }
    };
    let Step::Hello(peer) = first else {
        return net.judged(remote, None, &first);
    };
    tracing::debug!("node {peer} connected from {remote}");
    let _greeting = Greeting::new(&net, peer);
    let mut batches = frames.ready_chunks(MAX_DELIVERY);
    while let Some(batch) = batches.next().await {
        let mut deliveries: Vec<(&Recipient<Deliver>, Vec<Envelope>)> = Vec::new();
        let mut broken = None;
        for item in batch {
            let step = match item {
                Ok(bytes) => {
                    bump(&net.stats.frames_received, 1);
                    conn.frame(&bytes)
                }
                Err(e) => {
                    // The length prefix itself is bad: the stream cannot be re-synchronised.
                    broken = Some(conn.unreadable(&e));
                    break;
                }
            };
            match step {
                Step::Deliver(envelope) => {
                    let addr = &net.routes[&envelope.instance]; // the gate knows only routed names
                    match deliveries.last_mut() {
                        Some((last, group)) if *last == addr => group.push(envelope),
                        _ => deliveries.push((addr, vec![envelope])),
                    }
                }
                bad => net.judged(remote, Some(peer), &bad),
            }
        }
        for (addr, envelopes) in deliveries {
            addr.do_send(Deliver(envelopes));
        }
        if let Some(step) = broken {
            return net.judged(remote, Some(peer), &step);
        }
    }
    tracing::debug!("node {peer} closed its connection from {remote}");
}

/// Keeps one peer connected for the node's whole life and writes its queue into the connection.
async fn link(peer: NodeId, addr: SocketAddr, mut queue: mpsc::Receiver<Bytes>, net: Rc<Net>) {
    let hello = net.hello();
    let mut redial = Redial::new();
    loop {
        match connect(addr, net.bind).await {
            Ok(stream) => {
                redial.connected();
                let lost = run_link(peer, stream, &hello, &mut queue, &net).await;
                net.connected.borrow_mut().remove(&peer);
                match lost {
                    None => return, // every sender is gone: the node is stopping
                    Some(reason) => tracing::info!("link to node {peer} at {addr} lost: {reason}"),
                }
            }
            Err(e) => redial.failed(&mut queue, &net, &format_args!("node {peer} at {addr}"), &e).await,
        }
    }
}

/// Keeps the node's one connection to a multiplexing proxy for its whole life: frames for every
/// peer go out on it, frames from every peer come in on it. The node counts as connected to
/// every peer while it is up, and as greeted by each peer whose hello the proxy passed on.
async fn mux_link(proxy: SocketAddr, mut queue: mpsc::Receiver<Bytes>, net: Rc<Net>) {
    let hello = net.hello();
    let mut redial = Redial::new();
    loop {
        match connect(proxy, net.bind).await {
            Ok(stream) => {
                redial.connected();
                let lost = run_mux(stream, proxy, &hello, &mut queue, &net).await;
                net.connected.borrow_mut().clear();
                match lost {
                    None => return,
                    Some(reason) => tracing::info!("connection to the proxy at {proxy} lost: {reason}"),
                }
            }
            Err(e) => redial.failed(&mut queue, &net, &format_args!("the proxy at {proxy}"), &e).await,
        }
    }
}

/// A dialling side's retries: a backoff doubling from [`BACKOFF_START`] to [`BACKOFF_MAX`],
/// started again by each connection.
struct Redial {
    backoff: Duration,
    failures: u64,
}

impl Redial {
    fn new() -> Redial {
        Redial { backoff: BACKOFF_START, failures: 0 }
    }

    fn connected(&mut self) {
        *self = Redial::new();
    }

    /// A dial to `target` failed. Frames queued for it are lost, as on a dead link: an algorithm
    /// must not get a burst of stale messages when it comes back. Then waits the backoff.
    async fn failed(
        &mut self,
        queue: &mut mpsc::Receiver<Bytes>,
        net: &Net,
        target: &dyn std::fmt::Display,
        error: &io::Error,
    ) {
        let mut dropped = 0;
        while queue.try_recv().is_ok() {
            dropped += 1;
        }
        bump(&net.stats.dropped_frames, dropped);
        self.failures += 1;
        if self.failures == 1 || dropped > 0 {
            tracing::debug!("cannot reach {target}: {error}; dropped {dropped} queued frame(s)");
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

/// Writes the hello and then queued frames, and reads what the proxy relays from the peers,
/// until the connection breaks (`Some(reason)`) or the queue closes (`None`).
async fn run_mux(
    stream: TcpStream,
    remote: SocketAddr,
    hello: &Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
    net: &Net,
) -> Option<String> {
    let (reader, writer) = stream.into_split();
    let mut sink = FramedWrite::new(writer, wire::codec());
    if let Err(e) = sink.send(hello.clone()).await {
        return Some(format!("hello failed: {e}"));
    }
    // Hellos on this connection are not counted as frames sent or received: the proxy greets
    // this node for each peer without a frame from it, and the orchestrator's quiet check
    // compares frames sent with frames received over the whole cluster.
    net.connected.borrow_mut().extend(net.gate.peers.iter().copied());
    tracing::debug!("connected to the proxy at {remote}");
    let mut conn = wire::Muxed::new(&net.gate);
    let mut greetings: BTreeMap<NodeId, Greeting<'_>> = BTreeMap::new();
    let mut batches = FramedRead::new(reader, wire::FrameReader::new()).ready_chunks(MAX_DELIVERY);
    loop {
        tokio::select! {
            frame = queue.recv() => {
                let first = frame?;
                let (written, result) = write_batch(&mut sink, first, queue).await;
                match result {
                    Ok(()) => bump(&net.stats.frames_sent, written),
                    Err(e) => {
                        bump(&net.stats.dropped_frames, written);
                        return Some(format!("write failed: {e}"));
                    }
                }
            }
            batch = batches.next() => {
                let batch = batch.ok_or_else(|| "closed by the proxy".to_string()).ok()?;
                if let Some(reason) = deliver_muxed(batch, remote, &mut conn, &mut greetings, net) {
                    return Some(reason);
                }
            }
        }
    }
}

/// Hands one batch read from the proxy to the instances; `Some(reason)` when the stream can no
/// longer be cut into frames.
fn deliver_muxed<'n>(
    batch: Vec<io::Result<bytes::BytesMut>>,
    remote: SocketAddr,
    conn: &mut wire::Muxed<'_>,
    greetings: &mut BTreeMap<NodeId, Greeting<'n>>,
    net: &'n Net,
) -> Option<String> {
    let mut deliveries: Vec<(&Recipient<Deliver>, Vec<Envelope>)> = Vec::new();
    let mut broken = None;
    for item in batch {
        let bytes = match item {
            Ok(bytes) => bytes,
            Err(e) => {
                broken = Some(e.to_string());
                break;
            }
        };
        let step = conn.frame(&bytes);
        if !matches!(step, Step::Hello(_) | Step::Rejected(_)) {
            bump(&net.stats.frames_received, 1);
        }
        match step {
            Step::Hello(peer) => {
                tracing::debug!("the proxy greeted this node for node {peer}");
                greetings.entry(peer).or_insert_with(|| Greeting::new(net, peer));
            }
            Step::Deliver(envelope) => {
                let addr = &net.routes[&envelope.instance];
                match deliveries.last_mut() {
                    Some((last, group)) if *last == addr => group.push(envelope),
                    _ => deliveries.push((addr, vec![envelope])),
                }
            }
            bad => net.judged(remote, None, &bad),
        }
    }
    for (addr, envelopes) in deliveries {
        addr.do_send(Deliver(envelopes));
    }
    broken.map(|e| {
        let step = Step::Malformed(wire::Malformed::Unframeable(e.clone()));
        net.judged(remote, None, &step);
        format!("unreadable frame: {e}")
    })
}

async fn connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(ip) = bind {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes the hello and then queued frames until the connection breaks (`Some(reason)`) or the
/// queue closes (`None`). Reading the connection, on which peers never write, notices at once
/// when the peer goes away, so `connected` is right even on an idle link.
async fn run_link(
    peer: NodeId,
    stream: TcpStream,
    hello: &Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
    net: &Net,
) -> Option<String> {
    let (mut reader, writer) = stream.into_split();
    let mut sink = FramedWrite::new(writer, wire::codec());
    if let Err(e) = sink.send(hello.clone()).await {
        return Some(format!("hello failed: {e}"));
    }
    bump(&net.stats.frames_sent, 1);
    net.connected.borrow_mut().insert(peer);
    tracing::debug!("connected to node {peer}");
    let mut scratch = [0u8; 256];
    loop {
        tokio::select! {
            frame = queue.recv() => {
                let first = frame?;
                let (written, result) = write_batch(&mut sink, first, queue).await;
                match result {
                    Ok(()) => bump(&net.stats.frames_sent, written),
                    Err(e) => {
                        bump(&net.stats.dropped_frames, written);
                        return Some(format!("write failed: {e}"));
                    }
                }
            }
            read = reader.read(&mut scratch) => match read {
                Ok(0) => return Some("closed by the peer".into()),
                Err(e) => return Some(format!("read failed: {e}")),
                Ok(_) => {} // peers do not write on this connection; ignore whatever came
            }
        }
    }
}

/// Feeds `first` and whatever else is queued (up to [`MAX_BATCH`]), then flushes once.
async fn write_batch(
    sink: &mut FramedWrite<tokio::net::tcp::OwnedWriteHalf, tokio_util::codec::LengthDelimitedCodec>,
    first: Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
) -> (u64, io::Result<()>) {
    let mut n = 1;
    if let Err(e) = sink.feed(first).await {
        return (n, Err(e));
    }
    while n < MAX_BATCH as u64 {
        let Ok(frame) = queue.try_recv() else { break };
        n += 1;
        if let Err(e) = sink.feed(frame).await {
            return (n, Err(e));
        }
    }
    (n, SinkExt::<Bytes>::flush(sink).await)
}

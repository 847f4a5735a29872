//! The frame-aware proxy: one connection per node, every directed link through it.
//!
//! Every node of a run dials the proxy's one listener once (`mux` in its config) and says hello
//! on it; then it writes the frames for all its peers on that connection, each envelope naming
//! its destination (`to`), and reads on it the frames of all its peers. The proxy greets each
//! node on behalf of every other node that is connected, by passing on that node's own hello (so
//! the node's gate checks cluster and version as before), and routes each frame it reads to its
//! destination's connection. Because it sees whole frames (each one message) and who sent them,
//! every fault still applies per directed link and per message: cut (a blackhole; in reset mode
//! the frames are dropped as well and each counts as a reset, since the sender's connection
//! carries its other links too), loss, extra delay with jitter, duplication and reordering. The
//! hellos are never touched, so a link with faults still connects.
//!
//! It scales to hundreds of nodes: N sockets (and N writer tasks) rather than two per directed
//! link, so 200 nodes need 200 sockets in one process. A link's state (its faults, counters and
//! seeded RNG) is made when its first frame arrives or its first fault is set; a healthy link's
//! frame goes straight from the sender's read buffer into the destination's queue: no per-frame
//! task, clock read or random draw. A link given a fault gets a task of its own that holds its
//! delayed and reordered frames, and keeps carrying the link's frames after it heals, so each
//! link stays FIFO (but for the reordering asked for). All random choices come from one RNG per
//! link seeded from the run's seed. Needs no root: it is a user-space TCP relay on 127.0.0.1.

use algorithms::faults::{CutMode, LinkSpec};
use algorithms::NodeId;
use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use node::wire::{Frame, HelloDeadline, MAX_FRAME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How long a reordered frame waits for a successor to overtake it before it goes anyway.
const REORDER_HOLD: Duration = Duration::from_millis(20);
/// What one read takes from a socket at most: a burst of frames routed from one buffer.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes waiting for one node's connection, at most. Beyond, a frame for it is dropped (and
/// counted on its link): a stopped (SIGSTOP) or slow node must not stall the senders'
/// connections, which carry their other links too, nor grow the proxy without bound. A flood
/// of half a million node-sized frames at a node that reads slower fits.
const OUT_LIMIT: usize = 64 << 20;
/// Most bytes gathered into one write to a node.
const WRITE_CHUNK: usize = 256 * 1024;

/// What the proxy did on one link, for `status` and tests.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub delayed: AtomicU64,
    pub reordered: AtomicU64,
    pub resets: AtomicU64,
}

/// [`LinkCounters`] read at one moment, as `status` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub forwarded: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub delayed: u64,
    pub reordered: u64,
    pub resets: u64,
}

impl LinkCounters {
    fn read(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            forwarded: get(&self.forwarded),
            dropped: get(&self.dropped),
            duplicated: get(&self.duplicated),
            delayed: get(&self.delayed),
            reordered: get(&self.reordered),
            resets: get(&self.resets),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// One directed link's state, kept across the nodes' reconnections.
struct Link {
    to: NodeId,
    faults: watch::Sender<LinkSpec>,
    rng: Mutex<ChaCha8Rng>,
    counters: LinkCounters,
    /// Set when the link is first given a fault: from then on its frames go through its own
    /// task, which applies the faults (and forwards at once while there are none and nothing
    /// waits), so that frames never overtake the ones it holds.
    detour: OnceLock<mpsc::UnboundedSender<Bytes>>,
}

/// A node's connection while it is up.
struct Endpoint {
    /// Which of the node's connections (a restarted node connects anew).
    conn: u64,
    out: Outbox,
    /// The node's hello, prefix included, passed on to every node the proxy greets for it.
    hello: Bytes,
}

/// The frames waiting for one node's connection, and their bytes (at most [`OUT_LIMIT`]).
#[derive(Clone)]
struct Outbox {
    frames: mpsc::UnboundedSender<Bytes>,
    bytes: Arc<AtomicU64>,
}

impl Outbox {
    /// Queues a frame; `false` when the node's queue is full or its writer is gone.
    fn put(&self, frame: Bytes) -> bool {
        let len = frame.len() as u64;
        if self.bytes.fetch_add(len, Ordering::Relaxed) + len > OUT_LIMIT as u64 {
            self.bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        self.frames.send(frame).is_ok()
    }
}

/// What every task of the proxy shares.
struct Shared {
    seed: u64,
    /// Every node of the run: the senders a hello may name.
    nodes: BTreeSet<NodeId>,
    endpoints: RwLock<BTreeMap<NodeId, Endpoint>>,
    /// The links that have carried a frame or had a fault so far.
    links: Mutex<BTreeMap<(NodeId, NodeId), Arc<Link>>>,
    /// How long a node's connection may take to say hello (grows as the nodes' does).
    hello_deadline: HelloDeadline,
    next_conn: AtomicU64,
}

impl Shared {
    /// The link's state, made on first use.
    fn link(&self, from: NodeId, to: NodeId) -> Arc<Link> {
        let mut links = self.links.lock().expect("proxy links");
        let link = links.entry((from, to)).or_insert_with(|| {
            let rng = ChaCha8Rng::seed_from_u64(self.seed ^ ((from as u64) << 32 | to as u64) ^ 0x9e37_79b9_7f4a_7c15);
            Arc::new(Link {
                to,
                faults: watch::channel(LinkSpec::clear(from, to)).0,
                rng: Mutex::new(rng),
                counters: LinkCounters::default(),
                detour: OnceLock::new(),
            })
        });
        Arc::clone(link)
    }

    /// Queues a frame for node `to`'s connection; `false` when it is not connected or its queue
    /// is full.
    fn deliver(&self, to: NodeId, frame: Bytes) -> bool {
        let endpoints = self.endpoints.read().expect("proxy endpoints");
        endpoints.get(&to).is_some_and(|e| e.out.put(frame))
    }

    /// One frame of a link: straight to its destination, or through the link's task once it
    /// has had a fault.
    fn route(&self, link: &Link, frame: Bytes) {
        if let Some(detour) = link.detour.get() {
            let _ = detour.send(frame);
        } else if self.deliver(link.to, frame) {
            add(&link.counters.forwarded, 1);
        } else {
            add(&link.counters.dropped, 1);
        }
    }
}

/// The proxy: a listener every node dials once, on its own runtime.
pub struct Proxy {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    listen: SocketAddr,
}

impl Proxy {
    /// Opens the listener for the nodes `nodes` of a run.
    pub fn start(nodes: impl IntoIterator<Item = NodeId>, seed: u64) -> Result<Proxy> {
        // A thread per core: among hundreds of node processes, the proxy's share of the CPU is
        // its threads' share, and it carries everyone's traffic.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("proxy")
            .enable_all()
            .build()
            .context("starting the proxy runtime")?;
        let shared = Arc::new(Shared {
            seed,
            nodes: nodes.into_iter().collect(),
            endpoints: RwLock::default(),
            links: Mutex::default(),
            hello_deadline: HelloDeadline::default(),
            next_conn: AtomicU64::new(0),
        });
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).context("binding the proxy's listener")?;
        let listen = listener.local_addr()?;
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Proxy { runtime, shared, listen })
    }

    /// The address every node dials, once, to reach all its peers.
    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    /// Replaces the faults of one directed link.
    pub fn set(&self, spec: LinkSpec) -> Result<()> {
        let known = self.shared.nodes.contains(&spec.from) && self.shared.nodes.contains(&spec.to);
        if spec.from == spec.to || !known {
            bail!("there is no link {}→{}", spec.from, spec.to);
        }
        let link = self.shared.link(spec.from, spec.to);
        if !spec.is_clear() && link.detour.get().is_none() {
            let (tx, rx) = mpsc::unbounded_channel();
            if link.detour.set(tx).is_ok() {
                self.runtime.spawn(faulty_link(Arc::clone(&link), rx, Arc::clone(&self.shared)));
            }
        }
        link.faults.send_replace(spec);
        Ok(())
    }

    /// Every link back to healthy.
    pub fn clear_all(&self) -> Result<()> {
        for (&(from, to), link) in self.shared.links.lock().expect("proxy links").iter() {
            link.faults.send_if_modified(|spec| {
                let faulty = !spec.is_clear();
                *spec = LinkSpec::clear(from, to);
                faulty
            });
        }
        Ok(())
    }

    /// What the proxy has done on a link, once the link has been used or given a fault.
    pub fn counters(&self, from: NodeId, to: NodeId) -> Option<Counts> {
        self.shared.links.lock().expect("proxy links").get(&(from, to)).map(|l| l.counters.read())
    }

    /// Nodes connected to the proxy now.
    #[cfg(test)]
    pub fn connected(&self) -> Vec<NodeId> {
        self.shared.endpoints.read().expect("proxy endpoints").keys().copied().collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The listener and connections belong to tasks on this runtime; ending it closes them all.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread().build().expect("a bare runtime"),
        );
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve(stream, Arc::clone(&shared)));
    }
}

/// The length of the complete frame (prefix included) at the start of `buf`, if it is all there;
/// `Err` for a length prefix over the frame limit (the stream cannot be followed past it).
fn complete_frame(buf: &[u8]) -> Result<Option<usize>, ()> {
    let Some(prefix) = buf.get(..4) else { return Ok(None) };
    let len = u32::from_be_bytes(prefix.try_into().expect("four bytes")) as usize;
    if len > MAX_FRAME {
        return Err(());
    }
    Ok((buf.len() >= 4 + len).then_some(4 + len))
}

/// The node a hello frame (prefix included) names; anything else names nobody.
fn sender(hello: &[u8]) -> Option<NodeId> {
    match node::wire::decode(&hello[4..]) {
        Ok(Frame::Hello { node, .. }) => Some(node),
        _ => None,
    }
}

/// Reads until `buf` starts with a whole frame, and says its length; `None` if the connection
/// ends, breaks or stalls first.
async fn read_hello(stream: &mut TcpStream, buf: &mut BytesMut, hello_deadline: &HelloDeadline) -> Option<usize> {
    let deadline = Instant::now() + hello_deadline.get();
    loop {
        if let Some(len) = complete_frame(buf).ok()? {
            return Some(len);
        }
        buf.reserve(READ_CHUNK);
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Err(_) => {
                hello_deadline.missed();
                return None;
            }
            _ => return None,
        }
    }
}

/// One node's connection: its hello names the node; the proxy greets it for every connected
/// node and every connected node for it, then routes what it sends until it goes.
async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let Some(hello_len) = read_hello(&mut stream, &mut buf, &shared.hello_deadline).await else { return };
    // Only nodes of this run are carried; anyone else is closed on.
    let Some(from) = sender(&buf[..hello_len]).filter(|from| shared.nodes.contains(from)) else {
        tracing::debug!("proxy: a connection whose first frame is no hello from a node of this run");
        return;
    };
    let hello = buf.split_to(hello_len).freeze();
    let (reader, writer) = stream.into_split();
    let (frames, queued) = mpsc::unbounded_channel();
    let out = Outbox { frames, bytes: Arc::default() };
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    {
        // Under the lock that routing reads: a peer's hello is queued before any frame of it.
        let mut endpoints = shared.endpoints.write().expect("proxy endpoints");
        for (id, endpoint) in endpoints.iter() {
            if *id != from {
                out.put(endpoint.hello.clone());
                endpoint.out.put(hello.clone());
            }
        }
        endpoints.insert(from, Endpoint { conn, out: out.clone(), hello });
    }
    let writing = tokio::spawn(write_out(writer, queued, out.bytes));
    read_in(reader, from, buf, &shared).await;
    {
        let mut endpoints = shared.endpoints.write().expect("proxy endpoints");
        if endpoints.get(&from).is_some_and(|e| e.conn == conn) {
            endpoints.remove(&from);
        }
    }
    writing.abort();
}

/// Writes what is queued for one node, gathered into few writes, until the node goes.
async fn write_out(mut writer: OwnedWriteHalf, mut queued: mpsc::UnboundedReceiver<Bytes>, bytes: Arc<AtomicU64>) {
    let mut gathered = Vec::with_capacity(WRITE_CHUNK);
    while let Some(frame) = queued.recv().await {
        gathered.extend_from_slice(&frame);
        while gathered.len() < WRITE_CHUNK {
            let Ok(frame) = queued.try_recv() else { break };
            gathered.extend_from_slice(&frame);
        }
        bytes.fetch_sub(gathered.len() as u64, Ordering::Relaxed);
        if writer.write_all(&gathered).await.is_err() {
            return;
        }
        gathered.clear();
    }
}

/// Routes every frame node `from` sends, each to the node its envelope names, until the
/// connection ends or cannot be cut into frames.
async fn read_in(mut reader: OwnedReadHalf, from: NodeId, mut buf: BytesMut, shared: &Shared) {
    // The links of this sender, so a frame costs no lookup under a shared lock.
    let mut links: BTreeMap<NodeId, Arc<Link>> = BTreeMap::new();
    loop {
        loop {
            let len = match complete_frame(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    tracing::warn!("proxy: node {from} sent a frame over the size limit; connection closed");
                    return;
                }
            };
            let frame = buf.split_to(len).freeze();
            match node::wire::addressed(&frame[4..]) {
                Some((claimed, to)) if claimed == from && to != from && shared.nodes.contains(&to) => {
                    let link = links.entry(to).or_insert_with(|| shared.link(from, to));
                    shared.route(link, frame);
                }
                _ => tracing::debug!("proxy: node {from} sent a frame that names no peer (or another sender)"),
            }
        }
        buf.reserve(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

/// A frame (prefix included) on its way out, and when it may go.
struct Timed {
    due: Instant,
    frame: Bytes,
}

/// The frames a faulty link holds, in order.
struct Held {
    queue: VecDeque<Timed>,
    /// Due time of the last queued frame: delays keep the link FIFO, like TCP.
    last_due: Instant,
    /// A frame held back to be overtaken by the next one.
    reordered: Option<Bytes>,
}

impl Held {
    fn push(&mut self, due: Instant, frame: Bytes) {
        self.last_due = self.last_due.max(due);
        self.queue.push_back(Timed { due: self.last_due, frame });
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.reordered.is_none()
    }
}

/// Carries a link's frames once it has had a fault, for the rest of the run: each frame goes
/// through the link's faults as they are when it arrives, and out when it is due.
async fn faulty_link(link: Arc<Link>, mut frames: mpsc::UnboundedReceiver<Bytes>, shared: Arc<Shared>) {
    let faults = link.faults.subscribe();
    let mut held = Held { queue: VecDeque::new(), last_due: Instant::now(), reordered: None };
    loop {
        let head = held.queue.front().map(|t| t.due);
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { return };
                let spec = faults.borrow().clone();
                apply(&link, &spec, frame, &mut held, &shared);
            }
            _ = tokio::time::sleep_until(head.unwrap_or_else(Instant::now)), if head.is_some() => {}
            _ = tokio::time::sleep(REORDER_HOLD), if held.reordered.is_some() => {
                let late = held.reordered.take().expect("checked");
                held.push(Instant::now(), late);
            }
        }
        let now = Instant::now();
        while held.queue.front().is_some_and(|t| t.due <= now) {
            let Timed { frame, .. } = held.queue.pop_front().expect("a head");
            if !shared.deliver(link.to, frame) {
                add(&link.counters.dropped, 1);
            }
        }
    }
}

/// Applies the link's faults `spec` to one frame: dropped, held, or queued (once or twice) for
/// when it is due.
fn apply(link: &Link, spec: &LinkSpec, frame: Bytes, held: &mut Held, shared: &Shared) {
    let counters = &link.counters;
    if spec.is_clear() {
        add(&counters.forwarded, 1);
        if held.idle() {
            if !shared.deliver(link.to, frame) {
                add(&counters.dropped, 1);
            }
        } else {
            // Healed while frames still wait: behind them, with no delay of its own.
            held.push(held.last_due, frame);
        }
        return;
    }
    if spec.cut {
        add(&counters.dropped, 1);
        if spec.mode == CutMode::Reset {
            add(&counters.resets, 1);
        }
        return;
    }
    let now = Instant::now();
    let (lost, copies, extra, reorder) = {
        // Every random draw of a link comes from its own seeded stream.
        let mut rng = link.rng.lock().expect("proxy rng");
        let mut chance = |p: f64| p > 0.0 && rng.random::<f64>() < p;
        let lost = chance(spec.loss);
        let copies = if chance(spec.duplicate) { 2 } else { 1 };
        let reorder = chance(spec.reorder);
        let extra = spec.delay.as_ref().map_or(0, |d| d.sample(&mut *rng));
        (lost, copies, Duration::from_nanos(extra), reorder)
    };
    if lost {
        add(&counters.dropped, 1);
        return;
    }
    if copies > 1 {
        add(&counters.duplicated, 1);
    }
    if !extra.is_zero() {
        add(&counters.delayed, 1);
    }
    if reorder && held.reordered.is_none() {
        add(&counters.reordered, 1);
        held.reordered = Some(frame);
        return;
    }
    for _ in 0..copies {
        add(&counters.forwarded, 1);
        held.push(now + extra, frame.clone());
    }
    if let Some(late) = held.reordered.take() {
        held.push(now + extra, late);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use algorithms::trace::VectorClock;
    use std::io::{Read, Write};

    fn proxy(nodes: &[NodeId]) -> Proxy {
        Proxy::start(nodes.iter().copied(), 7).unwrap()
    }

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    fn hello(node: NodeId) -> Vec<u8> {
        node::wire::encode(&Frame::Hello { node, cluster: "test".into(), version: node::wire::WIRE_VERSION })
    }

    /// An envelope from `from` to `to` whose body is `body`.
    fn msg(from: NodeId, to: NodeId, body: &[u8]) -> Vec<u8> {
        node::wire::encode_msg(from, to, "t", 1, &VectorClock::default(), "k", body)
    }

    /// What a node reads on its connection: `hello(n)` as `"hello n"`, an envelope as its body.
    fn shown(payload: &[u8]) -> String {
        match node::wire::decode(payload).unwrap() {
            Frame::Hello { node, .. } => format!("hello {node}"),
            Frame::Msg(e) => format!("{}>{} {}", e.from, e.to, String::from_utf8_lossy(&e.body)),
        }
    }

    /// Node `id`'s connection to the proxy, hello sent.
    fn join(proxy: &Proxy, id: NodeId) -> std::net::TcpStream {
        let mut stream = std::net::TcpStream::connect(proxy.address()).unwrap();
        stream.write_all(&framed(&hello(id))).unwrap();
        stream
    }

    fn send(stream: &mut std::net::TcpStream, from: NodeId, to: NodeId, bodies: &[&str]) {
        let bytes: Vec<u8> = bodies.iter().flat_map(|b| framed(&msg(from, to, b.as_bytes()))).collect();
        stream.write_all(&bytes).unwrap();
    }

    /// Every frame that arrives within `wait` of the last one.
    fn read_frames(stream: &mut std::net::TcpStream, wait: Duration) -> Vec<String> {
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        let mut frames = Vec::new();
        let mut rest = &all[..];
        while rest.len() >= 4 {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            frames.push(shown(&rest[4..4 + len]));
            rest = &rest[4 + len..];
        }
        frames
    }

    /// Waits until the proxy has every one of `ids` connected.
    fn settle(proxy: &Proxy, ids: &[NodeId]) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while proxy.connected() != ids && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.connected(), ids);
    }

    const SHORT: Duration = Duration::from_millis(300);

    #[test]
    fn each_node_is_greeted_for_every_other_and_frames_reach_the_node_they_name() {
        let proxy = proxy(&[1, 2, 3]);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        let mut three = join(&proxy, 3);
        settle(&proxy, &[1, 2, 3]);
        send(&mut one, 1, 2, &["a", "b", "c"]);
        send(&mut one, 1, 3, &["x"]);
        send(&mut three, 3, 2, &["y"]);
        assert_eq!(read_frames(&mut one, SHORT), ["hello 2", "hello 3"]);
        // Each link in order; links into one node interleave as they come.
        let into_two = read_frames(&mut two, SHORT);
        assert_eq!(into_two[..2], ["hello 1", "hello 3"]);
        let from = |sender: &str| into_two.iter().filter(|f| f.starts_with(sender)).cloned().collect::<Vec<_>>();
        assert_eq!(
            (from("1>"), from("3>")),
            (vec!["1>2 a".into(), "1>2 b".into(), "1>2 c".into()], vec!["3>2 y".into()])
        );
        assert_eq!(read_frames(&mut three, SHORT), ["hello 1", "hello 2", "1>3 x"]);
        assert_eq!(proxy.counters(1, 2).unwrap().forwarded, 3);
        assert!(proxy.counters(2, 1).is_none(), "no state for a link never used");
    }

    #[test]
    fn a_blackholed_link_drops_its_frames_and_the_other_direction_works() {
        let proxy = proxy(&[1, 2]);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        proxy.set(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }).unwrap();
        send(&mut one, 1, 2, &["a", "b"]);
        send(&mut two, 2, 1, &["back"]);
        assert_eq!(read_frames(&mut two, SHORT), ["hello 1"]);
        assert_eq!(read_frames(&mut one, SHORT), ["hello 2", "2>1 back"]);
        assert_eq!(proxy.counters(1, 2).unwrap().dropped, 2);
    }

    #[test]
    fn a_reset_link_drops_its_frames_counted_as_resets_and_the_senders_other_links_carry_on() {
        let proxy = proxy(&[1, 2, 3]);
        let (mut one, mut two, mut three) = (join(&proxy, 1), join(&proxy, 2), join(&proxy, 3));
        settle(&proxy, &[1, 2, 3]);
        proxy.set(LinkSpec { cut: true, mode: CutMode::Reset, ..LinkSpec::clear(1, 2) }).unwrap();
        send(&mut one, 1, 2, &["cut"]);
        send(&mut one, 1, 3, &["through"]);
        let mut into_two = read_frames(&mut two, SHORT);
        into_two.sort();
        assert_eq!(into_two, ["hello 1", "hello 3"]);
        let mut into_three = read_frames(&mut three, SHORT);
        into_three.sort();
        assert_eq!(into_three, ["1>3 through", "hello 1", "hello 2"]);
        let counts = proxy.counters(1, 2).unwrap();
        assert_eq!((counts.dropped, counts.resets), (1, 1));
        let mut greetings = read_frames(&mut one, SHORT);
        greetings.sort();
        assert_eq!(greetings, ["hello 2", "hello 3"], "node 1's connection stays up");
    }

    #[test]
    fn duplication_delivers_twice_and_delay_holds_frames_back() {
        let proxy = proxy(&[1, 2]);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        assert_eq!(read_frames(&mut two, SHORT), ["hello 1"]);
        let delay = algorithms::faults::Delay::Fixed { ms: 150.0 };
        proxy.set(LinkSpec { duplicate: 1.0, delay: Some(delay), ..LinkSpec::clear(1, 2) }).unwrap();
        let started = std::time::Instant::now();
        send(&mut one, 1, 2, &["x"]);
        assert_eq!(read_frames(&mut two, Duration::from_millis(400)), ["1>2 x", "1>2 x"]);
        assert!(started.elapsed() >= Duration::from_millis(150));
        let counts = proxy.counters(1, 2).unwrap();
        assert_eq!((counts.duplicated, counts.delayed, counts.forwarded), (1, 1, 2));
    }

    #[test]
    fn reordering_lets_a_later_frame_overtake() {
        let proxy = proxy(&[1, 2]);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        proxy.set(LinkSpec { reorder: 1.0, ..LinkSpec::clear(1, 2) }).unwrap();
        send(&mut one, 1, 2, &["1", "2", "3", "4"]);
        let got = read_frames(&mut two, SHORT);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_ne!(got[1..], ["1>2 1", "1>2 2", "1>2 3", "1>2 4"], "some frame overtook");
    }

    /// A link that heals while frames wait keeps them in order: the later ones go behind.
    #[test]
    fn a_link_stays_in_order_across_a_delay_and_its_healing() {
        let proxy = proxy(&[1, 2]);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        let delay = algorithms::faults::Delay::Fixed { ms: 100.0 };
        proxy.set(LinkSpec { delay: Some(delay), ..LinkSpec::clear(1, 2) }).unwrap();
        send(&mut one, 1, 2, &["a", "b"]);
        std::thread::sleep(Duration::from_millis(20));
        proxy.clear_all().unwrap();
        send(&mut one, 1, 2, &["c", "d"]);
        assert_eq!(read_frames(&mut two, SHORT), ["hello 1", "1>2 a", "1>2 b", "1>2 c", "1>2 d"]);
    }

    /// Only nodes of the run are carried, each frame only as its own sender's, to a node of the
    /// run; a node that reconnects is greeted for again.
    #[test]
    fn strangers_impostors_and_unknown_destinations_are_not_carried() {
        let proxy = proxy(&[1, 2, 3]);
        assert!(proxy.set(LinkSpec::clear(2, 2)).is_err() && proxy.set(LinkSpec::clear(1, 4)).is_err());
        let mut stranger = std::net::TcpStream::connect(proxy.address()).unwrap();
        stranger.write_all(&framed(&msg(1, 2, b"no hello"))).unwrap();
        let mut nine = join(&proxy, 9);
        let (mut one, mut two) = (join(&proxy, 1), join(&proxy, 2));
        settle(&proxy, &[1, 2]);
        assert!(read_frames(&mut stranger, SHORT).is_empty() && read_frames(&mut nine, SHORT).is_empty());
        send(&mut one, 3, 2, &["impostor"]);
        send(&mut one, 1, 4, &["nobody"]);
        send(&mut one, 1, 2, &["real"]);
        assert_eq!(read_frames(&mut two, SHORT), ["hello 1", "1>2 real"]);
        drop(one);
        let mut one = join(&proxy, 1);
        std::thread::sleep(Duration::from_millis(50));
        send(&mut one, 1, 2, &["again"]);
        assert_eq!(read_frames(&mut two, SHORT), ["hello 1", "1>2 again"]);
        assert_eq!(read_frames(&mut one, SHORT), ["hello 2"]);
    }
}

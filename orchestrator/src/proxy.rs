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
//! frame is copied straight from the sender's read buffer into the destination's queue: no
//! per-frame task, clock read or random draw. A read that carried frames for one node only is
//! written out by the task that read it, at once, so such a frame goes out with no wake-up of
//! another task; a read for several nodes leaves each queue to its node's writer task, which
//! gathers what many senders queued into one write, as it does while the socket is full. A link given a fault gets a task of its own that holds its delayed and
//! reordered frames, and keeps carrying the link's frames after it heals, so each link stays FIFO
//! (but for the reordering asked for). All random choices come from one RNG per link seeded from
//! the run's seed. Needs no root: it is a user-space TCP relay on 127.0.0.1.
//!
//! Memory: the queues of all nodes together hold at most a budget ([`Budget`]); each node has a
//! reserve of its own and may draw on a shared pool beyond it, so a node that does not read can
//! take the pool but never another node's reserve. A frame that does not fit is dropped and
//! counted on its link (`dropped`, and `overflowed`), so a slow node never holds up its senders'
//! connections, which carry their other links too.

use algorithms::faults::{CutMode, LinkSpec};
use algorithms::NodeId;
use anyhow::{bail, Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use node::wire::{Frame, HelloDeadline, MAX_FRAME};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

/// How long a reordered frame waits for a successor to overtake it before it goes anyway.
const REORDER_HOLD: Duration = Duration::from_millis(20);
/// What one read takes from a socket at most: a burst of frames routed from one buffer.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes waiting for one node's connection, at most, whatever the budget leaves.
const OUT_LIMIT: u64 = 64 << 20;
/// The budget of all queues together when `CLUSTERLAB_PROXY_MEMORY_MIB` does not set one: this,
/// or a quarter of `MemAvailable` at the start if that is less.
const DEFAULT_BUDGET: u64 = 512 << 20;
/// The variable that sets the budget, in MiB.
pub const BUDGET_VARIABLE: &str = "CLUSTERLAB_PROXY_MEMORY_MIB";
/// A queue's buffer that has grown beyond this is let go once it is empty.
const KEEP_CAPACITY: usize = 1 << 20;

/// What the proxy did on one link, for `status` and tests.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    /// Of `dropped`: frames whose destination's queue was full (its bound, or the budget).
    pub overflowed: AtomicU64,
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
    pub overflowed: u64,
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
            overflowed: get(&self.overflowed),
            duplicated: get(&self.duplicated),
            delayed: get(&self.delayed),
            reordered: get(&self.reordered),
            resets: get(&self.resets),
        }
    }

    /// Counts a frame handed to the destination's queue, by what became of it.
    fn count(&self, put: Put) {
        match put {
            Put::Queued => add(&self.forwarded, 1),
            Put::Full => {
                add(&self.dropped, 1);
                add(&self.overflowed, 1);
            }
            Put::Gone => add(&self.dropped, 1),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The bytes the queues of all nodes may hold together (`total`): each node's queue has
/// `reserve` bytes of its own and may hold more (up to [`OUT_LIMIT`]) while the shared `pool`
/// has room. Half the budget is reserves, half the pool: a node that does not read fills its
/// reserve and at most the pool, and every other node still has its reserve.
#[derive(Debug)]
pub struct Budget {
    pub total: u64,
    pub reserve: u64,
    pub pool: u64,
    pool_used: AtomicU64,
    /// Bytes in every queue now, and the most they held at once.
    held: AtomicU64,
    peak: AtomicU64,
    /// Frames dropped because their destination's queue was full, over all links.
    overflowed: AtomicU64,
    warned: AtomicBool,
}

impl Budget {
    pub fn new(total: u64, nodes: usize) -> Budget {
        let reserve = (total / 2 / nodes.max(1) as u64).min(OUT_LIMIT);
        Budget {
            total,
            reserve,
            pool: total - reserve * nodes.max(1) as u64,
            pool_used: AtomicU64::new(0),
            held: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    /// [`BUDGET_VARIABLE`] in MiB if set, else [`DEFAULT_BUDGET`] or a quarter of `MemAvailable`,
    /// whichever is less (at least 16 MiB).
    pub fn configured() -> Result<u64> {
        if let Ok(text) = std::env::var(BUDGET_VARIABLE) {
            let mib: u64 = text.trim().parse().ok().filter(|m| *m > 0).with_context(|| {
                format!("{BUDGET_VARIABLE}={text:?}: the proxy's memory budget must be a whole number of MiB above 0")
            })?;
            return Ok(mib << 20);
        }
        let available = crate::limits::memory_available().map_or(u64::MAX, |a| a / 4);
        Ok(DEFAULT_BUDGET.min(available).max(16 << 20))
    }

    /// The pool's part of a queue holding `queued` bytes.
    fn share(&self, queued: u64) -> u64 {
        queued.saturating_sub(self.reserve)
    }

    /// A queue grows from `queued` by `len` bytes: `false` if it may not (its bound, or the pool
    /// is spent), unless `forced`.
    fn grow(&self, queued: u64, len: u64, forced: bool) -> bool {
        let more = self.share(queued + len) - self.share(queued);
        if !forced {
            if queued + len > OUT_LIMIT {
                return false;
            }
            let drawn = self.pool_used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (more == 0 || used + more <= self.pool).then_some(used + more)
            });
            if drawn.is_err() {
                return false;
            }
        } else {
            self.pool_used.fetch_add(more, Ordering::Relaxed);
        }
        let held = self.held.fetch_add(len, Ordering::Relaxed) + len;
        self.peak.fetch_max(held, Ordering::Relaxed);
        true
    }

    /// A queue holding `queued` bytes lets go of `len` of them.
    fn shrink(&self, queued: u64, len: u64) {
        self.pool_used.fetch_sub(self.share(queued) - self.share(queued - len), Ordering::Relaxed);
        self.held.fetch_sub(len, Ordering::Relaxed);
    }

    /// The most bytes every queue together held at once so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn overflow(&self, to: NodeId, queued: u64) {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "proxy: node {to} reads slower than it is sent to ({} KiB queued for it; budget {} MiB, \
                 {} KiB reserved a node): frames for a full queue are dropped and counted on their links",
                queued >> 10,
                self.total >> 20,
                self.reserve >> 10
            );
        }
    }
}

/// What became of a frame handed to a node's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Put {
    Queued,
    /// Its queue is at its bound, or the budget's pool is spent: dropped.
    Full,
    /// Not connected, or its connection broke: dropped.
    Gone,
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
    out: Arc<Outbox>,
    /// The node's hello, prefix included, passed on to every node the proxy greets for it.
    hello: Bytes,
}

/// The frames waiting for one node's connection, and the socket they go out on.
struct Outbox {
    to: NodeId,
    queue: Mutex<Queue>,
    socket: OwnedWriteHalf,
    /// Tells the writer task that it owns the queue now (the socket was full, or a read that
    /// carried frames for several nodes handed it over).
    stalled: Notify,
    budget: Arc<Budget>,
}

struct Queue {
    /// Frames not yet written, prefixes included, oldest first.
    bytes: BytesMut,
    /// The writer task owns the queue (it is told, or waits for the socket to take more):
    /// nobody else writes.
    stalled: bool,
    /// The connection cannot be written any more.
    broken: bool,
}

/// What writing a queue came to.
#[derive(PartialEq, Eq)]
enum Wrote {
    All,
    /// The socket is full and frames wait.
    Blocked,
    Broken,
}

impl Outbox {
    fn new(to: NodeId, socket: OwnedWriteHalf, budget: Arc<Budget>) -> Outbox {
        let queue = Queue { bytes: BytesMut::new(), stalled: false, broken: false };
        Outbox { to, queue: Mutex::new(queue), socket, stalled: Notify::new(), budget }
    }

    /// Queues a frame (prefix included) within the queue's bound and the budget, or regardless
    /// of them when `forced` (hellos).
    fn put(&self, frame: &[u8], forced: bool) -> Put {
        let mut queue = self.queue.lock().expect("proxy queue");
        if queue.broken {
            return Put::Gone;
        }
        let queued = queue.bytes.len() as u64;
        if !self.budget.grow(queued, frame.len() as u64, forced) {
            self.budget.overflow(self.to, queued);
            return Put::Full;
        }
        queue.bytes.extend_from_slice(frame);
        Put::Queued
    }

    /// Writes what is queued, now, unless the writer task waits for the socket: whoever queued
    /// frames calls this once it has queued them. Hands the rest to the writer task if the socket
    /// is full.
    fn flush(&self) {
        let mut queue = self.queue.lock().expect("proxy queue");
        if queue.stalled || queue.broken || queue.bytes.is_empty() {
            return;
        }
        if self.write(&mut queue) == Wrote::Blocked {
            queue.stalled = true;
            drop(queue);
            self.stalled.notify_one();
        }
    }

    /// Leaves the queue to the writer task, unless it has it already.
    fn hand_off(&self) {
        let mut queue = self.queue.lock().expect("proxy queue");
        if queue.stalled || queue.broken || queue.bytes.is_empty() {
            return;
        }
        queue.stalled = true;
        drop(queue);
        self.stalled.notify_one();
    }

    /// Writes the queue until it is empty or the socket is full, without waiting.
    fn write(&self, queue: &mut Queue) -> Wrote {
        while !queue.bytes.is_empty() {
            match self.socket.try_write(&queue.bytes) {
                Ok(n) if n > 0 => self.written(queue, n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Wrote::Blocked,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => {
                    tracing::debug!("proxy: writing to node {} failed: {other:?}", self.to);
                    let all = queue.bytes.len();
                    self.written(queue, all);
                    queue.broken = true;
                    return Wrote::Broken;
                }
            }
        }
        if queue.bytes.capacity() > KEEP_CAPACITY {
            queue.bytes = BytesMut::new();
        }
        Wrote::All
    }

    fn written(&self, queue: &mut Queue, n: usize) {
        self.budget.shrink(queue.bytes.len() as u64, n as u64);
        queue.bytes.advance(n);
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // What was queued for a connection that is gone leaves the budget with it.
        let queue = self.queue.get_mut().expect("proxy queue");
        self.budget.shrink(queue.bytes.len() as u64, queue.bytes.len() as u64);
    }
}

/// The queues touched while routing one read, each written once at its end: by the reading task
/// itself when the read carried frames for one node only (a frame then leaves with no wake-up of
/// another task), else by each node's writer task. Handing them over when a read carries frames
/// for several nodes lets a busy proxy gather the frames of many senders for one node into one
/// write (its writer task runs once the readers before it have queued theirs) instead of writing
/// each sender's few frames with a system call of their own.
#[derive(Default)]
struct Touched(Vec<Arc<Outbox>>);

impl Touched {
    fn note(&mut self, out: &Arc<Outbox>) {
        if !self.0.iter().any(|o| Arc::ptr_eq(o, out)) {
            self.0.push(Arc::clone(out));
        }
    }

    fn flush(&mut self) {
        if let [one] = &self.0[..] {
            one.flush();
        } else {
            for out in &self.0 {
                out.hand_off();
            }
        }
        self.0.clear();
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
    budget: Arc<Budget>,
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

    /// Queues a frame for node `to`'s connection, to be written when `touched` is flushed.
    fn deliver(&self, to: NodeId, frame: &[u8], touched: &mut Touched) -> Put {
        let endpoints = self.endpoints.read().expect("proxy endpoints");
        let Some(endpoint) = endpoints.get(&to) else { return Put::Gone };
        let put = endpoint.out.put(frame, false);
        if put == Put::Queued {
            touched.note(&endpoint.out);
        }
        put
    }

    /// One frame of a link: straight to its destination's queue, or through the link's task
    /// once it has had a fault.
    fn route(&self, link: &Link, frame: &[u8], touched: &mut Touched) {
        if let Some(detour) = link.detour.get() {
            let _ = detour.send(Bytes::copy_from_slice(frame));
        } else {
            link.counters.count(self.deliver(link.to, frame, touched));
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
    /// Opens the listener for the nodes `nodes` of a run, its queues within the budget
    /// [`Budget::configured`] gives.
    pub fn start(nodes: impl IntoIterator<Item = NodeId>, seed: u64) -> Result<Proxy> {
        Proxy::start_with(nodes, seed, Budget::configured()?)
    }

    /// [`Proxy::start`] with a budget of `budget` bytes for all queues together.
    pub fn start_with(nodes: impl IntoIterator<Item = NodeId>, seed: u64, budget: u64) -> Result<Proxy> {
        // A thread per core: among hundreds of node processes, the proxy's share of the CPU is
        // its threads' share, and it carries everyone's traffic.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("proxy")
            .enable_all()
            .build()
            .context("starting the proxy runtime")?;
        let nodes: BTreeSet<NodeId> = nodes.into_iter().collect();
        let budget = Arc::new(Budget::new(budget, nodes.len()));
        let shared = Arc::new(Shared {
            seed,
            nodes,
            endpoints: RwLock::default(),
            links: Mutex::default(),
            hello_deadline: HelloDeadline::default(),
            next_conn: AtomicU64::new(0),
            budget,
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

    /// The queues' budget, and what they have held.
    #[cfg(test)]
    pub fn budget(&self) -> &Budget {
        &self.shared.budget
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

    /// What the proxy has done over all links so far: for the run's summary and its log.
    pub fn totals(&self) -> ProxyTotals {
        let links = self.shared.links.lock().expect("proxy links");
        let mut total = ProxyTotals { peak_queued_bytes: self.shared.budget.peak(), ..ProxyTotals::default() };
        for counts in links.values().map(|l| l.counters.read()) {
            total.forwarded += counts.forwarded;
            total.dropped += counts.dropped;
            total.overflowed += counts.overflowed;
        }
        total
    }

    /// Nodes connected to the proxy now.
    #[cfg(test)]
    pub fn connected(&self) -> Vec<NodeId> {
        self.shared.endpoints.read().expect("proxy endpoints").keys().copied().collect()
    }
}

/// The proxy's counts over all links, and the most its queues held at once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProxyTotals {
    pub forwarded: u64,
    /// Every frame the proxy did not pass on: cut, lost, reset, a destination gone or full.
    pub dropped: u64,
    /// Of `dropped`: frames whose destination's queue was full (its bound, or the budget).
    pub overflowed: u64,
    pub peak_queued_bytes: u64,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let total = self.totals();
        let budget = &self.shared.budget;
        let links = self.shared.links.lock().expect("proxy links");
        tracing::info!(
            "proxy: {} frames forwarded, {} dropped ({} at full queues) on {} links; {} KiB still queued at the end, \
             at most {} KiB at once",
            total.forwarded,
            total.dropped,
            total.overflowed,
            links.len(),
            budget.held.load(Ordering::Relaxed) >> 10,
            total.peak_queued_bytes >> 10
        );
        if total.overflowed > 0 {
            let full = links.values().filter(|l| l.counters.overflowed.load(Ordering::Relaxed) > 0).count();
            tracing::warn!(
                "proxy: {} frames dropped on {full} links because their destination's queue was full \
                 (budget {} MiB for all queues, {} KiB reserved a node; the queues held at most {} MiB at once)",
                total.overflowed,
                budget.total >> 20,
                budget.reserve >> 10,
                total.peak_queued_bytes >> 20
            );
        }
        drop(links);
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
    let out = Arc::new(Outbox::new(from, writer, Arc::clone(&shared.budget)));
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let mut touched = Touched::default();
    touched.note(&out);
    {
        // Under the lock that routing reads: a peer's hello is queued before any frame of it.
        let mut endpoints = shared.endpoints.write().expect("proxy endpoints");
        for (id, endpoint) in endpoints.iter() {
            if *id != from {
                out.put(&endpoint.hello, true);
                endpoint.out.put(&hello, true);
                touched.note(&endpoint.out);
            }
        }
        if endpoints.insert(from, Endpoint { conn, out: Arc::clone(&out), hello }).is_some() {
            tracing::debug!("proxy: node {from} connected again");
        }
    }
    touched.flush();
    let writing = tokio::spawn(write_out(Arc::clone(&out)));
    read_in(reader, from, buf, &shared).await;
    {
        let mut endpoints = shared.endpoints.write().expect("proxy endpoints");
        if endpoints.get(&from).is_some_and(|e| e.conn == conn) {
            endpoints.remove(&from);
        }
    }
    writing.abort();
}

/// Writes a node's queue once it is handed over (by a read that carried frames for several
/// nodes, or a write that found the socket full): it waits until the socket takes more and
/// writes, until the queue is empty; then whoever queues frames may write them again.
async fn write_out(out: Arc<Outbox>) {
    loop {
        out.stalled.notified().await;
        loop {
            if out.socket.writable().await.is_err() {
                let mut queue = out.queue.lock().expect("proxy queue");
                let all = queue.bytes.len();
                out.written(&mut queue, all);
                queue.broken = true;
                return;
            }
            let mut queue = out.queue.lock().expect("proxy queue");
            match out.write(&mut queue) {
                Wrote::All => {
                    queue.stalled = false;
                    break;
                }
                Wrote::Blocked => {}
                Wrote::Broken => return,
            }
        }
    }
}

/// Routes every frame node `from` sends, each to the node its envelope names, until the
/// connection ends or cannot be cut into frames. The frames of one read are queued first, then
/// each queue they went to is written once.
async fn read_in(mut reader: OwnedReadHalf, from: NodeId, mut buf: BytesMut, shared: &Shared) {
    // The links of this sender, so a frame costs no lookup under a shared lock.
    let mut links: BTreeMap<NodeId, Arc<Link>> = BTreeMap::new();
    let mut touched = Touched::default();
    loop {
        loop {
            let len = match complete_frame(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(()) => {
                    touched.flush();
                    tracing::warn!("proxy: node {from} sent a frame over the size limit; connection closed");
                    return;
                }
            };
            let frame = &buf[..len];
            match node::wire::addressed(&frame[4..]) {
                Some((claimed, to)) if claimed == from && to != from && shared.nodes.contains(&to) => {
                    let link = links.entry(to).or_insert_with(|| shared.link(from, to));
                    shared.route(link, frame, &mut touched);
                }
                _ => tracing::debug!("proxy: node {from} sent a frame that names no peer (or another sender)"),
            }
            buf.advance(len);
        }
        touched.flush();
        buf.reserve(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(n) if n > 0 => {}
            other => {
                tracing::debug!("proxy: node {from}'s connection ended: {other:?}");
                return;
            }
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
    let mut touched = Touched::default();
    loop {
        let head = held.queue.front().map(|t| t.due);
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { return };
                let spec = faults.borrow().clone();
                apply(&link, &spec, frame, &mut held, &shared, &mut touched);
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
            undelivered(&link, shared.deliver(link.to, &frame, &mut touched));
        }
        touched.flush();
    }
}

/// Counts a frame of a faulty link that its destination's queue did not take (it was counted as
/// forwarded when the link let it through).
fn undelivered(link: &Link, put: Put) {
    if put != Put::Queued {
        add(&link.counters.dropped, 1);
        if put == Put::Full {
            add(&link.counters.overflowed, 1);
        }
    }
}

/// Applies the link's faults `spec` to one frame: dropped, held, or queued (once or twice) for
/// when it is due.
fn apply(link: &Link, spec: &LinkSpec, frame: Bytes, held: &mut Held, shared: &Shared, touched: &mut Touched) {
    let counters = &link.counters;
    if spec.is_clear() {
        add(&counters.forwarded, 1);
        if held.idle() {
            undelivered(link, shared.deliver(link.to, &frame, touched));
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

    /// The queues of all nodes together stay within the budget: a node that does not read gets
    /// its reserve and the pool, then frames for it are dropped and counted on their links; the
    /// other nodes keep their reserves, so their links flow, and what was queued for the silent
    /// node reaches it, in order, once it reads.
    #[test]
    fn a_node_that_does_not_read_fills_at_most_the_budget_and_the_other_links_still_flow() {
        const BUDGET: u64 = 1 << 20;
        let proxy = Proxy::start_with([1, 2, 3], 7, BUDGET).unwrap();
        let (mut one, mut two, mut three) = (join(&proxy, 1), join(&proxy, 2), join(&proxy, 3));
        settle(&proxy, &[1, 2, 3]);
        // 48 MiB for node 2, which reads nothing yet: far beyond the budget and the sockets' buffers.
        let bodies: Vec<String> = (0..48 * 1024).map(|i| format!("{i:08} {}", "x".repeat(1000))).collect();
        let flood: Vec<u8> = bodies.iter().flat_map(|b| framed(&msg(1, 2, b.as_bytes()))).collect();
        one.write_all(&flood).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let routed = || proxy.counters(1, 2).map_or(0, |c| c.forwarded + c.dropped);
        while routed() < bodies.len() as u64 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let counts = proxy.counters(1, 2).unwrap();
        assert_eq!(counts.forwarded + counts.dropped, bodies.len() as u64);
        assert!(counts.overflowed > 0 && counts.dropped == counts.overflowed, "{counts:?}");
        let budget = proxy.budget();
        assert!(budget.peak() <= BUDGET, "the queues held {} bytes, over the budget of {BUDGET}", budget.peak());
        assert!(budget.peak() >= budget.reserve, "node 2's queue filled its reserve at least");
        // The other links flow: node 1 and node 3 still have their reserves.
        send(&mut one, 1, 3, &["through"]);
        send(&mut three, 3, 1, &["back"]);
        assert_eq!(read_frames(&mut three, SHORT), ["hello 1", "hello 2", "1>3 through"]);
        let into_one = read_frames(&mut one, SHORT);
        assert_eq!(into_one.len(), 3, "{into_one:?}");
        assert_eq!(into_one[2], "3>1 back");
        assert_eq!(proxy.counters(1, 3).unwrap(), Counts { forwarded: 1, ..Counts::default() });
        // Node 2 reads at last: every frame counted as forwarded, in the order sent.
        let got = read_frames(&mut two, Duration::from_secs(1));
        assert_eq!(got[..2], ["hello 1", "hello 3"]);
        let numbers: Vec<usize> = got[2..].iter().map(|f| f["1>2 ".len()..][..8].parse().unwrap()).collect();
        assert_eq!(numbers.len() as u64, counts.forwarded);
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order");
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

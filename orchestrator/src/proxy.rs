//! The frame-aware proxy: one listener per destination node, every directed link through it.
//!
//! Node i's config names the proxy's listener for node j as j's address; the proxy accepts i's
//! connection, learns the sender from its first frame (the hello, which names the node), connects
//! to j's real listener and forwards length-delimited frames. Because it sees whole frames (each
//! one message), every fault applies per directed link and per message: cut (blackhole: drop
//! silently, or reset: close the connection), loss, extra delay with jitter, duplication and
//! reordering. The hello itself is never touched, so a link with faults still connects.
//!
//! It scales to hundreds of nodes: N listeners rather than N·(N−1), one task per connection (the
//! answers the target sends back are read in the same task), and a healthy link forwards every
//! complete frame that has arrived with one write, straight out of the read buffer: no per-frame
//! task, allocation, clock read or random draw. A link's state (its faults, counters and seeded
//! RNG) is made when its first connection arrives or its first fault is set; queues exist only
//! while frames wait on a delayed or reordering link. All random choices come from one RNG per
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
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a reordered frame waits for a successor to overtake it before it goes anyway.
const REORDER_HOLD: Duration = Duration::from_millis(20);
/// What one read takes from a socket at most: a burst of frames forwarded with one write.
const READ_CHUNK: usize = 64 * 1024;

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

/// [`LinkCounters`] read at one moment, as `status` shows them and a shard process reports them.
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

/// One directed link's state, shared by its connections (a node reconnects after a reset).
struct Link {
    faults: watch::Sender<LinkSpec>,
    rng: Mutex<ChaCha8Rng>,
    counters: Arc<LinkCounters>,
}

/// What every task of the proxy shares.
struct Shared {
    seed: u64,
    /// Every node of the run: the senders a hello may name.
    senders: BTreeSet<NodeId>,
    /// The real listener of each destination this proxy serves (a restarted node may listen
    /// elsewhere).
    targets: BTreeMap<NodeId, Mutex<SocketAddr>>,
    /// The links that have had a connection or a fault so far.
    links: Mutex<BTreeMap<(NodeId, NodeId), Arc<Link>>>,
    /// How long a sender's connection may take to say hello (grows as the node's does).
    hello_deadline: HelloDeadline,
}

impl Shared {
    /// The link's state, made on first use.
    fn link(&self, from: NodeId, to: NodeId) -> Arc<Link> {
        let mut links = self.links.lock().expect("proxy links");
        let link = links.entry((from, to)).or_insert_with(|| {
            let rng = ChaCha8Rng::seed_from_u64(self.seed ^ ((from as u64) << 32 | to as u64) ^ 0x9e37_79b9_7f4a_7c15);
            Arc::new(Link {
                faults: watch::channel(LinkSpec::clear(from, to)).0,
                rng: Mutex::new(rng),
                counters: Arc::default(),
            })
        });
        Arc::clone(link)
    }
}

/// The proxy, in one process or several: a process holds two sockets per directed link into
/// each destination it serves, and past its open-file limit the destinations are shared out
/// among shard processes (`orchestrator proxy-shard`), each under its own limit.
pub struct Proxy {
    /// The address every node dials to reach a destination.
    listen: BTreeMap<NodeId, SocketAddr>,
    shards: Vec<Shard>,
    /// The shard serving each destination.
    owner: BTreeMap<NodeId, usize>,
}

enum Shard {
    Local(Relays),
    Process(crate::proxy_shard::ShardProcess),
}

impl Proxy {
    /// Opens a listener for every node of `nodes` (their real addresses): in this process when
    /// its open-file limit holds them all, in shard processes otherwise.
    pub fn start(nodes: &BTreeMap<NodeId, SocketAddr>, seed: u64) -> Result<Proxy> {
        let (soft, _) = crate::limits::raise_nofile(0).context("reading the open-file limit")?;
        let per_process = crate::limits::destinations_per_process(nodes.len(), soft);
        let senders: BTreeSet<NodeId> = nodes.keys().copied().collect();
        let mut proxy = Proxy { listen: BTreeMap::new(), shards: Vec::new(), owner: BTreeMap::new() };
        if per_process == 0 {
            bail!("the open-file limit ({soft}) cannot hold the proxy's sockets into even one node");
        }
        let all: Vec<(NodeId, SocketAddr)> = nodes.iter().map(|(id, addr)| (*id, *addr)).collect();
        let groups: Vec<BTreeMap<NodeId, SocketAddr>> =
            all.chunks(per_process).map(|chunk| chunk.iter().copied().collect()).collect();
        for targets in groups {
            let (shard, listen) = if per_process >= nodes.len() {
                let relays = Relays::start(senders.clone(), &targets, seed)?;
                let listen = relays.listen.clone();
                (Shard::Local(relays), listen)
            } else {
                let process = crate::proxy_shard::ShardProcess::spawn(&senders, &targets, seed)?;
                let listen = process.listen.clone();
                (Shard::Process(process), listen)
            };
            for (id, addr) in listen {
                proxy.owner.insert(id, proxy.shards.len());
                proxy.listen.insert(id, addr);
            }
            proxy.shards.push(shard);
        }
        Ok(proxy)
    }

    /// How many processes carry the proxy's relays (1: this one).
    pub fn processes(&self) -> usize {
        self.shards.len()
    }

    /// The address node `from` dials to reach node `to` through the proxy (every sender dials
    /// the same one: the proxy tells senders apart by their hello).
    pub fn address(&self, _from: NodeId, to: NodeId) -> SocketAddr {
        self.listen[&to]
    }

    fn shard(&self, to: NodeId) -> Option<&Shard> {
        self.owner.get(&to).map(|i| &self.shards[*i])
    }

    /// Points every link into `to` at a new address (new connections only).
    pub fn retarget(&self, to: NodeId, addr: SocketAddr) -> Result<()> {
        match self.shard(to) {
            Some(Shard::Local(relays)) => {
                relays.retarget(to, addr);
                Ok(())
            }
            Some(Shard::Process(process)) => process.retarget(to, addr),
            None => bail!("node {to} is not in this run"),
        }
    }

    /// Replaces the faults of one directed link.
    pub fn set(&self, spec: LinkSpec) -> Result<()> {
        match self.shard(spec.to).filter(|_| spec.from != spec.to && self.owner.contains_key(&spec.from)) {
            Some(Shard::Local(relays)) => relays.set(spec),
            Some(Shard::Process(process)) => process.set(spec),
            None => bail!("there is no link {}→{}", spec.from, spec.to),
        }
    }

    /// Every link back to healthy.
    pub fn clear_all(&self) -> Result<()> {
        for shard in &self.shards {
            match shard {
                Shard::Local(relays) => relays.clear_all(),
                Shard::Process(process) => process.clear_all()?,
            }
        }
        Ok(())
    }

    /// What the proxy has done on a link, once the link has been used or given a fault.
    pub fn counters(&self, from: NodeId, to: NodeId) -> Option<Counts> {
        match self.shard(to)? {
            Shard::Local(relays) => relays.counters(from, to),
            Shard::Process(process) => process.counters(from, to).ok().flatten(),
        }
    }
}

/// The relays of one process: a listener per destination it serves, on its own runtime.
pub struct Relays {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    pub listen: BTreeMap<NodeId, SocketAddr>,
}

impl Relays {
    /// Opens a listener for each of `targets` (destinations and their real addresses), for
    /// connections from any of `senders`.
    pub fn start(senders: BTreeSet<NodeId>, targets: &BTreeMap<NodeId, SocketAddr>, seed: u64) -> Result<Relays> {
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
            senders,
            targets: targets.iter().map(|(id, addr)| (*id, Mutex::new(*addr))).collect(),
            links: Mutex::default(),
            hello_deadline: HelloDeadline::default(),
        });
        let mut listen = BTreeMap::new();
        for &to in targets.keys() {
            let listener = runtime
                .block_on(TcpListener::bind("127.0.0.1:0"))
                .with_context(|| format!("binding the proxy listener for node {to}"))?;
            listen.insert(to, listener.local_addr()?);
            runtime.spawn(accept_loop(listener, to, Arc::clone(&shared)));
        }
        Ok(Relays { runtime, shared, listen })
    }

    /// Points every link into `to` at a new address (new connections only).
    pub fn retarget(&self, to: NodeId, addr: SocketAddr) {
        if let Some(target) = self.shared.targets.get(&to) {
            *target.lock().expect("proxy target") = addr;
        }
    }

    /// Replaces the faults of one directed link.
    pub fn set(&self, spec: LinkSpec) -> Result<()> {
        let known = self.shared.senders.contains(&spec.from) && self.shared.targets.contains_key(&spec.to);
        if spec.from == spec.to || !known {
            bail!("there is no link {}→{}", spec.from, spec.to);
        }
        self.shared.link(spec.from, spec.to).faults.send_replace(spec);
        Ok(())
    }

    /// Every link back to healthy.
    pub fn clear_all(&self) {
        for (&(from, to), link) in self.shared.links.lock().expect("proxy links").iter() {
            link.faults.send_if_modified(|spec| {
                let faulty = !spec.is_clear();
                *spec = LinkSpec::clear(from, to);
                faulty
            });
        }
    }

    /// What the proxy has done on a link, once the link has been used or given a fault.
    pub fn counters(&self, from: NodeId, to: NodeId) -> Option<Counts> {
        self.shared.links.lock().expect("proxy links").get(&(from, to)).map(|l| l.counters.read())
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        // Listeners and connections belong to tasks on this runtime; ending it closes them all.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread().build().expect("a bare runtime"),
        );
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

async fn accept_loop(listener: TcpListener, to: NodeId, shared: Arc<Shared>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve(inbound, to, Arc::clone(&shared)));
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

/// One connection from a sender to the destination `to`: its hello names the link, then the
/// relay runs until either side goes.
async fn serve(mut inbound: TcpStream, to: NodeId, shared: Arc<Shared>) {
    let _ = inbound.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let Some(hello_len) = read_hello(&mut inbound, &mut buf, &shared.hello_deadline).await else { return };
    // A stranger (no hello from a node of this run) is relayed as a healthy link: the node's
    // own gate decides what to do with it.
    let from = sender(&buf[..hello_len]).filter(|from| *from != to && shared.senders.contains(from));
    let link = from.map(|from| shared.link(from, to));
    if let Some(link) = &link {
        let spec = link.faults.borrow().clone();
        if spec.cut && spec.mode == CutMode::Reset {
            link.counters.resets.fetch_add(1, Ordering::Relaxed);
            reset(inbound);
            return;
        }
    }
    let target = *shared.targets[&to].lock().expect("proxy target");
    let Ok(outbound) = TcpStream::connect(target).await else { return };
    let _ = outbound.set_nodelay(true);
    let hello = buf.split_to(hello_len);
    if let Some(link) = &link {
        link.counters.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    relay(inbound, outbound, hello.freeze(), buf, link).await;
}

/// Closes a connection with a TCP reset (SO_LINGER 0), as `iptables -j REJECT --reject-with
/// tcp-reset` would.
fn reset(stream: TcpStream) {
    // Linger 0 makes close() send RST at once instead of FIN (no blocking: nothing is flushed).
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::Linger, &linger);
    drop(stream);
}

/// A frame (prefix included) on its way out, and when it may go.
struct Timed {
    due: Instant,
    frame: Bytes,
}

/// One proxied connection's state: the frames waiting to go out, in order.
struct Relay {
    /// `None` for a stranger's connection, which is never faulted.
    link: Option<Arc<Link>>,
    faults: Option<watch::Receiver<LinkSpec>>,
    queue: VecDeque<Timed>,
    /// Due time of the last queued frame: delays keep the link FIFO, like TCP.
    last_due: Instant,
    /// A frame held back to be overtaken by the next one.
    held: Option<Bytes>,
}

/// What the connection does after a frame.
enum Flow {
    Go,
    /// The link was cut in reset mode: close the connection.
    Reset,
}

impl Relay {
    fn healthy(&self) -> bool {
        self.faults.as_ref().is_none_or(|f| f.borrow().is_clear())
    }

    fn push(&mut self, due: Instant, frame: Bytes) {
        self.last_due = self.last_due.max(due);
        self.queue.push_back(Timed { due: self.last_due, frame });
    }

    /// Takes the complete frames at the start of `buf`: on a healthy link with nothing waiting,
    /// all of them as one chunk to write at once; otherwise each through the link's faults into
    /// the queue. `Err` for a frame over the limit.
    fn take(&mut self, buf: &mut BytesMut) -> Result<(Option<Bytes>, Flow), ()> {
        if self.healthy() && self.queue.is_empty() && self.held.is_none() {
            let (mut end, mut frames) = (0, 0);
            while let Some(len) = complete_frame(&buf[end..])? {
                end += len;
                frames += 1;
            }
            if let Some(link) = self.link.as_ref().filter(|_| frames > 0) {
                link.counters.forwarded.fetch_add(frames, Ordering::Relaxed);
            }
            return Ok(((end > 0).then(|| buf.split_to(end).freeze()), Flow::Go));
        }
        while let Some(len) = complete_frame(buf)? {
            let frame = buf.split_to(len).freeze();
            if let Flow::Reset = self.route(frame) {
                return Ok((None, Flow::Reset));
            }
        }
        Ok((None, Flow::Go))
    }

    /// Applies the link's faults to one frame (a link in trouble; strangers are never here).
    fn route(&mut self, frame: Bytes) -> Flow {
        let (Some(link), Some(faults)) = (self.link.clone(), self.faults.as_ref()) else {
            self.push(self.last_due, frame);
            return Flow::Go;
        };
        let counters = &link.counters;
        let spec = faults.borrow().clone();
        if spec.is_clear() {
            // Healed while frames still wait: behind them, with no delay of its own.
            counters.forwarded.fetch_add(1, Ordering::Relaxed);
            self.push(self.last_due, frame);
            return Flow::Go;
        }
        if spec.cut {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            if spec.mode == CutMode::Reset {
                counters.resets.fetch_add(1, Ordering::Relaxed);
                return Flow::Reset;
            }
            return Flow::Go;
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
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Flow::Go;
        }
        if copies > 1 {
            counters.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        if !extra.is_zero() {
            counters.delayed.fetch_add(1, Ordering::Relaxed);
        }
        if reorder && self.held.is_none() {
            counters.reordered.fetch_add(1, Ordering::Relaxed);
            self.held = Some(frame);
            return Flow::Go;
        }
        for _ in 0..copies {
            counters.forwarded.fetch_add(1, Ordering::Relaxed);
            self.push(now + extra, frame.clone());
        }
        if let Some(late) = self.held.take() {
            self.push(now + extra, late);
        }
        Flow::Go
    }
}

/// How a relay ended.
enum End {
    /// The sender closed: what is queued still goes, each frame at its time.
    SenderGone,
    /// The target closed or broke, or a frame could not be followed: close both sides.
    Broken,
    /// The link was cut in reset mode.
    Reset,
}

/// Relays one connection in one task: frames are read, routed, and written once due; a healthy
/// link writes what has arrived straight on, one write per read. Bytes the target sends back
/// (nodes send none) go back verbatim, and its closing closes the sender's side.
async fn relay(inbound: TcpStream, outbound: TcpStream, hello: Bytes, mut buf: BytesMut, link: Option<Arc<Link>>) {
    let (mut in_read, mut in_write) = inbound.into_split();
    let (mut out_read, mut out_write) = outbound.into_split();
    if out_write.write_all(&hello).await.is_err() {
        return;
    }
    let faults = link.as_ref().map(|l| l.faults.subscribe());
    let mut relay = Relay { link, faults, queue: VecDeque::new(), last_due: Instant::now(), held: None };
    let mut back = [0u8; 512];
    let mut first = true;
    let end = loop {
        let head = relay.queue.front().map(|t| t.due);
        if first {
            // Frames that came with the hello.
            first = false;
        } else {
            buf.reserve(READ_CHUNK);
            tokio::select! {
                read = in_read.read_buf(&mut buf) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        break End::SenderGone;
                    }
                }
                _ = tokio::time::sleep_until(head.unwrap_or_else(Instant::now)), if head.is_some() => {}
                changed = async { relay.faults.as_mut().expect("checked").changed().await }, if relay.faults.is_some() => {
                    let spec = relay.faults.as_mut().expect("checked").borrow_and_update().clone();
                    if changed.is_ok() && spec.cut && spec.mode == CutMode::Reset {
                        let counters = &relay.link.as_ref().expect("a faulted link").counters;
                        counters.resets.fetch_add(1, Ordering::Relaxed);
                        break End::Reset;
                    }
                    continue;
                }
                _ = tokio::time::sleep(REORDER_HOLD), if relay.held.is_some() => {
                    let late = relay.held.take().expect("checked");
                    relay.push(Instant::now(), late);
                }
                read = out_read.read(&mut back) => match read {
                    Ok(n) if n > 0 => {
                        if in_write.write_all(&back[..n]).await.is_err() {
                            break End::Broken;
                        }
                        continue;
                    }
                    _ => break End::Broken,
                }
            }
        }
        match relay.take(&mut buf) {
            Err(()) => break End::Broken,
            Ok((_, Flow::Reset)) => break End::Reset,
            Ok((None, Flow::Go)) => {}
            Ok((Some(chunk), Flow::Go)) => {
                if out_write.write_all(&chunk).await.is_err() {
                    break End::Broken;
                }
            }
        }
        if write_due(&mut relay.queue, &mut out_write, false).await.is_err() {
            break End::Broken;
        }
    };
    match end {
        End::SenderGone => {
            let _ = write_due(&mut relay.queue, &mut out_write, true).await;
        }
        End::Reset => {
            if let Ok(inbound) = in_read.reunite(in_write) {
                reset(inbound);
            }
        }
        End::Broken => {}
    }
}

/// Writes the frames that are due (all of them, waiting for each, with `all`), gathered into one
/// write.
async fn write_due(queue: &mut VecDeque<Timed>, out: &mut OwnedWriteHalf, all: bool) -> std::io::Result<()> {
    let mut now = Instant::now();
    let mut gathered = Vec::new();
    while let Some(head) = queue.front() {
        if head.due > now {
            if !all {
                break;
            }
            out.write_all(&gathered).await?;
            gathered.clear();
            tokio::time::sleep_until(head.due).await;
            now = Instant::now();
        }
        let Timed { frame, .. } = queue.pop_front().expect("a head");
        gathered.extend_from_slice(&frame);
    }
    if !gathered.is_empty() {
        out.write_all(&gathered).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A proxy between "node 1" (this test, dialing) and "node 2" (a plain listener).
    fn setup() -> (Proxy, std::net::TcpListener) {
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nodes = BTreeMap::from([(1, other.local_addr().unwrap()), (2, target.local_addr().unwrap())]);
        (Proxy::start(&nodes, 7).unwrap(), target)
    }

    /// Node 1's hello: the proxy learns the sender from it.
    fn hello() -> Vec<u8> {
        node::wire::encode(&Frame::Hello { node: 1, cluster: "test".into(), version: node::wire::WIRE_VERSION })
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    fn read_frames(stream: &mut std::net::TcpStream, wait: Duration) -> Vec<Vec<u8>> {
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
            frames.push(rest[4..4 + len].to_vec());
            rest = &rest[4 + len..];
        }
        frames
    }

    fn send_all(proxy: &Proxy, payloads: &[&[u8]]) -> std::net::TcpStream {
        let mut client = std::net::TcpStream::connect(proxy.address(1, 2)).unwrap();
        for p in payloads {
            client.write_all(&frame(p)).unwrap();
        }
        client
    }

    #[test]
    fn healthy_links_forward_every_frame_in_order() {
        let (proxy, target) = setup();
        let _client = send_all(&proxy, &[&hello(), b"a", b"b", b"c"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(300));
        assert_eq!(got, vec![hello(), b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_blackholed_link_passes_the_hello_and_drops_the_rest() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }).unwrap();
        let _client = send_all(&proxy, &[&hello(), b"a", b"b"]);
        let (mut server, _) = target.accept().unwrap();
        assert_eq!(read_frames(&mut server, Duration::from_millis(300)), vec![hello()]);
        assert_eq!(proxy.counters(1, 2).unwrap().dropped, 2);
    }

    #[test]
    fn duplication_delivers_twice_and_delay_holds_frames_back() {
        let (proxy, target) = setup();
        let delay = algorithms::faults::Delay::Fixed { ms: 150.0 };
        proxy.set(LinkSpec { duplicate: 1.0, delay: Some(delay), ..LinkSpec::clear(1, 2) }).unwrap();
        let started = std::time::Instant::now();
        let _client = send_all(&proxy, &[&hello(), b"x"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(400));
        assert_eq!(got, vec![hello(), b"x".to_vec(), b"x".to_vec()]);
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn reordering_lets_a_later_frame_overtake() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { reorder: 1.0, ..LinkSpec::clear(1, 2) }).unwrap();
        let _client = send_all(&proxy, &[&hello(), b"1", b"2", b"3", b"4"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(300));
        assert_eq!(got.len(), 5);
        assert_ne!(got[1..], [b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"4".to_vec()], "some frame overtook");
    }

    #[test]
    fn a_reset_link_closes_connections() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { cut: true, mode: CutMode::Reset, ..LinkSpec::clear(1, 2) }).unwrap();
        let mut client = send_all(&proxy, &[&hello()]);
        client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 8];
        let closed = matches!(client.read(&mut buf), Ok(0) | Err(_));
        assert!(closed, "the proxy closes the connection");
        target.set_nonblocking(true).unwrap();
        assert!(target.accept().is_err(), "nothing reaches the target");
    }

    /// Senders share a destination's listener; each one's hello puts it on its own link, and a
    /// connection whose first frame is no hello is relayed untouched.
    #[test]
    fn senders_to_one_listener_get_their_own_links() {
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let nodes = BTreeMap::from([(1, nowhere), (2, target.local_addr().unwrap()), (3, nowhere)]);
        let proxy = Proxy::start(&nodes, 7).unwrap();
        assert_eq!(proxy.address(1, 2), proxy.address(3, 2), "one listener per destination");
        assert!(proxy.counters(1, 2).is_none(), "no state for a link never used");
        assert!(proxy.set(LinkSpec::clear(2, 2)).is_err() && proxy.set(LinkSpec::clear(1, 4)).is_err());
        proxy.set(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }).unwrap();
        let hello_3 =
            node::wire::encode(&Frame::Hello { node: 3, cluster: "test".into(), version: node::wire::WIRE_VERSION });
        let mut from_1 = std::net::TcpStream::connect(proxy.address(1, 2)).unwrap();
        from_1.write_all(&[frame(&hello()), frame(b"cut")].concat()).unwrap();
        let (mut server_1, _) = target.accept().unwrap();
        let mut from_3 = std::net::TcpStream::connect(proxy.address(3, 2)).unwrap();
        from_3.write_all(&[frame(&hello_3), frame(b"through")].concat()).unwrap();
        let (mut server_3, _) = target.accept().unwrap();
        let mut stranger = std::net::TcpStream::connect(proxy.address(1, 2)).unwrap();
        stranger.write_all(&[frame(b"not a hello"), frame(b"passes")].concat()).unwrap();
        let (mut server_s, _) = target.accept().unwrap();
        assert_eq!(read_frames(&mut server_1, Duration::from_millis(300)), vec![hello()]);
        assert_eq!(read_frames(&mut server_3, Duration::from_millis(300)), vec![hello_3, b"through".to_vec()]);
        let stranger_frames = read_frames(&mut server_s, Duration::from_millis(300));
        assert_eq!(stranger_frames, vec![b"not a hello".to_vec(), b"passes".to_vec()]);
        assert_eq!(proxy.counters(1, 2).unwrap().dropped, 1);
        assert_eq!(proxy.counters(3, 2).unwrap().forwarded, 2);
    }
}

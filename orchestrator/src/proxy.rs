//! The frame-aware proxy: one listener on the path of every directed link (node i → node j).
//!
//! Node i's config names the proxy's listener for (i→j) as j's address; the proxy accepts i's
//! connection, connects to j's real listener and forwards length-delimited frames one by one.
//! Because it sees whole frames (each one message), every fault applies per directed link and per
//! message: cut (blackhole: drop silently, or reset: close the connection), loss, extra delay with
//! jitter, duplication and reordering. The first frame (the hello) is never touched, so a link
//! with faults still connects. All random choices come from one RNG per link seeded from the run's
//! seed. Needs no root: it is a user-space TCP relay on 127.0.0.1.

use algorithms::faults::{CutMode, LinkSpec};
use algorithms::NodeId;
use anyhow::{Context, Result};
use bytes::Bytes;
use futures::FutureExt;
use futures::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// How long a reordered frame waits for a successor to overtake it before it goes anyway.
const REORDER_HOLD: Duration = Duration::from_millis(20);

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

struct Link {
    from: NodeId,
    to: NodeId,
    /// The real listener of `to` (a restarted node may listen elsewhere).
    target: Mutex<SocketAddr>,
    faults: watch::Sender<LinkSpec>,
    rng: Mutex<ChaCha8Rng>,
    counters: LinkCounters,
}

pub struct Proxy {
    runtime: tokio::runtime::Runtime,
    links: BTreeMap<(NodeId, NodeId), Arc<Link>>,
    /// The address node `from` must dial to reach `to`.
    listen: BTreeMap<(NodeId, NodeId), SocketAddr>,
}

impl Proxy {
    /// Opens a listener for every directed link between `nodes` (their real addresses).
    pub fn start(nodes: &BTreeMap<NodeId, SocketAddr>, seed: u64) -> Result<Proxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("proxy")
            .enable_all()
            .build()
            .context("starting the proxy runtime")?;
        let mut links = BTreeMap::new();
        let mut listen = BTreeMap::new();
        for &from in nodes.keys() {
            for (&to, &target) in nodes {
                if from == to {
                    continue;
                }
                let listener = runtime
                    .block_on(TcpListener::bind("127.0.0.1:0"))
                    .with_context(|| format!("binding the proxy listener for link {from}→{to}"))?;
                listen.insert((from, to), listener.local_addr()?);
                let rng = ChaCha8Rng::seed_from_u64(seed ^ ((from as u64) << 32 | to as u64) ^ 0x9e37_79b9_7f4a_7c15);
                let link = Arc::new(Link {
                    from,
                    to,
                    target: Mutex::new(target),
                    faults: watch::channel(LinkSpec::clear(from, to)).0,
                    rng: Mutex::new(rng),
                    counters: LinkCounters::default(),
                });
                runtime.spawn(accept_loop(listener, Arc::clone(&link)));
                links.insert((from, to), link);
            }
        }
        Ok(Proxy { runtime, links, listen })
    }

    /// The address node `from` dials to reach node `to` through the proxy.
    pub fn address(&self, from: NodeId, to: NodeId) -> SocketAddr {
        self.listen[&(from, to)]
    }

    /// Points every link into `to` at a new address (new connections only).
    pub fn retarget(&self, to: NodeId, addr: SocketAddr) {
        for link in self.links.values().filter(|l| l.to == to) {
            *link.target.lock().expect("proxy target") = addr;
        }
    }

    /// Replaces the faults of one directed link.
    pub fn set(&self, spec: LinkSpec) -> Result<()> {
        let link = self
            .links
            .get(&(spec.from, spec.to))
            .with_context(|| format!("there is no link {}→{}", spec.from, spec.to))?;
        link.faults.send_replace(spec);
        Ok(())
    }

    /// Every link back to healthy.
    pub fn clear_all(&self) {
        for link in self.links.values() {
            link.faults.send_replace(LinkSpec::clear(link.from, link.to));
        }
    }

    pub fn counters(&self, from: NodeId, to: NodeId) -> Option<&LinkCounters> {
        self.links.get(&(from, to)).map(|l| &l.counters)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Listeners and connections belong to tasks on this runtime; ending it closes them all.
        let runtime = std::mem::replace(
            &mut self.runtime,
            tokio::runtime::Builder::new_current_thread().build().expect("a bare runtime"),
        );
        runtime.shutdown_timeout(Duration::from_millis(100));
    }
}

async fn accept_loop(listener: TcpListener, link: Arc<Link>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let link = Arc::clone(&link);
        tokio::spawn(async move {
            if link.faults.borrow().cut && link.faults.borrow().mode == CutMode::Reset {
                link.counters.resets.fetch_add(1, Ordering::Relaxed);
                reset(inbound);
                return;
            }
            let target = *link.target.lock().expect("proxy target");
            if let Ok(outbound) = TcpStream::connect(target).await {
                relay(inbound, outbound, link).await;
            }
        });
    }
}

/// Closes a connection with a TCP reset (SO_LINGER 0), as `iptables -j REJECT --reject-with
/// tcp-reset` would.
fn reset(stream: TcpStream) {
    // Linger 0 makes close() send RST at once instead of FIN (no blocking: nothing is flushed).
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::Linger, &linger);
    drop(stream);
}

/// A frame on its way out, and when it may go.
struct Timed {
    due: Instant,
    frame: Bytes,
}

/// How many frames already waiting on the socket are routed before the next write: one flush
/// per batch instead of one per frame.
const BATCH: usize = 256;

/// One proxied connection's state: the frames waiting to go out, in order.
struct Relay {
    link: Arc<Link>,
    faults: watch::Receiver<LinkSpec>,
    queue: VecDeque<Timed>,
    /// Due time of the last queued frame: delays keep the link FIFO, like TCP.
    last_due: Instant,
    /// A frame held back to be overtaken by the next one.
    held: Option<Bytes>,
    hello_seen: bool,
}

/// What the connection does after a frame.
enum Flow {
    Go,
    /// The link was cut in reset mode: close the connection.
    Reset,
}

impl Relay {
    fn push(&mut self, due: Instant, frame: Bytes) {
        self.last_due = self.last_due.max(due);
        self.queue.push_back(Timed { due: self.last_due, frame });
    }

    /// Applies the link's faults to one frame (the hello always passes).
    fn route(&mut self, frame: Bytes) -> Flow {
        if !self.hello_seen || self.faults.borrow().is_clear() {
            // Healthy: due as soon as the frames before it (no clock read on the hot path).
            self.hello_seen = true;
            self.link.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            self.queue.push_back(Timed { due: self.last_due, frame });
            return Flow::Go;
        }
        let now = Instant::now();
        let link = Arc::clone(&self.link);
        let counters = &link.counters;
        let (lost, copies, extra, reorder) = {
            let spec = self.faults.borrow();
            if spec.cut {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                if spec.mode == CutMode::Reset {
                    counters.resets.fetch_add(1, Ordering::Relaxed);
                    return Flow::Reset;
                }
                return Flow::Go;
            } else {
                // Every random draw of a link comes from its own seeded stream.
                let mut rng = self.link.rng.lock().expect("proxy rng");
                let mut chance = |p: f64| p > 0.0 && rng.random::<f64>() < p;
                let lost = chance(spec.loss);
                let copies = if chance(spec.duplicate) { 2 } else { 1 };
                let reorder = chance(spec.reorder);
                let extra = spec.delay.as_ref().map_or(0, |d| d.sample(&mut *rng));
                (lost, copies, Duration::from_nanos(extra), reorder)
            }
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

/// Relays one connection in one task: frames are read, routed, and written once due; a healthy
/// link writes them straight away, a whole batch per flush.
async fn relay(inbound: TcpStream, outbound: TcpStream, link: Arc<Link>) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    let codec = || LengthDelimitedCodec::builder().max_frame_length(node::wire::MAX_FRAME).new_codec();
    let mut frames = FramedRead::new(in_read, codec());
    let mut sink = FramedWrite::new(out_write, codec());
    // Bytes the far side sends back (nodes send none) go back verbatim.
    let back = tokio::spawn(async move {
        let (mut r, mut w) = (out_read, in_write);
        let _ = tokio::io::copy(&mut r, &mut w).await;
    });
    let faults = link.faults.subscribe();
    let mut relay =
        Relay { link, faults, queue: VecDeque::new(), last_due: Instant::now(), held: None, hello_seen: false };
    let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
    let (mut open, mut reset) = (true, false);
    while open && !reset {
        let head = relay.queue.front().map_or(far_future, |t| t.due);
        tokio::select! {
            frame = frames.next() => {
                let mut next = Some(frame);
                let mut taken = 0;
                while let Some(frame) = next.take() {
                    match frame {
                        Some(Ok(frame)) => reset = matches!(relay.route(frame.freeze()), Flow::Reset),
                        _ => open = false,
                    }
                    taken += 1;
                    if !reset && open && taken < BATCH {
                        // Take what is already here; stop at the first frame still on its way.
                        next = frames.next().now_or_never();
                    }
                }
            }
            _ = tokio::time::sleep_until(head), if head > Instant::now() => {}
            _ = relay.faults.changed() => {
                let spec = relay.faults.borrow_and_update();
                if spec.cut && spec.mode == CutMode::Reset {
                    relay.link.counters.resets.fetch_add(1, Ordering::Relaxed);
                    reset = true;
                }
            }
            _ = tokio::time::sleep(REORDER_HOLD), if relay.held.is_some() => {
                let late = relay.held.take().expect("checked");
                relay.push(Instant::now(), late);
            }
        }
        if reset || write_due(&mut relay.queue, &mut sink, false).await.is_err() {
            break;
        }
    }
    back.abort();
    if !reset {
        // The sender is gone: what is queued still goes, each frame at its time.
        let _ = write_due(&mut relay.queue, &mut sink, true).await;
    }
}

/// Writes the frames that are due (all of them, waiting for each, with `all`), then flushes.
async fn write_due(
    queue: &mut VecDeque<Timed>,
    sink: &mut FramedWrite<tokio::net::tcp::OwnedWriteHalf, LengthDelimitedCodec>,
    all: bool,
) -> std::io::Result<()> {
    let mut wrote = false;
    let mut now = Instant::now();
    while let Some(head) = queue.front() {
        if head.due > now {
            if !all {
                break;
            }
            tokio::time::sleep_until(head.due).await;
            now = Instant::now();
        }
        let Timed { frame, .. } = queue.pop_front().expect("a head");
        sink.feed(frame).await?;
        wrote = true;
    }
    if wrote {
        SinkExt::<Bytes>::flush(sink).await?;
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
        let _client = send_all(&proxy, &[b"hello", b"a", b"b", b"c"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(300));
        assert_eq!(got, vec![b"hello".to_vec(), b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_blackholed_link_passes_the_hello_and_drops_the_rest() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { cut: true, ..LinkSpec::clear(1, 2) }).unwrap();
        let _client = send_all(&proxy, &[b"hello", b"a", b"b"]);
        let (mut server, _) = target.accept().unwrap();
        assert_eq!(read_frames(&mut server, Duration::from_millis(300)), vec![b"hello".to_vec()]);
        assert_eq!(proxy.counters(1, 2).unwrap().dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn duplication_delivers_twice_and_delay_holds_frames_back() {
        let (proxy, target) = setup();
        let delay = algorithms::faults::Delay::Fixed { ms: 150.0 };
        proxy.set(LinkSpec { duplicate: 1.0, delay: Some(delay), ..LinkSpec::clear(1, 2) }).unwrap();
        let started = std::time::Instant::now();
        let _client = send_all(&proxy, &[b"hello", b"x"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(400));
        assert_eq!(got, vec![b"hello".to_vec(), b"x".to_vec(), b"x".to_vec()]);
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn reordering_lets_a_later_frame_overtake() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { reorder: 1.0, ..LinkSpec::clear(1, 2) }).unwrap();
        let _client = send_all(&proxy, &[b"hello", b"1", b"2", b"3", b"4"]);
        let (mut server, _) = target.accept().unwrap();
        let got = read_frames(&mut server, Duration::from_millis(300));
        assert_eq!(got.len(), 5);
        assert_ne!(got[1..], [b"1".to_vec(), b"2".to_vec(), b"3".to_vec(), b"4".to_vec()], "some frame overtook");
    }

    #[test]
    fn a_reset_link_closes_connections() {
        let (proxy, target) = setup();
        proxy.set(LinkSpec { cut: true, mode: CutMode::Reset, ..LinkSpec::clear(1, 2) }).unwrap();
        let mut client = send_all(&proxy, &[b"hello"]);
        client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = [0u8; 8];
        let closed = matches!(client.read(&mut buf), Ok(0) | Err(_));
        assert!(closed, "the proxy closes the connection");
        target.set_nonblocking(true).unwrap();
        assert!(target.accept().is_err(), "nothing reaches the target");
    }
}

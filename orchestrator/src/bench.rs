//! `orchestrator bench proxy`: what the frame-aware proxy costs, against a direct link measured
//! in the same run. A sender streams length-delimited frames (the size of a node's envelope, each
//! carrying its send time) to a receiver, once directly and once through a healthy proxy link
//! (both ends then connect to the proxy as nodes 1 and 2 and wait to be greeted for each other,
//! and the frames are envelopes from 1 to 2); the receiver records each frame's one-way latency
//! and the rate. Both ends and the proxy run on their own threads, as they would in separate
//! processes.

use crate::proxy::Proxy;
use anyhow::{anyhow, Result};
use bytes::{BufMut, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

/// The size of a node's envelope on the wire (see the transport benchmark).
const FRAME_BYTES: usize = 89;

struct Figures {
    latency_p50: Duration,
    latency_p99: Duration,
    per_second: f64,
}

/// Frames are envelopes from node 1 to node 2 of a node envelope's size, whose body ends with
/// the send time as nanoseconds since `epoch` (so it is the frame's last 8 bytes).
fn frame(epoch: Instant) -> Bytes {
    let empty = node::wire::encode_msg(1, 2, "bench", 0, &Default::default(), "b", &[]).len();
    let mut body = BytesMut::with_capacity(FRAME_BYTES);
    body.resize(FRAME_BYTES.saturating_sub(empty + 8 + 2), 0);
    body.put_u64(epoch.elapsed().as_nanos() as u64);
    Bytes::from(node::wire::encode_msg(1, 2, "bench", 0, &Default::default(), "b", &body))
}

/// Through the proxy: says hello as node `id` and waits for the proxy's hello for the other end.
async fn greeted(frames: &mut Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>, id: u32) -> Result<()> {
    let hello = node::wire::Frame::Hello { node: id, cluster: "bench".into(), version: node::wire::WIRE_VERSION };
    frames.send(Bytes::from(node::wire::encode(&hello))).await?;
    frames.next().await.ok_or_else(|| anyhow!("the proxy closed"))??;
    Ok(())
}

/// Paced frames for latency (one at a time, so queues stay empty), then a flood for the rate.
fn measure(via: Option<&Proxy>, paced: usize, flood: usize) -> Result<Figures> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let target = listener.local_addr()?;
    let dial: SocketAddr = via.map_or(target, Proxy::address);
    let proxied = via.is_some();
    let epoch = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counted = std::sync::Arc::clone(&done);
    let receiver = std::thread::spawn(move || -> Result<(Vec<Duration>, f64)> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener)?;
            let stream = if proxied { TcpStream::connect(dial).await? } else { listener.accept().await?.0 };
            stream.set_nodelay(true)?;
            let mut frames = Framed::new(stream, node::wire::codec());
            if proxied {
                greeted(&mut frames, 2).await?;
            }
            let mut latencies = Vec::with_capacity(paced);
            for _ in 0..paced {
                let f = frames.next().await.ok_or_else(|| anyhow!("sender closed"))??;
                let sent = u64::from_be_bytes(f[f.len() - 8..].try_into()?);
                latencies.push(epoch.elapsed() - Duration::from_nanos(sent));
            }
            let first = Instant::now();
            for _ in 0..flood {
                frames.next().await.ok_or_else(|| anyhow!("sender closed"))??;
            }
            let rate = flood as f64 / first.elapsed().as_secs_f64();
            counted.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok((latencies, rate))
        })
    });
    let sender = std::thread::spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let stream = TcpStream::connect(dial).await?;
            stream.set_nodelay(true)?;
            let mut frames = Framed::new(stream, node::wire::codec());
            if proxied {
                greeted(&mut frames, 1).await?;
            }
            for _ in 0..paced {
                frames.send(frame(epoch)).await?;
                // tokio's timer ticks in milliseconds; this runtime runs nothing else.
                std::thread::sleep(Duration::from_micros(200));
            }
            for _ in 0..flood {
                frames.feed(frame(epoch)).await?;
            }
            SinkExt::<Bytes>::flush(&mut frames).await?;
            // Keep the connection open until the receiver has counted everything.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        })
    });
    let received = receiver.join().map_err(|_| anyhow!("receiver panicked"))?;
    if let Err(e) = sender.join().map_err(|_| anyhow!("sender panicked"))? {
        return Err(e.context("sender"));
    }
    let (mut latencies, per_second) = received?;
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Figures { latency_p50: pick(0.5), latency_p99: pick(0.99), per_second })
}

pub fn proxy(paced: usize, flood: usize, rounds: usize) -> Result<()> {
    // The proxy needs two nodes to make a link; node 1 is this benchmark's sender.
    let proxy = Proxy::start([1, 2], 1)?;
    println!("proxy benchmark on 127.0.0.1: {paced} paced frames for latency, {flood} for the rate, {rounds} round(s), {FRAME_BYTES}-byte frames\n");
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for round in 1..=rounds {
        eprintln!("round {round} of {rounds} ...");
        direct.push(measure(None, paced, flood)?);
        proxied.push(measure(Some(&proxy), paced, flood)?);
    }
    let median = |runs: &[Figures], f: fn(&Figures) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    fn us(d: Duration) -> f64 {
        d.as_secs_f64() * 1e6
    }
    let rows = [("direct link", &direct), ("through the proxy", &proxied)];
    println!("{:<20} {:>14} {:>14} {:>14}", "", "latency p50", "latency p99", "frames/s");
    for (name, runs) in rows {
        println!(
            "{:<20} {:>11.1} µs {:>11.1} µs {:>14.0}",
            name,
            median(runs, |f| us(f.latency_p50)),
            median(runs, |f| us(f.latency_p99)),
            median(runs, |f| f.per_second)
        );
    }
    let added = median(&proxied, |f| us(f.latency_p50)) - median(&direct, |f| us(f.latency_p50));
    let ratio = median(&proxied, |f| f.per_second) / median(&direct, |f| f.per_second);
    println!();
    println!(
        "added median latency per message: {added:.1} µs (target ≤ 30 µs: {})",
        if added <= 30.0 { "met" } else { "NOT met" }
    );
    println!(
        "throughput through the proxy: {ratio:.2}× direct (target ≥ 0.5×: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );
    Ok(())
}

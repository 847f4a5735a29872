//! `transport-bench`: how close the node's transport comes to raw TCP on this machine.
//!
//! 1. **Raw**: two tokio runtimes on two threads of this process exchange length-delimited
//!    frames over 127.0.0.1, each frame one MessagePack envelope as nodes send them: ping-pong
//!    round trips (one frame in flight) and a one-way stream with batched writes.
//! 2. **Node**: two real `node` processes (the binary beside this one) host the `bench`
//!    algorithm; over their control sockets it runs `ping` and `flood`, once with
//!    `trace_messages = false` and once with `true`, and reads the results with `results`.
//!
//! It prints one table, raw against node, with the ratios and whether the targets are met
//! (throughput ≥ 0.5× raw, round trip ≤ 2× raw). It only reports: missed targets do not fail it.
//!
//! Run: `cargo run --release -p node --bin transport-bench` (add `-- --help` for the options).

use algorithms::trace::VectorClock;
use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use clap::Parser;
use futures::{SinkExt, StreamExt};
use node::config::{InstanceConfig, NodeConfig, Peer};
use node::control::{Client, Request};
use node::wire::{self, Envelope, Frame};
use serde_json::Value;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

#[derive(Parser)]
#[command(about = "Measures raw loopback TCP and two real nodes running the bench algorithm")]
struct Args {
    /// Round trips per ping run.
    #[arg(long, default_value_t = 5000)]
    pings: u64,
    /// One-way messages per node flood.
    #[arg(long, default_value_t = 300_000)]
    flood: u64,
    /// One-way frames for the raw stream (raw is fast: more frames, steadier figure).
    #[arg(long, default_value_t = 2_000_000)]
    raw_frames: u64,
    /// The bench algorithm's flood window (most messages unacknowledged); below the node's
    /// per-peer queue of 10 000 frames, or frames are dropped.
    #[arg(long, default_value_t = 1024)]
    window: u64,
    /// The receiver acknowledges every this many flood messages.
    #[arg(long, default_value_t = 128)]
    ack_every: u64,
    /// The node binary (default: `node` beside this executable).
    #[arg(long)]
    node: Option<PathBuf>,
    /// Rounds of every measurement; the table shows each figure's median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Where the two ends run: `split` pins them to CPUs 0 and 1, `same` both to CPU 0, `none`
    /// leaves it to the scheduler. Pinning matters: in a VM a wake-up across CPUs costs tens of
    /// microseconds, so unpinned round trips jump between two figures as the scheduler moves the
    /// ends; raw and node ends are pinned the same way so their figures compare.
    #[arg(long, value_enum, default_value_t = Pin::Split)]
    pin: Pin,
    /// Another node binary (say, a build from before a change) measured in the same rounds: its
    /// rows are marked "compared", so a before/after comparison shares one set of raw figures.
    #[arg(long)]
    compare_node: Option<PathBuf>,
    /// Trace records for the table of what one record costs, stage by stage (0 skips it).
    #[arg(long, default_value_t = 300_000)]
    records: u64,
    /// Print only that table (no TCP, no nodes).
    #[arg(long)]
    records_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum Pin {
    Split,
    Same,
    None,
}

impl Pin {
    /// The CPU of end 0 (client, node 1) or end 1 (server, node 2).
    fn cpu(self, end: usize) -> Option<usize> {
        match self {
            Pin::Split => Some(end),
            Pin::Same => Some(0),
            Pin::None => None,
        }
    }
}

/// Pins the calling thread (or, before exec, the child process) to one CPU.
fn pin_to(cpu: Option<usize>) -> std::io::Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays within it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.pin == Pin::Split && std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        args.pin = Pin::Same;
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transport-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One measurement: round-trip p50, one-way throughput, and the CPU time each end spent per
/// message of the one-way stream (steadier than throughput on a shared machine: time spent
/// waiting for a CPU is not counted).
struct Figures {
    rtt_p50_ns: f64,
    rtt_p99_ns: f64,
    msgs_per_s: f64,
    send_cpu_ns: f64,
    recv_cpu_ns: f64,
}

/// CPU time of the calling thread.
fn thread_cpu_ns() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or(0.0, |t| t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64)
}

/// CPU time of every thread of process `pid` so far (`/proc/PID/task/*/schedstat`: on-CPU ns).
fn process_cpu_ns(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0.0 };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<f64>().ok())
        .sum()
}

impl Figures {
    /// Each figure's median over the rounds (of an even count, the upper middle).
    fn median(runs: &[Figures]) -> Figures {
        let pick = |f: fn(&Figures) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        Figures {
            rtt_p50_ns: pick(|f| f.rtt_p50_ns),
            rtt_p99_ns: pick(|f| f.rtt_p99_ns),
            msgs_per_s: pick(|f| f.msgs_per_s),
            send_cpu_ns: pick(|f| f.send_cpu_ns),
            recv_cpu_ns: pick(|f| f.recv_cpu_ns),
        }
    }

    /// CPU per message of the busier end: what bounds the rate when CPUs are not shared.
    fn busier_cpu_ns(&self) -> f64 {
        self.send_cpu_ns.max(self.recv_cpu_ns)
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.records > 0 {
        // On a thread of its own: its CPU pinning must not pass to the threads spawned later.
        let (records, cpu) = (args.records, args.pin.cpu(0));
        std::thread::spawn(move || record_costs(records, cpu))
            .join()
            .map_err(|_| anyhow!("the record cost thread panicked"))?
            .context("trace record costs")?;
    }
    if args.records_only {
        return Ok(());
    }
    let frame = sample_frame(1);
    println!(
        "transport benchmark on 127.0.0.1, {} CPU(s)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("frame: {} byte MessagePack envelope (+4 byte length prefix)", frame.len());
    println!(
        "placement: {}\n",
        match args.pin {
            Pin::Split => "the two ends pinned to CPUs 0 and 1 (client/node 1, server/node 2)",
            Pin::Same => "both ends pinned to CPU 0",
            Pin::None => "not pinned",
        }
    );

    // Rounds interleave raw and node measurements, so a disturbance of the machine (another
    // process taking a CPU for a while) hits one round of each rather than all of one kind.
    let node_bin = node_binary(args)?;
    let mut names = vec![
        "raw tokio TCP, bytes copied",
        "raw tokio TCP + MessagePack",
        "node, trace_messages=false",
        "node, trace_messages=true",
    ];
    let mut nodes = vec![(2, node_bin.clone())];
    if let Some(other) = &args.compare_node {
        names.extend(["compared, trace_messages=false", "compared, trace_messages=true"]);
        nodes.push((4, other.clone()));
    }
    let mut samples: Vec<Vec<Figures>> = names.iter().map(|_| vec![]).collect();
    for round in 1..=args.repeat {
        for (row, serialize) in [(0, false), (1, true)] {
            eprintln!("round {round} of {}: {} ...", args.repeat, names[row]);
            let figures =
                raw_figures(args.pings, args.raw_frames, args.pin, serialize).context("raw TCP measurement")?;
            samples[row].push(figures);
        }
        for (first_row, bin) in &nodes {
            for (row, trace_messages) in [(*first_row, false), (first_row + 1, true)] {
                eprintln!("round {round} of {}: {} ...", args.repeat, names[row]);
                let figures = node_figures(bin, trace_messages, args)
                    .with_context(|| format!("nodes of {} with trace_messages = {trace_messages}", bin.display()))?;
                samples[row].push(figures);
            }
        }
    }
    if args.repeat > 1 {
        println!("each figure is the median of {} rounds\n", args.repeat);
    }
    let rows: Vec<(String, Figures)> =
        names.iter().zip(&samples).map(|(name, runs)| (name.to_string(), Figures::median(runs))).collect();

    let (raw, coded) = (&rows[0].1, &rows[1].1);
    println!(
        "{:<30} {:>11} {:>11} {:>12} {:>8} {:>9} {:>11} {:>17} {:>10}",
        "", "RTT p50", "RTT p99", "msgs/s", "RTT/raw", "rate/raw", "rate/coded", "CPU/msg send recv", "CPU/coded"
    );
    for (name, f) in &rows {
        println!(
            "{:<30} {:>8.1} µs {:>8.1} µs {:>12} {:>7.2}× {:>8.2}× {:>10.2}× {:>7.0} {:>6.0} ns {:>9.2}×",
            name,
            f.rtt_p50_ns / 1e3,
            f.rtt_p99_ns / 1e3,
            thousands(f.msgs_per_s),
            f.rtt_p50_ns / raw.rtt_p50_ns,
            f.msgs_per_s / raw.msgs_per_s,
            f.msgs_per_s / coded.msgs_per_s,
            f.send_cpu_ns,
            f.recv_cpu_ns,
            coded.busier_cpu_ns() / f.busier_cpu_ns().max(1.0),
        );
    }
    println!(
        "(CPU/coded: the raw MessagePack pair's CPU per message at its busier end over this row's; \
         the rate a row would reach against that pair with a CPU to each end and nothing else running)"
    );
    println!();
    let word = |met: bool| if met { "met" } else { "NOT met" };
    for (name, f) in &rows[2..] {
        let rtt = f.rtt_p50_ns / raw.rtt_p50_ns;
        let rate = f.msgs_per_s / raw.msgs_per_s;
        let rate_coded = f.msgs_per_s / coded.msgs_per_s;
        println!(
            "{name}: round trip {rtt:.2}× raw (target ≤ 2×: {}); throughput {rate:.2}× raw bytes, \
             {rate_coded:.2}× raw MessagePack (target ≥ 0.5×: {} / {})",
            word(rtt <= 2.0),
            word(rate >= 0.5),
            word(rate_coded >= 0.5)
        );
    }
    Ok(())
}

/// What one traced message costs its node, stage by stage, on one thread: the record of a flood
/// message as the node writes it, against the way it was written before (a `TraceRecord` stamped
/// with a copy of the vector clock, then serde's derive). The stages are timed apart, each over
/// `n` records; `Tracer` rows are the whole of what a node does per send or receive.
fn record_costs(n: u64, cpu: Option<usize>) -> anyhow::Result<()> {
    use algorithms::load::LoadMsg;
    use algorithms::trace::{Clocks, RecordRef, ShownMsg, What, WhatRef};
    use node::trace_file::TraceFile;
    use node::tracer::Tracer;
    use std::hint::black_box;

    pin_to(cpu)?;
    let dir = std::env::temp_dir().join(format!("clusterlab-record-costs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = RemoveOnDrop(dir.clone());
    let time = |f: &mut dyn FnMut(u64)| {
        let start = Instant::now();
        for i in 0..n {
            f(i);
        }
        start.elapsed().as_nanos() as f64 / n as f64
    };
    let msg = LoadMsg::Flood { seq: 123_456, total: 1_000_000 };
    let shown = ShownMsg::of(&msg);
    let peer_vc = VectorClock::from([(2, 99_999)]);
    let mut clocks = Clocks::new(1);
    clocks.merge(77_777, &peer_vc);
    let mut line = Vec::with_capacity(512);
    let sample = clocks.clone().stamp(
        node::monotonic_ns(),
        "load",
        What::Send { to: 2, msg_type: "flood".into(), msg: shown.clone() },
    );
    let mut rows: Vec<(&str, f64)> = Vec::new();

    rows.push((
        "before: the message as a JSON Value (ctx.send)",
        time(&mut |i| {
            drop(black_box(serde_json::to_value(LoadMsg::Flood { seq: i, total: 1_000_000 }).unwrap()));
        }),
    ));
    rows.push((
        "before: the message as JSON text (ctx.send)",
        time(&mut |i| {
            drop(black_box(serde_json::value::to_raw_value(&LoadMsg::Flood { seq: i, total: 1_000_000 }).unwrap()));
        }),
    ));
    rows.push((
        "now: nothing (the trace shares the body)",
        time(&mut |_| {
            drop(black_box(shown.clone()));
        }),
    ));
    rows.push((
        "clock_gettime",
        time(&mut |_| {
            black_box(node::monotonic_ns());
        }),
    ));
    rows.push((
        "before: stamp (records built, vc copied)",
        time(&mut |_| {
            let what = What::Send { to: 2, msg_type: "flood".into(), msg: ShownMsg::null() };
            drop(black_box(clocks.stamp(0, "load", what)));
        }),
    ));
    rows.push((
        "now: tick (clocks lent)",
        time(&mut |_| {
            black_box(clocks.tick());
        }),
    ));
    rows.push((
        "before: JSON line, serde derive",
        time(&mut |_| {
            line.clear();
            serde_json::to_writer(&mut line, &sample).unwrap();
            line.push(b'\n');
            black_box(&line);
        }),
    ));
    let as_text = ShownMsg::from(serde_json::to_value(&msg)?);
    for (name, msg) in [
        ("before: JSON line by hand, message as text", &as_text),
        ("now: JSON line by hand, message from its body", &shown),
    ] {
        let borrowed = RecordRef { what: WhatRef::Send { to: 2, msg_type: "flood", msg }, ..sample.as_ref() };
        rows.push((
            name,
            time(&mut |_| {
                line.clear();
                borrowed.write_json_line(&mut line);
                black_box(&line);
            }),
        ));
    }
    let record_len = line.len();
    let (mut file, _) = TraceFile::open(&dir.join("append.jsonl"))?;
    rows.push((
        "copy into the mapping, pages prepared inline",
        time(&mut |_| {
            file.append(&line).unwrap();
        }),
    ));
    drop(file);
    for (name, trace_messages) in
        [("Tracer: send + receive, not traced", false), ("Tracer: send + receive, traced", true)]
    {
        let (tracer, _) = Tracer::open(&dir.join(format!("tracer-{trace_messages}.jsonl")), 1, trace_messages)?;
        let ns = time(&mut |i| {
            black_box(tracer.record_send("load", 2, "flood", &shown, |lc, vc| lc + vc.len() as u64));
            tracer.record_recv("load", 2, "flood", i, &peer_vc);
        });
        rows.push((name, ns / 2.0));
    }

    println!("one trace record ({record_len} bytes, a flood send), ns each over {} records:", thousands(n as f64));
    for (name, ns) in &rows {
        println!("  {name:<44} {ns:>7.0} ns");
    }
    println!();
    Ok(())
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A frame like the ones nodes exchange during a flood: a `bench` envelope, named fields.
fn sample_frame(seq: u64) -> Bytes {
    #[derive(serde::Serialize)]
    enum LoadMsg {
        Flood { seq: u64, total: u64 },
    }
    let body = rmp_serde::to_vec_named(&LoadMsg::Flood { seq, total: 1_000_000 }).expect("encodes");
    let frame = Frame::Msg(Envelope {
        from: 1,
        to: 2,
        instance: "load".into(),
        lc: seq,
        vc: VectorClock::from([(1, seq), (2, 7)]),
        kind: "flood".into(),
        body,
    });
    Bytes::from(wire::encode(&frame))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Raw figures: the server runs on its own thread and runtime, as another process would.
///
/// With `serialize`, every frame is encoded afresh on the way out and decoded on the way in, as
/// any MessagePack transport must: the floor for a node that also runs an algorithm per message.
/// Without it, pre-encoded bytes are copied: the floor of TCP and the codec alone.
fn raw_figures(pings: u64, frames: u64, pin: Pin, serialize: bool) -> anyhow::Result<Figures> {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let server = std::thread::spawn(move || -> anyhow::Result<(f64, f64)> {
        pin_to(pin.cpu(1))?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener)?;
            // First connection: echo every frame back.
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let mut echo = Framed::new(stream, wire::codec());
            while let Some(frame) = echo.next().await {
                let frame = frame?;
                if serialize {
                    wire::decode(&frame)?;
                }
                echo.send(frame.freeze()).await?;
            }
            // Second connection: count frames, time from the first to the last.
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let mut sink = Framed::new(stream, wire::codec());
            let (mut first, mut n) = (None, 0u64);
            let mut last = Instant::now();
            let cpu_start = thread_cpu_ns();
            while let Some(frame) = sink.next().await {
                let frame = frame?;
                if serialize {
                    wire::decode(&frame)?;
                }
                last = Instant::now();
                first.get_or_insert(last);
                n += 1;
            }
            let cpu = (thread_cpu_ns() - cpu_start) / n.max(1) as f64;
            let first = first.ok_or_else(|| anyhow!("no frame arrived"))?;
            Ok((n as f64 / (last - first).as_secs_f64(), cpu))
        })
    });
    let client = std::thread::spawn(move || -> anyhow::Result<(Vec<f64>, f64)> {
        pin_to(pin.cpu(0))?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(raw_client(addr, pings, frames, serialize))
    });
    let (rtts, send_cpu_ns) = client.join().map_err(|_| anyhow!("raw client panicked"))??;
    let (rate, recv_cpu_ns) = server.join().map_err(|_| anyhow!("raw server panicked"))??;
    let mut sorted = rtts;
    sorted.sort_by(f64::total_cmp);
    Ok(Figures {
        rtt_p50_ns: percentile(&sorted, 0.5),
        rtt_p99_ns: percentile(&sorted, 0.99),
        msgs_per_s: rate,
        send_cpu_ns,
        recv_cpu_ns,
    })
}

/// Ping-pong on one connection, then a one-way stream on a second.
async fn raw_client(addr: SocketAddr, pings: u64, frames: u64, serialize: bool) -> anyhow::Result<(Vec<f64>, f64)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut conn = Framed::new(stream, wire::codec());
    let mut rtts = Vec::with_capacity(pings as usize);
    for k in 0..pings + pings / 10 {
        let start = Instant::now();
        conn.send(sample_frame(k)).await?;
        let echoed = conn.next().await.ok_or_else(|| anyhow!("echo closed"))??;
        if serialize {
            wire::decode(&echoed)?;
        }
        if k >= pings / 10 {
            rtts.push(start.elapsed().as_nanos() as f64); // the first tenth warms up
        }
    }
    drop(conn);
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut conn = Framed::new(stream, wire::codec());
    let template = sample_frame(1);
    let cpu_start = thread_cpu_ns();
    for seq in 0..frames {
        // The codec's buffer batches the writes.
        conn.feed(if serialize { sample_frame(seq) } else { template.clone() }).await?;
    }
    SinkExt::<Bytes>::flush(&mut conn).await?;
    Ok((rtts, (thread_cpu_ns() - cpu_start) / frames.max(1) as f64))
}

/// The node binary: given, or beside this executable. Started through cargo (`CARGO` is set),
/// the bench first builds it in the same profile, since `cargo run --bin transport-bench` builds
/// only this binary and a stale `node` would measure old code.
fn node_binary(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.node {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow!("no directory for {}", exe.display()))?;
    let path = dir.join("node");
    if let Ok(cargo) = std::env::var("CARGO") {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        eprintln!("building the node binary ({profile} profile) ...");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "node", "--bin", "node", "--profile", profile])
            .status()?;
        if !status.success() {
            bail!("cargo build of the node binary failed");
        }
    }
    if !path.exists() {
        bail!("no node binary at {}; build it with `cargo build --release -p node` or pass --node", path.display());
    }
    Ok(path)
}

/// Kills and reaps the nodes and removes the directory on every way out, panics included.
struct Nodes {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn spawn_node(bin: &Path, config: &Path, log: &Path, cpu: Option<usize>) -> anyhow::Result<Child> {
    let mut command = Command::new(bin);
    command.arg("--config").arg(config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(log)?);
    // SAFETY: prctl is async-signal-safe; the child dies with this process even if it is killed.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            pin_to(cpu)
        });
    }
    command.spawn().with_context(|| format!("cannot start {}", bin.display()))
}

fn connect(path: &Path) -> anyhow::Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(path, Duration::from_secs(30)) {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > deadline => bail!("control socket {}: {e}", path.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn command(client: &mut Client, args: &[String]) -> anyhow::Result<String> {
    let response = client.call(&Request::Command { instance: "load".into(), args: args.to_vec() })?;
    match (response.ok, response.reply, response.error) {
        (true, Some(reply), _) => Ok(reply),
        (_, _, error) => bail!("command {args:?} failed: {}", error.unwrap_or_default()),
    }
}

/// Polls `results` until `key` holds an entry with `count`.
fn wait_result(client: &mut Client, key: &str, count: u64, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let results: Value = serde_json::from_str(&command(client, &["results".into()])?)?;
        if results[key]["count"].as_u64() == Some(count) {
            return Ok(results[key].clone());
        }
        if Instant::now() > deadline {
            bail!("no {key} for {count} messages within {timeout:?}; results: {results}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn node_figures(bin: &Path, trace_messages: bool, args: &Args) -> anyhow::Result<Figures> {
    let (pings, flood) = (args.pings, args.flood);
    let dir = std::env::temp_dir().join(format!("clusterlab-transport-bench-{}-{trace_messages}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut nodes = Nodes { children: vec![], dir: dir.clone() };
    let addrs = [free_addr()?, free_addr()?];
    let mut controls = vec![];
    for id in 1..=2u32 {
        let other = 3 - id;
        let cfg = NodeConfig {
            id,
            cluster: "transport-bench".into(),
            listen: addrs[id as usize - 1],
            bind: None,
            mux: None,
            peers: vec![Peer { id: other, addr: addrs[other as usize - 1] }],
            trace: dir.join(format!("node-{id}.jsonl")),
            data_dir: dir.join(format!("data-{id}")),
            control: Some(dir.join(format!("node-{id}.sock"))),
            seed: 1,
            hold: false,
            trace_messages,
            instances: vec![InstanceConfig {
                name: "load".into(),
                algorithm: "load".into(),
                params: serde_json::json!({ "window": args.window, "ack_every": args.ack_every }),
                ..Default::default()
            }],
        };
        let path = dir.join(format!("node-{id}.toml"));
        std::fs::write(&path, toml::to_string(&cfg)?)?;
        let cpu = args.pin.cpu(id as usize - 1);
        nodes.children.push(spawn_node(bin, &path, &dir.join(format!("node-{id}.log")), cpu)?);
        controls.push(cfg.control.clone().unwrap_or_default());
    }
    let mut one = connect(&controls[0])?;
    let mut two = connect(&controls[1])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while [&mut one, &mut two]
        .iter_mut()
        .any(|c| c.call(&Request::Status).ok().and_then(|r| r.status).is_none_or(|s| s.connected.len() != 1))
    {
        if Instant::now() > deadline {
            bail!("the nodes did not connect; see the logs in {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let timeout = Duration::from_secs(120);
    let warm = (pings / 10).max(1);
    command(&mut one, &["ping".into(), warm.to_string()])?;
    wait_result(&mut one, "load_done", warm, timeout)?;
    command(&mut one, &["ping".into(), pings.to_string()])?;
    let ping = wait_result(&mut one, "load_done", pings, timeout)?;

    let warm = (flood / 10).max(1);
    command(&mut one, &["flood".into(), warm.to_string()])?;
    wait_result(&mut two, "flood_done", warm, timeout)?;
    wait_result(&mut one, "flood_sent", warm, timeout)?;
    let pids = [nodes.children[0].id(), nodes.children[1].id()];
    let cpu_start = pids.map(process_cpu_ns);
    command(&mut one, &["flood".into(), flood.to_string()])?;
    let done = wait_result(&mut two, "flood_done", flood, timeout)?;
    wait_result(&mut one, "flood_sent", flood, timeout)?;
    let cpu = [0, 1].map(|i| (process_cpu_ns(pids[i]) - cpu_start[i]) / flood as f64);

    let counters = two.call(&Request::Status)?.status.map(|s| s.counters).unwrap_or_default();
    if counters.dropped_frames + counters.malformed_frames > 0 {
        eprintln!("warning: node 2 counted {counters:?}");
    }
    for client in [&mut one, &mut two] {
        let _ = client.call(&Request::Shutdown);
    }
    let ns = |v: &Value, k: &str| v[k].as_f64().ok_or_else(|| anyhow!("result without {k}: {v}"));
    let span = ns(&done, "last_ns")? - ns(&done, "first_ns")?;
    Ok(Figures {
        rtt_p50_ns: ns(&ping, "rtt_ns_p50")?,
        rtt_p99_ns: ns(&ping, "rtt_ns_p99")?,
        msgs_per_s: flood as f64 * 1e9 / span.max(1.0),
        send_cpu_ns: cpu[0],
        recv_cpu_ns: cpu[1],
    })
}

//! Bad input on a node's listen port is counted and traced, and never brings the node down.

mod common;

use algorithms::trace::What;
use common::{connect, framed, node_closes, Cluster};
use node::wire::{encode, Envelope, Frame, WIRE_VERSION};
use std::io::Write;
use std::time::Duration;

fn hello(node: u32, cluster: &str, version: u32) -> Vec<u8> {
    framed(&encode(&Frame::Hello { node, cluster: cluster.into(), version }))
}

/// Deterministic junk (an LCG), so a failure can be replayed.
fn junk(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 56) as u8
        })
        .collect()
}

fn malformed_reasons(records: &[algorithms::trace::TraceRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.what {
            What::Malformed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn garbage_frames_are_counted_traced_and_survived() {
    let mut cluster = Cluster::configure("garbage", 2, "bully", serde_json::json!({}));
    cluster.spawn(1); // node 2 never runs: only the test speaks to node 1
    let addr = cluster.node(1).listen();
    let close = Duration::from_secs(3);

    // Random bytes: the "length prefix" is far over the frame limit.
    let mut bytes = junk(300, 1);
    bytes[0] = 0xf3;
    assert!(node_closes(&mut connect(addr), &bytes, close), "random bytes close the connection");

    // A valid length prefix around junk, as the first frame: not a hello.
    let junk_frame = framed(&[0xc1, 0xff, 0x00, 0x13, 0x37, 0xc1]);
    assert!(node_closes(&mut connect(addr), &junk_frame, close), "a junk hello closes the connection");

    // After a good hello, a junk frame is skipped and the connection keeps working ...
    let mut stream = connect(addr);
    stream.write_all(&hello(2, "test", WIRE_VERSION)).unwrap();
    stream.write_all(&junk_frame).unwrap();
    stream.write_all(&framed(&junk(40, 2))).unwrap();
    let stray = Frame::Msg(Envelope {
        from: 2,
        to: 1,
        instance: "no-such-instance".into(),
        lc: 1,
        vc: [(2, 1)].into(),
        kind: "x".into(),
        body: vec![0xc0],
    });
    stream.write_all(&framed(&encode(&stray))).unwrap();
    let node = cluster.node(1);
    common::wait_for(Duration::from_secs(3), "the stray frame to be counted", || {
        (node.status().counters.unroutable_frames >= 1).then_some(())
    });
    // ... and an oversized length prefix closes it.
    assert!(node_closes(&mut stream, &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3], close), "oversized frame closes");

    assert!(node.alive(), "{}", node.stderr());
    let counters = node.status().counters;
    assert!(counters.malformed_frames >= 4, "{counters:?}");
    assert!(counters.rejected_connections >= 2, "{counters:?}");
    let reasons = malformed_reasons(&node.trace());
    assert!(reasons.len() >= 4, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("rejected") && r.contains("frame size too big")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("undecodable hello")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("undecodable frame from node 2")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("connection closed")), "{reasons:?}");
    let records = node.trace();
    assert!(
        records.iter().any(|r| matches!(&r.what, What::Malformed { from: Some(2), .. })),
        "frames after the hello are attributed to its node"
    );
}

#[test]
fn hellos_from_strangers_are_rejected_and_counted() {
    let mut cluster = Cluster::configure("strangers", 2, "bully", serde_json::json!({}));
    cluster.spawn(1);
    let addr = cluster.node(1).listen();
    let close = Duration::from_secs(3);

    assert!(node_closes(&mut connect(addr), &hello(2, "other-cluster", WIRE_VERSION), close));
    assert!(node_closes(&mut connect(addr), &hello(9, "test", WIRE_VERSION), close));
    assert!(node_closes(&mut connect(addr), &hello(2, "test", WIRE_VERSION + 1), close));
    // A hello that never comes: the node gives up after 2 s.
    assert!(node_closes(&mut connect(addr), &[], Duration::from_secs(4)));

    let node = cluster.node(1);
    assert!(node.alive(), "{}", node.stderr());
    let counters = node.status().counters;
    assert_eq!(counters.rejected_connections, 4, "{counters:?}");
    assert_eq!(counters.malformed_frames, 0, "every hello decoded: {counters:?}");
    let reasons = malformed_reasons(&node.trace());
    assert!(reasons.iter().any(|r| r.contains("\"other-cluster\"")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("node 9")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("wire version")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("no hello within")), "{reasons:?}");
}

/// A receive takes the maximum of its clocks and the sender's, then ticks: an envelope with a
/// clock at `u64::MAX` made that tick overflow, a panic that ended a debug-built node. Clocks
/// over `MAX_CLOCK`, or naming nodes outside the cluster, are malformed now.
#[test]
fn envelopes_with_impossible_clocks_are_malformed_not_fatal() {
    let mut cluster = Cluster::configure("clocks", 2, "bully", serde_json::json!({}));
    cluster.spawn(1);
    let addr = cluster.node(1).listen();
    let envelope = |lc: u64, vc: algorithms::trace::VectorClock| {
        framed(&encode(&Frame::Msg(Envelope {
            from: 2,
            to: 1,
            instance: "bully".into(),
            lc,
            vc,
            kind: "x".into(),
            body: vec![0xc1],
        })))
    };
    let mut stream = connect(addr);
    stream.write_all(&hello(2, "test", WIRE_VERSION)).unwrap();
    stream.write_all(&envelope(u64::MAX, [(2, 1)].into())).unwrap();
    stream.write_all(&envelope(1, [(1, u64::MAX), (2, 1)].into())).unwrap();
    stream.write_all(&envelope(1, (1..=5000).map(|n| (n, 1)).collect())).unwrap();
    stream.write_all(&envelope(node::wire::MAX_CLOCK, [(1, node::wire::MAX_CLOCK), (2, 3)].into())).unwrap();
    assert!(node_closes(&mut stream, &[0xff; 4], Duration::from_secs(3)));

    let node = cluster.node(1);
    common::wait_for(Duration::from_secs(5), "the last envelope's bad body to be counted", || {
        (node.status().counters.malformed_frames >= 5).then_some(())
    });
    assert!(node.alive(), "{}", node.stderr());
    assert_eq!(node.status().counters.malformed_frames, 5, "3 clocks, 1 body, 1 length prefix");
    let reasons = malformed_reasons(&node.trace());
    assert_eq!(reasons.iter().filter(|r| r.contains("impossible clock")).count(), 3, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("names node 3, which is not in the cluster")), "{reasons:?}");
    // The largest allowed clock was taken, and ticks on without overflowing.
    let last = node.trace().into_iter().last().unwrap();
    assert!(last.lc > node::wire::MAX_CLOCK && last.vc.len() <= 2, "{last:?}");
}

/// tokio-util's length-delimited codec takes a frame's length prefix out of its buffer before
/// the payload comes, so a connection that ended right after a prefix looked like a clean close:
/// the cut frame was neither counted nor traced. It is malformed now, before a hello and after.
#[test]
fn a_connection_cut_right_after_a_length_prefix_is_malformed() {
    let mut cluster = Cluster::configure("cut", 2, "bully", serde_json::json!({}));
    cluster.spawn(1);
    let addr = cluster.node(1).listen();
    let cut = |bytes: &[u8]| {
        let mut stream = connect(addr);
        stream.write_all(bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(node_closes(&mut stream, &[], Duration::from_secs(3)));
    };
    cut(&[0, 0, 0, 9]);
    cut(&[hello(2, "test", WIRE_VERSION), vec![0, 0, 0, 5]].concat());

    let node = cluster.node(1);
    assert!(node.alive(), "{}", node.stderr());
    let counters = node.status().counters;
    assert_eq!((counters.malformed_frames, counters.rejected_connections), (2, 1), "{counters:?}");
    let reasons = malformed_reasons(&node.trace());
    assert_eq!(reasons.iter().filter(|r| r.contains("ended inside a frame")).count(), 2, "{reasons:?}");
}

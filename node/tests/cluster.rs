//! Real nodes running real algorithms, driven over their control sockets.

mod common;

use algorithms::trace::What;
use common::{wait_for, Cluster};
use nix::sys::signal::Signal;
use node::control::Request;
use std::time::Duration;

fn leader_events(records: &[algorithms::trace::TraceRecord]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r.event_name() == Some("leader"))
        .filter_map(|r| match &r.what {
            What::Event { data, .. } => data["leader"].as_u64(),
            _ => None,
        })
        .collect()
}

#[test]
fn three_bully_nodes_elect_node_3_and_shut_down_cleanly() {
    let mut cluster = Cluster::configure("bully3", 3, "bully", serde_json::json!({}));
    cluster.spawn_all();
    for id in 1..=3 {
        let node = cluster.node(id);
        wait_for(Duration::from_secs(5), &format!("node {id} to follow node 3"), || {
            let status = node.status();
            let bully = &status.instances["bully"];
            (bully.leader == Some(3) && status.connected.len() == 2 && status.started).then_some(())
        });
    }
    assert_eq!(cluster.node(3).status().instances["bully"].role, "leader");
    assert_eq!(cluster.node(1).status().instances["bully"].role, "follower");

    for id in 1..=3 {
        let node = cluster.node(id);
        let response = node.call(&Request::Shutdown);
        assert!(response.ok, "{response:?}");
        let exit = node.wait_exit(Duration::from_secs(5));
        assert_eq!(exit.code(), Some(0), "{}", node.stderr());
        assert!(!node.control().exists(), "the control socket is removed on exit");
        let records = node.trace(); // every line parses
        assert!(matches!(&records[0].what, What::Start { incarnation: 1 }), "{:?}", records[0]);
        assert!(matches!(&records.last().unwrap().what, What::Stop { reason } if reason == "shutdown requested"));
        assert_eq!(leader_events(&records).last(), Some(&3), "node {id}'s trace names node 3");
        let lcs: Vec<u64> = records.iter().map(|r| r.lc).collect();
        assert!(lcs.windows(2).all(|w| w[0] < w[1]), "file order is clock order");
        if id == 1 {
            // The message ids match: some receive of node 1 names a send of node 3.
            let sends3: Vec<u64> = cluster
                .node(3)
                .trace()
                .iter()
                .filter(|r| matches!(&r.what, What::Send { to: 1, .. }))
                .map(|r| r.lc)
                .collect();
            assert!(records
                .iter()
                .any(|r| matches!(&r.what, What::Recv { from: 3, msg_lc, .. } if sends3.contains(msg_lc))));
        }
    }
}

#[test]
fn a_held_node_waits_for_start_and_commands_reach_the_instance() {
    let mut cluster = Cluster::configure("held", 2, "bully", serde_json::json!({}));
    cluster.node(1).cfg.hold = true;
    cluster.node(2).cfg.hold = true;
    cluster.spawn_all();
    let node = cluster.node(1);
    let status = node.status();
    assert!(!status.started);
    assert_eq!(status.instances["bully"].role, "held");
    let early = node.call(&Request::Command { instance: "bully".into(), args: vec!["elect".into()] });
    assert!(!early.ok && early.error.unwrap().contains("not started"));
    let unknown = node.call(&Request::Command { instance: "raft".into(), args: vec![] });
    assert!(!unknown.ok && unknown.error.unwrap().contains("bully"), "the error names the hosted instances");

    for id in 1..=2 {
        assert!(cluster.node(id).call(&Request::Start).ok);
    }
    let node = cluster.node(1);
    wait_for(Duration::from_secs(5), "node 1 to follow node 2", || {
        (node.status().instances["bully"].leader == Some(2)).then_some(())
    });
    let reply = node.call(&Request::Command { instance: "bully".into(), args: vec!["elect".into()] });
    assert_eq!(reply.reply.as_deref(), Some("election started"), "{reply:?}");
    let bad = node.call(&Request::Command { instance: "bully".into(), args: vec!["dance".into()] });
    assert!(!bad.ok);
    let records = node.trace();
    assert!(records.iter().any(|r| matches!(&r.what, What::Command { ok: true, args, .. } if args == &["elect"])));
    assert!(records.iter().any(|r| matches!(&r.what, What::Command { ok: false, .. })));
}

#[test]
fn a_node_exits_when_its_attached_orchestrator_goes() {
    let mut cluster = Cluster::configure("attach", 2, "bully", serde_json::json!({}));
    cluster.spawn(1);
    let node = cluster.node(1);
    let mut client = node.client();
    assert!(client.call(&Request::Attach).unwrap().ok);
    assert!(client.call(&Request::Status).unwrap().ok, "an attached connection still answers");
    drop(client);
    assert_eq!(node.wait_exit(Duration::from_secs(5)).code(), Some(0));
    let records = node.trace();
    assert!(matches!(&records.last().unwrap().what, What::Stop { reason } if reason == "orchestrator gone"));
}

#[test]
fn a_restarted_node_counts_its_incarnations_and_keeps_its_clocks() {
    let mut cluster = Cluster::configure("restart", 2, "bully", serde_json::json!({}));
    cluster.spawn(1);
    wait_for(Duration::from_secs(5), "node 1 to lead alone", || {
        (cluster.node(1).status().instances["bully"].role == "leader").then_some(())
    });
    cluster.node(1).signal(Signal::SIGTERM);
    assert_eq!(cluster.node(1).wait_exit(Duration::from_secs(5)).code(), Some(0));
    let first = cluster.node(1).trace();
    assert!(matches!(&first.last().unwrap().what, What::Stop { reason } if reason.contains("SIGTERM")));

    cluster.spawn(1);
    wait_for(Duration::from_secs(5), "node 1 to lead again", || {
        (cluster.node(1).status().instances["bully"].role == "leader").then_some(())
    });
    cluster.node(1).signal(Signal::SIGKILL);
    cluster.node(1).wait_exit(Duration::from_secs(5));
    let all = cluster.node(1).trace();
    let second = &all[first.len()];
    assert!(matches!(second.what, What::Start { incarnation: 2 }), "{second:?}");
    assert_eq!(second.lc, first.last().unwrap().lc + 1, "the clocks go on");
}

#[test]
fn bad_configs_exit_2_and_a_taken_port_exits_3() {
    let dir = common::TempDir::new("cli");
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "id = 1\ncluster = \"c\"\nlisten = \"127.0.0.1:1\"\nbogus = 3\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_node")).arg("--config").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml"), "the error names the file: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_node")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cluster = Cluster::configure("taken", 2, "bully", serde_json::json!({}));
    cluster.node(1).cfg.listen = taken.local_addr().unwrap();
    cluster.spawn(1);
    let node = cluster.node(1);
    assert_eq!(node.wait_exit(Duration::from_secs(5)).code(), Some(3));
    assert!(node.stderr().contains("cannot listen on"), "{}", node.stderr());
}

#[test]
fn a_drift_request_speeds_up_the_algorithms_timers() {
    // Heartbeats every 100 ms of the node's own time; at 4× they leave every 25 ms of true time.
    let params = serde_json::json!({ "heartbeat_ms": 100, "leader_timeout_ms": 400 });
    let mut cluster = Cluster::configure("drift", 2, "bully", params);
    cluster.spawn(1);
    let node = cluster.node(1);
    wait_for(Duration::from_secs(5), "node 1 to lead alone", || {
        (node.status().instances["bully"].role == "leader").then_some(())
    });
    let bad = node.call(&Request::Drift { rate: 0.0 });
    assert!(!bad.ok && bad.error.unwrap().contains("positive"));
    std::thread::sleep(Duration::from_millis(700));
    let switched = node::monotonic_ns();
    assert!(node.call(&Request::Drift { rate: 4.0 }).ok);
    std::thread::sleep(Duration::from_millis(700));
    // Median gaps between heartbeat timers (trace times are true time): robust to a slow moment.
    let fires: Vec<u64> = node
        .trace()
        .iter()
        .filter(|r| matches!(&r.what, What::Timer { name } if name == "heartbeat"))
        .map(|r| r.t)
        .collect();
    let median_gap_ms = |times: Vec<u64>| {
        let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        gaps[gaps.len() / 2] as f64 / 1e6
    };
    let before = median_gap_ms(fires.iter().copied().filter(|t| *t < switched).collect());
    // The timer set before the change still runs its old course: skip past it.
    let after = median_gap_ms(fires.iter().copied().filter(|t| *t > switched + 150_000_000).collect());
    assert!((95.0..200.0).contains(&before), "heartbeats every ~100 ms at true time: {before:.1} ms");
    assert!(after < before / 2.5, "4× faster: every {after:.1} ms against {before:.1} ms");
}

#[test]
fn a_node_killed_in_the_middle_of_a_flood_loses_no_record_it_wrote() {
    let mut cluster = Cluster::configure("flood-kill", 2, "load", serde_json::json!({}));
    cluster.spawn_all();
    wait_for(Duration::from_secs(5), "the nodes to connect", || {
        (cluster.node(1).status().connected.len() == 1 && cluster.node(2).status().connected.len() == 1).then_some(())
    });
    let flood = Request::Command { instance: "load".into(), args: vec!["flood".into(), "10000000".into(), "2".into()] };
    assert!(cluster.node(1).call(&flood).ok);
    // Kill the sender once the receiver has taken in a good part of the flood, mid-stream.
    wait_for(Duration::from_secs(20), "node 2 to receive 20,000 messages", || {
        let received = cluster.node(2).trace().iter().filter(|r| matches!(r.what, What::Recv { from: 1, .. })).count();
        (received >= 20_000).then_some(())
    });
    cluster.node(1).signal(Signal::SIGKILL);
    cluster.node(1).wait_exit(Duration::from_secs(5));
    assert!(cluster.node(2).call(&Request::Shutdown).ok);
    cluster.node(2).wait_exit(Duration::from_secs(5));

    // Every record of the killed node is whole, except at most the one it was writing.
    let bytes = std::fs::read(&cluster.node(1).cfg.trace).unwrap();
    let text = String::from_utf8(node::trace_file::written(&bytes).to_vec()).expect("the records are UTF-8");
    assert!(bytes.len() > text.len(), "a killed node leaves its trace's allocated tail (trimmed by the orchestrator)");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let whole = lines.iter().filter(|l| l.ends_with('\n')).count();
    assert!(lines.len() - whole <= 1, "only the last line can be torn");
    let sent: std::collections::BTreeSet<u64> = lines[..whole]
        .iter()
        .map(|l| serde_json::from_str::<algorithms::trace::TraceRecord>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|r| matches!(r.what, What::Send { .. }))
        .map(|r| r.lc)
        .collect();
    // Whatever node 2 received, node 1 had recorded sending before it went out.
    let received: Vec<u64> = cluster
        .node(2)
        .trace()
        .iter()
        .filter_map(|r| match r.what {
            What::Recv { from: 1, msg_lc, .. } => Some(msg_lc),
            _ => None,
        })
        .collect();
    assert!(received.len() >= 20_000);
    let missing: Vec<&u64> = received.iter().filter(|lc| !sent.contains(lc)).collect();
    assert!(
        missing.is_empty(),
        "{} received messages have no send record, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(sent.len() >= received.len(), "node 1 recorded at least what arrived ({} sends)", sent.len());
}

#[test]
fn a_quiesced_node_fires_no_timer_but_still_answers() {
    let params = serde_json::json!({ "heartbeat_ms": 30, "leader_timeout_ms": 200 });
    let mut cluster = Cluster::configure("quiesce", 2, "bully", params);
    cluster.spawn(1);
    let node = cluster.node(1);
    wait_for(Duration::from_secs(5), "node 1 to lead alone", || {
        (node.status().instances["bully"].role == "leader").then_some(())
    });
    assert!(node.call(&Request::Quiesce).ok);
    let quiesced = node::monotonic_ns();
    std::thread::sleep(Duration::from_millis(300));
    assert!(node.call(&Request::Status).ok, "the node still answers");
    let timers = |records: &[algorithms::trace::TraceRecord], after: bool| {
        let is_timer = |r: &&algorithms::trace::TraceRecord| matches!(r.what, What::Timer { .. });
        records.iter().filter(is_timer).filter(|r| (r.t > quiesced) == after).count()
    };
    let records = node.trace();
    assert!(timers(&records, false) > 0, "heartbeat timers fired before: the test judged something");
    assert_eq!(timers(&records, true), 0, "no timer fires once the node is quiesced");
}

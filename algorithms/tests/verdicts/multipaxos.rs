//! Runs for Multi-Paxos's own properties: five servers (1–5) and client node 6; the events are
//! the ones the servers write (`proposed`, `accepted`, `applied_slot`), and the client's request
//! is a real send, since validity traces a chosen command back to it.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::consensus::multipaxos::{describe, digest, Ballot, MultiPaxosEvent, Op, Origin};
use algorithms::core::event::Event;
use algorithms::service::{ClientMsg, Command, Request};
use algorithms::Execution;
use serde_json::json;

pub const CASES: &[Entry] = &[
    case!("multi-paxos", "agreement", Violating, multipaxos_a_chosen_command_overwritten_by_a_noop),
    case!("multi-paxos", "agreement", NothingToJudge, multipaxos_accepted_by_a_minority_only),
    case!("multi-paxos", "validity", Violating, multipaxos_a_chosen_command_no_client_sent),
    case!("multi-paxos", "validity", NothingToJudge, multipaxos_accepted_by_a_minority_only),
    case!("multi-paxos", "state_machine_safety", Violating, multipaxos_two_servers_apply_different_values),
    case!("multi-paxos", "state_machine_safety", NothingToJudge, multipaxos_one_server_applies_alone),
];

fn ballot(round: u64, proposer: u32) -> Ballot {
    Ballot { round, proposer }
}

fn put(seq: u64) -> Op {
    let command = Command::Put { key: "x".into(), value: format!("c6-{seq}") };
    Op::Client(Request { client: 6, seq, command })
}

/// Servers 1–5 and client 6.
fn cluster() -> Trace {
    Trace::new(6).params(json!({})).servers(5)
}

fn event(t: &mut Trace, ms: u64, node: u32, e: MultiPaxosEvent) {
    let (name, data) = e.to_parts();
    t.event(ms, node, &name, data);
}

/// Client 6 sends its request `seq` to server 1.
fn request(t: &mut Trace, ms: u64, seq: u64) {
    let Op::Client(request) = put(seq) else { unreachable!() };
    t.send(ms, 6, 1, "request", serde_json::to_value(ClientMsg::Request(request)).unwrap());
}

fn proposed(t: &mut Trace, ms: u64, slot: u64, b: Ballot, op: &Op, origin: Origin) {
    let e = MultiPaxosEvent::Proposed { slot, ballot: b, digest: digest(op), op: describe(op), origin };
    event(t, ms, b.proposer, e);
}

fn accepted(t: &mut Trace, ms: u64, nodes: &[u32], slot: u64, b: Ballot, op: &Op) {
    for n in nodes {
        event(t, ms, *n, MultiPaxosEvent::Accepted { slot, ballot: b, digest: digest(op) });
    }
}

fn applied(t: &mut Trace, ms: u64, node: u32, slot: u64, op: &Op) {
    event(t, ms, node, MultiPaxosEvent::AppliedSlot { slot, digest: digest(op) });
}

/// What `unsafe_skip_adopt` does: put 1 is chosen in slot 1 in ballot (1, 1) by nodes 1–3; node
/// 4 leads ballot (2, 4) with the promises of 3, 4 and 5, ignores node 3's report of it, and has
/// a no-op chosen in slot 1 by nodes 3, 4 and 5.
fn multipaxos_a_chosen_command_overwritten_by_a_noop() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 1);
    proposed(&mut t, 10, 1, ballot(1, 1), &put(1), Origin::Client { client: 6, seq: 1 });
    accepted(&mut t, 12, &[1, 2, 3], 1, ballot(1, 1), &put(1));
    proposed(&mut t, 100, 1, ballot(2, 4), &Op::Noop, Origin::Noop);
    accepted(&mut t, 102, &[3, 4, 5], 1, ballot(2, 4), &Op::Noop);
    t.end(1000)
}

/// A command accepted by two of five: nothing chosen, nothing applied.
fn multipaxos_accepted_by_a_minority_only() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 1);
    proposed(&mut t, 10, 1, ballot(1, 1), &put(1), Origin::Client { client: 6, seq: 1 });
    accepted(&mut t, 12, &[1, 2], 1, ballot(1, 1), &put(1));
    t.end(1000)
}

/// The leader proposes client 6's seq 2, which client 6 never sent (it sent seq 1 only), and a
/// majority accepts it.
fn multipaxos_a_chosen_command_no_client_sent() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 1);
    proposed(&mut t, 10, 1, ballot(1, 1), &put(2), Origin::Client { client: 6, seq: 2 });
    accepted(&mut t, 12, &[1, 2, 3], 1, ballot(1, 1), &put(2));
    t.end(1000)
}

fn multipaxos_two_servers_apply_different_values() -> Execution {
    let mut t = cluster();
    applied(&mut t, 20, 1, 1, &put(1));
    applied(&mut t, 30, 2, 1, &Op::Noop);
    t.end(1000)
}

fn multipaxos_one_server_applies_alone() -> Execution {
    let mut t = cluster();
    applied(&mut t, 20, 1, 1, &put(1));
    t.end(1000)
}

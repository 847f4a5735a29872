//! Runs for the coordination service's recipes (`zk-lock`, `zk-counter`): servers 1–3, client
//! nodes 4–6. Each recipe is judged by the service's own properties too, on the same runs as
//! `coordination`; its own properties have the runs below.

use super::coordination::{
    zk_a_clients_second_write_ordered_before_its_first, zk_a_later_write_ordered_before_a_completed_one,
    zk_a_read_older_than_the_clients_own_write, zk_one_operation_per_client, zk_overlapping_writes_only,
    zk_reads_before_any_write,
};
use super::trace::Trace;
use super::zab::{
    zab_a_delivered_transaction_no_leader_proposed, zab_a_later_leader_starts_without_a_delivered_transaction,
    zab_a_server_skips_a_transaction_of_its_leader, zab_one_server_delivers_alone, zab_proposed_but_never_delivered,
    zab_two_servers_deliver_different_transactions_at_one_position,
    zab_two_servers_deliver_two_transactions_in_opposite_orders,
};
use super::{Case::*, Entry};
use algorithms::check::events::mutex::{MutexEvent, Request};
use algorithms::check::events::ElectionEvent;
use algorithms::coordination::recipes::RecipeEvent;
use algorithms::coordination::service::ZkEvent;
use algorithms::coordination::tree::EventKind;
use algorithms::core::event::Event;
use algorithms::Execution;
use serde_json::json;

/// The service's own properties, for a recipe `$name`, then the recipe's `$extra` cases.
macro_rules! service_cases {
    ($name:literal, [$($extra:expr),* $(,)?]) => {
        &[
            case!($name, "integrity", Violating, zab_a_delivered_transaction_no_leader_proposed),
            case!($name, "integrity", NothingToJudge, zab_proposed_but_never_delivered),
            case!($name, "total_order", Violating, zab_two_servers_deliver_two_transactions_in_opposite_orders),
            case!($name, "total_order", NothingToJudge, zab_one_server_delivers_alone),
            case!($name, "agreement", Violating, zab_two_servers_deliver_different_transactions_at_one_position),
            case!($name, "agreement", NothingToJudge, zab_one_server_delivers_alone),
            case!($name, "primary_order", Violating, zab_a_server_skips_a_transaction_of_its_leader),
            case!($name, "primary_order", NothingToJudge, zab_proposed_but_never_delivered),
            case!($name, "primary_integrity", Violating, zab_a_later_leader_starts_without_a_delivered_transaction),
            case!($name, "primary_integrity", NothingToJudge, zab_one_server_delivers_alone),
            case!($name, "linearizable_writes", Violating, zk_a_later_write_ordered_before_a_completed_one),
            case!($name, "linearizable_writes", NothingToJudge, zk_overlapping_writes_only),
            case!($name, "client_order", Violating, zk_a_clients_second_write_ordered_before_its_first),
            case!($name, "client_order", NothingToJudge, zk_one_operation_per_client),
            case!($name, "reads_see_own_writes", Violating, zk_a_read_older_than_the_clients_own_write),
            case!($name, "reads_see_own_writes", NothingToJudge, zk_reads_before_any_write),
            $($extra),*
        ]
    };
}

pub const LOCK_CASES: &[Entry] = service_cases!(
    "zk-lock",
    [
        case!("zk-lock", "mutual_exclusion", Violating, lock_a_paused_holder_whose_session_expired),
        case!("zk-lock", "mutual_exclusion", NothingToJudge, lock_requests_only),
        case!("zk-lock", "liveness", Violating, lock_a_waiter_never_woken),
        case!("zk-lock", "liveness", NothingToJudge, lock_requests_only),
        case!("zk-lock", "no_herd", Violating, lock_one_release_wakes_two_waiters),
        case!("zk-lock", "no_herd", NothingToJudge, lock_requests_only),
    ]
);

pub const ELECTION_CASES: &[Entry] = service_cases!(
    "zk-election",
    [
        case!("zk-election", "single_leader", Violating, election_two_clients_lead_at_once),
        case!("zk-election", "single_leader", NothingToJudge, election_too_short_to_judge),
        case!("zk-election", "stable_agreement", Violating, election_a_client_never_names_the_leader),
        case!("zk-election", "stable_agreement", NothingToJudge, election_too_short_to_judge),
        case!("zk-election", "election_within_bound", Violating, election_agreed_only_after_the_bound),
        case!("zk-election", "election_within_bound", NothingToJudge, election_too_short_to_judge),
    ]
);

pub const MEMBERS_CASES: &[Entry] = service_cases!(
    "zk-members",
    [
        case!("zk-members", "leave_seen", Violating, members_a_killed_member_never_leaves_the_view),
        case!("zk-members", "leave_seen", NothingToJudge, members_nobody_killed),
    ]
);

pub const COUNTER_CASES: &[Entry] = service_cases!(
    "zk-counter",
    [
        case!("zk-counter", "no_lost_updates", Violating, counter_both_write_16),
        case!("zk-counter", "no_lost_updates", NothingToJudge, counter_only_bad_versions),
    ]
);

fn zxid(epoch: u64, counter: u64) -> u64 {
    (epoch << 32) | counter
}

fn cluster() -> Trace {
    Trace::new(6).params(json!({})).servers(3)
}

fn event(t: &mut Trace, ms: u64, node: u32, e: &impl Event) {
    let (name, data) = e.to_parts();
    t.event(ms, node, &name, data);
}

fn request(t: &mut Trace, ms: u64, node: u32, path: &str) {
    event(t, ms, node, &MutexEvent::Request(Request::of("/lock")));
    event(t, ms + 1, node, &RecipeEvent::LockNode { path: path.into() });
}

fn enter(t: &mut Trace, ms: u64, node: u32) {
    event(t, ms, node, &MutexEvent::EnterCs { resource: "/lock".into() });
}

fn exit(t: &mut Trace, ms: u64, node: u32) {
    event(t, ms, node, &MutexEvent::ExitCs { resource: "/lock".into() });
}

/// Client 4 holds the lock from 10 ms; its session expires at 700 ms (its node with it) while it
/// is paused; client 5 enters at 720 ms; client 4 leaves at 2000 ms.
pub fn lock_a_paused_holder_whose_session_expired() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 4, "/lock/n-0000000000");
    enter(&mut t, 10, 4);
    request(&mut t, 20, 5, "/lock/n-0000000001");
    let ephemerals = vec!["/lock/n-0000000000".to_string()];
    event(&mut t, 700, 1, &ZkEvent::SessionExpired { zxid: zxid(1, 9), session: 4, ephemerals });
    enter(&mut t, 720, 5);
    exit(&mut t, 2000, 4);
    exit(&mut t, 2100, 5);
    t.end(2500)
}

/// Two requests, neither granted, the run over 300 ms later (within the grace): nothing entered,
/// nothing released.
fn lock_requests_only() -> Execution {
    let mut t = cluster();
    request(&mut t, 10, 4, "/lock/n-0000000000");
    request(&mut t, 20, 5, "/lock/n-0000000001");
    t.end(300)
}

/// Client 4 holds and releases; client 5, waiting since 20 ms, never gets the lock in 5 s.
fn lock_a_waiter_never_woken() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 4, "/lock/n-0000000000");
    enter(&mut t, 10, 4);
    exit(&mut t, 50, 4);
    request(&mut t, 20, 5, "/lock/n-0000000002");
    t.end(5000)
}

/// Client 4's delete of its node at zxid (1, 9) notifies both waiters, 5 and 6.
fn lock_one_release_wakes_two_waiters() -> Execution {
    let mut t = cluster();
    request(&mut t, 5, 4, "/lock/n-0000000000");
    enter(&mut t, 10, 4);
    request(&mut t, 20, 5, "/lock/n-0000000001");
    request(&mut t, 25, 6, "/lock/n-0000000002");
    exit(&mut t, 50, 4);
    let (path, session) = ("/lock/n-0000000000".to_string(), 4);
    event(&mut t, 51, 4, &ZkEvent::ZkInvoke { session, seq: 4, f: "delete".into(), path: path.clone() });
    let done = ZkEvent::ZkDone {
        session,
        seq: 4,
        f: "delete".into(),
        path,
        zxid: zxid(1, 9),
        ok: true,
        result: "\"deleted\"".into(),
    };
    event(&mut t, 60, 4, &done);
    for (node, ms) in [(5, 61), (6, 62)] {
        let watch = ZkEvent::ZkWatch {
            session: node as u64,
            zxid: zxid(1, 9),
            path: "/lock".into(),
            kind: EventKind::NodeChildrenChanged,
            server: 1,
            set_at: 1,
        };
        event(&mut t, ms, node, &watch);
    }
    enter(&mut t, 70, 5);
    t.end(300)
}

/// The course's race: the counter is 15, clients 4 and 5 both read it and both write 16.
pub fn counter_both_write_16() -> Execution {
    let mut t = cluster();
    event(&mut t, 10, 4, &RecipeEvent::Increment { from: 15, to: 16, version: 15, ok: true, zxid: zxid(1, 20) });
    event(&mut t, 12, 5, &RecipeEvent::Increment { from: 15, to: 16, version: 15, ok: true, zxid: zxid(1, 21) });
    t.end(300)
}

/// Sets that all failed on a bad version: no increment was acknowledged.
fn counter_only_bad_versions() -> Execution {
    let mut t = cluster();
    event(&mut t, 10, 4, &RecipeEvent::Increment { from: 15, to: 16, version: 15, ok: false, zxid: zxid(1, 20) });
    t.end(300)
}

/// Clients 4 and 5 each believe they lead from 100 and 200 ms.
fn election_two_clients_lead_at_once() -> Execution {
    let mut t = cluster();
    event(&mut t, 100, 4, &ElectionEvent::leader(4));
    event(&mut t, 200, 5, &ElectionEvent::leader(5));
    t.end(1000)
}

/// Nobody names a leader, and the run is shorter than the bound (2000 ms): no reign, no stable
/// period, no election that could be timed.
fn election_too_short_to_judge() -> Execution {
    let mut t = cluster();
    event(&mut t, 100, 4, &ElectionEvent::started());
    t.end(1000)
}

/// Clients 4 and 5 name client 4; client 6 never names anyone, through 3 s.
fn election_a_client_never_names_the_leader() -> Execution {
    let mut t = cluster();
    event(&mut t, 100, 4, &ElectionEvent::leader(4));
    event(&mut t, 150, 5, &ElectionEvent::leader(4));
    t.end(3000)
}

/// The clients agree on client 4 only at 2500 ms, above the bound of 2000 ms.
fn election_agreed_only_after_the_bound() -> Execution {
    let mut t = cluster();
    for (node, ms) in [(4, 2500), (5, 2500), (6, 2500)] {
        event(&mut t, ms, node, &ElectionEvent::leader(4));
    }
    t.end(5000)
}

/// The watcher (client 4) sees members 5 and 6; member 6 is killed at 200 ms and is still in the
/// view at 5 s, well past its session timeout (1 s when its open is not in the trace) plus 2 s.
fn members_a_killed_member_never_leaves_the_view() -> Execution {
    let mut t = cluster();
    event(&mut t, 100, 4, &RecipeEvent::Members { alive: vec![5, 6] });
    t.kill(200, 6);
    event(&mut t, 300, 4, &RecipeEvent::Members { alive: vec![5, 6] });
    t.end(5000)
}

/// The watcher's views change, but no member is killed.
fn members_nobody_killed() -> Execution {
    let mut t = cluster();
    event(&mut t, 100, 4, &RecipeEvent::Members { alive: vec![5, 6] });
    event(&mut t, 300, 4, &RecipeEvent::Members { alive: vec![5] });
    t.end(5000)
}

//! The coordination service's recipes: each rule of the lock and the counter recipes on one
//! client's recipe (the handler called directly, the exact effects and next operation compared),
//! and seeded simulator runs of `zk-lock` and `zk-counter` with the leader's death, crashes and
//! partitions.

use crate::common::rules::{decode, event, Fx};
use crate::common::*;
use crate::crashes_restarts_partitions;
use algorithms::coordination::client::{Driver, ZkTimer};
use algorithms::coordination::recipes::counter::CounterRecipe;
use algorithms::coordination::recipes::election::ElectionRecipe;
use algorithms::coordination::recipes::lock::LockRecipe;
use algorithms::coordination::recipes::members::MembersRecipe;
use algorithms::coordination::recipes::RecipeOptions;
use algorithms::coordination::service::{Call, ZkOutcome};
use algorithms::coordination::tree::{EventKind, TreeOp, TreeResult};
use algorithms::core::process::{node_rng, Ctx, MS};
use algorithms::faults::{Action, Target};
use algorithms::service::client::Workload;
use algorithms::sim::SimConfig;
use algorithms::Verdict;
use serde_json::json;
use std::time::Duration;

type Msg = algorithms::coordination::client::ZkClientMsg;

/// Runs `f` on client 4's recipe at 0 ms: its effects.
fn on<D: Driver>(d: &mut D, f: impl FnOnce(&mut D, &mut Ctx<ZkTimer>)) -> Vec<Fx<Msg>> {
    let mut rng = node_rng(1, 4, 1);
    let peers = [1, 2, 3];
    let mut ctx = Ctx::new(4, &peers, 0, &mut rng);
    f(d, &mut ctx);
    decode(ctx.into_effects())
}

fn next<D: Driver>(d: &mut D) -> Option<Call> {
    let mut call = None;
    on(d, |d, ctx| call = d.next(ctx));
    call
}

fn done<D: Driver>(d: &mut D, call: Call, result: TreeResult) -> Vec<Fx<Msg>> {
    on(d, |d, ctx| d.done(ctx, &call, 1, &ZkOutcome::Done(result)))
}

fn op(op: TreeOp) -> Call {
    Call::Op(op)
}

fn create(path: &str, ephemeral: bool, sequential: bool) -> Call {
    op(TreeOp::Create { path: path.into(), data: String::new(), ephemeral, sequential })
}

fn list(watch: bool) -> Call {
    op(TreeOp::Children { path: "/lock".into(), watch })
}

fn names(of: &[u32]) -> TreeResult {
    TreeResult::Children { names: of.iter().map(|n| format!("n-{n:010}")).collect() }
}

fn lock(herd: bool) -> LockRecipe {
    LockRecipe::new(RecipeOptions { herd, hold: Duration::from_millis(100), ..RecipeOptions::default() }, 0)
}

/// A lock recipe whose node is /lock/n-0000000003, its listing asked for.
fn lock_with_node(herd: bool) -> LockRecipe {
    let mut l = lock(herd);
    next(&mut l);
    done(&mut l, create("/lock", false, false), TreeResult::NodeExists { path: "/lock".into() });
    next(&mut l);
    done(&mut l, create("/lock/n-", true, true), TreeResult::Created { path: "/lock/n-0000000003".into() });
    assert_eq!(next(&mut l), Some(list(herd)), "rule 2: it lists /lock");
    l
}

fn hold_timer(fx: &[Fx<Msg>]) -> bool {
    fx.iter()
        .any(|f| matches!(f, Fx::SetTimer(name, after) if name == "recipe" && (50 * MS..=150 * MS).contains(after)))
}

#[test]
fn rule_1_a_round_asks_for_the_lock_and_creates_an_ephemeral_sequential_node() {
    let mut l = lock(false);
    let mut call = None;
    let fx = on(&mut l, |l, ctx| call = l.next(ctx));
    assert_eq!(fx, vec![event("request", json!({ "resource": "/lock" }))]);
    assert_eq!(call, Some(create("/lock", false, false)), "the directory first, once");
    done(&mut l, create("/lock", false, false), TreeResult::NodeExists { path: "/lock".into() });
    assert_eq!(next(&mut l), Some(create("/lock/n-", true, true)));
    let fx = done(&mut l, create("/lock/n-", true, true), TreeResult::Created { path: "/lock/n-0000000003".into() });
    assert_eq!(fx, vec![event("lock_node", json!({ "path": "/lock/n-0000000003" }))]);
    assert_eq!(next(&mut l), Some(list(false)));
}

#[test]
fn rule_2_the_lowest_node_holds_the_lock() {
    let mut l = lock_with_node(false);
    let fx = done(&mut l, list(false), names(&[3, 5]));
    assert_eq!(fx[0], event("enter_cs", json!({ "resource": "/lock" })));
    assert!(hold_timer(&fx), "holds for ½–1½ × 100 ms: {fx:?}");
    assert_eq!(next(&mut l), None, "it asks nothing while it holds");
}

#[test]
fn rule_3_a_waiter_watches_only_the_next_lower_node() {
    let mut l = lock_with_node(false);
    let fx = done(&mut l, list(false), names(&[0, 2, 3, 5]));
    assert_eq!(fx, vec![event("lock_wait", json!({ "path": "/lock/n-0000000002" }))]);
    assert_eq!(next(&mut l), Some(op(TreeOp::Exists { path: "/lock/n-0000000002".into(), watch: true })));
    // Gone already: it lists again.
    let exists = op(TreeOp::Exists { path: "/lock/n-0000000002".into(), watch: true });
    done(&mut l, exists, TreeResult::NoNode { path: "/lock/n-0000000002".into() });
    assert_eq!(next(&mut l), Some(list(false)));
}

#[test]
fn rule_4_the_watched_node_deleted_sends_the_waiter_back_to_the_listing() {
    let mut l = lock_with_node(false);
    done(&mut l, list(false), names(&[2, 3]));
    next(&mut l);
    let exists = op(TreeOp::Exists { path: "/lock/n-0000000002".into(), watch: true });
    assert_eq!(done(&mut l, exists, TreeResult::Stat { version: 0 }), vec![], "it waits");
    assert_eq!(next(&mut l), None);
    on(&mut l, |l, ctx| l.watch(ctx, "/lock/n-0000000002", EventKind::NodeDeleted));
    assert_eq!(next(&mut l), Some(list(false)));
    let fx = done(&mut l, list(false), names(&[3]));
    assert_eq!(fx[0], event("enter_cs", json!({ "resource": "/lock" })));
}

#[test]
fn rule_4_a_waiter_whose_session_moved_lists_again_at_the_new_server() {
    let mut l = lock_with_node(false);
    done(&mut l, list(false), names(&[2, 3]));
    next(&mut l);
    on(&mut l, |l, ctx| l.moved(ctx));
    assert_eq!(next(&mut l), Some(list(false)));
}

#[test]
fn rule_5_the_hold_over_it_leaves_and_deletes_its_node() {
    let mut l = lock_with_node(false);
    done(&mut l, list(false), names(&[3]));
    let fx = on(&mut l, |l, ctx| l.timer(ctx));
    assert_eq!(fx, vec![event("exit_cs", json!({ "resource": "/lock" }))]);
    let delete = op(TreeOp::Delete { path: "/lock/n-0000000003".into(), version: None });
    assert_eq!(next(&mut l), Some(delete.clone()));
    let fx = done(&mut l, delete, TreeResult::Deleted);
    assert!(matches!(fx.as_slice(), [Fx::SetTimer(name, _)] if name == "recipe"), "then it thinks: {fx:?}");
}

#[test]
fn rule_6_a_lost_session_makes_a_waiter_create_a_new_node() {
    let mut l = lock_with_node(false);
    on(&mut l, |l, ctx| l.session_lost(ctx));
    assert_eq!(next(&mut l), Some(create("/lock/n-", true, true)), "its request still stands: no new one");
}

#[test]
fn rule_6_a_holder_told_its_session_expired_leaves_at_once() {
    let mut l = lock_with_node(false);
    done(&mut l, list(false), names(&[3]));
    let fx = on(&mut l, |l, ctx| l.session_lost(ctx));
    assert_eq!(fx[0], event("exit_cs", json!({ "resource": "/lock" })));
    assert!(matches!(&fx[1..], [Fx::SetTimer(name, _)] if name == "recipe"), "then it thinks: {fx:?}");
}

#[test]
fn herd_every_waiter_watches_the_directory_and_any_change_wakes_it() {
    let mut l = lock_with_node(true);
    let fx = done(&mut l, list(true), names(&[0, 2, 3]));
    assert_eq!(fx, vec![event("lock_wait", json!({ "path": "/lock" }))]);
    assert_eq!(next(&mut l), None, "the listing left the watch");
    on(&mut l, |l, ctx| l.watch(ctx, "/lock", EventKind::NodeChildrenChanged));
    assert_eq!(next(&mut l), Some(list(true)));
}

fn counter(versioned: bool) -> CounterRecipe {
    CounterRecipe::new(RecipeOptions { versioned, ..RecipeOptions::default() }, 0)
}

fn get() -> Call {
    op(TreeOp::Get { path: "/counter".into(), watch: false })
}

fn set(data: &str, version: Option<u64>) -> Call {
    op(TreeOp::Set { path: "/counter".into(), data: data.into(), version })
}

#[test]
fn counter_rules_get_then_set_with_or_without_the_version() {
    for versioned in [false, true] {
        let mut c = counter(versioned);
        assert_eq!(next(&mut c), Some(get()), "rule 1");
        done(&mut c, get(), TreeResult::Data { data: "15".into(), version: 7 });
        let version = versioned.then_some(7);
        assert_eq!(next(&mut c), Some(set("16", version)), "rule 2, versioned {versioned}");
        let fx = done(&mut c, set("16", version), TreeResult::Stat { version: 8 });
        let ack = json!({ "from": 15, "to": 16, "version": 7, "ok": true, "zxid": 1 });
        assert_eq!(fx[0], event("increment", ack), "rule 3");
        assert_eq!(next(&mut c), None, "it thinks");
    }
}

#[test]
fn counter_rules_an_absent_counter_is_created_and_a_bad_version_reads_again() {
    let mut c = counter(true);
    next(&mut c);
    done(&mut c, get(), TreeResult::NoNode { path: "/counter".into() });
    let create = op(TreeOp::Create { path: "/counter".into(), data: "0".into(), ephemeral: false, sequential: false });
    assert_eq!(next(&mut c), Some(create.clone()));
    done(&mut c, create, TreeResult::NodeExists { path: "/counter".into() });
    assert_eq!(next(&mut c), Some(get()));
    done(&mut c, get(), TreeResult::Data { data: "15".into(), version: 7 });
    next(&mut c);
    let bad = TreeResult::BadVersion { path: "/counter".into(), expected: 7, actual: 8 };
    let fx = done(&mut c, set("16", Some(7)), bad);
    assert_eq!(fx, vec![event("increment", json!({ "from": 15, "to": 16, "version": 7, "ok": false, "zxid": 1 }))]);
    assert_eq!(next(&mut c), Some(get()), "the same round: read again");
}

/// A `zk-lock` or `zk-counter` run with four clients and a 600 ms session.
fn recipe(algorithm: &str, seed: u64, recipe: RecipeOptions, faults: Vec<algorithms::faults::FaultSpec>) -> SimConfig {
    let cfg = with_faults(experiment(algorithm, 3, seed, 3.0, json!({})), faults);
    let workload = Workload {
        clients: 4,
        timeout: Duration::from_millis(200),
        session_timeout: Some(Duration::from_millis(600)),
        recipe: Some(recipe),
        ..Workload::default()
    };
    SimConfig { workload: Some(workload), ..cfg }
}

fn verdict(report: &algorithms::CheckReport, name: &str) -> Verdict {
    report.properties.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name}")).verdict
}

#[test]
fn the_lock_holds_over_8_seeds_with_crashes_restarts_and_partitions() {
    for seed in 0..8 {
        let (_, report) = run(&recipe("zk-lock", seed, RecipeOptions::default(), crashes_restarts_partitions()));
        for p in &report.properties {
            assert_ne!(p.verdict, Verdict::Violated, "seed {seed}: {p:#?}");
        }
        for name in ["mutual_exclusion", "liveness", "no_herd"] {
            assert_eq!(verdict(&report, name), Verdict::Held, "seed {seed}: {name}: {:#?}", report.properties);
        }
    }
}

#[test]
fn a_killed_holder_or_waiter_is_expired_and_the_lock_moves_on() {
    for seed in 0..6 {
        let faults =
            vec![fault(1.0, Action::Kill { node: Target::Id(5) }), fault(1.5, Action::Kill { node: Target::Id(6) })];
        let (out, report) = run(&recipe("zk-lock", seed, RecipeOptions::default(), faults));
        // No leader change: primary_integrity has nothing to judge.
        assert!(report.properties.iter().all(|p| p.verdict != Verdict::Violated), "seed {seed}: {report:#?}");
        for name in ["mutual_exclusion", "liveness", "no_herd"] {
            assert_eq!(verdict(&report, name), Verdict::Held, "seed {seed}: {name}");
        }
        let expired = out.run.records.iter().filter(|r| r.event_name() == Some("session_expired")).count();
        assert!(expired >= 3, "seed {seed}: the dead clients' sessions expire on every server");
    }
}

#[test]
fn the_herd_variant_wakes_every_waiter_at_each_release() {
    for seed in 0..5 {
        let options = RecipeOptions { herd: true, ..RecipeOptions::default() };
        let (_, report) = run(&recipe("zk-lock", seed, options, vec![]));
        assert_eq!(verdict(&report, "mutual_exclusion"), Verdict::Held, "seed {seed}");
        assert_eq!(verdict(&report, "no_herd"), Verdict::Violated, "seed {seed}");
        let woken = report.metrics["notifications_per_release"]["mean"].as_f64().unwrap();
        let waiting = report.metrics["waiters_at_release"]["mean"].as_f64().unwrap();
        assert!(
            woken > 2.0 && (woken - waiting).abs() < 0.5,
            "seed {seed}: {woken} woken per release, {waiting} waiting"
        );
    }
}

#[test]
fn the_counter_loses_updates_by_get_then_set_and_none_when_versioned() {
    for seed in 0..3 {
        let race = RecipeOptions { think: Duration::from_millis(20), ..RecipeOptions::default() };
        let (_, report) = run(&recipe("zk-counter", seed, race.clone(), vec![]));
        let lost = report.properties.iter().find(|p| p.name == "no_lost_updates").unwrap();
        assert_eq!(lost.verdict, Verdict::Violated, "seed {seed}");
        assert!(lost.detail.contains("both read it and both wrote"), "{}", lost.detail);
        let versioned = RecipeOptions { versioned: true, ..race };
        let (_, report) = run(&recipe("zk-counter", seed, versioned, vec![]));
        assert_eq!(verdict(&report, "no_lost_updates"), Verdict::Held, "seed {seed}: {:#?}", report.properties);
        assert!(report.metrics["increments"]["bad_version_retries"].as_u64().unwrap() > 0, "seed {seed}: it raced");
    }
}

#[test]
fn a_recipe_refuses_an_option_of_another_and_coordination_refuses_a_recipe() {
    let mut cfg = recipe("zk-lock", 0, RecipeOptions { versioned: true, ..RecipeOptions::default() }, vec![]);
    let err = algorithms::sim::simulate(algorithms::find("zk-lock").unwrap(), &cfg).err().unwrap();
    assert!(err.contains("workload.recipe.versioned"), "{err}");
    cfg.instance = "coordination".into();
    let err = algorithms::sim::simulate(algorithms::find("coordination").unwrap(), &cfg).err().unwrap();
    assert!(err.contains("workload.recipe"), "{err}");
}

fn candidate(mine: u32) -> ElectionRecipe {
    let mut e = ElectionRecipe::new(4, 0);
    let mut fx = vec![];
    let mut call = None;
    fx.extend(on(&mut e, |e, ctx| call = e.next(ctx)));
    assert_eq!(fx, vec![event("election_started", json!({}))], "rule 1");
    assert_eq!(call, Some(create("/election", false, false)));
    done(&mut e, create("/election", false, false), TreeResult::Created { path: "/election".into() });
    let volunteer =
        op(TreeOp::Create { path: "/election/n-".into(), data: "4".into(), ephemeral: true, sequential: true });
    assert_eq!(next(&mut e), Some(volunteer.clone()), "its id as the node's data");
    done(&mut e, volunteer, TreeResult::Created { path: format!("/election/n-{mine:010}") });
    assert_eq!(next(&mut e), Some(op(TreeOp::Children { path: "/election".into(), watch: false })));
    e
}

fn candidates(of: &[u32]) -> TreeResult {
    let mut names: Vec<String> = of.iter().map(|n| format!("n-{n:010}")).collect();
    names.push("leader".into());
    TreeResult::Children { names }
}

#[test]
fn election_rule_2_the_lowest_candidate_leads_and_publishes_itself() {
    let mut e = candidate(3);
    let fx = done(&mut e, op(TreeOp::Children { path: "/election".into(), watch: false }), candidates(&[3, 7]));
    assert_eq!(fx, vec![event("elected", json!({ "leader": 4 })), event("leader", json!({ "leader": 4 }))]);
    let publish =
        op(TreeOp::Create { path: "/election/leader".into(), data: "4".into(), ephemeral: true, sequential: false });
    assert_eq!(next(&mut e), Some(publish));
}

#[test]
fn election_rules_3_and_4_a_follower_watches_the_next_lower_candidate_and_reads_the_leader() {
    let mut e = candidate(3);
    let fx = done(&mut e, op(TreeOp::Children { path: "/election".into(), watch: false }), candidates(&[1, 2, 3]));
    assert_eq!(fx, vec![event("lock_wait", json!({ "path": "/election/n-0000000002" }))]);
    let lower = op(TreeOp::Exists { path: "/election/n-0000000002".into(), watch: true });
    assert_eq!(next(&mut e), Some(lower.clone()));
    done(&mut e, lower, TreeResult::Stat { version: 0 });
    let leader = op(TreeOp::Exists { path: "/election/leader".into(), watch: true });
    assert_eq!(next(&mut e), Some(leader.clone()));
    done(&mut e, leader, TreeResult::Stat { version: 0 });
    let get = op(TreeOp::Get { path: "/election/leader".into(), watch: false });
    assert_eq!(next(&mut e), Some(get.clone()));
    let fx = done(&mut e, get, TreeResult::Data { data: "6".into(), version: 0 });
    assert_eq!(fx, vec![event("leader", json!({ "leader": 6 }))]);
    // The leader's session expires: its nodes go; the follower loses it, then is woken.
    let fx = on(&mut e, |e, ctx| e.watch(ctx, "/election/leader", EventKind::NodeDeleted));
    assert_eq!(fx, vec![event("leader_lost", json!({ "leader": 6, "reason": "leader node deleted" }))]);
    assert_eq!(next(&mut e), Some(op(TreeOp::Exists { path: "/election/leader".into(), watch: true })));
    on(&mut e, |e, ctx| e.watch(ctx, "/election/n-0000000002", EventKind::NodeDeleted));
    assert_eq!(next(&mut e), Some(op(TreeOp::Children { path: "/election".into(), watch: false })));
}

#[test]
fn the_election_hands_over_when_the_leader_client_is_killed() {
    for seed in 0..6 {
        let options = RecipeOptions { stagger: Duration::from_millis(100), ..RecipeOptions::default() };
        let faults = vec![fault(0.8, Action::Kill { node: Target::Id(4) })];
        let mut cfg = recipe("zk-election", seed, options, faults);
        cfg.duration = Duration::from_secs(4);
        let (_, report) = run(&cfg);
        assert!(report.properties.iter().all(|p| p.verdict != Verdict::Violated), "seed {seed}: {report:#?}");
        for name in ["single_leader", "stable_agreement", "election_within_bound"] {
            assert_eq!(verdict(&report, name), Verdict::Held, "seed {seed}: {name}: {report:#?}");
        }
        let elections = report.metrics["election_ms"]["count"].as_u64().unwrap();
        assert_eq!(elections, 2, "seed {seed}: the start and the takeover");
    }
}

#[test]
fn members_rules_a_member_joins_with_an_ephemeral_node_and_the_watcher_lists_again_on_each_change() {
    let mut m = MembersRecipe::new(5, false);
    let dir = create("/members", false, false);
    assert_eq!(next(&mut m), Some(dir.clone()), "rule 1");
    done(&mut m, dir.clone(), TreeResult::NodeExists { path: "/members".into() });
    let join = op(TreeOp::Create { path: "/members/m5-".into(), data: "5".into(), ephemeral: true, sequential: true });
    assert_eq!(next(&mut m), Some(join));
    let mut w = MembersRecipe::new(4, true);
    next(&mut w);
    done(&mut w, dir, TreeResult::Created { path: "/members".into() });
    let watch = op(TreeOp::Children { path: "/members".into(), watch: true });
    assert_eq!(next(&mut w), Some(watch.clone()), "rule 2");
    let names = TreeResult::Children { names: vec!["m5-0000000000".into(), "m7-0000000002".into()] };
    assert_eq!(done(&mut w, watch.clone(), names), vec![event("members", json!({ "alive": [5, 7] }))]);
    assert_eq!(next(&mut w), None, "it waits for its watch");
    on(&mut w, |w, ctx| w.watch(ctx, "/members", EventKind::NodeChildrenChanged));
    assert_eq!(next(&mut w), Some(watch));
}

#[test]
fn a_killed_member_leaves_the_watchers_view_about_its_session_timeout_later() {
    for seed in 0..5 {
        let faults = vec![fault(1.0, Action::Kill { node: Target::Id(6) })];
        let mut cfg = recipe("zk-members", seed, RecipeOptions::default(), faults);
        cfg.workload.as_mut().unwrap().recipe = None;
        let (_, report) = run(&cfg);
        assert_eq!(verdict(&report, "leave_seen"), Verdict::Held, "seed {seed}: {report:#?}");
        let vanish = report.metrics["vanish_ms"]["max"].as_f64().unwrap();
        assert!((300.0..=800.0).contains(&vanish), "seed {seed}: {vanish} ms for a 600 ms session");
    }
}

/// Every recipe, with a client's death and a partition: the same seed gives the same trace byte
/// for byte, another seed another.
#[test]
fn each_recipe_gives_the_same_trace_for_the_same_seed() {
    for name in ["zk-lock", "zk-counter", "zk-election", "zk-members"] {
        let algorithm = algorithms::find(name).unwrap();
        assert_deterministic(algorithm, |seed| {
            let faults = vec![fault(0.5, Action::Kill { node: Target::Id(6) }), lasting(0.8, 0.3, partition("halves"))];
            let mut cfg = recipe(name, seed, RecipeOptions::default(), faults);
            cfg.duration = Duration::from_millis(1500);
            if name == "zk-members" {
                cfg.workload.as_mut().unwrap().recipe = None;
            }
            cfg
        });
    }
}

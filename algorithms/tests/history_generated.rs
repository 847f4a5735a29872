//! Generated histories: every model over many seeds, linearizable by construction and accepted;
//! the same with one injected violation, all rejected, with a violation that names the right
//! place. Sizes stay small enough for a debug build on two cores.

use algorithms::check::history::gen::{generate, Bug, GenOptions};
use algorithms::check::history::{check, CheckOptions, History, ModelKind, Outcome, Status};

fn options(model: ModelKind, clients: usize, ops: usize, seed: u64) -> GenOptions {
    GenOptions::new(model, clients, ops, seed)
}

fn verdict(h: &History, model: ModelKind) -> algorithms::check::history::Report {
    check(h, model, CheckOptions::default()).unwrap_or_else(|e| panic!("{model}: {e}\n{}", h.to_jsonl()))
}

#[test]
fn generated_histories_of_every_model_are_linearizable_over_many_seeds() {
    for model in ModelKind::ALL {
        for seed in 0..40 {
            let clients = 2 + (seed as usize % 7);
            let h = generate(&options(model, clients, 120, seed)).unwrap();
            assert_eq!(h.ops().len(), 120, "{model} seed {seed}");
            let report = verdict(&h, model);
            assert_eq!(
                report.outcome,
                Outcome::Linearizable,
                "{model} seed {seed}: {:?}\n{}",
                report.violations.first().map(|v| v.explain(&h, model)),
                h.to_jsonl()
            );
        }
    }
}

#[test]
fn generated_histories_have_real_concurrency_crashes_and_failures() {
    let h = generate(&GenOptions { crash_rate: 0.05, fail_rate: 0.05, ..options(ModelKind::CasRegister, 10, 2000, 7) })
        .unwrap();
    let c = h.counts();
    assert!(c.info > 40 && c.fail > 40, "{c}");
    assert!(c.processes > 10, "crashed clients come back as new processes: {c}");
    // At some instant, several operations are open at once.
    let (mut open, mut most) = (0i64, 0i64);
    for e in h.events() {
        open += if e.kind == algorithms::check::history::EventType::Invoke { 1 } else { -1 };
        most = most.max(open);
    }
    assert!(most >= 6, "at most {most} operations open at once");
    assert!(h.events().windows(2).all(|w| w[0].time <= w[1].time), "events in time order");
    assert_eq!(verdict(&h, ModelKind::CasRegister).outcome, Outcome::Linearizable);
}

#[test]
fn the_same_seed_gives_the_same_history() {
    let a = generate(&options(ModelKind::Kv, 5, 300, 11)).unwrap();
    let b = generate(&options(ModelKind::Kv, 5, 300, 11)).unwrap();
    let c = generate(&options(ModelKind::Kv, 5, 300, 12)).unwrap();
    assert_eq!(a.to_jsonl(), b.to_jsonl());
    assert_ne!(a.to_jsonl(), c.to_jsonl());
}

#[test]
fn every_injected_violation_is_rejected_where_it_was_injected() {
    for model in ModelKind::ALL {
        for bug in Bug::ALL.into_iter().filter(|b| b.fits(model)) {
            for seed in 0..25 {
                let clients = 2 + (seed as usize % 6);
                let h = generate(&GenOptions { bug: Some(bug), ..options(model, clients, 100, seed) }).unwrap();
                let report = verdict(&h, model);
                assert_eq!(
                    report.outcome,
                    Outcome::NotLinearizable,
                    "{model} {} seed {seed} was accepted:\n{}",
                    bug.name(),
                    h.to_jsonl()
                );
                assert_eq!(report.violations.len(), 1, "{model} {} seed {seed}: one key is broken", bug.name());
                let v = &report.violations[0];
                let op = &h.ops()[v.op];
                assert_eq!(op.status, Status::Ok, "the op that cannot be placed is an ok one");
                assert!(v.prefix.iter().all(|&i| i != v.op));
                assert!(!v.explain(&h, model).is_empty());
            }
        }
    }
}

#[test]
fn a_stale_read_is_the_operation_named() {
    for seed in 0..20 {
        let h =
            generate(&GenOptions { bug: Some(Bug::StaleRead), ..options(ModelKind::Register, 4, 60, seed) }).unwrap();
        let report = verdict(&h, ModelKind::Register);
        let v = &report.violations[0];
        // The bug's read is the last read that completed in the middle of the history... find it:
        // the read whose value is stale is the one with no concurrent operation at all.
        let op = &h.ops()[v.op];
        assert!(op.f == "read" || op.f == "write", "{}", op.describe());
        assert!(v.concurrent.is_empty() || op.f == "read", "seed {seed}: {}", v.explain(&h, ModelKind::Register));
    }
}

#[test]
fn bugs_that_do_not_fit_the_model_are_refused() {
    let err = generate(&GenOptions { bug: Some(Bug::DoubleGrant), ..options(ModelKind::Kv, 3, 50, 1) }).unwrap_err();
    assert!(err.contains("double-grant") && err.contains("stale-read"), "{err}");
    assert!(generate(&options(ModelKind::Kv, 0, 50, 1)).is_err());
}

#[test]
fn many_crashed_clients_do_not_make_the_search_explode() {
    // A third of all operations are info: most are writes nobody reads (dropped before the
    // search), the rest are placed or not as the reads need.
    for (model, seed) in
        [(ModelKind::Register, 1), (ModelKind::CasRegister, 2), (ModelKind::Kv, 3), (ModelKind::Set, 4)]
    {
        let gen = GenOptions { crash_rate: 0.33, ..options(model, 8, 600, seed) };
        let h = generate(&gen).unwrap();
        assert!(h.counts().info > 150, "{}", h.counts());
        let report = verdict(&h, model);
        assert_eq!(report.outcome, Outcome::Linearizable, "{model}");
        assert!(report.explored < 50_000, "{model}: explored {} configurations", report.explored);
        let bad = generate(&GenOptions { bug: Some(Bug::StaleRead), ..gen }).unwrap();
        assert_eq!(verdict(&bad, model).outcome, Outcome::NotLinearizable, "{model}");
    }
}

#[test]
fn a_stop_callback_makes_the_verdict_unknown() {
    let h = generate(&options(ModelKind::Kv, 10, 3000, 5)).unwrap();
    let calls = std::cell::Cell::new(0);
    let stop = || {
        calls.set(calls.get() + 1);
        calls.get() > 1
    };
    let report = check(&h, ModelKind::Kv, CheckOptions { stop: &stop }).unwrap();
    assert_eq!(report.outcome, Outcome::Unknown);
    assert!(!report.undecided.is_empty());
    assert!(report.violations.is_empty());
}

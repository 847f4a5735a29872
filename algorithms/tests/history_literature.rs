//! Hand-made histories with known answers: the classic anomalies (stale read, lost write, a
//! read from the future, reads that disagree on the order of two writes), `info` operations
//! that only fit when placed late, `fail` operations that must not take effect, each model's
//! own violations, histories of many crashed clients, and malformed input.

use algorithms::check::history::{check, CheckOptions, History, ModelKind, Outcome, Report};

/// A history in a compact notation, one event a line: `PROCESS TYPE F [key=K] [VALUE]`, with
/// VALUE as JSON. `#` lines are comments.
fn history(text: &str) -> History {
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut parts = line.splitn(4, ' ');
        let (p, t, f) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let mut rest = parts.next().unwrap_or("").trim().to_string();
        let mut key = String::new();
        if let Some(k) = rest.strip_prefix("key=") {
            let (k, v) = k.split_once(' ').unwrap_or((k, ""));
            key = format!(r#","key":"{k}""#);
            rest = v.to_string();
        }
        let value = if rest.is_empty() { "null".to_string() } else { rest };
        lines.push(format!(r#"{{"process":{p},"type":"{t}","f":"{f}"{key},"value":{value}}}"#));
    }
    History::parse(&lines.join("\n")).unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")))
}

fn judge(model: ModelKind, text: &str) -> Report {
    let h = history(text);
    check(&h, model, CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn linearizable(model: ModelKind, text: &str) {
    let report = judge(model, text);
    assert_eq!(report.outcome, Outcome::Linearizable, "{text}\n{:?}", report.violations);
}

/// Not linearizable; returns the report and the history for a closer look.
fn violated(model: ModelKind, text: &str) -> (Report, History) {
    let report = judge(model, text);
    assert_eq!(report.outcome, Outcome::NotLinearizable, "{text}");
    (report, history(text))
}

#[test]
fn a_stale_read_after_a_completed_write_is_a_violation_and_names_the_read() {
    let text = "
        0 invoke write 1
        0 ok write 1
        0 invoke write 2
        0 ok write 2
        1 invoke read
        1 ok read 1";
    let (report, h) = violated(ModelKind::Register, text);
    let v = &report.violations[0];
    assert_eq!(h.ops()[v.op].describe(), "read → 1");
    assert_eq!(v.state, "2", "after the prefix the register holds 2");
    assert_eq!(v.prefix.len(), 2);
    assert_eq!(v.tail, vec![(0, "1".to_string()), (1, "2".to_string())], "each prefix op with the state it left");
    assert!(v.concurrent.is_empty());
    let why = v.explain(&h, ModelKind::Register);
    assert!(why.contains("the register is 2") && why.contains("read → 1 (line 6)"), "{why}");
    // The same read overlapping the second write may see the first.
    linearizable(
        ModelKind::Register,
        "
        0 invoke write 1
        0 ok write 1
        0 invoke write 2
        1 invoke read
        1 ok read 1
        0 ok write 2",
    );
}

#[test]
fn a_read_from_the_future_is_a_violation() {
    violated(
        ModelKind::Register,
        "
        1 invoke read
        1 ok read 5
        0 invoke write 5
        0 ok write 5",
    );
}

#[test]
fn reads_that_disagree_on_the_order_of_two_completed_writes_are_a_violation() {
    // Two concurrent writes, both done; then one reader sees 1 and a later reader sees 2.
    let writes = "
        0 invoke write 1
        1 invoke write 2
        0 ok write 1
        1 ok write 2";
    violated(ModelKind::Register, &format!("{writes}\n2 invoke read\n2 ok read 1\n3 invoke read\n3 ok read 2"));
    linearizable(ModelKind::Register, &format!("{writes}\n2 invoke read\n2 ok read 2\n3 invoke read\n3 ok read 2"));
    // While the writes are still running, readers may see them in either order once.
    linearizable(
        ModelKind::Register,
        "
        0 invoke write 1
        1 invoke write 2
        2 invoke read
        2 ok read 1
        3 invoke read
        3 ok read 2
        0 ok write 1
        1 ok write 2",
    );
}

#[test]
fn a_lost_write_is_a_violation() {
    // kv: two acknowledged appends; a later get has only one of them.
    violated(
        ModelKind::Kv,
        r#"
        0 invoke append key=x "a"
        1 invoke append key=x "b"
        0 ok append key=x "a"
        1 ok append key=x "b"
        2 invoke get key=x
        2 ok get key=x "b""#,
    );
    linearizable(
        ModelKind::Kv,
        r#"
        0 invoke append key=x "a"
        1 invoke append key=x "b"
        0 ok append key=x "a"
        1 ok append key=x "b"
        2 invoke get key=x
        2 ok get key=x "ba""#,
    );
    // register: an acknowledged write overwritten by nobody, then reads of the value before it.
    violated(
        ModelKind::Register,
        "
        0 invoke write 1
        0 ok write 1
        1 invoke write 2
        1 ok write 2
        2 invoke read
        2 ok read 2
        3 invoke read
        3 ok read 1",
    );
}

#[test]
fn a_cas_register_history_that_only_linearizes_with_an_info_cas_placed_late() {
    // Process 1's cas crashed (info) right after it started. A read that started after the cas
    // still sees 1; a later read sees 2. Only one order works: the cas takes effect between the
    // two reads, long after its client was gone.
    let text = "
        0 invoke write 1
        0 ok write 1
        1 invoke cas [1, 2]
        1 info cas
        2 invoke read
        2 ok read 1
        3 invoke read
        3 ok read 2";
    linearizable(ModelKind::CasRegister, text);
    // An invocation with no completion in the file is info as well.
    linearizable(ModelKind::CasRegister, &text.replace("1 info cas", ""));
    // But a cas cannot take effect twice, nor be undone.
    violated(ModelKind::CasRegister, &format!("{text}\n4 invoke read\n4 ok read 1"));
    // And an info operation may also never take effect.
    linearizable(ModelKind::CasRegister, &text.replace("3 ok read 2", "3 ok read 1"));
}

#[test]
fn a_fail_must_not_take_effect() {
    let failed = "
        0 invoke write 1
        0 ok write 1
        1 invoke write 3
        1 fail write
        2 invoke read";
    violated(ModelKind::Register, &format!("{failed}\n2 ok read 3"));
    linearizable(ModelKind::Register, &format!("{failed}\n2 ok read 1"));
    // The same with info: the write may have happened.
    linearizable(ModelKind::Register, &format!("{}\n2 ok read 3", failed.replace("1 fail write", "1 info write")));
    // A cas whose compare failed completes fail, and so did not happen either.
    violated(
        ModelKind::CasRegister,
        "
        0 invoke write 1
        0 ok write 1
        1 invoke cas [2, 3]
        1 fail cas
        2 invoke read
        2 ok read 3",
    );
}

#[test]
fn kv_keys_are_independent_and_a_violation_names_its_key() {
    let (report, h) = violated(
        ModelKind::Kv,
        r#"
        0 invoke put key=a "1"
        0 ok put key=a "1"
        1 invoke put key=b "x"
        1 ok put key=b "x"
        0 invoke get key=a
        0 ok get key=a "1"
        1 invoke get key=b
        1 ok get key=b null"#,
    );
    assert_eq!(report.keys, 2);
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].key, Some(serde_json::json!("b")));
    assert_eq!(report.violations[0].state, "\"x\"");
    assert_eq!(h.ops()[report.violations[0].op].describe(), "get b → null");
    // A get of a key never written is null; a cas from null creates it.
    linearizable(
        ModelKind::Kv,
        r#"
        0 invoke get key=z
        0 ok get key=z null
        0 invoke cas key=z [null, "v"]
        0 ok cas key=z [null, "v"]
        0 invoke append key=z "w"
        0 ok append key=z "w"
        0 invoke get key=z
        0 ok get key=z "vw""#,
    );
}

#[test]
fn a_lock_held_by_two_processes_is_a_violation() {
    violated(
        ModelKind::Mutex,
        "
        1 invoke acquire key=printer
        1 ok acquire key=printer
        2 invoke acquire key=printer
        2 ok acquire key=printer
        1 invoke release key=printer
        1 ok release key=printer",
    );
    // A waiting acquire may complete once the holder has released.
    linearizable(
        ModelKind::Mutex,
        "
        1 invoke acquire key=printer
        1 ok acquire key=printer
        2 invoke acquire key=printer
        1 invoke release key=printer
        1 ok release key=printer
        2 ok acquire key=printer
        3 invoke acquire key=scanner
        3 ok acquire key=scanner",
    );
    // Releasing a lock one does not hold is a violation too.
    violated(ModelKind::Mutex, "1 invoke release key=printer\n1 ok release key=printer");
}

#[test]
fn set_and_counter_reads_must_add_up() {
    violated(
        ModelKind::Set,
        "
        0 invoke add 1
        0 ok add 1
        1 invoke add 2
        1 ok add 2
        2 invoke read
        2 ok read [2]",
    );
    linearizable(
        ModelKind::Set,
        "
        0 invoke add 1
        1 invoke add 2
        2 invoke read
        2 ok read [2]
        0 ok add 1
        1 ok add 2
        2 invoke read
        2 ok read [2, 1]",
    );
    violated(
        ModelKind::Counter,
        "
        0 invoke add 2
        0 ok add 2
        1 invoke read
        1 ok read 2
        1 invoke read
        1 ok read 1",
    );
    linearizable(
        ModelKind::Counter,
        "
        0 invoke add 2
        1 invoke add 3
        2 invoke read
        2 ok read 3
        0 ok add 2
        1 ok add 3
        2 invoke read
        2 ok read 5",
    );
}

/// `n` processes each start a write of their own value and crash; then one reader reads.
fn crashed_writers(n: u64, reads: &[u64]) -> String {
    let mut text = String::from("0 invoke write 0\n0 ok write 0\n");
    for p in 1..=n {
        text += &format!("{p} invoke write {p}\n");
    }
    for r in reads {
        text += &format!("999 invoke read\n999 ok read {r}\n");
    }
    text
}

#[test]
fn many_crashed_writers_that_nobody_reads_cost_nothing() {
    let report = judge(ModelKind::Register, &crashed_writers(300, &[0, 0, 0]));
    assert_eq!(report.outcome, Outcome::Linearizable);
    assert!(report.explored < 10, "the unread info writes are left out: {}", report.explored);
}

#[test]
fn many_crashed_writers_that_are_read_are_placed_one_by_one_without_blowing_up() {
    // Every crashed write is read once, in order; the values can only appear in that order once.
    let order: Vec<u64> = (1..=24).collect();
    let report = judge(ModelKind::Register, &crashed_writers(24, &order));
    assert_eq!(report.outcome, Outcome::Linearizable);
    let mut back = order.clone();
    back.push(1);
    let report = judge(ModelKind::Register, &crashed_writers(24, &back));
    assert_eq!(report.outcome, Outcome::NotLinearizable);
    // 2^24 subsets of crashed writes could be placed; the search looks at a few thousand.
    assert!(report.explored < 20_000, "explored {}", report.explored);
}

#[test]
fn many_concurrent_reads_of_one_value_are_cheap_even_when_the_history_fails() {
    // 40 readers overlap a write; all read the old value; then a read after everything sees a
    // value nobody wrote. Without reading first, the search would try the reads' 2^40 subsets.
    let mut text = String::from("0 invoke write 1\n0 ok write 1\n0 invoke write 2\n");
    for p in 1..=40 {
        text += &format!("{p} invoke read\n");
    }
    for p in 1..=40 {
        text += &format!("{p} ok read 1\n");
    }
    text += "0 ok write 2\n99 invoke read\n99 ok read 3\n";
    let report = judge(ModelKind::Register, &text);
    assert_eq!(report.outcome, Outcome::NotLinearizable);
    assert!(report.explored < 1_000, "explored {}", report.explored);
}

#[test]
fn an_empty_history_and_one_of_fails_only_are_linearizable() {
    assert_eq!(
        check(&History::default(), ModelKind::Kv, CheckOptions::default()).unwrap().outcome,
        Outcome::Linearizable
    );
    linearizable(ModelKind::Register, "0 invoke write 1\n0 fail write");
}

#[test]
fn malformed_input_is_an_error_naming_the_line() {
    let err = |text: &str| History::parse(text).unwrap_err().to_string();
    let invoke = r#"{"process":1,"type":"invoke","f":"read"}"#;
    assert_eq!(
        err(&format!("{invoke}\n{}", r#"{"process":2,"type":"ok","f":"read","value":1}"#)),
        "line 2: process 2 completes \"read\" (ok) but has no open invocation"
    );
    let two_open = err(&format!("{invoke}\n\n{}", r#"{"process":1,"type":"invoke","f":"write","value":1}"#));
    assert!(
        two_open.starts_with("line 3: process 1 invokes \"write\" while its \"read\" from line 1 is still open"),
        "{two_open}"
    );
    let unknown = err(&format!("{invoke}\n{}", r#"{"process":1,"type":"done","f":"read"}"#));
    assert!(unknown.starts_with("line 2: unknown \"type\" \"done\""), "{unknown}");
    let not_json = err(&format!("{invoke}\n{{\"process\": 1, \"type\": \n"));
    assert!(not_json.starts_with("line 2: not JSON"), "{not_json}");
    // What the model cannot read is an error at the operation's line, too.
    let h = History::parse(&format!("{invoke}\n{}", r#"{"process":1,"type":"ok","f":"read","value":"x"}"#)).unwrap();
    let e = check(&h, ModelKind::Counter, CheckOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "line 2: a counter's read must be an integer, found \"x\"");
    let h = History::parse(r#"{"process":1,"type":"invoke","f":"frobnicate","key":"k"}"#).unwrap();
    let e = check(&h, ModelKind::Kv, CheckOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("line 1: kv has no operation \"frobnicate\""), "{e}");
}

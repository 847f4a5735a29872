//! The orchestrator's command line: bad input, simulator sweeps and byte-identical replays.

use clusterlab_e2e::*;

#[test]
fn an_unknown_key_is_exit_2_naming_the_key_and_the_file() {
    let scratch = Scratch::new("cli-key");
    let exp = scratch.write("typo.toml", "algorithm = \"bully\"\nnodez = 3\n");
    let output = orchestrator(&["run", exp.to_str().unwrap(), "--out", scratch.path().to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("typo.toml") && stderr.contains("nodez"), "{stderr}");
}

#[test]
fn an_unknown_algorithm_is_exit_2_listing_the_known_ones() {
    let scratch = Scratch::new("cli-alg");
    let exp = scratch.write("alg.toml", "algorithm = \"paxos-made-up\"\n");
    let output = orchestrator(&["sim", exp.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("paxos-made-up") && stderr.contains("known algorithms:") && stderr.contains("bully"));
}

#[test]
fn usage_errors_are_exit_2() {
    assert_eq!(orchestrator(&["run"]).status.code(), Some(2));
    assert_eq!(orchestrator(&["fly"]).status.code(), Some(2));
    assert_eq!(orchestrator(&["run", "configs/no-such-file.toml"]).status.code(), Some(2));
}

#[test]
fn a_simulator_sweep_holds_and_a_replay_is_byte_identical() {
    let scratch = Scratch::new("cli-sim");
    let output = orchestrator(&["sim", "configs/bully.toml", "--seeds", "100"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("100 held, 0 not"));

    let out = scratch.path().to_str().unwrap();
    let mut traces = Vec::new();
    for _ in 0..2 {
        let replay = orchestrator(&["sim", "configs/bully.toml", "--seed", "42", "--out", out]);
        assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stdout));
        let dir = latest_run(scratch.path());
        traces.push((1..=5).map(|id| std::fs::read(dir.join(format!("node-{id}.jsonl"))).unwrap()).collect::<Vec<_>>());
        assert_eq!(summary(&dir)["mode"], "sim");
    }
    assert_eq!(traces[0], traces[1]);
}

#[test]
fn a_failing_seed_is_printed_with_its_replay_command() {
    // Half the messages lost: bully cannot keep agreement, and the sweep must say where.
    let scratch = Scratch::new("cli-fail");
    let exp = scratch.write(
        "lossy.toml",
        "algorithm = \"bully\"\nduration = \"5s\"\n[[faults]]\nat = \"2s\"\naction = \"kill\"\nnode = \"leader\"\n[sim]\nloss = 0.5\n",
    );
    let output = orchestrator(&["sim", exp.to_str().unwrap(), "--seeds", "20"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("VIOLATED"), "{stdout}");
    let replay = stdout.lines().find(|l| l.starts_with("replay one:")).expect("a replay line");
    let seed: u64 = replay.rsplit(' ').next().unwrap().parse().unwrap();
    let out = scratch.path().join("runs");
    let again =
        orchestrator(&["sim", exp.to_str().unwrap(), "--seed", &seed.to_string(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "the replayed seed fails again");
}

#[test]
fn the_proxy_benchmark_runs_and_prints_its_figures() {
    // A figure is printed, not judged: timing belongs in benchmarks, never in tests.
    let output = orchestrator(&["bench", "proxy", "--paced", "200", "--flood", "5000", "--rounds", "1"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("added median latency per message") && stdout.contains("× direct"), "{stdout}");
}

#[test]
fn environment_variables_override_the_file_and_flags_override_both() {
    let scratch = Scratch::new("cli-env");
    let out = scratch.path().to_str().unwrap();
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = std::process::Command::new(binary("orchestrator"));
        cmd.args(["sim", "configs/bully.toml", "--seed", "4", "--out", out]).args(args).current_dir(repo());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd.output().unwrap();
        assert!(output.status.code().is_some(), "{}", text(&output.stderr));
        summary(&latest_run(scratch.path()))
    };
    assert_eq!(run(&[("CLUSTERLAB_NODES", "3")], &[])["nodes"], 3);
    assert_eq!(run(&[("CLUSTERLAB_NODES", "3")], &["--nodes", "4"])["nodes"], 4);
    let resolved = std::fs::read_to_string(latest_run(scratch.path()).join("experiment.toml")).unwrap();
    assert!(resolved.contains("nodes = 4"), "the resolved experiment is saved: {resolved}");
    let bad = std::process::Command::new(binary("orchestrator"))
        .args(["sim", "configs/bully.toml", "--seeds", "1"])
        .env("CLUSTERLAB_NODES", "many")
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("nodes"), "{}", text(&bad.stderr));
}

#[test]
fn the_cost_table_shows_lamport_against_ricart_agrawala() {
    let scratch = Scratch::new("cli-compare");
    let output = orchestrator(&[
        "compare",
        "configs/mutex-lamport.toml",
        "configs/mutex-ricart-agrawala.toml",
        "--nodes",
        "3,5",
        "--sim",
        "--out",
        scratch.path().to_str().unwrap(),
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    let rows: Vec<&str> =
        stdout.lines().filter(|l| l.starts_with("lamport ") || l.starts_with("ricart-agrawala ")).collect();
    assert_eq!(rows.len(), 4, "algorithm × N: {stdout}");
    assert!(rows.iter().any(|r| r.contains("3(N−1) = 12") && r.contains("12.00")), "{stdout}");
    assert!(rows.iter().any(|r| r.contains("2(N−1) = 8") && r.contains(" 8.00")), "{stdout}");
    assert!(stdout.contains("N=5: 12.00 vs 8.00 (textbook 12 vs 8)"), "{stdout}");
}

/// The replicated services' table, generic over the family: raft, kv-single and quorum at tiny
/// sizes in the simulator, each with throughput, latency against the RTT and messages per
/// operation, and the availability rows (quorum has no leader to kill).
#[test]
fn the_service_table_compares_any_replicated_service() {
    let output = orchestrator(&[
        "compare",
        "configs/raft.toml",
        "configs/kv-single.toml",
        "configs/quorum.toml",
        "--nodes",
        "3",
        "--clients",
        "1,2",
        "--trials",
        "2",
        "--trial-clients",
        "2",
        "--duration",
        "1s",
        "--sim",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", text(&output.stderr));
    let rows = |alg: &str| stdout.lines().filter(|l| l.starts_with(&format!("{alg} "))).count();
    assert_eq!(
        (rows("raft"), rows("kv-single"), rows("quorum")),
        (3, 3, 3),
        "2 client counts + availability: {stdout}"
    );
    assert!(stdout.contains("p50/RTT") && stdout.contains("availability after SIGKILL of the leader"), "{stdout}");
    let raft: Vec<&str> = stdout.lines().filter(|l| l.starts_with("raft ")).collect();
    let cells: Vec<&str> = raft[0].split_whitespace().collect();
    assert_eq!(cells[11], "4", "raft's textbook 2(N−1) at N = 3: {stdout}");
    assert!(cells[4].parse::<f64>().unwrap() > 0.0, "committed ops/s: {stdout}");
    let availability: Vec<&str> = raft[2].split_whitespace().collect();
    assert_eq!(&availability[3..5], ["2", "2"], "two kills of the leader, both recovered: {stdout}");
}

/// A compare that could not mean anything is refused before it runs, naming the flag.
#[test]
fn compare_refuses_counts_and_rates_that_mean_nothing() {
    for (flag, value, says) in [
        ("--nodes", "0", "--nodes: give server counts of 1 or more"),
        ("--clients", "0", "--clients: give client counts of 1 or more"),
        ("--trial-rate", "-5", "--trial-rate -5: give operations per second of each client"),
    ] {
        let output = orchestrator(&["compare", "configs/raft.toml", &format!("{flag}={value}"), "--sim"]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(says), "{flag}: {stderr}");
    }
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let run = |variable: &str, value: &str| {
        let output = std::process::Command::new(binary("orchestrator"))
            .args(["sim", "configs/bully.toml", "--seeds", "1"])
            .env(variable, value)
            .current_dir(repo())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        text(&output.stderr)
    };
    let stderr = run("CLUSTERLAB_NODES", "many");
    assert!(stderr.contains("CLUSTERLAB_NODES") && stderr.contains("bully.toml"), "{stderr}");
    let stderr = run("CLUSTERLAB_SIM__LOSS", "lots");
    assert!(stderr.contains("CLUSTERLAB_SIM__LOSS") && stderr.contains("sim.loss"), "{stderr}");
}

#[test]
fn a_run_directory_says_how_it_ran_whatever_it_is_called() {
    let scratch = Scratch::new("cli-run-json");
    let out = scratch.path().to_str().unwrap();
    let replay = orchestrator(&["sim", "configs/bully.toml", "--seed", "3", "--out", out]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stdout));
    let dir = latest_run(scratch.path());
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run, serde_json::json!({"mode": "simulated"}));
    // Renamed, and judged again without its summary: still a simulated run.
    let renamed = scratch.path().join("my-run");
    std::fs::rename(&dir, &renamed).unwrap();
    std::fs::remove_file(renamed.join("summary.json")).unwrap();
    let report = orchestrator(&["report", renamed.to_str().unwrap()]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    assert_eq!(summary(&renamed)["mode"], "sim");
}

/// `orchestrator list` names every algorithm of the catalogue, each with every property it
/// promises, and the README names every algorithm (as `name`), so neither falls behind.
#[test]
fn orchestrator_list_and_the_readme_name_every_algorithm() {
    let output = orchestrator(&["list"]);
    let listed = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{listed}");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let catalogue = algorithms::catalogue();
    let names: Vec<&str> =
        listed.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, catalogue.iter().map(|a| a.name()).collect::<Vec<_>>(), "{listed}");
    for algorithm in catalogue {
        let name = algorithm.name();
        let block: Vec<&str> = listed
            .lines()
            .skip_while(|l| l.split_whitespace().next() != Some(name))
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let promised: Vec<&str> = algorithm.properties().iter().map(|p| p.name).collect();
        assert_eq!(block, promised, "{name}'s properties in `orchestrator list`");
        assert!(readme.contains(&format!("`{name}`")), "README.md does not name `{name}`");
    }
}

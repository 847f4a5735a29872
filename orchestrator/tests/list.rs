//! The catalogue as users see it. (Also makes `cargo test` build the `orchestrator` binary,
//! which the end-to-end tests under `tests/` run.)

use std::process::Command;

#[test]
fn list_shows_each_algorithm_with_its_properties() {
    let output = Command::new(env!("CARGO_BIN_EXE_orchestrator")).arg("list").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("bully") && text.contains("stable_agreement"), "{text}");
}

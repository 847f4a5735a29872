//! Helpers for end-to-end tests: find the built binaries, make scratch directories, prove
//! that no process of a run is left behind, and say loudly what a test could not check.
//!
//! `cargo test --workspace` builds the `node` and `orchestrator` binaries before any test runs
//! (both packages have integration tests), into the same target directory as these tests.
//!
//! Some tests need what a machine may lack: chromium (the report in a browser), iptables and
//! root (the iptables network). `scripts/test` installs the tools when run as root. Where one
//! is still missing, [`require_tool`] and [`require_root`] decide: under CI (`CI=true`) the test
//! fails; elsewhere it prints `SKIPPED: <test> needs <what>: <how to get it>` on stderr (past
//! the test harness's capture, so it shows even when the test passes) and skips that part.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether this runs in CI (`CI` set and not `false` or `0`, as CI services set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The first of `names` that is an executable file on the PATH.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

/// The running test's name (the harness names each test's thread after it).
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "a test".to_string(),
    }
}

/// `present`, or what to do about `what` missing: a failure under CI, else a loud SKIPPED line
/// on stderr and false (the caller then skips what needs it).
pub fn require(present: bool, what: &str, how: &str) -> bool {
    if present {
        return true;
    }
    let test = test_name();
    if in_ci() {
        panic!(
            "{test} needs {what}, which this CI machine lacks: {how} (.ci/run runs scripts/test, which installs it)"
        );
    }
    // Straight to the stderr file descriptor: `eprintln!` is captured for passing tests.
    let line = format!("\nSKIPPED: {test} needs {what}: {how}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    false
}

/// Whether the command `tool` is on the PATH; see [`require`].
pub fn require_tool(tool: &str, how: &str) -> bool {
    require(on_path(&[tool]).is_some(), tool, how)
}

/// Whether this process runs as root; see [`require`].
pub fn require_root(why: &str) -> bool {
    require(
        nix::unistd::geteuid().is_root(),
        &format!("root ({why})"),
        "run the tests as root, e.g. `sudo scripts/test`",
    )
}

/// A built binary of the workspace, beside the test executable's `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo test --workspace` builds it (with `-p`, include its package)",
        path.display()
    );
    path
}

/// The repository root (for `configs/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("clusterlab-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn orchestrator(args: &[&str]) -> Output {
    Command::new(binary("orchestrator")).args(args).current_dir(repo()).output().expect("run orchestrator")
}

/// `orchestrator run EXP --out OUT` started in the background, its output captured: for tests
/// that act on the run (or on the orchestrator itself) while it goes on.
pub fn spawn_run(exp: &Path, out: &Path) -> std::process::Child {
    Command::new(binary("orchestrator"))
        .args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start orchestrator")
}

/// Processes whose command line mentions `needle` (e.g. a run directory): a run's leftovers.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // A zombie has an empty command line and holds nothing.
            if text.contains(needle) {
                found.push(format!("{}: {}", entry.file_name().to_string_lossy(), text.trim()));
            }
        }
    }
    found
}

/// The single run directory under `out` (the `latest` link points at it).
pub fn latest_run(out: &Path) -> PathBuf {
    let link = out.join("latest");
    let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    out.join(target)
}

/// `orchestrator up EXP --out OUT --detach`, which must succeed: the run directory of the cluster
/// it left up (bring it down with `down`).
pub fn up_detached(exp: &Path, out: &Path) -> PathBuf {
    let up = orchestrator(&["up", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--detach"]);
    assert_eq!(up.status.code(), Some(0), "up: {}{}", text(&up.stdout), text(&up.stderr));
    latest_run(out)
}

pub fn summary(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json parses")
}

/// Every record of a node's trace, parsed (panics on a line that does not parse).
pub fn trace(run_dir: &Path, id: u32) -> Vec<algorithms::trace::TraceRecord> {
    let path = run_dir.join(format!("node-{id}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    algorithms::trace::parse_jsonl(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// -- headless chromium, for the report tests -------------------------------------------------

/// The chromium binary: `$CHROMIUM`, else `chromium` or `chromium-browser` on the PATH. None
/// when there is none, after `require` said so: a failure under CI, a SKIPPED line elsewhere.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("CHROMIUM").map(PathBuf::from).or_else(|| on_path(&["chromium", "chromium-browser"]));
    let how = "`apt-get install -y chromium` (scripts/test does it as root), or set CHROMIUM to its path";
    if require(found.is_some(), "chromium for its browser checks", how) {
        found
    } else {
        None
    }
}

/// Loads a page (with `fragment`, e.g. "#selftest") in headless chromium and returns the DOM
/// after its scripts ran.
pub fn dump_dom(browser: &Path, page: &Path, fragment: &str, scratch: &Scratch) -> String {
    let profile = scratch.path().join(format!("chromium-profile-{}", page.display().to_string().len()));
    let _ = std::fs::remove_dir_all(&profile);
    let out_path = scratch.path().join("dom.html");
    let out = std::fs::File::create(&out_path).expect("dom file");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.canonicalize().expect("page exists").display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {} within 120 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium exited with {status}");
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::read_to_string(&out_path).expect("dumped DOM")
}

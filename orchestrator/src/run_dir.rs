//! A run directory: `runs/<name>-<timestamp>/`, what every command that runs something leaves,
//! and `run.json` in it, which says how the run ran.

use crate::network::NetMode;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// Creates `out/<name>-<timestamp>/` and points `out/latest` at it.
pub fn create_run_dir(out: &Path, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let mut dir = out.join(format!("{name}-{stamp}"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = out.join(format!("{name}-{stamp}-{n}"));
    }
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let latest = out.join("latest");
    let _ = fs::remove_file(&latest);
    let _ = std::os::unix::fs::symlink(dir.file_name().expect("named"), &latest);
    Ok(dir)
}

/// Node processes, or the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Real,
    Simulated,
}

/// How a run ran, as its `run.json` says: `{"mode": "real", "net": "proxy"}` (`run`, `up`) or
/// `{"mode": "simulated"}` (`sim --seed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub mode: RunMode,
    /// How the nodes of a real run reached each other; unknown for a real run from before
    /// `run.json` existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetMode>,
}

const RUN_JSON: &str = "run.json";

impl RunInfo {
    pub fn real(net: NetMode) -> RunInfo {
        RunInfo { mode: RunMode::Real, net: Some(net) }
    }

    pub fn simulated() -> RunInfo {
        RunInfo { mode: RunMode::Simulated, net: None }
    }

    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(RUN_JSON);
        let text = serde_json::to_string_pretty(self)? + "\n";
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// How the run in `run_dir` ran, as its `run.json` says; `None` for a run directory from
    /// before `run.json` existed. Nothing else tells (a directory's name is the user's to choose),
    /// so such a run's mode is unknown.
    pub fn read(run_dir: &Path) -> Result<Option<RunInfo>> {
        let path = run_dir.join(RUN_JSON);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The `mode` word of `summary.json`: `real` or `sim`.
    pub fn summary_mode(&self) -> &'static str {
        match self.mode {
            RunMode::Real => "real",
            RunMode::Simulated => "sim",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_says_how_it_ran_and_old_ones_do_not_by_their_name() {
        let out = std::env::temp_dir().join(format!("clusterlab-run-dir-{}", std::process::id()));
        let real = create_run_dir(&out, "bully").unwrap();
        RunInfo::real(NetMode::Iptables).write(&real).unwrap();
        assert_eq!(
            fs::read_to_string(real.join("run.json")).unwrap(),
            "{\n  \"mode\": \"real\",\n  \"net\": \"iptables\"\n}\n"
        );
        assert_eq!(RunInfo::read(&real).unwrap(), Some(RunInfo::real(NetMode::Iptables)));
        // A simulated run whose name says nothing of it.
        let sim = create_run_dir(&out, "plain").unwrap();
        RunInfo::simulated().write(&sim).unwrap();
        assert_eq!(fs::read_to_string(sim.join("run.json")).unwrap(), "{\n  \"mode\": \"simulated\"\n}\n");
        assert_eq!(RunInfo::read(&sim).unwrap().unwrap().summary_mode(), "sim");
        // Written before run.json existed: "-sim-" in a name says nothing.
        let old_sim = create_run_dir(&out, "bully-sim").unwrap();
        assert!(old_sim.to_string_lossy().contains("-sim-"));
        assert_eq!(RunInfo::read(&old_sim).unwrap(), None);
        let old_real = create_run_dir(&out, "bully").unwrap();
        assert_eq!(RunInfo::read(&old_real).unwrap(), None);
        fs::write(old_real.join("run.json"), "{\"mode\": \"imagined\"}").unwrap();
        assert!(format!("{:#}", RunInfo::read(&old_real).unwrap_err()).contains("run.json"));
        fs::remove_dir_all(&out).unwrap();
    }
}

//! A run directory: `runs/<name>-<timestamp>/`, what every command that runs something leaves.

use anyhow::{Context, Result};
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

//! The workspace's binaries for the tests, built when they are missing or
//! older than their sources.
//!
//! `cargo test -p chat-tests` builds this package's tests but not the other
//! packages' binaries (`env!("CARGO_BIN_EXE_…")` exists only for a
//! package's own binaries), so the first call here runs `cargo build -p
//! chat-server -p chat-client -p chat-check` once for the whole test
//! process, into the target directory and profile this test was built
//! with, when any of them is missing or stale. After `cargo test
//! --workspace` they are all fresh and nothing is run. Included by each
//! test target (`#[path = "bins.rs"] mod bins;`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// Every binary a test runs, with the crate directory it is built from.
const BINS: [(&str, &str); 3] = [
    ("chat-server", "server"),
    ("chat-client", "client"),
    ("chat-check", "check"),
];

/// The path of the workspace binary `name` (`chat-server`, ...), built
/// first if needed.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = out_dir();
    if let Err(e) = BUILT.get_or_init(|| build_if_needed(&dir)) {
        panic!("{e}");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing after the build",
        path.display()
    );
    path
}

/// The directory this test's binaries are in: the test runs as
/// `target/<profile>/deps/<name>-<hash>`, the binaries are in
/// `target/<profile>`.
fn out_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `cargo build` for the binaries unless every one is newer than its
/// sources (its own crate, `protocol` and `files`).
fn build_if_needed(dir: &Path) -> Result<(), String> {
    let root = workspace();
    let stale = BINS.iter().any(|(name, crate_dir)| {
        let Ok(built) = std::fs::metadata(dir.join(name)).and_then(|m| m.modified()) else {
            return true;
        };
        ["protocol", "files", crate_dir]
            .iter()
            .filter_map(|c| newest_source(&root.join(c).join("src")))
            .any(|newest| newest > built)
    });
    if !stale {
        return Ok(());
    }
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let target_dir = dir.parent().ok_or("no target dir")?;
    // Cargo sets CARGO for the processes it runs, tests included.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--quiet", "--profile", &profile, "--target-dir"])
        .arg(target_dir);
    for (name, _) in BINS {
        command.args(["-p", name]);
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo to build the binaries: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "building the binaries failed ({status}): run `cargo build` to see why"
        ))
    }
}

/// The newest modification time of the files below `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(time);
    }
    newest
}

//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` next to the repository, or `None` (with a note on stderr) when this
/// machine does not have it: tests that need the big corpora skip then.
pub(crate) fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = root().join("../shared/data");
    if dir.join("synd-dev.jsonl").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED {test}: {} is absent (CI always has it)", dir.display());
        None
    }
}

/// Runs the release-or-debug `neardup` binary built for these tests.
pub(crate) fn neardup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neardup")).args(args).output().expect("failed to run neardup")
}

/// Stdout as UTF-8, or a panic showing stderr.
pub(crate) fn stdout_ok(output: &Output) -> String {
    assert!(output.status.success(), "neardup failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

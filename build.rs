//! Compiles `proto/neardup/v1/neardup.proto` into Rust in `OUT_DIR` when feature `server`
//! is on: protox parses it in pure Rust (no `protoc` on the machine), the encoded
//! descriptor set is kept for server reflection, and tonic-prost-build generates the
//! messages, the client and the server from it. Also sets `NEARDUP_VERSION` for
//! `--version`: the package version and, in a git checkout, the commit.

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Otherwise cargo reruns this script whenever any file of the package changes.
    println!("cargo:rerun-if-changed=build.rs");
    version();
    // Without the feature the build dependencies are not even compiled in.
    #[cfg(feature = "server")]
    compile_proto()?;
    Ok(())
}

/// `0.1.0 (commit 1a2b3c4)`, or just `0.1.0` outside a git checkout (a crate tarball).
fn version() {
    let package = env!("CARGO_PKG_VERSION");
    let version = match git(&["rev-parse", "--short=10", "HEAD"]) {
        Some(commit) => {
            // Rerun when HEAD moves: a checkout changes HEAD, a commit the branch's ref.
            for path in ["HEAD", "packed-refs"] {
                watch_git_path(path);
            }
            if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch_git_path(&reference);
            }
            format!("{package} (commit {commit})")
        }
        None => package.to_owned(),
    };
    println!("cargo:rustc-env=NEARDUP_VERSION={version}");
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn watch_git_path(path: &str) {
    if let Some(resolved) = git(&["rev-parse", "--git-path", path]) {
        let resolved = PathBuf::from(resolved);
        if resolved.exists() {
            println!("cargo:rerun-if-changed={}", resolved.display());
        }
    }
}

#[cfg(feature = "server")]
fn compile_proto() -> Result<(), Box<dyn std::error::Error>> {
    use prost::Message as _;

    const PROTO: &str = "proto/neardup/v1/neardup.proto";
    // tonic-prost-build's own rerun option does nothing in 0.14, so say it ourselves.
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile([PROTO], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("neardup_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}

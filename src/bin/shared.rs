//! What both binaries (`neardup` and the `neardup-load` developer tool) do around their
//! commands: log to stderr, and turn a command's outcome into an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

/// Logs to stderr at `RUST_LOG`'s filter, or else at `default_level`; the library only
/// emits events, the binary decides where they go.
pub(crate) fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// 0 on success, else 2 with the error and its causes on one stderr line. Output cut
/// short by its reader (`neardup scan | head`) is not a failure.
pub(crate) fn exit_code(program: &str, outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

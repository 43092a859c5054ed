//! What both binaries (`neardup` and the `neardup-load` developer tool) share around
//! their commands: how a client reaches a secured server, logging to stderr, and turning
//! a command's outcome into an exit code.

use std::io::IsTerminal;
#[cfg(feature = "server")]
use std::path::PathBuf;
use std::process::ExitCode;

/// TLS and credentials of the commands that talk to a server.
#[cfg(feature = "server")]
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ConnectArgs {
    /// PEM CA certificate to verify the server with [default: the system's]
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// PEM client certificate, for a server that requires one (mutual TLS)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Bearer token to send (prefer --token-file)
    ///
    /// A token on the command line is visible to other local users in the process
    /// list; one in the environment is not.
    #[arg(long, env = "NEARDUP_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// File whose first line is the bearer token to send
    #[arg(long, value_name = "FILE", env = "NEARDUP_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
}

#[cfg(feature = "server")]
impl ConnectArgs {
    /// The library's connection options: the TLS files, and the token of `--token` (or
    /// NEARDUP_TOKEN), else of `--token-file` (or NEARDUP_TOKEN_FILE).
    pub(crate) fn options(&self) -> anyhow::Result<neardup::service::client::ConnectOptions> {
        let options = neardup::service::client::ConnectOptions {
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            token: self.token.clone(),
        };
        match &self.token_file {
            Some(path) if self.token.is_none() => Ok(options.with_token_file(path)?),
            _ => Ok(options),
        }
    }
}

/// Logs to stderr at `RUST_LOG`'s filter, or else at `default_level`, as text or one
/// JSON object per line; the library only emits events, the binary decides where they
/// go. JSON lines carry `timestamp`, `level`, `target`, `message` and the event's fields
/// at the top level, where log collectors look for them.
pub(crate) fn init_logging(default_level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).with_current_span(false).with_span_list(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
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

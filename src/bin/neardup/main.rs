//! The `neardup` binary: parses arguments, installs logging, runs one subcommand and
//! turns its outcome into an exit code (0 success, 2 any error, with `{err:#}` on stderr).

mod args;
#[cfg(feature = "server")]
mod remote;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Cli, Command, CompactArgs, EvalArgs, ScanArgs};
use neardup::eval::{Label, score};
use neardup::scan::{ScanOptions, save, scan, write_assignments, write_clusters};
use neardup::store::{Store, now_millis, read_manifest};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server should say what it does without RUST_LOG; batch commands stay quiet.
    #[cfg(feature = "server")]
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "error" };
    #[cfg(not(feature = "server"))]
    let default_level = "error";
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("neardup: {err:#}");
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Eval(args) => run_eval(&args),
        Command::Compact(args) => run_compact(&args),
        Command::Config(args) => {
            println!("{}", serde_json::to_string_pretty(&args.to_config()?)?);
            Ok(())
        }
        #[cfg(feature = "server")]
        Command::Serve(args) => run_serve(&args),
        #[cfg(feature = "server")]
        Command::Ingest(args) => runtime()?.block_on(remote::run(&args, remote::Mode::Ingest)),
        #[cfg(feature = "server")]
        Command::Check(args) => runtime()?.block_on(remote::run(&args, remote::Mode::Check)),
    }
}

#[cfg(feature = "server")]
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

#[cfg(feature = "server")]
fn run_serve(args: &args::ServeArgs) -> Result<()> {
    let config = args.to_config()?;
    runtime()?.block_on(async {
        let dir = config.store.data_dir.clone();
        // Signal handlers go in before the server listens: a SIGTERM sent as soon as it
        // answers must stop it cleanly, not kill it by the default action.
        let shutdown = shutdown_signal();
        let server = neardup::service::Server::bind(config).await?;
        let address = server.local_addr();
        if let Some(path) = &args.address_file {
            write_address_file(path, address)?;
        }
        eprintln!("neardup: listening on {address} (data in {})", dir.display());
        server.run(shutdown).await?;
        eprintln!("neardup: stopped");
        Ok(())
    })
}

/// Writes `address` to `path` as `HOST:PORT` through a rename, so a reader that sees the
/// file never sees it half written.
#[cfg(feature = "server")]
fn write_address_file(path: &Path, address: std::net::SocketAddr) -> Result<()> {
    let mut temporary = std::ffi::OsString::from(path.as_os_str());
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    std::fs::write(&temporary, address.to_string())
        .with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("failed to rename {} to {}", temporary.display(), path.display()))
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are registered
/// by this call, not when the future is first polled.
#[cfg(feature = "server")]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            (interrupt, terminate) => {
                let err = interrupt.err().or(terminate.err());
                tracing::warn!(error = ?err, "cannot listen for signals; stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

fn run_scan(args: &ScanArgs) -> Result<()> {
    let config = args.detector.to_config()?;
    let options = ScanOptions {
        fields: args.input.fields(),
        format: args.input.format(),
        skip_invalid: args.skip_invalid,
        progress: (!args.no_progress).then(progress_bar),
        explain: args.explain,
    };
    let report = scan(&args.inputs, &config, &options)?;
    for message in &report.invalid {
        eprintln!("neardup: skipped {message}");
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(create(path)?)),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    write_assignments(&report, &config, args.explain, &mut out)
        .context("failed to write results")?;
    if let Some(path) = &args.clusters {
        write_clusters(&report, &mut BufWriter::new(create(path)?))
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    if let Some(dir) = &args.save {
        let saved = save(&report, &config, dir, now_millis())
            .with_context(|| format!("failed to save {}", dir.display()))?;
        eprintln!("neardup: saved {saved} articles to {}", dir.display());
    }
    eprintln!("neardup: {}", report.summary());
    Ok(())
}

/// A progress display on stderr for [`scan`], when stderr is a terminal.
fn progress_bar() -> std::sync::Arc<neardup::scan::ProgressFn> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use neardup::scan::Progress;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let bytes_style = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let spinner_style = ProgressStyle::with_template("{spinner} clustering {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    std::sync::Arc::new(move |progress| match progress {
        Progress::Pass { name, number, of, bytes } => {
            bar.reset();
            bar.set_style(bytes_style.clone());
            bar.set_length(bytes);
            bar.set_message(format!("pass {number}/{of}, {name}"));
        }
        Progress::Read(bytes) => bar.inc(bytes),
        // Clustering has no byte count to show; say that it runs, and for how long.
        Progress::Clustering => {
            bar.reset();
            bar.set_style(spinner_style.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
        }
        Progress::Done => bar.finish_and_clear(),
    })
}

fn run_compact(args: &CompactArgs) -> Result<()> {
    let config = args.to_config()?;
    let dir = &config.data_dir;
    let Some(manifest) = read_manifest(dir)? else {
        bail!("{} is not a data directory (no manifest)", dir.display());
    };
    let detector = manifest.detector_config(dir)?;
    let (store, recovered) = Store::open(&config, &detector)?;
    drop(recovered);
    let report = store.compact()?;
    store.close()?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("failed to create {}", path.display()))
}

fn run_eval(args: &EvalArgs) -> Result<()> {
    let truth = load_labels(&args.truth, NullCluster::Named)?;
    let pred: HashMap<String, Label> =
        load_labels(&args.pred, NullCluster::Singleton)?.into_iter().collect();
    let scores = score(&truth, &pred);
    if args.json {
        println!("{}", serde_json::to_string(&scores)?);
    } else {
        println!("docs: {}", scores.docs);
        println!("true_clusters: {}", scores.true_clusters);
        println!("pred_clusters: {}", scores.pred_clusters);
        println!("precision: {:.4}", scores.precision);
        println!("recall: {:.4}", scores.recall);
        println!("f1: {:.4}", scores.f1);
        println!("ari: {:.4}", scores.ari);
        if let Some(accuracy) = scores.origin_accuracy {
            println!("origin_accuracy: {accuracy:.4}");
        }
        println!("missing: {}", scores.missing);
    }
    Ok(())
}

/// What a null or missing `cluster` means. score.py stringifies the truth's (so all
/// unlabelled truth documents form one cluster "None") and treats the prediction's as a
/// singleton; we follow it so both tools give the same figures.
#[derive(Clone, Copy)]
enum NullCluster {
    Named,
    Singleton,
}

/// Reads `{id, cluster[, origin]}` lines.
fn load_labels(path: &Path, null_cluster: NullCluster) -> Result<Vec<(String, Label)>> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let mut out = Vec::new();
    for (ix, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), ix + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        let Some(id) = row.get("id").and_then(text) else { bail!("{}: no id", at()) };
        let cluster = match (row.get("cluster").and_then(text), null_cluster) {
            (Some(cluster), _) => cluster,
            (None, NullCluster::Named) => "None".to_owned(),
            (None, NullCluster::Singleton) => format!("\u{0}single:{id}"),
        };
        let origin = row.get("origin").and_then(text);
        out.push((id, Label { cluster, origin }));
    }
    Ok(out)
}

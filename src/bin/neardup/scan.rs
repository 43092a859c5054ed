//! `neardup scan`: clusters corpora on a pool of `--threads` workers through the
//! library's batch pipeline and writes one row per article (and optionally one per
//! cluster, the rejected records, or a data directory for `serve`), each output in the
//! format its name asks for. The progress bar lives here, behind the library's
//! [`ProgressFn`] callback, so the library never draws on a terminal itself.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::ScanArgs;
use neardup::scan::{
    OutputFormat, Progress, ProgressFn, ScanOptions, Sink, emit_parquet, save, scan,
    write_assignments_to, write_clusters_to, write_rejects,
};
use neardup::store::now_millis;

/// Runs `neardup scan`.
pub(crate) fn run(args: &ScanArgs) -> Result<()> {
    let config = args.detector.to_config()?;
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("-"));
    check_outputs(args, &out)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.map_or(0, usize::from))
        .build()
        .context("failed to start the worker threads")?;
    pool.install(|| {
        let options = ScanOptions {
            read: args.input.read_options(),
            skip_invalid: args.skip_invalid || args.rejects.is_some(),
            progress: (!args.no_progress).then(progress_bar),
            explain: args.explain,
            keep_signatures: args.save.is_some() || args.emit_parquet.is_some(),
        };
        let report = scan(&args.inputs, &config, &options)?;
        for warning in &report.warnings {
            eprintln!("neardup: warning: {warning}");
        }
        match &args.rejects {
            Some(path) => write(path, |sink| write_rejects(&report.invalid, sink))?,
            None => {
                for reject in &report.invalid {
                    eprintln!("neardup: skipped {reject}");
                }
            }
        }
        write(&out, |sink| write_assignments_to(&report, &config, args.explain, sink))?;
        if let Some(path) = &args.clusters {
            write(path, |sink| write_clusters_to(&report, sink))?;
        }
        if let Some(dir) = &args.save {
            let saved = save(&report, &config, dir, now_millis())
                .with_context(|| format!("failed to save {}", dir.display()))?;
            eprintln!("neardup: saved {saved} articles to {}", dir.display());
        }
        if let Some(dir) = &args.emit_parquet {
            let emitted = emit_parquet(&report, &config, dir).with_context(|| {
                format!("failed to write the stage tables to {}", dir.display())
            })?;
            eprintln!(
                "neardup: wrote {} documents ({} with band rows, {} band rows) to {}",
                emitted.documents,
                emitted.representatives,
                emitted.band_rows,
                dir.display()
            );
        }
        eprintln!("neardup: {}", report.summary(&config));
        if let Some(path) = args.rejects.as_ref().filter(|_| !report.invalid.is_empty()) {
            eprintln!("neardup: the skipped records are in {}", path.display());
        }
        Ok(())
    })
}

/// Refuses, before the scan, outputs that could not be written: two on standard output,
/// a format that cannot hold what is asked.
fn check_outputs(args: &ScanArgs, out: &Path) -> Result<()> {
    let outputs = [Some(out), args.clusters.as_deref(), args.rejects.as_deref()];
    if outputs.iter().flatten().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("only one of --out, --clusters and --rejects can be standard output (-)");
    }
    for path in outputs.iter().flatten() {
        OutputFormat::of_path(path)?;
    }
    if args.explain && OutputFormat::of_path(out)? != OutputFormat::Jsonl {
        bail!("--explain is written as JSONL only; name --out .jsonl or leave it out");
    }
    if let Some(path) = &args.rejects
        && OutputFormat::of_path(path)? == OutputFormat::Parquet
    {
        bail!("--rejects is written as JSONL or CSV, not Parquet");
    }
    Ok(())
}

/// Creates `path`, lets `body` fill it and finishes it, naming the file on failure.
fn write(path: &Path, body: impl FnOnce(&mut Sink) -> std::io::Result<()>) -> Result<()> {
    let mut sink = Sink::create(path)?;
    body(&mut sink)
        .and_then(|()| sink.finish())
        .with_context(|| format!("failed to write {}", path.display()))
}

/// A progress display on stderr, drawn only when stderr is a terminal so that logs and
/// pipes get no control characters.
fn progress_bar() -> Arc<ProgressFn> {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    // The bar takes what the rest leaves of the terminal's width (about 70 columns).
    let bytes_style = ProgressStyle::with_template(
        "{spinner} {msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let spinner_style = ProgressStyle::with_template("{spinner} clustering {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    Arc::new(move |progress| match progress {
        Progress::Pass { name, number, of, bytes } => {
            bar.reset();
            bar.set_style(bytes_style.clone());
            bar.set_length(bytes);
            bar.set_message(format!("{number}/{of} {name}"));
        }
        Progress::Read(bytes) => bar.inc(bytes),
        // Clustering has no byte count to show; say that it runs, and for how long.
        Progress::Clustering => {
            bar.reset();
            bar.set_style(spinner_style.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Progress::Done => bar.finish_and_clear(),
    })
}

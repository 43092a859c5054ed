//! `neardup scan`: clusters corpora on every core through the library's batch pipeline
//! and writes one JSON line per article (and optionally one per cluster, or a data
//! directory for `serve`). The progress bar lives here, behind the library's
//! [`ProgressFn`] callback, so the library never draws on a terminal itself.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::ScanArgs;
use neardup::scan::{
    Progress, ProgressFn, ScanOptions, save, scan, write_assignments, write_clusters,
};
use neardup::store::now_millis;

/// Runs `neardup scan`.
pub(crate) fn run(args: &ScanArgs) -> Result<()> {
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

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("failed to create {}", path.display()))
}

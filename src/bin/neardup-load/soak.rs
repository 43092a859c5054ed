//! `neardup-load soak`: a load and soak test over loopback, bounded in time and requests,
//! that stops by itself. It starts `neardup serve` on a data directory, runs many clients
//! (each on its own connection) mixing streamed ingest, checks and removes, samples the
//! server's resident memory, then SIGKILLs the server, starts it again on the same
//! directory and checks that every acknowledged article (not removed, and inside the time
//! window if one is set) is still there.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::harness::{ServerProcess, load_corpus, memory, neardup_binary, nth_article};
use neardup::config::parse_duration;
use neardup::service::client::{self, Client, ConnectOptions};
use neardup::service::{convert, pb};
use neardup::store::now_millis;

/// Longest wait for the server to serve, restoring its data directory included.
const STARTUP_LIMIT: Duration = Duration::from_secs(600);

/// `neardup-load soak`.
#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Corpus to draw articles from (JSONL); each pass over it gets new words, so every
    /// article is a new story or a copy within its pass.
    #[arg(long)]
    pub(crate) corpus: PathBuf,
    /// Data directory for the server (created; reused by the restart after the kill).
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Concurrent clients, each on its own connection.
    #[arg(long, default_value_t = 64)]
    pub(crate) clients: usize,
    /// Upper bound on requests in total (stream messages, checks and removes).
    #[arg(long, default_value_t = 50_000_000)]
    pub(crate) max_requests: u64,
    /// Articles per IngestStream call.
    #[arg(long, default_value_t = 16)]
    pub(crate) batch: usize,
    /// Time window passed to the server as `--window` (e.g. `2m`), so memory stays flat
    /// once it is full; articles are dated at the time they are sent.
    #[arg(long)]
    pub(crate) window: Option<String>,
    /// Seconds of the window's edge left out of the check after the restart: articles
    /// that old may have expired legitimately.
    #[arg(long, default_value_t = 10)]
    pub(crate) window_margin: u64,
    /// More arguments for `neardup serve` (repeatable), e.g. `--serve-arg=--sync=batch`.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) serve_arg: Vec<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    seconds: f64,
    clients: usize,
    requests: u64,
    ingested: u64,
    checks: u64,
    removes: u64,
    errors: u64,
    first_errors: Vec<String>,
    rss_start_bytes: u64,
    rss_peak_bytes: u64,
    rss_end_bytes: u64,
    /// RSS every tenth of the run, to see whether it flattens.
    rss_samples_bytes: Vec<u64>,
    acknowledged: u64,
    removed: u64,
    expected_after_restart: u64,
    found_after_restart: u64,
    missing_after_restart: u64,
    documents_before_kill: u64,
    documents_after_restart: u64,
}

/// What the clients share.
struct Shared {
    corpus: Vec<pb::Article>,
    next_article: AtomicUsize,
    requests: AtomicU64,
    ingested: AtomicU64,
    checks: AtomicU64,
    removes: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    /// Acknowledged and not removed: id with its publication time (Unix ms).
    kept: Mutex<Vec<(String, i64)>>,
    removed: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    async fn error(&self, what: &str, status: &tonic::Status) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().await;
        if first.len() < 10 {
            first.push(format!("{what}: {:?}: {}", status.code(), status.message()));
        }
    }

    fn out_of_budget(&self, max: u64) -> bool {
        self.stop.load(Ordering::Relaxed) || self.requests.load(Ordering::Relaxed) >= max
    }
}

/// Runs the soak and prints the report; fails when anything acknowledged is missing
/// after the restart or any request failed.
pub(crate) async fn run(args: &SoakArgs, neardup: Option<&Path>) -> Result<()> {
    if args.clients == 0 || args.batch == 0 {
        bail!("--clients and --batch must be at least 1");
    }
    let window_span =
        args.window.as_deref().map(|text| parse_duration("window", text)).transpose()?;
    let binary = neardup_binary(neardup)?;
    let corpus = load_corpus(&args.corpus)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("failed to create {}", args.data_dir.display()))?;
    let mut serve_args: Vec<OsString> = vec!["--data-dir".into(), args.data_dir.clone().into()];
    if let Some(window) = &args.window {
        serve_args.extend(["--window".into(), window.into()]);
    }
    serve_args.extend(args.serve_arg.iter().map(OsString::from));
    let options = ConnectOptions::default();

    let server = ServerProcess::start(&binary, &serve_args, STARTUP_LIMIT).await?;
    let (pid, url) = (server.pid(), server.url());
    let rss = move || memory(pid).rss.unwrap_or(0);
    let mut report = Report { clients: args.clients, rss_start_bytes: rss(), ..Report::default() };
    let shared = Arc::new(Shared {
        corpus,
        next_article: AtomicUsize::new(0),
        requests: AtomicU64::new(0),
        ingested: AtomicU64::new(0),
        checks: AtomicU64::new(0),
        removes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        kept: Mutex::new(Vec::new()),
        removed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });

    let duration = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let sampler = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut peak = 0u64;
            let mut samples = Vec::new();
            let mut next_sample = Duration::ZERO;
            while !shared.stop.load(Ordering::Relaxed) {
                let now = rss();
                peak = peak.max(now);
                if started.elapsed() >= next_sample {
                    samples.push(now);
                    next_sample += duration / 10;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (peak, samples)
        })
    };
    let mut tasks = Vec::new();
    for client_ix in 0..args.clients {
        let client = client::connect(&url, &options).await?;
        let shared = Arc::clone(&shared);
        let (batch, max) = (args.batch, args.max_requests);
        tasks.push(tokio::spawn(client_loop(client, shared, client_ix, batch, max)));
    }
    tokio::time::sleep(duration).await;
    shared.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.context("client task panicked")?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    let (peak, samples) = sampler.await.context("sampler panicked")?;
    report.rss_end_bytes = rss();
    report.rss_peak_bytes = peak.max(report.rss_end_bytes);
    report.rss_samples_bytes = samples;
    let stats = client::connect(&url, &options).await?.stats(pb::StatsRequest {}).await?;
    report.documents_before_kill = stats.into_inner().documents;

    // SIGKILL: no shutdown path runs, only what was made durable before each answer counts.
    server.kill()?;
    let restarted = ServerProcess::start(&binary, &serve_args, STARTUP_LIMIT).await?;
    let restarted_url = restarted.url();
    let mut client = client::connect(&restarted_url, &options).await?;
    report.documents_after_restart =
        client.stats(pb::StatsRequest {}).await?.into_inner().documents;

    report.requests = shared.requests.load(Ordering::Relaxed);
    report.ingested = shared.ingested.load(Ordering::Relaxed);
    report.checks = shared.checks.load(Ordering::Relaxed);
    report.removes = shared.removes.load(Ordering::Relaxed);
    report.errors = shared.errors.load(Ordering::Relaxed);
    report.first_errors = shared.first_errors.lock().await.clone();
    report.removed = shared.removed.load(Ordering::Relaxed);
    let kept = std::mem::take(&mut *shared.kept.lock().await);
    report.acknowledged = report.ingested;
    // Under a window, articles near its edge may have expired: check only younger ones.
    let newest = kept.iter().map(|(_, at)| *at).max().unwrap_or(0);
    let oldest_checked = window_span
        .map_or(i64::MIN, |w| newest - w.as_millis() as i64 + (args.window_margin as i64) * 1000);
    let expected: Vec<String> =
        kept.into_iter().filter(|(_, at)| *at >= oldest_checked).map(|(id, _)| id).collect();
    report.expected_after_restart = expected.len() as u64;
    report.found_after_restart = verify(&restarted_url, &options, expected).await?;
    report.missing_after_restart = report.expected_after_restart - report.found_after_restart;

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        let mib = |b: u64| b as f64 / f64::from(1 << 20);
        writeln!(
            out,
            "soak: {} clients for {:.0} s: {} requests ({} articles ingested, {} checks, {} removes), {} errors",
            report.clients,
            report.seconds,
            report.requests,
            report.ingested,
            report.checks,
            report.removes,
            report.errors
        )?;
        writeln!(
            out,
            "server RSS: start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB; samples {:?} MiB",
            mib(report.rss_start_bytes),
            mib(report.rss_peak_bytes),
            mib(report.rss_end_bytes),
            report.rss_samples_bytes.iter().map(|b| mib(*b).round()).collect::<Vec<_>>()
        )?;
        writeln!(
            out,
            "after SIGKILL and restart: {} of {} expected articles found ({} missing); documents {} before, {} after",
            report.found_after_restart,
            report.expected_after_restart,
            report.missing_after_restart,
            report.documents_before_kill,
            report.documents_after_restart
        )?;
        for error in &report.first_errors {
            writeln!(out, "error: {error}")?;
        }
    }
    if report.errors > 0 || report.missing_after_restart > 0 {
        bail!(
            "soak failed: {} errors, {} acknowledged articles missing after the restart",
            report.errors,
            report.missing_after_restart
        );
    }
    Ok(())
}

/// One client: in every ten steps, six streamed batches of articles, three checks and
/// one remove of an article it stored, until the time or request budget is spent.
async fn client_loop(
    mut client: Client,
    shared: Arc<Shared>,
    client_ix: usize,
    batch: usize,
    max_requests: u64,
) {
    let mut mine: Vec<(String, i64)> = Vec::new();
    let mut step = client_ix;
    while !shared.out_of_budget(max_requests) {
        step += 1;
        match step % 10 {
            0..=5 => {
                let mut articles = Vec::with_capacity(batch);
                for _ in 0..batch {
                    let i = shared.next_article.fetch_add(1, Ordering::Relaxed);
                    let mut article = nth_article(&shared.corpus, i, "soak-", true);
                    let at = now_millis();
                    article.published_at = Some(convert::timestamp(at));
                    articles.push((article, at));
                }
                let requests: Vec<pb::IngestRequest> = articles
                    .iter()
                    .map(|(a, _)| pb::IngestRequest { article: Some(a.clone()) })
                    .collect();
                shared.requests.fetch_add(batch as u64, Ordering::Relaxed);
                let mut stream = match client.ingest_stream(tokio_stream::iter(requests)).await {
                    Ok(response) => response.into_inner(),
                    Err(status) => {
                        shared.error("IngestStream", &status).await;
                        continue;
                    }
                };
                let mut answered = 0;
                loop {
                    match stream.message().await {
                        Ok(Some(verdict)) => {
                            let (article, at) = &articles[answered];
                            debug_assert_eq!(verdict.id, article.id);
                            mine.push((article.id.clone(), *at));
                            answered += 1;
                        }
                        Ok(None) => break,
                        Err(status) => {
                            shared.error("IngestStream message", &status).await;
                            break;
                        }
                    }
                }
                shared.ingested.fetch_add(answered as u64, Ordering::Relaxed);
            }
            6..=8 => {
                let i = shared.next_article.load(Ordering::Relaxed) + client_ix;
                let article = nth_article(&shared.corpus, i, "check-", true);
                shared.requests.fetch_add(1, Ordering::Relaxed);
                shared.checks.fetch_add(1, Ordering::Relaxed);
                if let Err(status) = client.check(pb::CheckRequest { article: Some(article) }).await
                {
                    shared.error("Check", &status).await;
                }
            }
            _ => {
                let Some((id, _)) = (!mine.is_empty()).then(|| mine.swap_remove(step % mine.len()))
                else {
                    continue;
                };
                shared.requests.fetch_add(1, Ordering::Relaxed);
                shared.removes.fetch_add(1, Ordering::Relaxed);
                match client.remove(pb::RemoveRequest { id: id.clone() }).await {
                    Ok(_) => {
                        shared.removed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => {
                        shared.error("Remove", &status).await;
                        // Unknown fate: keep it out of the check either way.
                    }
                }
            }
        }
    }
    shared.kept.lock().await.extend(mine);
}

/// Counts how many of `ids` the restarted server holds: Remove answers `removed: true`
/// exactly for an article that is indexed (the check consumes the data, which is done).
async fn verify(url: &str, options: &ConnectOptions, ids: Vec<String>) -> Result<u64> {
    const WORKERS: usize = 16;
    let ids = Arc::new(Mutex::new(ids));
    let found = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let mut client = client::connect(url, options).await?;
        let (ids, found, seen) = (Arc::clone(&ids), Arc::clone(&found), Arc::clone(&seen));
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(id) = ids.lock().await.pop() else { return Ok::<_, tonic::Status>(()) };
                if !seen.lock().await.insert(id.clone()) {
                    continue;
                }
                if client.remove(pb::RemoveRequest { id }).await?.into_inner().removed {
                    found.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.context("verify task panicked")?.context("verification call failed")?;
    }
    Ok(found.load(Ordering::Relaxed))
}

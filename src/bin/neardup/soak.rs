//! `neardup soak`: a load and soak test over loopback, bounded in time and requests, that
//! stops by itself. It starts `neardup serve` on a data directory, runs many clients (each
//! on its own connection) mixing streamed ingest, checks and removes, samples the server's
//! resident memory, then SIGKILLs the server, starts it again on the same directory and
//! checks that every acknowledged article (not removed, and inside the time window if one
//! is set) is still there.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::args::ConnectArgs;
use crate::loadgen::{load_corpus, nth_article, wait_until_serving};
use crate::remote::connect;
use neardup::service::{convert, pb};

/// `neardup soak`.
#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Corpus to draw articles from (JSONL); each pass over it gets new words, so every
    /// article is a new story or a copy within its pass.
    #[arg(long, default_value = "../shared/data/synd-dev.jsonl")]
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

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Resident set size of `pid` in bytes (Linux).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs the soak and prints the report; fails when anything acknowledged is missing
/// after the restart or any request failed.
pub(crate) async fn run(args: &SoakArgs) -> Result<()> {
    if args.clients == 0 || args.batch == 0 {
        bail!("--clients and --batch must be at least 1");
    }
    let corpus = load_corpus(&args.corpus)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("failed to create {}", args.data_dir.display()))?;
    let mut serve_args = vec!["--data-dir".to_owned(), args.data_dir.display().to_string()];
    if let Some(window) = &args.window {
        serve_args.extend(["--window".to_owned(), window.clone()]);
    }
    serve_args.extend(args.serve_arg.iter().cloned());
    let connect_args = ConnectArgs::default();

    let (mut server, url) = start_server(&serve_args).await?;
    let pid = server.0.id();
    let mut report = Report {
        clients: args.clients,
        rss_start_bytes: rss_bytes(pid).unwrap_or(0),
        ..Report::default()
    };
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
                let rss = rss_bytes(pid).unwrap_or(0);
                peak = peak.max(rss);
                if started.elapsed() >= next_sample {
                    samples.push(rss);
                    next_sample += duration / 10;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (peak, samples)
        })
    };
    let mut tasks = Vec::new();
    for client_ix in 0..args.clients {
        let client = connect(&url, &connect_args).await?;
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
    report.rss_end_bytes = rss_bytes(pid).unwrap_or(0);
    report.rss_peak_bytes = peak.max(report.rss_end_bytes);
    report.rss_samples_bytes = samples;
    let stats = connect(&url, &connect_args).await?.stats(pb::StatsRequest {}).await?;
    report.documents_before_kill = stats.into_inner().documents;

    // SIGKILL: no shutdown path runs, only what was made durable before each answer counts.
    server.0.kill().context("failed to kill the server")?;
    server.0.wait().context("failed to reap the server")?;
    drop(server);
    let (_restarted, url) = start_server(&serve_args).await?;
    let mut client = connect(&url, &connect_args).await?;
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
    let window_ms = args.window.as_deref().map(parse_window).transpose()?;
    let oldest_checked =
        window_ms.map_or(i64::MIN, |w| newest - w + (args.window_margin as i64) * 1000);
    let expected: Vec<String> =
        kept.into_iter().filter(|(_, at)| *at >= oldest_checked).map(|(id, _)| id).collect();
    report.expected_after_restart = expected.len() as u64;
    report.found_after_restart = verify(&url, &connect_args, expected).await?;
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
    mut client: neardup::service::client::Client,
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

/// Kills the server it holds when dropped, so an error cannot leave it running.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `neardup serve --listen 127.0.0.1:0 EXTRA...`, waits until it answers SERVING
/// and returns it with its URL.
async fn start_server(extra: &[String]) -> Result<(ChildGuard, String)> {
    let exe = std::env::current_exe().context("cannot find the neardup binary")?;
    let child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("failed to start neardup serve")?;
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.context("failed to read the server's output")?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap_or_default().to_owned();
            url = Some(format!("http://{address}"));
            break;
        }
        log.push(line);
    }
    let Some(url) = url else {
        bail!("neardup serve exited before listening:\n{}", log.join("\n"))
    };
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    wait_until_serving(&url, Duration::from_secs(600)).await?;
    Ok((guard, url))
}

/// Counts how many of `ids` the restarted server holds: Remove answers `removed: true`
/// exactly for an article that is indexed (the check consumes the data, which is done).
async fn verify(url: &str, connect_args: &ConnectArgs, ids: Vec<String>) -> Result<u64> {
    const WORKERS: usize = 16;
    let ids = Arc::new(Mutex::new(ids));
    let found = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let mut client = connect(url, connect_args).await?;
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

/// `90s`, `2m`, `1h`, `7d` to milliseconds (the same units `serve --window` takes).
fn parse_window(text: &str) -> Result<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().with_context(|| format!("bad window {text:?}"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("bad window unit in {text:?} (ms, s, m, h or d)"),
    };
    Ok(number * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("90s").unwrap(), 90_000);
        assert_eq!(parse_window("2m").unwrap(), 120_000);
        assert_eq!(parse_window("7d").unwrap(), 7 * 86_400_000);
        assert!(parse_window("2 weeks").is_err());
    }

    #[test]
    fn own_rss_is_read() {
        let rss = rss_bytes(std::process::id()).unwrap();
        assert!(rss > 1 << 20, "{rss}");
    }
}

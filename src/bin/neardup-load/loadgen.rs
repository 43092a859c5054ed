//! `neardup-load loadgen`: a load generator for the service, over loopback only and
//! bounded in requests and time. When it starts the server itself it reports the time
//! until the server's health check says SERVING (the restart time of an existing data
//! directory).
//! Phase 1 sends a corpus, repeated with id suffixes up to the requested count, through
//! concurrent `IngestStream` calls (or unary `Ingest` clients) and reports articles/s.
//! Phase 2 runs concurrent clients, each on its own connection, sending `Check` calls
//! one after another, and reports latency percentiles.
//! With `--http`, each phase is run again over the HTTP/JSON API of the same server, with
//! as many clients calling one request at a time (`http.rs`), and both faces are
//! reported side by side: the ingest over HTTP continues the corpus where the gRPC
//! ingest stopped, the Checks are the same articles.

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use tonic::transport::Endpoint;

use crate::harness::{
    ScratchDir, ServerProcess, cpu_seconds, load_corpus, memory, neardup_binary, nth_article,
};
use crate::shared::ConnectArgs;
use neardup::service::client::{self, ConnectOptions};
use neardup::service::pb;

/// `neardup-load loadgen`.
#[derive(Debug, Args)]
pub(crate) struct LoadgenArgs {
    /// Corpus to send (JSONL); repeated with id suffixes until --articles are reached.
    #[arg(long)]
    pub(crate) corpus: PathBuf,
    /// A running server on this machine (loopback only), as HOST:PORT or a URL. Without
    /// it, loadgen starts `neardup serve` on a free loopback port and stops it at the end.
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// How to reach a secured --server.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Articles to ingest (phase 1; 0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) articles: usize,
    /// Concurrent IngestStream calls sharing the articles.
    #[arg(long, default_value_t = 2)]
    pub(crate) streams: usize,
    /// Ingest with this many concurrent clients calling the unary Ingest, each on its own
    /// connection and waiting for every answer, instead of --streams streams.
    #[arg(long, value_name = "N")]
    pub(crate) unary_clients: Option<usize>,
    /// Concurrent Check clients, each on its own connection (phase 2).
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Check requests in total across all clients (0 skips phase 2).
    #[arg(long, default_value_t = 50_000)]
    pub(crate) checks: usize,
    /// --sync of the server loadgen starts (always, batch or never).
    #[arg(long, default_value_t = neardup::config::SyncMode::Always, value_name = "always|batch|never")]
    pub(crate) sync: neardup::config::SyncMode,
    /// Data directory of the server loadgen starts (kept); by default a fresh temporary
    /// one, deleted at the end. With an existing directory the report's startup time is
    /// its restart time.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Upper bound on each phase's duration in seconds; a phase stops early when reached.
    #[arg(long, default_value_t = 120)]
    pub(crate) max_seconds: u64,
    /// Make each repetition of the corpus a set of new stories (every word of pass `p`
    /// gets a suffix for `p`), so copies pile up only within a pass; by default a
    /// repetition is an exact copy of the corpus with other ids.
    #[arg(long)]
    pub(crate) distinct_passes: bool,
    /// Run both phases over the HTTP/JSON API too, in the same run: as many HTTP
    /// clients as --unary-clients ingest the next --articles articles, and --clients
    /// clients send the same Checks. Needs --unary-clients (HTTP has no streams) and a
    /// plain-text server.
    #[arg(long)]
    pub(crate) http: bool,
    /// Print the results as one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What the HTTP/JSON face measured (`--http`).
#[derive(Debug, Serialize)]
struct HttpReport {
    ingest_clients: usize,
    ingested: usize,
    ingest_seconds: f64,
    ingest_articles_per_second: f64,
    new_stories: usize,
    #[serde(flatten)]
    check: CheckFigures,
}

/// What one run measured.
#[derive(Debug, Serialize)]
struct Report {
    /// Seconds from starting the server to its health check answering SERVING (only
    /// when loadgen started it).
    startup_seconds: Option<f64>,
    /// Resident and peak resident memory of the server after startup and after the
    /// ingest phase (only when loadgen started it).
    server_rss_after_startup_bytes: Option<u64>,
    server_peak_rss_after_startup_bytes: Option<u64>,
    server_rss_after_ingest_bytes: Option<u64>,
    server_peak_rss_after_ingest_bytes: Option<u64>,
    sync: String,
    corpus_articles: usize,
    ingested: usize,
    ingest_streams: usize,
    ingest_unary_clients: Option<usize>,
    ingest_seconds: f64,
    ingest_articles_per_second: f64,
    new_stories: usize,
    copies: usize,
    index_documents: u64,
    index_memory_bytes: u64,
    disk_bytes: u64,
    /// Records in the log and log syncs since the server started, after the ingest.
    log_records: u64,
    log_syncs: u64,
    check_clients: usize,
    #[serde(flatten)]
    check: CheckFigures,
    /// CPU seconds the server process used in each phase (only when loadgen started it).
    server_cpu_ingest_seconds: Option<f64>,
    server_cpu_check_seconds: Option<f64>,
    /// CPU seconds this client process used in each phase.
    client_cpu_ingest_seconds: Option<f64>,
    client_cpu_check_seconds: Option<f64>,
    /// The same phases over HTTP/JSON (`--http`).
    http: Option<HttpReport>,
}

/// What a Check phase measured.
#[derive(Debug, Default, Serialize)]
struct CheckFigures {
    checks: usize,
    check_seconds: f64,
    checks_per_second: f64,
    check_p50_ms: f64,
    check_p90_ms: f64,
    check_p99_ms: f64,
    check_max_ms: f64,
}

impl CheckFigures {
    /// The figures of `latencies` (in any order) over `time`.
    fn of(mut latencies: Vec<Duration>, time: Duration) -> CheckFigures {
        latencies.sort_unstable();
        CheckFigures {
            checks: latencies.len(),
            check_seconds: time.as_secs_f64(),
            checks_per_second: per_second(latencies.len(), time),
            check_p50_ms: quantile(&latencies, 0.50),
            check_p90_ms: quantile(&latencies, 0.90),
            check_p99_ms: quantile(&latencies, 0.99),
            check_max_ms: quantile(&latencies, 1.0),
        }
    }

    /// The report's line, `label` naming the face.
    fn line(&self, label: &str, clients: usize) -> String {
        format!(
            "{label}: {} calls from {clients} clients in {:.2} s = {:.0}/s; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.checks,
            self.check_seconds,
            self.checks_per_second,
            self.check_p50_ms,
            self.check_p90_ms,
            self.check_p99_ms,
            self.check_max_ms,
        )
    }
}

/// The `q` quantile of sorted `latencies`, in milliseconds.
fn quantile(latencies: &[Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    let ix = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
    latencies[ix].as_secs_f64() * 1e3
}

fn per_second(n: usize, time: Duration) -> f64 {
    if n == 0 { 0.0 } else { n as f64 / time.as_secs_f64() }
}

/// Runs both phases and prints the report. `neardup` is the `--neardup` binary to start
/// when no `--server` is given.
pub(crate) async fn run(args: &LoadgenArgs, neardup: Option<&Path>) -> Result<()> {
    if args.streams == 0 || args.clients == 0 || args.unary_clients == Some(0) {
        bail!("--streams, --unary-clients and --clients must be at least 1");
    }
    if args.http && args.unary_clients.is_none() {
        bail!("--http compares unary calls: give --unary-clients too");
    }
    let corpus = load_corpus(&args.corpus)?;
    let limit = Duration::from_secs(args.max_seconds);
    let options = args.connect.options()?;
    // Declared before the server so that it is deleted after the server is stopped.
    let mut scratch_data = None;
    let mut server = None;
    let mut startup = None;
    let url = match &args.server {
        Some(server) => {
            let url = client::server_url(server, &options)?;
            ensure_loopback(&url)?;
            url
        }
        None => {
            let data_dir = match &args.data_dir {
                Some(dir) => dir.clone(),
                None => scratch_data.insert(ScratchDir::new("data")?).path().to_owned(),
            };
            let serve_args: Vec<OsString> = vec![
                "--sync".into(),
                args.sync.to_string().into(),
                "--data-dir".into(),
                data_dir.into(),
            ];
            let started = Instant::now();
            let started_server =
                ServerProcess::start(&neardup_binary(neardup)?, &serve_args, limit).await?;
            startup = Some(started.elapsed());
            server.insert(started_server).url()
        }
    };
    let server_pid = server.as_ref().map(ServerProcess::pid);
    let memory_of = |pid: Option<u32>| pid.map(memory).unwrap_or_default();
    let after_startup = memory_of(server_pid);
    let cpu = |pid: Option<u32>| pid.and_then(cpu_seconds);
    let me = Some(std::process::id());
    let (server_cpu_0, client_cpu_0) = (cpu(server_pid), cpu(me));
    let (ingested, ingest_time, new_stories) =
        ingest_phase(&url, &options, &corpus, args, limit).await?;
    let (server_cpu_1, client_cpu_1) = (cpu(server_pid), cpu(me));
    let after_ingest = memory_of(server_pid);
    let stats =
        client::connect(&url, &options).await?.stats(pb::StatsRequest {}).await?.into_inner();
    let check = if args.checks > 0 {
        let (latencies, time) = check_phase(&url, &options, &corpus, args, limit).await?;
        CheckFigures::of(latencies, time)
    } else {
        CheckFigures::default()
    };
    let (server_cpu_2, client_cpu_2) = (cpu(server_pid), cpu(me));
    let http = if args.http {
        Some(http_phases(&url, &options, &corpus, args, limit).await?)
    } else {
        None
    };
    drop(server);
    let used = |a: Option<f64>, b: Option<f64>| Some(b? - a?);

    let report = Report {
        startup_seconds: startup.map(|d| d.as_secs_f64()),
        server_rss_after_startup_bytes: after_startup.rss,
        server_peak_rss_after_startup_bytes: after_startup.peak,
        server_rss_after_ingest_bytes: after_ingest.rss,
        server_peak_rss_after_ingest_bytes: after_ingest.peak,
        sync: stats.sync.clone(),
        corpus_articles: corpus.len(),
        ingested,
        ingest_streams: args.streams,
        ingest_unary_clients: args.unary_clients,
        ingest_seconds: ingest_time.as_secs_f64(),
        ingest_articles_per_second: per_second(ingested, ingest_time),
        new_stories,
        copies: ingested - new_stories,
        index_documents: stats.documents,
        index_memory_bytes: stats.memory_bytes,
        disk_bytes: stats.disk_bytes,
        log_records: stats.log_records,
        log_syncs: stats.log_syncs,
        check_clients: args.clients,
        check,
        server_cpu_ingest_seconds: used(server_cpu_0, server_cpu_1),
        server_cpu_check_seconds: used(server_cpu_1, server_cpu_2),
        client_cpu_ingest_seconds: used(client_cpu_0, client_cpu_1),
        client_cpu_check_seconds: used(client_cpu_1, client_cpu_2),
        http,
    };
    // Through a lock with `?`, so a closed pipe (`| head`) ends quietly instead of panicking.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        let mib = |bytes: Option<u64>| {
            bytes.map_or("-".to_owned(), |b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64))
        };
        if let Some(seconds) = report.startup_seconds {
            writeln!(
                out,
                "startup: SERVING after {seconds:.2} s; server RSS {} (peak {})",
                mib(report.server_rss_after_startup_bytes),
                mib(report.server_peak_rss_after_startup_bytes),
            )?;
        }
        let senders = match report.ingest_unary_clients {
            Some(n) => format!("{n} unary clients"),
            None => format!("{} streams", report.ingest_streams),
        };
        writeln!(
            out,
            "ingest (--sync {}): {} articles over {senders} in {:.2} s = {:.0} articles/s ({} new stories, {} copies)",
            report.sync,
            report.ingested,
            report.ingest_seconds,
            report.ingest_articles_per_second,
            report.new_stories,
            report.copies,
        )?;
        writeln!(
            out,
            "index: {} documents, {} heap, {} on disk; server RSS {} (peak {})",
            report.index_documents,
            mib(Some(report.index_memory_bytes)),
            mib(Some(report.disk_bytes)),
            mib(report.server_rss_after_ingest_bytes),
            mib(report.server_peak_rss_after_ingest_bytes),
        )?;
        writeln!(out, "log: {} records, {} syncs", report.log_records, report.log_syncs)?;
        if report.check.checks > 0 {
            writeln!(out, "{}", report.check.line("check", report.check_clients))?;
        }
        let per_call = |seconds: Option<f64>, calls: usize| match seconds {
            Some(s) if calls > 0 => format!("{:.0} us", s * 1e6 / calls as f64),
            _ => "-".to_owned(),
        };
        writeln!(
            out,
            "cpu per call: ingest server {} client {}; check server {} client {}",
            per_call(report.server_cpu_ingest_seconds, report.ingested),
            per_call(report.client_cpu_ingest_seconds, report.ingested),
            per_call(report.server_cpu_check_seconds, report.check.checks),
            per_call(report.client_cpu_check_seconds, report.check.checks),
        )?;
        if let Some(http) = &report.http {
            writeln!(
                out,
                "http ingest: {} articles over {} clients in {:.2} s = {:.0} articles/s ({} new stories)",
                http.ingested,
                http.ingest_clients,
                http.ingest_seconds,
                http.ingest_articles_per_second,
                http.new_stories,
            )?;
            if http.check.checks > 0 {
                writeln!(out, "{}", http.check.line("http check", report.check_clients))?;
            }
        }
    }
    Ok(())
}

/// Both phases again over HTTP/JSON: the next `args.articles` articles, then the same
/// Checks.
async fn http_phases(
    url: &str,
    options: &ConnectOptions,
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    limit: Duration,
) -> Result<HttpReport> {
    let Some(base) = url.strip_prefix("http://") else {
        bail!("--http needs a plain-text server, not {url}");
    };
    let target = crate::http::HttpTarget {
        base: format!("http://{}", base.trim_end_matches('/')),
        token: options.token.clone(),
    };
    let clients = args.unary_clients.unwrap_or(1);
    let distinct = args.distinct_passes;
    let (ingested, ingest_time, new_stories) = crate::http::ingest(
        &target,
        corpus,
        args.articles,
        args.articles,
        distinct,
        clients,
        limit,
    )
    .await?;
    let check = if args.checks > 0 {
        let (latencies, time) =
            crate::http::check(&target, corpus, args.checks, distinct, args.clients, limit).await?;
        CheckFigures::of(latencies, time)
    } else {
        CheckFigures::default()
    };
    Ok(HttpReport {
        ingest_clients: clients,
        ingested,
        ingest_seconds: ingest_time.as_secs_f64(),
        ingest_articles_per_second: per_second(ingested, ingest_time),
        new_stories,
        check,
    })
}

/// Streams `args.articles` articles through `args.streams` concurrent calls, each on
/// its own connection. Returns (verdicts received, wall time, new stories).
async fn ingest_phase(
    url: &str,
    options: &ConnectOptions,
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    limit: Duration,
) -> Result<(usize, Duration, usize)> {
    if let Some(unary) = args.unary_clients {
        return unary_ingest_phase(url, options, corpus, args, unary, limit).await;
    }
    // Requests are built before the clock starts: the client's JSON parsing is not the
    // server's cost.
    let mut per_stream: Vec<Vec<pb::IngestRequest>> = vec![Vec::new(); args.streams];
    for i in 0..args.articles {
        let article = nth_article(corpus, i, "", args.distinct_passes);
        per_stream[i % args.streams].push(pb::IngestRequest { article: Some(article) });
    }
    let mut clients = Vec::new();
    for _ in 0..args.streams {
        clients.push(client::connect(url, options).await?);
    }
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for (mut client, requests) in clients.into_iter().zip(per_stream) {
        tasks.push(tokio::spawn(async move {
            let requests =
                tokio_stream::StreamExt::take_while(tokio_stream::iter(requests), move |_| {
                    Instant::now() < deadline
                });
            let mut verdicts = client.ingest_stream(requests).await?.into_inner();
            let (mut received, mut new_stories) = (0usize, 0usize);
            while let Some(verdict) = verdicts.message().await? {
                received += 1;
                new_stories += usize::from(verdict.kind() == pb::Kind::NewStory);
            }
            Ok::<_, tonic::Status>((received, new_stories))
        }));
    }
    let (mut received, mut new_stories) = (0, 0);
    for task in tasks {
        let (r, n) = task.await?.context("ingest stream failed")?;
        received += r;
        new_stories += n;
    }
    Ok((received, started.elapsed(), new_stories))
}

/// `args.articles` unary Ingest calls from `clients` clients, each waiting for its
/// answer before sending the next: what many independent producers look like, and what
/// group commit is for. Returns (verdicts received, wall time, new stories).
async fn unary_ingest_phase(
    url: &str,
    options: &ConnectOptions,
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    clients: usize,
    limit: Duration,
) -> Result<(usize, Duration, usize)> {
    let requests: Arc<Vec<pb::IngestRequest>> = Arc::new(
        (0..args.articles)
            .map(|i| pb::IngestRequest {
                article: Some(nth_article(corpus, i, "", args.distinct_passes)),
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut connected = Vec::new();
    for _ in 0..clients {
        connected.push(client::connect(url, options).await?);
    }
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for mut client in connected {
        let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let (mut received, mut new_stories) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests.len() || Instant::now() >= deadline {
                    return Ok::<_, tonic::Status>((received, new_stories));
                }
                let verdict = client.ingest(requests[i].clone()).await?.into_inner();
                received += 1;
                new_stories += usize::from(verdict.kind() == pb::Kind::NewStory);
            }
        }));
    }
    let (mut received, mut new_stories) = (0, 0);
    for task in tasks {
        let (r, n) = task.await?.context("ingest call failed")?;
        received += r;
        new_stories += n;
    }
    Ok((received, started.elapsed(), new_stories))
}

/// `args.checks` Check calls from `args.clients` clients, each waiting for its answer
/// before sending the next. Returns every latency and the wall time.
async fn check_phase(
    url: &str,
    options: &ConnectOptions,
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    limit: Duration,
) -> Result<(Vec<Duration>, Duration)> {
    let corpus: Arc<Vec<pb::Article>> = Arc::new(corpus.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(client::connect(url, options).await?);
    }
    let started = Instant::now();
    let deadline = started + limit;
    let total = args.checks;
    let distinct = args.distinct_passes;
    let mut tasks = Vec::new();
    for mut client in clients {
        let (corpus, next) = (Arc::clone(&corpus), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    return Ok::<_, tonic::Status>(latencies);
                }
                let request =
                    pb::CheckRequest { article: Some(nth_article(&corpus, i, "check-", distinct)) };
                let sent = Instant::now();
                client.check(request).await?;
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await?.context("check call failed")?);
    }
    if latencies.is_empty() {
        bail!("no check completed within --max-seconds");
    }
    Ok((latencies, started.elapsed()))
}

/// Refuses anything but a loopback server: a load generator must not hit other hosts.
fn ensure_loopback(url: &str) -> Result<()> {
    let endpoint =
        Endpoint::from_shared(url.to_owned()).with_context(|| format!("bad URL {url}"))?;
    let host = endpoint.uri().host().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("loadgen only targets loopback servers, not {host:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_servers() {
        for url in ["http://127.0.0.1:50051", "http://localhost:1", "http://[::1]:9"] {
            assert!(ensure_loopback(url).is_ok(), "{url}");
        }
        for url in ["http://10.0.0.1:50051", "http://example.com:80"] {
            assert!(ensure_loopback(url).is_err(), "{url}");
        }
    }
}

//! `neardup loadgen`: a load generator for the service, over loopback only and bounded
//! in requests and time. When it starts the server itself it reports the time until the
//! server's health check says SERVING (the restart time of an existing data directory).
//! Phase 1 sends a corpus, repeated with id suffixes up to the requested count, through
//! concurrent `IngestStream` calls (or unary `Ingest` clients) and reports articles/s.
//! Phase 2 runs concurrent clients, each on its own connection, sending `Check` calls
//! one after another, and reports latency percentiles.

use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tonic::transport::Endpoint;

use crate::args::LoadgenArgs;
use crate::remote::connect;
use neardup::scan::input::{self, Fields};
use neardup::service::convert;
use neardup::service::pb;

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
    checks: usize,
    check_seconds: f64,
    checks_per_second: f64,
    check_p50_ms: f64,
    check_p90_ms: f64,
    check_p99_ms: f64,
    check_max_ms: f64,
    /// CPU seconds the server process used in each phase (only when loadgen started it).
    server_cpu_ingest_seconds: Option<f64>,
    server_cpu_check_seconds: Option<f64>,
    /// CPU seconds this client process used in each phase.
    client_cpu_ingest_seconds: Option<f64>,
    client_cpu_check_seconds: Option<f64>,
}

/// Runs both phases and prints the report.
pub(crate) async fn run(args: &LoadgenArgs) -> Result<()> {
    if args.streams == 0 || args.clients == 0 || args.unary_clients == Some(0) {
        bail!("--streams, --unary-clients and --clients must be at least 1");
    }
    let corpus = load_corpus(&args.corpus)?;
    let mut server = None;
    let mut startup = None;
    let url = match &args.server {
        Some(url) => {
            ensure_loopback(url)?;
            url.clone()
        }
        None => {
            let started = Instant::now();
            let (guard, url) = start_server(args)?;
            server = Some(guard);
            wait_until_serving(&url, Duration::from_secs(args.max_seconds)).await?;
            startup = Some(started.elapsed());
            url
        }
    };
    let limit = Duration::from_secs(args.max_seconds);
    let server_pid = server.as_ref().map(|s| s.child.id());
    let memory = |pid: Option<u32>| pid.map_or((None, None), memory_bytes);
    let (rss_0, peak_0) = memory(server_pid);
    let cpu = |pid: Option<u32>| pid.and_then(cpu_seconds);
    let me = Some(std::process::id());
    let (server_cpu_0, client_cpu_0) = (cpu(server_pid), cpu(me));
    let (ingested, ingest_time, new_stories) = ingest_phase(&url, &corpus, args, limit).await?;
    let (server_cpu_1, client_cpu_1) = (cpu(server_pid), cpu(me));
    let (rss_1, peak_1) = memory(server_pid);
    let stats = connect(&url, &args.connect).await?.stats(pb::StatsRequest {}).await?.into_inner();
    let (mut latencies, check_time) = if args.checks > 0 {
        check_phase(&url, &corpus, args, limit).await?
    } else {
        (Vec::new(), Duration::ZERO)
    };
    let (server_cpu_2, client_cpu_2) = (cpu(server_pid), cpu(me));
    drop(server);
    let used = |a: Option<f64>, b: Option<f64>| Some(b? - a?);

    latencies.sort_unstable();
    let quantile = |q: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let ix = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[ix].as_secs_f64() * 1e3
    };
    let per_second = |n: usize, time: Duration| {
        if n == 0 { 0.0 } else { n as f64 / time.as_secs_f64() }
    };
    let report = Report {
        startup_seconds: startup.map(|d| d.as_secs_f64()),
        server_rss_after_startup_bytes: rss_0,
        server_peak_rss_after_startup_bytes: peak_0,
        server_rss_after_ingest_bytes: rss_1,
        server_peak_rss_after_ingest_bytes: peak_1,
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
        checks: latencies.len(),
        check_seconds: check_time.as_secs_f64(),
        checks_per_second: per_second(latencies.len(), check_time),
        check_p50_ms: quantile(0.50),
        check_p90_ms: quantile(0.90),
        check_p99_ms: quantile(0.99),
        check_max_ms: quantile(1.0),
        server_cpu_ingest_seconds: used(server_cpu_0, server_cpu_1),
        server_cpu_check_seconds: used(server_cpu_1, server_cpu_2),
        client_cpu_ingest_seconds: used(client_cpu_0, client_cpu_1),
        client_cpu_check_seconds: used(client_cpu_1, client_cpu_2),
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
        if report.checks > 0 {
            writeln!(
                out,
                "check: {} calls from {} clients in {:.2} s = {:.0}/s; latency p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                report.checks,
                report.check_clients,
                report.check_seconds,
                report.checks_per_second,
                report.check_p50_ms,
                report.check_p90_ms,
                report.check_p99_ms,
                report.check_max_ms,
            )?;
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
            per_call(report.server_cpu_check_seconds, report.checks),
            per_call(report.client_cpu_check_seconds, report.checks),
        )?;
    }
    Ok(())
}

/// User plus system CPU seconds of process `pid`, all threads included (Linux only).
fn cpu_seconds(pid: u32) -> Option<f64> {
    // Clock ticks per second of /proc times; 100 on every Linux x86-64 build.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may itself contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident and peak resident bytes of process `pid` (`VmRSS`, `VmHWM`; Linux only).
fn memory_bytes(pid: u32) -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub(crate) fn load_corpus(path: &Path) -> Result<Vec<pb::Article>> {
    if !path.exists() {
        bail!("corpus {} not found (the evaluation data lives in ../shared/data)", path.display());
    }
    let fields = Fields::default();
    let mut out = Vec::new();
    for input in input::open(path, None)? {
        for span in input.spans() {
            let record = input.parse(span, &fields)?;
            out.push(convert::article_from_record(record));
        }
    }
    if out.is_empty() {
        bail!("corpus {} has no articles", path.display());
    }
    Ok(out)
}

/// Article `i` of the repeated corpus: pass `p` of the corpus gets the id suffix `#p`,
/// and with `distinct` its words are marked so that it shares no shingle with other passes.
pub(crate) fn nth_article(
    corpus: &[pb::Article],
    i: usize,
    prefix: &str,
    distinct: bool,
) -> pb::Article {
    let mut article = corpus[i % corpus.len()].clone();
    let pass = i / corpus.len();
    article.id = format!("{prefix}{}#{pass}", article.id);
    if distinct && pass > 0 {
        article.text = mark_words(&article.text, pass);
    }
    article
}

/// Appends a pass-specific letter suffix to every word: copies within one pass still
/// share their words, but no two passes share a word.
fn mark_words(text: &str, pass: usize) -> String {
    let mut suffix = String::from("x");
    let mut n = pass;
    while n > 0 {
        suffix.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut in_word = false;
    for c in text.chars() {
        let word_char = c.is_alphanumeric();
        if in_word && !word_char {
            out.push_str(&suffix);
        }
        out.push(c);
        in_word = word_char;
    }
    if in_word {
        out.push_str(&suffix);
    }
    out
}

/// Streams `args.articles` articles through `args.streams` concurrent calls, each on
/// its own connection. Returns (verdicts received, wall time, new stories).
async fn ingest_phase(
    url: &str,
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    limit: Duration,
) -> Result<(usize, Duration, usize)> {
    if let Some(unary) = args.unary_clients {
        return unary_ingest_phase(url, corpus, args, unary, limit).await;
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
        clients.push(connect(url, &args.connect).await?);
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
        connected.push(connect(url, &args.connect).await?);
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
    corpus: &[pb::Article],
    args: &LoadgenArgs,
    limit: Duration,
) -> Result<(Vec<Duration>, Duration)> {
    let corpus: Arc<Vec<pb::Article>> = Arc::new(corpus.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        clients.push(connect(url, &args.connect).await?);
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

/// Kills the server it holds when dropped, so an error cannot leave it running, and
/// deletes its data directory when loadgen made it.
struct ServerGuard {
    child: Child,
    temporary_dir: Option<PathBuf>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.temporary_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts `neardup serve` on a free loopback port and returns it with its URL, read from
/// the line the server prints when it listens (after opening its data directory).
fn start_server(args: &LoadgenArgs) -> Result<(ServerGuard, String)> {
    let exe = std::env::current_exe().context("cannot find the neardup binary")?;
    let (data_dir, temporary_dir) = match &args.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("neardup-loadgen-{}", std::process::id()));
            (dir.clone(), Some(dir))
        }
    };
    let child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--sync", &args.sync.to_string()])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("failed to start neardup serve")?;
    let mut guard = ServerGuard { child, temporary_dir };
    let stderr = guard.child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.context("failed to read the server's output")?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            let address = rest.split_whitespace().next().unwrap_or_default().to_owned();
            // Keep draining the server's log so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok((guard, format!("http://{address}")));
        }
        log.push(line);
    }
    bail!("neardup serve exited before listening:\n{}", log.join("\n"))
}

/// Polls the standard health check until the service answers SERVING.
pub(crate) async fn wait_until_serving(url: &str, limit: Duration) -> Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let deadline = Instant::now() + limit;
    let endpoint = Endpoint::from_shared(url.to_owned())?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let request = HealthCheckRequest { service: neardup::service::SERVICE_NAME.into() };
            let answer = HealthClient::new(channel).check(request).await;
            if answer.is_ok_and(|a| a.into_inner().status == 1) {
                return Ok(()); // SERVING
            }
        }
        if Instant::now() >= deadline {
            bail!("the server at {url} was not SERVING within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_seconds(std::process::id()).unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_seconds(std::process::id()).unwrap();
        assert!(after - before >= 0.1, "{before} -> {after}");
    }

    #[test]
    fn repeated_ids_are_unique() {
        let corpus = vec![
            pb::Article { id: "a".into(), ..Default::default() },
            pb::Article { id: "b".into(), ..Default::default() },
        ];
        let ids: Vec<String> = (0..5).map(|i| nth_article(&corpus, i, "", false).id).collect();
        assert_eq!(ids, ["a#0", "b#0", "a#1", "b#1", "a#2"]);
    }

    #[test]
    fn distinct_passes_share_no_word() {
        assert_eq!(mark_words("Putin's call, 28 Jan.", 1), "Putinxb'sxb callxb, 28xb Janxb.");
        assert_eq!(mark_words("a", 27), "axbb");
        let pass = |p| mark_words("the same words again", p);
        let words = |t: String| t.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let (one, two) = (words(pass(1)), words(pass(2)));
        assert!(one.iter().all(|w| !two.contains(w)));
        assert_eq!(pass(3), pass(3));
    }
}

//! The HTTP/JSON side of `neardup-load loadgen --http`: unary `POST /v1/articles` and
//! `POST /v1/articles:check` calls from concurrent clients, each on its own HTTP/1.1
//! connection and waiting for every answer, the way the gRPC side's `--unary-clients`
//! and Check clients call, so that the two faces are compared in one run against one
//! server. Request bodies are encoded before the clock starts, as the gRPC side's
//! messages are built before it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::codegen::Bytes;
use tonic::codegen::http::{Method, Request, header};

use crate::harness::nth_article;
use neardup::service::{convert, pb};

/// Where and how to call.
#[derive(Clone)]
pub(crate) struct HttpTarget {
    /// `http://HOST:PORT`.
    pub(crate) base: String,
    pub(crate) token: Option<String>,
}

/// An article as the JSON body of a request (proto names, which the server accepts as
/// it accepts lowerCamelCase).
fn body(article: &pb::Article) -> Result<Bytes> {
    let json = convert::to_json(article, "neardup.v1.Article")?;
    Ok(Bytes::from(serde_json::to_vec(&json)?))
}

/// Sends `bodies` to `path`, `clients` calls at a time, each client waiting for its
/// answer. Returns every latency, the wall time and the new stories among the answers.
async fn run(
    target: &HttpTarget,
    path: &str,
    bodies: Vec<Bytes>,
    clients: usize,
    limit: Duration,
) -> Result<(Vec<Duration>, Duration, usize)> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}{path}", target.base);
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, url, token) =
            (Arc::clone(&bodies), Arc::clone(&next), url.clone(), target.token.clone());
        // One client each: its own connection, kept alive between calls.
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build_http();
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut new_stories) = (Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() || Instant::now() >= deadline {
                    return Ok::<_, anyhow::Error>((latencies, new_stories));
                }
                let mut request = Request::builder()
                    .method(Method::POST)
                    .uri(&url)
                    .header(header::CONTENT_TYPE, "application/json");
                if let Some(token) = &token {
                    request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
                }
                let request = request.body(Full::new(bodies[i].clone()))?;
                let sent = Instant::now();
                let response = client.request(request).await?;
                let status = response.status();
                let bytes = response.into_body().collect().await?.to_bytes();
                latencies.push(sent.elapsed());
                if !status.is_success() {
                    bail!("{url} answered {status}: {}", String::from_utf8_lossy(&bytes));
                }
                // The kind is the only field read; a substring test costs less than
                // parsing the verdict, and the verdict's ids never hold this text.
                new_stories +=
                    usize::from(memchr::memmem::find(&bytes, b"\"NEW_STORY\"").is_some());
            }
        }));
    }
    let (mut latencies, mut new_stories) = (Vec::new(), 0);
    for task in tasks {
        let (l, n) = task.await?.with_context(|| format!("HTTP calls to {path} failed"))?;
        latencies.extend(l);
        new_stories += n;
    }
    Ok((latencies, started.elapsed(), new_stories))
}

/// Ingests articles `first..first + count` of the repeated corpus over HTTP. Returns
/// (verdicts, wall time, new stories).
pub(crate) async fn ingest(
    target: &HttpTarget,
    corpus: &[pb::Article],
    first: usize,
    count: usize,
    distinct: bool,
    clients: usize,
    limit: Duration,
) -> Result<(usize, Duration, usize)> {
    let bodies = (first..first + count)
        .map(|i| body(&nth_article(corpus, i, "", distinct)))
        .collect::<Result<Vec<_>>>()?;
    let (latencies, time, new_stories) =
        run(target, "/v1/articles", bodies, clients, limit).await?;
    Ok((latencies.len(), time, new_stories))
}

/// `count` Checks over HTTP, the same articles the gRPC check phase sends. Returns every
/// latency and the wall time.
pub(crate) async fn check(
    target: &HttpTarget,
    corpus: &[pb::Article],
    count: usize,
    distinct: bool,
    clients: usize,
    limit: Duration,
) -> Result<(Vec<Duration>, Duration)> {
    let bodies = (0..count)
        .map(|i| body(&nth_article(corpus, i, "check-", distinct)))
        .collect::<Result<Vec<_>>>()?;
    let (latencies, time, _) = run(target, "/v1/articles:check", bodies, clients, limit).await?;
    if latencies.is_empty() {
        bail!("no HTTP check completed within --max-seconds");
    }
    Ok((latencies, time))
}

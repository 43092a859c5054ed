//! Prometheus metrics: the recorder behind the `metrics` facade, installed once per
//! process by the first server that has a `metrics_listen` address, and the `/metrics`
//! endpoint (plain HTTP/1, its own listener) that renders it. Counters and histograms
//! are recorded where things happen (requests in `observe.rs`, articles in `rpc.rs`, log
//! appends, fsyncs and compactions in the store); levels that are cheaper to read than
//! to track (documents, stories, memory, the hashing queue) are read at each scrape.
//! Without a recorder every facade call is a no-op, so a server without metrics pays
//! nothing for them.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tonic::codegen::{Bytes, http};

use super::AsyncDetector;

/// Upper bounds (seconds) of the latency histograms: from a tenth of a millisecond (an
/// fsync on fast flash, a Check of a short article) to a minute (the request timeout).
const LATENCY_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use. `None` when another recorder was
/// installed first (a program embedding the server with metrics of its own).
pub(crate) fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .expect("the bucket list is not empty");
    match builder.install_recorder() {
        Ok(handle) => {
            describe();
            Some(handle)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot install the metrics recorder; /metrics stays empty");
            None
        }
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("grpc_server_started_total", "RPCs started on the server.");
    describe_counter!("grpc_server_handled_total", "RPCs completed on the server, by status code.");
    describe_histogram!(
        "grpc_server_handling_seconds",
        Unit::Seconds,
        "Time from the request to its status, by RPC."
    );
    describe_counter!("neardup_articles_ingested_total", "Articles stored, by verdict kind.");
    describe_counter!(
        "neardup_articles_checked_total",
        "Articles labelled by Check, by verdict kind."
    );
    describe_counter!("neardup_articles_removed_total", "Articles retracted by Remove.");
    describe_counter!(
        "neardup_chrome_lines_ignored_total",
        "Lines of ingested articles left out of matching as learned site chrome."
    );
    describe_gauge!("neardup_index_documents", "Articles in the index.");
    describe_gauge!("neardup_index_stories", "Stories (clusters, singletons included).");
    describe_gauge!(
        "neardup_index_memory_bytes",
        Unit::Bytes,
        "Approximate heap bytes of the index, signatures, ids and chrome model."
    );
    describe_gauge!("process_resident_memory_bytes", Unit::Bytes, "Resident memory of the server.");
    describe_gauge!("neardup_hashing_queue_depth", "Articles waiting for or in fingerprinting.");
    describe_gauge!(
        "neardup_hashing_queue_capacity",
        "Size of the hashing queue (limits.hashing_queue)."
    );
    describe_counter!("neardup_log_appends_total", "Records appended to the log.");
    describe_counter!("neardup_log_fsyncs_total", "Syncs (fdatasync) of the log.");
    describe_histogram!("neardup_log_fsync_seconds", Unit::Seconds, "Time of one log sync.");
    describe_gauge!("neardup_log_disk_bytes", Unit::Bytes, "Bytes of the log on disk.");
    describe_gauge!(
        "neardup_kept_text_bytes",
        Unit::Bytes,
        "Article text kept in memory for the story diffs (limits.kept_text_bytes)."
    );
    describe_gauge!("neardup_log_dead_records", "Log records the next compaction drops.");
    describe_counter!("neardup_compactions_total", "Log compactions finished.");
    describe_counter!(
        "neardup_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out."
    );
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, engine: Arc<AsyncDetector>) {
    let Some(handle) = recorder() else { return };
    let mut upkeep = tokio::time::interval(UPKEEP_PERIOD);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = upkeep.tick() => {
                handle.run_upkeep();
                continue;
            }
        };
        let engine = Arc::clone(&engine);
        let service = service_fn(move |request| respond(request, Arc::clone(&engine), handle));
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics endpoint: connection failed");
            }
        });
    }
}

async fn respond(
    request: http::Request<Incoming>,
    engine: Arc<AsyncDetector>,
    handle: &'static PrometheusHandle,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let reply = |status: http::StatusCode, body: String| {
        let mut response = http::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return Ok(reply(
            http::StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n".into(),
        ));
    }
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return Ok(reply(http::StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into()));
    }
    // Reading the index counters walks its ids: off the runtime.
    let _ = tokio::task::spawn_blocking(move || read_levels(&engine)).await;
    handle.run_upkeep();
    let mut response = reply(http::StatusCode::OK, handle.render());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Sets the gauges that are read rather than tracked.
fn read_levels(engine: &AsyncDetector) {
    let durable = engine.durable();
    let index = durable.detector().stats();
    let log = durable.store().stats();
    metrics::gauge!("neardup_index_documents").set(index.documents as f64);
    metrics::gauge!("neardup_index_stories").set(index.clusters as f64);
    metrics::gauge!("neardup_index_memory_bytes").set(index.heap_bytes as f64);
    metrics::gauge!("neardup_log_disk_bytes").set(log.disk_bytes as f64);
    metrics::gauge!("neardup_log_dead_records").set(log.dead_records as f64);
    let (depth, capacity) = engine.hashing_queue();
    metrics::gauge!("neardup_hashing_queue_depth").set(depth as f64);
    metrics::gauge!("neardup_hashing_queue_capacity").set(capacity as f64);
    metrics::gauge!("neardup_kept_text_bytes").set(engine.kept_text_bytes() as f64);
    if let Some(bytes) = resident_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
}

/// Resident memory from `/proc/self/statm` (pages; Linux only).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096))
}

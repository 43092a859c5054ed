//! One log line and the standard gRPC metrics for every request, as the outermost tower
//! layer, so that refusals by the layers inside it (tokens, the in-flight limit) are seen
//! too. A request is over when its status is known: from the response headers for a
//! refusal or a unary error (trailers-only responses), from the trailers of the body
//! otherwise (successes and streams), or when the body is dropped unfinished (the client
//! went away, or the deadline passed). The line carries the RPC, the article or cluster id
//! (handlers add it through [`RequestNote`]), the status code, the latency and the peer;
//! token refusals are logged at warn, health checks at debug, everything else at info.
//! Metric names follow go-grpc-prometheus, which dashboards expect:
//! `grpc_server_started_total`, `grpc_server_handled_total` and
//! `grpc_server_handling_seconds`, labelled `grpc_service`, `grpc_method`, `grpc_type`
//! and (when handled) `grpc_code`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::{Bytes, http};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tower::{Layer, Service};

type Response = http::Response<tonic::body::Body>;

/// What a handler adds to its request's log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestNote(Arc<Mutex<NoteFields>>);

#[derive(Debug, Default)]
struct NoteFields {
    id: Option<String>,
    articles: Option<usize>,
}

impl RequestNote {
    /// The note of `request` (a detached one when the layer is not in front, as in unit
    /// tests of the handlers).
    pub(crate) fn of<T>(request: &tonic::Request<T>) -> RequestNote {
        request.extensions().get::<RequestNote>().cloned().unwrap_or_default()
    }

    /// The article (or cluster) id the request is about.
    pub(crate) fn set_id(&self, id: &str) {
        self.fields().id = Some(id.to_owned());
    }

    /// Articles a stream stored.
    pub(crate) fn set_articles(&self, articles: usize) {
        self.fields().articles = Some(articles);
    }

    fn fields(&self) -> std::sync::MutexGuard<'_, NoteFields> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Tower layer that logs and (when `metrics`) counts every request.
#[derive(Debug, Clone)]
pub(crate) struct ObserveLayer {
    metrics: bool,
    /// The server's own bound on handler time; a client's `grpc-timeout` may be shorter.
    timeout: Duration,
}

impl ObserveLayer {
    pub(crate) fn new(metrics: bool, timeout: Duration) -> Self {
        ObserveLayer { metrics, timeout }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.metrics, timeout: self.timeout }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    metrics: bool,
    timeout: Duration,
}

impl<S, B> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let note = RequestNote::default();
        request.extensions_mut().insert(note.clone());
        let deadline =
            grpc_timeout(request.headers()).map_or(self.timeout, |t| t.min(self.timeout));
        let call = Call::new(request.uri().path(), peer(request.extensions()), note, deadline);
        if self.metrics {
            metrics::counter!("grpc_server_started_total", &call.labels()).increment(1);
        }
        let mut tracker = Tracker { call: Some(call), metrics: self.metrics };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if let Some(status) = Status::from_header_map(response.headers()) {
                tracker.finish(status.code(), status.message());
                return Ok(response);
            }
            Ok(response.map(|body| tonic::body::Body::new(Observed { body, tracker })))
        })
    }
}

/// A request in flight: what its log line and metrics need.
struct Call {
    service: String,
    method: String,
    peer: Option<SocketAddr>,
    note: RequestNote,
    started: Instant,
    deadline: Duration,
}

impl Call {
    fn new(path: &str, peer: Option<SocketAddr>, note: RequestNote, deadline: Duration) -> Call {
        let path = path.trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        Call {
            service: service.to_owned(),
            method: method.to_owned(),
            peer,
            note,
            started: Instant::now(),
            deadline,
        }
    }

    fn labels(&self) -> [(&'static str, String); 3] {
        [
            ("grpc_service", self.service.clone()),
            ("grpc_method", self.method.clone()),
            ("grpc_type", grpc_type(&self.method).to_owned()),
        ]
    }
}

/// Reports a call once: when its status is known, or else when it is dropped.
struct Tracker {
    call: Option<Call>,
    metrics: bool,
}

impl Tracker {
    fn finish(&mut self, code: Code, message: &str) {
        let Some(call) = self.call.take() else { return };
        let latency = call.started.elapsed();
        let code_name = code_name(code);
        if self.metrics {
            let labels = call.labels();
            metrics::histogram!("grpc_server_handling_seconds", &labels).record(latency);
            let [service, method, kind] = labels;
            let handled = [service, method, kind, ("grpc_code", code_name.to_owned())];
            metrics::counter!("grpc_server_handled_total", &handled).increment(1);
        }
        log(&call, code, code_name, message, latency);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let Some(call) = &self.call else { return };
        // Dropped before a status: tonic's timeout cancelled the handler, or the client
        // reset the stream. Which one is told by the clock.
        let code = if call.started.elapsed() >= call.deadline {
            Code::DeadlineExceeded
        } else {
            Code::Cancelled
        };
        self.finish(code, "");
    }
}

fn log(call: &Call, code: Code, code_name: &str, message: &str, latency: Duration) {
    let fields = call.note.fields();
    let id = fields.id.as_deref();
    let articles = fields.articles;
    let latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3;
    let peer = call.peer.map(|p| p.to_string());
    let peer = peer.as_deref();
    let error = (!message.is_empty()).then_some(message);
    let rpc = call.method.as_str();
    let service = call.service.as_str();
    // The message names no secret: refusals say only that a token is missing, unknown or
    // lacks a scope.
    if matches!(code, Code::Unauthenticated | Code::PermissionDenied) {
        tracing::warn!(rpc, service, id, code = code_name, error, latency_ms, peer, "refused");
    } else if service == "grpc.health.v1.Health" {
        tracing::debug!(rpc, service, code = code_name, error, latency_ms, peer, "request");
    } else {
        tracing::info!(
            rpc,
            service,
            id,
            articles,
            code = code_name,
            error,
            latency_ms,
            peer,
            "request"
        );
    }
}

/// A response body that reports its request when the trailers pass, or when dropped.
struct Observed {
    body: tonic::body::Body,
    tracker: Tracker,
}

impl Body for Observed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                    self.tracker.finish(status.code(), status.message());
                }
            }
            Poll::Ready(Some(Err(status))) => self.tracker.finish(status.code(), status.message()),
            // Trailers always carry grpc-status; a body that ends without them is broken.
            Poll::Ready(None) => {
                self.tracker.finish(Code::Unknown, "response ended without a status")
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The remote address tonic records for the connection, plain or TLS.
fn peer(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions.get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr).or_else(|| {
        extensions
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.get_ref().remote_addr())
    })
}

/// The client's deadline from its `grpc-timeout` header (`<digits><unit>`, units H M S m u n).
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// go-grpc-prometheus's `grpc_type` of a method of the services this server runs.
fn grpc_type(method: &str) -> &'static str {
    match method {
        "IngestStream" | "ServerReflectionInfo" => "bidi_stream",
        "Watch" => "server_stream",
        _ => "unary",
    }
}

/// The canonical name of a status code, as gRPC's documentation writes it.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_parse_from_grpc_timeout() {
        let mut headers = http::HeaderMap::new();
        for (value, expected) in [
            ("5S", Some(Duration::from_secs(5))),
            ("250m", Some(Duration::from_millis(250))),
            ("2H", Some(Duration::from_secs(7200))),
            ("100u", Some(Duration::from_micros(100))),
            ("7x", None),
            ("S", None),
            ("", None),
        ] {
            headers.insert("grpc-timeout", value.parse().unwrap());
            assert_eq!(grpc_timeout(&headers), expected, "{value:?}");
        }
    }

    #[test]
    fn calls_split_service_and_method() {
        let call = Call::new(
            "/neardup.v1.Deduplicator/IngestStream",
            None,
            RequestNote::default(),
            Duration::from_secs(1),
        );
        assert_eq!(
            (call.service.as_str(), call.method.as_str()),
            ("neardup.v1.Deduplicator", "IngestStream")
        );
        assert_eq!(call.labels()[2].1, "bidi_stream");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert_eq!(code_name(Code::Ok), "OK");
    }
}

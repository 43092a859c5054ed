//! The server-wide bound on requests in flight, as a tower layer. Each request takes a
//! permit and keeps it until its response body ends, so an open `IngestStream` counts
//! until it is over; when no permit is left the request is refused at once with
//! `RESOURCE_EXHAUSTED` instead of queueing without bound. Health checks are exempt so
//! a prober can still see a busy server. (Per-connection limits and the hashing queue
//! live in tonic's builder and [`super::AsyncDetector`].)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::codegen::{Bytes, http};
use tower::{Layer, Service};

type Response = http::Response<tonic::body::Body>;

/// Tower layer bounding requests in flight across every connection.
#[derive(Debug, Clone)]
pub(crate) struct InFlightLayer {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlightLayer {
    pub(crate) fn new(limit: usize) -> Self {
        InFlightLayer { permits: Arc::new(Semaphore::new(limit)), limit }
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlight<S>;
    fn layer(&self, inner: S) -> InFlight<S> {
        InFlight { inner, permits: Arc::clone(&self.permits), limit: self.limit }
    }
}

/// The service made by [`InFlightLayer`].
#[derive(Debug, Clone)]
pub(crate) struct InFlight<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limit: usize,
}

impl<S, B> Service<http::Request<B>> for InFlight<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path().starts_with("/grpc.health.v1.Health/") {
            return Box::pin(self.inner.call(request));
        }
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            tracing::debug!(limit = self.limit, "refused: too many requests in flight");
            let status = Status::resource_exhausted(format!(
                "server busy: {} requests in flight (limits.max_in_flight); retry later",
                self.limit
            ));
            return Box::pin(std::future::ready(Ok(status.into_http())));
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| tonic::body::Body::new(Permitted { body, _permit: permit })))
        })
    }
}

/// A response body that holds its request's permit until it is dropped.
struct Permitted {
    body: tonic::body::Body,
    _permit: OwnedSemaphorePermit,
}

impl Body for Permitted {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn request(path: &str) -> http::Request<()> {
        http::Request::builder().uri(path).body(()).unwrap()
    }

    /// A response body still being sent, like an open stream's.
    struct Open;

    impl Body for Open {
        type Data = Bytes;
        type Error = Status;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn refuses_past_the_limit_until_a_body_ends() {
        let ok = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::new(Open)))
        });
        let mut service = InFlightLayer::new(2).layer(ok);
        let first = service.call(request("/neardup.v1.Deduplicator/Check")).await.unwrap();
        let second = service.call(request("/neardup.v1.Deduplicator/Check")).await.unwrap();
        let refused = service.call(request("/neardup.v1.Deduplicator/Check")).await.unwrap();
        let status = Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("max_in_flight"), "{}", status.message());
        let health = service.call(request("/grpc.health.v1.Health/Check")).await.unwrap();
        assert!(Status::from_header_map(health.headers()).is_none(), "health is exempt");
        drop(first);
        let admitted = service.call(request("/neardup.v1.Deduplicator/Check")).await.unwrap();
        assert!(Status::from_header_map(admitted.headers()).is_none());
        drop((second, admitted));
    }
}

//! The HTTP face of the service, on the gRPC port: a JSON API under `/v1` for systems
//! that do not speak gRPC, its OpenAPI document, and the web page of stories at `/`.
//! Each API route names its RPC and builds the request message from the path, query
//! and body; `transcode.rs` runs it as an in-process gRPC call through the same layers
//! (tokens, limits, logging) and turns the answer or the status into JSON. The page's
//! files are compiled into the binary and served with a Content-Security-Policy that
//! allows only this origin's scripts and styles, so the page works offline and an
//! article's text cannot run as script. Requests with a gRPC content type go straight
//! to the gRPC routes.

mod transcode;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use tonic::Status;
use tonic::codegen::http::header;
use tower::ServiceExt;

use super::pb;
use super::status::naming;
pub(crate) use transcode::Grpc;
use transcode::{error, message_of, unary};

/// The page and its assets, compiled in.
const INDEX_HTML: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");
const ICON_SVG: &str = include_str!("page/icon.svg");
/// The API described in OpenAPI 3.
const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Only this origin's files; no inline script or style, no frames, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

#[derive(Clone)]
struct Api {
    grpc: Grpc,
    /// Largest JSON body read: twice the proto limit, as JSON escapes take room; the
    /// proto limit (`max_message_bytes`) then applies to the message as for gRPC.
    body_limit: usize,
}

/// The router of the HTTP face, with every other gRPC request passed to `grpc`.
pub(crate) fn router(grpc: Grpc, max_message_bytes: usize) -> Router {
    let api = Api { grpc, body_limit: max_message_bytes.saturating_mul(2) };
    Router::new()
        .route("/v1/articles", post(ingest))
        .route("/v1/articles:check", post(check))
        .route("/v1/articles/{id}", delete(remove))
        .route("/v1/stories", get(list_stories))
        .route("/v1/stories/{id}", get(get_story))
        .route("/v1/stories/{id}/diff", get(compare_story))
        .route("/v1/stats", get(stats))
        .route("/v1/openapi.json", get(|| async { asset("application/json", OPENAPI_JSON) }))
        .route("/v1/{*rest}", any(|| async { error(&Status::not_found("no such route")) }))
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/assets/icon.svg", get(|| async { asset("image/svg+xml", ICON_SVG) }))
        .fallback(fallback)
        .with_state(api)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// gRPC requests go to the gRPC routes; anything else is not found.
async fn fallback(State(api): State<Api>, request: Request) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return error(&Status::not_found(format!("no such route: {}", request.uri().path())));
    }
    let Ok(response) = api.grpc.oneshot(request).await;
    response.map(Body::new)
}

impl Api {
    /// The RPC `method` with `message`, on behalf of `request` (whose body, if any, is
    /// not read); answers with the response of proto type `response` as JSON.
    async fn call<M: prost::Message>(
        &self,
        request: Request,
        method: &str,
        message: &M,
        response: &str,
    ) -> Response {
        let (parts, _) = request.into_parts();
        unary(&self.grpc, method, message, response, &parts).await
    }

    /// The request's body, at most `body_limit` bytes.
    async fn body(&self, body: Body) -> Result<axum::body::Bytes, Response> {
        axum::body::to_bytes(body, self.body_limit).await.map_err(|_| {
            let status = Status::resource_exhausted(format!(
                "request body over {} bytes; see max_message_bytes",
                self.body_limit
            ));
            error(&naming(status, "max_message_bytes"))
        })
    }

    /// The article in the body, then the RPC `method` with it.
    async fn with_article<M: prost::Message>(
        &self,
        request: Request,
        method: &str,
        wrap: impl FnOnce(pb::Article) -> M,
    ) -> Response {
        let (parts, body) = request.into_parts();
        let bytes = match self.body(body).await {
            Ok(bytes) => bytes,
            Err(response) => return response,
        };
        match message_of::<pb::Article>(&bytes, "neardup.v1.Article") {
            Ok(article) => {
                unary(&self.grpc, method, &wrap(article), "neardup.v1.Verdict", &parts).await
            }
            Err(status) => error(&status),
        }
    }
}

async fn ingest(State(api): State<Api>, request: Request) -> Response {
    api.with_article(request, "Ingest", |a| pb::IngestRequest { article: Some(a) }).await
}

async fn check(State(api): State<Api>, request: Request) -> Response {
    api.with_article(request, "Check", |a| pb::CheckRequest { article: Some(a) }).await
}

async fn remove(State(api): State<Api>, Path(id): Path<String>, request: Request) -> Response {
    let message = pb::RemoveRequest { id };
    api.call(request, "Remove", &message, "neardup.v1.RemoveResponse").await
}

async fn get_story(State(api): State<Api>, Path(id): Path<String>, request: Request) -> Response {
    let message = pb::GetClusterRequest { cluster_id: id };
    api.call(request, "GetCluster", &message, "neardup.v1.Cluster").await
}

async fn compare_story(
    State(api): State<Api>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let message = pb::GetClusterRequest { cluster_id: id };
    api.call(request, "CompareStory", &message, "neardup.v1.StoryComparison").await
}

async fn stats(State(api): State<Api>, request: Request) -> Response {
    api.call(request, "Stats", &pb::StatsRequest {}, "neardup.v1.StatsResponse").await
}

async fn list_stories(
    State(api): State<Api>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    request: Request,
) -> Response {
    let parsed = query
        .map_err(|e| naming(Status::invalid_argument(format!("invalid query: {e}")), "query"))
        .and_then(|Query(pairs)| stories_request(pairs));
    match parsed {
        Ok(message) => {
            api.call(request, "ListStories", &message, "neardup.v1.ListStoriesResponse").await
        }
        Err(status) => error(&status),
    }
}

/// `since` (RFC 3339), `source`, `limit` and `cursor` from a query string; any other
/// parameter is refused, so a misspelt filter does not pass silently.
fn stories_request(query: Vec<(String, String)>) -> Result<pb::ListStoriesRequest, Status> {
    let mut request = pb::ListStoriesRequest::default();
    for (name, value) in query {
        let bad = |field: &'static str, reason: String| {
            naming(Status::invalid_argument(format!("invalid {field}: {reason}")), field)
        };
        match name.as_str() {
            "since" if value.is_empty() => {}
            "since" => {
                let since = value
                    .parse()
                    .map_err(|_| bad("since", format!("{value:?} is not an RFC 3339 time")))?;
                request.since = Some(since);
            }
            "source" => request.source = value,
            "limit" => {
                request.limit =
                    value.parse().map_err(|_| bad("limit", format!("{value:?} is not a count")))?;
            }
            "cursor" => request.cursor = value,
            other => {
                return Err(bad("query", format!("unknown parameter {other:?}")));
            }
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::status::field_of;

    fn parse(query: &str) -> Result<pb::ListStoriesRequest, Status> {
        stories_request(serde_urlencoded_pairs(query))
    }

    fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
        let uri: tonic::codegen::http::Uri = format!("/v1/stories?{query}").parse().unwrap();
        Query::try_from_uri(&uri).map(|Query(pairs)| pairs).unwrap()
    }

    #[test]
    fn story_queries_parse_and_name_bad_parameters() {
        let request =
            parse("since=2022-01-28T20%3A15%3A00Z&source=korrespondent.net&limit=5&cursor=1.2")
                .unwrap();
        assert_eq!(request.since.unwrap().seconds, 1_643_400_900);
        assert_eq!(
            (request.source.as_str(), request.limit, request.cursor.as_str()),
            ("korrespondent.net", 5, "1.2")
        );
        assert_eq!(parse("source=a+b%20c").unwrap().source, "a b c");
        assert_eq!(parse("").unwrap(), pb::ListStoriesRequest::default());
        for (query, field) in
            [("since=yesterday", "since"), ("limit=-1", "limit"), ("sorce=a", "query")]
        {
            let status = parse(query).unwrap_err();
            assert_eq!(field_of(&status), Some(field), "{query}");
        }
    }

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        let paths: Vec<&str> =
            doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        for path in [
            "/v1/articles",
            "/v1/articles:check",
            "/v1/articles/{id}",
            "/v1/stories",
            "/v1/stories/{id}",
            "/v1/stories/{id}/diff",
            "/v1/stats",
        ] {
            assert!(paths.contains(&path), "{path} is missing from openapi.json");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        for needle in ["<script>", "style=", "onclick", "onload", "http://", "https://"] {
            assert!(!INDEX_HTML.contains(needle), "{needle} in index.html");
        }
        assert!(!APP_JS.contains("innerHTML"), "article text is set as text, never as markup");
    }
}

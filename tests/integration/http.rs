//! The HTTP/JSON face against a real server over loopback, with a plain HTTP/1.1 client:
//! every route, every error status with its JSON body, the tokens and limits it shares
//! with gRPC, and the state both faces see. The page and the OpenAPI document are
//! served with their headers; the page in a real browser is `tests/browser/`.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tonic::codegen::Bytes;
use tonic::codegen::http::{self, HeaderMap, Method, Request};

use crate::common::{
    ADMIN, READER, TestServer, WRITER, load_articles, root, token_file, with_token,
};
use neardup::config::{LimitsConfig, MIN_MAX_MESSAGE_BYTES, ServiceConfig};
use neardup::service::pb;

/// A JSON-over-HTTP/1.1 client of one server.
struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What an HTTP call returned.
struct Answer {
    status: u16,
    headers: HeaderMap,
    json: Value,
    text: String,
}

impl Http {
    fn new(server: &TestServer) -> Http {
        Http { base: server.url(), client: Client::builder(TokioExecutor::new()).build_http() }
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: &[u8]) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, headers, json, text }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, b"").await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.call(Method::POST, path, token, body.to_string().as_bytes()).await
    }
}

impl Answer {
    /// The JSON of a success, or a panic showing the body.
    fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.text);
        self.json
    }

    /// Asserts an error with its HTTP code, gRPC status name and field.
    fn fails(&self, code: u16, status: &str, field: Option<&str>) {
        assert_eq!(self.status, code, "{}", self.text);
        let error = &self.json["error"];
        assert_eq!(error["code"], code, "{}", self.text);
        assert_eq!(error["status"], status, "{}", self.text);
        assert_eq!(error["field"].as_str(), field, "{}", self.text);
        assert!(!error["message"].as_str().unwrap_or_default().is_empty(), "{}", self.text);
        let content_type = self.headers.get(http::header::CONTENT_TYPE).unwrap();
        assert_eq!(content_type, "application/json");
    }
}

/// The Kremlin example as HTTP request bodies (proto3 JSON, lowerCamelCase).
fn kremlin() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("examples/kremlin.jsonl")).unwrap();
    text.lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            json!({
                "id": row["id"],
                "text": row["text"],
                "title": row["title"],
                "source": row["source"],
                "publishedAt": format!("{}Z", row["date"].as_str().unwrap()),
                "labels": {"feed": "example"},
            })
        })
        .collect()
}

/// A reader's request for the story `id`.
fn story_request(id: &str) -> tonic::Request<pb::GetClusterRequest> {
    with_token(pb::GetClusterRequest { cluster_id: id.into() }, Some(READER))
}

fn token_config(dir: &std::path::Path) -> ServiceConfig {
    ServiceConfig { auth_tokens: Some(token_file(dir)), ..Default::default() }
}

/// The proto message `message` as the HTTP face writes it.
fn proto_json<M: prost::Message>(message: &M, full_name: &str) -> Value {
    let snake = neardup::service::convert::to_json(message, full_name).unwrap();
    // Through text, as the HTTP answer came, so that floats parse alike.
    serde_json::from_str(&camel(snake).to_string()).unwrap()
}

/// `to_json` gives proto names and 64-bit numbers; the HTTP face gives lowerCamelCase
/// and 64-bit strings. Only the names differ for the messages compared here.
fn camel(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let mut out = String::new();
                    let mut upper = false;
                    for c in key.chars() {
                        if c == '_' {
                            upper = true;
                        } else if upper {
                            out.push(c.to_ascii_uppercase());
                            upper = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, camel(value))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel).collect()),
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_and_grpc_sees_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(token_config(dir.path())).await;
    let http = Http::new(&server);
    let mut grpc = server.client().await;

    // Ingest the example over HTTP: the Kremlin story, its three copies, two others.
    let mut kinds = Vec::new();
    for article in kremlin() {
        let verdict = http.post("/v1/articles", Some(WRITER), &article).await.ok();
        assert_eq!(verdict["id"], article["id"]);
        kinds.push((verdict["id"].as_str().unwrap().to_owned(), verdict["kind"].clone()));
    }
    let kind_of = |id: &str| kinds.iter().find(|(k, _)| k == id).unwrap().1.clone();
    assert_eq!(kind_of("aggregator-3-excerpt"), "PARTIAL_COPY");
    assert_eq!(kind_of("aggregator-2"), "DUPLICATE");
    // A retry of the same article is answered from the store.
    let again = http.post("/v1/articles", Some(WRITER), &kremlin()[1]).await.ok();
    assert_eq!(again["kind"], "DUPLICATE");

    // The list: newest pickup first; the Kremlin story with four members.
    let page = http.get("/v1/stories", Some(READER)).await.ok();
    assert_eq!(page["matched"], "3", "uint64 is a string in proto3 JSON");
    assert_eq!(page["nextCursor"], "");
    let stories = page["stories"].as_array().unwrap();
    let ids: Vec<&str> = stories.iter().map(|s| s["clusterId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["template-2022-02-12", "aggregator-1", "elysee-independent"]);
    let kremlin_story = &stories[1];
    assert_eq!(kremlin_story["originId"], "korrespondent");
    assert_eq!(kremlin_story["members"], 4);
    assert_eq!(kremlin_story["headline"], "Putin and Macron discussed Ukraine and security");
    assert_eq!(kremlin_story["firstPublished"], "2022-01-28T20:15:00Z");
    assert_eq!(kremlin_story["latestPublished"], "2022-01-29T09:30:00Z");
    // Paging and filters.
    let first = http.get("/v1/stories?limit=2", Some(READER)).await.ok();
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(first["stories"].as_array().unwrap().len(), 2);
    let rest = http.get(&format!("/v1/stories?limit=2&cursor={cursor}"), Some(READER)).await.ok();
    assert_eq!(rest["stories"][0]["clusterId"], "elysee-independent");
    assert_eq!(rest["nextCursor"], "");
    let picked = http.get("/v1/stories?source=newsbeezer.com", Some(READER)).await.ok();
    assert_eq!(picked["stories"][0]["clusterId"], "aggregator-1");
    assert_eq!(picked["matched"], "1");
    let since = http.get("/v1/stories?since=2022-02-01T00:00:00Z", Some(READER)).await.ok();
    assert_eq!(since["matched"], "1");

    // gRPC lists the same page.
    let listed = grpc
        .list_stories(with_token(pb::ListStoriesRequest::default(), Some(READER)))
        .await
        .unwrap()
        .into_inner();
    let mut listed_json = proto_json(&listed, "neardup.v1.ListStoriesResponse");
    listed_json["matched"] = json!(listed.matched.to_string());
    assert_eq!(listed_json, page);

    // One story by any member's id, as gRPC has it.
    let story = http.get("/v1/stories/aggregator-3-excerpt", Some(READER)).await.ok();
    assert_eq!(story["clusterId"], "aggregator-1");
    let cluster = grpc.get_cluster(story_request("korrespondent")).await.unwrap().into_inner();
    assert_eq!(proto_json(&cluster, "neardup.v1.Cluster"), story);
    let members = story["members"].as_array().unwrap();
    assert_eq!(members[0]["id"], "korrespondent");
    assert_eq!(members[0]["kind"], "NEW_STORY");
    let excerpt = members.iter().find(|m| m["id"] == "aggregator-3-excerpt").unwrap();
    assert_eq!(excerpt["kind"], "PARTIAL_COPY");

    // The story compared: each copy's diff against the origin.
    let diff = http.get("/v1/stories/aggregator-1/diff", Some(READER)).await.ok();
    assert_eq!(diff["originId"], "korrespondent");
    assert!(diff["origin"]["text"].as_str().unwrap().starts_with("Putin and Macron"));
    let copies = diff["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 3);
    let changes = |id: &str| -> Vec<String> {
        let copy = copies.iter().find(|c| c["member"]["id"] == id).unwrap();
        assert_eq!(copy["textKept"], true);
        copy["diff"].as_array().unwrap().iter().map(|l| l["change"].to_string()).collect()
    };
    assert!(changes("aggregator-3-excerpt").iter().any(|c| c.contains("LINE_CUT")));
    assert!(changes("aggregator-1").iter().any(|c| c.contains("LINE_ADDED")));
    let compared = grpc.compare_story(story_request("aggregator-1")).await.unwrap().into_inner();
    assert_eq!(proto_json(&compared, "neardup.v1.StoryComparison"), diff);

    // Check labels without storing.
    let mut probe = kremlin()[1].clone();
    probe["id"] = json!("probe");
    let checked = http.post("/v1/articles:check", Some(READER), &probe).await.ok();
    assert_eq!(
        (checked["kind"].as_str(), checked["clusterId"].as_str()),
        (Some("DUPLICATE"), Some("aggregator-1"))
    );
    let stats = http.get("/v1/stats", Some(READER)).await.ok();
    assert_eq!(stats["documents"], "6");
    assert_eq!(stats["durable"], true);

    // Remove over HTTP; gRPC no longer finds the article.
    let removed =
        http.call(Method::DELETE, "/v1/articles/aggregator-2", Some(ADMIN), b"").await.ok();
    assert_eq!(removed, json!({"removed": true}));
    let again = http.call(Method::DELETE, "/v1/articles/aggregator-2", Some(ADMIN), b"").await.ok();
    assert_eq!(again, json!({"removed": false}));
    let cluster = grpc.get_cluster(story_request("aggregator-1")).await.unwrap().into_inner();
    assert!(cluster.members.iter().all(|m| m.id != "aggregator-2"));
    assert_eq!(cluster.members.len(), 3);

    // And what gRPC stores, HTTP lists.
    let fresh = load_articles(&root().join("examples/kremlin.jsonl"), 1).remove(0);
    let fresh = pb::Article { id: "via-grpc".into(), ..fresh };
    grpc.ingest(with_token(pb::IngestRequest { article: Some(fresh) }, Some(WRITER)))
        .await
        .unwrap();
    let story = http.get("/v1/stories/via-grpc", Some(READER)).await.ok();
    assert_eq!(story["clusterId"], "aggregator-1");

    // The OpenAPI document and the page, with their headers.
    let openapi = http.get("/v1/openapi.json", None).await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.json["openapi"], "3.0.3");
    let page = http.get("/", None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<script src=\"/assets/app.js\""));
    let policy = page.headers.get(http::header::CONTENT_SECURITY_POLICY).unwrap();
    assert!(policy.to_str().unwrap().contains("script-src 'self'"));
    for asset in ["/assets/app.js", "/assets/app.css", "/assets/icon.svg"] {
        let answer = http.get(asset, None).await;
        assert_eq!(answer.status, 200, "{asset}");
        assert!(answer.headers.get(http::header::CONTENT_SECURITY_POLICY).is_some());
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = token_config(dir.path());
    config.max_message_bytes = MIN_MAX_MESSAGE_BYTES;
    let server = TestServer::start(config).await;
    let http = Http::new(&server);
    let article = |id: &str, text: &str| json!({"id": id, "text": text, "source": "wire"});
    let story = "The harbour strike ended after talks through the night, union leaders said.";

    let blank = http.post("/v1/articles", Some(WRITER), &article("a", "  \n ")).await;
    blank.fails(400, "INVALID_ARGUMENT", Some("text"));
    let no_id = http.post("/v1/articles:check", Some(READER), &article("", story)).await;
    no_id.fails(400, "INVALID_ARGUMENT", Some("id"));
    let bad_time = http
        .post(
            "/v1/articles",
            Some(WRITER),
            &json!({"id": "t", "text": story, "publishedAt": "noon"}),
        )
        .await;
    bad_time.fails(400, "INVALID_ARGUMENT", Some("body"));
    let not_json = http.call(Method::POST, "/v1/articles", Some(WRITER), b"{\"id\": ").await;
    not_json.fails(400, "INVALID_ARGUMENT", Some("body"));
    let unknown_field =
        http.post("/v1/articles", Some(WRITER), &json!({"id": "u", "txt": story})).await;
    unknown_field.fails(400, "INVALID_ARGUMENT", Some("body"));
    for (query, field) in [
        ("limit=5000", "limit"),
        ("limit=many", "limit"),
        ("since=yesterday", "since"),
        ("cursor=nonsense", "cursor"),
        ("sorce=wire", "query"),
    ] {
        let answer = http.get(&format!("/v1/stories?{query}"), Some(READER)).await;
        answer.fails(400, "INVALID_ARGUMENT", Some(field));
    }

    let anonymous = http.get("/v1/stats", None).await;
    anonymous.fails(401, "UNAUTHENTICATED", None);
    assert_eq!(anonymous.headers.get(http::header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    http.get("/v1/stats", Some("not-a-token-of-this-server")).await.fails(
        401,
        "UNAUTHENTICATED",
        None,
    );
    let reader_ingests = http.post("/v1/articles", Some(READER), &article("r", story)).await;
    reader_ingests.fails(403, "PERMISSION_DENIED", None);
    let writer_removes = http.call(Method::DELETE, "/v1/articles/a", Some(WRITER), b"").await;
    writer_removes.fails(403, "PERMISSION_DENIED", None);

    http.get("/v1/stories/nobody", Some(READER)).await.fails(404, "NOT_FOUND", None);
    http.get("/v1/stories/nobody/diff", Some(READER)).await.fails(404, "NOT_FOUND", None);
    http.get("/v1/nothing-here", Some(READER)).await.fails(404, "NOT_FOUND", None);
    http.get("/favicon.ico", None).await.fails(404, "NOT_FOUND", None);

    http.post("/v1/articles", Some(WRITER), &article("a", story)).await.ok();
    let conflict = http
        .post(
            "/v1/articles",
            Some(WRITER),
            &article("a", "Another text altogether, of other words."),
        )
        .await;
    conflict.fails(409, "ALREADY_EXISTS", Some("id"));

    // Over max_message_bytes as a proto message (the JSON is within twice the limit) and
    // as a JSON body: both 413, naming the limit.
    let words: String = (0..1000).map(|i| format!("w{i} ")).collect();
    assert!(words.len() > MIN_MAX_MESSAGE_BYTES && words.len() < 2 * MIN_MAX_MESSAGE_BYTES);
    let big = http.post("/v1/articles", Some(WRITER), &article("big", &words)).await;
    big.fails(413, "RESOURCE_EXHAUSTED", Some("max_message_bytes"));
    let huge =
        http.post("/v1/articles:check", Some(READER), &article("huge", &words.repeat(3))).await;
    huge.fails(413, "RESOURCE_EXHAUSTED", Some("max_message_bytes"));
    server.shutdown().await;
}

/// The in-flight limit is shared: streams held open over gRPC fill the server, and an
/// HTTP call is refused with 429 until they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_limit_is_shared_with_grpc() {
    let limits = LimitsConfig { max_in_flight: 1, ..Default::default() };
    let server = TestServer::start(ServiceConfig { limits, ..Default::default() }).await;
    let http = Http::new(&server);
    let mut grpc = server.client().await;
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let mut verdicts = grpc.ingest_stream(stream).await.unwrap().into_inner();
    let article =
        pb::Article { id: "s".into(), text: "one open stream".into(), ..Default::default() };
    sender.send(pb::IngestRequest { article: Some(article) }).await.unwrap();
    verdicts.message().await.unwrap().expect("first verdict");
    let busy = http.get("/v1/stats", None).await;
    busy.fails(429, "RESOURCE_EXHAUSTED", None);
    drop(sender);
    assert!(verdicts.message().await.unwrap().is_none());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = http.get("/v1/stats", None).await;
        if answer.status == 200 {
            assert_eq!(answer.json["documents"], "1");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

/// Over TLS the JSON API speaks HTTP/1.1 too (ALPN offers `http/1.1` beside `h2`), as
/// curl or a CMS plugin without HTTP/2 would call it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_answers_http1_over_tls() {
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

    let pki = crate::secure::Pki::new();
    let config = ServiceConfig { tls: Some(pki.tls(None)), ..Default::default() };
    let server = TestServer::start(config).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.address()).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake offering only http/1.1");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get("/v1/stats")
        .header(http::header::HOST, "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let stats: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stats["documents"], "0");
    server.shutdown().await;
}

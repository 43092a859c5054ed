//! The service as it is exposed: bearer-token scopes, TLS and mutual TLS with
//! certificates made here by rcgen, the server-wide in-flight limit, and a table of
//! hostile inputs through gRPC with the status each must get.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::common::{ADMIN, READER, TestServer, WRITER, token_file, with_token};
use neardup::article::MAX_ID_BYTES;
use neardup::config::{LimitsConfig, ServiceConfig, TlsConfig};
use neardup::service::pb::{self, deduplicator_client::DeduplicatorClient};
use neardup::service::{SERVICE_NAME, Server};

const STORY: &str = "The central bank raised its key interest rate by half a percentage point on \
    Thursday, the largest increase in two decades, and signalled that further rises were likely \
    as inflation stayed well above its target for the sixth month in a row.";

fn article(id: &str, text: &str) -> pb::Article {
    pb::Article { id: id.into(), text: text.into(), ..Default::default() }
}

/// The code a call got (`Ok` for success).
fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map_or_else(|s| s.code(), |_| Code::Ok)
}

#[tokio::test]
async fn tokens_decide_who_may_do_what() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig { auth_tokens: Some(token_file(dir.path())), ..Default::default() };
    let server = TestServer::start(config).await;
    let mut client = DeduplicatorClient::new(server.channel().await);
    let ingest = |id: &str, token: Option<&str>| {
        with_token(pb::IngestRequest { article: Some(article(id, STORY)) }, token)
    };
    let cases = [
        ("no token", None, Code::Unauthenticated),
        ("wrong token", Some("not-a-token-of-this-server"), Code::Unauthenticated),
        ("read-only token", Some(READER), Code::PermissionDenied),
        ("admin only token", Some(ADMIN), Code::PermissionDenied),
        ("writer token", Some(WRITER), Code::Ok),
    ];
    for (name, token, expected) in cases {
        let outcome = client.ingest(ingest("a", token)).await;
        let message = outcome.as_ref().err().map(|s| s.message().to_owned()).unwrap_or_default();
        assert_eq!(code(outcome), expected, "Ingest with {name}: {message}");
        for secret in [READER, WRITER, ADMIN] {
            assert!(!message.contains(secret), "a token leaked into {message:?}");
        }
    }
    // Streams are checked before the first message.
    let stream = tokio_stream::iter(vec![pb::IngestRequest { article: Some(article("b", STORY)) }]);
    assert_eq!(
        code(client.ingest_stream(with_token(stream, Some(READER))).await),
        Code::PermissionDenied
    );
    let check = |token| with_token(pb::CheckRequest { article: Some(article("c", STORY)) }, token);
    assert_eq!(code(client.check(check(Some(READER))).await), Code::Ok);
    assert_eq!(code(client.check(check(None)).await), Code::Unauthenticated);
    let remove = |token| with_token(pb::RemoveRequest { id: "a".into() }, token);
    assert_eq!(code(client.remove(remove(Some(WRITER))).await), Code::PermissionDenied);
    let removed = client.remove(remove(Some(ADMIN))).await.unwrap().into_inner();
    assert!(removed.removed, "the admin token retracts the article the writer stored");
    let stats = client.stats(with_token(pb::StatsRequest {}, Some(READER))).await.unwrap();
    assert_eq!(stats.into_inner().documents, 0);

    // Health and reflection stay open.
    let channel = server.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let request = tonic_health::pb::HealthCheckRequest { service: SERVICE_NAME.into() };
    let status = health.check(request).await.unwrap().into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    assert!(answers.message().await.unwrap().is_some(), "reflection answers without a token");
    server.shutdown().await;
}

/// A CA, and a server certificate for `localhost` and 127.0.0.1 that it signed.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (ca, ca_pem) = make_ca("neardup test CA");
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        Pki { dir, ca_pem }
    }

    /// A file of the PKI: `ca.pem`, `server.pem`, `server.key`, and what tests add.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn tls(&self, client_ca: Option<PathBuf>) -> TlsConfig {
        TlsConfig { cert: self.path("server.pem"), key: self.path("server.key"), client_ca }
    }
}

/// A self-signed CA named `name`, with its certificate in PEM.
pub(crate) fn make_ca(name: &str) -> (CertifiedIssuer<'static, KeyPair>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem = ca.pem();
    (ca, pem)
}

/// Connects over TLS and makes one Check call; the error as text when either fails.
async fn tls_check(
    address: SocketAddr,
    ca_pem: Option<&str>,
    identity: Option<Identity>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new().domain_name("localhost");
    if let Some(pem) = ca_pem {
        tls = tls.ca_certificate(Certificate::from_pem(pem));
    }
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }
    let endpoint = Endpoint::from_shared(format!("https://localhost:{}", address.port()))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| format!("config: {e}"))?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
    let mut client = DeduplicatorClient::new(channel);
    let request = pb::CheckRequest { article: Some(article("t", STORY)) };
    client.check(request).await.map(drop).map_err(|s| format!("call: {s:?}"))
}

#[tokio::test]
async fn tls_handshake_needs_the_right_ca() {
    let pki = Pki::new();
    let config = ServiceConfig { tls: Some(pki.tls(None)), ..Default::default() };
    let server = TestServer::start(config).await;
    tls_check(server.address(), Some(&pki.ca_pem), None).await.expect("client trusting the CA");
    let no_ca = tls_check(server.address(), None, None).await;
    assert!(no_ca.is_err(), "a client with no CA must not trust the server");
    let (_, other_ca) = make_ca("some other CA");
    let wrong_ca = tls_check(server.address(), Some(&other_ca), None).await;
    assert!(wrong_ca.is_err(), "a client trusting another CA must fail");
    // A plain-text client cannot talk to a TLS server.
    let plain = Endpoint::from_shared(server.url()).unwrap();
    let plain_call = async {
        let mut client = DeduplicatorClient::new(plain.connect().await?);
        client.stats(pb::StatsRequest {}).await.map_err(|s| s.into())
    };
    let plain_result: Result<_, Box<dyn std::error::Error>> = plain_call.await;
    assert!(plain_result.is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let (client_ca, client_ca_pem) = make_ca("newsroom clients CA");
    std::fs::write(pki.path("clients.pem"), &client_ca_pem).unwrap();
    let config =
        ServiceConfig { tls: Some(pki.tls(Some(pki.path("clients.pem")))), ..Default::default() };
    let server = TestServer::start(config).await;
    let issue = |ca: &CertifiedIssuer<'static, KeyPair>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["ingest-worker".to_owned()])
            .unwrap()
            .signed_by(&key, ca)
            .unwrap();
        Identity::from_pem(cert.pem(), key.serialize_pem())
    };
    let anonymous = tls_check(server.address(), Some(&pki.ca_pem), None).await;
    assert!(anonymous.is_err(), "no client certificate must be refused");
    let (stranger_ca, _) = make_ca("not the clients CA");
    let stranger = tls_check(server.address(), Some(&pki.ca_pem), Some(issue(&stranger_ca))).await;
    assert!(stranger.is_err(), "a certificate from another CA must be refused");
    tls_check(server.address(), Some(&pki.ca_pem), Some(issue(&client_ca)))
        .await
        .expect("a client certificate signed by the clients CA is accepted");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_security_settings_fail_at_bind_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "abc check\n").unwrap();
    let missing = dir.path().join("nope.pem");
    let cases = [
        (ServiceConfig { auth_tokens: Some(short), ..Default::default() }, "auth_tokens"),
        (
            ServiceConfig {
                tls: Some(TlsConfig { cert: missing.clone(), key: missing, client_ca: None }),
                ..Default::default()
            },
            "nope.pem",
        ),
    ];
    for (mut config, named) in cases {
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.store.data_dir = dir.path().join("data");
        let err = Server::bind(config).await.unwrap_err().to_string();
        assert!(err.contains(named), "{err}");
        assert!(!err.contains("abc"), "token text leaked: {err}");
    }
}

/// More requests than `max_in_flight` at once: the excess is refused with
/// RESOURCE_EXHAUSTED, nothing hangs, and the server serves normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_resource_exhausted_and_the_server_recovers() {
    let limits = LimitsConfig { max_in_flight: 4, hashing_queue: 2, ..Default::default() };
    let server = TestServer::start(ServiceConfig { limits, ..Default::default() }).await;
    // Open streams hold their slot until they end: four of them fill the server.
    let mut open = Vec::new();
    for i in 0..4 {
        let mut client = DeduplicatorClient::new(server.channel().await);
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        sender
            .send(pb::IngestRequest { article: Some(article(&format!("s{i}"), STORY)) })
            .await
            .unwrap();
        let mut verdicts = client
            .ingest_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .unwrap()
            .into_inner();
        verdicts.message().await.unwrap().expect("first verdict");
        open.push((sender, verdicts));
    }
    let mut client = DeduplicatorClient::new(server.channel().await);
    let request = || pb::CheckRequest { article: Some(article("c", STORY)) };
    let refused = client.check(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{}", refused.message());
    assert!(refused.message().contains("max_in_flight"));
    // Health stays answerable for probes.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    // Ending the streams frees the slots.
    for (sender, mut verdicts) in open {
        drop(sender);
        assert!(verdicts.message().await.unwrap().is_none());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client.check(request()).await {
            Ok(verdict) => {
                assert_eq!(verdict.into_inner().kind(), pb::Kind::Duplicate);
                break;
            }
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(Instant::now() < deadline, "slots never came back");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
    server.shutdown().await;
}

/// A deadline set by the client is honoured: a call that cannot finish in time ends
/// with DEADLINE_EXCEEDED (client side) instead of waiting, and the server stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_deadlines_are_honoured() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = DeduplicatorClient::new(server.channel().await);
    // About 4 MB of distinct words: far more than a millisecond of hashing.
    let text: String = (0..400_000).map(|i| format!("w{i} ")).collect();
    let mut request =
        tonic::Request::new(pb::CheckRequest { article: Some(article("big", &text)) });
    request.set_timeout(Duration::from_millis(1));
    let status = client.check(request).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    let fine = client.check(pb::CheckRequest { article: Some(article("x", STORY)) }).await;
    assert_eq!(fine.unwrap().into_inner().kind(), pb::Kind::NewStory);
    server.shutdown().await;
}

/// Hostile inputs through gRPC, each with the status it must get, Ingest and Check
/// alike. After the table the server must still answer, and hold exactly what it
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_through_grpc() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let channel = server.channel().await;
    let mut client = DeduplicatorClient::new(channel).max_encoding_message_size(usize::MAX);
    let long_id = "i".repeat(100 * 1024);
    let at_limit = "j".repeat(MAX_ID_BYTES);
    // Over the default 8 MiB message limit.
    let huge = "word ".repeat(100 * 1024 * 1024 / 5);
    let mixed = "Путин и Макрон обсудили 安全保障 — مكالمة هاتفية 🇫🇷🤝🇷🇺 emoji 👩‍👩‍👧 text Ελλάδα";
    let labels = (0..10_000).map(|i| (format!("k{i}"), "v".repeat(10))).collect();
    type Case = (&'static str, pb::Article, Code, &'static str);
    let cases: Vec<Case> = vec![
        ("empty text", article("e", ""), Code::InvalidArgument, "text"),
        ("whitespace text", article("w", " \t\r\n\u{a0}\u{3000} "), Code::InvalidArgument, "text"),
        ("only NUL bytes", article("n0", "\0\0\0\0"), Code::InvalidArgument, "text"),
        ("NUL bytes between words", article("n1", &STORY.replace(' ', "\0")), Code::Ok, ""),
        ("100 MB article", article("huge", &huge), Code::ResourceExhausted, "max_message_bytes"),
        ("100 KB id", article(&long_id, STORY), Code::InvalidArgument, "id"),
        ("1 KiB id (the limit)", article(&at_limit, "a story of its own"), Code::Ok, ""),
        ("mixed scripts and emoji", article("mixed", mixed), Code::Ok, ""),
        ("emoji only", article("emoji", "🤝🇫🇷 👩‍👩‍👧"), Code::InvalidArgument, "text"),
        (
            "long source",
            pb::Article { source: "s".repeat(4096), ..article("src", STORY) },
            Code::InvalidArgument,
            "source",
        ),
        (
            "ten thousand labels",
            pb::Article { labels, ..article("labels", "labelled text") },
            Code::Ok,
            "",
        ),
    ];
    let mut stored = 0;
    for (name, hostile, expected, field) in cases {
        let started = Instant::now();
        let check = client.check(pb::CheckRequest { article: Some(hostile.clone()) }).await;
        let ingest = client.ingest(pb::IngestRequest { article: Some(hostile) }).await;
        for (rpc, outcome) in [("Check", check), ("Ingest", ingest)] {
            let message =
                outcome.as_ref().err().map(|s| s.message().to_owned()).unwrap_or_default();
            assert_eq!(code(outcome), expected, "{rpc} {name}: {message}");
            assert!(message.contains(field), "{rpc} {name}: {message:?} names {field:?}");
        }
        stored += usize::from(expected == Code::Ok);
        eprintln!("hostile case {name:?}: {:?}", started.elapsed());
    }
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents as usize, stored, "exactly the accepted articles are stored");
    // A Remove or GetCluster with a 100 KB id is refused the same way.
    let status = client.remove(pb::RemoveRequest { id: long_id.clone() }).await.unwrap_err();
    assert_eq!((status.code(), status.message().contains("id")), (Code::InvalidArgument, true));
    let status =
        client.get_cluster(pb::GetClusterRequest { cluster_id: long_id }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    server.shutdown().await;
}

/// Number of one-word articles for [`many_one_word_articles_in_one_stream`]: a million
/// when `NEARDUP_HOSTILE_ARTICLES` says so (`.ci/hostile.sh` runs it against a release
/// build), fewer by default so a debug `cargo test` stays quick.
fn one_word_articles() -> usize {
    std::env::var("NEARDUP_HOSTILE_ARTICLES").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000)
}

/// Many one-word articles in one stream, all with the same word: every one is a copy of
/// the first, so each lands in one LSH bucket. The stream must finish in bounded time
/// (no per-article cost that grows with the bucket) and every article be answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_one_word_articles_in_one_stream() {
    let total = one_word_articles();
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = DeduplicatorClient::new(server.channel().await);
    let requests = tokio_stream::iter((0..total).map(|i| pb::IngestRequest {
        article: Some(article(&format!("w{i}"), if i % 2 == 0 { "breaking" } else { "Breaking!" })),
    }));
    let started = Instant::now();
    let mut verdicts = client.ingest_stream(requests).await.unwrap().into_inner();
    let (mut answered, mut copies) = (0usize, 0usize);
    while let Some(verdict) = verdicts.message().await.unwrap() {
        assert_eq!(verdict.id, format!("w{answered}"), "in order");
        answered += 1;
        copies += usize::from(verdict.kind() == pb::Kind::Duplicate);
    }
    let elapsed = started.elapsed();
    eprintln!("{total} one-word articles in one stream: {elapsed:?}");
    assert_eq!(answered, total);
    assert_eq!(copies, total - 1, "all but the first are copies of it");
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.documents as usize, stats.clusters), (total, 1));
    server.shutdown().await;
}

/// Hostile corpus files through `neardup scan`, each with its exit code and what stderr
/// must name. No case may crash (a signal instead of an exit code) or hang.
#[test]
fn hostile_inputs_through_scan() {
    let dir = tempfile::tempdir().unwrap();
    let story = format!("{{\"id\":\"ok\",\"text\":{}}}\n", serde_json::to_string(STORY).unwrap());
    let nested = format!(
        "{{\"id\":\"deep\",\"text\":\"a b c\",\"x\":{}{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let nested_id =
        format!("{{\"id\":{}1{},\"text\":\"a b c\"}}\n", "[".repeat(50_000), "]".repeat(50_000));
    let huge_line =
        format!("{{\"id\":\"big\",\"text\":\"{}\"}}\n", "word ".repeat(100 * 1024 * 1024 / 5));
    let long_id = format!("{{\"id\":\"{}\",\"text\":\"a b c\"}}\n", "i".repeat(100 * 1024));
    let mixed = "{\"id\":\"m\",\"text\":\"Путин 安全保障 مكالمة 🇫🇷🤝 Ελλάδα\"}\n";
    type Case = (&'static str, &'static str, Vec<u8>, i32, &'static str);
    let cases: Vec<Case> = vec![
        ("empty file", "empty.jsonl", Vec::new(), 0, "0 documents"),
        ("blank lines only", "blank.jsonl", b"\n  \n\t\n".to_vec(), 0, "0 documents"),
        (
            "whitespace text",
            "ws.jsonl",
            b"{\"id\":\"w\",\"text\":\" \\t \"}\n".to_vec(),
            2,
            "ws.jsonl:1",
        ),
        (
            "NUL bytes in a lines file",
            "nul.txt",
            b"alpha\0beta\0gamma delta\n".to_vec(),
            0,
            "1 documents",
        ),
        ("NUL-only line", "nul0.txt", b"\0\0\0\n".to_vec(), 2, "nul0.txt:1"),
        (
            "invalid UTF-8",
            "bad.txt",
            b"fine words here\nbad \xff\xfe bytes\n".to_vec(),
            2,
            "bad.txt:2: invalid UTF-8",
        ),
        (
            "invalid UTF-8 in JSONL",
            "bad.jsonl",
            b"{\"id\":\"x\",\"text\":\"a \xc3\"}\n".to_vec(),
            2,
            "bad.jsonl:1",
        ),
        // Fields other than id, text, date and source are skipped unparsed, however deep.
        ("deeply nested JSON", "deep.jsonl", nested.into_bytes(), 0, "1 documents"),
        ("deeply nested id", "deepid.jsonl", nested_id.into_bytes(), 2, "deepid.jsonl:1"),
        ("100 MB line", "huge.jsonl", huge_line.into_bytes(), 0, "1 documents"),
        ("100 KB id", "longid.jsonl", long_id.into_bytes(), 2, "longid.jsonl:1: invalid id"),
        ("mixed scripts and emoji", "mixed.jsonl", mixed.as_bytes().to_vec(), 0, "1 documents"),
        ("a good record", "story.jsonl", story.into_bytes(), 0, "1 documents"),
    ];
    for (name, file, bytes, exit, stderr_names) in cases {
        let path = write(dir.path(), file, &bytes);
        let started = Instant::now();
        let output = crate::common::neardup(&["scan", "--no-progress", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(exit), "{name}: {stderr}");
        assert!(stderr.contains(stderr_names), "{name}: {stderr:?} names {stderr_names:?}");
        if exit == 2 {
            // The same file with --skip-invalid: reported, skipped, exit 0.
            let output = crate::common::neardup(&[
                "scan",
                "--no-progress",
                "--skip-invalid",
                path.to_str().unwrap(),
            ]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(0), "{name} --skip-invalid: {stderr}");
            assert!(stderr.contains("skipped"), "{name} --skip-invalid: {stderr}");
        }
        eprintln!("scan case {name:?}: {:?}", started.elapsed());
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

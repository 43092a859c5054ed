//! The service as operators run it: Prometheus metrics scraped over HTTP, JSON logs
//! parsed line by line, the config file through `neardup config` and `serve --config`,
//! token reload on SIGHUP, and the CLI client (`cluster`, `remove`, `stats`, mutual TLS,
//! one message per kind of failure) against real servers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use tonic::metadata::MetadataValue;

use crate::common::{ServeProcess, TestServer, root};
use crate::secure::{Pki, make_ca};
use neardup::config::{LogFormat, ServiceConfig};
use neardup::service::pb::{self, deduplicator_client::DeduplicatorClient};

const STORY: &str = "The central bank raised its key interest rate by half a percentage point on \
    Thursday, the largest increase in two decades, and signalled that further rises were likely \
    as inflation stayed well above its target for the sixth month in a row.";
const READER: &str = "ops-reader-0123456789abcdef";
const WRITER: &str = "ops-writer-0123456789abcdef";
const ADMIN: &str = "ops-admin-0123456789abcdef";

fn article(id: &str, text: &str) -> pb::Article {
    pb::Article { id: id.into(), text: text.into(), ..Default::default() }
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A token file with a reader, a writer (check and ingest) and an admin token.
fn token_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tokens");
    std::fs::write(&path, format!("{READER} check\n{WRITER} check,ingest\n{ADMIN} admin\n"))
        .unwrap();
    path
}

/// `GET /metrics` over a plain TCP connection: the body, after checking the status.
fn scrape(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain"), "{head}");
    body.to_owned()
}

/// The value of the series `name` whose labels include `labels` (0 when absent).
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| series.split('{').next() == Some(name))
        .filter(|(series, _)| labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\""))))
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

async fn scrape_async(address: SocketAddr) -> String {
    tokio::task::spawn_blocking(move || scrape(address)).await.unwrap()
}

/// The request counter and the latency histogram grow by exactly one for one `Check`
/// answered OK, and a refused token counts as UNAUTHENTICATED; the index levels are
/// there too. This is the only in-process server of the test binary with metrics on,
/// so no other test's requests are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_each_request_by_rpc_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        auth_tokens: Some(token_file(dir.path())),
        ..Default::default()
    };
    let server = TestServer::start(config).await;
    let metrics = server.metrics_addr().expect("a metrics address");
    let mut client = server.client().await;
    let ingest = pb::IngestRequest { article: Some(article("a", STORY)) };
    client.ingest(with_token(ingest, Some(WRITER))).await.unwrap();

    let check = ("grpc_method", "Check");
    let ok = ("grpc_code", "OK");
    let refused = ("grpc_code", "UNAUTHENTICATED");
    let before = scrape_async(metrics).await;
    let request = pb::CheckRequest { article: Some(article("b", STORY)) };
    let verdict = client.check(with_token(request, Some(READER))).await.unwrap().into_inner();
    assert_eq!(verdict.kind(), pb::Kind::Duplicate);
    let after = scrape_async(metrics).await;
    let handled = |text: &str, code| sample(text, "grpc_server_handled_total", &[check, code]);
    let timed = |text: &str| sample(text, "grpc_server_handling_seconds_count", &[check]);
    assert_eq!(handled(&after, ok) - handled(&before, ok), 1.0, "{after}");
    assert_eq!(timed(&after) - timed(&before), 1.0, "{after}");
    let buckets = sample(&after, "grpc_server_handling_seconds_bucket", &[check, ("le", "+Inf")]);
    assert_eq!(buckets, timed(&after), "a real histogram, not a summary");
    assert!(after.contains("grpc_service=\"neardup.v1.Deduplicator\""), "{after}");
    assert!(after.contains("grpc_type=\"unary\""), "{after}");

    let request = pb::CheckRequest { article: Some(article("c", STORY)) };
    let status = client.check(with_token(request, Some("not-a-token-of-this-server"))).await;
    assert_eq!(status.unwrap_err().code(), tonic::Code::Unauthenticated);
    let refused_after = scrape_async(metrics).await;
    assert_eq!(handled(&refused_after, refused) - handled(&after, refused), 1.0);
    assert_eq!(handled(&refused_after, ok), handled(&after, ok), "a refusal is not an OK");

    for (name, least) in [
        ("neardup_index_documents", 1.0),
        ("neardup_index_stories", 1.0),
        ("neardup_hashing_queue_capacity", 256.0),
        ("process_resident_memory_bytes", 1.0),
        ("neardup_log_appends_total", 1.0),
        ("neardup_log_fsyncs_total", 1.0),
        ("neardup_log_fsync_seconds_count", 1.0),
        ("neardup_articles_ingested_total", 1.0),
    ] {
        assert!(sample(&refused_after, name, &[]) >= least, "{name} in {refused_after}");
    }
    server.shutdown().await;
}

/// Runs the `neardup` binary off the runtime with `envs`, and no NEARDUP_* variable
/// from the environment of the test.
async fn neardup(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let envs: Vec<(String, String)> =
        envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_neardup"));
        for name in ["NEARDUP_SERVER", "NEARDUP_TOKEN", "NEARDUP_TOKEN_FILE"] {
            command.env_remove(name);
        }
        command.args(&args).envs(envs).output().unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    crate::common::stdout_ok(output)
}

fn failure(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `remove`, `stats` and `cluster` against a real server, the address given as
/// `host:port` through NEARDUP_SERVER and the token through NEARDUP_TOKEN_FILE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_remove_stats_and_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig { auth_tokens: Some(token_file(dir.path())), ..Default::default() };
    let server = TestServer::start(config).await;
    let address = server.address().to_string();
    let writer = dir.path().join("writer.token");
    std::fs::write(&writer, format!("{WRITER}\n")).unwrap();
    let admin = dir.path().join("admin.token");
    std::fs::write(&admin, format!("{ADMIN}\n")).unwrap();
    let as_writer =
        [("NEARDUP_SERVER", address.as_str()), ("NEARDUP_TOKEN_FILE", writer.to_str().unwrap())];
    let as_admin =
        [("NEARDUP_SERVER", address.as_str()), ("NEARDUP_TOKEN_FILE", admin.to_str().unwrap())];

    let kremlin = root().join("examples/kremlin.jsonl");
    let ingested = stdout(&neardup(&["ingest", kremlin.to_str().unwrap()], &as_writer).await);
    let verdicts: Vec<serde_json::Value> =
        ingested.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let story = verdicts[1]["cluster_id"].as_str().unwrap().to_owned();
    let copies: Vec<&str> = verdicts
        .iter()
        .filter(|v| v["cluster_id"] == story.as_str())
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert!(copies.len() >= 3, "{ingested}");

    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&neardup(&["stats"], &as_writer).await)).unwrap();
    assert_eq!(stats["documents"], verdicts.len(), "{stats}");
    assert_eq!(stats["config"]["num_perm"], 128, "{stats}");
    assert_eq!(stats["sync"], "always");

    let cluster: serde_json::Value =
        serde_json::from_str(&stdout(&neardup(&["cluster", &story], &as_writer).await)).unwrap();
    assert_eq!(cluster["cluster_id"], story.as_str(), "{cluster}");
    let mut members: Vec<&str> =
        cluster["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    members.sort_unstable();
    let mut expected = copies.clone();
    expected.sort_unstable();
    assert_eq!(members, expected);

    // Remove needs the admin scope; an unknown id is reported, not an error.
    let denied = failure(&neardup(&["remove", copies[0]], &as_writer).await);
    assert!(denied.contains("permission denied"), "{denied}");
    let removed = stdout(&neardup(&["remove", copies[0], "no-such-article"], &as_admin).await);
    let lines: Vec<serde_json::Value> =
        removed.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines[0], serde_json::json!({"id": copies[0], "removed": true}));
    assert_eq!(lines[1], serde_json::json!({"id": "no-such-article", "removed": false}));
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&neardup(&["stats"], &as_writer).await)).unwrap();
    assert_eq!(stats["documents"], verdicts.len() - 1);
    server.shutdown().await;
}

/// Writes a client certificate signed by `ca` as `name.pem` and `name.key` in the PKI.
fn client_certificate(pki: &Pki, ca: &rcgen::CertifiedIssuer<'static, KeyPair>, name: &str) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()]).unwrap().signed_by(&key, ca).unwrap();
    std::fs::write(pki.path(&format!("{name}.pem")), cert.pem()).unwrap();
    std::fs::write(pki.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
}

fn path(pki: &Pki, name: &str) -> String {
    pki.path(name).to_str().unwrap().to_owned()
}

/// The CLI reaches a mutual-TLS server with `--tls-ca`, `--tls-cert` and `--tls-key`
/// (a `host:port` server then means https), and says what is wrong without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_speaks_mutual_tls() {
    let pki = Pki::new();
    let (clients_ca, clients_ca_pem) = make_ca("newsroom clients CA");
    std::fs::write(pki.path("clients.pem"), clients_ca_pem).unwrap();
    client_certificate(&pki, &clients_ca, "ingest-worker");
    let (stranger_ca, _) = make_ca("not the clients CA");
    client_certificate(&pki, &stranger_ca, "stranger");
    let config =
        ServiceConfig { tls: Some(pki.tls(Some(pki.path("clients.pem")))), ..Default::default() };
    let server = TestServer::start(config).await;
    let address = format!("localhost:{}", server.address().port());
    let ca = path(&pki, "ca.pem");
    let tls_args = |name: &str| {
        vec![
            "--tls-ca".to_owned(),
            ca.clone(),
            "--tls-cert".into(),
            path(&pki, &format!("{name}.pem")),
            "--tls-key".into(),
            path(&pki, &format!("{name}.key")),
        ]
    };
    let run = |extra: Vec<String>| {
        let mut args = vec!["stats".to_owned(), "--server".into(), address.clone()];
        args.extend(extra);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            neardup(&args, &[]).await
        }
    };
    let stats: serde_json::Value =
        serde_json::from_str(&stdout(&run(tls_args("ingest-worker")).await)).unwrap();
    assert_eq!(stats["documents"], 0);

    let anonymous = failure(&run(vec!["--tls-ca".into(), ca.clone()]).await);
    assert!(anonymous.contains("--tls-cert"), "says what is missing: {anonymous}");
    let stranger = failure(&run(tls_args("stranger")).await);
    assert!(stranger.contains("--tls-cert"), "{stranger}");
    let https = format!("https://{address}");
    let untrusted = failure(&neardup(&["stats", "--server", &https], &[]).await);
    assert!(
        untrusted.contains("give that CA with --tls-ca"),
        "the system's roots do not know a private CA: {untrusted}"
    );
    server.shutdown().await;
}

/// Each way a client call can fail gets its own message, naming what to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_failures_each_say_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig { auth_tokens: Some(token_file(dir.path())), ..Default::default() };
    let plain = TestServer::start(config).await;
    let pki = Pki::new();
    let tls =
        TestServer::start(ServiceConfig { tls: Some(pki.tls(None)), ..Default::default() }).await;
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let reader = dir.path().join("reader.token");
    std::fs::write(&reader, READER).unwrap();
    let writer = dir.path().join("writer.token");
    std::fs::write(&writer, WRITER).unwrap();
    let bad = dir.path().join("bad.jsonl");
    let good = serde_json::json!({"id": "fine", "text": STORY});
    std::fs::write(&bad, format!("{good}\n{}\n", serde_json::json!({"id": "blank", "text": " "})))
        .unwrap();
    let plain_address = plain.address().to_string();
    let tls_address = format!("https://localhost:{}", tls.address().port());
    let tls_http = format!("http://{}", tls.address());
    let ca = path(&pki, "ca.pem");
    let (bad, reader, writer) =
        (bad.to_str().unwrap(), reader.to_str().unwrap(), writer.to_str().unwrap());
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("unreachable", vec!["stats", "--server", &closed], "cannot reach the server"),
        ("plain text to TLS", vec!["stats", "--server", &tls_http], "use an https:// URL"),
        (
            "TLS to plain text",
            vec!["stats", "--server", &plain_address, "--tls-ca", &ca],
            "does not speak TLS",
        ),
        ("untrusted server", vec!["stats", "--server", &tls_address], "give that CA with --tls-ca"),
        ("no token", vec!["stats", "--server", &plain_address], "not authenticated"),
        (
            "missing scope",
            vec!["ingest", "--server", &plain_address, "--token-file", reader, bad],
            "permission denied",
        ),
        (
            "bad article",
            vec!["ingest", "--server", &plain_address, "--token-file", writer, bad],
            "bad.jsonl:2: article refused",
        ),
        (
            "bad article in check",
            vec!["check", "--server", &plain_address, "--token-file", writer, bad],
            "bad.jsonl:2: article refused",
        ),
    ];
    let mut seen = Vec::new();
    for (name, args, says) in cases {
        let stderr = failure(&neardup(&args, &[]).await);
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        for secret in [READER, WRITER] {
            assert!(!stderr.contains(secret), "{name}: a token leaked: {stderr}");
        }
        for (other, earlier) in &seen {
            assert_ne!(&stderr, earlier, "{name} and {other} read alike");
        }
        seen.push((name, stderr));
    }
    plain.shutdown().await;
    tls.shutdown().await;
}

/// One config file holds every serve setting: `serve --config` starts from one with a
/// `[limits]` table and JSON logs, and every line the server writes is a JSON object with
/// a level and a message; request lines carry the RPC, the status code, the latency and
/// the peer; refusals are at warn; no token appears anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = token_file(dir.path());
    let config = dir.path().join("neardup.toml");
    std::fs::write(
        &config,
        format!(
            "log_format = \"json\"\nauth_tokens = {tokens:?}\n\n\
             [limits]\nmax_in_flight = 64\nrequest_timeout = \"20s\"\n"
        ),
    )
    .unwrap();
    let mut served =
        ServeProcess::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let mut client = served.client().await;
    let check =
        |id: &str, token| with_token(pb::CheckRequest { article: Some(article(id, STORY)) }, token);
    client.check(check("checked", Some(READER))).await.unwrap();
    client.check(check("anonymous", None)).await.unwrap_err();
    let ingest =
        with_token(pb::IngestRequest { article: Some(article("blank", " ")) }, Some(WRITER));
    client.ingest(ingest).await.unwrap_err();
    let mut health = tonic_health::pb::health_client::HealthClient::new(served.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    let (status, stderr) = served.terminate();
    assert!(status.success(), "{stderr}");

    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    for line in &lines {
        assert!(line["level"].is_string() && line["message"].is_string(), "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
    for secret in [READER, WRITER, ADMIN] {
        assert!(!stderr.contains(secret), "a token leaked: {stderr}");
    }
    let requests: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["message"] == "request" || l["message"] == "refused").collect();
    assert_eq!(requests.len(), 3, "one line per request, health checks at debug: {stderr}");
    for line in &requests {
        for field in ["rpc", "code", "latency_ms", "peer"] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
    }
    let find = |rpc: &str, code: &str| {
        requests
            .iter()
            .find(|l| l["rpc"] == rpc && l["code"] == code)
            .unwrap_or_else(|| panic!("{rpc} {code} in {stderr}"))
    };
    let ok = find("Check", "OK");
    assert_eq!((ok["level"].as_str(), ok["id"].as_str()), (Some("INFO"), Some("checked")));
    assert_eq!(find("Check", "UNAUTHENTICATED")["level"], "WARN");
    let refused = find("Ingest", "INVALID_ARGUMENT");
    assert_eq!(refused["id"], "blank");
    assert!(refused["error"].as_str().unwrap().contains("text"), "{refused}");
    let listening: Vec<_> = lines.iter().filter(|l| l["message"] == "listening").collect();
    assert_eq!(listening.len(), 1, "{stderr}");
    assert_eq!(listening[0]["address"], served.address().to_string());
}

/// SIGHUP reloads the token file: a new token works and a dropped one stops working,
/// without a restart; a file that no longer parses leaves the tokens in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{READER} check\n")).unwrap();
    let served =
        ServeProcess::start(&dir.path().join("data"), &["--auth-tokens", tokens.to_str().unwrap()]);
    let mut client = DeduplicatorClient::new(served.channel().await);
    let newcomer = "ops-newcomer-0123456789abcdef";
    let mut stats = async |token: &str| {
        client
            .stats(with_token(pb::StatsRequest {}, Some(token)))
            .await
            .map(drop)
            .map_err(|s| s.code())
    };
    assert_eq!(stats(READER).await, Ok(()));
    assert_eq!(stats(newcomer).await, Err(tonic::Code::Unauthenticated));
    let hangup = || {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &served.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };

    std::fs::write(&tokens, format!("{newcomer} check\n")).unwrap();
    hangup();
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats(newcomer).await.is_err() {
        assert!(Instant::now() < deadline, "the new token never worked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats(READER).await, Err(tonic::Code::Unauthenticated), "the old one is gone");

    std::fs::write(&tokens, "short check\n").unwrap();
    hangup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stats(newcomer).await, Ok(()), "a bad file changes nothing");
}

/// A busy port fails `serve` at once, naming the address, before the data directory is
/// created.
#[test]
fn a_busy_port_leaves_no_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let output = crate::common::neardup(&[
        "serve",
        "--listen",
        &address,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert_eq!(stderr.matches("in use").count(), 1, "the cause is said once: {stderr}");
    assert!(!data.exists(), "no stray data directory");
}

/// A config file with every table and key round-trips through `neardup config`: the
/// output is the same config, and feeding it back prints it unchanged. Flags win over
/// the file. Durations and sizes read and print in one style.
#[test]
fn config_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("neardup.toml");
    let written = r#"
listen = "0.0.0.0:6000"
metrics_listen = "127.0.0.1:9464"
log_format = "json"
max_message_bytes = "16MiB"
shutdown_grace = "45s"
auth_tokens = "/etc/neardup/tokens"

[tls]
cert = "/etc/neardup/server.pem"
key = "/etc/neardup/server.key"
client_ca = "/etc/neardup/clients.pem"

[store]
data_dir = "/var/lib/neardup"
sync = "batch"
batch_interval = "250ms"
window = "7d"
compact_fraction = 0.25
compact_min_dead = 5000

[limits]
max_concurrent_streams = 32
max_in_flight_per_connection = 16
max_in_flight = 128
hashing_queue = 64
request_timeout = "20s"

[detector]
shingle_size = 4
jaccard_threshold = 0.35
max_matches = 5

[detector.boilerplate]
min_docs_per_source = 4
"#;
    std::fs::write(&file, written).unwrap();
    let file_arg = file.to_str().unwrap();
    let printed =
        crate::common::stdout_ok(&crate::common::neardup(&["config", "--config", file_arg]));
    let expected: ServiceConfig = toml::from_str(written).unwrap();
    let got: ServiceConfig = toml::from_str(&printed).unwrap();
    assert_eq!(got, expected, "{printed}");
    assert_eq!(got.log_format, LogFormat::Json);
    assert_eq!(got.max_message_bytes, 16 << 20);
    assert_eq!(got.store.window, Some(Duration::from_secs(7 * 86_400)));
    for key in [
        "window = \"7d\"",
        "max_message_bytes = \"16MiB\"",
        "shutdown_grace = \"45s\"",
        "[detector.boilerplate]",
    ] {
        assert!(printed.contains(key), "{key} in {printed}");
    }
    let again = dir.path().join("again.toml");
    std::fs::write(&again, &printed).unwrap();
    let reprinted = crate::common::stdout_ok(&crate::common::neardup(&[
        "config",
        "--config",
        again.to_str().unwrap(),
    ]));
    assert_eq!(reprinted, printed, "a fixed point");

    let overridden = crate::common::stdout_ok(&crate::common::neardup(&[
        "config",
        "--config",
        file_arg,
        "--listen",
        "127.0.0.1:7000",
        "--window",
        "36h",
        "--max-in-flight",
        "9",
        "--shingle-size",
        "6",
    ]));
    let got: ServiceConfig = toml::from_str(&overridden).unwrap();
    assert_eq!(got.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(got.store.window, Some(Duration::from_secs(36 * 3600)));
    assert_eq!((got.limits.max_in_flight, got.limits.hashing_queue), (9, 64));
    assert_eq!((got.detector.shingle_size, got.detector.max_matches), (6, 5));
}

/// An unknown key, a bad duration or a bad size is an error naming it (exit code 2).
#[test]
fn config_file_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[limits]\nmax_inflight = 3\n", "max_inflight"),
        ("lisen = \"127.0.0.1:1\"\n", "lisen"),
        ("[detector.boilerplate]\nenable = false\n", "enable"),
        ("shutdown_grace = \"30000\"\n", "shutdown_grace"),
        ("max_message_bytes = \"8 parsecs\"\n", "max_message_bytes"),
        ("[limits]\nmax_in_flight = 0\n", "limits.max_in_flight"),
    ];
    for (text, named) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let output = crate::common::neardup(&["config", "--config", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(named), "{text}: {stderr}");
        assert!(stderr.contains("bad.toml") || named.contains('.'), "names the file: {stderr}");
    }
    let output = crate::common::neardup(&["serve", "--shutdown-grace", "30000"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--shutdown-grace") && stderr.contains("30s"), "{stderr}");
}

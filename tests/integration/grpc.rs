//! The gRPC service end to end: a server started in-process on `127.0.0.1:0`, called with
//! the generated tonic clients. Expectations come from the Kremlin example's ground truth
//! (`cluster` per article, publication dates), not from the server's own output.

use std::collections::HashMap;
use std::path::Path;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::common::{ServeProcess, TestServer};
use neardup::config::ServiceConfig;
use neardup::scan::input::parse_date;
use neardup::service::pb;
use neardup::service::{SERVICE_NAME, Server, convert};

const KREMLIN: &str = include_str!("../../examples/kremlin.jsonl");
/// The four-paragraph excerpt: a copy by the ground truth, but too short for Jaccard and
/// only found by containment. Covered by its own test, `kremlin_excerpt_joins_its_story`.
const EXCERPT: &str = "aggregator-3-excerpt";

/// One article of the example with its ground-truth cluster.
struct Truth {
    article: pb::Article,
    cluster: String,
}

fn kremlin() -> Vec<Truth> {
    KREMLIN
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| row[name].as_str().unwrap().to_owned();
            Truth {
                article: pb::Article {
                    id: field("id"),
                    text: field("text"),
                    title: field("title"),
                    source: field("source"),
                    published_at: parse_date(&field("date")).map(convert::timestamp),
                    ..Default::default()
                },
                cluster: field("cluster"),
            }
        })
        .collect()
}

fn kremlin_without_excerpt() -> Vec<Truth> {
    kremlin().into_iter().filter(|t| t.article.id != EXCERPT).collect()
}

fn ingest_request(article: pb::Article) -> pb::IngestRequest {
    pb::IngestRequest { article: Some(article) }
}

fn millis(article: &pb::Article) -> i64 {
    let ts = article.published_at.as_ref().unwrap();
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

/// Checks verdicts (in input order) against the ground truth: the first article of each
/// true story is new, later ones are copies of the kind the example describes, articles
/// share a cluster exactly when they share a true story, and the origin is the story's
/// earliest published article.
fn assert_matches_truth(truth: &[Truth], verdicts: &[pb::Verdict]) {
    assert_eq!(verdicts.len(), truth.len());
    let mut first_of: HashMap<&str, &str> = HashMap::new();
    let mut earliest: HashMap<&str, (i64, &str)> = HashMap::new();
    let mut cluster_of_story: HashMap<&str, &str> = HashMap::new();
    let mut story_of_cluster: HashMap<&str, &str> = HashMap::new();
    for (t, verdict) in truth.iter().zip(verdicts) {
        let id = t.article.id.as_str();
        assert_eq!(verdict.id, id);
        let story = t.cluster.as_str();
        let is_first = *first_of.entry(story).or_insert(id) == id;
        let expected_kind = match id {
            _ if is_first => pb::Kind::NewStory,
            EXCERPT => pb::Kind::PartialCopy,
            // The other members are the full readout with chrome or light edits.
            _ => pb::Kind::Duplicate,
        };
        assert_eq!(verdict.kind(), expected_kind, "kind of {id}");
        assert_eq!(
            *cluster_of_story.entry(story).or_insert(&verdict.cluster_id),
            verdict.cluster_id,
            "{id} must join the cluster of its story"
        );
        assert_eq!(
            *story_of_cluster.entry(&verdict.cluster_id).or_insert(story),
            story,
            "{id} must not join another story's cluster"
        );
        let candidate = (millis(&t.article), id);
        let origin = earliest.entry(story).or_insert(candidate);
        *origin = (*origin).min(candidate);
        assert_eq!(verdict.origin_id, origin.1, "origin when {id} arrives");
        if expected_kind == pb::Kind::NewStory {
            assert!(verdict.matches.is_empty());
        } else {
            assert!(!verdict.matches.is_empty(), "{id} names what it copies");
            assert!(verdict.best_jaccard > 0.0 && verdict.best_containment > 0.0);
        }
    }
}

#[tokio::test]
async fn kremlin_one_by_one() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    let mut verdicts = Vec::new();
    for t in &truth {
        verdicts.push(client.ingest(ingest_request(t.article.clone())).await.unwrap().into_inner());
    }
    assert_matches_truth(&truth, &verdicts);
    // The readout's story: cluster named after its first indexed member, origin the
    // earliest published (korrespondent, 20:15, before aggregator-1 at 21:40).
    assert_eq!(verdicts[1].cluster_id, "aggregator-1");
    assert_eq!(verdicts[2].origin_id, "korrespondent");
    server.shutdown().await;
}

#[tokio::test]
async fn kremlin_as_a_stream() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    let requests: Vec<_> = truth.iter().map(|t| ingest_request(t.article.clone())).collect();
    let mut stream = client.ingest_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut verdicts = Vec::new();
    while let Some(verdict) = stream.message().await.unwrap() {
        verdicts.push(verdict);
    }
    assert_matches_truth(&truth, &verdicts);
    server.shutdown().await;
}

#[tokio::test]
async fn kremlin_excerpt_joins_its_story() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin();
    let mut verdicts = Vec::new();
    for t in &truth {
        verdicts.push(client.ingest(ingest_request(t.article.clone())).await.unwrap().into_inner());
    }
    assert_matches_truth(&truth, &verdicts);
    server.shutdown().await;
}

/// Concurrent streams each get their own verdicts back, in their own order.
#[tokio::test]
async fn concurrent_streams_answer_in_order() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let truth = kremlin_without_excerpt();
    let mut tasks = Vec::new();
    for stream_ix in 0..4 {
        let mut client = server.client().await;
        let requests: Vec<_> = (0..50)
            .map(|i| {
                let mut article = truth[i % truth.len()].article.clone();
                article.id = format!("s{stream_ix}-{i}");
                ingest_request(article)
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut stream =
                client.ingest_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
            let mut ids = Vec::new();
            while let Some(verdict) = stream.message().await.unwrap() {
                ids.push(verdict.id);
            }
            (stream_ix, ids)
        }));
    }
    for task in tasks {
        let (stream_ix, ids) = task.await.unwrap();
        let expected: Vec<String> = (0..50).map(|i| format!("s{stream_ix}-{i}")).collect();
        assert_eq!(ids, expected);
    }
    let stats = server.client().await.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn check_stores_nothing() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    client.ingest(ingest_request(truth[0].article.clone())).await.unwrap();
    let mut probe = truth[1].article.clone(); // korrespondent: a copy of aggregator-1
    probe.id = "probe".into();
    for _ in 0..2 {
        let verdict = client
            .check(pb::CheckRequest { article: Some(probe.clone()) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verdict.kind(), pb::Kind::Duplicate);
        assert_eq!(verdict.cluster_id, "aggregator-1");
        // Not stored, so it cannot be the origin although it is earlier.
        assert_eq!(verdict.origin_id, "aggregator-1");
    }
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 1);
    let cluster = client
        .get_cluster(pb::GetClusterRequest { cluster_id: "aggregator-1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cluster.members.len(), 1);
    // A checked article of a new story is new, and still not stored.
    let verdict = client
        .check(pb::CheckRequest { article: Some(truth[3].article.clone()) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict.kind(), pb::Kind::NewStory);
    assert_eq!(client.stats(pb::StatsRequest {}).await.unwrap().into_inner().documents, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn get_cluster_remove_and_stats() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    for t in &truth {
        client.ingest(ingest_request(t.article.clone())).await.unwrap();
    }
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    let stories: std::collections::HashSet<&str> =
        truth.iter().map(|t| t.cluster.as_str()).collect();
    assert_eq!(stats.documents, truth.len() as u64);
    assert_eq!(stats.clusters, stories.len() as u64);
    assert!(stats.memory_bytes > 0);
    assert!(stats.durable);
    assert_eq!(stats.sync, "always");
    assert_eq!(stats.window, None, "no window by default");
    assert!(stats.disk_bytes > 512 * truth.len() as u64, "{} bytes", stats.disk_bytes);
    let earliest = truth.iter().min_by_key(|t| millis(&t.article)).unwrap();
    assert_eq!(stats.oldest_kept_id, earliest.article.id);
    assert_eq!(stats.oldest_kept_at, earliest.article.published_at);
    let uptime = stats.uptime.unwrap();
    assert!(uptime.seconds >= 0 && (uptime.seconds, uptime.nanos) > (0, 0));
    let config = stats.config.unwrap();
    let defaults = ServiceConfig::default();
    assert_eq!(config.num_perm as usize, defaults.detector.num_perm);
    assert_eq!(config.bands as usize, defaults.detector.bands);
    assert_eq!(config.jaccard_threshold, defaults.detector.jaccard_threshold);
    assert_eq!(config.max_message_bytes as usize, defaults.max_message_bytes);

    // The readout's story, earliest first, scored against its origin.
    let in_story: Vec<&Truth> =
        truth.iter().filter(|t| t.cluster == "putin-macron-call-2022-01-28").collect();
    let mut expected: Vec<(i64, &str)> =
        in_story.iter().map(|t| (millis(&t.article), t.article.id.as_str())).collect();
    expected.sort();
    let cluster = client
        .get_cluster(pb::GetClusterRequest { cluster_id: "aggregator-1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cluster.origin_id, expected[0].1);
    let members: Vec<(i64, &str)> = cluster
        .members
        .iter()
        .map(|m| {
            let ts = m.published_at.unwrap();
            (ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000, m.id.as_str())
        })
        .collect();
    assert_eq!(members, expected);
    let origin = &cluster.members[0];
    assert_eq!((origin.jaccard, origin.containment), (1.0, 1.0));
    assert_eq!(origin.source, "korrespondent.net");
    assert!(cluster.members[1..].iter().all(|m| m.jaccard < 1.0 && m.jaccard >= 0.3));

    // Removing the origin hands the story to the next earliest copy.
    let removed = client.remove(pb::RemoveRequest { id: "korrespondent".into() }).await.unwrap();
    assert!(removed.into_inner().removed);
    let again = client.remove(pb::RemoveRequest { id: "korrespondent".into() }).await.unwrap();
    assert!(!again.into_inner().removed);
    let cluster = client
        .get_cluster(pb::GetClusterRequest { cluster_id: "aggregator-1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cluster.origin_id, "aggregator-1");
    assert_eq!(cluster.members.len(), expected.len() - 1);
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, truth.len() as u64 - 1);
    server.shutdown().await;
}

#[tokio::test]
async fn ingest_is_idempotent_and_conflicts_are_already_exists() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    client.ingest(ingest_request(truth[0].article.clone())).await.unwrap();
    let copy = client.ingest(ingest_request(truth[1].article.clone())).await.unwrap().into_inner();
    let retried = client.ingest(ingest_request(truth[1].article.clone())).await.unwrap();
    assert_eq!(retried.into_inner(), copy);
    let mut conflicting = truth[3].article.clone();
    conflicting.id = truth[1].article.id.clone();
    let status = client.ingest(ingest_request(conflicting)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(status.message().contains("korrespondent"), "{}", status.message());
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_its_code() {
    let config = ServiceConfig { max_message_bytes: 16 << 10, ..Default::default() };
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let good = kremlin_without_excerpt().remove(0).article;
    let with = |edit: fn(&mut pb::Article)| {
        let mut article = good.clone();
        edit(&mut article);
        Some(article)
    };
    let cases: Vec<(&str, Option<pb::Article>, Code, &str)> = vec![
        ("no article", None, Code::InvalidArgument, "article"),
        ("missing id", with(|a| a.id.clear()), Code::InvalidArgument, "id"),
        ("blank id", with(|a| a.id = "  ".into()), Code::InvalidArgument, "id"),
        ("empty text", with(|a| a.text.clear()), Code::InvalidArgument, "text"),
        ("whitespace text", with(|a| a.text = " \n\t ".into()), Code::InvalidArgument, "text"),
        (
            "bad timestamp",
            with(|a| a.published_at = Some(prost_types::Timestamp { seconds: 1, nanos: -5 })),
            Code::InvalidArgument,
            "published_at",
        ),
        (
            "oversize",
            with(|a| a.text = "word ".repeat(4 << 10)),
            Code::ResourceExhausted,
            "max_message_bytes",
        ),
    ];
    for (name, article, code, named) in cases {
        let ingest = client.ingest(pb::IngestRequest { article: article.clone() }).await;
        let check = client.check(pb::CheckRequest { article }).await;
        for (rpc, status) in [("Ingest", ingest.unwrap_err()), ("Check", check.unwrap_err())] {
            assert_eq!(status.code(), code, "{rpc} {name}: {}", status.message());
            assert!(status.message().contains(named), "{rpc} {name}: {}", status.message());
        }
    }
    let status = client
        .get_cluster(pb::GetClusterRequest { cluster_id: "no-such-story".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("no-such-story"));
    let status = client.get_cluster(pb::GetClusterRequest::default()).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message().contains("cluster_id")),
        (Code::InvalidArgument, true)
    );
    let status = client.remove(pb::RemoveRequest::default()).await.unwrap_err();
    assert_eq!((status.code(), status.message().contains("id")), (Code::InvalidArgument, true));
    // Nothing bad was stored.
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 0);
    server.shutdown().await;
}

/// A bad message fails the stream with its status after the verdicts of every earlier
/// message; those stay stored, later messages are not.
#[tokio::test]
async fn bad_message_ends_the_stream_and_keeps_what_was_acknowledged() {
    let config = ServiceConfig { max_message_bytes: 16 << 10, ..Default::default() };
    let server = TestServer::start(config).await;
    let truth = kremlin_without_excerpt();
    let bad_messages: Vec<(pb::Article, Code)> = vec![
        (
            pb::Article { id: "blank".into(), text: "  ".into(), ..Default::default() },
            Code::InvalidArgument,
        ),
        (
            pb::Article { id: "huge".into(), text: "word ".repeat(4 << 10), ..Default::default() },
            Code::ResourceExhausted,
        ),
        (
            pb::Article { text: truth[3].article.text.clone(), ..truth[0].article.clone() },
            Code::AlreadyExists,
        ),
    ];
    let mut stored = 0u64;
    for (round, (bad, code)) in bad_messages.into_iter().enumerate() {
        let mut client = server.client().await;
        let mut requests = Vec::new();
        for t in &truth[..2] {
            let mut article = t.article.clone();
            if round > 0 {
                article.id = format!("{}-{round}", article.id);
            }
            requests.push(ingest_request(article));
        }
        requests.push(ingest_request(bad));
        let mut late = truth[4].article.clone();
        late.id = format!("late-{round}");
        requests.push(ingest_request(late));
        let mut stream =
            client.ingest_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
        let mut acknowledged = Vec::new();
        let status = loop {
            match stream.message().await {
                Ok(Some(verdict)) => acknowledged.push(verdict.id),
                Ok(None) => panic!("round {round}: stream ended without the error"),
                Err(status) => break status,
            }
        };
        assert_eq!(status.code(), code, "round {round}: {}", status.message());
        assert_eq!(acknowledged.len(), 2, "round {round}");
        stored += 2;
        let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
        assert_eq!(stats.documents, stored, "round {round}: acknowledged kept, later not stored");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_unavailable() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut client = server.client().await;
    let truth = kremlin_without_excerpt();
    let (sender, requests) = mpsc::channel(4);
    let mut stream =
        client.ingest_stream(ReceiverStream::new(requests)).await.unwrap().into_inner();
    sender.send(ingest_request(truth[0].article.clone())).await.unwrap();
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(first.id, truth[0].article.id);
    // The client keeps the stream open; shutting down must not wait for it forever.
    let shutdown = tokio::spawn(server.shutdown());
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    tokio::time::timeout(std::time::Duration::from_secs(10), shutdown)
        .await
        .expect("server stops once its streams end")
        .unwrap();
    drop(sender);
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let server = TestServer::start(ServiceConfig::default()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", SERVICE_NAME] {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health.check(HealthCheckRequest { service: "nope.v1.Nope".into() }).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    assert_eq!(SERVICE_NAME, "neardup.v1.Deduplicator");
    server.shutdown().await;
}

#[tokio::test]
async fn reflection_lists_the_service_in_v1_and_v1alpha() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let v1 = {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(server.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        match responses.message().await.unwrap().unwrap().message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    };
    let v1alpha = {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(server.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        match responses.message().await.unwrap().unwrap().message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    };
    for names in [v1, v1alpha] {
        assert!(names.iter().any(|n| n == "neardup.v1.Deduplicator"), "{names:?}");
        assert!(names.iter().any(|n| n == "grpc.health.v1.Health"), "{names:?}");
    }
    server.shutdown().await;
}

/// Runs the `neardup` binary off the runtime (the in-process server needs it).
async fn neardup(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::common::neardup(&args)
    })
    .await
    .unwrap()
}

/// `neardup ingest --server` and `neardup check --server`: the README's example call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ingest_and_check_print_verdicts() {
    let server = TestServer::start(ServiceConfig::default()).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("kremlin.jsonl");
    let kept: Vec<&str> = KREMLIN.lines().filter(|line| !line.contains(EXCERPT)).collect();
    std::fs::write(&corpus, kept.join("\n")).unwrap();
    let corpus = corpus.to_str().unwrap().to_owned();

    let args = |command: &str| vec![command.into(), "--server".into(), url.clone(), corpus.clone()];
    let output = neardup(args("ingest")).await;
    let stdout = crate::common::stdout_ok(&output);
    let verdicts: Vec<neardup::Verdict> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let as_pb: Vec<pb::Verdict> = verdicts.iter().cloned().map(convert::verdict).collect();
    assert_matches_truth(&kremlin_without_excerpt(), &as_pb);

    // Checking the same file again: every article now finds its stored self.
    let output = neardup(args("check")).await;
    let stdout = crate::common::stdout_ok(&output);
    let checked: Vec<neardup::Verdict> =
        stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(checked.len(), verdicts.len());
    for (verdict, stored) in checked.iter().zip(&verdicts) {
        assert_eq!((&verdict.id, verdict.kind), (&stored.id, neardup::CopyKind::Duplicate));
        assert_eq!(verdict.matches[0].id, stored.id);
        assert_eq!(verdict.best_jaccard, 1.0);
    }
    let stats = server.client().await.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, verdicts.len() as u64);

    // A bad record stops the client with exit code 2 after the verdicts before it.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{}\n{{\"id\": \"x\"}}\n{}\n", kept[0], kept[1])).unwrap();
    let bad_args =
        vec!["ingest".into(), "--server".into(), url.clone(), bad.to_str().unwrap().into()];
    let output = neardup(bad_args).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.jsonl:2: missing field \"text\""), "{stderr}");

    // A refused article names its position and the status.
    let conflict = dir.path().join("conflict.jsonl");
    let row = serde_json::json!({"id": "aggregator-1", "text": "Other words entirely, about the weather."});
    std::fs::write(&conflict, format!("{row}\n")).unwrap();
    let output =
        neardup(vec!["ingest".into(), "--server".into(), url, conflict.to_str().unwrap().into()])
            .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = format!("{}:1: article refused", conflict.display());
    assert!(stderr.contains(&line), "the input line is named: {stderr}");
    assert!(stderr.contains("ALREADY_EXISTS"), "{stderr}");
    server.shutdown().await;
}

/// The binary serves, says once where it listens and keeps its state, exits 0 on SIGTERM
/// and removes its address file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_stops_cleanly_on_sigterm() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let dir = tempfile::tempdir().unwrap();
    let mut served = ServeProcess::start(dir.path(), &[]);
    let mut health = HealthClient::new(served.channel().await);
    let request = HealthCheckRequest { service: SERVICE_NAME.into() };
    assert_eq!(health.check(request).await.unwrap().into_inner().status, 1); // SERVING
    let address_file = served.address_file().to_owned();
    assert!(address_file.exists());
    let (status, stderr) = served.terminate();
    assert!(status.success(), "exit status {status:?}, stderr {stderr}");
    let listening: Vec<&str> = stderr.lines().filter(|l| l.contains("listening")).collect();
    assert_eq!(listening.len(), 1, "one readiness line: {stderr}");
    assert!(listening[0].contains(&served.address().to_string()), "{stderr}");
    assert!(listening[0].contains(&dir.path().display().to_string()), "names the data: {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(!address_file.exists(), "the address file is removed at a clean stop");
}

/// A client that stops reading its verdicts cannot hold the shutdown past the grace period.
#[tokio::test]
async fn shutdown_gives_up_on_a_stuck_client_after_the_grace_period() {
    let config = ServiceConfig {
        shutdown_grace: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    // Far more verdict bytes than the response channel and the HTTP/2 windows hold: one
    // story copied 2,000 times, with long ids and sources in every verdict's 10 matches.
    let requests: Vec<_> = (0..2000)
        .map(|i| {
            ingest_request(pb::Article {
                id: format!("{i:0>500}"),
                text: "wire story about the harbour strike and the talks to end it".into(),
                source: "s".repeat(500),
                ..Default::default()
            })
        })
        .collect();
    let _stream = client.ingest_stream(tokio_stream::iter(requests)).await.unwrap();
    // Wait until the server is stuck: its answers fill every buffer and it stops storing.
    let mut stats_client = server.client().await;
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let stats = stats_client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
        if stats.documents == last {
            break;
        }
        last = stats.documents;
    }
    assert!(last > 0 && last < 2000, "the stream is stuck part way: {last} stored");
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown ends after the grace period");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// Everything acknowledged is there after a clean restart on the same directory, with
/// the same clusters; a removal stays removed; a retry answers from the restored index.
#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let truth = kremlin();
    let server = TestServer::start_in(ServiceConfig::default(), dir.path()).await;
    let mut client = server.client().await;
    let requests: Vec<_> = truth.iter().map(|t| ingest_request(t.article.clone())).collect();
    let mut stream = client.ingest_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut verdicts = Vec::new();
    while let Some(verdict) = stream.message().await.unwrap() {
        verdicts.push(verdict);
    }
    assert_eq!(verdicts.len(), truth.len());
    let removed = &truth.last().unwrap().article.id;
    assert!(
        client
            .remove(pb::RemoveRequest { id: removed.clone() })
            .await
            .unwrap()
            .into_inner()
            .removed
    );
    let before = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    server.shutdown().await;

    let server = TestServer::start_in(ServiceConfig::default(), dir.path()).await;
    let mut client = server.client().await;
    let after = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((after.documents, after.clusters), (before.documents, before.clusters));
    assert_eq!(after.documents, truth.len() as u64 - 1);
    for (t, verdict) in truth.iter().zip(&verdicts) {
        let id = &t.article.id;
        if id == removed {
            let again = client.remove(pb::RemoveRequest { id: id.clone() }).await.unwrap();
            assert!(!again.into_inner().removed, "{id} stays removed");
            continue;
        }
        let cluster = client
            .get_cluster(pb::GetClusterRequest { cluster_id: verdict.cluster_id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert!(cluster.members.iter().any(|m| &m.id == id), "{id} is in its cluster");
        // A retry of an acknowledged article gets its stored decision back.
        let retry = client.ingest(ingest_request(t.article.clone())).await.unwrap().into_inner();
        assert_eq!((retry.kind, &retry.cluster_id), (verdict.kind, &verdict.cluster_id), "{id}");
    }
    server.shutdown().await;
}

/// A directory written under other detector settings is refused, naming the setting,
/// by the library and by the binary (exit code 2), and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(ServiceConfig::default(), dir.path()).await;
    let mut client = server.client().await;
    client.ingest(ingest_request(kremlin()[0].article.clone())).await.unwrap();
    server.shutdown().await;
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = files(dir.path());

    let mut config = ServiceConfig::default();
    config.detector = config.detector.with_num_perm(64);
    config.store.data_dir = dir.path().to_owned();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let refused = Server::bind(config).await.unwrap_err();
    assert!(
        matches!(refused, neardup::Error::IncompatibleStore { ref setting, .. } if setting == "num_perm"),
        "{refused}"
    );

    let args = vec![
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--num-perm".into(),
        "64".into(),
        "--data-dir".into(),
        dir.path().to_str().unwrap().into(),
    ];
    let output = neardup(args).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("num_perm = 128") && stderr.contains("num_perm = 64"), "{stderr}");
    assert_eq!(files(dir.path()), before, "the data is left untouched");

    // Bad store settings are refused before anything is opened.
    for (flag, value, named) in
        [("--window", "7 parsecs", "window"), ("--sync", "sometimes", "sync")]
    {
        let args = vec![
            "serve".to_owned(),
            flag.into(),
            value.into(),
            "--data-dir".into(),
            dir.path().to_str().unwrap().into(),
        ];
        let output = neardup(args).await;
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{stderr}");
    }
    assert_eq!(files(dir.path()), before);
}

fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Under a time window, articles published before the newest minus the window leave
/// the index, and Stats reports the window and the oldest article kept.
#[tokio::test]
async fn window_ages_old_news_out() {
    const DAY: i64 = 24 * 3600 * 1000;
    let mut config = ServiceConfig::default();
    config.store.window = Some(std::time::Duration::from_secs(7 * 24 * 3600));
    let server = TestServer::start(config).await;
    let mut client = server.client().await;
    let article = |id: &str, day: i64, text: &str| pb::Article {
        id: id.into(),
        text: text.into(),
        published_at: Some(convert::timestamp(1_700_000_000_000 + day * DAY)),
        ..Default::default()
    };
    let stories = [
        ("d0", 0, "dock workers walked out at the harbour after pay talks collapsed overnight"),
        ("d3", 3, "grain prices rose for a third week as dry weather cut the expected harvest"),
        ("d9", 9, "engineers finished boring the rail tunnel under the river two months early"),
    ];
    for (id, day, text) in stories {
        client.ingest(ingest_request(article(id, day, text))).await.unwrap();
    }
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    // Day 9 is the newest: day 0 is more than 7 days older and is gone, day 3 is kept.
    assert_eq!(stats.documents, 2);
    assert_eq!(stats.window, Some(prost_types::Duration { seconds: 7 * 24 * 3600, nanos: 0 }));
    assert_eq!(stats.oldest_kept_id, "d3");
    assert_eq!(stats.oldest_kept_at, Some(convert::timestamp(1_700_000_000_000 + 3 * DAY)));
    // A copy of expired news is labelled against what is kept, and not stored.
    let late = client.ingest(ingest_request(article("late", 1, stories[0].2))).await.unwrap();
    assert_eq!(late.into_inner().kind(), pb::Kind::NewStory);
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents, 2);
    server.shutdown().await;
}

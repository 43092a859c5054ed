//! The service as one consistent, durable state: two servers fed one stream agree;
//! a server SIGKILLed at random points mid-stream and restarted (compacted once, too)
//! answers the rest of the stream exactly as one that never stopped, learned chrome
//! included; a directory written by `scan --save` recognises the chrome the scan did;
//! and `GetCluster` resolves a story by any member's id.

use neardup::service::convert;
use neardup::service::pb;
use tonic::Code;

use crate::common::{ServeProcess, TestServer, load_articles, root, seed, xorshift};

/// Articles of the labelled corpus in publication order: `../shared/data/synd-dev.jsonl`
/// (its first `limit`) when present, else the small fixture.
fn stream(limit: usize) -> Vec<pb::Article> {
    let path = crate::common::shared_data("online (full corpus; using the fixture)")
        .map(|data| data.join("synd-dev.jsonl"))
        .unwrap_or_else(|| root().join("tests/fixtures/synd-sample.jsonl"));
    let mut articles = load_articles(&path, limit);
    articles.sort_by_key(|a| a.published_at.map(|t| (t.seconds, t.nanos)));
    articles
}

type Client = pb::deduplicator_client::DeduplicatorClient<tonic::transport::Channel>;

async fn ingest(client: &mut Client, article: &pb::Article) -> pb::Verdict {
    let request = pb::IngestRequest { article: Some(article.clone()) };
    client.ingest(request).await.unwrap().into_inner()
}

async fn cluster(client: &mut Client, id: &str) -> Result<pb::Cluster, tonic::Status> {
    let request = pb::GetClusterRequest { cluster_id: id.to_owned() };
    client.get_cluster(request).await.map(tonic::Response::into_inner)
}

async fn check(client: &mut Client, article: &pb::Article) -> pb::Verdict {
    let request = pb::CheckRequest { article: Some(article.clone()) };
    client.check(request).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_fed_one_stream_agree() {
    let articles = stream(600);
    let (a, b) =
        (TestServer::start(Default::default()).await, TestServer::start(Default::default()).await);
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    // One server takes the stream in one call, the other article by article.
    let requests: Vec<_> =
        articles.iter().map(|a| pb::IngestRequest { article: Some(a.clone()) }).collect();
    let mut streamed = ca.ingest_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    for article in &articles {
        let one = streamed.message().await.unwrap().unwrap();
        assert_eq!(one, ingest(&mut cb, article).await, "{}", article.id);
    }
    let mut chrome = 0;
    for article in &articles {
        assert_eq!(
            cluster(&mut ca, &article.id).await.unwrap(),
            cluster(&mut cb, &article.id).await.unwrap()
        );
        let probe = pb::Article { id: format!("probe-{}", article.id), ..article.clone() };
        let verdict = check(&mut ca, &probe).await;
        chrome += verdict.chrome_ignored.len();
        assert_eq!(verdict, check(&mut cb, &probe).await);
    }
    assert!(chrome > 0, "the stream teaches some chrome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_changes_no_later_verdict() {
    let articles = stream(500);
    let mut seed = seed("NEARDUP_ONLINE_SEED");
    let mut kills: Vec<usize> =
        (0..3).map(|_| 1 + xorshift(&mut seed) as usize % (articles.len() - 1)).collect();
    kills.sort_unstable();
    kills.dedup();
    let reference = TestServer::start(Default::default()).await;
    let mut never_stopped = reference.client().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut served = ServeProcess::start(&data, &["--sync", "always"]);
    let mut client = served.client().await;
    for (n, article) in articles.iter().enumerate() {
        let expected = ingest(&mut never_stopped, article).await;
        assert_eq!(ingest(&mut client, article).await, expected, "article {n}, {}", article.id);
        if kills.contains(&(n + 1)) {
            served.kill();
            if n + 1 == kills[0] {
                // Compaction checkpoints the model and drops what it covers.
                let out =
                    crate::common::neardup(&["compact", "--data-dir", data.to_str().unwrap()]);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            served = ServeProcess::start(&data, &["--sync", "always"]);
            client = served.client().await;
            let probe = pb::Article { id: "probe".into(), ..article.clone() };
            assert_eq!(check(&mut client, &probe).await, check(&mut never_stopped, &probe).await);
        }
    }
    for article in &articles {
        assert_eq!(
            cluster(&mut client, &article.id).await.unwrap(),
            cluster(&mut never_stopped, &article.id).await.unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_save_then_serve_ignores_the_chrome_the_scan_did() {
    let articles = stream(800);
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let lines: Vec<String> = articles
        .iter()
        .map(|a| serde_json::json!({"id": a.id, "text": a.text, "source": a.source}).to_string())
        .collect();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("scan.jsonl"));
    let scanned = crate::common::neardup(&[
        "scan",
        "--no-progress",
        "--explain",
        "--save",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        corpus.to_str().unwrap(),
    ]);
    assert!(scanned.status.success(), "{}", String::from_utf8_lossy(&scanned.stderr));
    let served = ServeProcess::start(&data, &[]);
    let mut client = served.client().await;
    let lines = std::fs::read_to_string(&out).unwrap();
    let mut compared = 0;
    for (line, article) in lines.lines().zip(&articles) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["id"], article.id.as_str());
        let scan_chrome: Vec<&str> = row["explain"]["chrome_ignored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let probe = pb::Article { id: format!("probe-{}", article.id), ..article.clone() };
        let verdict = check(&mut client, &probe).await;
        assert_eq!(verdict.chrome_ignored, scan_chrome, "{}", article.id);
        // The scan's story is the server's: the probe joins it under the scan's name.
        if verdict.kind != pb::Kind::NewStory as i32 {
            assert_eq!(verdict.cluster_id, row["cluster"].as_str().unwrap(), "{}", article.id);
        }
        compared += usize::from(!scan_chrome.is_empty());
    }
    assert!(compared > articles.len() / 4, "only {compared} articles carry chrome");
}

fn article(id: &str, text: &str, published: i64) -> pb::Article {
    pb::Article {
        id: id.into(),
        text: text.into(),
        source: format!("{id}.example"),
        published_at: Some(convert::timestamp(published)),
        ..Default::default()
    }
}

const WIRE: &str = "The finance ministry said on Monday that tax revenue rose for the third \
    quarter in a row, helped by higher fuel duties and a recovery in corporate profits. \
    Officials expect the budget deficit to narrow to two percent of output next year. \
    Opposition lawmakers said the figures hid a sharp fall in spending on schools and roads.";
const OTHER: &str = "Heavy rain flooded hundreds of homes in the northern valley overnight, and \
    rescue teams used boats to reach families stranded on rooftops while the river kept rising.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_cluster_by_origin_copy_and_removed_id() {
    let server = TestServer::start(Default::default()).await;
    let mut client = server.client().await;
    // The first copy arrives before the wire story it copies, which was published earlier.
    let first =
        ingest(&mut client, &article("copy-1", &format!("{WIRE}\n\nLeave a comment"), 2_000)).await;
    assert_eq!((first.cluster_id.as_str(), first.kind), ("copy-1", pb::Kind::NewStory as i32));
    let wire = ingest(&mut client, &article("wire", WIRE, 1_000)).await;
    assert_eq!((wire.cluster_id.as_str(), wire.origin_id.as_str()), ("copy-1", "wire"));
    let link = wire.link.as_ref().expect("a copy names its link");
    assert_eq!(link.id, "copy-1");
    assert!(link.jaccard >= 0.3 && wire.origin_jaccard == 1.0, "{wire:?}");
    let copy = ingest(&mut client, &article("copy-2", WIRE, 3_000)).await;
    assert_eq!((copy.cluster_id.as_str(), copy.origin_id.as_str()), ("copy-1", "wire"));
    // Any member's id, or the story's, names the one story; its origin is the earliest.
    for id in ["wire", "copy-1", "copy-2"] {
        let view = cluster(&mut client, id).await.unwrap();
        assert_eq!((view.cluster_id.as_str(), view.origin_id.as_str()), ("copy-1", "wire"), "{id}");
        let ids: Vec<&str> = view.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["wire", "copy-1", "copy-2"]);
    }
    // A removed copy's id names nothing; the founder's id keeps naming its story.
    let remove = |id: &str| pb::RemoveRequest { id: id.into() };
    assert!(client.remove(remove("copy-2")).await.unwrap().into_inner().removed);
    assert_eq!(cluster(&mut client, "copy-2").await.unwrap_err().code(), Code::NotFound);
    assert!(client.remove(remove("copy-1")).await.unwrap().into_inner().removed);
    let view = cluster(&mut client, "copy-1").await.unwrap();
    assert_eq!((view.cluster_id.as_str(), view.members.len()), ("copy-1", 1));
    // The founder's id used again for another story: that story gets a name of its own.
    let again = ingest(&mut client, &article("copy-1", OTHER, 4_000)).await;
    assert_eq!((again.kind, again.cluster_id.as_str()), (pb::Kind::NewStory as i32, "copy-1#2"));
    assert_eq!(cluster(&mut client, "copy-1").await.unwrap().cluster_id, "copy-1#2");
    assert_eq!(cluster(&mut client, "wire").await.unwrap().cluster_id, "copy-1");
}

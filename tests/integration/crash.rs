//! Crash test with real processes: the `neardup serve` binary on a temporary data
//! directory, fed articles of `../shared/data/synd-dev.jsonl` by concurrent gRPC clients
//! (streams and unary calls), is killed with SIGKILL at a random moment, several times
//! on the same directory. After each restart every acknowledged article must be in the
//! cluster it was acknowledged with, and every other article fully there or absent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::common::{ServeProcess, load_articles, seed, xorshift};
use neardup::service::pb;

/// Articles taken from the corpus: enough for several kill points, few enough that the
/// test-built (unoptimised) server gets through them in seconds.
const ARTICLES: usize = 1500;
/// Concurrent clients per round: half stream, half call `Ingest` one at a time.
const CLIENTS: usize = 4;

/// Starts the server on `data/` under `dir`, with the config file `dir/neardup.toml`.
fn serve(dir: &Path, sync: &str) -> ServeProcess {
    let config = dir.join("neardup.toml");
    ServeProcess::start(&dir.join("data"), &["--sync", sync, "--config", config.to_str().unwrap()])
}

/// Acknowledged articles: id to the cluster of its verdict.
type Acked = Arc<Mutex<BTreeMap<String, String>>>;

/// Feeds `articles` through [`CLIENTS`] clients and SIGKILLs the server once `kill_after`
/// verdicts came back; every verdict received (before or after the kill) is recorded.
async fn feed_and_kill(
    mut served: ServeProcess,
    articles: &[pb::Article],
    kill_after: usize,
    acked: &Acked,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(Notify::new());
    let mut workers = Vec::new();
    for worker in 0..CLIENTS {
        let mine: Vec<pb::Article> =
            articles.iter().skip(worker).step_by(CLIENTS).cloned().collect();
        let mut client = served.client().await;
        let (acked, count, reached) = (Arc::clone(acked), Arc::clone(&count), Arc::clone(&reached));
        let record = move |verdict: pb::Verdict| {
            acked.lock().unwrap().insert(verdict.id, verdict.cluster_id);
            if count.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                reached.notify_one();
            }
        };
        workers.push(tokio::spawn(async move {
            if worker % 2 == 0 {
                let requests: Vec<_> =
                    mine.into_iter().map(|a| pb::IngestRequest { article: Some(a) }).collect();
                let Ok(response) = client.ingest_stream(tokio_stream::iter(requests)).await else {
                    return;
                };
                let mut verdicts = response.into_inner();
                while let Ok(Some(verdict)) = verdicts.message().await {
                    record(verdict);
                }
            } else {
                for article in mine {
                    match client.ingest(pb::IngestRequest { article: Some(article) }).await {
                        Ok(verdict) => record(verdict.into_inner()),
                        Err(_) => return, // the server is gone
                    }
                }
            }
        }));
    }
    let mut all_done = tokio::spawn(async move {
        for worker in workers {
            worker.await.unwrap();
        }
    });
    // Kill at the k-th verdict, or (k beyond what is left) once everything is answered.
    let finished = tokio::select! {
        () = reached.notified() => false,
        done = &mut all_done => { done.unwrap(); true }
    };
    served.kill();
    if !finished {
        all_done.await.unwrap();
    }
}

/// Checks the restarted server against everything acknowledged so far. Articles never
/// acknowledged that are present must be complete (a retry is accepted as the same
/// article and lands in a cluster that lists it); those are then acknowledged too.
/// Returns the articles still absent.
async fn verify(
    served: &ServeProcess,
    articles: &[pb::Article],
    acked: &Acked,
) -> Vec<pb::Article> {
    let mut client = served.client().await;
    let mut by_cluster: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, cluster) in acked.lock().unwrap().iter() {
        by_cluster.entry(cluster.clone()).or_default().push(id.clone());
    }
    for (cluster, ids) in &by_cluster {
        let request = pb::GetClusterRequest { cluster_id: cluster.clone() };
        let view = match client.get_cluster(request).await {
            Ok(view) => view.into_inner(),
            Err(status) => panic!("cluster {cluster} of acknowledged {ids:?} is gone: {status}"),
        };
        let members: BTreeSet<&str> = view.members.iter().map(|m| m.id.as_str()).collect();
        for id in ids {
            assert!(
                members.contains(id.as_str()),
                "acknowledged {id} is not in its cluster {cluster}"
            );
        }
    }
    let mut absent = Vec::new();
    let mut present_unacked = 0;
    for article in articles {
        if acked.lock().unwrap().contains_key(&article.id) {
            continue;
        }
        let checked = client
            .check(pb::CheckRequest { article: Some(article.clone()) })
            .await
            .unwrap()
            .into_inner();
        let present = checked.matches.iter().any(|m| m.id == article.id);
        if !present {
            absent.push(article.clone());
            continue;
        }
        present_unacked += 1;
        let retry = client.ingest(pb::IngestRequest { article: Some(article.clone()) }).await;
        let verdict =
            retry.unwrap_or_else(|s| panic!("unacknowledged {} is partly there: {s}", article.id));
        let verdict = verdict.into_inner();
        let view = client
            .get_cluster(pb::GetClusterRequest { cluster_id: verdict.cluster_id.clone() })
            .await
            .unwrap()
            .into_inner();
        assert!(
            view.members.iter().any(|m| m.id == article.id),
            "{} not in its cluster",
            article.id
        );
        acked.lock().unwrap().insert(verdict.id, verdict.cluster_id);
    }
    // Nothing else is indexed: no half-restored article counts without being findable.
    let stats = client.stats(pb::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.documents as usize, acked.lock().unwrap().len());
    eprintln!(
        "  restart: {} acknowledged articles all in their clusters, {present_unacked} unacknowledged complete, {} absent",
        acked.lock().unwrap().len() - present_unacked,
        absent.len()
    );
    absent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_server_loses_nothing_acknowledged() {
    let Some(data) =
        crate::common::shared_data("crash::sigkill_of_the_server_loses_nothing_acknowledged")
    else {
        return;
    };
    let articles = load_articles(&data.join("synd-dev.jsonl"), ARTICLES);
    let mut seed = seed("NEARDUP_CRASH_SEED");
    let dir = tempfile::tempdir().unwrap();
    // Every match listed, so a Check always shows whether the article itself is stored.
    std::fs::write(dir.path().join("neardup.toml"), "[detector]\nmax_matches = 100000\n").unwrap();
    let acked: Acked = Arc::default();
    let mut remaining = articles.clone();
    // A process crash loses nothing acknowledged under any sync mode: only power
    // failures tell them apart. The last round runs until every article is answered.
    let rounds = ["always", "batch", "always", "never", "always"];
    for (round, sync) in rounds.iter().enumerate() {
        let served = serve(dir.path(), sync);
        if round > 0 {
            remaining = verify(&served, &articles, &acked).await;
        }
        let last = round + 1 == rounds.len();
        let kill_after = if last { usize::MAX } else { 1 + (xorshift(&mut seed) % 400) as usize };
        let when = if last {
            "once all are answered".to_owned()
        } else {
            format!("after {kill_after} verdicts")
        };
        eprintln!(
            "round {round} (--sync {sync}): {} articles left, SIGKILL {when}",
            remaining.len()
        );
        feed_and_kill(served, &remaining, kill_after, &acked).await;
    }
    let mut served = serve(dir.path(), "always");
    let absent = verify(&served, &articles, &acked).await;
    assert!(absent.is_empty(), "the last round answered everything: {} absent", absent.len());
    assert_eq!(acked.lock().unwrap().len(), articles.len());
    let (status, stderr) = served.terminate();
    assert!(status.success(), "clean stop after the crashes: {status:?}\n{stderr}");
}

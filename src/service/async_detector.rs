//! `AsyncDetector`: what the service calls instead of the detector directly. It moves the
//! CPU-bound fingerprinting off the async runtime onto the rayon pool, and it is the one
//! place where state changes ([`AsyncDetector::commit`], [`AsyncDetector::remove`]), through the
//! [`DurableDetector`] that logs every change before it is acknowledged.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::article::OwnedArticle;
use crate::config::ServiceConfig;
use crate::detector::{ClusterView, SignedArticle, StoryPage, StoryQuery, Verdict};
use crate::error::{Error, Result};
use crate::store::{DurableDetector, DurableStats, Ingested, now_millis};

use super::texts::{KeptText, KeptTexts};

/// An article through the text stage (chrome left out, signed), ready to be stored.
#[derive(Debug)]
pub(crate) struct PendingIngest {
    article: OwnedArticle,
    title: String,
    signed: SignedArticle,
}

/// The durable detector plus the service's view of it (uptime).
#[derive(Debug)]
pub(crate) struct AsyncDetector {
    durable: Arc<DurableDetector>,
    started: Instant,
    /// The bounded queue in front of the hashing pool: one permit per article waiting
    /// for or being fingerprinted (`limits.hashing_queue`): when the queue is full,
    /// [`AsyncDetector::prepare`] waits for a slot, so a flood of requests waits in the
    /// network (HTTP/2 flow control) instead of piling up in rayon's unbounded queue.
    hashing: Arc<Semaphore>,
    /// Size of the hashing queue.
    hashing_capacity: usize,
    /// Texts of the articles ingested since start, for people to read.
    texts: KeptTexts,
}

impl AsyncDetector {
    /// Opens (or creates) the data directory of `config.store` for `config.detector` and
    /// restores what it holds. Blocking: file I/O and the index rebuild, seconds for a
    /// million articles. Fails when the directory was written under incompatible
    /// settings ([`Error::IncompatibleStore`]), is damaged or is in use.
    pub(crate) fn open(config: &ServiceConfig) -> Result<Self> {
        let durable = DurableDetector::open(&config.store, config.detector.clone())?;
        let hashing_capacity = config.limits.hashing_queue.max(1);
        Ok(AsyncDetector {
            durable: Arc::new(durable),
            started: Instant::now(),
            hashing: Arc::new(Semaphore::new(hashing_capacity)),
            hashing_capacity,
            texts: KeptTexts::new(config.limits.kept_text_bytes),
        })
    }

    /// Bounds the hashing queue to `limit`.
    #[cfg(test)]
    fn with_hashing_queue(mut self, limit: usize) -> Self {
        self.hashing_capacity = limit.max(1);
        self.hashing = Arc::new(Semaphore::new(self.hashing_capacity));
        self
    }

    /// Signs the article on the rayon pool under the chrome model as it stands (the
    /// model learns from it at commit). When the hashing queue has room the work starts at once, before the future
    /// is first polled, so a stream can have many in flight; otherwise the future waits
    /// for room. Takes no index lock, so many requests can prepare while others commit.
    /// `title` is kept with the text (see [`KeptTexts`]), not matched.
    pub(crate) fn prepare(
        &self,
        article: OwnedArticle,
        title: String,
    ) -> impl Future<Output = Result<PendingIngest>> + Send + 'static {
        let durable = Arc::clone(&self.durable);
        let work = move |permit: OwnedSemaphorePermit| {
            off_runtime(move || {
                let _slot = permit; // freed when the article is signed
                let signed = durable.detector().sign_article(&article.as_article())?;
                Ok(PendingIngest { signed, article, title })
            })
        };
        let queue = Arc::clone(&self.hashing);
        let started: Pin<Box<dyn Future<Output = Result<PendingIngest>> + Send>> =
            match Arc::clone(&queue).try_acquire_owned() {
                Ok(permit) => Box::pin(work(permit)),
                Err(_) => Box::pin(async move {
                    let permit = queue
                        .acquire_owned()
                        .await
                        .map_err(|_| Error::Internal { reason: "hashing queue closed".into() })?;
                    work(permit).await
                }),
            };
        started
    }

    /// Labels a prepared article and queues its log record; the verdict may be sent only
    /// once the returned ticket resolves (the record is durable). Commits happen in the
    /// order of the calls, which is the order of the log. Idempotent on the id (see
    /// [`crate::Detector::ingest`]). Short: locks held for the lookup, the insert and
    /// the queueing of the record, no disk wait (it blocks only while the log's queue is
    /// over its limit, when the disk falls behind).
    pub(crate) fn commit(&self, prepared: PendingIngest) -> Result<Ingested> {
        let PendingIngest { article, title, signed } = prepared;
        let ingested = self.durable.ingest_signed(&article.as_article(), &signed, now_millis())?;
        let chrome = ingested.verdict.chrome_ignored.clone();
        self.texts.keep(&article.id, KeptText { title, text: article.text, chrome });
        Ok(ingested)
    }

    /// [`AsyncDetector::prepare`], [`AsyncDetector::commit`], then waits until the record is durable.
    pub(crate) async fn ingest(&self, article: OwnedArticle, title: String) -> Result<Verdict> {
        let prepared = self.prepare(article, title).await?;
        let ingested = self.commit(prepared)?;
        ingested.ticket.await?;
        Ok(ingested.verdict)
    }

    /// Labels an article without storing it.
    pub(crate) async fn check(&self, article: OwnedArticle) -> Result<Verdict> {
        let prepared = self.prepare(article, String::new()).await?;
        self.durable.detector().check_signed(&prepared.article.as_article(), &prepared.signed)
    }

    /// Retracts an article, answering once its tombstone is durable; false when no
    /// article has this id.
    pub(crate) async fn remove(&self, id: &str) -> Result<bool> {
        self.texts.forget(id);
        match self.durable.remove(id)? {
            Some(ticket) => {
                ticket.await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A cluster with its members.
    pub(crate) fn cluster(&self, cluster_id: &str) -> Result<ClusterView> {
        self.durable.detector().cluster(cluster_id)
    }

    /// A page of stories, with the kept texts for their headlines.
    pub(crate) fn stories(&self, query: &StoryQuery) -> Result<(StoryPage, &KeptTexts)> {
        Ok((self.durable.detector().stories(query)?, &self.texts))
    }

    /// A story with the kept texts of its members.
    pub(crate) fn story_texts(&self, id: &str) -> Result<(ClusterView, &KeptTexts)> {
        Ok((self.cluster(id)?, &self.texts))
    }

    /// Counters of the index and the log, the window and the oldest article kept.
    /// Blocking: without a window the oldest article is found by a scan of the index.
    pub(crate) fn stats(&self) -> DurableStats {
        self.durable.stats()
    }

    /// The durable detector, for counters read without going through a request.
    pub(crate) fn durable(&self) -> &DurableDetector {
        &self.durable
    }

    /// Articles in the hashing queue (waiting or being fingerprinted), and its size.
    pub(crate) fn hashing_queue(&self) -> (usize, usize) {
        let free = self.hashing.available_permits().min(self.hashing_capacity);
        (self.hashing_capacity - free, self.hashing_capacity)
    }

    /// Bytes of article text kept for reading.
    pub(crate) fn kept_text_bytes(&self) -> usize {
        self.texts.bytes()
    }

    /// Time since the engine was opened.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes and syncs everything logged and closes the log (blocking). Later commits
    /// fail; call it once no request is in flight.
    pub(crate) fn close(&self) -> Result<()> {
        self.durable.close()
    }
}

/// Runs CPU-bound `work` on the rayon pool (sized to the cores, unlike tokio's blocking
/// pool, which would start hundreds of threads under many concurrent streams) and
/// awaits its result without blocking the runtime.
fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> impl Future<Output = Result<T>> + Send + 'static {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        // A panic must fail this request, not abort the server (rayon's default).
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(work));
        let _ = sender.send(outcome);
    });
    async move {
        match receiver.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) | Err(_) => {
                Err(Error::Internal { reason: "fingerprinting panicked".into() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CopyKind;
    use crate::config::StoreConfig;

    const STORY: &str = "The central bank raised its key interest rate by half a percentage point on \
        Thursday, the largest increase in two decades, and signalled that further rises were likely.";

    fn article(id: &str, text: &str) -> OwnedArticle {
        OwnedArticle { id: id.into(), text: text.into(), ..Default::default() }
    }

    fn config(dir: &std::path::Path) -> ServiceConfig {
        let store = StoreConfig { data_dir: dir.to_owned(), ..Default::default() };
        ServiceConfig { store, ..Default::default() }
    }

    #[tokio::test]
    async fn prepare_then_commit_matches_the_detector() {
        let dir = tempfile::tempdir().unwrap();
        let engine = AsyncDetector::open(&config(dir.path())).unwrap();
        let first = engine.ingest(article("a", STORY), String::new()).await.unwrap();
        assert_eq!(first.kind, CopyKind::NewStory);
        let checked = engine.check(article("b", &format!("Home\n{STORY}"))).await.unwrap();
        assert_eq!((checked.kind, checked.cluster_id.as_str()), (CopyKind::Duplicate, "a"));
        assert_eq!(engine.stats().detector.documents, 1, "check stores nothing");
        // Preparing is pure: a prepared article is stored only when committed.
        let prepared = engine.prepare(article("c", STORY), String::new()).await.unwrap();
        assert_eq!(engine.stats().detector.documents, 1);
        let committed = engine.commit(prepared).unwrap();
        committed.ticket.await.unwrap();
        assert_eq!(committed.verdict.kind, CopyKind::Duplicate);
        assert_eq!(engine.stats().detector.documents, 2);
        assert!(matches!(
            engine.prepare(article("d", " \n "), String::new()).await,
            Err(Error::InvalidInput { field: "text", .. })
        ));
    }

    #[tokio::test]
    async fn a_full_hashing_queue_makes_prepare_wait() {
        let dir = tempfile::tempdir().unwrap();
        let engine = AsyncDetector::open(&config(dir.path())).unwrap().with_hashing_queue(1);
        // Hold the only slot, as a long fingerprint would.
        let held = Arc::clone(&engine.hashing).try_acquire_owned().unwrap();
        let waiting = engine.prepare(article("a", STORY), String::new());
        let timed_out = tokio::time::timeout(Duration::from_millis(100), waiting).await;
        assert!(timed_out.is_err(), "prepare must wait while the queue is full");
        drop(held);
        let verdict = engine.ingest(article("a", STORY), String::new()).await.unwrap();
        assert_eq!(verdict.kind, CopyKind::NewStory);
        assert_eq!(engine.hashing.available_permits(), 1, "the slot is given back");
    }

    #[tokio::test]
    async fn changes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let engine = AsyncDetector::open(&config(dir.path())).unwrap();
        engine.ingest(article("a", STORY), String::new()).await.unwrap();
        engine.ingest(article("b", &format!("Home\n{STORY}")), String::new()).await.unwrap();
        assert!(engine.remove("a").await.unwrap());
        assert!(!engine.remove("a").await.unwrap(), "a second remove finds nothing");
        engine.close().unwrap();
        drop(engine);
        let reopened = AsyncDetector::open(&config(dir.path())).unwrap();
        let stats = reopened.stats();
        assert_eq!(stats.detector.documents, 1);
        assert!(stats.store.disk_bytes > 0);
        let cluster = reopened.cluster("a").unwrap();
        let members: Vec<&str> = cluster.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(members, ["b"]);
    }
}

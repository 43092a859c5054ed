//! The `Deduplicator` RPCs. Each one checks the server is not shutting down, converts the
//! request, calls the engine, converts the answer and maps the error; no detection
//! logic lives here. `IngestStream` pipelines: fingerprints of the next messages are
//! computed while earlier ones are stored, later messages are stored while earlier
//! records wait for their sync, and verdicts go out in request order, each once its own
//! record is durable.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::async_detector::{AsyncDetector, PendingIngest};
use super::observe::RequestNote;
use super::pb::{self, deduplicator_server::Deduplicator};
use super::status::{oversize_as_exhausted, shutting_down};
use super::texts;
use super::{convert, pb::IngestRequest};
use crate::cluster::CopyKind;
use crate::config::ServiceConfig;
use crate::detector::Verdict;

/// Messages of one stream being fingerprinted at once: enough to keep every core busy
/// while the stream's own task stores and answers, small enough to bound memory.
const STREAM_PIPELINE_DEPTH: usize = 32;

/// Verdicts of one stream stored and waiting for their records' sync: with `--sync
/// always` a stream's articles share syncs up to this many at a time.
const STREAM_ACK_DEPTH: usize = 256;

/// The service state shared by every request.
#[derive(Debug)]
pub(crate) struct DeduplicatorService {
    engine: Arc<AsyncDetector>,
    config: ServiceConfig,
    stopping: watch::Receiver<bool>,
}

impl DeduplicatorService {
    pub(crate) fn new(
        engine: Arc<AsyncDetector>,
        config: ServiceConfig,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        DeduplicatorService { engine, config, stopping }
    }

    fn ensure_running(&self) -> Result<(), Status> {
        if *self.stopping.borrow() { Err(shutting_down()) } else { Ok(()) }
    }

    /// The story id a request names, noted for its log line and checked.
    fn story_id(&self, request: Request<pb::GetClusterRequest>) -> Result<String, Status> {
        let note = RequestNote::of(&request);
        let cluster_id = request.into_inner().cluster_id;
        note.set_id(&cluster_id);
        self.ensure_running()?;
        convert::required("cluster_id", &cluster_id)?;
        Ok(cluster_id)
    }
}

/// Counts a verdict by kind under `counter` (`neardup_articles_ingested_total` or
/// `neardup_articles_checked_total`).
fn count(counter: &'static str, verdict: &Verdict) {
    let kind = match verdict.kind {
        CopyKind::NewStory => "new_story",
        CopyKind::Duplicate => "duplicate",
        CopyKind::PartialCopy => "partial_copy",
    };
    metrics::counter!(counter, "kind" => kind).increment(1);
}

/// Counts a stored article, and the chrome lines its fingerprint left out.
fn count_ingested(verdict: &Verdict) {
    count("neardup_articles_ingested_total", verdict);
    let chrome = verdict.chrome_ignored.len() as u64;
    metrics::counter!("neardup_chrome_lines_ignored_total").increment(chrome);
}

/// The request's article id, noted for its log line.
fn noted_id(note: &RequestNote, article: Option<&pb::Article>) {
    if let Some(article) = article {
        note.set_id(&article.id);
    }
}

/// Runs `work` (`what`, for the error) on tokio's blocking pool: reads that scan every
/// story or article must not hold up the runtime.
async fn blocking<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, Status> {
    let outcome = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Status::internal(format!("{what} failed: {e}")))?;
    Ok(outcome?)
}

type PendingPrepare = Pin<Box<dyn Future<Output = Result<PendingIngest, Status>> + Send>>;
/// A stored message's verdict, ready once its record is durable (or the message's error).
type PendingAck = Pin<Box<dyn Future<Output = Result<pb::Verdict, Status>> + Send>>;

#[tonic::async_trait]
impl Deduplicator for DeduplicatorService {
    async fn ingest(
        &self,
        request: Request<IngestRequest>,
    ) -> Result<Response<pb::Verdict>, Status> {
        let note = RequestNote::of(&request);
        let article = request.into_inner().article;
        noted_id(&note, article.as_ref());
        self.ensure_running()?;
        let (article, title) = convert::titled_article(article)?;
        let verdict = self.engine.ingest(article, title).await?;
        count_ingested(&verdict);
        Ok(Response::new(convert::verdict(verdict)))
    }

    type IngestStreamStream = ReceiverStream<Result<pb::Verdict, Status>>;

    async fn ingest_stream(
        &self,
        request: Request<Streaming<IngestRequest>>,
    ) -> Result<Response<Self::IngestStreamStream>, Status> {
        self.ensure_running()?;
        let note = RequestNote::of(&request);
        let (sender, receiver) = mpsc::channel(STREAM_PIPELINE_DEPTH);
        let engine = Arc::clone(&self.engine);
        let stopping = self.stopping.clone();
        tokio::spawn(async move {
            let stored = run_stream(engine, request.into_inner(), sender, stopping).await;
            note.set_articles(stored);
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::Verdict>, Status> {
        let note = RequestNote::of(&request);
        let article = request.into_inner().article;
        noted_id(&note, article.as_ref());
        self.ensure_running()?;
        let verdict = self.engine.check(convert::article(article)?).await?;
        count("neardup_articles_checked_total", &verdict);
        Ok(Response::new(convert::verdict(verdict)))
    }

    async fn get_cluster(
        &self,
        request: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let cluster_id = self.story_id(request)?;
        Ok(Response::new(convert::cluster(self.engine.cluster(&cluster_id)?)))
    }

    async fn remove(
        &self,
        request: Request<pb::RemoveRequest>,
    ) -> Result<Response<pb::RemoveResponse>, Status> {
        let note = RequestNote::of(&request);
        let id = request.into_inner().id;
        note.set_id(&id);
        self.ensure_running()?;
        let removed = self.engine.remove(convert::required("id", &id)?).await?;
        if removed {
            metrics::counter!("neardup_articles_removed_total").increment(1);
        }
        Ok(Response::new(pb::RemoveResponse { removed }))
    }

    async fn stats(
        &self,
        _request: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        self.ensure_running()?;
        // Off the runtime: without a window, finding the oldest article scans the index.
        let engine = Arc::clone(&self.engine);
        let stats = blocking("stats", move || Ok(engine.stats())).await?;
        Ok(Response::new(convert::stats(&stats, &self.config, self.engine.uptime())))
    }

    async fn list_stories(
        &self,
        request: Request<pb::ListStoriesRequest>,
    ) -> Result<Response<pb::ListStoriesResponse>, Status> {
        self.ensure_running()?;
        let query = convert::story_query(request.into_inner())?;
        // Off the runtime: a page is one pass over every story.
        let engine = Arc::clone(&self.engine);
        let page = blocking("listing stories", move || {
            let (page, texts) = engine.stories(&query)?;
            Ok(convert::story_page(page, |id| texts.get(id).map(|kept| kept.headline())))
        })
        .await?;
        Ok(Response::new(page))
    }

    async fn compare_story(
        &self,
        request: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::StoryComparison>, Status> {
        let cluster_id = self.story_id(request)?;
        // Off the runtime: up to a hundred line diffs.
        let engine = Arc::clone(&self.engine);
        let comparison = blocking("comparing the story", move || {
            let (view, texts) = engine.story_texts(&cluster_id)?;
            Ok(texts::compare(view, texts))
        })
        .await?;
        Ok(Response::new(comparison))
    }
}

/// Where a message sits in its stream, to name it in its error.
#[derive(Debug, Clone)]
struct Position {
    /// 1-based.
    number: usize,
    id: Option<String>,
}

impl Position {
    /// `status` with the message named in front of its text, so that a client sending
    /// thousands of articles learns which one failed.
    fn named(&self, status: Status) -> Status {
        let place = match &self.id {
            Some(id) => format!("article {} of the stream (id {id:?})", self.number),
            None => format!("article {} of the stream", self.number),
        };
        Status::new(status.code(), format!("{place}: {}", status.message()))
    }
}

/// Reads `inbound`, fingerprints up to [`STREAM_PIPELINE_DEPTH`] messages ahead, stores
/// them strictly in request order and sends each verdict once its record is durable
/// (up to [`STREAM_ACK_DEPTH`] stored messages wait for their sync at once). The first
/// failure (a bad message, a conflicting id, an unreadable frame, a failed sync) is sent
/// after every earlier verdict, naming the message, and ends the stream; nothing after it
/// is stored. On shutdown the stream stops reading, finishes the messages already
/// received, then ends with `UNAVAILABLE`. Returns the number of articles stored.
async fn run_stream(
    engine: Arc<AsyncDetector>,
    mut inbound: Streaming<IngestRequest>,
    sender: mpsc::Sender<Result<pb::Verdict, Status>>,
    mut stopping: watch::Receiver<bool>,
) -> usize {
    let mut pending: VecDeque<(Position, PendingPrepare)> = VecDeque::new();
    let mut acking: VecDeque<PendingAck> = VecDeque::new();
    // Why reading stopped early, sent once every pending message is answered.
    let mut end_status: Option<Status> = None;
    let mut reading = true;
    // Set by the first failure: nothing after it is stored.
    let mut failed = false;
    let mut stored = 0usize;
    let mut received = 0usize;
    loop {
        let can_read = reading && pending.len() < STREAM_PIPELINE_DEPTH;
        let can_commit = !failed && !pending.is_empty() && acking.len() < STREAM_ACK_DEPTH;
        tokio::select! {
            // Answer, then store, then read: memory stays bounded.
            biased;
            answer = async { acking.front_mut().expect("guarded").await }, if !acking.is_empty() => {
                acking.pop_front();
                let is_error = answer.is_err();
                if sender.send(answer).await.is_err() || is_error {
                    break; // the client went away, or the stream ends with this error
                }
                stored += 1;
            }
            prepared = async { pending.front_mut().expect("guarded").1.as_mut().await }, if can_commit => {
                let (position, _) = pending.pop_front().expect("guarded");
                let next: PendingAck = match prepared.and_then(|p| Ok(engine.commit(p)?)) {
                    Ok(ingested) => Box::pin(async move {
                        ingested.ticket.await.map_err(|e| position.named(e.into()))?;
                        count_ingested(&ingested.verdict);
                        Ok(convert::verdict(ingested.verdict))
                    }),
                    Err(status) => {
                        // Answered in its turn; nothing after it is stored.
                        failed = true;
                        reading = false;
                        pending.clear();
                        Box::pin(std::future::ready(Err(position.named(status))))
                    }
                };
                acking.push_back(next);
            }
            () = async { drop(stopping.wait_for(|stop| *stop).await) }, if reading => {
                reading = false;
                end_status = Some(shutting_down());
            }
            message = inbound.message(), if can_read => match message {
                Ok(Some(request)) => {
                    received += 1;
                    let position = Position {
                        number: received,
                        id: request.article.as_ref().map(|a| a.id.clone()),
                    };
                    let next: PendingPrepare = match convert::titled_article(request.article) {
                        Ok((article, title)) => {
                            let preparing = engine.prepare(article, title);
                            Box::pin(async move { Ok(preparing.await?) })
                        }
                        Err(err) => {
                            // Answered in its turn, after the messages before it.
                            reading = false;
                            Box::pin(std::future::ready(Err(err.into())))
                        }
                    };
                    pending.push_back((position, next));
                }
                Ok(None) => reading = false,
                Err(status) => {
                    reading = false;
                    let position = Position { number: received + 1, id: None };
                    end_status = Some(position.named(oversize_as_exhausted(status)));
                }
            },
            else => {
                if let Some(status) = end_status.take().filter(|_| !failed) {
                    let _ = sender.send(Err(status)).await;
                }
                break;
            }
        }
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str) -> Option<pb::Article> {
        Some(pb::Article {
            id: id.into(),
            text: "the harbour strike ended after talks through the night".into(),
            ..Default::default()
        })
    }

    /// The code of a failed call.
    fn code<T: std::fmt::Debug>(result: Result<Response<T>, Status>) -> tonic::Code {
        result.unwrap_err().code()
    }

    #[tokio::test]
    async fn every_call_is_unavailable_while_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServiceConfig::default();
        config.store.data_dir = dir.path().to_owned();
        let engine = Arc::new(AsyncDetector::open(&config).unwrap());
        let (stop, stopping) = watch::channel(false);
        let dedup = DeduplicatorService::new(engine, config, stopping);
        let ingest = || Request::new(IngestRequest { article: article("a") });
        assert!(dedup.ingest(ingest()).await.is_ok());
        stop.send(true).unwrap();
        let story = || Request::new(pb::GetClusterRequest { cluster_id: "a".into() });
        let codes = [
            code(dedup.ingest(ingest()).await),
            code(dedup.check(Request::new(pb::CheckRequest { article: article("b") })).await),
            code(dedup.get_cluster(story()).await),
            code(dedup.remove(Request::new(pb::RemoveRequest { id: "a".into() })).await),
            code(dedup.stats(Request::new(pb::StatsRequest {})).await),
            code(dedup.list_stories(Request::new(pb::ListStoriesRequest::default())).await),
            code(dedup.compare_story(story()).await),
        ];
        assert!(codes.iter().all(|&code| code == tonic::Code::Unavailable), "{codes:?}");
    }
}

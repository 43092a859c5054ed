//! The command line as a client of a running server: `ingest` and `check` send the
//! articles of corpus files, read with the same readers and field options as `scan` (on a
//! blocking thread, while earlier ones are already on the wire), and print every verdict
//! as one JSON line on stdout, in input order; `cluster`, `remove` and `stats` make one
//! call each and print its answer as JSON. A failed call says what kind of failure it
//! was (unreachable, TLS, credentials, scope, a refused article naming its input line).

use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::args::{ClientArgs, ClusterArgs, RemoteArgs, RemoveArgs, StatsArgs};
use crate::serve::runtime;
use neardup::scan::input::{self, ReadOptions};
use neardup::service::client::{self, Client, Failure};
use neardup::service::convert;
use neardup::service::pb;

/// Articles read ahead of the network.
const READ_AHEAD: usize = 256;
/// Check calls in flight at once (checks are unary; the answers are still printed in
/// input order).
const CHECKS_IN_FLIGHT: usize = 32;

/// Whether the server should store the articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `IngestStream`: label and store.
    Ingest,
    /// `Check`: label only.
    Check,
}

/// An article with the input line it came from.
struct Located {
    /// `path:line`.
    at: String,
    article: pb::Article,
}

/// A connected client and the URL it reached, for messages.
struct Connection {
    client: Client,
    url: String,
}

async fn connect(remote: &RemoteArgs) -> Result<Connection> {
    let options = remote.connect.options()?;
    let url = client::server_url(&remote.server, &options)?;
    let client = client::connect(&url, &options).await?;
    Ok(Connection { client, url })
}

impl Connection {
    /// The error for a failed call about no article in particular.
    fn failed(&self, what: &str, status: &Status) -> anyhow::Error {
        anyhow!("{what}: {}", client::describe(status, &self.url))
    }

    /// The error for a failed call about the article read at `at`: a refused article is
    /// named by its input line; any other failure is the connection's, not the line's.
    fn refused(&self, at: Option<&str>, status: &Status) -> anyhow::Error {
        let described = client::describe(status, &self.url);
        match (Failure::of(status), at) {
            (Failure::Rejected, Some(at)) => anyhow!("{at}: article refused: {described}"),
            _ => anyhow!("{described}"),
        }
    }
}

/// Runs `neardup ingest` or `neardup check`.
pub(crate) fn send(args: &ClientArgs, mode: Mode) -> Result<()> {
    runtime()?.block_on(send_all(args, mode))
}

async fn send_all(args: &ClientArgs, mode: Mode) -> Result<()> {
    let connection = connect(&args.remote).await?;
    let (sender, articles) = mpsc::channel(READ_AHEAD);
    let inputs = args.inputs.clone();
    let (options, skip_invalid) = (args.input.read_options(), args.skip_invalid);
    let reader =
        tokio::task::spawn_blocking(move || read_articles(&inputs, &options, skip_invalid, sender));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let sent = match mode {
        Mode::Ingest => ingest(&connection, articles, &mut out).await,
        Mode::Check => check(&connection, articles, &mut out).await,
    };
    out.flush().context("failed to write verdicts")?;
    // A bad input record ends the stream early; report it after the verdicts before it.
    reader.await.context("reader thread failed")??;
    let printed = sent?;
    tracing::info!(printed, "done");
    Ok(())
}

/// Streams every article into one `IngestStream` call and prints the verdicts.
async fn ingest(
    connection: &Connection,
    articles: mpsc::Receiver<Located>,
    out: &mut impl Write,
) -> Result<usize> {
    // Where each article sent and not yet answered came from, oldest first.
    let unanswered = Arc::new(Mutex::new(VecDeque::new()));
    let sent = Arc::clone(&unanswered);
    let requests = ReceiverStream::new(articles).map(move |located| {
        sent.lock().unwrap_or_else(|e| e.into_inner()).push_back(located.at);
        pb::IngestRequest { article: Some(located.article) }
    });
    let oldest = || unanswered.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    let mut client = connection.client.clone();
    let mut verdicts = match client.ingest_stream(requests).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Err(connection.refused(oldest().as_deref(), &status)),
    };
    let mut printed = 0;
    loop {
        match verdicts.message().await {
            Ok(Some(verdict)) => {
                oldest();
                print_verdict(verdict, out)?;
                printed += 1;
            }
            Ok(None) => return Ok(printed),
            Err(status) => return Err(connection.refused(oldest().as_deref(), &status)),
        }
    }
}

/// Checks articles with up to [`CHECKS_IN_FLIGHT`] calls at once, printing in order.
async fn check(
    connection: &Connection,
    mut articles: mpsc::Receiver<Located>,
    out: &mut impl Write,
) -> Result<usize> {
    let mut in_flight = VecDeque::new();
    let mut printed = 0;
    loop {
        let next = if in_flight.len() < CHECKS_IN_FLIGHT { articles.recv().await } else { None };
        if let Some(Located { at, article }) = next {
            let mut client = connection.client.clone();
            let request = pb::CheckRequest { article: Some(article) };
            let call = tokio::spawn(async move { client.check(request).await });
            in_flight.push_back((at, call));
            continue;
        }
        let Some((at, call)) = in_flight.pop_front() else { return Ok(printed) };
        let verdict = call
            .await
            .context("check task failed")?
            .map_err(|status| connection.refused(Some(&at), &status))?;
        print_verdict(verdict.into_inner(), out)?;
        printed += 1;
    }
}

fn print_verdict(verdict: pb::Verdict, out: &mut impl Write) -> Result<()> {
    let verdict = convert::verdict_from_pb(verdict).context("server sent a bad verdict")?;
    serde_json::to_writer(&mut *out, &verdict)?;
    out.write_all(b"\n").context("failed to write verdicts")
}

/// Reads every record of `inputs` into `sender` until the receiver goes away; with
/// `skip_invalid`, a record that cannot be read or breaks the article rules is reported
/// on stderr and left out.
fn read_articles(
    inputs: &[PathBuf],
    options: &ReadOptions,
    skip_invalid: bool,
    sender: mpsc::Sender<Located>,
) -> Result<()> {
    for path in inputs {
        for input in input::open(path, options)? {
            for span in input.spans() {
                let at = match input.location(span) {
                    input::Location::Line(line) => format!("{}:{line}", input.path.display()),
                    input::Location::Row(row) => format!("{} row {row}", input.path.display()),
                };
                let record = input.parse(span).and_then(|record| {
                    let article = neardup::Article {
                        id: &record.id,
                        text: &record.text,
                        source: record.source.as_deref().unwrap_or(""),
                        published: record.published,
                    };
                    article.validate().map_err(|e| input.error(span, e.to_string()))?;
                    Ok(record)
                });
                let record = match record {
                    Ok(record) => record,
                    Err(error) if skip_invalid => {
                        eprintln!("neardup: skipped {}", input.reject(span, error));
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                let article = convert::article_from_record(record);
                if sender.blocking_send(Located { at, article }).is_err() {
                    // The call ended (the server refused an article); that error is reported.
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Runs `neardup cluster`: the story of an article, as the server's JSON.
pub(crate) fn cluster(args: &ClusterArgs) -> Result<()> {
    runtime()?.block_on(async {
        let connection = connect(&args.remote).await?;
        let request = pb::GetClusterRequest { cluster_id: args.id.clone() };
        let cluster =
            connection.client.clone().get_cluster(request).await.map_err(|status| {
                connection.failed(&format!("cluster of {:?}", args.id), &status)
            })?;
        print_json(&convert::to_json(&cluster.into_inner(), "neardup.v1.Cluster")?)
    })
}

/// Runs `neardup remove`: one line `{"id", "removed"}` per id, in order.
pub(crate) fn remove(args: &RemoveArgs) -> Result<()> {
    runtime()?.block_on(async {
        let connection = connect(&args.remote).await?;
        let mut out = std::io::stdout().lock();
        for id in &args.ids {
            let request = pb::RemoveRequest { id: id.clone() };
            let response = connection
                .client
                .clone()
                .remove(request)
                .await
                .map_err(|status| connection.failed(&format!("remove {id:?}"), &status))?;
            let line = serde_json::json!({ "id": id, "removed": response.into_inner().removed });
            writeln!(out, "{line}").context("failed to write the result")?;
        }
        Ok(())
    })
}

/// Runs `neardup stats`: the server's answer as JSON.
pub(crate) fn stats(args: &StatsArgs) -> Result<()> {
    runtime()?.block_on(async {
        let connection = connect(&args.remote).await?;
        let stats = connection
            .client
            .clone()
            .stats(pb::StatsRequest {})
            .await
            .map_err(|status| connection.failed("stats", &status))?;
        print_json(&convert::to_json(&stats.into_inner(), "neardup.v1.StatsResponse")?)
    })
}

fn print_json(value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(std::io::stdout().lock(), "{text}").context("failed to write the answer")
}

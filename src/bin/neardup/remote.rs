//! `neardup ingest` and `neardup check`: the command line as a client of a running
//! server. Articles are read with the same corpus readers and field options as `scan`
//! (on a blocking thread, while earlier ones are already on the wire) and every verdict
//! is printed as one JSON line on stdout, in input order.

use std::collections::VecDeque;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::args::ClientArgs;
use neardup::scan::input::{self, ReadOptions};
use neardup::service::client::{self, Client};
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

/// Runs `neardup ingest` or `neardup check`.
pub(crate) fn run(args: &ClientArgs, mode: Mode) -> Result<()> {
    crate::serve::runtime()?.block_on(send(args, mode))
}

async fn send(args: &ClientArgs, mode: Mode) -> Result<()> {
    let client = client::connect(&args.server, &args.connect.options()?).await?;
    let (sender, articles) = mpsc::channel(READ_AHEAD);
    let inputs = args.inputs.clone();
    let (options, skip_invalid) = (args.input.read_options(), args.skip_invalid);
    let reader =
        tokio::task::spawn_blocking(move || read_articles(&inputs, &options, skip_invalid, sender));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let sent = match mode {
        Mode::Ingest => ingest(client, articles, &mut out).await,
        Mode::Check => check(client, articles, &mut out).await,
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
    mut client: Client,
    articles: mpsc::Receiver<pb::Article>,
    out: &mut impl Write,
) -> Result<usize> {
    let requests =
        ReceiverStream::new(articles).map(|article| pb::IngestRequest { article: Some(article) });
    let mut verdicts =
        client.ingest_stream(requests).await.map_err(|s| rejected(&s, 0))?.into_inner();
    let mut printed = 0;
    loop {
        match verdicts.message().await {
            Ok(Some(verdict)) => {
                print_verdict(verdict, out)?;
                printed += 1;
            }
            Ok(None) => return Ok(printed),
            Err(status) => return Err(rejected(&status, printed)),
        }
    }
}

/// Checks articles with up to [`CHECKS_IN_FLIGHT`] calls at once, printing in order.
async fn check(
    client: Client,
    mut articles: mpsc::Receiver<pb::Article>,
    out: &mut impl Write,
) -> Result<usize> {
    let mut in_flight = VecDeque::new();
    let mut printed = 0;
    loop {
        let next = if in_flight.len() < CHECKS_IN_FLIGHT { articles.recv().await } else { None };
        if let Some(article) = next {
            let mut client = client.clone();
            let request = pb::CheckRequest { article: Some(article) };
            in_flight.push_back(tokio::spawn(async move { client.check(request).await }));
            continue;
        }
        let Some(call) = in_flight.pop_front() else { return Ok(printed) };
        let verdict =
            call.await.context("check task failed")?.map_err(|s| rejected(&s, printed))?;
        print_verdict(verdict.into_inner(), out)?;
        printed += 1;
    }
}

fn print_verdict(verdict: pb::Verdict, out: &mut impl Write) -> Result<()> {
    let verdict = convert::verdict_from_pb(verdict).context("server sent a bad verdict")?;
    serde_json::to_writer(&mut *out, &verdict)?;
    out.write_all(b"\n").context("failed to write verdicts")
}

fn rejected(status: &Status, answered: usize) -> anyhow::Error {
    anyhow!(
        "server refused article {} of the input: {:?}: {}",
        answered + 1,
        status.code(),
        status.message()
    )
}

/// Reads every record of `inputs` into `sender` until the receiver goes away; with
/// `skip_invalid`, a record that cannot be read or breaks the article rules is reported
/// on stderr and left out.
fn read_articles(
    inputs: &[PathBuf],
    options: &ReadOptions,
    skip_invalid: bool,
    sender: mpsc::Sender<pb::Article>,
) -> Result<()> {
    for path in inputs {
        for input in input::open(path, options)? {
            for span in input.spans() {
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
                if sender.blocking_send(article).is_err() {
                    // The call ended (the server refused an article); that error is reported.
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

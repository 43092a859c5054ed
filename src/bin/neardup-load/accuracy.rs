//! `neardup-load accuracy`: the online-accuracy bench. Starts a real `neardup serve` on
//! a fresh data directory, streams a labelled corpus through it in publication order
//! (or with a share of articles arriving late), and writes two predictions in the
//! `{id, cluster, origin}` form `neardup eval` and `score.py` read: the verdicts as
//! answered at ingest, and every article's story as `GetCluster` names it once the
//! stream is in. Prints `neardup eval`'s scores of both.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::harness::{ScratchDir, ServerProcess, load_corpus, neardup_binary};
use neardup::eval::{Label, score};
use neardup::service::pb;
use neardup::service::pb::deduplicator_client::DeduplicatorClient;

/// Options of `neardup-load accuracy`.
#[derive(Debug, Args)]
pub(crate) struct AccuracyArgs {
    /// Labelled corpus (JSONL with `cluster` and `origin`), e.g. synd-dev.jsonl.
    #[arg(long)]
    pub(crate) corpus: PathBuf,
    /// Share of articles that arrive late: each is moved to a random later place in
    /// the stream, up to a fifth of the stream further on.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) late: f64,
    /// Seed of the late arrivals' draw.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Where the two predictions go: DIR/verdicts.jsonl and DIR/stories.jsonl.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

pub(crate) async fn run(args: &AccuracyArgs, neardup: Option<&std::path::Path>) -> Result<()> {
    let mut articles = load_corpus(&args.corpus)?;
    articles.sort_by_key(|a| a.published_at.map(|t| (t.seconds, t.nanos)));
    if args.late > 0.0 {
        let (n, mut seed) = (articles.len(), args.seed.max(1));
        let mut keyed: Vec<(usize, usize)> = (0..n)
            .map(|i| {
                let late = (next(&mut seed) % 1_000_000) as f64 / 1e6 < args.late;
                let delay = if late { 1 + next(&mut seed) as usize % (n / 5).max(1) } else { 0 };
                (i + delay, i)
            })
            .collect();
        keyed.sort_unstable();
        articles = keyed.into_iter().map(|(_, i)| articles[i].clone()).collect();
    }
    let binary = neardup_binary(neardup)?;
    let data = ScratchDir::new("accuracy")?;
    let serve_args: Vec<OsString> = vec!["--data-dir".into(), data.path().into()];
    let server = ServerProcess::start(&binary, &serve_args, Duration::from_secs(120)).await?;
    let mut client = DeduplicatorClient::connect(server.url()).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let mut verdicts = HashMap::new();
    let requests: Vec<_> =
        articles.iter().map(|a| pb::IngestRequest { article: Some(a.clone()) }).collect();
    let mut stream = client.ingest_stream(tokio_stream::iter(requests)).await?.into_inner();
    while let Some(verdict) = stream.message().await? {
        let label = Label { cluster: verdict.cluster_id, origin: Some(verdict.origin_id) };
        verdicts.insert(verdict.id, label);
    }
    let mut stories = HashMap::new();
    for article in &articles {
        let request = pb::GetClusterRequest { cluster_id: article.id.clone() };
        let view = client.get_cluster(request).await?.into_inner();
        stories.insert(
            article.id.clone(),
            Label { cluster: view.cluster_id, origin: Some(view.origin_id) },
        );
    }
    server.kill()?;
    let truth = truth(&args.corpus)?;
    for (name, pred) in [("verdicts", &verdicts), ("stories", &stories)] {
        let path = args.out.join(format!("{name}.jsonl"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for article in &articles {
            let label = &pred[&article.id];
            let line = serde_json::json!({"id": article.id, "cluster": label.cluster, "origin": label.origin});
            writeln!(file, "{line}")?;
        }
        file.flush()?;
        let scores = score(&truth, pred);
        println!("{name} ({}): {}", path.display(), serde_json::to_string(&scores)?);
    }
    Ok(())
}

/// The corpus's `{id, cluster, origin}` labels (a null cluster stays one group "None",
/// as `neardup eval` and score.py read it).
fn truth(path: &std::path::Path) -> Result<Vec<(String, Label)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line)?;
            let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
            let id = text(&row["id"]).context("a corpus line without id")?;
            let cluster = text(&row["cluster"]).unwrap_or_else(|| "None".to_owned());
            Ok((id, Label { cluster, origin: text(&row["origin"]) }))
        })
        .collect()
}

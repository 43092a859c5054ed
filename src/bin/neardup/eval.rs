//! `neardup eval`: scores predicted clusters against ground truth with the library's
//! pairwise and adjusted-Rand measures, reading both as `{id, cluster[, origin]}` lines.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::args::EvalArgs;
use neardup::eval::{Label, score};

/// Runs `neardup eval`.
pub(crate) fn run(args: &EvalArgs) -> Result<()> {
    let truth = load_labels(&args.truth, NullCluster::Named)?;
    let pred: HashMap<String, Label> =
        load_labels(&args.pred, NullCluster::Singleton)?.into_iter().collect();
    let scores = score(&truth, &pred);
    if args.json {
        println!("{}", serde_json::to_string(&scores)?);
    } else {
        println!("docs: {}", scores.docs);
        println!("true_clusters: {}", scores.true_clusters);
        println!("pred_clusters: {}", scores.pred_clusters);
        println!("precision: {:.4}", scores.precision);
        println!("recall: {:.4}", scores.recall);
        println!("f1: {:.4}", scores.f1);
        println!("ari: {:.4}", scores.ari);
        if let Some(accuracy) = scores.origin_accuracy {
            println!("origin_accuracy: {accuracy:.4}");
        }
        println!("missing: {}", scores.missing);
    }
    Ok(())
}

/// What a null or missing `cluster` means. score.py stringifies the truth's (so all
/// unlabelled truth documents form one cluster "None") and treats the prediction's as a
/// singleton; we follow it so both tools give the same figures.
#[derive(Clone, Copy)]
enum NullCluster {
    Named,
    Singleton,
}

/// Reads `{id, cluster[, origin]}` lines.
fn load_labels(path: &Path, null_cluster: NullCluster) -> Result<Vec<(String, Label)>> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let mut out = Vec::new();
    for (ix, line) in BufReader::new(file).lines().enumerate() {
        let at = || format!("{}:{}", path.display(), ix + 1);
        let line = line.with_context(at)?;
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("{}: not JSON", at()))?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        let Some(id) = row.get("id").and_then(text) else { bail!("{}: no id", at()) };
        let cluster = match (row.get("cluster").and_then(text), null_cluster) {
            (Some(cluster), _) => cluster,
            (None, NullCluster::Named) => "None".to_owned(),
            (None, NullCluster::Singleton) => format!("\u{0}single:{id}"),
        };
        let origin = row.get("origin").and_then(text);
        out.push((id, Label { cluster, origin }));
    }
    Ok(out)
}

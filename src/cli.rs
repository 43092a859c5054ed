//! Command-line arguments (clap derive) and their conversion into one validated
//! [`DetectorConfig`]. Every flag's `///` text is its `--help`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use neardup::DetectorConfig;
use neardup::corpus::{Fields, Format};

/// Find near-duplicate and syndicated copies of news articles.
#[derive(Debug, Parser)]
#[command(name = "neardup", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Cluster a corpus (JSONL, one article per line, or a directory of .txt files) on
    /// every core and write one JSON line per article: {id, cluster, origin, kind,
    /// jaccard, containment}, scores against the cluster's origin.
    Scan(ScanArgs),
    /// Score predicted clusters against ground truth (both JSONL with id and cluster):
    /// pairwise precision, recall, F1, adjusted Rand index and origin accuracy.
    Eval(EvalArgs),
    /// Print the effective detector config as JSON (usable with --config).
    Config(DetectorArgs),
}

/// `neardup scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Corpus files or directories.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Write per-article lines here instead of stdout.
    #[arg(long, short)]
    pub(crate) out: Option<PathBuf>,
    /// Also write one line per cluster {cluster, size, origin, members} here.
    #[arg(long)]
    pub(crate) clusters: Option<PathBuf>,
    /// Input format; by default sniffed per file (.jsonl/.json/.ndjson or a leading `{`
    /// mean JSONL, anything else one article per line; directories hold .txt articles).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// JSONL field holding the article id (string or number).
    #[arg(long, default_value = "id")]
    pub(crate) id_field: String,
    /// JSONL field holding the text.
    #[arg(long, default_value = "text")]
    pub(crate) text_field: String,
    /// JSONL field holding the publication date (ISO 8601); earliest copy is the origin.
    #[arg(long, default_value = "date")]
    pub(crate) date_field: String,
    /// JSONL field holding the outlet.
    #[arg(long, default_value = "source")]
    pub(crate) source_field: String,
    /// Report bad records on stderr and carry on, instead of stopping with exit code 2.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Never draw the progress bar (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Add an `explain` object to each line: similarity to the origin (Jaccard and
    /// containment each way), the link that put the article in its cluster, and the
    /// chrome lines left out of its fingerprint.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Detector settings.
    #[command(flatten)]
    pub(crate) detector: DetectorArgs,
}

/// Input formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// One JSON object per line.
    Jsonl,
    /// One article per line of plain text; ids are line numbers.
    Lines,
}

impl ScanArgs {
    /// JSONL field names.
    pub(crate) fn fields(&self) -> Fields {
        Fields {
            id: self.id_field.clone(),
            text: self.text_field.clone(),
            date: self.date_field.clone(),
            source: self.source_field.clone(),
        }
    }

    /// The forced format, if any.
    pub(crate) fn format(&self) -> Option<Format> {
        self.format.map(|f| match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Lines => Format::Lines,
        })
    }
}

/// `neardup eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Ground truth JSONL ({id, cluster[, origin]} per line).
    pub(crate) truth: PathBuf,
    /// Prediction JSONL ({id, cluster[, origin]} per line), e.g. `neardup scan` output.
    pub(crate) pred: PathBuf,
    /// Print one JSON object instead of `name: value` lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Detector settings shared by every subcommand that detects.
#[derive(Debug, Clone, Args)]
pub(crate) struct DetectorArgs {
    /// Start from this JSON config (as printed by `neardup config`); flags override it.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Words per shingle [default: 5].
    #[arg(long)]
    pub(crate) shingle_size: Option<usize>,
    /// MinHash permutations, a multiple of 16 [default: 128].
    #[arg(long)]
    pub(crate) num_perm: Option<usize>,
    /// Jaccard the LSH bands are tuned to catch; bands and rows follow from it [default: 0.2].
    #[arg(long)]
    pub(crate) lsh_threshold: Option<f64>,
    /// LSH bands (overrides the value derived from --lsh-threshold; needs --rows).
    #[arg(long, requires = "rows")]
    pub(crate) bands: Option<usize>,
    /// Rows per band (needs --bands).
    #[arg(long, requires = "bands")]
    pub(crate) rows: Option<usize>,
    /// Estimated Jaccard at or above which two articles are duplicates [default: 0.3].
    #[arg(long)]
    pub(crate) jaccard_threshold: Option<f64>,
    /// Estimated containment of the shorter article in the longer at or above which it is
    /// a partial copy [default: 0.8].
    #[arg(long)]
    pub(crate) containment_threshold: Option<f64>,
    /// Seed of the hash family (signatures are comparable only under one seed).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// One-row LSH bands that surface excerpts of long stories; 0 turns the view off
    /// [default: 32].
    #[arg(long)]
    pub(crate) containment_bands: Option<usize>,
    /// Share of sampled member pairs that must be related before two clusters merge
    /// (chaining guard; 0 turns it off) [default: 0.5].
    #[arg(long)]
    pub(crate) merge_support: Option<f64>,
    /// Containment of the shorter in the longer at which a member pair counts as related
    /// for the chaining guard [default: 0.4].
    #[arg(long)]
    pub(crate) support_containment: Option<f64>,
    /// Do not learn site chrome; every line counts.
    #[arg(long)]
    pub(crate) no_boilerplate: bool,
    /// Documents of one source, mostly of different stories, that make a line that
    /// source's chrome [default: 3].
    #[arg(long)]
    pub(crate) boilerplate_min_docs: Option<u32>,
    /// Documents over all sources that make a line chrome everywhere [default: 20].
    #[arg(long)]
    pub(crate) boilerplate_min_docs_global: Option<u32>,
    /// Keep "million" and "mln" (and other agency abbreviations) apart.
    #[arg(long)]
    pub(crate) no_abbreviation_folding: bool,
    /// Estimate containment from MinHash alone, without keeping shingle sets in memory.
    #[arg(long)]
    pub(crate) no_sampled_containment: bool,
}

impl DetectorArgs {
    /// Merges the config file (if any) and the flags into one validated config.
    pub(crate) fn to_config(&self) -> Result<DetectorConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: invalid config", path.display()))?
            }
            None => DetectorConfig::default(),
        };
        if let Some(v) = self.shingle_size {
            config.shingle_size = v;
        }
        if let Some(v) = self.seed {
            config.seed = v;
        }
        if let Some(v) = self.num_perm {
            config = config.with_num_perm(v);
        }
        if let Some(v) = self.lsh_threshold {
            config = config.with_lsh_threshold(v);
        }
        if let (Some(bands), Some(rows)) = (self.bands, self.rows) {
            config.bands = bands;
            config.rows = rows;
        }
        if let Some(v) = self.jaccard_threshold {
            config.jaccard_threshold = v;
        }
        if let Some(v) = self.containment_threshold {
            config.containment_threshold = v;
        }
        if let Some(v) = self.containment_bands {
            config.containment_bands = v;
        }
        if let Some(v) = self.merge_support {
            config.merge_support = v;
        }
        if let Some(v) = self.support_containment {
            config.support_containment = v;
        }
        if self.no_boilerplate {
            config.boilerplate.enabled = false;
        }
        if let Some(v) = self.boilerplate_min_docs {
            config.boilerplate.min_docs_per_source = v;
        }
        if let Some(v) = self.boilerplate_min_docs_global {
            config.boilerplate.min_docs_global = v;
        }
        if self.no_abbreviation_folding {
            config.fold_abbreviations = false;
        }
        if self.no_sampled_containment {
            config.sampled_containment = false;
        }
        config.validate()?;
        Ok(config)
    }
}

//! Command-line arguments (clap derive) and their conversion into one validated
//! [`DetectorConfig`]. Every flag's `///` text is its `--help`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use neardup::DetectorConfig;
use neardup::config::StoreConfig;
use neardup::config::parse_duration;
use neardup::scan::input::{Fields, Format, ReadOptions};

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
    /// Cluster a corpus (JSONL, JSON, CSV, TSV, Parquet, text, gzip or zstd; files or
    /// directories) on every core and write one row per article: {id, cluster, origin,
    /// kind, jaccard, containment}, scores against the cluster's origin.
    Scan(ScanArgs),
    /// Run the gRPC service (neardup.v1.Deduplicator, plus grpc.health.v1 and server
    /// reflection) until SIGINT or SIGTERM. State is kept in --data-dir: every acknowledged
    /// article survives a crash or restart (see --sync).
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// Stream articles from corpus files into a running server, which labels and stores
    /// them; print one verdict per line as JSON.
    #[cfg(feature = "server")]
    Ingest(ClientArgs),
    /// Label articles from corpus files against a running server without storing them;
    /// print one verdict per line as JSON.
    #[cfg(feature = "server")]
    Check(ClientArgs),
    /// Score predicted clusters against ground truth (both JSONL with id and cluster):
    /// pairwise precision, recall, F1, adjusted Rand index and origin accuracy.
    Eval(EvalArgs),
    /// Print the effective detector config as JSON (usable with --config).
    Config(DetectorArgs),
    /// Rewrite a data directory's log without removed and expired articles (crash-safe;
    /// the directory must not be in use). Prints a JSON report.
    Compact(CompactArgs),
}

/// `neardup serve`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free one, printed at start; see also
    /// --address-file).
    #[arg(long, default_value = neardup::config::DEFAULT_LISTEN)]
    pub(crate) listen: std::net::SocketAddr,
    /// Largest request message accepted, in bytes; larger ones get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = neardup::config::DEFAULT_MAX_MESSAGE_BYTES)]
    pub(crate) max_message_bytes: usize,
    /// Data directory: manifest and log. Created when missing; one written under other
    /// detector settings is refused, with the setting named (`neardup scan --save DIR`
    /// writes one from a corpus).
    #[arg(long, default_value = neardup::config::DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// Once the data directory is open and the port listens, write the bound HOST:PORT
    /// to this file (whole, through a rename): how a script that started the server on
    /// port 0 learns where it is. Give a path that does not exist yet.
    #[arg(long, value_name = "PATH")]
    pub(crate) address_file: Option<PathBuf>,
    /// When an answer waits for the disk. always: after an fdatasync of its record
    /// (concurrent requests share one); batch: after the write, synced every
    /// --batch-interval (a power failure loses at most that); never: UNSAFE, no sync while
    /// running (a power failure or kernel crash can lose any acknowledged article).
    #[arg(long, default_value_t = neardup::config::SyncMode::Always, value_name = "always|batch|never")]
    pub(crate) sync: neardup::config::SyncMode,
    /// Background sync period of --sync batch (e.g. `100ms`).
    #[arg(long, default_value = "100ms", value_name = "DURATION")]
    pub(crate) batch_interval: String,
    /// Keep only articles published within this span of the newest one (e.g. `7d`, `36h`);
    /// older ones leave memory at once and the disk at the next compaction. Default: keep all.
    #[arg(long, value_name = "DURATION")]
    pub(crate) window: Option<String>,
    /// Compact the log automatically once this share of its records is dead (removed or
    /// expired) and at least 10,000 are.
    #[arg(long, default_value_t = neardup::config::DEFAULT_COMPACT_FRACTION)]
    pub(crate) compact_fraction: f64,
    /// On SIGINT/SIGTERM, wait this many milliseconds for requests in flight to finish.
    #[arg(long, default_value_t = neardup::config::DEFAULT_SHUTDOWN_GRACE_MS)]
    pub(crate) shutdown_grace_ms: u64,
    /// PEM certificate chain: serve TLS (needs --tls-key). Without it the server speaks
    /// plain TCP, which is meant for loopback (a warning is logged otherwise).
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// PEM CA bundle: require every client to present a certificate it signed (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Bearer tokens, one `token scope[,scope]` per line (scopes: check, ingest, admin);
    /// without it every RPC is open.
    #[arg(long)]
    pub(crate) auth_tokens: Option<PathBuf>,
    /// HTTP/2 streams one connection may have open at once.
    #[arg(long, default_value_t = neardup::config::DEFAULT_MAX_CONCURRENT_STREAMS)]
    pub(crate) max_concurrent_streams: u32,
    /// Requests one connection may have in handlers at once; more wait their turn.
    #[arg(long, default_value_t = neardup::config::DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION)]
    pub(crate) max_in_flight_per_connection: usize,
    /// Requests (open streams included) in the whole server; more get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = neardup::config::DEFAULT_MAX_IN_FLIGHT)]
    pub(crate) max_in_flight: usize,
    /// Articles queued for or in fingerprinting at once; when full, clients are slowed.
    #[arg(long, default_value_t = neardup::config::DEFAULT_HASHING_QUEUE)]
    pub(crate) hashing_queue: usize,
    /// Longest time a request may spend in its handler, in milliseconds (clients may set
    /// a shorter deadline with grpc-timeout).
    #[arg(long, default_value_t = neardup::config::DEFAULT_REQUEST_TIMEOUT_MS)]
    pub(crate) request_timeout_ms: u64,
    /// Detector settings.
    #[command(flatten)]
    pub(crate) detector: DetectorArgs,
}

#[cfg(feature = "server")]
impl ServeArgs {
    /// The service config (validated when the server binds).
    pub(crate) fn to_config(&self) -> Result<neardup::config::ServiceConfig> {
        Ok(neardup::config::ServiceConfig {
            listen: self.listen,
            max_message_bytes: self.max_message_bytes,
            store: StoreConfig {
                data_dir: self.data_dir.clone(),
                sync: self.sync,
                batch_interval: parse_duration("batch_interval", &self.batch_interval)?,
                window: self
                    .window
                    .as_deref()
                    .map(|text| parse_duration("window", text))
                    .transpose()?,
                compact_fraction: self.compact_fraction,
                ..StoreConfig::default()
            },
            shutdown_grace_ms: self.shutdown_grace_ms,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(neardup::config::TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                }),
                _ => None,
            },
            auth_tokens: self.auth_tokens.clone(),
            limits: neardup::config::LimitsConfig {
                max_concurrent_streams: self.max_concurrent_streams,
                max_in_flight_per_connection: self.max_in_flight_per_connection,
                max_in_flight: self.max_in_flight,
                hashing_queue: self.hashing_queue,
                request_timeout_ms: self.request_timeout_ms,
            },
            detector: self.detector.to_config()?,
        })
    }
}

/// Address of a running server, as the client commands take it.
#[cfg(feature = "server")]
pub(crate) const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:50051";

/// `neardup ingest` and `neardup check`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Corpus files or directories.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// URL of the running server (https:// with --tls-ca).
    #[arg(long, default_value = DEFAULT_SERVER_URL)]
    pub(crate) server: String,
    /// How to reach a secured server.
    #[command(flatten)]
    pub(crate) connect: crate::shared::ConnectArgs,
    /// How to read the inputs.
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Report records that cannot be read (or break the id, source or date rules) on
    /// stderr and send the others, instead of stopping with exit code 2. An article the
    /// server refuses still ends the run.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
}

/// `neardup scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Corpus files or directories; `-` is standard input (with --format).
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Write one row per article here instead of stdout (`-`): JSONL, or CSV, TSV or
    /// Parquet when the name ends in .csv, .tsv or .parquet (JSONL, CSV and TSV may add
    /// .gz or .zst).
    #[arg(long, short)]
    pub(crate) out: Option<PathBuf>,
    /// Also write one row per cluster {cluster, size, origin, members} here, in the
    /// format its name asks for, as --out.
    #[arg(long)]
    pub(crate) clusters: Option<PathBuf>,
    /// How to read the inputs.
    #[command(flatten)]
    pub(crate) input: InputArgs,
    /// Report bad records on stderr and carry on, instead of stopping with exit code 2.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Skip bad records (as --skip-invalid) and write each one here with its file, line
    /// (or Parquet row) and reason: JSONL, or CSV when the name ends in .csv.
    #[arg(long, value_name = "FILE")]
    pub(crate) rejects: Option<PathBuf>,
    /// Worker threads [default: one per core].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) threads: Option<u16>,
    /// Never draw the progress bar (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Also write the scanned articles and their clusters as a new data directory that
    /// `neardup serve --data-dir` opens (the directory must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub(crate) save: Option<PathBuf>,
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
    /// A JSON array of objects, or one object per line.
    Json,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// Apache Parquet.
    Parquet,
    /// One article per line of plain text; ids are line numbers.
    Lines,
    /// The whole file is one article; its id is its path.
    Text,
}

/// How to read corpus files; shared by every subcommand that reads articles.
#[derive(Debug, Clone, Args)]
pub(crate) struct InputArgs {
    /// Read every input in this format. By default a file's extension names it: .jsonl
    /// .ndjson .json .csv .tsv .parquet .txt, optionally with .gz or .zst (a .txt file in
    /// a directory is one article; other unknown extensions are an error).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
    /// Field (JSON key or column) holding the article id (string or number).
    #[arg(long, default_value = "id")]
    pub(crate) id_field: String,
    /// Field holding the text.
    #[arg(long, default_value = "text")]
    pub(crate) text_field: String,
    /// Field holding the publication date; the earliest copy is the origin. RFC 3339 or
    /// ISO 8601 (no offset means UTC), RFC 2822, Unix epoch seconds or milliseconds, or a
    /// Parquet timestamp; a date that cannot be read is a bad record.
    #[arg(long, default_value = "date")]
    pub(crate) date_field: String,
    /// Field holding the outlet.
    #[arg(long, default_value = "source")]
    pub(crate) source_field: String,
    /// strftime format for other dates (e.g. `%d/%m/%Y %H:%M`), tried first.
    #[arg(long, value_name = "FORMAT")]
    pub(crate) date_format: Option<String>,
}

impl InputArgs {
    /// How to read the inputs.
    pub(crate) fn read_options(&self) -> ReadOptions {
        ReadOptions {
            fields: Fields {
                id: self.id_field.clone(),
                text: self.text_field.clone(),
                date: self.date_field.clone(),
                source: self.source_field.clone(),
            },
            format: self.format.map(|f| match f {
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Json => Format::Json,
                FormatArg::Csv => Format::Csv,
                FormatArg::Tsv => Format::Tsv,
                FormatArg::Parquet => Format::Parquet,
                FormatArg::Lines => Format::Lines,
                FormatArg::Text => Format::Whole,
            }),
            date_format: self.date_format.clone(),
        }
    }
}

/// `neardup compact`.
#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// The data directory.
    #[arg(long, default_value = neardup::config::DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// Also drop articles older than the newest minus this span (e.g. `7d`).
    #[arg(long, value_name = "DURATION")]
    pub(crate) window: Option<String>,
}

impl CompactArgs {
    /// The store settings.
    pub(crate) fn to_config(&self) -> Result<StoreConfig> {
        let window =
            self.window.as_deref().map(|text| parse_duration("window", text)).transpose()?;
        let config =
            StoreConfig { data_dir: self.data_dir.clone(), window, ..StoreConfig::default() };
        config.validate()?;
        Ok(config)
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
    /// a partial copy [default: 0.5].
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
    #[arg(long, alias = "no-boilerplate")]
    pub(crate) no_chrome: bool,
    /// Documents of one source, mostly of different stories, that make a line that
    /// source's chrome [default: 3].
    #[arg(long, alias = "boilerplate-min-docs")]
    pub(crate) chrome_min_docs: Option<u32>,
    /// Documents over all sources that make a line chrome everywhere [default: 20].
    #[arg(long, alias = "boilerplate-min-docs-global")]
    pub(crate) chrome_min_docs_global: Option<u32>,
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
        if self.no_chrome {
            config.chrome.enabled = false;
        }
        if let Some(v) = self.chrome_min_docs {
            config.chrome.min_docs_per_source = v;
        }
        if let Some(v) = self.chrome_min_docs_global {
            config.chrome.min_docs_global = v;
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

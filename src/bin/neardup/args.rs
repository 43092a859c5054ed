//! Command-line arguments (clap derive) and their conversion into one validated config:
//! the config file (`--config`, TOML) first, the flags over it. Every flag's `///` text
//! is its help: the first line for `-h`, the whole for `--help`.

#[cfg(feature = "server")]
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
#[cfg(feature = "server")]
use std::time::Duration;

#[cfg(feature = "server")]
use anyhow::bail;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use neardup::DetectorConfig;
#[cfg(feature = "server")]
use neardup::config::{LogFormat, SyncMode, TlsConfig, parse_size};
use neardup::config::{ServiceConfig, StoreConfig, parse_duration};
use neardup::scan::input::{Fields, Format, ReadOptions};

/// Find near-duplicate and syndicated copies of news articles.
#[derive(Debug, Parser)]
#[command(
    name = "neardup",
    version = env!("NEARDUP_VERSION"),
    about,
    long_about = None,
    max_term_width = 80
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Cluster a corpus on every core; write one row per article
    ///
    /// Reads JSONL, JSON, CSV, TSV, Parquet or plain text (one article per line), gzip or
    /// zstd, files or directories, and writes {id, cluster, origin, kind, jaccard,
    /// containment, link} per article, scored against its cluster's origin and the
    /// article that put it there.
    Scan(ScanArgs),
    /// Run the gRPC service until SIGINT or SIGTERM
    ///
    /// Serves neardup.v1.Deduplicator with grpc.health.v1 and server reflection. State
    /// is kept in the data directory: every acknowledged article survives a crash or a
    /// restart (see --sync). SIGHUP reloads the token file.
    #[cfg(feature = "server")]
    Serve(ServeArgs),
    /// Send articles to a server, which labels and stores them
    ///
    /// Streams the articles of corpus files (as `scan` reads them) and prints one
    /// verdict per line as JSON, in input order.
    #[cfg(feature = "server")]
    Ingest(ClientArgs),
    /// Label articles against a server without storing them
    ///
    /// Prints one verdict per line as JSON, in input order.
    #[cfg(feature = "server")]
    Check(ClientArgs),
    /// Print the story of an article: its origin and every stored copy
    #[cfg(feature = "server")]
    Cluster(ClusterArgs),
    /// Retract articles from a server (takedown, correction)
    ///
    /// Prints {"id", "removed"} per id; removed is false for an id the server does not
    /// hold.
    #[cfg(feature = "server")]
    Remove(RemoveArgs),
    /// Print a server's counters, settings and uptime as JSON
    #[cfg(feature = "server")]
    Stats(StatsArgs),
    /// Score predicted clusters against ground truth
    ///
    /// Both files are JSONL with id and cluster: pairwise precision, recall, F1,
    /// adjusted Rand index and origin accuracy.
    Eval(EvalArgs),
    /// Print the effective config file (file and flags merged) as TOML
    ///
    /// Takes every flag of `serve`; the output is a complete config file for
    /// `serve --config` (and `scan --config`, which reads its [detector] table).
    #[cfg(feature = "server")]
    Config(ServeArgs),
    /// Print the effective config file (file and flags merged) as TOML
    #[cfg(not(feature = "server"))]
    Config(DetectorArgs),
    /// Drop removed and expired articles from a stopped server's log
    ///
    /// Rewrites the log crash-safely; the data directory must not be in use. Prints a
    /// JSON report.
    Compact(CompactArgs),
    /// Print a shell completion script
    ///
    /// For bash, zsh, fish, elvish or powershell; e.g. `neardup completions bash >
    /// /etc/bash_completion.d/neardup`.
    Completions(CompletionsArgs),
    /// Print a man page in roff: neardup(1), or neardup-COMMAND(1)
    Man(ManArgs),
}

#[cfg(feature = "server")]
/// Parses a flag's duration (`30s`, `7d`).
fn duration_arg(text: &str) -> std::result::Result<Duration, String> {
    parse_duration("duration", text).map_err(|e| reason(&e))
}

#[cfg(feature = "server")]
/// Parses a flag's size (`8MiB`).
fn size_arg(text: &str) -> std::result::Result<usize, String> {
    let bytes = parse_size("size", text).map_err(|e| reason(&e))?;
    usize::try_from(bytes).map_err(|_| format!("{text} is too large"))
}

#[cfg(feature = "server")]
/// The reason of a config error, without the field name clap already shows.
fn reason(err: &neardup::Error) -> String {
    match err {
        neardup::Error::InvalidConfig { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Reads a config file: TOML as `neardup config` prints it (JSON of the same shape when
/// the name ends in `.json`). Unknown keys are errors naming the key and the line.
pub(crate) fn load_config(path: &Path) -> Result<ServiceConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    };
    parsed.with_context(|| format!("{}: invalid config", path.display()))
}

/// `neardup serve` and `neardup config`. Every flag overrides its key of the config file;
/// defaults are those of the file's keys.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:50051]
    ///
    /// Port 0 picks a free one (see --address-file).
    #[arg(long, value_name = "HOST:PORT", help_heading = "Server")]
    pub(crate) listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics [default: off]
    #[arg(long, value_name = "HOST:PORT", help_heading = "Server")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Once listening, write the bound HOST:PORT to this file
    ///
    /// Written whole (through a rename) once the data directory is open and the port
    /// listens, and removed at a clean stop: how a script that started the server on port
    /// 0 learns where it is. Give a path that does not exist yet.
    #[arg(long, value_name = "PATH", help_heading = "Server")]
    pub(crate) address_file: Option<PathBuf>,
    /// Log lines as text or JSON objects [default: text]
    #[arg(long, value_name = "text|json", help_heading = "Server")]
    pub(crate) log_format: Option<LogFormat>,
    /// Largest request message accepted, e.g. 8MiB [default: 8MiB]
    ///
    /// Larger ones get RESOURCE_EXHAUSTED.
    #[arg(long, value_name = "SIZE", value_parser = size_arg, help_heading = "Server")]
    pub(crate) max_message_bytes: Option<usize>,
    /// On SIGINT/SIGTERM, wait this long for requests in flight [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, help_heading = "Server")]
    pub(crate) shutdown_grace: Option<Duration>,

    /// Data directory: manifest and log [default: ./neardup-data]
    ///
    /// Created when missing; one written under other detector settings is refused, with
    /// the setting named (`neardup scan --save DIR` writes one from a corpus).
    #[arg(long, value_name = "DIR", help_heading = "Storage")]
    pub(crate) data_dir: Option<PathBuf>,
    /// When an answer waits for the disk [default: always]
    ///
    /// always: after an fdatasync of its record (concurrent requests share one); batch:
    /// after the write, synced every --batch-interval (a power failure loses at most
    /// that); never: UNSAFE, no sync while running (a power failure or kernel crash can
    /// lose any acknowledged article).
    #[arg(long, value_name = "always|batch|never", help_heading = "Storage")]
    pub(crate) sync: Option<SyncMode>,
    /// Background sync period of --sync batch [default: 100ms]
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, help_heading = "Storage")]
    pub(crate) batch_interval: Option<Duration>,
    /// Keep only articles published within this span of the newest, e.g. 7d
    ///
    /// Older ones leave memory at once and the disk at the next compaction. Default:
    /// keep all.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, help_heading = "Storage")]
    pub(crate) window: Option<Duration>,
    /// Compact the log once this share of its records is dead [default: 0.5]
    ///
    /// Dead: removed or expired; and only once at least 10,000 are.
    #[arg(long, value_name = "FRACTION", help_heading = "Storage")]
    pub(crate) compact_fraction: Option<f64>,

    /// PEM certificate chain: serve TLS (with --tls-key)
    ///
    /// Without it the server speaks plain TCP, which is meant for loopback (a warning is
    /// logged otherwise).
    #[arg(long, value_name = "PEM", help_heading = "Security")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "PEM", help_heading = "Security")]
    pub(crate) tls_key: Option<PathBuf>,
    /// PEM CA bundle: require client certificates it signed (mutual TLS)
    #[arg(long, value_name = "PEM", help_heading = "Security")]
    pub(crate) tls_client_ca: Option<PathBuf>,
    /// Bearer tokens, one `token scope[,scope]` per line; reread on SIGHUP
    ///
    /// Scopes: check, ingest, admin. Without it every RPC is open.
    #[arg(long, value_name = "FILE", help_heading = "Security")]
    pub(crate) auth_tokens: Option<PathBuf>,

    /// HTTP/2 streams one connection may have open [default: 64]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_concurrent_streams: Option<u32>,
    /// Requests one connection may have in handlers; more wait [default: 64]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_in_flight_per_connection: Option<usize>,
    /// Requests in the whole server; more get RESOURCE_EXHAUSTED [default: 512]
    ///
    /// Open streams count until they end.
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_in_flight: Option<usize>,
    /// Articles queued for or in fingerprinting; when full, clients wait [default: 256]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) hashing_queue: Option<usize>,
    /// Longest time a request may spend in its handler [default: 60s]
    ///
    /// Clients may set a shorter deadline (grpc-timeout).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, help_heading = "Limits")]
    pub(crate) request_timeout: Option<Duration>,
    /// Article text kept in memory for the story diffs of the web page [default: 256MiB]
    ///
    /// The oldest ingested go first; nothing is kept across restarts; 0 keeps none.
    #[arg(long, value_name = "SIZE", value_parser = size_arg, help_heading = "Limits")]
    pub(crate) kept_text_bytes: Option<usize>,

    /// Detector settings.
    #[command(flatten, next_help_heading = "Detector")]
    pub(crate) detector: DetectorArgs,
}

#[cfg(feature = "server")]
impl ServeArgs {
    /// The config file (if any) with every flag given applied over it, validated.
    pub(crate) fn to_config(&self) -> Result<ServiceConfig> {
        let mut config = match &self.detector.config {
            Some(path) => load_config(path)?,
            None => ServiceConfig::default(),
        };
        set(&mut config.listen, self.listen);
        if self.metrics_listen.is_some() {
            config.metrics_listen = self.metrics_listen;
        }
        set(&mut config.log_format, self.log_format);
        set(&mut config.max_message_bytes, self.max_message_bytes);
        set(&mut config.shutdown_grace, self.shutdown_grace);
        let store = &mut config.store;
        set(&mut store.data_dir, self.data_dir.clone());
        set(&mut store.sync, self.sync);
        set(&mut store.batch_interval, self.batch_interval);
        if self.window.is_some() {
            store.window = self.window;
        }
        set(&mut store.compact_fraction, self.compact_fraction);
        self.apply_tls(&mut config)?;
        if self.auth_tokens.is_some() {
            config.auth_tokens = self.auth_tokens.clone();
        }
        let limits = &mut config.limits;
        set(&mut limits.max_concurrent_streams, self.max_concurrent_streams);
        set(&mut limits.max_in_flight_per_connection, self.max_in_flight_per_connection);
        set(&mut limits.max_in_flight, self.max_in_flight);
        set(&mut limits.hashing_queue, self.hashing_queue);
        set(&mut limits.request_timeout, self.request_timeout);
        set(&mut limits.kept_text_bytes, self.kept_text_bytes);
        self.detector.apply(&mut config.detector);
        config.validate()?;
        Ok(config)
    }

    /// `--tls-*` over the file's `[tls]`: certificate and key come as a pair from
    /// either place.
    fn apply_tls(&self, config: &mut ServiceConfig) -> Result<()> {
        if self.tls_cert.is_none() && self.tls_key.is_none() && self.tls_client_ca.is_none() {
            return Ok(());
        }
        let file = config.tls.take();
        let cert = self.tls_cert.clone().or_else(|| file.as_ref().map(|t| t.cert.clone()));
        let key = self.tls_key.clone().or_else(|| file.as_ref().map(|t| t.key.clone()));
        let client_ca =
            self.tls_client_ca.clone().or_else(|| file.as_ref().and_then(|t| t.client_ca.clone()));
        let (Some(cert), Some(key)) = (cert, key) else {
            bail!("--tls-cert and --tls-key go together (as flags or in the config file's [tls])");
        };
        config.tls = Some(TlsConfig { cert, key, client_ca });
        Ok(())
    }
}

#[cfg(feature = "server")]
/// Replaces `slot` with the flag's value when the flag was given.
fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

/// Address of a running server when neither --server nor NEARDUP_SERVER gives one.
#[cfg(feature = "server")]
pub(crate) const DEFAULT_SERVER: &str = "127.0.0.1:50051";

/// Which server the client commands talk to, and how.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct RemoteArgs {
    /// The server: HOST:PORT or a URL (https:// for TLS)
    ///
    /// A HOST:PORT is reached over TLS when a --tls-* option is given, else plain.
    #[arg(long, env = "NEARDUP_SERVER", default_value = DEFAULT_SERVER)]
    pub(crate) server: String,
    /// TLS and credentials.
    #[command(flatten)]
    pub(crate) connect: crate::shared::ConnectArgs,
}

/// `neardup ingest` and `neardup check`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// Corpus files or directories.
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// The server and how to reach it.
    #[command(flatten, next_help_heading = "Connection")]
    pub(crate) remote: RemoteArgs,
    /// How to read the inputs.
    #[command(flatten, next_help_heading = "Input")]
    pub(crate) input: InputArgs,
    /// Report records that cannot be read (or break the id, source or date rules) on
    /// stderr and send the others, instead of stopping with exit code 2. An article the
    /// server refuses still ends the run.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
}

/// `neardup cluster`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// The id of any article of the story (or the story's id).
    pub(crate) id: String,
    /// The server and how to reach it.
    #[command(flatten, next_help_heading = "Connection")]
    pub(crate) remote: RemoteArgs,
}

/// `neardup remove`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// Ids of the articles to retract.
    #[arg(required = true)]
    pub(crate) ids: Vec<String>,
    /// The server and how to reach it.
    #[command(flatten, next_help_heading = "Connection")]
    pub(crate) remote: RemoteArgs,
}

/// `neardup stats`.
#[cfg(feature = "server")]
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The server and how to reach it.
    #[command(flatten, next_help_heading = "Connection")]
    pub(crate) remote: RemoteArgs,
}

/// `neardup completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    pub(crate) shell: clap_complete::Shell,
}

/// `neardup man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// A command, for its own page (neardup-COMMAND(1)); none for neardup(1).
    pub(crate) command: Option<String>,
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
    #[command(flatten, next_help_heading = "Input")]
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
    /// Also write the signed documents and their band rows as Parquet stage tables,
    /// DIR/documents.parquet and DIR/bands.parquet, for joining elsewhere
    /// (`neardup-spark --emitted DIR`); see docs/stage-tables.md.
    #[arg(long, value_name = "DIR")]
    pub(crate) emit_parquet: Option<PathBuf>,
    /// Add an `explain` object to each line: similarity to the origin (Jaccard and
    /// containment each way), the link that put the article in its cluster, and the
    /// chrome lines left out of its fingerprint.
    #[arg(long)]
    pub(crate) explain: bool,
    /// Detector settings.
    #[command(flatten, next_help_heading = "Detector")]
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
    /// Config file (TOML, as `neardup config` prints it); flags override it
    ///
    /// `serve` takes every table of it; `scan` only [detector]. Unknown keys are errors.
    #[arg(long, value_name = "FILE", help_heading = None::<&str>)]
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
    /// The config file's `[detector]` (if any) with the flags over it, validated.
    pub(crate) fn to_config(&self) -> Result<DetectorConfig> {
        let mut config = match &self.config {
            Some(path) => load_config(path)?.detector,
            None => DetectorConfig::default(),
        };
        self.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Applies the flags given to `config`.
    pub(crate) fn apply(&self, config: &mut DetectorConfig) {
        if let Some(v) = self.shingle_size {
            config.shingle_size = v;
        }
        if let Some(v) = self.seed {
            config.seed = v;
        }
        if let Some(v) = self.num_perm {
            *config = config.clone().with_num_perm(v);
        }
        if let Some(v) = self.lsh_threshold {
            *config = config.clone().with_lsh_threshold(v);
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
    }
}

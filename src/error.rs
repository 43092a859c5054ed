//! The library's one error type. User faults (bad config, bad input) are kept apart
//! from internal ones so adapters can map them to exit codes and gRPC statuses.

use std::path::PathBuf;

/// Errors from the neardup library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range or inconsistent with another.
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// The offending setting.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// An article or request field is unusable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field (`id`, `text`, ...).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The same id was given twice with different content.
    #[error("duplicate id {id:?}: {reason}")]
    DuplicateId {
        /// The id in question.
        id: String,
        /// Where or how it was seen before.
        reason: String,
    },
    /// A malformed record in an input file.
    #[error("{path}:{line}: {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A malformed row in an input file of rows (Parquet).
    #[error("{path}: row {row}: {reason}")]
    BadRow {
        /// The file.
        path: PathBuf,
        /// 1-based row number.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An input file that cannot be read as a whole: an unknown extension, content that
    /// contradicts it, a missing column, a truncated compressed stream.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something the caller looked up does not exist.
    #[error("{what} not found: {id:?}")]
    NotFound {
        /// Kind of thing (`cluster`, `article`).
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// A data directory was written with settings or a format this build cannot use.
    /// Nothing in the directory was changed.
    #[error(
        "{path}: data written with {setting} = {stored}, but this run has {setting} = {current}; \
         use the same setting or another data directory (the data was left untouched)"
    )]
    IncompatibleStore {
        /// The data directory.
        path: PathBuf,
        /// The setting that differs (`num_perm`, `format_version`, ...).
        setting: String,
        /// Its value in the directory's manifest.
        stored: String,
        /// Its value in this run.
        current: String,
    },
    /// A stage table (see [`crate::contract`]) written under another contract than the
    /// reader's: another table, format version, hash scheme or detector setting.
    #[error(
        "{file}: stage table written with {key} = {found}, but this reader expects \
         {key} = {expected}"
    )]
    ContractMismatch {
        /// The file or table read.
        file: String,
        /// The metadata key, or for the config the setting's dotted path
        /// (`neardup.config.bands`).
        key: String,
        /// The reader's value.
        expected: String,
        /// The file's value (`nothing` when the key is missing).
        found: String,
    },
    /// A log record failed its checksum or framing and valid records follow it, so it is
    /// not a torn tail from a crash: stopping is safer than dropping what follows.
    #[error(
        "{path}: corrupt log record at byte {offset}: {reason}; valid records follow \
         ({next_valid}), so this is not a torn tail from a crash: restore the directory from a \
         backup, or truncate the file at byte {offset} to accept losing what follows"
    )]
    CorruptLog {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record.
        offset: u64,
        /// Where the next valid record is.
        next_valid: String,
        /// What failed.
        reason: String,
    },
    /// A log record passed its checksum but cannot be decoded (a bug or a foreign file).
    #[error("{path}: undecodable log record at byte {offset}: {reason}")]
    BadLogRecord {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("{path}: data directory is in use by another process")]
    StoreLocked {
        /// The data directory.
        path: PathBuf,
    },
    /// An earlier write or sync of the log failed; the store accepts nothing more until it
    /// is reopened (recovery keeps every record that reached the disk intact).
    #[error("the log can no longer be written: {reason}")]
    StoreFailed {
        /// The first failure.
        reason: String,
    },
    /// An I/O failure on a named path. The cause is part of the message and not also
    /// a `source()`, so a printed chain (`{:#}`) says it once.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A bug or a failed worker, not the caller's fault.
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
    /// A client could not reach the server at `url` (refused, unresolvable, timed out).
    #[error("cannot reach the server at {url}: {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// Why, as one deduplicated line of the transport's causes.
        reason: String,
    },
    /// A client reached the server at `url` but the TLS handshake failed: an untrusted
    /// or mismatched certificate, a missing client certificate, TLS on one side only.
    #[error("TLS with {url} failed: {reason}")]
    Tls {
        /// The server URL.
        url: String,
        /// Why, with a hint at the setting to check.
        reason: String,
    },
    /// The server could not listen on its address or failed while serving.
    #[error("server on {address} failed")]
    Serve {
        /// The listen address.
        address: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// True when the caller can fix the problem by changing its input or settings.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Io { .. }
                | Error::Internal { .. }
                | Error::Serve { .. }
                | Error::Connect { .. }
                | Error::Tls { .. }
                | Error::CorruptLog { .. }
                | Error::BadLogRecord { .. }
                | Error::StoreLocked { .. }
                | Error::StoreFailed { .. }
        )
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig { field, reason: reason.into() }
    }

    #[cfg(any(feature = "store", feature = "scan"))]
    pub(crate) fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause }
    }

    pub(crate) fn input(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field, reason: reason.into() }
    }
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

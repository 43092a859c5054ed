//! The article as it comes in: borrowed ([`Article`]) for the library's callers, owned
//! ([`OwnedArticle`]) for a request that moves to a worker thread, the rules every id,
//! source and date must meet, and the text hash that tells a retried ingest from a
//! conflicting one. The service, the scan and the store apply the same rules.

use gxhash::gxhash64;

use crate::error::{Error, Result};

/// Longest article id accepted, in bytes. Ids are keys kept in memory (and in the log)
/// for every stored article; a client sending 100 KB ids would otherwise make the index
/// hold megabytes of keys for a few hundred articles.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest `source` (outlet name) kept with an article, in bytes, for the same reason.
pub const MAX_SOURCE_BYTES: usize = 1024;

/// An incoming article, borrowed from the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Article<'a> {
    /// The caller's id, unique per article.
    pub id: &'a str,
    /// Body text.
    pub text: &'a str,
    /// Outlet that published it.
    pub source: &'a str,
    /// Publication time, milliseconds since the Unix epoch.
    pub published: Option<i64>,
}

impl Article<'_> {
    /// Checks the id, the source's length and the date.
    pub fn validate(&self) -> Result<()> {
        validate_id(self.id)?;
        if self.published == Some(NO_DATE) {
            return Err(Error::input("published", "is out of range"));
        }
        if self.source.len() > MAX_SOURCE_BYTES {
            return Err(Error::input(
                "source",
                format!(
                    "is {} bytes, more than the limit of {MAX_SOURCE_BYTES}",
                    self.source.len()
                ),
            ));
        }
        Ok(())
    }
}

/// An article that owns its fields, so it can move to a worker thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedArticle {
    /// The caller's id.
    pub id: String,
    /// Body text.
    pub text: String,
    /// Outlet.
    pub source: String,
    /// Publication time in Unix milliseconds.
    pub published: Option<i64>,
}

impl OwnedArticle {
    /// The article, borrowed.
    pub fn as_article(&self) -> Article<'_> {
        Article { id: &self.id, text: &self.text, source: &self.source, published: self.published }
    }
}

/// Hash of the raw text, used to tell a retried ingest from a conflicting one.
pub fn text_hash(text: &str) -> u64 {
    gxhash64(text.as_bytes(), 0)
}

/// Checks an article id: not blank and at most [`MAX_ID_BYTES`] long. Every path that
/// stores or looks up ids (the service, the scan) applies the same rule.
pub fn validate_id(id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::input("id", "is missing or blank"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::input(
            "id",
            format!("is {} bytes, more than the limit of {MAX_ID_BYTES}", id.len()),
        ));
    }
    Ok(())
}

/// The stored form of "no date"; as a date it is refused ([`Article::validate`]).
pub(crate) const NO_DATE: i64 = i64::MIN;

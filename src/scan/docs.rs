//! The documents of a scan, column by column: one flat array of signature lanes, ids in
//! one byte arena, outlets interned. A million articles cost little more than their
//! signatures, and the clustering stage reads the lanes as one slice.

use crate::cluster::{ShingleSets, sketch_of_hashes};
use crate::fingerprint::{PreparedText, SignedText};
use crate::intern::Interner;

/// The indexed articles of a scan in input order.
#[derive(Debug, Default)]
pub struct Docs {
    num_perm: usize,
    id_bytes: String,
    id_ends: Vec<usize>,
    source_names: Interner,
    /// Per document, its number in `source_names` or [`NO_SOURCE`].
    sources: Vec<u32>,
    published: Vec<Option<i64>>,
    text_hashes: Vec<u64>,
    lanes: Vec<u32>,
    sizes: Vec<u32>,
    /// Per document, the normalized text of its chrome lines; empty unless explaining.
    chrome: Vec<Vec<String>>,
}

const NO_SOURCE: u32 = u32::MAX;

impl Docs {
    /// Room for `docs` documents in every fixed-size column, so a scan that knows its
    /// record count never copies a column to grow it (pages not written stay unmapped).
    pub(crate) fn with_capacity(num_perm: usize, docs: usize) -> Self {
        Docs {
            num_perm,
            id_ends: Vec::with_capacity(docs),
            sources: Vec::with_capacity(docs),
            published: Vec::with_capacity(docs),
            text_hashes: Vec::with_capacity(docs),
            lanes: Vec::with_capacity(docs * num_perm),
            sizes: Vec::with_capacity(docs),
            ..Docs::default()
        }
    }

    /// Appends the next document's identity; its signature follows in
    /// [`Docs::push_signed`], in the same order.
    pub(crate) fn push_record(
        &mut self,
        id: &str,
        source: Option<&str>,
        published: Option<i64>,
        text_hash: u64,
    ) {
        self.id_bytes.push_str(id);
        self.id_ends.push(self.id_bytes.len());
        let source = source.map_or(NO_SOURCE, |name| self.source_names.intern(name));
        self.sources.push(source);
        self.published.push(published);
        self.text_hashes.push(text_hash);
    }

    /// Documents whose identity is known (signed or not).
    pub(crate) fn records(&self) -> usize {
        self.id_ends.len()
    }

    /// Publication times of every document, in order.
    pub(crate) fn all_published(&self) -> &[Option<i64>] {
        &self.published
    }

    /// Every signature, one after another (none once given up), and the shingle counts.
    pub(crate) fn signatures(&self) -> (&[u32], &[u32]) {
        (&self.lanes, &self.sizes)
    }

    /// Gives up every signature, for clustering to narrow and free.
    pub(crate) fn take_lanes(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.lanes)
    }

    /// Whether the signatures were kept ([`super::ScanOptions::keep_signatures`]).
    pub fn has_signatures(&self) -> bool {
        self.lanes.len() == self.sizes.len() * self.num_perm
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Article id of document `doc`.
    pub fn id(&self, doc: usize) -> &str {
        let start = if doc == 0 { 0 } else { self.id_ends[doc - 1] };
        &self.id_bytes[start..self.id_ends[doc]]
    }

    /// Its outlet, if the corpus had one.
    pub fn source(&self, doc: usize) -> Option<&str> {
        let source = self.sources[doc];
        (source != NO_SOURCE).then(|| self.source_names.get(source))
    }

    /// Its publication time in Unix milliseconds.
    pub fn published(&self, doc: usize) -> Option<i64> {
        self.published[doc]
    }

    /// [`crate::article::text_hash`] of its raw text: a data directory (`scan --save`)
    /// needs it to tell retries from conflicting ids.
    pub fn text_hash(&self, doc: usize) -> u64 {
        self.text_hashes[doc]
    }

    /// Its signature lanes (chrome left out); empty unless the scan kept them
    /// ([`super::ScanOptions::keep_signatures`]).
    pub fn lanes(&self, doc: usize) -> &[u32] {
        self.lanes.get(doc * self.num_perm..(doc + 1) * self.num_perm).unwrap_or_default()
    }

    /// Distinct shingles its signature was computed from.
    pub fn shingle_count(&self, doc: usize) -> u32 {
        self.sizes[doc]
    }

    /// The normalized text of the lines left out of its fingerprint as chrome; kept only
    /// when the scan explains ([`super::ScanOptions::explain`]).
    pub fn chrome(&self, doc: usize) -> &[String] {
        self.chrome.get(doc).map_or(&[], Vec::as_slice)
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.id_bytes.capacity()
            + self.id_ends.capacity() * 8
            + self.sources.capacity() * 4
            + self.published.capacity() * 16
            + self.text_hashes.capacity() * 8
            + self.lanes.capacity() * 4
            + self.sizes.capacity() * 4
            + self.chrome.capacity() * 24
            + self.source_names.heap_bytes()
    }
}

impl Docs {
    /// Appends the signature of the next document (in order) and what goes with it.
    pub(crate) fn push_signed(
        &mut self,
        signed: SignedDoc,
        samples: &mut ShingleSets,
        chrome_lines: &mut u64,
        sampled: bool,
        explain: bool,
    ) {
        self.lanes.extend_from_slice(&signed.lanes);
        self.sizes.push(signed.shingle_count);
        *chrome_lines += u64::from(signed.chrome_count);
        if sampled {
            samples.push_sketch(&signed.sketch);
        }
        if explain {
            self.chrome.push(signed.chrome_text);
        }
    }
}

/// What a scan keeps of one signing.
pub(crate) struct SignedDoc {
    lanes: Box<[u32]>,
    shingle_count: u32,
    /// Lines left out as chrome (none when too little would be left).
    chrome_count: u32,
    /// The shingle set's sketch ([`crate::cluster::shingle_sketch`]), for sampled
    /// containment.
    sketch: Box<[u16]>,
    /// Chrome lines' text, when explaining.
    chrome_text: Vec<String>,
}

impl SignedDoc {
    pub(crate) fn new(
        prepared: &PreparedText,
        signed: SignedText,
        sampled: bool,
        explain: bool,
    ) -> Self {
        let chrome_text = if explain {
            let lines: Vec<&str> = prepared.normalized.lines().collect();
            signed.chrome_lines.iter().map(|&i| lines[i as usize].to_owned()).collect()
        } else {
            Vec::new()
        };
        let sketch = if sampled { sketch_of_hashes(&signed.shingles) } else { Box::default() };
        SignedDoc {
            lanes: signed.fingerprint.signature.0,
            shingle_count: signed.fingerprint.shingle_count,
            chrome_count: signed.chrome_lines.len() as u32,
            sketch,
            chrome_text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_ids_and_interned_sources() {
        let mut docs = Docs::with_capacity(16, 0);
        docs.push_record("a", Some("Reuters"), Some(5), 1);
        docs.push_record("b", None, None, 2);
        docs.push_record("c", Some("Reuters"), None, 3);
        assert_eq!((docs.id(0), docs.id(1), docs.id(2)), ("a", "b", "c"));
        assert_eq!(
            (docs.source(0), docs.source(1), docs.source(2)),
            (Some("Reuters"), None, Some("Reuters"))
        );
        assert_eq!((docs.published(0), docs.text_hash(2), docs.records()), (Some(5), 3, 3));
    }
}

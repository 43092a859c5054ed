//! gzip and zstd streams, recognised by their magic bytes and decompressed into memory so
//! the same parsers read them. A name ending in `.gz` or `.zst` must hold what it says; a
//! stream that ends early is an error, never a shorter corpus.

use std::io::Read;

/// How a file's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// Not compressed.
    None,
    /// gzip (RFC 1952), one member or several.
    Gzip,
    /// Zstandard, one frame or several.
    Zstd,
}

impl Compression {
    /// The compression of `bytes`, by their magic number.
    pub(super) fn of(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The compression a file name announces (`.gz`, `.gzip`, `.zst`, `.zstd`) and the
    /// name without that suffix.
    pub(crate) fn of_name(name: &str) -> (Compression, &str) {
        let lower = name.to_ascii_lowercase();
        for (suffix, compression) in [
            (".gz", Compression::Gzip),
            (".gzip", Compression::Gzip),
            (".zst", Compression::Zstd),
            (".zstd", Compression::Zstd),
        ] {
            if lower.ends_with(suffix) {
                return (compression, &name[..name.len() - suffix.len()]);
            }
        }
        (Compression::None, name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The decompressed bytes, or why the stream is unusable.
    pub(super) fn decompress(self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
        let read = match self {
            Compression::None => {
                out.extend_from_slice(bytes);
                Ok(out.len())
            }
            Compression::Gzip => flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out),
            Compression::Zstd => zstd::stream::read::Decoder::with_buffer(bytes)
                .and_then(|mut d| d.read_to_end(&mut out)),
        };
        match read {
            Ok(_) => Ok(out),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(format!(
                "{} stream is truncated (it ends after {} decompressed bytes)",
                self.name(),
                out.len()
            )),
            Err(e) => Err(format!("{} stream is corrupt: {e}", self.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_and_zstd_round_trip_over_several_members() {
        let data = b"{\"id\":1,\"text\":\"hello\"}\n".repeat(1000);
        let mut two = gzip(&data[..10_000]);
        two.extend(gzip(&data[10_000..]));
        assert_eq!(Compression::of(&two), Compression::Gzip);
        assert_eq!(Compression::Gzip.decompress(&two).unwrap(), data);
        let mut zst = zstd::encode_all(&data[..5_000], 3).unwrap();
        zst.extend(zstd::encode_all(&data[5_000..], 3).unwrap());
        assert_eq!(Compression::of(&zst), Compression::Zstd);
        assert_eq!(Compression::Zstd.decompress(&zst).unwrap(), data);
        assert_eq!(Compression::of(&data), Compression::None);
    }

    #[test]
    fn truncated_and_corrupt_streams_are_errors() {
        let data = b"some article text, repeated. ".repeat(2000);
        let gz = gzip(&data);
        for cut in [gz.len() - 1, gz.len() - 8, gz.len() / 2, 12] {
            let err = Compression::Gzip.decompress(&gz[..cut]).unwrap_err();
            assert!(err.contains("gzip stream is"), "cut at {cut}: {err}");
        }
        let mut corrupt = gz.clone();
        corrupt[gz.len() / 2] ^= 0xff;
        assert!(Compression::Gzip.decompress(&corrupt).is_err());
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let err = Compression::Zstd.decompress(&zst[..zst.len() - 3]).unwrap_err();
        assert!(err.contains("zstd stream is"), "{err}");
    }

    #[test]
    fn names_announce_compression() {
        assert_eq!(Compression::of_name("a.jsonl.gz"), (Compression::Gzip, "a.jsonl"));
        assert_eq!(Compression::of_name("a.CSV.ZST"), (Compression::Zstd, "a.CSV"));
        assert_eq!(Compression::of_name("a.parquet"), (Compression::None, "a.parquet"));
    }
}

//! The data directory's manifest: which detector config, hash scheme and log format
//! wrote it. A store is only reopened under a config that produces the same signatures;
//! settings that only steer future decisions (thresholds, banding) may change between
//! runs, because the log keeps every past decision and the LSH index is rebuilt at start.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::DetectorConfig;
use crate::error::{Error, Result};

/// Version of the log and manifest format this build writes and reads. Version 2 keeps
/// each article's chrome line profile and shingle sketch in its insert record and the
/// chrome model in a checkpoint; version 1 directories are refused, with a message that
/// says how to rebuild them.
pub const FORMAT_VERSION: u32 = 2;
pub use crate::contract::{HASH, HASH_MAJOR_VERSION};
/// File name of the manifest inside the data directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Detector settings that may differ from the manifest: they steer candidates and
/// future decisions only. Every other setting (shingle size, permutations, seed, and any
/// setting added later) shapes the signatures, and a difference there refuses to open.
const TUNABLE: &[&str] = &[
    "lsh_threshold",
    "bands",
    "rows",
    "jaccard_threshold",
    "containment_threshold",
    "max_matches",
];

/// What a data directory was written with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Log format version.
    pub format_version: u32,
    /// Shingle hash family.
    pub hash: String,
    /// Its major version.
    pub hash_major_version: u32,
    /// The detector config, kept as JSON so that a manifest from a build with more or
    /// fewer settings still parses and can be compared field by field.
    pub detector: Value,
}

impl Manifest {
    /// The manifest this build writes for `config`.
    pub fn new(config: &DetectorConfig) -> Self {
        Manifest {
            format_version: FORMAT_VERSION,
            hash: HASH.to_owned(),
            hash_major_version: HASH_MAJOR_VERSION,
            detector: serde_json::to_value(config).expect("config serializes"),
        }
    }

    /// The stored detector config, if this build understands it.
    pub fn detector_config(&self, dir: &Path) -> Result<DetectorConfig> {
        serde_json::from_value(self.detector.clone()).map_err(|e| Error::IncompatibleStore {
            path: dir.to_owned(),
            setting: "detector config".into(),
            stored: format!("{} ({e})", self.detector),
            current: "a config this build can read".into(),
        })
    }

    /// Checks that data written under `self` can be served under `current`. Returns
    /// the tunable settings that changed (the caller records the new values).
    pub fn check(&self, dir: &Path, current: &Manifest) -> Result<Vec<String>> {
        let incompatible = |setting: &str, stored: String, now: String| Error::IncompatibleStore {
            path: dir.to_owned(),
            setting: setting.to_owned(),
            stored,
            current: now,
        };
        if self.format_version != current.format_version {
            return Err(incompatible(
                "format_version",
                self.format_version.to_string(),
                format!(
                    "{} (a build with another log format wrote it: rebuild the directory \
                     from the archive with `neardup scan --save`, or by ingesting again)",
                    current.format_version
                ),
            ));
        }
        if self.hash != current.hash || self.hash_major_version != current.hash_major_version {
            return Err(incompatible(
                "hash",
                format!("{} {}", self.hash, self.hash_major_version),
                format!("{} {}", current.hash, current.hash_major_version),
            ));
        }
        let empty = serde_json::Map::new();
        // A setting added after the data was written had its default value then: the
        // config deserializes that way, so compare it that way (a directory from before
        // `scheme` existed was written with the default scheme).
        let mut stored = self.detector.as_object().unwrap_or(&empty).clone();
        if let Value::Object(defaults) =
            serde_json::to_value(DetectorConfig::default()).expect("config serializes")
        {
            for (key, value) in defaults {
                stored.entry(key).or_insert(value);
            }
        }
        let stored = &stored;
        let now = current.detector.as_object().unwrap_or(&empty);
        let mut keys: Vec<&String> = stored.keys().chain(now.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut changed = Vec::new();
        for key in keys {
            let (a, b) = (stored.get(key), now.get(key));
            if a == b {
                continue;
            }
            if !TUNABLE.contains(&key.as_str()) {
                let show = |v: Option<&Value>| v.map_or("(absent)".to_owned(), Value::to_string);
                return Err(incompatible(key, show(a), show(b)));
            }
            changed.push(key.clone());
        }
        Ok(changed)
    }
}

/// Reads the manifest of `dir`, or `None` when it has none.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| Error::BadRecord {
        path,
        line: e.line(),
        reason: format!("unreadable manifest: {e}"),
    })
}

/// Writes the manifest crash-safely: temp file, fsync, rename, fsync directory.
pub(crate) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    write_json_atomic(dir, MANIFEST_FILE, manifest)
}

/// Writes `value` as pretty JSON to `dir/name` crash-safely: temp file, fsync, rename,
/// fsync directory. A reader sees the old file or the new one, never a torn one.
pub(crate) fn write_json_atomic(
    dir: &Path,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut text = serde_json::to_string_pretty(value).expect("plain data serializes");
    text.push('\n');
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir)
}

/// Makes renames, creations and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_setting_that_differs() {
        let dir = Path::new("/data");
        let stored = Manifest::new(&DetectorConfig::default());
        let same = Manifest::new(&DetectorConfig::default());
        assert_eq!(stored.check(dir, &same).unwrap(), Vec::<String>::new());
        let tuned = Manifest::new(&DetectorConfig { jaccard_threshold: 0.6, ..Default::default() });
        assert_eq!(stored.check(dir, &tuned).unwrap(), ["jaccard_threshold"]);
        let other = Manifest::new(&DetectorConfig::default().with_num_perm(64));
        match stored.check(dir, &other) {
            Err(Error::IncompatibleStore { setting, stored, current, .. }) => {
                assert_eq!(
                    (setting.as_str(), stored.as_str(), current.as_str()),
                    ("num_perm", "128", "64")
                );
            }
            other => panic!("{other:?}"),
        }
        let newer = Manifest { format_version: FORMAT_VERSION + 1, ..stored.clone() };
        assert!(matches!(
            newer.check(dir, &same),
            Err(Error::IncompatibleStore { setting, .. }) if setting == "format_version"
        ));
        // A setting this build does not know shapes signatures until proven otherwise.
        let mut future = stored.clone();
        future.detector["boilerplate"] = Value::Bool(true);
        let message = future.check(dir, &same).unwrap_err().to_string();
        assert!(message.contains("boilerplate = true"), "{message}");
        // A setting added later counts as its default in data written before it.
        let mut older = stored.clone();
        older.detector.as_object_mut().unwrap().remove("scheme");
        assert_eq!(older.check(dir, &same).unwrap(), Vec::<String>::new());
        let oph = DetectorConfig {
            scheme: crate::config::SignatureScheme::OnePermutation,
            ..Default::default()
        };
        let message = older.check(dir, &Manifest::new(&oph)).unwrap_err().to_string();
        assert!(message.contains("scheme = \"min_hash\""), "{message}");
    }
}

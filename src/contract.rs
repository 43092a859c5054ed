//! The contract of the stage tables that runners store between machines: the
//! signed documents written by `neardup scan --emit-parquet` or a signing job, their
//! band rows, the verified links, the connected components and the assignments. This
//! module owns each table's columns and types, the key-value metadata written into its
//! files (which table, the format version, the hash scheme, the detector config), and
//! [`check`], which refuses a table written under another contract with an error naming
//! the value expected and the value found. The Python stages, the Spark runner and the
//! CLI all go through it; the tables are documented in `docs/stage-tables.md`.
//!
//! Unsigned values (lanes, shingles, bucket keys) are stored bit for bit in signed
//! columns of the same width: the types every engine (Spark among them) has.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::{DetectorConfig, SignatureScheme};
use crate::error::{Error, Result};

/// Version of the stage tables' layout; bumped when a column is added, removed or
/// changes meaning.
pub const FORMAT_VERSION: u32 = 2;
/// The shingle hash family; its output is stable only within one major version.
pub const HASH: &str = "gxhash";
/// Major version of [`HASH`] (the `gxhash = "3"` dependency).
pub const HASH_MAJOR_VERSION: u32 = 3;

/// Metadata key: which table a file holds ([`Table::name`]).
pub const TABLE_KEY: &str = "neardup.table";
/// Metadata key: [`FORMAT_VERSION`] of the writer.
pub const FORMAT_VERSION_KEY: &str = "neardup.format_version";
/// Metadata key: [`hash_scheme`] of the writer's config.
pub const HASH_SCHEME_KEY: &str = "neardup.hash_scheme";
/// Metadata key: the writer's detector config, as JSON.
pub const CONFIG_KEY: &str = "neardup.config";

/// The hash scheme signatures are made with under `config`: the shingle hash family
/// and major version, and the signature family (`gxhash3/min_hash`).
pub fn hash_scheme(config: &DetectorConfig) -> String {
    let scheme = match config.scheme {
        SignatureScheme::MinHash => "min_hash",
        SignatureScheme::OnePermutation => "one_permutation",
    };
    format!("{HASH}{HASH_MAJOR_VERSION}/{scheme}")
}

/// A stage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Signed documents: one row per document, with its signature.
    Documents,
    /// Band rows: one row per representative document and band of either LSH view.
    Bands,
    /// Verified links: one row per pair of linked documents (copies' links included).
    Links,
    /// Connected components of the links: one row per linked document.
    Components,
    /// Assignments by ordinal: one row per document.
    Assignments,
}

/// The type of a stage table's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 8-bit signed integer.
    Int8,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// UTF-8 string.
    Utf8,
    /// List of 32-bit signed integers.
    ListInt32,
}

/// One column of a stage table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnType,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

const fn col(name: &'static str, kind: ColumnType, nullable: bool) -> Column {
    Column { name, kind, nullable }
}

use ColumnType::{Float64, Int8, Int32, Int64, ListInt32, Utf8};

const DOCUMENTS: &[Column] = &[
    col("ordinal", Int64, false),
    col("id", Utf8, false),
    col("source", Utf8, true),
    col("published", Int64, true),
    col("size", Int32, false),
    col("lanes", ListInt32, false),
    col("shingles", ListInt32, false),
];
const BANDS: &[Column] = &[
    col("view", Int8, false),
    col("band", Int32, false),
    col("key", Int64, false),
    col("ordinal", Int64, false),
    col("size", Int32, false),
];
const LINKS: &[Column] = &[
    col("a", Int64, false),
    col("b", Int64, false),
    col("jaccard", Float64, false),
    col("containment", Float64, false),
    col("containment_rev", Float64, false),
];
const COMPONENTS: &[Column] = &[col("ordinal", Int64, false), col("component", Int64, false)];
const ASSIGNMENTS: &[Column] = &[
    col("ordinal", Int64, false),
    col("origin", Int64, false),
    col("kind", Utf8, false),
    col("jaccard", Float64, false),
    col("containment", Float64, false),
    col("link", Int64, true),
    col("link_jaccard", Float64, true),
    col("link_containment", Float64, true),
    col("link_containment_rev", Float64, true),
];

impl Table {
    /// Every stage table, in pipeline order.
    pub const ALL: [Table; 5] =
        [Table::Documents, Table::Bands, Table::Links, Table::Components, Table::Assignments];

    /// Its name, as in the metadata and in file names (`documents.parquet`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Documents => "documents",
            Table::Bands => "bands",
            Table::Links => "links",
            Table::Components => "components",
            Table::Assignments => "assignments",
        }
    }

    /// The table of that name.
    pub fn from_name(name: &str) -> Result<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            Error::input("table", format!("no stage table {name:?} (known: {})", known.join(", ")))
        })
    }

    /// Its columns, in order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Documents => DOCUMENTS,
            Table::Bands => BANDS,
            Table::Links => LINKS,
            Table::Components => COMPONENTS,
            Table::Assignments => ASSIGNMENTS,
        }
    }

    /// The Arrow schema of its files, with the contract's metadata for `config`.
    #[cfg(feature = "parquet")]
    pub fn schema(self, config: &DetectorConfig) -> arrow_schema::Schema {
        use arrow_schema::{DataType, Field};
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    Int8 => DataType::Int8,
                    Int32 => DataType::Int32,
                    Int64 => DataType::Int64,
                    Float64 => DataType::Float64,
                    Utf8 => DataType::Utf8,
                    ListInt32 => DataType::new_list(DataType::Int32, true),
                };
                Field::new(c.name, kind, c.nullable)
            })
            .collect();
        arrow_schema::Schema::new_with_metadata(fields, metadata(self, config))
    }
}

/// The columns of the bands table holding `rows`, in the table's order: the one
/// encoding of band rows, for `neardup scan --emit-parquet` and the Python stages alike.
#[cfg(feature = "parquet")]
pub fn band_columns(rows: &[crate::cluster::stages::BandRow]) -> Vec<arrow_array::ArrayRef> {
    use crate::cluster::stages::View;
    use arrow_array::builder::{Int8Builder, Int32Builder, Int64Builder};
    let mut view = Int8Builder::with_capacity(rows.len());
    let mut band = Int32Builder::with_capacity(rows.len());
    let mut key = Int64Builder::with_capacity(rows.len());
    let mut ordinal = Int64Builder::with_capacity(rows.len());
    let mut size = Int32Builder::with_capacity(rows.len());
    for row in rows {
        view.append_value(match row.view {
            View::Jaccard => 0,
            View::Containment => 1,
        });
        band.append_value(row.band as i32);
        key.append_value(row.key as i64);
        ordinal.append_value(i64::from(row.doc));
        size.append_value(row.size as i32);
    }
    vec![
        std::sync::Arc::new(view.finish()),
        std::sync::Arc::new(band.finish()),
        std::sync::Arc::new(key.finish()),
        std::sync::Arc::new(ordinal.finish()),
        std::sync::Arc::new(size.finish()),
    ]
}

/// The metadata a file of `table` written under `config` carries.
pub fn metadata(table: Table, config: &DetectorConfig) -> HashMap<String, String> {
    HashMap::from([
        (TABLE_KEY.to_owned(), table.name().to_owned()),
        (FORMAT_VERSION_KEY.to_owned(), FORMAT_VERSION.to_string()),
        (HASH_SCHEME_KEY.to_owned(), hash_scheme(config)),
        (CONFIG_KEY.to_owned(), serde_json::to_string(config).expect("config serializes")),
    ])
}

/// Checks that `found`, the metadata of `file`, says it holds `table` written under
/// this build's format and hash scheme and under `config`, the reader's. A mismatch is
/// an [`Error::ContractMismatch`] naming the file, the key (for the config, the first
/// setting that differs), the value expected and the value found.
pub fn check(
    file: &str,
    found: &HashMap<String, String>,
    table: Table,
    config: &DetectorConfig,
) -> Result<()> {
    let expected = metadata(table, config);
    for key in [TABLE_KEY, FORMAT_VERSION_KEY, HASH_SCHEME_KEY] {
        let want = &expected[key];
        match found.get(key) {
            Some(value) if value == want => {}
            value => return Err(mismatch(file, key, want, value.map(String::as_str))),
        }
    }
    let Some(text) = found.get(CONFIG_KEY) else {
        return Err(mismatch(file, CONFIG_KEY, &expected[CONFIG_KEY], None));
    };
    let want = serde_json::to_value(config).expect("config serializes");
    let Ok(got) = serde_json::from_str::<Value>(text) else {
        return Err(mismatch(file, CONFIG_KEY, &expected[CONFIG_KEY], Some(text)));
    };
    match first_difference(&want, &got, CONFIG_KEY.to_owned()) {
        None => Ok(()),
        Some((path, want, got)) => Err(mismatch(file, &path, &want, Some(&got))),
    }
}

fn mismatch(file: &str, key: &str, expected: &str, found: Option<&str>) -> Error {
    Error::ContractMismatch {
        file: file.to_owned(),
        key: key.to_owned(),
        expected: expected.to_owned(),
        found: found.map_or_else(|| "nothing".to_owned(), str::to_owned),
    }
}

/// The first setting (by name, depth first) whose values differ: its dotted path and
/// both values as JSON ("absent" where one side lacks it).
fn first_difference(want: &Value, got: &Value, path: String) -> Option<(String, String, String)> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let mut keys: Vec<&String> = w.keys().chain(g.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let path = format!("{path}.{key}");
                match (w.get(key), g.get(key)) {
                    (Some(w), Some(g)) => first_difference(w, g, path),
                    (w, g) => {
                        let show =
                            |v: Option<&Value>| v.map_or("absent".to_owned(), Value::to_string);
                        Some((path, show(w), show(g)))
                    }
                }
            })
        }
        _ if want == got => None,
        _ => Some((path, want.to_string(), got.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(table: Table, config: &DetectorConfig) -> HashMap<String, String> {
        metadata(table, config)
    }

    #[test]
    fn a_table_written_under_the_same_contract_passes() {
        let config = DetectorConfig::default();
        for table in Table::ALL {
            check("t.parquet", &written(table, &config), table, &config).unwrap();
            assert_eq!(Table::from_name(table.name()).unwrap(), table);
        }
    }

    #[test]
    fn another_format_version_is_refused_naming_both() {
        let config = DetectorConfig::default();
        let mut found = written(Table::Bands, &config);
        found.insert(FORMAT_VERSION_KEY.into(), "0".into());
        let error = check("bands.parquet", &found, Table::Bands, &config).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "bands.parquet: stage table written with neardup.format_version = 0, but \
                 this reader expects neardup.format_version = {FORMAT_VERSION}"
            )
        );
        assert!(error.is_user_error());
    }

    #[test]
    fn another_config_is_refused_naming_the_setting_and_both_values() {
        let config = DetectorConfig::default();
        let other = DetectorConfig { seed: config.seed + 1, ..config.clone() };
        let found = written(Table::Documents, &other);
        let error = check("d.parquet", &found, Table::Documents, &config).unwrap_err();
        let Error::ContractMismatch { key, expected, found, .. } = &error else {
            panic!("{error}")
        };
        assert_eq!(key, "neardup.config.seed");
        assert_eq!((expected, found), (&config.seed.to_string(), &other.seed.to_string()));
        let nested = DetectorConfig {
            chrome: crate::config::ChromeConfig { enabled: false, ..config.chrome.clone() },
            ..config.clone()
        };
        let error =
            check("d", &written(Table::Documents, &nested), Table::Documents, &config).unwrap_err();
        assert!(
            error.to_string().contains("neardup.config.boilerplate.enabled = false"),
            "{error}"
        );
    }

    #[test]
    fn another_table_hash_scheme_or_missing_metadata_is_refused() {
        let config = DetectorConfig::default();
        let error = check("x", &written(Table::Links, &config), Table::Bands, &config).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("neardup.table = links, but this reader expects neardup.table = bands")
        );
        let one_perm = DetectorConfig { scheme: SignatureScheme::OnePermutation, ..config.clone() };
        let error =
            check("x", &written(Table::Bands, &one_perm), Table::Bands, &config).unwrap_err();
        assert!(error.to_string().contains("gxhash3/one_permutation"), "{error}");
        assert!(
            error.to_string().contains("expects neardup.hash_scheme = gxhash3/min_hash"),
            "{error}"
        );
        let error = check("x", &HashMap::new(), Table::Bands, &config).unwrap_err();
        assert!(error.to_string().contains("neardup.table = nothing"), "{error}");
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn schemas_carry_the_metadata_and_the_columns() {
        let config = DetectorConfig::default();
        let schema = Table::Documents.schema(&config);
        assert_eq!(schema.fields().len(), Table::Documents.columns().len());
        assert_eq!(schema.metadata(), &metadata(Table::Documents, &config));
        assert!(!schema.field_with_name("lanes").unwrap().is_nullable());
    }
}

//! Articles from Arrow record batches: the columns named by [`Fields`] found by name and
//! type-checked once, then read row by row without copying the text. Parquet files come
//! through here ([`super::parquet`]), and so can any other source of record batches.
//!
//! Column types: the id may be a string or an integer; the text and the source strings
//! (UTF-8, large, view, binary holding UTF-8, or dictionary-encoded); the date a
//! timestamp (any unit; without a zone it is UTC), a date, a string read like any other
//! date, or an epoch number.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, LargeBinaryArray, LargeStringArray, RecordBatch,
    StringArray, StringViewArray,
};
use arrow_schema::{DataType, Schema, TimeUnit};

use super::{DateParser, Fields, Record};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Which columns of a schema hold the fields, and what is missing.
#[derive(Debug, Clone)]
pub struct Plan {
    id: usize,
    text: usize,
    date: Option<usize>,
    source: Option<usize>,
    /// Optional fields (date, source) without a column, for a warning.
    pub missing: Vec<String>,
}

impl Plan {
    /// Finds the columns of `fields` in `schema` and checks their types: the id and the
    /// text must be there, the date and the source may be missing.
    pub fn new(schema: &Schema, fields: &Fields) -> Result<Plan, String> {
        let find = |name: &str, want: &[Kind], flag: &str| -> Result<Option<usize>, String> {
            let Ok(index) = schema.index_of(name) else { return Ok(None) };
            let data_type = schema.field(index).data_type();
            match kind(data_type) {
                Some(kind) if want.contains(&kind) => Ok(Some(index)),
                _ => Err(format!(
                    "column {name:?} has type {data_type}, which {flag} cannot take (it takes {})",
                    want.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                )),
            }
        };
        let required = |name: &str, want: &[Kind], flag: &str| -> Result<usize, String> {
            find(name, want, flag)?.ok_or_else(|| {
                format!(
                    "has no column {name:?} (columns: {}); name the column with {flag}",
                    schema
                        .fields()
                        .iter()
                        .map(|f| format!("{:?}", f.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        };
        let id = required(&fields.id, &[Kind::Text, Kind::Integer], "--id-field")?;
        let text = required(&fields.text, &[Kind::Text], "--text-field")?;
        let date = find(&fields.date, &Kind::ALL, "--date-field")?;
        let source = find(&fields.source, &[Kind::Text, Kind::Integer], "--source-field")?;
        let missing = [(&fields.date, date), (&fields.source, source)]
            .into_iter()
            .filter(|(_, column)| column.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Plan { id, text, date, source, missing })
    }

    /// Indices of the columns read, for a projection.
    pub fn columns(&self) -> Vec<usize> {
        let mut columns: Vec<usize> = [Some(self.id), Some(self.text), self.date, self.source]
            .into_iter()
            .flatten()
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}

/// The article columns of one record batch.
#[derive(Debug)]
pub struct Columns {
    rows: usize,
    id: Column,
    text: Column,
    date: Option<Column>,
    source: Option<Column>,
}

impl Columns {
    /// The columns of `batch` that [`Plan::new`] finds for `fields`.
    pub fn new(batch: &RecordBatch, fields: &Fields) -> Result<Columns, String> {
        let plan = Plan::new(&batch.schema(), fields)?;
        Ok(Columns::with_plan(batch, &plan))
    }

    /// The columns of `batch` by a plan made for its schema.
    pub fn with_plan(batch: &RecordBatch, plan: &Plan) -> Columns {
        let column = |index: usize| Column::new(batch.column(index));
        Columns {
            rows: batch.num_rows(),
            id: column(plan.id),
            text: column(plan.text),
            date: plan.date.map(column),
            source: plan.source.map(column),
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The bytes of row `row`'s text (empty when null), to size and schedule work.
    pub fn text_bytes(&self, row: usize) -> &[u8] {
        self.text.bytes(row).unwrap_or_default()
    }

    /// Row `row` as a record, or what is wrong with it.
    pub fn record(
        &self,
        row: usize,
        fields: &Fields,
        dates: &DateParser,
    ) -> Result<Record<'_>, String> {
        let id = self.id.str(row, &fields.id)?.ok_or_else(|| null(&fields.id))?;
        if id.trim().is_empty() {
            return Err(format!("field {:?} is empty", fields.id));
        }
        let text = self.text.str(row, &fields.text)?.ok_or_else(|| null(&fields.text))?;
        let source = match &self.source {
            Some(column) => column.str(row, &fields.source)?.filter(|s| !s.is_empty()),
            None => None,
        };
        let published = match &self.date {
            Some(column) => {
                column.date(row, dates).map_err(|e| format!("field {:?}: {e}", fields.date))?
            }
            None => None,
        };
        Ok(Record { id, text, source, published })
    }
}

fn null(name: &str) -> String {
    format!("field {name:?} is null")
}

/// What a column can hold, as far as articles go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Float,
    Instant,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Text, Kind::Integer, Kind::Float, Kind::Instant];

    fn name(self) -> &'static str {
        match self {
            Kind::Text => "strings",
            Kind::Integer => "integers",
            Kind::Float => "floats",
            Kind::Instant => "timestamps or dates",
        }
    }
}

fn kind(data_type: &DataType) -> Option<Kind> {
    use DataType::*;
    Some(match data_type {
        Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView => Kind::Text,
        Dictionary(_, values) if kind(values) == Some(Kind::Text) => Kind::Text,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Kind::Integer,
        Float32 | Float64 => Kind::Float,
        Timestamp(_, _) | Date32 | Date64 => Kind::Instant,
        _ => return None,
    })
}

/// One column, by what it holds.
#[derive(Debug)]
enum Column {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    /// Dictionary-encoded strings: each row's key, and the values.
    Dictionary {
        array: ArrayRef,
        keys: Vec<usize>,
        values: Box<Column>,
    },
    Integer(Vec<Option<i128>>),
    Float(Vec<Option<f64>>),
    /// Timestamps and dates in Unix milliseconds (`None` when a timestamp overflows).
    Millis(Vec<Option<Option<i64>>>),
}

impl Column {
    /// The column, by its type (checked by [`Plan::new`]).
    fn new(array: &ArrayRef) -> Column {
        use DataType::*;
        fn ints<T: arrow_array::ArrowPrimitiveType>(array: &ArrayRef) -> Column
        where
            T::Native: Into<i128>,
        {
            Column::Integer(array.as_primitive::<T>().iter().map(|v| v.map(Into::into)).collect())
        }
        fn millis<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
            array: &ArrayRef,
            to_millis: impl Fn(i64) -> Option<i64>,
        ) -> Column {
            Column::Millis(array.as_primitive::<T>().iter().map(|v| v.map(&to_millis)).collect())
        }
        match array.data_type() {
            Utf8 => Column::Utf8(array.as_string::<i32>().clone()),
            LargeUtf8 => Column::LargeUtf8(array.as_string::<i64>().clone()),
            Utf8View => Column::Utf8View(array.as_string_view().clone()),
            Binary => Column::Binary(array.as_binary::<i32>().clone()),
            LargeBinary => Column::LargeBinary(array.as_binary::<i64>().clone()),
            BinaryView => Column::BinaryView(array.as_binary_view().clone()),
            Dictionary(_, _) => {
                let dictionary = array.as_any_dictionary();
                let keys = if dictionary.values().is_empty() {
                    vec![0; array.len()]
                } else {
                    dictionary.normalized_keys()
                };
                Column::Dictionary {
                    array: array.clone(),
                    keys,
                    values: Box::new(Column::new(dictionary.values())),
                }
            }
            Int8 => ints::<Int8Type>(array),
            Int16 => ints::<Int16Type>(array),
            Int32 => ints::<Int32Type>(array),
            Int64 => ints::<Int64Type>(array),
            UInt8 => ints::<UInt8Type>(array),
            UInt16 => ints::<UInt16Type>(array),
            UInt32 => ints::<UInt32Type>(array),
            UInt64 => ints::<UInt64Type>(array),
            Float32 => Column::Float(
                array.as_primitive::<Float32Type>().iter().map(|v| v.map(f64::from)).collect(),
            ),
            Float64 => Column::Float(array.as_primitive::<Float64Type>().iter().collect()),
            Timestamp(TimeUnit::Second, _) => {
                millis::<TimestampSecondType>(array, |s| s.checked_mul(1000))
            }
            Timestamp(TimeUnit::Millisecond, _) => millis::<TimestampMillisecondType>(array, Some),
            Timestamp(TimeUnit::Microsecond, _) => {
                millis::<TimestampMicrosecondType>(array, |us| Some(us.div_euclid(1000)))
            }
            Timestamp(TimeUnit::Nanosecond, _) => {
                millis::<TimestampNanosecondType>(array, |ns| Some(ns.div_euclid(1_000_000)))
            }
            Date32 => Column::Millis(
                array
                    .as_primitive::<Date32Type>()
                    .iter()
                    .map(|v| v.map(|days| i64::from(days).checked_mul(MILLIS_PER_DAY)))
                    .collect(),
            ),
            Date64 => millis::<Date64Type>(array, Some),
            other => unreachable!("Plan::new admits no column of type {other}"),
        }
    }

    /// Row `row` as bytes, for string columns; `None` when null or not a string column.
    fn bytes(&self, row: usize) -> Option<&[u8]> {
        fn get<'a, A: Array>(
            array: &A,
            row: usize,
            value: impl FnOnce() -> Option<&'a [u8]>,
        ) -> Option<&'a [u8]> {
            if array.is_null(row) { None } else { value() }
        }
        match self {
            Column::Utf8(a) => get(a, row, || Some(a.value(row).as_bytes())),
            Column::LargeUtf8(a) => get(a, row, || Some(a.value(row).as_bytes())),
            Column::Utf8View(a) => get(a, row, || Some(a.value(row).as_bytes())),
            Column::Binary(a) => get(a, row, || Some(a.value(row))),
            Column::LargeBinary(a) => get(a, row, || Some(a.value(row))),
            Column::BinaryView(a) => get(a, row, || Some(a.value(row))),
            Column::Dictionary { array, keys, values } => {
                if array.is_null(row) {
                    None
                } else {
                    values.bytes(keys[row])
                }
            }
            _ => None,
        }
    }

    /// Row `row` as a string (integers written in decimal); `None` when null.
    fn str(&self, row: usize, name: &str) -> Result<Option<Cow<'_, str>>, String> {
        match self {
            Column::Utf8(a) => Ok((!a.is_null(row)).then(|| Cow::Borrowed(a.value(row)))),
            Column::LargeUtf8(a) => Ok((!a.is_null(row)).then(|| Cow::Borrowed(a.value(row)))),
            Column::Utf8View(a) => Ok((!a.is_null(row)).then(|| Cow::Borrowed(a.value(row)))),
            Column::Integer(values) => Ok(values[row].map(|v| Cow::Owned(v.to_string()))),
            Column::Float(values) => Ok(values[row].map(|v| Cow::Owned(v.to_string()))),
            Column::Millis(_) => Err(format!("field {name:?} is a timestamp, not a string")),
            _ => match self.bytes(row) {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(|s| Some(Cow::Borrowed(s)))
                    .map_err(|e| format!("field {name:?} is not UTF-8: {e}")),
            },
        }
    }

    /// Row `row` as a date in Unix milliseconds; `None` when null or blank.
    fn date(&self, row: usize, dates: &DateParser) -> Result<Option<i64>, String> {
        match self {
            Column::Millis(values) => match values[row] {
                None => Ok(None),
                Some(None) => Err("timestamp is out of range".into()),
                Some(Some(millis)) => dates.check_millis(millis).map(Some),
            },
            Column::Integer(values) => {
                values[row].map(|v| dates.parse_epoch(&v.to_string())).transpose()
            }
            Column::Float(values) => {
                values[row].map(|v| dates.parse_epoch(&v.to_string())).transpose()
            }
            _ => match self.str(row, "date")? {
                None => Ok(None),
                Some(text) => dates.parse_str(&text),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{StringDictionaryBuilder, TimestampMicrosecondBuilder};
    use arrow_array::{Int64Array, types::Int32Type as Key};
    use arrow_schema::Field;

    use super::*;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn typed_columns_read_as_records() {
        let mut sources = StringDictionaryBuilder::<Key>::new();
        sources.append_value("Reuters");
        sources.append_null();
        let mut dates = TimestampMicrosecondBuilder::new().with_timezone("+01:00");
        dates.append_value(1_643_364_000_000_000);
        dates.append_null();
        let batch = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
            ("text", Arc::new(LargeStringArray::from(vec!["one", "two"]))),
            ("source", Arc::new(sources.finish())),
            ("date", Arc::new(dates.finish())),
        ]);
        let columns = Columns::new(&batch, &Fields::default()).unwrap();
        let parser = DateParser::default();
        let first = columns.record(0, &Fields::default(), &parser).unwrap();
        assert_eq!(
            (first.id.as_ref(), first.text.as_ref(), first.source.as_deref(), first.published),
            ("7", "one", Some("Reuters"), Some(1_643_364_000_000))
        );
        assert!(matches!(first.text, Cow::Borrowed(_)));
        let second = columns.record(1, &Fields::default(), &parser).unwrap();
        assert_eq!((second.source, second.published), (None, None));
        assert_eq!(columns.text_bytes(1), b"two");
    }

    #[test]
    fn missing_and_mistyped_columns_are_named() {
        let texts = Arc::new(StringArray::from(vec!["a"])) as ArrayRef;
        let schema = |fields: Vec<Field>| Schema::new(fields);
        let err = Plan::new(
            &schema(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("body", DataType::Utf8, true),
            ]),
            &Fields::default(),
        )
        .unwrap_err();
        assert!(err.contains("no column \"text\"") && err.contains("\"body\""), "{err}");
        let err = Plan::new(
            &schema(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("text", DataType::Int64, true),
            ]),
            &Fields::default(),
        )
        .unwrap_err();
        assert!(err.contains("column \"text\" has type Int64"), "{err}");
        let batch = batch(vec![("id", texts.clone()), ("text", texts)]);
        let plan = Plan::new(&batch.schema(), &Fields::default()).unwrap();
        assert_eq!(plan.missing, ["date", "source"]);
    }

    #[test]
    fn nulls_and_bad_dates_are_record_errors() {
        let batch = batch(vec![
            ("id", Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])) as ArrayRef),
            ("text", Arc::new(StringArray::from(vec![None, Some("x"), Some("y")]))),
            ("date", Arc::new(StringArray::from(vec![None, None, Some("not a date")]))),
        ]);
        let columns = Columns::new(&batch, &Fields::default()).unwrap();
        let parser = DateParser::default();
        let errors: Vec<String> = (0..3)
            .map(|row| columns.record(row, &Fields::default(), &parser).unwrap_err())
            .collect();
        assert_eq!(errors[0], "field \"text\" is null");
        assert_eq!(errors[1], "field \"id\" is null");
        assert!(errors[2].starts_with("field \"date\": cannot read"), "{}", errors[2]);
    }
}

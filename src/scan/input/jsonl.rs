//! JSON records: one object per line (JSONL) or the elements of a JSON array. Only the
//! configured fields are read; everything else is skipped unparsed, and strings borrow
//! from the input wherever JSON escapes allow.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{DateParser, Fields, Positions, Record};

/// Parses one JSON object into a record, or says what is wrong with it.
pub(super) fn parse<'a>(
    text: &'a str,
    fields: &Fields,
    dates: &DateParser,
) -> Result<Record<'a>, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let raw =
        RecordSeed(fields).deserialize(&mut de).map_err(|e| format!("malformed JSON: {e}"))?;
    de.end().map_err(|e| format!("malformed JSON: {e}"))?;
    let id = match raw.id {
        Some(JsonValue::Str(id)) if !id.trim().is_empty() => id,
        Some(JsonValue::Number(n)) => Cow::Owned(n),
        Some(JsonValue::Str(_)) => return Err(format!("field {:?} is empty", fields.id)),
        Some(JsonValue::Other(kind)) => {
            return Err(format!("field {:?} is {kind}, not a string or number", fields.id));
        }
        None => return Err(format!("missing field {:?}", fields.id)),
    };
    let text = match raw.text {
        Some(JsonValue::Str(text)) => text,
        Some(JsonValue::Number(_)) => {
            return Err(format!("field {:?} is a number, not a string", fields.text));
        }
        Some(JsonValue::Other(kind)) => {
            return Err(format!("field {:?} is {kind}, not a string", fields.text));
        }
        None => return Err(format!("missing field {:?}", fields.text)),
    };
    let source = match raw.source {
        None | Some(JsonValue::Other("null")) => None,
        Some(JsonValue::Str(s)) => Some(s),
        Some(JsonValue::Number(n)) => Some(Cow::Owned(n)),
        Some(JsonValue::Other(kind)) => {
            return Err(format!("field {:?} is {kind}, not a string", fields.source));
        }
    };
    let published = match raw.date {
        None | Some(JsonValue::Other("null")) => None,
        Some(JsonValue::Str(s)) => dates.parse_str(&s).map_err(|e| field(&fields.date, e))?,
        Some(JsonValue::Number(n)) => {
            Some(dates.parse_epoch(&n).map_err(|e| field(&fields.date, e))?)
        }
        Some(JsonValue::Other(kind)) => {
            return Err(format!(
                "field {:?} is {kind}, not a date string or an epoch number",
                fields.date
            ));
        }
    };
    Ok(Record { id, text, source, published })
}

fn field(name: &str, reason: String) -> String {
    format!("field {name:?}: {reason}")
}

/// The elements of a JSON array: each one's 1-based starting line and byte range in
/// `text`. A malformed array is an error with its line.
pub(super) fn array_elements(text: &str) -> Result<Positions, (usize, String)> {
    let elements: Vec<&RawValue> =
        serde_json::from_str(text).map_err(|e| (e.line(), format!("malformed JSON array: {e}")))?;
    let base = text.as_ptr() as usize;
    let mut out = Vec::with_capacity(elements.len());
    let (mut line, mut counted) = (1, 0);
    for element in elements {
        let start = element.get().as_ptr() as usize - base;
        line += memchr::memchr_iter(b'\n', &text.as_bytes()[counted..start]).count();
        counted = start;
        out.push((line, start..start + element.get().len()));
    }
    Ok(out)
}

enum JsonValue<'a> {
    Str(Cow<'a, str>),
    Number(String),
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonValue::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonValue::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(JsonValue::Other("null"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other("an object"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Default)]
struct RawRecord<'a> {
    id: Option<JsonValue<'a>>,
    text: Option<JsonValue<'a>>,
    source: Option<JsonValue<'a>>,
    date: Option<JsonValue<'a>>,
}

/// Reads only the configured fields of a JSON object and skips the rest unparsed.
struct RecordSeed<'f>(&'f Fields);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = RawRecord<'de>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = RawRecord<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut record = RawRecord::default();
        while let Some(key) = map.next_key::<JsonValue<'de>>()? {
            let JsonValue::Str(key) = key else { continue };
            let slot = if key == self.0.text.as_str() {
                &mut record.text
            } else if key == self.0.id.as_str() {
                &mut record.id
            } else if key == self.0.date.as_str() {
                &mut record.date
            } else if key == self.0.source.as_str() {
                &mut record.source
            } else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            *slot = Some(map.next_value()?);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Record<'_>, String> {
        parse(text, &Fields::default(), &DateParser::default())
    }

    #[test]
    fn dates_as_strings_numbers_or_null() {
        let at = |line| read(line).map(|r| r.published);
        assert_eq!(at(r#"{"id":1,"text":"t","date":"1970-01-02"}"#), Ok(Some(86_400_000)));
        assert_eq!(at(r#"{"id":1,"text":"t","date":86400}"#), Ok(Some(86_400_000)));
        assert_eq!(at(r#"{"id":1,"text":"t","date":1643364000000}"#), Ok(Some(1_643_364_000_000)));
        assert_eq!(at(r#"{"id":1,"text":"t","date":null}"#), Ok(None));
        assert_eq!(at(r#"{"id":1,"text":"t","date":""}"#), Ok(None));
        assert_eq!(at(r#"{"id":1,"text":"t"}"#), Ok(None));
        let err = at(r#"{"id":1,"text":"t","date":"soon"}"#).unwrap_err();
        assert!(err.starts_with("field \"date\": cannot read \"soon\""), "{err}");
        assert!(at(r#"{"id":1,"text":"t","date":true}"#).unwrap_err().contains("a boolean"));
        assert!(at(r#"{"id":1,"text":"t","source":[1]}"#).unwrap_err().contains("an array"));
    }

    #[test]
    fn array_elements_keep_their_lines() {
        let text = "[\n  {\"id\": 1},\n\n  {\"id\": \"b\",\n \"x\": [1]}, {\"id\":3}\n]";
        let elements = array_elements(text).unwrap();
        let found: Vec<(usize, &str)> =
            elements.iter().map(|(line, r)| (*line, &text[r.clone()])).collect();
        assert_eq!(
            found,
            [(2, "{\"id\": 1}"), (4, "{\"id\": \"b\",\n \"x\": [1]}"), (5, "{\"id\":3}")]
        );
        assert_eq!(array_elements("[]").unwrap(), []);
        let (line, err) = array_elements("[\n{\"id\":1},\n{\"id\":").unwrap_err();
        assert_eq!(line, 3, "{err}");
        assert!(array_elements("{\"id\":1}").is_err());
    }
}

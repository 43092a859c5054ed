//! Durations and sizes in one human style wherever a setting is written: flags, the
//! config file and what `neardup config` prints. A duration is a number with a unit
//! (`100ms`, `30s`, `90min`, `36h`, `7d`; humantime syntax, so `1h 30min` works too), a
//! size a whole number with an optional unit (`8MiB`, `4096`, `512KiB`). What is parsed
//! prints back in the largest unit that holds it exactly, so a file round-trips.

use std::time::Duration;

use crate::error::{Error, Result};

/// Parses a duration such as `30s`, `7d`, `36h` or `90min`. A bare number is refused:
/// `30000` could mean milliseconds or seconds.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::config(field, format!("{text:?} is not a duration ({e}); write e.g. 30s, 7d, 100ms"))
    })
}

/// A duration in the largest of `d`, `h`, `min`, `s`, `ms` that holds it exactly (`7d`,
/// `100ms`); sub-millisecond remainders fall back to humantime's own format.
pub fn format_duration(span: Duration) -> String {
    const UNITS: [(&str, u128); 5] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("min", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    let nanos = span.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    UNITS.iter().find(|(_, unit)| nanos.is_multiple_of(*unit)).map_or_else(
        || humantime::format_duration(span).to_string(),
        |(name, unit)| format!("{}{name}", nanos / unit),
    )
}

/// Units a size may carry: binary (IEC) and decimal multiples of a byte.
const SIZE_UNITS: [(&str, u64); 9] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("kB", 1_000),
    ("B", 1),
];

/// Parses a size such as `8MiB`, `512 KiB`, `1GB` or `4096` (bytes).
pub fn parse_size(field: &'static str, text: &str) -> Result<u64> {
    let bad = || {
        Error::config(
            field,
            format!(
                "{text:?} is not a size; write a whole number of bytes or of KiB, MiB, GiB \
                 (e.g. 8MiB)"
            ),
        )
    };
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim();
    let scale = if unit.is_empty() {
        1
    } else {
        SIZE_UNITS.iter().find(|(name, _)| *name == unit).ok_or_else(bad)?.1
    };
    number.checked_mul(scale).ok_or_else(bad)
}

/// A size in the largest binary unit that holds it exactly (`8MiB`), else in bytes.
pub fn format_size(bytes: u64) -> String {
    let mut binary = SIZE_UNITS.iter().filter(|(name, _)| name.ends_with("iB"));
    match binary.find(|(_, unit)| bytes != 0 && bytes.is_multiple_of(*unit)) {
        Some((name, unit)) => format!("{}{name}", bytes / unit),
        None => format!("{bytes}B"),
    }
}

/// Serde for a [`Duration`] written as [`format_duration`] prints it.
pub(crate) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(span: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*span))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!("{text:?} is not a duration ({e}); write e.g. 30s"))
        })
    }
}

/// Serde for an optional [`Duration`]; `None` is left out of the file.
pub(crate) mod duration_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        span: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match span {
            Some(span) => super::duration::serialize(span, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::duration")] Duration);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(span)| span))
    }
}

/// Serde for a size in bytes: written as [`format_size`] prints it, read from such a
/// string or from a plain number of bytes.
pub(crate) mod size {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &usize, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_size(*bytes as u64))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        struct Size;
        impl Visitor<'_> for Size {
            type Value = u64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"8MiB\" or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<u64, E> {
                Ok(bytes)
            }
            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<u64, E> {
                u64::try_from(bytes).map_err(|_| E::custom(format!("{bytes} is not a size")))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
                super::parse_size("size", text).map_err(|e| match e {
                    crate::Error::InvalidConfig { reason, .. } => E::custom(reason),
                    other => E::custom(other),
                })
            }
        }
        let bytes = d.deserialize_any(Size)?;
        usize::try_from(bytes).map_err(|_| de::Error::custom(format!("{bytes} bytes is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_the_unit_they_were_written_in() {
        for text in ["100ms", "30s", "90min", "36h", "7d", "1500ms", "0s"] {
            let span = parse_duration("window", text).unwrap();
            assert_eq!(format_duration(span), text, "{text}");
        }
        assert_eq!(format_duration(parse_duration("w", "1h 30min").unwrap()), "90min");
        assert_eq!(format_duration(parse_duration("w", "7days").unwrap()), "7d");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1ms 500us");
        let err = parse_duration("shutdown_grace", "30000").unwrap_err().to_string();
        assert!(err.contains("shutdown_grace") && err.contains("30s"), "{err}");
        assert!(parse_duration("window", "7 parsecs").is_err());
    }

    #[test]
    fn sizes_parse_and_print_back() {
        let cases = [
            ("8MiB", 8 << 20, "8MiB"),
            ("8 MiB", 8 << 20, "8MiB"),
            ("4096", 4096, "4KiB"),
            ("1000", 1000, "1000B"),
            ("2kB", 2000, "2000B"),
            ("1GB", 1_000_000_000, "1000000000B"),
            ("1GiB", 1 << 30, "1GiB"),
            ("0", 0, "0B"),
        ];
        for (text, bytes, printed) in cases {
            assert_eq!(parse_size("max_message_bytes", text).unwrap(), bytes, "{text}");
            assert_eq!(format_size(bytes), printed, "{text}");
        }
        for bad in ["", "MiB", "8 parsecs", "-1", "1.5MiB", "99999999999TiB"] {
            let err = parse_size("max_message_bytes", bad).unwrap_err().to_string();
            assert!(err.contains("max_message_bytes") && err.contains("8MiB"), "{bad}: {err}");
        }
    }
}

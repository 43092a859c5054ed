//! Publication dates as corpora write them: RFC 3339 and ISO 8601 (with or without an
//! offset; without one the time is taken as UTC), a bare date, RFC 2822, Unix epoch
//! seconds or milliseconds, and one caller-given `strftime` format. A date that is there
//! but cannot be read is an error, never a missing date: the origin of a story is its
//! earliest copy, and a silently dropped date would move it.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::error::{Error, Result};

/// Epoch values below this magnitude are seconds, others milliseconds. 10^11 seconds is
/// the year 5138 and 10^11 milliseconds is 3 March 1973, so any date after that is read
/// right in either unit.
pub const EPOCH_MILLIS_FROM: i64 = 100_000_000_000;

/// Earliest and latest instants accepted (years 1 to 9999, as RFC 3339 allows): a value
/// outside is a unit mistake (an epoch in microseconds, say), not a date.
const MIN_MILLIS: i64 = -62_135_596_800_000;
const MAX_MILLIS: i64 = 253_402_300_799_999;

/// Reads dates to Unix milliseconds (see the module docs for the shapes understood).
#[derive(Debug, Clone, Default)]
pub struct DateParser {
    /// A `strftime` format tried before the built-in shapes.
    format: Option<String>,
}

impl DateParser {
    /// A parser that also tries `format` (chrono's `strftime` syntax, e.g. `%d/%m/%Y
    /// %H:%M`) before the built-in shapes. A format chrono cannot read is an error.
    pub fn new(format: Option<&str>) -> Result<Self> {
        if let Some(format) = format {
            if format.trim().is_empty() {
                return Err(Error::config("date_format", "is empty"));
            }
            if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
                return Err(Error::config(
                    "date_format",
                    format!("{format:?} is not a valid strftime format"),
                ));
            }
        }
        Ok(DateParser { format: format.map(str::to_owned) })
    }

    /// The date in `text`: `Ok(None)` when it is blank (no date), an error saying what
    /// is understood when it cannot be read.
    pub fn parse_str(&self, text: &str) -> Result<Option<i64>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if let Some(millis) = self.custom(text) {
            return in_range(text, millis).map(Some);
        }
        if let Some(millis) = parse_plain_date_time(text) {
            return Ok(Some(millis));
        }
        if is_number(text) {
            return self.parse_epoch(text).map(Some);
        }
        match parse_shapes(text) {
            Some(millis) => in_range(text, millis).map(Some),
            None => Err(format!(
                "cannot read {text:?} as a date (RFC 3339 or ISO 8601, RFC 2822, or Unix \
                 epoch seconds or milliseconds; --date-format gives another format)"
            )),
        }
    }

    /// A date given as a number (a JSON number or a digit string): Unix epoch seconds,
    /// or milliseconds from [`EPOCH_MILLIS_FROM`] on. Eight digits that also read as a
    /// `YYYYMMDD` date are refused as ambiguous unless `--date-format` settles them.
    pub fn parse_epoch(&self, number: &str) -> Result<i64, String> {
        if let Some(millis) = self.custom(number) {
            return in_range(number, millis);
        }
        let value: f64 =
            number.parse().map_err(|_| format!("cannot read {number:?} as a Unix epoch"))?;
        if !value.is_finite() {
            return Err(format!("cannot read {number:?} as a Unix epoch"));
        }
        let digits = number.trim_start_matches(['-', '+']);
        if digits.len() == 8
            && digits.bytes().all(|b| b.is_ascii_digit())
            && NaiveDate::parse_from_str(digits, "%Y%m%d")
                .is_ok_and(|d| (1900..=2100).contains(&chrono::Datelike::year(&d)))
        {
            return Err(format!(
                "{number:?} is ambiguous: Unix epoch seconds or a YYYYMMDD date; give \
                 --date-format %Y%m%d (or %s for epoch seconds)"
            ));
        }
        let millis = if value.abs() < EPOCH_MILLIS_FROM as f64 { value * 1000.0 } else { value };
        let millis = millis.round();
        if !(MIN_MILLIS as f64..=MAX_MILLIS as f64).contains(&millis) {
            return Err(out_of_range(number));
        }
        Ok(millis as i64)
    }

    /// An instant in Unix milliseconds, checked to lie in the years 1 to 9999.
    pub fn check_millis(&self, millis: i64) -> Result<i64, String> {
        in_range(&millis.to_string(), millis)
    }

    fn custom(&self, text: &str) -> Option<i64> {
        let format = self.format.as_deref()?;
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.timestamp_millis());
        }
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
        let date = NaiveDate::parse_from_str(text, format).ok()?;
        Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
    }
}

/// Parses a date with the built-in shapes (no `--date-format`) to Unix milliseconds;
/// `None` when it is blank or cannot be read.
pub fn parse_date(text: &str) -> Option<i64> {
    DateParser::default().parse_str(text).ok().flatten()
}

fn in_range(text: &str, millis: i64) -> Result<i64, String> {
    if (MIN_MILLIS..=MAX_MILLIS).contains(&millis) { Ok(millis) } else { Err(out_of_range(text)) }
}

fn out_of_range(text: &str) -> String {
    format!("date {text:?} is outside the years 1 to 9999 (an epoch in another unit?)")
}

/// An optional sign, digits and an optional fraction: how epochs are written.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 3339, ISO 8601 with and without an offset (naive times are UTC), a bare date,
/// and RFC 2822.
fn parse_shapes(text: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.timestamp_millis());
        }
    }
    for format in
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
    {
        if let Ok(dt) = NaiveDateTime::parse_from_str(text, format) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc2822(text).ok().map(|dt| dt.timestamp_millis())
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (no fraction, no offset), the common shapes,
/// without chrono's format-string interpretation on every record.
fn parse_plain_date_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits
            .iter()
            .try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    if !(b.len() == 10 || (b.len() == 19 && matches!(b[10], b'T' | b' ')))
        || b[4] != b'-'
        || b[7] != b'-'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = if b.len() == 19 {
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?
    } else {
        date.and_hms_opt(0, 0, 0)?
    };
    Some(time.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_28: i64 = 1_643_364_000_000; // 2022-01-28T10:00:00Z

    #[test]
    fn iso_and_rfc_shapes() {
        assert_eq!(parse_date("1970-01-01T00:00:01"), Some(1000));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("1987-02-26T15:01:01.79"), parse_date("1987-02-26T15:01:01.790Z"));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("1987-03-03T15:44:56"), parse_date("1987-03-03T15:44:56.000Z"));
        assert_eq!(parse_date("1987-03-03 15:44:56"), Some(541_784_696_000));
        for same in [
            "2022-01-28T10:00:00Z",
            "2022-01-28T10:00:00+00:00",
            "2022-01-28T11:00:00+01:00",
            "2022-01-28T11:00:00+0100",
            "2022-01-28 11:00:00+01:00",
            "2022-01-28T10:00:00.000Z",
            "2022-01-28T10:00Z",
            "2022-01-28T10:00",
            "2022-01-28 10:00",
            "2022-01-28T10:00:00",
            " 2022-01-28T10:00:00 ",
            "Fri, 28 Jan 2022 10:00:00 +0000",
            "Fri, 28 Jan 2022 11:00:00 +0100",
            "Fri, 28 Jan 2022 10:00:00 GMT",
            "28 Jan 2022 10:00:00 +0000",
            "1643364000",
            "1643364000000",
            "1643364000.0",
        ] {
            assert_eq!(parse_date(same), Some(JAN_28), "{same}");
        }
    }

    #[test]
    fn unreadable_dates_are_errors_and_blank_is_none() {
        let parser = DateParser::default();
        assert_eq!(parser.parse_str("  "), Ok(None));
        for bad in [
            "yesterday",
            "1987-02-30",
            "1987-03-03T25:00:00",
            "198x-03-03",
            "28/01/2022",
            "Fri, 30 Feb 2022 10:00:00 +0000",
        ] {
            let err = parser.parse_str(bad).unwrap_err();
            assert!(err.contains("cannot read") && err.contains("--date-format"), "{bad}: {err}");
        }
    }

    #[test]
    fn epochs_by_magnitude_and_their_limits() {
        let parser = DateParser::default();
        assert_eq!(parser.parse_epoch("0"), Ok(0));
        assert_eq!(parser.parse_epoch("99999999999"), Ok(99_999_999_999_000));
        assert_eq!(parser.parse_epoch("100000000000"), Ok(100_000_000_000));
        assert_eq!(parser.parse_epoch("-86400"), Ok(-86_400_000));
        assert_eq!(parser.parse_epoch("1643364000.5"), Ok(JAN_28 + 500));
        // Microseconds land past the year 9999: refused, not read as a far future.
        assert!(parser.parse_epoch("1643364000000000").unwrap_err().contains("outside"));
        let ambiguous = parser.parse_epoch("20220128").unwrap_err();
        assert!(ambiguous.contains("ambiguous") && ambiguous.contains("%Y%m%d"), "{ambiguous}");
        // Not a plausible date: epoch seconds.
        assert_eq!(parser.parse_epoch("20221399"), Ok(20_221_399_000));
    }

    #[test]
    fn a_custom_format_comes_first() {
        let parser = DateParser::new(Some("%d/%m/%Y %H:%M")).unwrap();
        assert_eq!(parser.parse_str("28/01/2022 10:00"), Ok(Some(JAN_28)));
        assert_eq!(parser.parse_str("2022-01-28T10:00:00Z"), Ok(Some(JAN_28)));
        let basic = DateParser::new(Some("%Y%m%d")).unwrap();
        assert_eq!(basic.parse_epoch("20220128"), Ok(JAN_28 - 36_000_000));
        let zoned = DateParser::new(Some("%d.%m.%Y %H:%M %z")).unwrap();
        assert_eq!(zoned.parse_str("28.01.2022 11:00 +0100"), Ok(Some(JAN_28)));
        assert!(DateParser::new(Some("%Q")).unwrap_err().to_string().contains("date_format"));
        assert!(DateParser::new(Some(" ")).is_err());
    }
}

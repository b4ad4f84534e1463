//! Time arguments (`--from-time`, `--since`, `--until`): RFC 3339 and the
//! short forms people type, in UTC unless an offset is given.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// What the error shows, so the accepted forms are never a guess.
const FORMS: &str = "expected RFC 3339 or a short form, e.g. 2026-11-26T10:00:00Z, \
    2026-11-26T10:00:00+01:00, 2026-11-26 10:00, 2026-11-26T10:00:00 (UTC) or 2026-11-26 (midnight UTC)";

/// Parses `text` as a point in time (a clap value parser).
///
/// Accepted: RFC 3339 (`2026-11-26T10:00:00Z`, with an offset or fractional
/// seconds); a date and time without an offset, taken as UTC, with `T` or a
/// space and with or without seconds (`2026-11-26 10:00`); a date alone,
/// taken as midnight UTC (`2026-11-26`).
pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(at.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    Err(format!("`{text}` is not a time; {FORMS}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_short_forms_parse_to_utc() {
        let ten = "2026-11-26T10:00:00Z";
        for text in [
            ten,
            "2026-11-26T11:00:00+01:00",
            "2026-11-26T10:00:00",
            "2026-11-26 10:00:00",
            "2026-11-26T10:00",
            "2026-11-26 10:00",
        ] {
            assert_eq!(
                parse(text).unwrap().to_rfc3339(),
                parse(ten).unwrap().to_rfc3339(),
                "{text}"
            );
        }
        assert_eq!(
            parse("2026-11-26").unwrap().to_rfc3339(),
            "2026-11-26T00:00:00+00:00"
        );
        let err = parse("26/11/2026").unwrap_err();
        assert!(err.contains("2026-11-26T10:00:00Z"), "{err}");
    }
}

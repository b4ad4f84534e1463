//! RFC 3339 timestamps of the `timestamp` header, written and read digit by
//! digit: both are on every message's path, and `chrono`'s formatter was the
//! costliest header. Anything outside the one form this crate writes goes
//! through `chrono`.

use std::cell::Cell;

use chrono::{DateTime, Utc};

/// Text length up to the seconds (`2026-11-27T04:30:44`).
const TO_SECONDS: usize = 19;

thread_local! {
    /// The last second this thread formatted, and its text up to the
    /// seconds: events published together share it, so most timestamps only
    /// need their microseconds written.
    static LAST_SECOND: Cell<(i64, [u8; TO_SECONDS])> =
        const { Cell::new((i64::MIN, [0; TO_SECONDS])) };
}

/// `at` in UTC with microseconds (`2026-11-27T04:30:44.123456Z`), the text
/// `to_rfc3339_opts(SecondsFormat::Micros, true)` gives; `None` for a year
/// outside 0–9999 (signed in RFC 3339), which the caller formats with
/// `chrono`.
pub(crate) fn format_micros(at: &DateTime<Utc>) -> Option<[u8; 27]> {
    let seconds = at.timestamp();
    let nanos = at.timestamp_subsec_nanos();
    // A leap second (nanoseconds ≥ 1e9) is never taken from or kept in the
    // cache: its text differs from that of the second it belongs to.
    if nanos < 1_000_000_000 {
        let (cached, prefix) = LAST_SECOND.get();
        if cached == seconds {
            let mut text = *b"0000-00-00T00:00:00.000000Z";
            text[..TO_SECONDS].copy_from_slice(&prefix);
            put_digits(&mut text, 20, 6, nanos / 1_000);
            return Some(text);
        }
    }
    let text = format_uncached(seconds, nanos)?;
    if nanos < 1_000_000_000 {
        let mut prefix = [0; TO_SECONDS];
        prefix.copy_from_slice(&text[..TO_SECONDS]);
        LAST_SECOND.set((seconds, prefix));
    }
    Some(text)
}

/// Writes `value` as `width` decimal digits at `at` of `text`.
fn put_digits(text: &mut [u8; 27], at: usize, width: usize, mut value: u32) {
    for slot in text[at..at + width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// [`format_micros`] of `seconds` since the epoch and `nanos` (≥ 1e9 in a
/// leap second), every digit written.
fn format_uncached(seconds: i64, nanos: u32) -> Option<[u8; 27]> {
    let days = seconds.div_euclid(86_400);
    let (year, month, day) = civil_date(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    // `rem_euclid` of a positive modulus is in 0..86_400.
    let of_day = seconds.rem_euclid(86_400) as u32;
    // A leap second shows as second 59 with nanoseconds ≥ 1e9 in chrono;
    // RFC 3339 writes it as second 60.
    let (leap, nanos) = if nanos >= 1_000_000_000 {
        (1, nanos - 1_000_000_000)
    } else {
        (0, nanos)
    };
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut digits = |at: usize, width: usize, value: u32| put_digits(&mut text, at, width, value);
    // `year` is in 0..=9999 (checked above).
    digits(0, 4, year as u32);
    digits(5, 2, month);
    digits(8, 2, day);
    digits(11, 2, of_day / 3_600);
    digits(14, 2, of_day / 60 % 60);
    digits(17, 2, of_day % 60 + leap);
    digits(20, 6, nanos / 1_000);
    Some(text)
}

/// An RFC 3339 timestamp. The form this crate writes
/// (`2026-11-27T04:30:44.123456Z`) is read digit by digit, since it is on
/// every consumed message's path; anything else (offsets, other precisions,
/// leap seconds) goes through `chrono`, which also gives the error.
pub(crate) fn parse(raw: &str) -> std::result::Result<DateTime<Utc>, chrono::ParseError> {
    let fast = || {
        let b = raw.as_bytes();
        if b.len() != 27 || &b[4..5] != b"-" || &b[7..8] != b"-" || &b[10..11] != b"T" {
            return None;
        }
        if &b[13..14] != b":" || &b[16..17] != b":" || &b[19..20] != b"." || &b[26..] != b"Z" {
            return None;
        }
        let number = |from: usize, to: usize| {
            b[from..to].iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let second = number(17, 19)?;
        if second > 59 {
            return None;
        }
        chrono::NaiveDate::from_ymd_opt(
            i32::try_from(number(0, 4)?).ok()?,
            number(5, 7)?,
            number(8, 10)?,
        )?
        .and_hms_micro_opt(number(11, 13)?, number(14, 16)?, second, number(20, 26)?)
        .map(|t| t.and_utc())
    };
    match fast() {
        Some(at) => Ok(at),
        None => DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)),
    }
}

/// (year, month, day) of the proleptic Gregorian calendar for `days` since
/// 1970-01-01: Howard Hinnant's `civil_from_days`, integer arithmetic only.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // In 1..=31 and 1..=12 by construction.
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

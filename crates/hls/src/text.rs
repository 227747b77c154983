//! Low-level spelling of playlist values (RFC 8216 §4.2 attribute lists, §4.3.2.6 date-times).

use std::fmt::Write as _;

/// Earliest instant we write: 0000-01-01T00:00:00.000Z, in unix ms.
const MIN_UNIX_MS: i64 = -62_167_219_200_000;
/// Latest instant we write: 9999-12-31T23:59:59.999Z, in unix ms (four-digit years only).
const MAX_UNIX_MS: i64 = 253_402_300_799_999;
const MS_PER_DAY: i64 = 86_400_000;

/// Appends `unix_ms` as an RFC 3339 date-time with milliseconds in UTC, e.g.
/// `2024-05-01T12:00:00.000Z` (the `EXT-X-PROGRAM-DATE-TIME` value, RFC 8216 §4.3.2.6).
///
/// Times outside years 0000..=9999 are clamped to that range.
pub fn write_program_date_time(out: &mut String, unix_ms: i64) {
    let ms = unix_ms.clamp(MIN_UNIX_MS, MAX_UNIX_MS);
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let hour = in_day / 3_600_000;
    let minute = in_day / 60_000 % 60;
    let second = in_day / 1000 % 60;
    let milli = in_day % 1000;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z"
    );
}

/// [`write_program_date_time`] into a new `String`.
pub fn format_program_date_time(unix_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_program_date_time(&mut out, unix_ms);
    out
}

/// Proleptic Gregorian (year, month, day) of a day count relative to 1970-01-01.
///
/// Works in 400-year eras of 146 097 days, counting years from March so the leap day ends a year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends a duration in seconds with three decimals (`EXTINF`, RFC 8216 §4.3.2.1).
///
/// Negative, `NaN` and infinite values are written as `0.000`; absurdly large ones are clamped.
pub(crate) fn write_seconds(out: &mut String, seconds: f64) {
    let _ = write!(out, "{:.3}", sanitised_seconds(seconds));
}

/// A duration the way [`write_seconds`] treats it before rounding.
pub(crate) fn sanitised_seconds(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds.clamp(0.0, 1.0e9)
    } else {
        0.0
    }
}

/// Appends a URI line: everything but CR and LF, which would end the line early.
pub(crate) fn write_uri_line(out: &mut String, uri: &str) {
    out.extend(uri.chars().filter(|c| *c != '\r' && *c != '\n'));
    out.push('\n');
}

/// Appends the inside of a quoted-string attribute value (RFC 8216 §4.2: no `"`, CR or LF).
pub(crate) fn write_quoted_inner(out: &mut String, value: &str) {
    out.extend(value.chars().filter(|c| !matches!(c, '"' | '\r' | '\n')));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_date_time_known_instants() {
        assert_eq!(format_program_date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_program_date_time(1_714_564_800_123),
            "2024-05-01T12:00:00.123Z"
        );
        assert_eq!(
            format_program_date_time(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(format_program_date_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_program_date_time(4_107_542_399_999),
            "2100-02-28T23:59:59.999Z"
        );
    }

    #[test]
    fn program_date_time_clamps_extremes() {
        assert_eq!(
            format_program_date_time(i64::MIN),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_program_date_time(i64::MAX),
            "9999-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn seconds_are_sanitised() {
        let mut s = String::new();
        for v in [2.0, 1.99951, -1.0, f64::NAN, f64::INFINITY] {
            write_seconds(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "2.000 2.000 0.000 0.000 0.000 ");
    }

    #[test]
    fn line_breaks_and_quotes_are_removed() {
        let mut s = String::new();
        write_uri_line(&mut s, "a\r\nb.m4s");
        write_quoted_inner(&mut s, "x\"y\nz");
        assert_eq!(s, "ab.m4s\nxyz");
    }
}

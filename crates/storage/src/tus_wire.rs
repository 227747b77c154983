//! Why: the header formats of tus (`Upload-Metadata`, `Upload-Expires`) are parsed from
//! untrusted clients; they live apart, bounded, with no I/O.

use super::TusError;
use base64::Engine as _;
use std::collections::BTreeMap;

/// Longest `Upload-Metadata` header accepted, in bytes.
pub const MAX_METADATA_LEN: usize = 4096;
/// Most metadata pairs accepted.
pub const MAX_METADATA_PAIRS: usize = 32;

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs; keys unique, non-empty,
/// without spaces or commas; a value may be absent (empty).
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, String>, TusError> {
    let bad = |m: &str| TusError::InvalidMetadata(m.into());
    if header.len() > MAX_METADATA_LEN {
        return Err(bad("longer than 4096 bytes"));
    }
    let mut out = BTreeMap::new();
    if header.trim().is_empty() {
        return Ok(out);
    }
    for pair in header.split(',') {
        if out.len() == MAX_METADATA_PAIRS {
            return Err(bad("more than 32 pairs"));
        }
        let pair = pair.trim();
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("a key is empty or not printable ASCII"));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| {
                TusError::InvalidMetadata(format!("the value of {key:?} is not base64"))
            })?;
        let value = String::from_utf8(raw)
            .map_err(|_| TusError::InvalidMetadata(format!("the value of {key:?} is not UTF-8")))?;
        if out.insert(key.to_owned(), value).is_some() {
            return Err(TusError::InvalidMetadata(format!("{key:?} appears twice")));
        }
    }
    Ok(out)
}

/// Formats `Upload-Metadata` (the HEAD answer): `key base64value` pairs joined by commas.
pub fn format_metadata<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| match v.is_empty() {
            true => k.to_owned(),
            false => format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            ),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `Upload-Expires`: an HTTP-date (RFC 9110 IMF-fixdate) from Unix milliseconds.
pub fn http_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm), all non-negative here.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[((days + 4) % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

//! A tolerant line parser for media playlists: it records what the checks need, ignores tags it
//! does not know (as clients must, rfc8216bis §6.3.1) and reports lines it cannot read instead of
//! failing on them. It never panics: all slicing happens at indices returned by `str` searches for
//! ASCII characters, and all arithmetic on parsed numbers saturates.

use super::{SegmentFacts, Violation};
use crate::lowlatency::{PartialSegment, PreloadHint, PreloadHintKind, ServerControl};

/// A rendition report as written; omitted attributes are resolved once the whole playlist is read.
pub(super) struct RawReport {
    pub line: usize,
    pub uri: String,
    pub last_msn: Option<u64>,
    pub last_part: Option<u64>,
}

/// Everything read from a playlist, before the cross-tag checks.
#[derive(Default)]
pub(super) struct Parsed {
    pub version: Option<u64>,
    pub target_duration: Option<u64>,
    pub media_sequence: Option<u64>,
    pub discontinuity_sequence: Option<u64>,
    pub part_target: Option<f64>,
    pub server_control: Option<ServerControl>,
    pub skipped_segments: Option<u64>,
    /// Segments with `msn` 0 and `discontinuity_sequence` counting only the tags seen, as the
    /// playlist-level values may come later in the text.
    pub segments: Vec<SegmentFacts>,
    pub trailing_parts: Vec<PartialSegment>,
    pub preload_hints: Vec<PreloadHint>,
    pub reports: Vec<RawReport>,
    pub end_list: bool,
    /// The lowest `EXT-X-VERSION` the tags seen need (rfc8216bis §8).
    pub required_version: u64,
    pub violations: Vec<Violation>,
}

/// Bound on the attributes of one list; the tags checked use at most six.
const MAX_ATTRIBUTES: usize = 32;

/// Tags of the segment being read, up to its URI line.
#[derive(Default)]
struct Pending {
    discontinuity: bool,
    program_date_time: Option<String>,
    gap: bool,
    parts: Vec<PartialSegment>,
    extinf: Option<(f64, usize)>,
}

/// Playlist tags that must not appear twice (rfc8216bis §4.4.2, §4.4.3, §4.4.5.2).
const SINGLE_TAGS: [&str; 10] = [
    "#EXT-X-VERSION",
    "#EXT-X-TARGETDURATION",
    "#EXT-X-MEDIA-SEQUENCE",
    "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXT-X-ENDLIST",
    "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-INDEPENDENT-SEGMENTS",
    "#EXT-X-PART-INF",
    "#EXT-X-SERVER-CONTROL",
    "#EXT-X-SKIP",
];

pub(super) fn parse(text: &str) -> Parsed {
    let mut parser = Parser {
        out: Parsed {
            required_version: 1,
            ..Parsed::default()
        },
        pending: Pending::default(),
        current_map: None,
        discontinuities: 0,
        seen: [false; SINGLE_TAGS.len()],
        segment_content_seen: false,
    };
    if text.lines().next() != Some("#EXTM3U") {
        parser.out.violations.push(Violation::MissingHeader);
    }
    for (index, line) in text.lines().enumerate() {
        parser.line(index.saturating_add(1), line);
    }
    parser.finish()
}

struct Parser {
    out: Parsed,
    pending: Pending,
    current_map: Option<String>,
    discontinuities: u64,
    seen: [bool; SINGLE_TAGS.len()],
    /// A media segment tag or URI has been read; `EXT-X-SKIP` must come before any.
    segment_content_seen: bool,
}

impl Parser {
    fn malformed(&mut self, line: usize, what: &'static str) {
        self.out
            .violations
            .push(Violation::Malformed { line, what });
    }

    fn line(&mut self, number: usize, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        if !line.starts_with('#') {
            self.uri(number, line);
            return;
        }
        if !line.starts_with("#EXT") {
            return; // a comment
        }
        let (tag, value) = match line.split_once(':') {
            Some((tag, value)) => (tag, value),
            None => (line, ""),
        };
        if let Some(slot) = SINGLE_TAGS.iter().position(|t| *t == tag) {
            if let Some(seen) = self.seen.get_mut(slot) {
                if *seen {
                    let tag = SINGLE_TAGS.get(slot).copied().unwrap_or("tag");
                    self.out
                        .violations
                        .push(Violation::DuplicateTag { line: number, tag });
                    return;
                }
                *seen = true;
            }
        }
        match tag {
            "#EXT-X-VERSION" => self.out.version = self.integer(number, value),
            "#EXT-X-TARGETDURATION" => self.out.target_duration = self.integer(number, value),
            "#EXT-X-MEDIA-SEQUENCE" => self.out.media_sequence = self.integer(number, value),
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                self.out.discontinuity_sequence = self.integer(number, value);
            }
            "#EXT-X-ENDLIST" => self.out.end_list = true,
            "#EXT-X-PART-INF" => self.part_inf(number, value),
            "#EXT-X-SERVER-CONTROL" => self.server_control(number, value),
            "#EXT-X-SKIP" => self.skip(number, value),
            "#EXTINF" => self.extinf(number, value),
            "#EXT-X-DISCONTINUITY" => {
                self.segment_content_seen = true;
                self.pending.discontinuity = true;
                self.discontinuities = self.discontinuities.saturating_add(1);
            }
            "#EXT-X-GAP" => {
                self.segment_content_seen = true;
                self.pending.gap = true;
            }
            "#EXT-X-MAP" => self.map(number, value),
            "#EXT-X-PROGRAM-DATE-TIME" => {
                self.segment_content_seen = true;
                self.pending.program_date_time = Some(value.to_owned());
            }
            "#EXT-X-PART" => self.part(number, value),
            "#EXT-X-PRELOAD-HINT" => self.preload_hint(number, value),
            "#EXT-X-RENDITION-REPORT" => self.rendition_report(number, value),
            _ => {}
        }
    }

    fn integer(&mut self, number: usize, value: &str) -> Option<u64> {
        let parsed = integer(value);
        if parsed.is_none() {
            self.malformed(number, "expected a decimal-integer");
        }
        parsed
    }

    fn attributes<'a>(&mut self, number: usize, value: &'a str) -> Option<Vec<Attribute<'a>>> {
        match attributes(value) {
            Ok(attrs) => Some(attrs),
            Err(what) => {
                self.malformed(number, what);
                None
            }
        }
    }

    fn part_inf(&mut self, number: usize, value: &str) {
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        match find(&attrs, "PART-TARGET").and_then(|a| a.decimal()) {
            Some(target) => self.out.part_target = Some(target),
            None => self.malformed(number, "EXT-X-PART-INF without a PART-TARGET"),
        }
    }

    fn server_control(&mut self, number: usize, value: &str) {
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        let mut control = ServerControl::new();
        let mut unreadable = false;
        let mut seconds = |name: &str| match find(&attrs, name) {
            None => None,
            Some(attr) => {
                let value = attr.decimal();
                unreadable |= value.is_none();
                value
            }
        };
        control.can_skip_until = seconds("CAN-SKIP-UNTIL");
        control.hold_back = seconds("HOLD-BACK");
        control.part_hold_back = seconds("PART-HOLD-BACK");
        control.can_block_reload = find(&attrs, "CAN-BLOCK-RELOAD").is_some_and(|a| a.is_yes());
        control.can_skip_dateranges =
            find(&attrs, "CAN-SKIP-DATERANGES").is_some_and(|a| a.is_yes());
        if unreadable {
            self.malformed(number, "EXT-X-SERVER-CONTROL value is not a decimal number");
        }
        self.out.server_control = Some(control);
    }

    fn skip(&mut self, number: usize, value: &str) {
        if self.segment_content_seen {
            self.out
                .violations
                .push(Violation::SkipMisplaced { line: number });
        }
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        match find(&attrs, "SKIPPED-SEGMENTS").and_then(|a| a.integer()) {
            Some(skipped) => {
                self.out.skipped_segments = Some(skipped);
                self.out.required_version = self.out.required_version.max(9);
            }
            None => self.malformed(number, "EXT-X-SKIP without SKIPPED-SEGMENTS"),
        }
    }

    fn extinf(&mut self, number: usize, value: &str) {
        self.segment_content_seen = true;
        let duration = value.split_once(',').map_or(value, |(d, _)| d);
        match decimal(duration) {
            Some(seconds) => {
                if duration.contains('.') {
                    self.out.required_version = self.out.required_version.max(3);
                }
                if self.pending.extinf.is_some() {
                    self.malformed(number, "EXTINF follows another EXTINF without a URI");
                }
                self.pending.extinf = Some((seconds, number));
            }
            None => self.malformed(number, "EXTINF duration is not a decimal number"),
        }
    }

    fn map(&mut self, number: usize, value: &str) {
        self.segment_content_seen = true;
        self.out.required_version = self.out.required_version.max(6);
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        match find(&attrs, "URI").and_then(|a| a.quoted()) {
            Some(uri) => self.current_map = Some(uri.to_owned()),
            None => self.malformed(number, "EXT-X-MAP without a quoted URI"),
        }
    }

    fn part(&mut self, number: usize, value: &str) {
        self.segment_content_seen = true;
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        let uri = find(&attrs, "URI").and_then(|a| a.quoted());
        let duration = find(&attrs, "DURATION").and_then(|a| a.decimal());
        let (Some(uri), Some(duration)) = (uri, duration) else {
            self.malformed(number, "EXT-X-PART without a quoted URI and a DURATION");
            return;
        };
        let mut part = PartialSegment::new(uri, duration);
        part.independent = find(&attrs, "INDEPENDENT").is_some_and(|a| a.is_yes());
        part.gap = find(&attrs, "GAP").is_some_and(|a| a.is_yes());
        self.pending.parts.push(part);
    }

    fn preload_hint(&mut self, number: usize, value: &str) {
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        let kind = match find(&attrs, "TYPE").map(|a| a.value) {
            Some("PART") => PreloadHintKind::Part,
            Some("MAP") => PreloadHintKind::Map,
            // Clients ignore a tag whose enumerated-string they do not recognise.
            Some(_) => return,
            None => {
                self.malformed(number, "EXT-X-PRELOAD-HINT without a TYPE");
                return;
            }
        };
        let Some(uri) = find(&attrs, "URI").and_then(|a| a.quoted()) else {
            self.malformed(number, "EXT-X-PRELOAD-HINT without a quoted URI");
            return;
        };
        let mut hint = match kind {
            PreloadHintKind::Part => PreloadHint::part(uri),
            PreloadHintKind::Map => PreloadHint::map(uri),
        };
        if let Some(start) = find(&attrs, "BYTERANGE-START") {
            hint.byterange_start = start.integer();
            if hint.byterange_start.is_none() {
                self.malformed(number, "BYTERANGE-START is not a decimal-integer");
            }
        }
        self.out.preload_hints.push(hint);
    }

    fn rendition_report(&mut self, number: usize, value: &str) {
        let Some(attrs) = self.attributes(number, value) else {
            return;
        };
        let Some(uri) = find(&attrs, "URI").and_then(|a| a.quoted()) else {
            self.malformed(number, "EXT-X-RENDITION-REPORT without a quoted URI");
            return;
        };
        let mut number_attribute = |name: &str| {
            let attr = find(&attrs, name)?;
            let value = attr.integer();
            if value.is_none() {
                self.out.violations.push(Violation::Malformed {
                    line: number,
                    what: "EXT-X-RENDITION-REPORT number is not a decimal-integer",
                });
            }
            value
        };
        let last_msn = number_attribute("LAST-MSN");
        let last_part = number_attribute("LAST-PART");
        self.out.reports.push(RawReport {
            line: number,
            uri: uri.to_owned(),
            last_msn,
            last_part,
        });
    }

    fn uri(&mut self, number: usize, line: &str) {
        self.segment_content_seen = true;
        let pending = std::mem::take(&mut self.pending);
        let Some((duration, _)) = pending.extinf else {
            self.malformed(number, "URI line without a preceding EXTINF");
            return;
        };
        self.out.segments.push(SegmentFacts {
            msn: 0,
            duration,
            uri: line.trim().to_owned(),
            gap: pending.gap,
            discontinuity: pending.discontinuity,
            discontinuity_sequence: self.discontinuities,
            map_uri: self.current_map.clone(),
            program_date_time: pending.program_date_time,
            parts: pending.parts,
        });
    }

    fn finish(mut self) -> Parsed {
        if let Some((_, line)) = self.pending.extinf {
            self.malformed(line, "EXTINF without a URI line");
        }
        self.out.trailing_parts = std::mem::take(&mut self.pending.parts);
        self.out
    }
}

/// One `NAME=VALUE` of an attribute list (rfc8216bis §4.2).
struct Attribute<'a> {
    name: &'a str,
    value: &'a str,
    quoted: bool,
}

impl<'a> Attribute<'a> {
    fn quoted(&self) -> Option<&'a str> {
        self.quoted.then_some(self.value)
    }

    fn decimal(&self) -> Option<f64> {
        if self.quoted {
            None
        } else {
            decimal(self.value)
        }
    }

    fn integer(&self) -> Option<u64> {
        if self.quoted {
            None
        } else {
            integer(self.value)
        }
    }

    fn is_yes(&self) -> bool {
        !self.quoted && self.value == "YES"
    }
}

fn find<'a, 'b>(attrs: &'b [Attribute<'a>], name: &str) -> Option<&'b Attribute<'a>> {
    attrs.iter().find(|a| a.name == name)
}

/// Splits an attribute list, or says why it is not one. At most [`MAX_ATTRIBUTES`] are read, which
/// also bounds the check for repeated names.
fn attributes(list: &str) -> Result<Vec<Attribute<'_>>, &'static str> {
    let mut out: Vec<Attribute<'_>> = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        if out.len() == MAX_ATTRIBUTES {
            return Err("attribute list longer than 32 attributes");
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or("attribute without a `=` in the attribute list")?;
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err("attribute name outside [A-Z0-9-]");
        }
        if out.iter().any(|a| a.name == name) {
            return Err("attribute repeated in the attribute list");
        }
        let (value, quoted, after_value) = match after.strip_prefix('"') {
            Some(inside) => {
                let (value, after_quote) = inside
                    .split_once('"')
                    .ok_or("unterminated quoted-string in the attribute list")?;
                (value, true, after_quote)
            }
            None => match after.split_once(',') {
                Some((value, tail)) => (value, false, tail),
                None => (after, false, ""),
            },
        };
        rest = if quoted {
            match after_value.strip_prefix(',') {
                Some(tail) => tail,
                None if after_value.is_empty() => "",
                None => return Err("text after a quoted-string in the attribute list"),
            }
        } else {
            after_value
        };
        out.push(Attribute {
            name,
            value,
            quoted,
        });
    }
    Ok(out)
}

/// A decimal-floating-point (rfc8216bis §4.2): digits with at most one `.`, finite.
fn decimal(value: &str) -> Option<f64> {
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let dots = value.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || dots > 1 || digits + dots != value.len() {
        return None;
    }
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A decimal-integer (rfc8216bis §4.2) that fits in 64 bits.
fn integer(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lists() {
        let attrs = attributes("URI=\"a,b.m4s\",DURATION=0.500,INDEPENDENT=YES").unwrap();
        let got: Vec<_> = attrs.iter().map(|a| (a.name, a.value, a.quoted)).collect();
        assert_eq!(
            got,
            [
                ("URI", "a,b.m4s", true),
                ("DURATION", "0.500", false),
                ("INDEPENDENT", "YES", false)
            ]
        );
        assert!(attributes("").unwrap().is_empty());
        for bad in [
            "URI",
            "URI=\"a",
            "URI=\"a\"x",
            "A=1,A=2",
            "a=1",
            "=1",
            "É=1",
        ] {
            assert!(attributes(bad).is_err(), "{bad}");
        }
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("A{i}=1"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(attributes(&list(MAX_ATTRIBUTES)).map(|a| a.len()), Ok(32));
        assert_eq!(
            attributes(&list(MAX_ATTRIBUTES + 1)).map(|a| a.len()),
            Err("attribute list longer than 32 attributes")
        );
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(decimal("2.000"), Some(2.0));
        assert_eq!(decimal("4"), Some(4.0));
        for bad in ["", ".", "1.2.3", "-1", "+1", "1e3", "inf", "NaN", " 1"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
        assert_eq!(decimal(&"9".repeat(400)), None);
        assert_eq!(integer("18446744073709551615"), Some(u64::MAX));
        assert_eq!(integer("18446744073709551616"), None);
        assert_eq!(integer("+1"), None);
    }
}

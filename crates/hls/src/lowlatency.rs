//! Low-Latency HLS tags (draft-pantos-hls-rfc8216bis §4.4.3.7, §4.4.3.8, §4.4.4.9, §4.4.5.2-4).
//!
//! None of these tags needs a higher `EXT-X-VERSION` except `EXT-X-SKIP` (version 9, §8): clients
//! that do not know them ignore them and fall back to regular-latency playback.

use crate::text::{sanitised_seconds, write_quoted_inner, write_seconds};
use std::fmt::Write as _;

/// A Partial Segment (`EXT-X-PART`, rfc8216bis §4.4.4.9): a slice of a Parent Segment published
/// before the whole segment is complete.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PartialSegment {
    /// `URI` of the part, relative to the playlist.
    pub uri: String,
    /// `DURATION` in seconds, written with three decimals.
    pub duration: f64,
    /// Writes `INDEPENDENT=YES`: the part contains an independent frame.
    pub independent: bool,
    /// Writes `GAP=YES`: the part is not available.
    pub gap: bool,
}

impl PartialSegment {
    /// A dependent, available part with a URI and a duration.
    pub fn new(uri: impl Into<String>, duration: f64) -> Self {
        Self {
            uri: uri.into(),
            duration,
            independent: false,
            gap: false,
        }
    }
}

/// `EXT-X-SERVER-CONTROL` (rfc8216bis §4.4.3.8): the delivery directives the server supports.
///
/// The tag is omitted when nothing is set. Some players refuse `CAN-BLOCK-RELOAD=YES` in a playlist
/// with `EXT-X-ENDLIST`, so callers may want to clear it once a stream has ended.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ServerControl {
    /// Writes `CAN-BLOCK-RELOAD=YES`: `_HLS_msn` / `_HLS_part` requests are held until ready.
    pub can_block_reload: bool,
    /// `CAN-SKIP-UNTIL`, the Skip Boundary in seconds: delta updates are offered. The spec requires
    /// at least six Target Durations.
    pub can_skip_until: Option<f64>,
    /// Writes `CAN-SKIP-DATERANGES=YES`; only written together with `CAN-SKIP-UNTIL`, which the
    /// spec requires.
    pub can_skip_dateranges: bool,
    /// `HOLD-BACK` in seconds: at least three Target Durations.
    pub hold_back: Option<f64>,
    /// `PART-HOLD-BACK` in seconds: required with `EXT-X-PART-INF`; the spec's floor is two Part
    /// Target Durations and it recommends three, which [`crate::validate`] enforces.
    pub part_hold_back: Option<f64>,
}

impl ServerControl {
    /// Nothing advertised; set the fields that apply.
    pub fn new() -> Self {
        Self::default()
    }

    fn is_empty(&self) -> bool {
        !self.can_block_reload
            && self.can_skip_until.is_none()
            && self.hold_back.is_none()
            && self.part_hold_back.is_none()
    }
}

/// What a [`PreloadHint`] hints: its `TYPE` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreloadHintKind {
    /// `TYPE=PART`: the next Partial Segment.
    Part,
    /// `TYPE=MAP`: the Media Initialization Section of the next Partial Segment.
    Map,
}

/// `EXT-X-PRELOAD-HINT` (rfc8216bis §4.4.5.3): a resource clients may request before it exists.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PreloadHint {
    /// Whether a part or an initialization section is hinted.
    pub kind: PreloadHintKind,
    /// `URI` of the hinted resource; it must match the URI it will later be listed under.
    pub uri: String,
    /// `BYTERANGE-START`: offset of the hinted bytes in the resource, when not 0.
    pub byterange_start: Option<u64>,
}

impl PreloadHint {
    /// A hint of the next Partial Segment.
    pub fn part(uri: impl Into<String>) -> Self {
        Self {
            kind: PreloadHintKind::Part,
            uri: uri.into(),
            byterange_start: None,
        }
    }

    /// A hint of the Media Initialization Section the next Partial Segment will need.
    pub fn map(uri: impl Into<String>) -> Self {
        Self {
            kind: PreloadHintKind::Map,
            uri: uri.into(),
            byterange_start: None,
        }
    }
}

/// `EXT-X-RENDITION-REPORT` (rfc8216bis §4.4.5.4): how far another rendition has got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenditionReport {
    /// `URI` of that rendition's media playlist, relative to this playlist.
    pub uri: String,
    /// `LAST-MSN`: Media Sequence Number of its last segment, or of its last part if it has parts.
    pub last_msn: u64,
    /// `LAST-PART`: Part Index of its last part within `LAST-MSN`; required when it has parts.
    pub last_part: Option<u64>,
}

impl RenditionReport {
    /// A report of a rendition's last segment and, if it has parts, last part.
    pub fn new(uri: impl Into<String>, last_msn: u64, last_part: Option<u64>) -> Self {
        Self {
            uri: uri.into(),
            last_msn,
            last_part,
        }
    }

    /// Appends the tag line as [`crate::MediaPlaylist::render_into`] writes it, for a server that
    /// appends the reports to a cached playlist (they are its last lines, rfc8216bis §4.4.5.4).
    pub fn render_into(&self, out: &mut String) {
        write_rendition_report(out, self);
    }
}

/// Makes a [`crate::MediaPlaylist`] a Playlist Delta Update (`EXT-X-SKIP`, rfc8216bis §4.4.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skip {
    /// How many leading segments to replace; capped at
    /// [`MediaPlaylist::skippable_segments`](crate::MediaPlaylist::skippable_segments).
    pub skipped_segments: u64,
}

impl Skip {
    /// Skips up to `skipped_segments` leading segments.
    pub fn new(skipped_segments: u64) -> Self {
        Self { skipped_segments }
    }
}

pub(crate) fn write_server_control(out: &mut String, control: &ServerControl) {
    if control.is_empty() {
        return;
    }
    out.push_str("#EXT-X-SERVER-CONTROL:");
    let mut first = true;
    let mut attribute = |out: &mut String, name: &str| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push('=');
    };
    if control.can_block_reload {
        attribute(out, "CAN-BLOCK-RELOAD");
        out.push_str("YES");
    }
    if let Some(until) = control.can_skip_until {
        attribute(out, "CAN-SKIP-UNTIL");
        write_seconds(out, until);
        if control.can_skip_dateranges {
            attribute(out, "CAN-SKIP-DATERANGES");
            out.push_str("YES");
        }
    }
    if let Some(hold_back) = control.hold_back {
        attribute(out, "HOLD-BACK");
        write_seconds(out, hold_back);
    }
    if let Some(part_hold_back) = control.part_hold_back {
        attribute(out, "PART-HOLD-BACK");
        write_seconds(out, part_hold_back);
    }
    out.push('\n');
}

pub(crate) fn write_part_inf(out: &mut String, part_target: f64) {
    out.push_str("#EXT-X-PART-INF:PART-TARGET=");
    write_seconds(out, part_target);
    out.push('\n');
}

pub(crate) fn write_part(out: &mut String, part: &PartialSegment) {
    out.push_str("#EXT-X-PART:DURATION=");
    write_seconds(out, part.duration);
    out.push_str(",URI=\"");
    write_quoted_inner(out, &part.uri);
    out.push('"');
    if part.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    if part.gap {
        out.push_str(",GAP=YES");
    }
    out.push('\n');
}

pub(crate) fn write_preload_hint(out: &mut String, hint: &PreloadHint) {
    out.push_str(match hint.kind {
        PreloadHintKind::Part => "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"",
        PreloadHintKind::Map => "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"",
    });
    write_quoted_inner(out, &hint.uri);
    out.push('"');
    if let Some(start) = hint.byterange_start {
        let _ = write!(out, ",BYTERANGE-START={start}");
    }
    out.push('\n');
}

pub(crate) fn write_rendition_report(out: &mut String, report: &RenditionReport) {
    out.push_str("#EXT-X-RENDITION-REPORT:URI=\"");
    write_quoted_inner(out, &report.uri);
    let _ = write!(out, "\",LAST-MSN={}", report.last_msn);
    if let Some(part) = report.last_part {
        let _ = write!(out, ",LAST-PART={part}");
    }
    out.push('\n');
}

pub(crate) fn write_skip(out: &mut String, skipped_segments: usize) {
    let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped_segments}");
}

/// How many leading segments of `durations` lie entirely farther than `boundary` seconds from the
/// end of the last one (the segments a delta update may replace, rfc8216bis §6.2.5.1).
pub(crate) fn count_skippable(
    durations: impl DoubleEndedIterator<Item = f64>,
    boundary: f64,
) -> usize {
    if !boundary.is_finite() || boundary <= 0.0 {
        return 0;
    }
    // Written durations are rounded to the millisecond, so a client (or the validator) summing
    // them may see up to half a millisecond less per segment than the exact values: demand that
    // much margin so the written delta still covers the Skip Boundary.
    const ROUNDING_MARGIN: f64 = 0.0005;
    let mut after = 0.0_f64;
    let mut later_segments = 0.0_f64;
    let mut remaining_written = 0_usize;
    let mut total = 0_usize;
    for duration in durations.rev() {
        total += 1;
        if after - later_segments * ROUNDING_MARGIN <= boundary {
            remaining_written = total;
        }
        after += sanitised_seconds(duration);
        later_segments += 1.0;
    }
    total - remaining_written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_control_attributes_and_omissions() {
        let mut out = String::new();
        write_server_control(&mut out, &ServerControl::new());
        assert_eq!(out, "");
        let control = ServerControl {
            can_block_reload: true,
            can_skip_until: Some(12.0),
            can_skip_dateranges: true,
            hold_back: Some(6.0),
            part_hold_back: Some(1.5),
        };
        write_server_control(&mut out, &control);
        assert_eq!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,\
             CAN-SKIP-DATERANGES=YES,HOLD-BACK=6.000,PART-HOLD-BACK=1.500\n"
        );
        out.clear();
        let dateranges_alone = ServerControl {
            can_skip_dateranges: true,
            part_hold_back: Some(1.0),
            ..ServerControl::default()
        };
        write_server_control(&mut out, &dateranges_alone);
        assert_eq!(out, "#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=1.000\n");
    }

    #[test]
    fn parts_hints_and_reports_are_sanitised() {
        let mut out = String::new();
        let mut part = PartialSegment::new("a\"b.m4s", f64::NAN);
        part.independent = true;
        part.gap = true;
        write_part(&mut out, &part);
        let mut hint = PreloadHint::map("init\n.mp4");
        hint.byterange_start = Some(10);
        write_preload_hint(&mut out, &hint);
        write_rendition_report(&mut out, &RenditionReport::new("../b.m3u8", 7, None));
        assert_eq!(
            out,
            "#EXT-X-PART:DURATION=0.000,URI=\"ab.m4s\",INDEPENDENT=YES,GAP=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"init.mp4\",BYTERANGE-START=10\n\
             #EXT-X-RENDITION-REPORT:URI=\"../b.m3u8\",LAST-MSN=7\n"
        );
    }

    #[test]
    fn skippable_counts_segments_wholly_beyond_the_boundary() {
        let two = |n: usize| std::iter::repeat_n(2.0, n).collect::<Vec<_>>();
        // Ten 2 s segments, boundary 12 s: segment i ends 2 * (9 - i) s before the end, so
        // segments 0..=2 (18, 16, 14 s) are farther than 12 s; segment 3 (12 s) is not.
        assert_eq!(count_skippable(two(10).into_iter(), 12.0), 3);
        assert_eq!(count_skippable(two(7).into_iter(), 12.0), 0);
        assert_eq!(count_skippable(two(10).into_iter(), f64::NAN), 0);
        assert_eq!(count_skippable(two(10).into_iter(), 0.0), 0);
        assert_eq!(count_skippable(std::iter::empty(), 12.0), 0);
        // NaN and negative durations count as zero, as they are written.
        let odd = vec![f64::NAN, 50.0, -3.0, 1.0];
        assert_eq!(count_skippable(odd.into_iter(), 12.0), 1);
    }
}

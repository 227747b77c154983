//! Parses a rendered media playlist back and checks the numeric rules of
//! draft-pantos-hls-rfc8216bis and Apple's Low-Latency HLS profile, so the packager's and the
//! end-to-end tests can assert on what a player would actually read.
//!
//! The parser is tolerant (unknown tags are ignored, as clients must) and never panics on any
//! input; what it cannot read becomes a [`Violation::Malformed`]. The checks:
//!
//! * every `EXTINF`, rounded to the nearest integer, is at most `EXT-X-TARGETDURATION` (§4.4.3.1);
//! * with `EXT-X-PART-INF`: every part is at most `PART-TARGET`, and at least 85% of it unless it
//!   is `INDEPENDENT=YES` or `GAP=YES`, is followed by a `GAP=YES` part, or is the final part of a
//!   complete parent segment (§4.4.4.9). Trailing parts are never final: a final part is published
//!   together with its parent's `EXTINF`;
//! * with `EXT-X-PART-INF`: `PART-HOLD-BACK` is present and at least three `PART-TARGET`s (the
//!   spec's recommendation, which Apple's tools enforce; its hard floor is two), and, until
//!   `EXT-X-ENDLIST`, `CAN-BLOCK-RELOAD=YES` (Apple's Low-Latency profile);
//! * `HOLD-BACK` is at least three and `CAN-SKIP-UNTIL` at least six target durations (§4.4.3.8);
//! * parts and `EXT-X-PRELOAD-HINT` only with `EXT-X-PART-INF`, no preload hint and no
//!   `EXT-X-SKIP` with `EXT-X-ENDLIST`, `EXT-X-SKIP` only with `CAN-SKIP-UNTIL`, before every
//!   segment, keeping at least `CAN-SKIP-UNTIL` seconds of segments (§6.2.5.1);
//! * `EXTM3U` first, `EXT-X-TARGETDURATION` (at least 1) and `EXT-X-MEDIA-SEQUENCE` present,
//!   playlist tags at most once, and `EXT-X-VERSION` high enough for the tags used (§8).
//!
//! Text longer than [`MAX_PLAYLIST_BYTES`] is not read ([`Violation::TooLarge`]), and an attribute
//! list of more than 32 attributes is malformed, so time and memory stay linear in a bounded input.

mod parse;
mod violation;

pub use violation::Violation;

use crate::lowlatency::{
    PartialSegment, PreloadHint, PreloadHintKind, RenditionReport, ServerControl,
};

/// Slack for comparing decimal values read from text with products of them.
const EPSILON: f64 = 1e-9;

/// Longest text [`validate_media_playlist`] reads, in bytes: several times any playlist a live
/// window renders (at most 1024 segments with their parts, about 1 MB).
pub const MAX_PLAYLIST_BYTES: usize = 8 << 20;

/// One complete media segment as a player reads it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SegmentFacts {
    /// Media Sequence Number, counting skipped segments.
    pub msn: u64,
    /// `EXTINF` duration in seconds.
    pub duration: f64,
    /// The URI line.
    pub uri: String,
    /// Marked `EXT-X-GAP`.
    pub gap: bool,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// Discontinuity Sequence Number (rfc8216bis §6.2.1). A delta update alone cannot count the
    /// discontinuities of the segments it skipped; see [`PlaylistFacts::apply_delta`].
    pub discontinuity_sequence: u64,
    /// URI of the `EXT-X-MAP` in force, if any.
    pub map_uri: Option<String>,
    /// The `EXT-X-PROGRAM-DATE-TIME` value as written.
    pub program_date_time: Option<String>,
    /// Its parts, in order.
    pub parts: Vec<PartialSegment>,
}

/// What a valid media playlist says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlaylistFacts {
    /// `EXT-X-VERSION`, if written.
    pub version: Option<u64>,
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: u64,
    /// `PART-TARGET` of `EXT-X-PART-INF`.
    pub part_target: Option<f64>,
    /// `EXT-X-MEDIA-SEQUENCE`.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-SERVER-CONTROL`.
    pub server_control: Option<ServerControl>,
    /// `SKIPPED-SEGMENTS` of `EXT-X-SKIP` (0 when absent).
    pub skipped_segments: u64,
    /// The complete segments written, oldest first.
    pub segments: Vec<SegmentFacts>,
    /// Parts after the last complete segment.
    pub trailing_parts: Vec<PartialSegment>,
    /// `EXT-X-PRELOAD-HINT`s.
    pub preload_hints: Vec<PreloadHint>,
    /// `EXT-X-RENDITION-REPORT`s, omitted attributes filled in from this playlist (§4.4.5.4).
    pub rendition_reports: Vec<RenditionReport>,
    /// `EXT-X-ENDLIST` present.
    pub end_list: bool,
}

impl PlaylistFacts {
    /// URI of the `TYPE=PART` preload hint.
    pub fn preload_part_uri(&self) -> Option<&str> {
        self.preload_hints
            .iter()
            .find(|h| h.kind == PreloadHintKind::Part)
            .map(|h| h.uri.as_str())
    }

    /// Media Sequence Number of the segment after the last complete one (the trailing parts').
    pub fn next_msn(&self) -> u64 {
        next_msn(
            self.media_sequence,
            self.skipped_segments,
            self.segments.len(),
        )
    }

    /// `LAST-MSN` and `LAST-PART` a rendition report of this playlist would state.
    pub fn last_position(&self) -> Option<(u64, Option<u64>)> {
        last_position(self.next_msn(), &self.segments, &self.trailing_parts)
    }

    /// The complete segment with this Media Sequence Number, if written.
    pub fn segment(&self, msn: u64) -> Option<&SegmentFacts> {
        self.segments.iter().find(|s| s.msn == msn)
    }

    /// This playlist as a client holds it after applying it onto `previous`, an earlier version of
    /// the same rendition: the segments a delta update skipped are taken from `previous`, and the
    /// Discontinuity Sequence Numbers, which a delta alone cannot tell, are counted again. A full
    /// playlist is returned unchanged.
    pub fn apply_delta(&self, previous: &PlaylistFacts) -> Result<PlaylistFacts, Violation> {
        let mut merged = self.clone();
        if self.skipped_segments == 0 {
            return Ok(merged);
        }
        let mut segments = Vec::with_capacity(self.segments.len().saturating_add(64));
        let mut msn = self.media_sequence;
        while msn < self.media_sequence.saturating_add(self.skipped_segments) {
            let segment = previous
                .segment(msn)
                .ok_or(Violation::DeltaNotApplicable { msn })?;
            segments.push(segment.clone());
            msn = msn.saturating_add(1);
        }
        segments.append(&mut merged.segments);
        let mut discontinuity_sequence = self.discontinuity_sequence;
        for segment in &mut segments {
            if segment.discontinuity {
                discontinuity_sequence = discontinuity_sequence.saturating_add(1);
            }
            segment.discontinuity_sequence = discontinuity_sequence;
        }
        merged.segments = segments;
        merged.skipped_segments = 0;
        Ok(merged)
    }
}

/// Parses `text` as a media playlist and checks it; every rule broken is reported.
pub fn validate_media_playlist(text: &str) -> Result<PlaylistFacts, Vec<Violation>> {
    if text.len() > MAX_PLAYLIST_BYTES {
        return Err(vec![Violation::TooLarge {
            len: text.len(),
            max: MAX_PLAYLIST_BYTES,
        }]);
    }
    let mut parsed = parse::parse(text);
    let mut violations = std::mem::take(&mut parsed.violations);
    let media_sequence = parsed.media_sequence.unwrap_or(0);
    let skipped = parsed.skipped_segments.unwrap_or(0);
    let discontinuity_base = parsed.discontinuity_sequence.unwrap_or(0);
    for (index, segment) in parsed.segments.iter_mut().enumerate() {
        segment.msn = media_sequence
            .saturating_add(skipped)
            .saturating_add(index as u64);
        segment.discontinuity_sequence =
            discontinuity_base.saturating_add(segment.discontinuity_sequence);
    }
    check_header(&parsed, &mut violations);
    check_durations(&parsed, &mut violations);
    check_server_control(&parsed, &mut violations);
    check_live_edge(&parsed, &mut violations);

    let next = next_msn(media_sequence, skipped, parsed.segments.len());
    let own = last_position(next, &parsed.segments, &parsed.trailing_parts);
    let mut rendition_reports = Vec::with_capacity(parsed.reports.len());
    for raw in parsed.reports {
        // A server may omit attributes whose value equals this playlist's own report (§4.4.5.4).
        let Some(last_msn) = raw.last_msn.or(own.map(|(msn, _)| msn)) else {
            violations.push(Violation::Malformed {
                line: raw.line,
                what: "EXT-X-RENDITION-REPORT without LAST-MSN in an empty playlist",
            });
            continue;
        };
        let last_part = raw.last_part.or(own.and_then(|(_, part)| part));
        rendition_reports.push(RenditionReport::new(raw.uri, last_msn, last_part));
    }

    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(PlaylistFacts {
        version: parsed.version,
        target_duration: parsed.target_duration.unwrap_or(0),
        part_target: parsed.part_target,
        media_sequence,
        discontinuity_sequence: discontinuity_base,
        server_control: parsed.server_control,
        skipped_segments: skipped,
        segments: parsed.segments,
        trailing_parts: parsed.trailing_parts,
        preload_hints: parsed.preload_hints,
        rendition_reports,
        end_list: parsed.end_list,
    })
}

/// Checks that `EXT-X-TARGETDURATION` and `PART-TARGET` did not change from one version of a
/// playlist to the next (rfc8216bis §6.2.1; players cannot adapt to a new part target either).
pub fn validate_constant_target(
    previous: &PlaylistFacts,
    next: &PlaylistFacts,
) -> Result<(), Violation> {
    if previous.target_duration != next.target_duration {
        return Err(Violation::TargetDurationChanged {
            previous: previous.target_duration,
            next: next.target_duration,
        });
    }
    if previous.part_target != next.part_target {
        return Err(Violation::PartTargetChanged {
            previous: previous.part_target,
            next: next.part_target,
        });
    }
    Ok(())
}

fn next_msn(media_sequence: u64, skipped: u64, segments: usize) -> u64 {
    media_sequence
        .saturating_add(skipped)
        .saturating_add(segments as u64)
}

fn last_position(
    next_msn: u64,
    segments: &[SegmentFacts],
    trailing_parts: &[PartialSegment],
) -> Option<(u64, Option<u64>)> {
    if let Some(last_part) = trailing_parts.len().checked_sub(1) {
        return Some((next_msn, Some(last_part as u64)));
    }
    let last = segments.last()?;
    let part = last.parts.len().checked_sub(1).map(|p| p as u64);
    Some((last.msn, part))
}

fn check_header(parsed: &parse::Parsed, violations: &mut Vec<Violation>) {
    match parsed.target_duration {
        None => violations.push(Violation::MissingTargetDuration),
        Some(0) => violations.push(Violation::ZeroTargetDuration),
        Some(_) => {}
    }
    if parsed.media_sequence.is_none() {
        violations.push(Violation::MissingMediaSequence);
    }
    let declared = parsed.version.unwrap_or(1);
    if declared < parsed.required_version {
        violations.push(Violation::VersionTooLow {
            declared,
            required: parsed.required_version,
        });
    }
}

fn check_durations(parsed: &parse::Parsed, violations: &mut Vec<Violation>) {
    if let Some(target_duration) = parsed.target_duration {
        for segment in &parsed.segments {
            if segment.duration.round() > target_duration as f64 {
                violations.push(Violation::SegmentTooLong {
                    msn: segment.msn,
                    duration: segment.duration,
                    target_duration,
                });
            }
        }
    }
    let Some(part_target) = parsed.part_target else {
        let any_parts = !parsed.trailing_parts.is_empty()
            || parsed.segments.iter().any(|s| !s.parts.is_empty());
        if any_parts {
            violations.push(Violation::PartWithoutPartInf);
        }
        return;
    };
    for segment in &parsed.segments {
        check_parts(segment.msn, &segment.parts, true, part_target, violations);
    }
    let next = next_msn(
        parsed.media_sequence.unwrap_or(0),
        parsed.skipped_segments.unwrap_or(0),
        parsed.segments.len(),
    );
    check_parts(next, &parsed.trailing_parts, false, part_target, violations);
}

fn check_parts(
    msn: u64,
    parts: &[PartialSegment],
    parent_complete: bool,
    part_target: f64,
    violations: &mut Vec<Violation>,
) {
    let minimum = 0.85 * part_target;
    for (index, part) in parts.iter().enumerate() {
        if part.duration > part_target + EPSILON {
            violations.push(Violation::PartTooLong {
                msn,
                index,
                duration: part.duration,
                part_target,
            });
        }
        let next = parts.get(index + 1);
        let exempt = part.independent
            || part.gap
            || next.is_some_and(|n| n.gap)
            || (parent_complete && next.is_none());
        if !exempt && part.duration < minimum - EPSILON {
            violations.push(Violation::PartTooShort {
                msn,
                index,
                duration: part.duration,
                part_target,
            });
        }
    }
}

fn check_server_control(parsed: &parse::Parsed, violations: &mut Vec<Violation>) {
    let control = parsed.server_control.as_ref();
    if let Some(part_target) = parsed.part_target {
        match control.and_then(|c| c.part_hold_back) {
            None => violations.push(Violation::MissingPartHoldBack),
            Some(part_hold_back) if part_hold_back < 3.0 * part_target - EPSILON => {
                violations.push(Violation::PartHoldBackTooSmall {
                    part_hold_back,
                    part_target,
                });
            }
            Some(_) => {}
        }
        // Blocking reload means nothing once the playlist has ended (§6.2.5.2), and some players
        // reject it there, so only a live playlist must offer it.
        if !parsed.end_list && !control.is_some_and(|c| c.can_block_reload) {
            violations.push(Violation::MissingBlockingReload);
        }
    }
    let Some(control) = control else {
        return;
    };
    if let Some(target_duration) = parsed.target_duration {
        let target = target_duration as f64;
        if let Some(hold_back) = control.hold_back.filter(|h| *h < 3.0 * target - EPSILON) {
            violations.push(Violation::HoldBackTooSmall {
                hold_back,
                target_duration,
            });
        }
        if let Some(until) = control
            .can_skip_until
            .filter(|u| *u < 6.0 * target - EPSILON)
        {
            violations.push(Violation::SkipBoundaryTooSmall {
                can_skip_until: until,
                target_duration,
            });
        }
    }
    if control.can_skip_dateranges && control.can_skip_until.is_none() {
        violations.push(Violation::SkipDaterangesWithoutSkipUntil);
    }
}

fn check_live_edge(parsed: &parse::Parsed, violations: &mut Vec<Violation>) {
    if !parsed.preload_hints.is_empty() {
        if parsed.part_target.is_none() {
            violations.push(Violation::PreloadHintWithoutPartInf);
        }
        if parsed.end_list {
            violations.push(Violation::PreloadHintWithEndList);
        }
    }
    let Some(skipped) = parsed.skipped_segments else {
        return;
    };
    if parsed.end_list {
        violations.push(Violation::SkipWithEndList);
    }
    let can_skip_until = parsed
        .server_control
        .as_ref()
        .and_then(|c| c.can_skip_until);
    let Some(can_skip_until) = can_skip_until else {
        violations.push(Violation::SkipWithoutCanSkipUntil);
        return;
    };
    // Every skipped segment must lie farther than the Skip Boundary from the end of the last
    // segment, so the segments kept must add up to at least that much.
    let remaining: f64 = parsed.segments.iter().map(|s| s.duration).sum();
    if skipped > 0 && remaining < can_skip_until - EPSILON {
        violations.push(Violation::SkippedTooMany {
            remaining,
            can_skip_until,
        });
    }
}

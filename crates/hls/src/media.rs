//! Media playlists (RFC 8216 §4.3.3 playlist tags, §4.3.2 segment tags) and their Low-Latency
//! HLS additions (draft-pantos-hls-rfc8216bis §4.4).

use crate::lowlatency::{
    count_skippable, write_part, write_part_inf, write_preload_hint, write_rendition_report,
    write_server_control, write_skip, PartialSegment, PreloadHint, RenditionReport, ServerControl,
    Skip,
};
use crate::text::{write_program_date_time, write_quoted_inner, write_seconds, write_uri_line};
use std::fmt::Write as _;

/// `EXT-X-PLAYLIST-TYPE` (RFC 8216 §4.3.3.5); absent for a live sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    /// Segments are only ever appended.
    Event,
    /// The playlist never changes.
    Vod,
}

/// One media segment of a [`MediaPlaylist`] and the tags that precede its URI.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaSegment {
    /// The segment's URI line, relative to the playlist.
    pub uri: String,
    /// `EXTINF` duration in seconds, written with three decimals.
    pub duration: f64,
    /// Preceded by `EXT-X-DISCONTINUITY` (RFC 8216 §4.3.2.3).
    pub discontinuity: bool,
    /// URI of the Media Initialization Section that applies to this segment. `EXT-X-MAP` is written
    /// before the first segment, whenever it changes and after every discontinuity (§4.3.2.5).
    pub map_uri: Option<String>,
    /// `EXT-X-PROGRAM-DATE-TIME` of the first sample, unix milliseconds (§4.3.2.6).
    pub program_date_time_ms: Option<i64>,
    /// Size of the segment in bytes; for our own bookkeeping, not written.
    pub byte_size: Option<u64>,
    /// The segment's Partial Segments, written as `EXT-X-PART` before its `EXTINF`.
    pub parts: Vec<PartialSegment>,
    /// Writes `EXT-X-GAP` (rfc8216bis §4.4.4.7): the segment holds no media and must not be loaded.
    pub gap: bool,
}

impl MediaSegment {
    /// A segment with just a URI and a duration.
    pub fn new(uri: impl Into<String>, duration: f64) -> Self {
        Self {
            uri: uri.into(),
            duration,
            discontinuity: false,
            map_uri: None,
            program_date_time_ms: None,
            byte_size: None,
            parts: Vec::new(),
            gap: false,
        }
    }
}

/// A media playlist: one rendition's list of segments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaPlaylist {
    /// A minimum `EXT-X-VERSION`; the written value is raised to what the features used require.
    pub version: Option<u8>,
    /// `EXT-X-TARGETDURATION` in whole seconds: every `EXTINF` rounded to the nearest integer
    /// must not exceed it (RFC 8216 §4.3.3.1).
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: the sequence number of the first listed segment.
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE`, written when non-zero.
    pub discontinuity_sequence: u64,
    /// Writes `EXT-X-INDEPENDENT-SEGMENTS`: every segment starts with a sync sample.
    pub independent_segments: bool,
    /// `EXT-X-PLAYLIST-TYPE`, if any.
    pub playlist_type: Option<PlaylistType>,
    /// The listed segments, oldest first.
    pub segments: Vec<MediaSegment>,
    /// Writes `EXT-X-ENDLIST`: no more segments will be added. It also suppresses
    /// [`preload_hints`](Self::preload_hints), which the spec forbids next to it, and
    /// [`skip`](Self::skip), which a server must ignore for an ended playlist.
    pub end_list: bool,
    /// `EXT-X-PART-INF` `PART-TARGET` in seconds (rfc8216bis §4.4.3.7): required with parts.
    pub part_target: Option<f64>,
    /// `EXT-X-SERVER-CONTROL`: the delivery directives this server supports.
    pub server_control: Option<ServerControl>,
    /// Parts of the segment still being produced, written after the last complete segment.
    pub trailing_parts: Vec<PartialSegment>,
    /// Writes `EXT-X-DISCONTINUITY` before the trailing parts: the segment in progress follows a
    /// discontinuity. Ignored without trailing parts.
    pub trailing_discontinuity: bool,
    /// Initialization section of the segment in progress, written before the trailing parts under
    /// the same rules as [`MediaSegment::map_uri`]. Ignored without trailing parts.
    pub trailing_map_uri: Option<String>,
    /// `EXT-X-PROGRAM-DATE-TIME` of the segment in progress, unix milliseconds. Ignored without
    /// trailing parts.
    pub trailing_program_date_time_ms: Option<i64>,
    /// `EXT-X-PRELOAD-HINT`s, at most one per type; not written with `EXT-X-ENDLIST`.
    pub preload_hints: Vec<PreloadHint>,
    /// `EXT-X-RENDITION-REPORT`s of the other renditions.
    pub rendition_reports: Vec<RenditionReport>,
    /// Makes this a Playlist Delta Update: leading segments are replaced by `EXT-X-SKIP`.
    /// `EXT-X-MEDIA-SEQUENCE` still counts the skipped segments, `EXT-X-DISCONTINUITY-SEQUENCE`
    /// is unchanged, and the first written segment repeats the `EXT-X-MAP` it inherits from them.
    pub skip: Option<Skip>,
}

impl MediaPlaylist {
    /// An empty live playlist with the given target duration in seconds.
    pub fn new(target_duration: u64) -> Self {
        Self {
            version: None,
            target_duration,
            media_sequence: 0,
            discontinuity_sequence: 0,
            independent_segments: false,
            playlist_type: None,
            segments: Vec::new(),
            end_list: false,
            part_target: None,
            server_control: None,
            trailing_parts: Vec::new(),
            trailing_discontinuity: false,
            trailing_map_uri: None,
            trailing_program_date_time_ms: None,
            preload_hints: Vec::new(),
            rendition_reports: Vec::new(),
            skip: None,
        }
    }

    /// The lowest `EXT-X-VERSION` the features used need (rfc8216bis §8): 3 for the decimal
    /// `EXTINF` values we always write, 6 for `EXT-X-MAP` outside an I-frame playlist, 9 for
    /// `EXT-X-SKIP`. The other Low-Latency tags and `EXT-X-GAP` need no particular version.
    pub fn required_version(&self) -> u8 {
        if self.written_skip() > 0 {
            9
        } else if self.segments.iter().any(|s| s.map_uri.is_some())
            || (self.trailing_map_uri.is_some() && !self.trailing_parts.is_empty())
        {
            6
        } else {
            3
        }
    }

    /// How many leading segments a delta update may skip: those farther than `CAN-SKIP-UNTIL`
    /// seconds from the end of the last complete segment (the Skip Boundary, rfc8216bis §6.2.5.1).
    /// Zero without `CAN-SKIP-UNTIL` or with `EXT-X-ENDLIST`.
    pub fn skippable_segments(&self) -> u64 {
        if self.end_list {
            return 0;
        }
        let Some(boundary) = self.server_control.as_ref().and_then(|c| c.can_skip_until) else {
            return 0;
        };
        count_skippable(self.segments.iter().map(|s| s.duration), boundary) as u64
    }

    /// The Media Sequence Number and Part Index of the last segment or part listed, as
    /// `EXT-X-RENDITION-REPORT` states them (`LAST-MSN`, `LAST-PART`); `None` when nothing is.
    pub fn last_position(&self) -> Option<(u64, Option<u64>)> {
        let complete = self.segments.len() as u64;
        if let Some(last_part) = self.trailing_parts.len().checked_sub(1) {
            let msn = self.media_sequence.saturating_add(complete);
            return Some((msn, Some(last_part as u64)));
        }
        let last = self.segments.last()?;
        let msn = self.media_sequence.saturating_add(complete - 1);
        Some((msn, last.parts.len().checked_sub(1).map(|p| p as u64)))
    }

    /// The `EXT-X-RENDITION-REPORT` other renditions should carry for this one, found at `uri`.
    pub fn rendition_report(&self, uri: impl Into<String>) -> Option<RenditionReport> {
        let (msn, part) = self.last_position()?;
        Some(RenditionReport::new(uri, msn, part))
    }

    /// The number of leading segments actually replaced by `EXT-X-SKIP`.
    fn written_skip(&self) -> usize {
        let Some(skip) = self.skip else {
            return 0;
        };
        let allowed = skip.skipped_segments.min(self.skippable_segments());
        usize::try_from(allowed)
            .unwrap_or(usize::MAX)
            .min(self.segments.len())
    }

    /// The `EXT-X-VERSION` that will be written.
    pub fn version(&self) -> u8 {
        self.required_version().max(self.version.unwrap_or(0))
    }

    /// Renders the playlist into a new `String`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.estimated_len());
        self.render_into(&mut out);
        out
    }

    /// A capacity hint for [`render_into`](Self::render_into), so rendering allocates once.
    pub fn estimated_len(&self) -> usize {
        let parts =
            |parts: &[PartialSegment]| -> usize { parts.iter().map(|p| 72 + p.uri.len()).sum() };
        let per_segment: usize = self
            .segments
            .iter()
            .map(|s| {
                96 + s.uri.len() + s.map_uri.as_ref().map_or(0, |m| m.len() + 20) + parts(&s.parts)
            })
            .sum();
        let live_edge = parts(&self.trailing_parts)
            + self.trailing_map_uri.as_ref().map_or(0, |m| m.len() + 20)
            + self
                .preload_hints
                .iter()
                .map(|h| 72 + h.uri.len())
                .sum::<usize>()
            + self
                .rendition_reports
                .iter()
                .map(|r| 96 + r.uri.len())
                .sum::<usize>();
        let low_latency_header = if self.server_control.is_some() || self.part_target.is_some() {
            192
        } else {
            0
        };
        192 + low_latency_header + per_segment + live_edge
    }

    /// Appends the playlist text to `out`, in the order of rfc8216bis §4.4: playlist tags, then
    /// `EXT-X-SKIP`, then each segment (`EXT-X-DISCONTINUITY`, `EXT-X-MAP`,
    /// `EXT-X-PROGRAM-DATE-TIME`, its `EXT-X-PART`s, `EXTINF`, `EXT-X-GAP`, URI), then the trailing
    /// parts, preload hints, rendition reports and `EXT-X-ENDLIST`.
    pub fn render_into(&self, out: &mut String) {
        out.push_str("#EXTM3U\n");
        let _ = writeln!(out, "#EXT-X-VERSION:{}", self.version());
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        if let Some(control) = &self.server_control {
            write_server_control(out, control);
        }
        if let Some(part_target) = self.part_target {
            write_part_inf(out, part_target);
        }
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        if self.discontinuity_sequence != 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        match self.playlist_type {
            Some(PlaylistType::Event) => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            Some(PlaylistType::Vod) => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
            None => {}
        }
        if self.independent_segments {
            out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }

        let skipped = self.written_skip();
        if skipped > 0 {
            write_skip(out, skipped);
        }
        // A client applies a delta onto the playlist it already has, but EXT-X-MAP applies to the
        // first written segment too, and EXT-X-SKIP only replaces tags of the skipped ones.
        let inherited_map = self
            .segments
            .iter()
            .take(skipped)
            .rev()
            .find_map(|s| s.map_uri.as_deref());
        let mut current_map: Option<&str> = None;
        for (index, segment) in self.segments.iter().enumerate().skip(skipped) {
            let mut map = segment.map_uri.as_deref();
            if index == skipped {
                map = map.or(inherited_map);
            }
            write_segment_opening(
                out,
                segment.discontinuity,
                map,
                &mut current_map,
                segment.program_date_time_ms,
            );
            // The opening tags apply to the first part too, so they must precede it (§4.4.4.9).
            for part in &segment.parts {
                write_part(out, part);
            }
            out.push_str("#EXTINF:");
            write_seconds(out, segment.duration);
            out.push_str(",\n");
            if segment.gap {
                out.push_str("#EXT-X-GAP\n");
            }
            write_uri_line(out, &segment.uri);
        }
        if !self.trailing_parts.is_empty() {
            write_segment_opening(
                out,
                self.trailing_discontinuity,
                self.trailing_map_uri.as_deref(),
                &mut current_map,
                self.trailing_program_date_time_ms,
            );
            for part in &self.trailing_parts {
                write_part(out, part);
            }
        }
        if !self.end_list {
            for hint in &self.preload_hints {
                write_preload_hint(out, hint);
            }
        }
        for report in &self.rendition_reports {
            write_rendition_report(out, report);
        }
        if self.end_list {
            out.push_str("#EXT-X-ENDLIST\n");
        }
    }
}

/// Writes the tags that open a (possibly still partial) segment. `EXT-X-MAP` is written before
/// the first segment, whenever it changes and after every discontinuity (RFC 8216 §4.3.2.5).
fn write_segment_opening<'a>(
    out: &mut String,
    discontinuity: bool,
    map: Option<&'a str>,
    current_map: &mut Option<&'a str>,
    program_date_time_ms: Option<i64>,
) {
    if discontinuity {
        out.push_str("#EXT-X-DISCONTINUITY\n");
    }
    if let Some(uri) = map {
        if discontinuity || map != *current_map {
            out.push_str("#EXT-X-MAP:URI=\"");
            write_quoted_inner(out, uri);
            out.push_str("\"\n");
        }
    }
    *current_map = map.or(*current_map);
    if let Some(pdt) = program_date_time_ms {
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_program_date_time(out, pdt);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_live_playlist_is_valid() {
        let p = MediaPlaylist::new(2);
        assert_eq!(
            p.render(),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        );
    }

    #[test]
    fn map_repeated_after_discontinuity_and_on_change_only() {
        let mut p = MediaPlaylist::new(2);
        let seg = |uri: &str, map: &str, disc: bool| {
            let mut s = MediaSegment::new(uri, 2.0);
            s.map_uri = Some(map.to_owned());
            s.discontinuity = disc;
            s
        };
        p.segments = vec![
            seg("1.m4s", "init-0.mp4", false),
            seg("2.m4s", "init-0.mp4", false),
            seg("3.m4s", "init-0.mp4", true),
            seg("4.m4s", "init-1.mp4", false),
        ];
        let text = p.render();
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init-0.mp4\"").count(), 2);
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init-1.mp4\"").count(), 1);
        assert!(text.contains("#EXT-X-VERSION:6\n"));
    }

    #[test]
    fn explicit_version_only_raises() {
        let mut p = MediaPlaylist::new(4);
        p.version = Some(7);
        assert_eq!(p.version(), 7);
        p.version = Some(1);
        assert_eq!(p.version(), 3);
    }

    #[test]
    fn estimate_covers_rendered_length() {
        let mut p = MediaPlaylist::new(2);
        p.part_target = Some(0.5);
        p.server_control = Some(ServerControl {
            can_block_reload: true,
            can_skip_until: Some(12.0),
            can_skip_dateranges: true,
            hold_back: Some(6.0),
            part_hold_back: Some(1.5),
        });
        for i in 0..10 {
            let mut s = MediaSegment::new(format!("abc/{i}.m4s"), 2.002);
            s.map_uri = Some("abc/init-0.mp4".into());
            s.program_date_time_ms = Some(1_700_000_000_000);
            s.discontinuity = i == 5;
            s.gap = i == 6;
            for j in 0..4 {
                let mut part = PartialSegment::new(format!("abc/{i}.{j}.m4s"), 0.5);
                part.independent = j == 0;
                part.gap = i == 6;
                s.parts.push(part);
            }
            p.segments.push(s);
        }
        p.trailing_parts = vec![PartialSegment::new("abc/10.0.m4s", 0.5)];
        p.trailing_discontinuity = true;
        p.trailing_map_uri = Some("abc/init-1.mp4".into());
        p.trailing_program_date_time_ms = Some(1_700_000_020_000);
        p.preload_hints = vec![PreloadHint::part("abc/10.1.m4s")];
        p.rendition_reports = vec![RenditionReport::new("../audio/index.m3u8", 10, Some(0))];
        p.skip = Some(Skip::new(2));
        let text = p.render();
        assert!(text.len() <= p.estimated_len());
        p.end_list = true;
        assert!(p.render().len() <= p.estimated_len());
    }

    fn two_second_window(count: u64) -> MediaPlaylist {
        let mut p = MediaPlaylist::new(2);
        p.media_sequence = 100;
        let mut control = ServerControl::new();
        control.can_skip_until = Some(12.0);
        p.server_control = Some(control);
        for msn in 100..100 + count {
            let mut s = MediaSegment::new(format!("{msn}.m4s"), 2.0);
            let init = if msn < 102 {
                "init-0.mp4"
            } else {
                "init-1.mp4"
            };
            s.map_uri = Some(init.into());
            s.discontinuity = msn == 101;
            p.segments.push(s);
        }
        p
    }

    #[test]
    fn delta_update_is_capped_and_repeats_the_inherited_map() {
        let mut p = two_second_window(10);
        assert_eq!(p.skippable_segments(), 3);
        p.skip = Some(Skip::new(50));
        let text = p.render();
        assert!(text.contains("#EXT-X-VERSION:9\n"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n"));
        assert!(text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"));
        assert!(!text.contains("102.m4s") && text.contains("103.m4s"));
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
        assert_eq!(text.matches("#EXT-X-MAP").count(), 1);

        // The map of a skipped segment carries over when the written ones name none.
        for s in &mut p.segments[3..] {
            s.map_uri = None;
        }
        assert!(p
            .render()
            .contains("SKIPPED-SEGMENTS=3\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF"));
    }

    #[test]
    fn skip_is_ignored_when_nothing_may_be_skipped() {
        let mut p = two_second_window(10);
        p.skip = Some(Skip::new(2));
        p.end_list = true;
        assert_eq!(p.skippable_segments(), 0);
        let ended = p.render();
        assert!(!ended.contains("EXT-X-SKIP") && ended.contains("#EXT-X-VERSION:6\n"));

        // Five 2 s segments never reach farther than the 12 s Skip Boundary.
        let mut p = two_second_window(5);
        p.skip = Some(Skip::new(2));
        assert!(!p.render().contains("EXT-X-SKIP"));

        let mut p = two_second_window(10);
        p.skip = Some(Skip::new(2));
        p.server_control = None;
        assert_eq!(p.skippable_segments(), 0);
        assert!(!p.render().contains("EXT-X-SKIP"));
    }

    #[test]
    fn trailing_parts_open_their_segment_and_hints_stop_at_the_end() {
        let mut p = MediaPlaylist::new(2);
        p.part_target = Some(0.5);
        p.trailing_parts = vec![PartialSegment::new("0.0.m4s", 0.5)];
        p.trailing_map_uri = Some("init.mp4".into());
        p.trailing_discontinuity = true;
        p.preload_hints = vec![PreloadHint::part("0.1.m4s")];
        assert_eq!(p.last_position(), Some((0, Some(0))));
        assert_eq!(
            p.render(),
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n\
             #EXT-X-PART-INF:PART-TARGET=0.500\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXT-X-PART:DURATION=0.500,URI=\"0.0.m4s\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"0.1.m4s\"\n"
        );
        p.end_list = true;
        assert!(!p.render().contains("PRELOAD-HINT"));

        p.trailing_parts.clear();
        assert!(!p.render().contains("EXT-X-MAP"));
        assert_eq!(p.required_version(), 3);
        assert_eq!(p.last_position(), None);
    }

    #[test]
    fn rendition_report_of_a_playlist() {
        let mut p = two_second_window(3);
        assert_eq!(
            p.rendition_report("a.m3u8"),
            Some(RenditionReport::new("a.m3u8", 102, None))
        );
        p.segments[2].parts = vec![PartialSegment::new("x", 1.0); 2];
        assert_eq!(p.last_position(), Some((102, Some(1))));
        p.trailing_parts = vec![PartialSegment::new("y", 1.0)];
        assert_eq!(p.last_position(), Some((103, Some(0))));
    }
}

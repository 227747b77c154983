//! Media playlists (RFC 8216 §4.3.3 playlist tags, §4.3.2 segment tags).

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
    /// Writes `EXT-X-ENDLIST`: no more segments will be added.
    pub end_list: bool,
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
        }
    }

    /// The lowest `EXT-X-VERSION` the features used need (RFC 8216 §7): 3 for the decimal
    /// `EXTINF` values we always write, 6 for `EXT-X-MAP` outside an I-frame playlist.
    pub fn required_version(&self) -> u8 {
        if self.segments.iter().any(|s| s.map_uri.is_some()) {
            6
        } else {
            3
        }
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
        let per_segment: usize = self
            .segments
            .iter()
            .map(|s| 96 + s.uri.len() + s.map_uri.as_ref().map_or(0, |m| m.len() + 20))
            .sum();
        192 + per_segment
    }

    /// Appends the playlist text to `out`.
    pub fn render_into(&self, out: &mut String) {
        out.push_str("#EXTM3U\n");
        let _ = writeln!(out, "#EXT-X-VERSION:{}", self.version());
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
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
        // Low-Latency HLS slot: EXT-X-SERVER-CONTROL and EXT-X-PART-INF go here, then EXT-X-SKIP
        // before the first listed segment of a delta update.

        let mut current_map: Option<&str> = None;
        for segment in &self.segments {
            if segment.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let map = segment.map_uri.as_deref();
            if map.is_some() && (segment.discontinuity || map != current_map) {
                out.push_str("#EXT-X-MAP:URI=\"");
                write_quoted_inner(out, map.unwrap_or_default());
                out.push_str("\"\n");
            }
            current_map = map.or(current_map);
            if let Some(pdt) = segment.program_date_time_ms {
                out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
                write_program_date_time(out, pdt);
                out.push('\n');
            }
            // Low-Latency HLS slot: the segment's EXT-X-PART lines precede its EXTINF.
            out.push_str("#EXTINF:");
            write_seconds(out, segment.duration);
            out.push_str(",\n");
            write_uri_line(out, &segment.uri);
        }
        // Low-Latency HLS slot: parts of the segment in progress, EXT-X-PRELOAD-HINT and
        // EXT-X-RENDITION-REPORT follow the last complete segment.
        if self.end_list {
            out.push_str("#EXT-X-ENDLIST\n");
        }
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
        for i in 0..10 {
            let mut s = MediaSegment::new(format!("abc/{i}.m4s"), 2.002);
            s.map_uri = Some("abc/init-0.mp4".into());
            s.program_date_time_ms = Some(1_700_000_000_000);
            s.discontinuity = i == 5;
            p.segments.push(s);
        }
        p.end_list = true;
        let text = p.render();
        assert!(text.len() <= p.estimated_len());
    }
}

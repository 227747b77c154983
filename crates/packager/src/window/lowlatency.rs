//! Low-Latency HLS in the window (rfc8216bis §4.4.3.7-8, §4.4.4.9, §4.4.5, §6.2.5): parts,
//! preload hints, server control, delta updates, rendition reports; and gaps in the numbering.

use super::*;
use crate::{join_parts, LowLatencyConfig};
use ferrocast_hls::{PartialSegment, PreloadHint, RenditionReport, ServerControl, Skip};

/// Parts kept for one unfinished segment at most; more means its segment never came.
const MAX_OPEN_PARTS: usize = 512;
/// Missing media sequence numbers filled with gaps at once at most; beyond, numbering is left
/// to the window (a leader that restarted its count, not segments really missed).
const MAX_GAP_FILL: u64 = 100_000;

/// Low-Latency settings as written.
pub(super) struct LowLatency {
    /// PART-TARGET in seconds, whole milliseconds rounded up.
    part_target: f64,
}

impl LowLatency {
    pub(super) fn new(config: &LowLatencyConfig) -> Self {
        let ms = config.part_target.as_micros().div_ceil(1000).max(1);
        Self {
            part_target: ms as f64 / 1000.0,
        }
    }
}

impl LiveWindow {
    /// Adds a finished part of the segment being produced ([`MediaPart::msn`]; an empty window
    /// starts its numbering there, numbers skipped are gaps). Returns whether the playlist
    /// changed, i.e. whether blocked playlist requests may be answered now.
    ///
    /// With [`WindowConfig::low_latency`] the playlist lists the parts after the last complete
    /// segment (`EXT-X-PART`, URI `{prefix}{msn}.{index}.m4s`), then `EXT-X-PRELOAD-HINT` for the
    /// next one; complete segments keep their parts while they are within three target durations
    /// of the end of the playlist. The last part of a segment is not listed on its own: it is
    /// published with its segment, which follows at once (a short final part listed without its
    /// segment's `EXTINF` would break the 85 % rule). A part with a number already completed is
    /// ignored.
    pub fn push_part(&mut self, part: MediaPart) -> bool {
        if part.msn < self.next_msn {
            tracing::debug!(msn = part.msn, "part of a completed segment; ignored");
            return false;
        }
        let advanced = part.msn > self.next_msn && self.pushed_any;
        self.advance_to(part.msn, part.program_date_time_ms);
        if part.last_in_segment {
            if advanced {
                self.render();
            }
            return advanced;
        }
        if self.open.len() >= MAX_OPEN_PARTS {
            tracing::warn!(
                msn = part.msn,
                "too many parts without their segment; part dropped"
            );
            return false;
        }
        if part.index as usize != self.open.len() {
            tracing::debug!(
                index = part.index,
                position = self.open.len(),
                "part listed at its position, not its index"
            );
        }
        self.held += part.bytes.len();
        self.open.push(part);
        self.ended = false;
        self.pushed_any = true;
        if self.ll.is_some() || advanced {
            self.render();
            return true;
        }
        false
    }

    /// A part still downloadable: of the segment being produced, or of a complete segment still
    /// held (listed or recently removed), sliced from its bytes. Never a gap.
    pub fn part(&self, msn: u64, index: u64) -> Option<ByteChain> {
        let index = usize::try_from(index).ok()?;
        let bytes = if msn == self.next_msn {
            self.open.get(index).map(|p| p.bytes.clone())
        } else {
            let (bytes, parts) = self.stored(msn)?;
            let info = parts.get(index)?;
            Some(ByteChain::new(
                bytes.slice(info.offset, info.offset + info.len),
            ))
        };
        bytes.filter(|b| !b.is_empty())
    }

    /// The last complete part and its parent's media sequence number, or the last segment when
    /// parts are not listed: what `EXT-X-RENDITION-REPORT` states and what a blocking playlist
    /// reload (`_HLS_msn`, `_HLS_part`) waits for. `None` while nothing is listed.
    pub fn last_position(&self) -> Option<(u64, Option<u64>)> {
        if self.ll.is_some() {
            if let Some(last) = self.open.len().checked_sub(1) {
                return Some((self.next_msn, Some(last as u64)));
            }
        }
        let last = self.listed.back()?;
        let part = match self.ll {
            Some(_) => last.segment.parts.len().checked_sub(1).map(|p| p as u64),
            None => None,
        };
        Some((last.msn, part))
    }

    /// This rendition's report for the playlists of the others, found at `uri` from them.
    pub fn rendition_report(&self, uri: &str) -> Option<RenditionReport> {
        let (msn, part) = self.last_position()?;
        Some(RenditionReport::new(uri, msn, part))
    }

    /// The playlist as a Playlist Delta Update (`_HLS_skip=YES`): segments older than
    /// `CAN-SKIP-UNTIL` replaced by `EXT-X-SKIP`. The full playlist when nothing can be skipped
    /// or without Low-Latency HLS. Cached like [`media_playlist`](Self::media_playlist).
    pub fn delta_playlist(&self) -> Bytes {
        self.delta.clone()
    }

    /// [`media_playlist`](Self::media_playlist) followed by `EXT-X-RENDITION-REPORT`s of the
    /// sibling renditions (none once ended).
    pub fn media_playlist_with_reports(&self, reports: &[RenditionReport]) -> Bytes {
        self.with_reports(&self.playlist, reports)
    }

    /// [`delta_playlist`](Self::delta_playlist) followed by `EXT-X-RENDITION-REPORT`s.
    pub fn delta_playlist_with_reports(&self, reports: &[RenditionReport]) -> Bytes {
        self.with_reports(&self.delta, reports)
    }

    /// Reports are the last lines of a playlist (rfc8216bis §4.4.5.4 puts them after the preload
    /// hints), so they are appended to the cached text rather than rendered with it.
    fn with_reports(&self, body: &Bytes, reports: &[RenditionReport]) -> Bytes {
        if reports.is_empty() || self.ended {
            return body.clone();
        }
        let reports_len: usize = reports.iter().map(|r| 80 + r.uri.len()).sum();
        let mut text = String::with_capacity(body.len() + reports_len);
        text.push_str(&String::from_utf8_lossy(body));
        for report in reports {
            report.render_into(&mut text);
        }
        Bytes::from(text)
    }

    /// Adds the Low-Latency tags to the playlist model, when configured.
    pub(super) fn add_low_latency(&self, playlist: &mut ferrocast_hls::MediaPlaylist) {
        let Some(ll) = &self.ll else {
            return;
        };
        let target = self.target_secs as f64;
        playlist.part_target = Some(ll.part_target);
        let mut control = ServerControl::new();
        // Blocking reload means nothing once ended, and some players reject it there.
        control.can_block_reload = !self.ended;
        control.part_hold_back = Some(3.0 * ll.part_target);
        control.can_skip_until = Some(6.0 * target);
        playlist.server_control = Some(control);

        let open_duration: f64 = self.open.iter().map(|p| sane_duration(p.duration)).sum();
        let total = self.listed_duration + open_duration;
        let mut end = 0.0;
        for (listed, segment) in self.listed.iter().zip(playlist.segments.iter_mut()) {
            end += sane_duration(listed.segment.duration);
            // rfc8216bis §4.4.4.9: parts go once more than three target durations from the end.
            if total - end > 3.0 * target + 1e-9 {
                continue;
            }
            segment.parts = listed
                .segment
                .parts
                .iter()
                .enumerate()
                .map(|(i, info)| {
                    self.partial(listed.msn, i, info.duration, info.independent, info.gap)
                })
                .collect();
        }
        if let Some(first) = self.open.first() {
            playlist.trailing_parts = self
                .open
                .iter()
                .enumerate()
                .map(|(i, p)| self.partial(self.next_msn, i, p.duration, p.independent, p.gap))
                .collect();
            playlist.trailing_discontinuity = self.pending_discontinuity;
            playlist.trailing_map_uri = self
                .current_init_id()
                .map(|id| format!("{}init-{id}.mp4", self.prefix));
            playlist.trailing_program_date_time_ms = Some(first.program_date_time_ms);
        }
        if self.current_init_id().is_some() {
            playlist.preload_hints = vec![PreloadHint::part(format!(
                "{}{}.{}.m4s",
                self.prefix,
                self.next_msn,
                self.open.len()
            ))];
        }
    }

    fn partial(
        &self,
        msn: u64,
        index: usize,
        duration: f64,
        independent: bool,
        gap: bool,
    ) -> PartialSegment {
        let mut part = PartialSegment::new(format!("{}{msn}.{index}.m4s", self.prefix), duration);
        part.independent = independent;
        part.gap = gap;
        part
    }

    /// Renders `playlist` (already rendered in full) as a delta update, or shares the full text
    /// when it would be the same.
    pub(super) fn render_delta(&self, playlist: &mut ferrocast_hls::MediaPlaylist) -> Bytes {
        if self.ll.is_none() || playlist.skippable_segments() == 0 {
            return self.playlist.clone();
        }
        playlist.skip = Some(Skip::new(u64::MAX));
        let mut text = String::with_capacity(playlist.estimated_len());
        playlist.render_into(&mut text);
        Bytes::from(text)
    }

    /// Makes `msn` the next number: an empty window starts there; otherwise unfinished parts
    /// become a segment and the numbers skipped become gaps, spread over the program date-time
    /// up to `next_pdt_ms`. Does not render.
    pub(super) fn advance_to(&mut self, msn: u64, next_pdt_ms: i64) {
        if msn <= self.next_msn {
            return;
        }
        if !self.pushed_any {
            self.next_msn = msn;
            return;
        }
        self.seal_open();
        let missing = msn.saturating_sub(self.next_msn);
        if missing == 0 {
            return;
        }
        if missing > MAX_GAP_FILL {
            tracing::warn!(
                msn,
                next = self.next_msn,
                "segment number far ahead; numbered in sequence instead"
            );
            return;
        }
        let target = self.target_secs as f64;
        let last_end = self.listed.back().map(|l| {
            l.segment.program_date_time_ms as f64 + sane_duration(l.segment.duration) * 1000.0
        });
        let spread = last_end.map_or(target, |end| {
            (next_pdt_ms as f64 - end) / 1000.0 / missing as f64
        });
        let duration = if spread.is_finite() {
            spread.clamp(0.001, target)
        } else {
            target
        };
        let mut pdt = last_end.unwrap_or(next_pdt_ms as f64 - duration * 1000.0 * missing as f64);
        tracing::debug!(
            from = self.next_msn,
            to = msn,
            duration,
            "segments missing; listed as gaps"
        );
        for _ in 0..missing {
            let gap = MediaSegment {
                bytes: ByteChain::default(),
                duration,
                start_ms: 0,
                program_date_time_ms: pdt.round() as i64,
                independent: true,
                msn: self.next_msn,
                parts: Vec::new(),
                gap: true,
                views: None,
            };
            pdt += duration * 1000.0;
            self.push_listed(gap);
        }
    }

    /// Lists the parts of the unfinished segment as a segment of their own. Does not render.
    pub(super) fn seal_open(&mut self) {
        let Some(first) = self.open.first() else {
            return;
        };
        let (start_ms, program_date_time_ms, independent) = (
            first.start_ms,
            first.program_date_time_ms,
            first.independent,
        );
        let (bytes, parts) = join_parts(self.open.iter().map(|p| {
            let info = PartInfo::unplaced(p.duration, p.independent, p.gap);
            (&p.bytes, info)
        }));
        let duration = self.open.iter().map(|p| sane_duration(p.duration)).sum();
        tracing::debug!(
            msn = self.next_msn,
            "unfinished segment closed from its parts"
        );
        let segment = MediaSegment {
            bytes,
            duration,
            start_ms,
            program_date_time_ms,
            independent,
            msn: self.next_msn,
            parts,
            gap: false,
            views: None,
        };
        self.push_listed(segment);
    }
}

#[cfg(test)]
mod tests;

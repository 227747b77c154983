//! The sliding window of a live media playlist (RFC 8216 §6.2.2).

use crate::{
    target_duration_secs, InitSegment, MediaPart, MediaSegment, PartInfo, TrackView, TrackViews,
    WindowConfig,
};
use bytes::Bytes;
use ferrocast_media::{ByteChain, TrackKind};
use std::collections::VecDeque;

mod lowlatency;

use lowlatency::LowLatency;

/// Bound on segments kept downloadable after leaving the playlist.
pub const MAX_RETAINED_SEGMENTS: usize = 64;
/// Bound on segments listed, whatever the window and the three-target-duration rule ask.
const MAX_LISTED_SEGMENTS: usize = 1024;

struct Listed {
    msn: u64,
    init_id: Option<u32>,
    discontinuity: bool,
    segment: MediaSegment,
}

struct Retained {
    msn: u64,
    init_id: Option<u32>,
    bytes: ByteChain,
    parts: Vec<PartInfo>,
    views: Option<TrackViews<TrackView>>,
    /// Removed once the media clock passes this (seconds of media pushed).
    expires_at: f64,
}

/// A listed segment, as [`LiveWindow::listed_segments`] shows it.
#[derive(Debug, Clone, Copy)]
pub struct ListedSegment<'a> {
    /// Its media sequence number.
    pub msn: u64,
    /// The init it needs ([`LiveWindow::init`]), `None` before any init was pushed.
    pub init_id: Option<u32>,
    /// Listed after an `EXT-X-DISCONTINUITY`: its timeline does not continue the previous one.
    pub discontinuity: bool,
    /// The segment.
    pub segment: &'a MediaSegment,
}

fn pick<T>(views: &TrackViews<T>, track: TrackKind) -> &T {
    match track {
        TrackKind::Video => &views.video,
        TrackKind::Audio => &views.audio,
    }
}

/// The sliding window of one rendition's live playlist: a bounded ring of segments.
///
/// - Lists the last `window` segments, more only when fewer would make the playlist shorter than
///   three target durations (RFC 8216 §6.2.2). Media sequence numbers never go back.
/// - Keeps removed segments downloadable for their duration plus the duration of the playlist that
///   last listed them (§6.2.2), measured in media time pushed since (the window takes no clock;
///   segments arrive in real time), and at most [`MAX_RETAINED_SEGMENTS`] of them.
/// - Keeps the init segments that listed or retained segments refer to, and the latest one.
/// - `EXT-X-DISCONTINUITY-SEQUENCE` counts the discontinuities that left the playlist (§4.3.3.3).
/// - `EXT-X-INDEPENDENT-SEGMENTS` is written while every listed segment starts with a keyframe
///   (or is audio-only), and omitted while a forced non-keyframe cut is listed: the tag asserts a
///   property of every segment in the playlist, so it must not be written unconditionally.
/// - `EXT-X-PROGRAM-DATE-TIME` on every segment; `EXT-X-MAP` before the first segment, after each
///   discontinuity and whenever the init changes.
///
/// The playlist is rendered when the window changes; [`media_playlist`](Self::media_playlist) hands
/// out the cached `Bytes`.
///
/// **Numbering.** [`push_segment`](Self::push_segment) numbers segments itself, one after the
/// other. [`push_segment_at`](Self::push_segment_at) and [`push_part`](Self::push_part) take the
/// segmenter's numbers instead (needed for parts and for aligned renditions): an empty window
/// starts at the first number it gets, and numbers skipped later are listed as `EXT-X-GAP`
/// segments (their durations spread evenly over the program date-time between their neighbours),
/// so media sequence numbers stay those of the segmenter.
///
/// **Low-Latency HLS** (with [`WindowConfig::low_latency`]): see [`push_part`](Self::push_part).
pub struct LiveWindow {
    prefix: String,
    window: usize,
    target_secs: u64,
    inits: VecDeque<(u32, InitSegment)>,
    next_init_id: u32,
    listed: VecDeque<Listed>,
    listed_duration: f64,
    retained: VecDeque<Retained>,
    next_msn: u64,
    discontinuity_sequence: u64,
    pending_discontinuity: bool,
    ended: bool,
    /// Seconds of media pushed so far: the window's clock.
    media_clock: f64,
    held: usize,
    playlist: Bytes,
    /// Low-Latency settings, when configured.
    ll: Option<LowLatency>,
    /// Parts of the segment being produced (`next_msn`), in order.
    open: Vec<MediaPart>,
    /// The playlist as a delta update (`_HLS_skip=YES`).
    delta: Bytes,
    /// A segment or part was pushed: numbering is established.
    pushed_any: bool,
}

impl LiveWindow {
    /// An empty window; its playlist is valid and lists no segments.
    pub fn new(config: WindowConfig) -> Self {
        let mut window = Self {
            prefix: config.uri_prefix.replace(['\r', '\n', '"'], ""),
            window: config.window.clamp(1, MAX_LISTED_SEGMENTS),
            target_secs: target_duration_secs(config.target_duration),
            inits: VecDeque::new(),
            next_init_id: 0,
            listed: VecDeque::new(),
            listed_duration: 0.0,
            retained: VecDeque::new(),
            next_msn: 0,
            discontinuity_sequence: 0,
            pending_discontinuity: false,
            ended: false,
            media_clock: 0.0,
            held: 0,
            playlist: Bytes::new(),
            ll: config.low_latency.as_ref().map(LowLatency::new),
            open: Vec::new(),
            delta: Bytes::new(),
            pushed_any: false,
        };
        window.render();
        window
    }

    /// Registers a new init segment; following segments reference it via EXT-X-MAP.
    ///
    /// No discontinuity is implied: a changed codec configuration with continuous timestamps only
    /// needs the new EXT-X-MAP. Call [`mark_discontinuity`](Self::mark_discontinuity) when the
    /// timeline restarts (a reconnect).
    pub fn push_init(&mut self, init: InitSegment) -> u32 {
        let id = self.next_init_id;
        self.next_init_id = self.next_init_id.wrapping_add(1);
        self.held += init.bytes.len();
        self.inits.push_back((id, init));
        self.prune_inits();
        id
    }

    /// The next pushed segment starts after an EXT-X-DISCONTINUITY (publisher reconnected).
    ///
    /// Ignored before the first segment: there is nothing to be discontinuous with. Parts of an
    /// unfinished segment are first closed into a segment of their own (normally the segmenter's
    /// [`finish`](crate::LiveSegmenter::finish) has already delivered it).
    pub fn mark_discontinuity(&mut self) {
        if !self.open.is_empty() {
            self.seal_open();
            self.render();
        }
        if self.pushed_any {
            self.pending_discontinuity = true;
        }
    }

    /// Adds a segment, returns its media sequence number ([`next_msn`](Self::next_msn)). It
    /// completes the parts pushed for that number.
    ///
    /// A segment pushed after [`end`](Self::end) makes the playlist live again.
    pub fn push_segment(&mut self, segment: MediaSegment) -> u64 {
        let msn = self.push_listed(segment);
        self.render();
        msn
    }

    /// Adds the segment with media sequence number `msn` (the segmenter's
    /// [`MediaSegment::msn`]); see the type docs for numbering. Returns `None`, ignoring the
    /// segment, when that number is already taken.
    pub fn push_segment_at(&mut self, msn: u64, segment: MediaSegment) -> Option<u64> {
        if msn < self.next_msn {
            tracing::debug!(
                msn,
                next = self.next_msn,
                "segment number already taken; ignored"
            );
            return None;
        }
        self.advance_to(msn, segment.program_date_time_ms);
        Some(self.push_segment(segment))
    }

    /// Media sequence number of the next segment (the one parts are being pushed for).
    pub fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// Lists `segment` as `next_msn` without rendering.
    fn push_listed(&mut self, segment: MediaSegment) -> u64 {
        let msn = self.next_msn;
        self.next_msn += 1;
        self.ended = false;
        self.pushed_any = true;
        // Its own bytes replace those of its parts (the same buffers).
        let open_bytes: usize = self.open.drain(..).map(|p| p.bytes.len()).sum();
        self.held = self.held.saturating_sub(open_bytes);
        let duration = sane_duration(segment.duration);
        self.media_clock += duration;
        self.listed_duration += duration;
        self.held += segment.bytes.len();
        self.listed.push_back(Listed {
            msn,
            init_id: self.current_init_id(),
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
            segment,
        });
        self.slide();
        self.prune_inits();
        msn
    }

    /// Ends the playlist (EXT-X-ENDLIST). Parts of an unfinished segment are first closed into a
    /// segment of their own.
    pub fn end(&mut self) {
        if !self.ended || !self.open.is_empty() {
            self.seal_open();
            self.ended = true;
            self.render();
        }
    }

    /// Whether [`end`](Self::end) was called since the last segment.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The rendered media playlist, cached between changes.
    pub fn media_playlist(&self) -> Bytes {
        self.playlist.clone()
    }

    /// A segment still downloadable (listed or recently removed); never a gap.
    pub fn segment(&self, msn: u64) -> Option<ByteChain> {
        self.stored(msn)
            .map(|(bytes, _)| bytes.clone())
            .filter(|b| !b.is_empty())
    }

    /// The bytes and parts of a complete segment still held.
    fn stored(&self, msn: u64) -> Option<(&ByteChain, &[PartInfo])> {
        if let Some(first) = self.listed.front() {
            if msn >= first.msn {
                let index = usize::try_from(msn - first.msn).ok()?;
                return self
                    .listed
                    .get(index)
                    .map(|l| (&l.segment.bytes, l.segment.parts.as_slice()));
            }
        }
        self.retained
            .iter()
            .find(|r| r.msn == msn)
            .map(|r| (&r.bytes, r.parts.as_slice()))
    }

    /// One track of a segment still downloadable, as its own fragment
    /// ([`MediaSegment::views`]).
    pub fn segment_view(&self, msn: u64, track: TrackKind) -> Option<ByteChain> {
        let views = match self.listed.front() {
            Some(first) if msn >= first.msn => self
                .listed
                .get(usize::try_from(msn - first.msn).ok()?)?
                .segment
                .views
                .as_ref(),
            _ => self.retained.iter().find(|r| r.msn == msn)?.views.as_ref(),
        }?;
        Some(pick(views, track).bytes.clone())
    }

    /// One track of the init segment `msn` needs ([`InitSegment::views`]); the latest init's
    /// when that segment is no longer held (or not made yet), which is what a player joining now
    /// needs.
    pub fn init_view_for(&self, msn: u64, track: TrackKind) -> Option<Bytes> {
        let listed = self.listed.iter().find(|l| l.msn == msn).map(|l| l.init_id);
        let id = listed
            .or_else(|| {
                self.retained
                    .iter()
                    .find(|r| r.msn == msn)
                    .map(|r| r.init_id)
            })
            .flatten()
            .or_else(|| self.current_init_id())?;
        let (_, init) = self.inits.iter().find(|(i, _)| *i == id)?;
        init.views.as_ref().map(|views| pick(views, track).clone())
    }

    /// The listed segments, oldest first: what a DASH manifest's timeline is made of.
    pub fn listed_segments(&self) -> impl Iterator<Item = ListedSegment<'_>> {
        self.listed.iter().map(|l| ListedSegment {
            msn: l.msn,
            init_id: l.init_id,
            discontinuity: l.discontinuity,
            segment: &l.segment,
        })
    }

    /// An init segment still referenced (or the latest one).
    pub fn init(&self, id: u32) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, init)| init.bytes.clone())
    }

    /// The latest init segment with its track configs.
    pub fn current_init(&self) -> Option<&InitSegment> {
        self.inits.back().map(|(_, init)| init)
    }

    /// Segments currently listed.
    pub fn segment_count(&self) -> usize {
        self.listed.len()
    }

    /// Media sequence number of the first listed segment (of the next one when none is listed).
    pub fn media_sequence(&self) -> u64 {
        self.listed.front().map_or(self.next_msn, |l| l.msn)
    }

    /// The current `EXT-X-DISCONTINUITY-SEQUENCE`.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// Peak and average bitrate (bits/s) over the listed segments, for BANDWIDTH/AVERAGE-BANDWIDTH.
    pub fn bitrates(&self) -> Option<(u64, u64)> {
        let mut peak = 0.0f64;
        let mut bits = 0.0f64;
        let mut seconds = 0.0f64;
        for listed in self.listed.iter().filter(|l| !l.segment.gap) {
            let duration = sane_duration(listed.segment.duration);
            let segment_bits = listed.segment.bytes.len() as f64 * 8.0;
            if duration > 0.0 {
                peak = peak.max(segment_bits / duration);
                bits += segment_bits;
                seconds += duration;
            }
        }
        (seconds > 0.0).then(|| (peak.ceil() as u64, (bits / seconds).ceil() as u64))
    }

    /// Bytes held in the ring (listed + retained segments + inits + parts of the open segment).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn current_init_id(&self) -> Option<u32> {
        self.inits.back().map(|(id, _)| *id)
    }

    /// Moves segments beyond the window to the retained list and expires old retained ones.
    fn slide(&mut self) {
        let min_duration = 3.0 * self.target_secs as f64;
        while let Some(front) = self.listed.front() {
            let remaining = self.listed_duration - sane_duration(front.segment.duration);
            let over_window = self.listed.len() > self.window && remaining >= min_duration;
            if !(over_window || self.listed.len() > MAX_LISTED_SEGMENTS) {
                break;
            }
            let playlist_duration = self.listed_duration;
            let Some(removed) = self.listed.pop_front() else {
                break;
            };
            let duration = sane_duration(removed.segment.duration);
            self.listed_duration = remaining.max(0.0);
            if removed.discontinuity {
                // RFC 8216 §6.2.2: removing an EXT-X-DISCONTINUITY increments the sequence.
                self.discontinuity_sequence += 1;
            }
            self.retained.push_back(Retained {
                msn: removed.msn,
                init_id: removed.init_id,
                bytes: removed.segment.bytes,
                parts: removed.segment.parts,
                views: removed.segment.views,
                expires_at: self.media_clock + duration + playlist_duration,
            });
        }
        while let Some(front) = self.retained.front() {
            if front.expires_at > self.media_clock && self.retained.len() <= MAX_RETAINED_SEGMENTS {
                break;
            }
            if let Some(gone) = self.retained.pop_front() {
                self.held = self.held.saturating_sub(gone.bytes.len());
            }
        }
        if self.listed.is_empty() {
            self.listed_duration = 0.0;
        }
    }

    /// Drops init segments no listed or retained segment refers to, except the latest.
    fn prune_inits(&mut self) {
        let latest = self.current_init_id();
        let listed = &self.listed;
        let retained = &self.retained;
        let mut freed = 0;
        self.inits.retain(|(id, init)| {
            let keep = Some(*id) == latest
                || listed.iter().any(|l| l.init_id == Some(*id))
                || retained.iter().any(|r| r.init_id == Some(*id));
            if !keep {
                freed += init.bytes.len();
            }
            keep
        });
        self.held = self.held.saturating_sub(freed);
    }

    fn render(&mut self) {
        let mut playlist = self.playlist_model();
        let mut text = String::with_capacity(playlist.estimated_len().max(self.playlist.len()));
        playlist.render_into(&mut text);
        self.playlist = Bytes::from(text);
        self.delta = self.render_delta(&mut playlist);
    }

    /// The playlist as the typed model the `ferrocast-hls` writer renders.
    fn playlist_model(&self) -> ferrocast_hls::MediaPlaylist {
        let mut playlist = ferrocast_hls::MediaPlaylist::new(self.target_secs);
        playlist.media_sequence = self.media_sequence();
        playlist.discontinuity_sequence = self.discontinuity_sequence;
        playlist.independent_segments =
            !self.listed.is_empty() && self.listed.iter().all(|l| l.segment.independent);
        playlist.end_list = self.ended;
        playlist.segments.reserve(self.listed.len());
        for listed in &self.listed {
            let uri = format!("{}{}.m4s", self.prefix, listed.msn);
            let mut segment = ferrocast_hls::MediaSegment::new(uri, listed.segment.duration);
            segment.discontinuity = listed.discontinuity;
            segment.map_uri = listed
                .init_id
                .map(|id| format!("{}init-{id}.mp4", self.prefix));
            segment.program_date_time_ms = Some(listed.segment.program_date_time_ms);
            segment.byte_size = u64::try_from(listed.segment.bytes.len()).ok();
            segment.gap = listed.segment.gap;
            playlist.segments.push(segment);
        }
        self.add_low_latency(&mut playlist);
        playlist
    }
}

impl std::fmt::Debug for LiveWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveWindow")
            .field("media_sequence", &self.media_sequence())
            .field("listed", &self.listed.len())
            .field("retained", &self.retained.len())
            .field("inits", &self.inits.len())
            .field("discontinuity_sequence", &self.discontinuity_sequence)
            .field("ended", &self.ended)
            .field("open_parts", &self.open.len())
            .field("held_bytes", &self.held)
            .finish()
    }
}

fn sane_duration(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds.clamp(0.0, 1.0e6)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;

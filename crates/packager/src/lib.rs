//! Live packaging: the segmenter (frames in, CMAF init + media segments out) and the sliding
//! window that serves them and renders the media playlist. Time is an input.
//!
//! Specs followed: RFC 8216 (HLS) and its second edition draft (draft-pantos-hls-rfc8216bis) for
//! the playlist rules (target duration §4.3.3.1, discontinuities §4.3.2.3, `EXT-X-MAP` §4.3.2.5,
//! live playlist upkeep §6.2.2, Low-Latency HLS §4.4.3.7-8, §4.4.4.9, §4.4.5, §6.2.5), ISO/IEC
//! 23000-19 (CMAF) and ISO/IEC 14496-12 for the fragments, which `ferrocast-cmaf` writes.
//!
//! Both halves are sans-IO state machines:
//! - [`LiveSegmenter`]: feed [`MediaEvent`](ferrocast_media::MediaEvent)s with [`LiveSegmenter::handle_event`] (and
//!   [`LiveSegmenter::finish`] when the publisher leaves), then drain
//!   [`LiveSegmenter::poll_output`] until it returns `None`.
//! - [`LiveWindow`]: push the outputs in; serve [`LiveWindow::media_playlist`],
//!   [`LiveWindow::segment`] and [`LiveWindow::init`].
//!
//! Timeline choices (see [`LiveSegmenter`] for the details): one timeline origin per publish for
//! both tracks, so audio/video sync is exact; program date-times are media time mapped to the wall
//! clock from the stream start; segments close the instant their closing keyframe arrives.
//!
//! # Low-Latency HLS: parts
//!
//! With [`SegmenterConfig::part_target`] set, the open segment is cut into parts, each its own
//! CMAF fragment, emitted as [`SegmenterOutput::Part`] the moment it closes (when the frame that
//! starts the next one arrives). A segment's bytes are its parts' bytes, shared rather than
//! copied, so a part is a byte range of its segment ([`MediaSegment::parts`] says which). Parts
//! stay within [`SegmenterConfig::declared_part_target`] (the `PART-TARGET` to declare: the
//! configured value plus a few milliseconds for timestamp jitter), and all but the last of a
//! segment are at least 85 % of it.
//!
//! Every part starts with `styp`, like the segment it begins: a part is fetched on its own through
//! its `EXT-X-PART` URI, and `styp` + `moof` + `mdat` is a complete ISO/IEC 14496-12 media segment
//! (§8.16) that fMP4 readers accept by itself; a segment is then a concatenation of such media
//! segments, which readers handle as well (the end-to-end test decodes them with ffmpeg). It costs
//! 20 bytes per part and keeps the segmenter free of box surgery on what `ferrocast-cmaf` writes.
//!
//! Driving a low-latency rendition: configure the window with
//! [`WindowConfig::low_latency`] (the segmenter's declared part target), push every
//! [`SegmenterOutput::Part`] with [`LiveWindow::push_part`] and every segment with
//! [`LiveWindow::push_segment_at`]`(segment.msn, segment)`; give a segmenter that continues a
//! window (a reconnect) [`SegmenterConfig::first_msn`]` = `[`LiveWindow::next_msn`]. URIs are
//! `{prefix}{msn}.m4s` for segments, `{prefix}{msn}.{part}.m4s` for parts and
//! `{prefix}init-{id}.mp4` for inits; serve them with [`LiveWindow::segment`],
//! [`LiveWindow::part`] and [`LiveWindow::init`], delta updates (`_HLS_skip=YES`) with
//! [`LiveWindow::delta_playlist`], and answer blocking reloads (`_HLS_msn`, `_HLS_part`) once
//! [`LiveWindow::last_position`] reaches them. Rendition reports are appended at serving time
//! ([`LiveWindow::media_playlist_with_reports`], [`LiveWindow::rendition_report`]). The last part
//! of a segment is listed together with its segment, which the segmenter emits right after it.
//!
//! # Aligned renditions: leader and followers
//!
//! The renditions of an ABR ladder must share segment and part boundaries and media sequence
//! numbers. The source rendition's segmenter is the leader: every cut it makes is published as a
//! [`Boundary`] ([`LiveSegmenter::poll_boundary`]), stamped with the presentation time of the frame
//! that starts it on the input timeline. Each transcoded rendition has a follower
//! ([`LiveSegmenter::follower`]) fed with those boundaries ([`LiveSegmenter::push_boundary`]) and
//! with the rendition's frames (same timestamps as the source, no B-frames, keyframes at the
//! source's keyframes); it cuts at the first frame whose presentation time reaches a boundary
//! (within [`BOUNDARY_TOLERANCE_MS`]), numbers segments and parts as the leader did, and writes
//! the leader's decode times and program date-times. What a follower has no media for becomes
//! gap parts and gap segments, so numbers never diverge; a late follower starts at the leader's
//! current segment.
//!
//! Driving a ladder: after each leader input, drain its outputs, then hand every
//! [`LiveSegmenter::poll_boundary`] to every follower before feeding them frames of later
//! presentation times; drain each follower into its own window exactly like the leader's (all
//! windows then agree on numbers, so a rendition report is just the sibling window's
//! [`LiveWindow::last_position`]). When a rendition runs at half the source frame rate, set the
//! leader's [`SegmenterConfig::part_frame_step`] to 2 so every part boundary falls on one of its
//! frames. When the publisher leaves, [`LiveSegmenter::finish`] the leader and its followers.
#![forbid(unsafe_code)]

mod segmenter;
mod window;

use bytes::Bytes;
use ferrocast_media::{AudioConfig, ByteChain, VideoConfig};
use std::time::Duration;

pub use segmenter::{
    LiveSegmenter, AUDIO_WAIT_MS, BOUNDARY_TOLERANCE_MS, KEYFRAME_TOLERANCE_MS,
    MAX_OPEN_SEGMENT_BYTES, MAX_OPEN_SEGMENT_SAMPLES, MAX_PENDING_BYTES, MAX_QUEUED_BOUNDARIES,
    PART_TARGET_SLACK_MS,
};
pub use window::{ListedSegment, LiveWindow, MAX_RETAINED_SEGMENTS};

/// Errors of the live packager.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackagerError {
    /// The CMAF writer rejected the track configuration; the stream waits for new configs.
    #[error("building the init segment (video: {video}, audio: {audio})")]
    Init {
        /// Whether a video track was requested.
        video: bool,
        /// Whether an audio track was requested.
        audio: bool,
        /// What the writer said.
        #[source]
        source: ferrocast_cmaf::CmafError,
    },
    /// The CMAF writer failed on a fragment; that segment is lost, the stream continues.
    #[error("building fragment {sequence} (media time {start_ms} ms)")]
    Fragment {
        /// The fragment sequence number that failed.
        sequence: u32,
        /// Media time of the fragment's first sample.
        start_ms: i64,
        /// What the writer said.
        #[source]
        source: ferrocast_cmaf::CmafError,
    },
    /// A [`Boundary`] given to a follower contradicts itself; it was not used.
    #[error("boundary {msn}.{part} refused: {reason}")]
    InvalidBoundary {
        /// Its media sequence number.
        msn: u64,
        /// Its part index.
        part: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Configuration of a [`LiveSegmenter`].
#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Configured segment duration; also the playlist's EXT-X-TARGETDURATION (whole seconds, >= 1).
    pub target_duration: Duration,
    /// Low-Latency HLS: cut segments into parts of about this duration (`None`: one fragment per
    /// segment and no [`SegmenterOutput::Part`]). Clamped to 100 ms ..= the target duration.
    pub part_target: Option<Duration>,
    /// Parts start only on every n-th video frame of a segment (0 and 1: any frame; at most 8,
    /// larger values count as 8: beyond that no frame rate up to 120 fps keeps parts within
    /// PART-TARGET). Set it to 2 when a follower rendition runs at half the frame rate, so every
    /// boundary falls on one of its frames.
    pub part_frame_step: u32,
    /// Media sequence number of the leader's first segment; give a new segmenter that continues a
    /// window (a reconnect) [`LiveWindow::next_msn`], so its outputs and boundaries carry the
    /// window's numbers. Followers take their numbers from the boundaries instead.
    pub first_msn: u64,
    /// Also write every finished segment (not its parts) as one single-track fragment per track,
    /// [`MediaSegment::views`], with single-track inits ([`InitSegment::views`]): what MPEG-DASH
    /// players need (DASH-IF IOP forbids multiplexed representations). Only when the stream has
    /// both tracks; the samples are shared with the muxed segment, only the boxes are new.
    pub track_views: bool,
}

impl SegmenterConfig {
    /// Segments of about `target_duration`, no parts, numbered from 0.
    pub fn new(target_duration: Duration) -> Self {
        Self {
            target_duration,
            part_target: None,
            part_frame_step: 1,
            first_msn: 0,
            track_views: false,
        }
    }

    /// The `PART-TARGET` to declare for these parts: the configured part target (clamped) plus
    /// [`PART_TARGET_SLACK_MS`], whole milliseconds, so that parts of exactly the configured
    /// duration with millisecond timestamps that jitter never exceed it.
    pub fn declared_part_target(&self) -> Option<Duration> {
        let ms = segmenter::part_target_ms(self)?;
        Some(Duration::from_millis(
            u64::try_from(ms + PART_TARGET_SLACK_MS).unwrap_or(0),
        ))
    }
}

/// A new initialization segment: the tracks changed (first start, new sequence header, reconnect).
#[derive(Debug, Clone)]
pub struct InitSegment {
    /// `ftyp` + `moov`.
    pub bytes: Bytes,
    /// The video track's configuration, if the stream has video.
    pub video: Option<VideoConfig>,
    /// The audio track's configuration, if the stream has audio.
    pub audio: Option<AudioConfig>,
    /// Single-track inits (`ftyp` + `moov` of one track), with [`SegmenterConfig::track_views`].
    pub views: Option<TrackViews<Bytes>>,
}

/// The same media as one track per item: what a demultiplexed (DASH) representation serves.
#[derive(Debug, Clone)]
pub struct TrackViews<T> {
    /// The video track alone.
    pub video: T,
    /// The audio track alone.
    pub audio: T,
}

/// One track of a finished segment as a fragment of its own.
#[derive(Debug, Clone)]
pub struct TrackView {
    /// `styp` + `moof` + `mdat` of this track only.
    pub bytes: ByteChain,
    /// Decode time of the first sample, in the track's timescale.
    pub start: u64,
    /// Sum of the sample durations, in the track's timescale.
    pub duration: u64,
    /// Ticks per second (90 000 for video, the sample rate for audio).
    pub timescale: u32,
}

/// Where one part lies inside its finished segment.
#[derive(Debug, Clone, PartialEq)]
pub struct PartInfo {
    /// Offset of the part's first byte in [`MediaSegment::bytes`].
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// Exact duration in seconds (EXT-X-PART DURATION).
    pub duration: f64,
    /// Starts with a video keyframe (or is audio-only): INDEPENDENT=YES.
    pub independent: bool,
    /// A follower had no media for this part (`len` is 0): GAP=YES.
    pub gap: bool,
}

impl PartInfo {
    /// What is listed about a part, before [`join_parts`] places it in its segment.
    pub(crate) fn unplaced(duration: f64, independent: bool, gap: bool) -> Self {
        Self {
            offset: 0,
            len: 0,
            duration,
            independent,
            gap,
        }
    }
}

/// A segment's bytes made of its parts', sharing their buffers (no copy), and where each part
/// lies in them: `parts` gives each part's bytes and its [`PartInfo::unplaced`].
pub(crate) fn join_parts<'a>(
    parts: impl IntoIterator<Item = (&'a ByteChain, PartInfo)>,
) -> (ByteChain, Vec<PartInfo>) {
    let mut pieces = Vec::new();
    let mut infos = Vec::new();
    let mut offset = 0;
    for (bytes, mut info) in parts {
        pieces.extend(bytes.parts().iter().cloned());
        info.offset = offset;
        info.len = bytes.len();
        offset += bytes.len();
        infos.push(info);
    }
    (ByteChain::new(pieces), infos)
}

/// A finished media segment.
#[derive(Debug, Clone)]
pub struct MediaSegment {
    /// `styp` + `moof` + `mdat`, once per part when the segment has parts; empty for a gap.
    pub bytes: ByteChain,
    /// Exact duration in seconds (EXTINF).
    pub duration: f64,
    /// Media time of the first sample, ms on the stream's timeline.
    pub start_ms: i64,
    /// Wall-clock time of the first sample, unix ms (EXT-X-PROGRAM-DATE-TIME).
    pub program_date_time_ms: i64,
    /// Starts with a video keyframe (or is audio-only).
    pub independent: bool,
    /// Media sequence number the segmenter gave it (see [`SegmenterConfig::first_msn`]).
    pub msn: u64,
    /// Its parts, in order; empty without [`SegmenterConfig::part_target`].
    pub parts: Vec<PartInfo>,
    /// A follower had no media for this segment (its parts are all gaps): listed with EXT-X-GAP
    /// so that media sequence numbers stay those of the leader.
    pub gap: bool,
    /// The segment as single-track fragments, with [`SegmenterConfig::track_views`]; `None` for a
    /// gap, a single-track stream, or a segment with no sample of one of the tracks.
    pub views: Option<TrackViews<TrackView>>,
}

/// A finished part (Low-Latency HLS Partial Segment) of the open segment.
#[derive(Debug, Clone)]
pub struct MediaPart {
    /// `styp` + `moof` + `mdat`; the same buffers reappear in its segment's bytes.
    pub bytes: ByteChain,
    /// Exact duration in seconds (EXT-X-PART DURATION).
    pub duration: f64,
    /// Starts with a video keyframe (or is audio-only): INDEPENDENT=YES.
    pub independent: bool,
    /// Media time of the first sample, ms on the stream's timeline.
    pub start_ms: i64,
    /// Wall-clock time of the first sample, unix ms.
    pub program_date_time_ms: i64,
    /// Media sequence number of the segment it belongs to.
    pub msn: u64,
    /// Part index within that segment, from 0.
    pub index: u32,
    /// The last part of its segment: the [`SegmenterOutput::Segment`] follows at once.
    pub last_in_segment: bool,
    /// A follower had no media for this part (`bytes` is empty): listed with GAP=YES.
    pub gap: bool,
}

/// What a [`Boundary`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryKind {
    /// A new segment (and its part 0).
    SegmentStart,
    /// A new part within the open segment.
    PartStart,
}

/// A cut made by a leader segmenter, for followers to make the same one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boundary {
    /// Presentation time (dts + cts, ms) of the frame that starts the segment or part, as it came
    /// in: the input timeline, before any correction of timestamp jumps.
    pub at_pts_ms: i64,
    /// Media sequence number of the segment started or continued.
    pub msn: u64,
    /// Part index within that segment (0 for a segment start).
    pub part: u32,
    /// Segment or part start.
    pub kind: BoundaryKind,
    /// The starting frame is a keyframe (or audio).
    pub independent: bool,
    /// Presentation time of that frame on the leader's media timeline (ms from its decode-time
    /// origin), so that followers write the same timestamps (RFC 8216 §6.2.4).
    pub media_ms: i64,
    /// Program date-time of that frame, unix ms, so that followers write the same PDTs.
    pub program_date_time_ms: i64,
}

/// What the segmenter produces, in order.
#[derive(Debug, Clone)]
pub enum SegmenterOutput {
    /// Register with [`LiveWindow::push_init`] before the segments that follow it.
    Init(InitSegment),
    /// Register with [`LiveWindow::push_part`]; only with [`SegmenterConfig::part_target`].
    Part(MediaPart),
    /// Register with [`LiveWindow::push_segment`] (or [`LiveWindow::push_segment_at`] with
    /// parts or as a follower).
    Segment(MediaSegment),
}

/// Low-Latency HLS settings of a [`LiveWindow`].
#[derive(Debug, Clone)]
pub struct LowLatencyConfig {
    /// The declared `PART-TARGET`: [`LiveSegmenter::declared_part_target`]. `PART-HOLD-BACK` is
    /// three times this, `CAN-SKIP-UNTIL` six target durations, `CAN-BLOCK-RELOAD=YES`.
    pub part_target: Duration,
}

impl LowLatencyConfig {
    /// Low-Latency HLS with this declared part target.
    pub fn new(part_target: Duration) -> Self {
        Self { part_target }
    }
}

/// Configuration of a [`LiveWindow`].
#[derive(Debug, Clone)]
pub struct WindowConfig {
    /// The segmenter's target duration; EXT-X-TARGETDURATION is its whole seconds, rounded up.
    pub target_duration: Duration,
    /// Segments listed in the playlist.
    pub window: usize,
    /// Prefix of segment and init URIs in the playlist, e.g. `"k3x9/"`.
    pub uri_prefix: String,
    /// Render Low-Latency HLS (parts, preload hints, server control, delta updates).
    pub low_latency: Option<LowLatencyConfig>,
}

impl WindowConfig {
    /// A regular-latency window.
    pub fn new(target_duration: Duration, window: usize, uri_prefix: impl Into<String>) -> Self {
        Self {
            target_duration,
            window,
            uri_prefix: uri_prefix.into(),
            low_latency: None,
        }
    }
}

/// EXT-X-TARGETDURATION for a configured target: whole seconds, rounded up, at least 1.
pub fn target_duration_secs(target: Duration) -> u64 {
    let secs = target.as_secs() + u64::from(target.subsec_nanos() > 0);
    secs.clamp(1, MAX_TARGET_SECS)
}

/// Largest target duration honoured, in seconds.
const MAX_TARGET_SECS: u64 = 60;

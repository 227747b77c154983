//! Live packaging: the segmenter (frames in, CMAF init + media segments out) and the sliding
//! window that serves them and renders the media playlist. Time is an input.
//!
//! Specs followed: RFC 8216 (HLS) and its second edition draft for the playlist rules (target
//! duration §4.3.3.1, discontinuities §4.3.2.3, `EXT-X-MAP` §4.3.2.5, live playlist upkeep §6.2.2),
//! ISO/IEC 23000-19 (CMAF) and ISO/IEC 14496-12 for the fragments, which `ferrocast-cmaf` writes.
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
#![forbid(unsafe_code)]

mod segmenter;
mod window;

use bytes::Bytes;
use ferrocast_media::{AudioConfig, ByteChain, VideoConfig};
use std::time::Duration;

pub use segmenter::{
    LiveSegmenter, AUDIO_WAIT_MS, KEYFRAME_TOLERANCE_MS, MAX_OPEN_SEGMENT_BYTES,
    MAX_OPEN_SEGMENT_SAMPLES, MAX_PENDING_BYTES,
};
pub use window::{LiveWindow, MAX_RETAINED_SEGMENTS};

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
}

/// Configuration of a [`LiveSegmenter`].
#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Configured segment duration; also the playlist's EXT-X-TARGETDURATION (whole seconds, >= 1).
    pub target_duration: Duration,
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
}

/// A finished media segment.
#[derive(Debug, Clone)]
pub struct MediaSegment {
    /// `styp` + `moof` + `mdat`.
    pub bytes: ByteChain,
    /// Exact duration in seconds (EXTINF).
    pub duration: f64,
    /// Media time of the first sample, ms on the stream's timeline.
    pub start_ms: i64,
    /// Wall-clock time of the first sample, unix ms (EXT-X-PROGRAM-DATE-TIME).
    pub program_date_time_ms: i64,
    /// Starts with a video keyframe (or is audio-only).
    pub independent: bool,
}

/// What the segmenter produces, in order.
#[derive(Debug, Clone)]
pub enum SegmenterOutput {
    /// Register with [`LiveWindow::push_init`] before the segments that follow it.
    Init(InitSegment),
    /// Register with [`LiveWindow::push_segment`].
    Segment(MediaSegment),
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
}

/// EXT-X-TARGETDURATION for a configured target: whole seconds, rounded up, at least 1.
pub fn target_duration_secs(target: Duration) -> u64 {
    let secs = target.as_secs() + u64::from(target.subsec_nanos() > 0);
    secs.clamp(1, MAX_TARGET_SECS)
}

/// Largest target duration honoured, in seconds.
const MAX_TARGET_SECS: u64 = 60;

//! Live packaging: the segmenter (frames in, CMAF init + media segments out) and the sliding
//! window that serves them and renders the media playlist. Time is an input.
//!
//! INTERFACE STUB: the owner replaces the bodies; keep the public signatures (additions are fine).
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

use bytes::Bytes;
use ferrocast_media::{AudioConfig, MediaEvent, VideoConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackagerError {
    #[error("stub")]
    Stub,
}

#[derive(Debug, Clone)]
pub struct SegmenterConfig {
    /// Configured segment duration; also the playlist's EXT-X-TARGETDURATION (whole seconds, >= 1).
    pub target_duration: Duration,
}

/// A new initialization segment: the tracks changed (first start, new sequence header, reconnect).
#[derive(Debug, Clone)]
pub struct InitSegment {
    pub bytes: Bytes,
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
}

/// A finished media segment.
#[derive(Debug, Clone)]
pub struct MediaSegment {
    pub bytes: Bytes,
    /// Exact duration in seconds (EXTINF).
    pub duration: f64,
    /// Media time of the first sample, ms on the stream's timeline.
    pub start_ms: i64,
    /// Wall-clock time of the first sample, unix ms (EXT-X-PROGRAM-DATE-TIME).
    pub program_date_time_ms: i64,
    /// Starts with a video keyframe (or is audio-only).
    pub independent: bool,
}

#[derive(Debug, Clone)]
pub enum SegmenterOutput {
    Init(InitSegment),
    Segment(MediaSegment),
}

pub struct LiveSegmenter {}

impl LiveSegmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        todo!()
    }
    /// `now_ms` is the wall clock (unix ms) when the event arrived.
    pub fn handle_event(&mut self, now_ms: i64, event: &MediaEvent) -> Result<(), PackagerError> {
        todo!()
    }
    /// The publisher went away: close the open segment.
    pub fn finish(&mut self, now_ms: i64) {
        todo!()
    }
    pub fn poll_output(&mut self) -> Option<SegmenterOutput> {
        todo!()
    }
}

#[derive(Debug, Clone)]
pub struct WindowConfig {
    pub target_duration: Duration,
    /// Segments listed in the playlist.
    pub window: usize,
    /// Prefix of segment and init URIs in the playlist, e.g. `"k3x9/"`.
    pub uri_prefix: String,
}

/// The sliding window of one rendition's live playlist: a bounded ring of segments.
pub struct LiveWindow {}

impl LiveWindow {
    pub fn new(config: WindowConfig) -> Self {
        todo!()
    }
    /// Registers a new init segment; following segments reference it via EXT-X-MAP.
    pub fn push_init(&mut self, init: InitSegment) -> u32 {
        todo!()
    }
    /// The next pushed segment starts after an EXT-X-DISCONTINUITY (publisher reconnected).
    pub fn mark_discontinuity(&mut self) {
        todo!()
    }
    /// Adds a segment, returns its media sequence number.
    pub fn push_segment(&mut self, segment: MediaSegment) -> u64 {
        todo!()
    }
    /// Ends the playlist (EXT-X-ENDLIST).
    pub fn end(&mut self) {
        todo!()
    }
    pub fn is_ended(&self) -> bool {
        todo!()
    }
    /// The rendered media playlist, cached between changes.
    pub fn media_playlist(&self) -> Bytes {
        todo!()
    }
    /// A segment still downloadable (listed or recently removed).
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        todo!()
    }
    pub fn init(&self, id: u32) -> Option<Bytes> {
        todo!()
    }
    /// The latest init segment with its track configs.
    pub fn current_init(&self) -> Option<&InitSegment> {
        todo!()
    }
    /// Segments currently listed.
    pub fn segment_count(&self) -> usize {
        todo!()
    }
    /// Peak and average bitrate (bits/s) over the listed segments, for BANDWIDTH/AVERAGE-BANDWIDTH.
    pub fn bitrates(&self) -> Option<(u64, u64)> {
        todo!()
    }
    /// Bytes held in the ring (listed + retained segments + inits).
    pub fn held_bytes(&self) -> usize {
        todo!()
    }
}

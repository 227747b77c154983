//! Video on demand, sans-IO: what to make of an upload and how to package it.
//!
//! No processes, files or async here; the server runs ffprobe/ffmpeg and moves bytes.
//!
//! - [`probe`](mod@probe): ffprobe's JSON into [`ProbedSource`], [`validate`] against [`Limits`],
//!   [`Refusal`]s a person understands ([`sniff`], [`refusal_from_ffprobe_error`]), and the
//!   demuxer allow-list [`ALLOWED_DEMUXERS`].
//! - [`vod_rungs`]: the renditions of an upload (the top at its own size, then the ladder's lower
//!   rungs, never upscaled).
//! - [`args`](mod@args): ffprobe/ffmpeg command lines: probe, the one-decode transcode into one
//!   FLV per rung plus an audio FLV, the MP4 download, poster, sprite (+ [`thumbnails_vtt`]) and
//!   the quality check.
//! - [`VodSegmenter`] / [`FlvTrackPackager`]: one track of an FLV into a CMAF init segment and
//!   media segments cut at keyframes every ~4 s; [`render_package`]: the VOD media playlists,
//!   `master.m3u8` with an `EXT-X-MEDIA` audio group, the static `manifest.mpd` and `meta.json`
//!   ([`PackageSummary`]).
//!
//! Specifications followed: RFC 8216 (HLS: `EXT-X-PLAYLIST-TYPE:VOD` §4.3.3.5, `EXT-X-MAP`
//! §4.3.2.5, `EXT-X-MEDIA` §4.3.4.1, `BANDWIDTH`/`AVERAGE-BANDWIDTH` §4.3.4.2: peak and average
//! segment bit rate of the variant including its audio), ISO/IEC 23009-1 (DASH, static MPD with
//! `SegmentTimeline`), ISO/IEC 23000-19 (CMAF) through `ferrocast-cmaf`, WebVTT with Media
//! Fragments (`#xywh=`) for the sprite index.
#![forbid(unsafe_code)]

pub mod args;
mod flv;
mod package;
mod plan;
pub mod probe;
mod segment;

pub use args::{
    mp4_args, poster_args, probe_args, progress_seconds, sprite_args, sprite_plan, thumbnails_vtt,
    transcode_args, verify_decode_args, verify_probe_args, SpritePlan,
};
pub use flv::FlvTrackPackager;
pub use package::{
    media_playlist, render_package, PackageSummary, RenderedPackage, RenditionSummary, AUDIO_GROUP,
    SEGMENT_TARGET_S,
};
pub use plan::{top_kbps, vod_rungs, VodRung, DEFAULT_FPS, MAX_RUNG_FPS, TOP_KBPS_BY_HEIGHT};
pub use probe::{
    parse_ffprobe_json, refusal_from_ffprobe_error, sniff, validate, AudioStream, Limits,
    ProbeError, ProbedSource, Refusal, VideoStream, ALLOWED_DEMUXERS,
};
pub use segment::{SegmentInfo, TrackSummary, VodOutput, VodSegment, VodSegmenter};

use ferrocast_media::TrackKind;

/// Errors of the VOD building blocks (not refusals of an upload: those are [`Refusal`]s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VodError {
    /// A path that is not UTF-8 cannot be put on ffmpeg's command line as a `file:` URL.
    #[error("path {path:?} is not UTF-8")]
    NonUtf8Path {
        /// The path, lossily.
        path: String,
    },
    /// No rung and no audio: nothing to run.
    #[error("nothing to encode: no rung and no audio")]
    NothingToEncode,
    /// One output path per rung is needed.
    #[error("{rungs} rungs but {outputs} output paths")]
    OutputCountMismatch {
        /// Rungs given.
        rungs: usize,
        /// Paths given.
        outputs: usize,
    },
    /// An x264 preset that is not a plain lowercase word.
    #[error("x264 preset {preset:?} is not a lowercase word")]
    InvalidPreset {
        /// The preset.
        preset: String,
    },
    /// An FLV intermediate could not be read.
    #[error("reading the FLV: {0}")]
    Flv(#[from] ferrocast_flv::FlvError),
    /// The CMAF writer refused a track or fragment.
    #[error("writing CMAF: {0}")]
    Cmaf(#[from] ferrocast_cmaf::CmafError),
    /// A frame came before its track's decoder configuration.
    #[error("{track:?} frame before the track's configuration")]
    NoConfig {
        /// The track.
        track: TrackKind,
    },
    /// The decoder configuration changed mid-file.
    #[error("the {track:?} configuration changed mid-file")]
    ConfigChanged {
        /// The track.
        track: TrackKind,
    },
    /// The track had a configuration but no frame.
    #[error("the {track:?} track has no frames")]
    Empty {
        /// The track.
        track: TrackKind,
    },
    /// No keyframe for [`segment::MAX_SEGMENT_MS`](crate::VodSegmenter).
    #[error("no keyframe for over a minute from {at_ms} ms")]
    NoKeyframe {
        /// Start of the open segment, ms.
        at_ms: i64,
    },
    /// A segment grew beyond its bound.
    #[error("a segment grew to {bytes} bytes")]
    SegmentTooLarge {
        /// Its size so far.
        bytes: usize,
    },
    /// Input after [`VodSegmenter::finish`].
    #[error("the segmenter has finished")]
    Finished,
    /// A package needs at least one video rendition.
    #[error("no video rendition to package")]
    NoRenditions,
    /// A rendition's segments do not line up with the top rendition's.
    #[error("rendition {rung} has {segments} segments not aligned with the top one's {expected}")]
    Misaligned {
        /// The rung.
        rung: String,
        /// Its segment count.
        segments: usize,
        /// The top rung's.
        expected: usize,
    },
    /// `meta.json` could not be written.
    #[error("serialising meta.json: {0}")]
    Json(#[source] serde_json::Error),
}

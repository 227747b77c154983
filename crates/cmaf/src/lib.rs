//! CMAF / fragmented MP4 writer. INTERFACE STUB: the owner fills it in.
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::todo, unused)]

use bytes::Bytes;
use ferrocast_media::{AudioConfig, VideoConfig};

/// Track id of the video track in every init segment we write.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track in every init segment we write.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Media timescale of video tracks (90 kHz: exact for millisecond input).
pub const VIDEO_TIMESCALE: u32 = 90_000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmafError {
    #[error("stub")]
    Stub,
}

/// One sample of a fragment, times in its track's timescale.
#[derive(Debug, Clone)]
pub struct Sample {
    pub duration: u32,
    pub composition_offset: i32,
    pub keyframe: bool,
    pub data: Bytes,
}

/// One track's run of samples inside a fragment.
#[derive(Debug, Clone)]
pub struct TrackRun<'a> {
    pub track_id: u32,
    /// tfdt baseMediaDecodeTime in the track's timescale.
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
}

/// `ftyp` + `moov` (with `mvex`) for the tracks present; audio timescale = its sample rate.
pub fn init_segment(video: Option<&VideoConfig>, audio: Option<&AudioConfig>) -> Result<Bytes, CmafError> {
    todo!()
}

/// `styp` + `moof` (one `traf` per track) + one `mdat`, allocated once.
pub fn fragment(sequence_number: u32, tracks: &[TrackRun<'_>]) -> Result<Bytes, CmafError> {
    todo!()
}

//! CMAF / fragmented MP4 writer: init segments and fragments.
//!
//! Specifications followed:
//! - ISO/IEC 14496-12 (ISO base media file format): `ftyp`, `moov`, `mvex`/`trex`, `styp`, `moof`,
//!   `traf`/`tfhd`/`tfdt`/`trun`, `mdat` and the sample flags of §8.8.3.1;
//! - ISO/IEC 14496-15 §5.3.4 (`avc1` sample entry with `avcC`);
//! - ISO/IEC 14496-14 §3.1.2 and 14496-1 §7.2.6 (`esds` and its descriptors) for AAC;
//! - ISO/IEC 23000-19 (CMAF) §7: a header whose `moov` holds no samples, fragments with one `moof`
//!   and one `mdat`, `tfdt` in every `traf`, data offsets relative to the `moof`.
//!
//! Sans-IO: both functions return the finished bytes. The fragment writer sizes everything first
//! and allocates once, since it runs for every fragment of every live stream.
#![forbid(unsafe_code)]

mod error;
mod fragment;
mod init;
mod writer;

use bytes::Bytes;

pub use error::CmafError;
pub use fragment::{fragment, fragment_chain, NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS};
pub use init::init_segment;

/// Track id of the video track in every init segment we write.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track in every init segment we write.
pub const AUDIO_TRACK_ID: u32 = 2;
/// Media timescale of video tracks (90 kHz: exact for millisecond input).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// One sample of a fragment, times in its track's timescale.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Decode duration: the next sample's decode time minus this one's.
    pub duration: u32,
    /// Presentation time minus decode time (may be negative).
    pub composition_offset: i32,
    /// A sync sample (IDR picture; every AAC frame).
    pub keyframe: bool,
    /// The sample bytes: AVCC length-prefixed NAL units, or one raw AAC frame.
    pub data: Bytes,
}

/// One track's run of samples inside a fragment.
#[derive(Debug, Clone)]
pub struct TrackRun<'a> {
    /// The track's id in the init segment ([`VIDEO_TRACK_ID`] or [`AUDIO_TRACK_ID`]).
    pub track_id: u32,
    /// tfdt baseMediaDecodeTime in the track's timescale.
    pub base_decode_time: u64,
    /// The samples, in decode order; at least one.
    pub samples: &'a [Sample],
}

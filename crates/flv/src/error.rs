//! The one error type of this crate.

use ferrocast_media::TrackKind;

use crate::{SoundFormat, VideoCodec};

/// Why a tag, a codec configuration or an FLV file could not be read.
///
/// Every error from [`TagDemuxer`](crate::TagDemuxer) concerns one tag only: the demuxer's state is
/// unchanged by it, so the caller may log the error and keep feeding tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlvError {
    /// A tag body is shorter than its headers.
    #[error("{track:?} tag at {timestamp} ms is {len} bytes, shorter than the {needed} its header needs")]
    TruncatedTag {
        /// The tag's track.
        track: TrackKind,
        /// The tag's raw timestamp.
        timestamp: u32,
        /// Bytes present.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// A video codec other than H.264 in a legacy header, or any Enhanced RTMP codec.
    #[error("unsupported video codec {codec}")]
    UnsupportedVideoCodec {
        /// The codec as signalled.
        codec: VideoCodec,
    },
    /// An audio format other than AAC.
    #[error("unsupported audio format {format}")]
    UnsupportedAudioCodec {
        /// The SoundFormat as signalled.
        format: SoundFormat,
    },
    /// A coded frame arrived before any sequence header on its track.
    #[error("{track:?} frame at {timestamp} ms arrived before its sequence header")]
    MissingSequenceHeader {
        /// The frame's track.
        track: TrackKind,
        /// The frame's raw timestamp.
        timestamp: u32,
    },
    /// The AVCDecoderConfigurationRecord is malformed.
    #[error("invalid AVCDecoderConfigurationRecord at byte {offset}: {reason}")]
    InvalidAvcConfig {
        /// Offset into the record where reading failed.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The first sequence parameter set is malformed.
    #[error("invalid H.264 SPS at bit {bit_offset} of its RBSP: {reason}")]
    InvalidSps {
        /// Bit offset into the SPS RBSP (emulation prevention removed) where reading failed.
        bit_offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The AudioSpecificConfig is malformed or uses a feature we do not read.
    #[error("invalid AudioSpecificConfig at bit {bit_offset}: {reason}")]
    InvalidAudioConfig {
        /// Bit offset into the AudioSpecificConfig where reading failed.
        bit_offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The FLV file header is malformed.
    #[error("invalid FLV file header: {reason}")]
    InvalidFileHeader {
        /// What was wrong.
        reason: &'static str,
    },
    /// An FLV file ends inside a tag.
    #[error("FLV file truncated at byte {offset}: need {needed} bytes, {available} left")]
    TruncatedFile {
        /// File offset of the structure being read.
        offset: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the input.
        available: u64,
    },
    /// An FLV file tag is larger than the reader's cap.
    #[error("FLV tag at byte {offset} declares {size} bytes, over the cap of {max}")]
    TagTooLarge {
        /// File offset of the tag header.
        offset: u64,
        /// Declared DataSize.
        size: u32,
        /// The reader's cap.
        max: u32,
    },
}

impl FlvError {
    /// True when the track uses a codec we do not carry; the caller should drop that track.
    pub fn is_unsupported_codec(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedVideoCodec { .. } | Self::UnsupportedAudioCodec { .. }
        )
    }
}

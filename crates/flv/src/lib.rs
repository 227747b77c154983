//! FLV tag payloads into media events, and a reader for FLV files.
//!
//! Specifications followed:
//! - Adobe Flash Video File Format Specification 10.1, Annex E (FLV file structure, AUDIODATA,
//!   VIDEODATA, AACAUDIODATA, AVCVIDEOPACKET, `onMetaData`);
//! - ISO/IEC 14496-15 §5.3.3.1 (AVCDecoderConfigurationRecord);
//! - ITU-T H.264 §7.3.2.1.1 (sequence parameter set: size, cropping, profile and level);
//! - ISO/IEC 14496-3 §1.6.2.1 (AudioSpecificConfig) and RFC 6381 §3.3 (codec strings).
//!
//! Everything here is sans-IO: [`TagDemuxer`] takes the body of one RTMP audio or video message
//! (an FLV tag body) at a time, and [`FlvReader`] walks an FLV file already in memory;
//! [`FlvWriter`] goes the other way, from media events to an FLV byte stream.
#![forbid(unsafe_code)]

mod aac;
mod avc;
mod bits;
mod error;
mod metadata;
mod reader;
mod stream;
mod timestamp;
mod writer;

use std::fmt;

use bytes::Bytes;
use ferrocast_media::{AudioConfig, Frame, MediaEvent, TrackKind, VideoConfig};

pub use aac::parse_audio_specific_config;
pub use avc::parse_avc_config;
pub use error::FlvError;
pub use metadata::{parse_metadata, MAX_ENCODER_NAME_LEN};
pub use reader::{FlvReader, FlvTag, TagType, DEFAULT_MAX_TAG_SIZE};
pub use stream::{FlvStreamReader, MAX_STREAM_DATA_OFFSET};
pub use timestamp::TimestampUnwrapper;
pub use writer::{FlvWriteError, FlvWriter, MAX_FLV_TAG_SIZE};

/// FLV VIDEODATA CodecID (4 bits), kept open so unknown ids can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoCodecId(pub u8);

impl VideoCodecId {
    /// Sorenson H.263.
    pub const SORENSON_H263: Self = Self(2);
    /// Screen video.
    pub const SCREEN_VIDEO: Self = Self(3);
    /// On2 VP6.
    pub const VP6: Self = Self(4);
    /// On2 VP6 with alpha channel.
    pub const VP6_ALPHA: Self = Self(5);
    /// Screen video version 2.
    pub const SCREEN_VIDEO_2: Self = Self(6);
    /// AVC (H.264), the only one we carry.
    pub const AVC: Self = Self(7);
}

/// A video codec as a VIDEODATA header signals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// A legacy FLV CodecID.
    Legacy(VideoCodecId),
    /// An Enhanced RTMP FourCC (e.g. `hvc1`, `av01`, `vp09`).
    Enhanced([u8; 4]),
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Legacy(VideoCodecId(id)) => write!(f, "FLV CodecID {id}"),
            Self::Enhanced(fourcc) => {
                f.write_str("Enhanced RTMP FourCC '")?;
                for &b in fourcc {
                    write!(f, "{}", std::ascii::escape_default(b))?;
                }
                f.write_str("'")
            }
        }
    }
}

/// FLV AUDIODATA SoundFormat (4 bits), kept open so unknown formats can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundFormat(pub u8);

impl SoundFormat {
    /// Linear PCM, platform endian.
    pub const PCM: Self = Self(0);
    /// ADPCM.
    pub const ADPCM: Self = Self(1);
    /// MP3.
    pub const MP3: Self = Self(2);
    /// Nellymoser.
    pub const NELLYMOSER: Self = Self(6);
    /// G.711 A-law.
    pub const G711_ALAW: Self = Self(7);
    /// G.711 mu-law.
    pub const G711_MULAW: Self = Self(8);
    /// Enhanced RTMP's extended audio header (ExHeader).
    pub const EX_HEADER: Self = Self(9);
    /// AAC, the only one we carry.
    pub const AAC: Self = Self(10);
    /// Speex.
    pub const SPEEX: Self = Self(11);
}

impl fmt::Display for SoundFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SoundFormat {}", self.0)
    }
}

/// VIDEODATA FrameType of a key frame (FLV 10.1 §E.4.3.1).
const FRAME_TYPE_KEY: u8 = 1;
/// VIDEODATA FrameType of a video info/command frame, which carries no picture.
const FRAME_TYPE_COMMAND: u8 = 5;
/// Enhanced RTMP: the top bit of the first VIDEODATA byte is IsExHeader.
const VIDEO_EX_HEADER: u8 = 0x80;

/// AVCPacketType / AACPacketType values.
const PACKET_SEQUENCE_HEADER: u8 = 0;
const PACKET_CODED: u8 = 1;
const PACKET_END_OF_SEQUENCE: u8 = 2;

/// VIDEODATA header (1) + AVCPacketType (1) + CompositionTime (3).
const AVC_HEADER_LEN: usize = 5;
/// AUDIODATA header (1) + AACPacketType (1).
const AAC_HEADER_LEN: usize = 2;

/// Turns RTMP/FLV audio and video tag bodies into [`MediaEvent`]s: unwraps 32-bit ms timestamps,
/// parses sequence headers, strips FLV framing so frames carry only codec data.
///
/// - One [`TimestampUnwrapper`] is shared by audio and video, since RTMP stamps both on one clock;
///   every tag passed in, even one that fails to parse, moves it.
/// - A sequence header identical to the current one yields `Ok(None)`; a changed one yields a new
///   config event.
/// - A coded frame before its track's first sequence header is
///   [`FlvError::MissingSequenceHeader`]; an empty coded frame, an AVC end of sequence and a video
///   command frame yield `Ok(None)`.
/// - Errors concern one tag only and leave the demuxer as it was: log them and keep going. On
///   [`FlvError::is_unsupported_codec`] the caller should drop that track.
#[derive(Debug, Default)]
pub struct TagDemuxer {
    clock: TimestampUnwrapper,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
}

impl TagDemuxer {
    /// A demuxer that has seen no tag.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current video configuration, if a sequence header has been seen.
    pub fn video_config(&self) -> Option<&VideoConfig> {
        self.video.as_ref()
    }

    /// The current audio configuration, if a sequence header has been seen.
    pub fn audio_config(&self) -> Option<&AudioConfig> {
        self.audio.as_ref()
    }

    /// Demuxes one tag of an FLV file: audio and video as [`Self::audio`]/[`Self::video`]; script
    /// data and other types yield `Ok(None)`.
    pub fn tag(&mut self, tag: &FlvTag) -> Result<Option<MediaEvent>, FlvError> {
        match tag.kind {
            TagType::AUDIO => self.audio(tag.timestamp, tag.body.clone()),
            TagType::VIDEO => self.video(tag.timestamp, tag.body.clone()),
            _ => Ok(None),
        }
    }

    /// An audio tag body (AUDIODATA) with its 32-bit wrapping ms timestamp.
    /// Returns None for tags that carry nothing for us (e.g. an AAC end of sequence).
    pub fn audio(
        &mut self,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<Option<MediaEvent>, FlvError> {
        let dts = self.clock.unwrap(timestamp);
        let Some(&header) = payload.first() else {
            return Err(truncated(TrackKind::Audio, timestamp, 0, 1));
        };
        let format = SoundFormat(header >> 4);
        if format != SoundFormat::AAC {
            return Err(FlvError::UnsupportedAudioCodec { format });
        }
        // "If the SoundFormat indicates AAC, the SoundType should be set to 1 (stereo) and the
        // SoundRate should be set to 3 (44 kHz)": the real values come from the AudioSpecificConfig.
        let Some(&packet_type) = payload.get(1) else {
            return Err(truncated(
                TrackKind::Audio,
                timestamp,
                payload.len(),
                AAC_HEADER_LEN,
            ));
        };
        let body = payload.slice(AAC_HEADER_LEN..);
        match packet_type {
            PACKET_SEQUENCE_HEADER => {
                if self.audio.as_ref().is_some_and(|c| c.asc == body) {
                    return Ok(None);
                }
                let config = parse_audio_specific_config(body)?;
                self.audio = Some(config.clone());
                Ok(Some(MediaEvent::AudioConfig(config)))
            }
            PACKET_CODED => {
                if self.audio.is_none() {
                    return Err(FlvError::MissingSequenceHeader {
                        track: TrackKind::Audio,
                        timestamp,
                    });
                }
                if body.is_empty() {
                    return Ok(None);
                }
                Ok(Some(MediaEvent::Frame(Frame {
                    kind: TrackKind::Audio,
                    dts,
                    cts: 0,
                    keyframe: true,
                    data: body,
                })))
            }
            // Unknown AACPacketType values carry nothing we know how to use.
            _ => Ok(None),
        }
    }

    /// A video tag body (VIDEODATA) with its 32-bit wrapping ms timestamp.
    pub fn video(
        &mut self,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<Option<MediaEvent>, FlvError> {
        let dts = self.clock.unwrap(timestamp);
        let Some(&header) = payload.first() else {
            return Err(truncated(TrackKind::Video, timestamp, 0, 1));
        };
        if header & VIDEO_EX_HEADER != 0 {
            // Enhanced RTMP: [IsExHeader | FrameType:3 | PacketType:4] then a FourCC.
            let fourcc = payload
                .get(1..5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .ok_or_else(|| truncated(TrackKind::Video, timestamp, payload.len(), 5))?;
            return Err(FlvError::UnsupportedVideoCodec {
                codec: VideoCodec::Enhanced(fourcc),
            });
        }
        let frame_type = header >> 4;
        let codec = VideoCodecId(header & 0x0f);
        if codec != VideoCodecId::AVC {
            return Err(FlvError::UnsupportedVideoCodec {
                codec: VideoCodec::Legacy(codec),
            });
        }
        if frame_type == FRAME_TYPE_COMMAND {
            return Ok(None);
        }
        let Some(&[_, packet_type, c0, c1, c2]) = payload.get(..AVC_HEADER_LEN) else {
            return Err(truncated(
                TrackKind::Video,
                timestamp,
                payload.len(),
                AVC_HEADER_LEN,
            ));
        };
        let body = payload.slice(AVC_HEADER_LEN..);
        match packet_type {
            PACKET_SEQUENCE_HEADER => {
                if self.video.as_ref().is_some_and(|c| c.avc_config == body) {
                    return Ok(None);
                }
                let config = parse_avc_config(body)?;
                self.video = Some(config.clone());
                Ok(Some(MediaEvent::VideoConfig(config)))
            }
            PACKET_CODED => {
                if self.video.is_none() {
                    return Err(FlvError::MissingSequenceHeader {
                        track: TrackKind::Video,
                        timestamp,
                    });
                }
                if body.is_empty() {
                    return Ok(None);
                }
                // CompositionTime is an SI24: sign-extend through the top byte of an i32.
                let cts = i32::from_be_bytes([c0, c1, c2, 0]) >> 8;
                Ok(Some(MediaEvent::Frame(Frame {
                    kind: TrackKind::Video,
                    dts,
                    cts,
                    keyframe: frame_type == FRAME_TYPE_KEY,
                    data: body,
                })))
            }
            PACKET_END_OF_SEQUENCE => Ok(None),
            _ => Ok(None),
        }
    }
}

fn truncated(track: TrackKind, timestamp: u32, len: usize, needed: usize) -> FlvError {
    FlvError::TruncatedTag {
        track,
        timestamp,
        len,
        needed,
    }
}

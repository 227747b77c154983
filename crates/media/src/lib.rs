//! Media types shared by every stage of the live pipeline.
//!
//! Ingest (RTMP/FLV) produces [`MediaEvent`]s; the hub fans them out; the packager turns them into
//! CMAF segments. Timestamps are milliseconds on one unwrapped, signed 64-bit timeline per stream,
//! because that is RTMP's resolution and avoids a rescale on the ingest hot path.
#![forbid(unsafe_code)]

use bytes::Bytes;

/// Which elementary stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// H.264 video.
    Video,
    /// AAC audio.
    Audio,
}

/// H.264 decoder configuration, taken from the AVC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) exactly as received; goes into `avcC`.
    pub avc_config: Bytes,
    /// Coded picture width in pixels after cropping, from the first SPS.
    pub width: u32,
    /// Coded picture height in pixels after cropping, from the first SPS.
    pub height: u32,
    /// RFC 6381 codec string, `avc1.PPCCLL`, from the actual SPS bytes.
    pub codec_string: String,
    /// Size in bytes of the NAL unit length prefix used in frames (1, 2 or 4).
    pub nal_length_size: u8,
}

/// AAC decoder configuration, taken from the AAC sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) exactly as received; goes into `esds`.
    pub asc: Bytes,
    /// Audio object type (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AACv2).
    pub object_type: u8,
    /// Sampling frequency of the core decoder in Hz.
    pub sample_rate: u32,
    /// Channel count (from the channel configuration).
    pub channels: u8,
    /// Samples per access unit (1024 for AAC-LC, 960 for the 960-frame variant).
    pub samples_per_frame: u32,
    /// RFC 6381 codec string, `mp4a.40.N`.
    pub codec_string: String,
}

/// Stream-level facts from `@setDataFrame`/`onMetaData`; every field optional because encoders differ.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetadata {
    /// Declared frame rate.
    pub frame_rate: Option<f64>,
    /// Declared video bitrate in kbit/s.
    pub video_kbps: Option<f64>,
    /// Declared audio bitrate in kbit/s.
    pub audio_kbps: Option<f64>,
    /// Declared width.
    pub width: Option<f64>,
    /// Declared height.
    pub height: Option<f64>,
    /// Whether the publisher says it sends video (`videocodecid` present or `hasVideo`).
    pub has_video: Option<bool>,
    /// Whether the publisher says it sends audio (`audiocodecid` present or `hasAudio`).
    pub has_audio: Option<bool>,
    /// The encoder's name, for logs.
    pub encoder: Option<String>,
}

/// One access unit: a video picture (AVCC length-prefixed NAL units) or one raw AAC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Which track this belongs to.
    pub kind: TrackKind,
    /// Decode timestamp, milliseconds on the stream's unwrapped timeline.
    pub dts: i64,
    /// Composition offset (pts - dts) in milliseconds; zero for audio.
    pub cts: i32,
    /// A sync sample: an IDR picture for video, always true for audio.
    pub keyframe: bool,
    /// The payload, shared with the ingest buffer rather than copied.
    pub data: Bytes,
}

impl Frame {
    /// Presentation timestamp in milliseconds.
    pub fn pts(&self) -> i64 {
        self.dts + i64::from(self.cts)
    }
}

/// What ingest hands to the hub, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A new or changed video decoder configuration; frames after it use it.
    VideoConfig(VideoConfig),
    /// A new or changed audio decoder configuration; frames after it use it.
    AudioConfig(AudioConfig),
    /// Stream metadata from the publisher.
    Metadata(StreamMetadata),
    /// A media frame.
    Frame(Frame),
}

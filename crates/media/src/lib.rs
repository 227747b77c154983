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

/// Bytes stored as an ordered list of shared buffers: a media segment that references the
/// received frames instead of copying them into one allocation. Cloning is one refcount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByteChain {
    parts: std::sync::Arc<[Bytes]>,
    len: usize,
}

impl ByteChain {
    /// Joins `parts` (empty ones are dropped).
    pub fn new(parts: Vec<Bytes>) -> Self {
        let parts: Vec<Bytes> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let len = parts.iter().map(Bytes::len).sum();
        Self {
            parts: parts.into(),
            len,
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the chain holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffers, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    /// The buffers covering `start..end` (clamped to the chain), sliced without copying.
    pub fn slice(&self, start: usize, end: usize) -> Vec<Bytes> {
        let end = end.min(self.len);
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let mut offset = 0;
        for part in self.parts.iter() {
            let (part_start, part_end) = (offset, offset + part.len());
            offset = part_end;
            if part_end <= start {
                continue;
            }
            if part_start >= end {
                break;
            }
            let from = start.saturating_sub(part_start);
            let to = end.min(part_end) - part_start;
            out.push(part.slice(from..to));
        }
        out
    }

    /// One contiguous copy (tests, small consumers).
    pub fn to_bytes(&self) -> Bytes {
        match &*self.parts {
            [] => Bytes::new(),
            [one] => one.clone(),
            parts => {
                let mut v = Vec::with_capacity(self.len);
                for p in parts {
                    v.extend_from_slice(p);
                }
                Bytes::from(v)
            }
        }
    }
}

impl From<Bytes> for ByteChain {
    fn from(b: Bytes) -> Self {
        Self::new(vec![b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_across_parts_without_copying() {
        let chain = ByteChain::new(vec![
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"h"),
        ]);
        assert_eq!(chain.len(), 8);
        assert_eq!(chain.parts().len(), 3);
        assert_eq!(chain.to_bytes(), Bytes::from_static(b"abcdefgh"));
        let join = |v: Vec<Bytes>| v.concat();
        assert_eq!(join(chain.slice(0, 8)), b"abcdefgh");
        assert_eq!(join(chain.slice(2, 5)), b"cde");
        assert_eq!(join(chain.slice(3, 7)), b"defg");
        assert_eq!(join(chain.slice(7, 100)), b"h");
        assert!(chain.slice(8, 9).is_empty());
        assert!(chain.slice(5, 5).is_empty());
    }
}

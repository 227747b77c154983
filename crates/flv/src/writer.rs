//! Media events back into an FLV byte stream (FLV 10.1 Annex E), e.g. for an encoder's stdin.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_amf0::Value;
use ferrocast_media::{Frame, MediaEvent, StreamMetadata, TrackKind};

use crate::reader::TagType;
use crate::reader::{PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_LEN};
use crate::{SoundFormat, VideoCodecId, FRAME_TYPE_KEY, PACKET_CODED, PACKET_SEQUENCE_HEADER};

/// Largest tag body the FLV format can describe: DataSize is 24 bits.
pub const MAX_FLV_TAG_SIZE: u32 = (1 << 24) - 1;

/// VIDEODATA FrameType of an inter frame.
const FRAME_TYPE_INTER: u8 = 2;
/// VIDEODATA CodecID of AVC.
const CODEC_AVC: u8 = VideoCodecId::AVC.0;
/// AUDIODATA header byte for AAC: SoundFormat 10, and the rate/size/type the spec requires for
/// AAC (44 kHz, 16-bit, stereo) whatever the real ones, which the AudioSpecificConfig carries.
const AAC_AUDIO_HEADER: u8 = (SoundFormat::AAC.0 << 4) | 0x0f;
/// FLV header flags.
const HEADER_FLAG_AUDIO: u8 = 0x04;
const HEADER_FLAG_VIDEO: u8 = 0x01;
/// SI24 range of CompositionTime.
const CTS_MIN: i32 = -(1 << 23);
const CTS_MAX: i32 = (1 << 23) - 1;

/// Why an event could not be written; the writer's state is unchanged and nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlvWriteError {
    /// A decode timestamp outside the 32-bit unsigned milliseconds FLV tags carry.
    #[error("{track:?} timestamp {dts} ms is outside FLV's 0..=4294967295 ms")]
    TimestampOutOfRange {
        /// The frame's track.
        track: TrackKind,
        /// The frame's decode timestamp.
        dts: i64,
    },
    /// A video composition offset outside the signed 24-bit CompositionTime field.
    #[error("composition time {cts} ms at {dts} ms does not fit FLV's signed 24 bits")]
    CompositionTimeOutOfRange {
        /// The frame's decode timestamp.
        dts: i64,
        /// The composition offset.
        cts: i32,
    },
    /// An audio frame with a non-zero composition offset, which AACAUDIODATA cannot carry.
    #[error("audio frame at {dts} ms has composition offset {cts} ms; FLV audio has none")]
    AudioCompositionTime {
        /// The frame's decode timestamp.
        dts: i64,
        /// The composition offset.
        cts: i32,
    },
    /// A tag body over the writer's cap.
    #[error("{kind:?} tag body of {size} bytes is over the cap of {max}")]
    TagTooLarge {
        /// The tag's type.
        kind: TagType,
        /// The body size.
        size: usize,
        /// The writer's cap.
        max: u32,
    },
    /// A frame or configuration of a track the FLV header does not declare.
    #[error("{track:?} event on a writer created without that track")]
    UndeclaredTrack {
        /// The event's track.
        track: TrackKind,
    },
    /// A frame before any configuration of its track: a decoder could not use it.
    #[error("{track:?} frame at {dts} ms before its track's configuration")]
    MissingSequenceHeader {
        /// The frame's track.
        track: TrackKind,
        /// The frame's decode timestamp.
        dts: i64,
    },
}

/// Writes [`MediaEvent`]s as FLV tags: the inverse of [`FlvReader`](crate::FlvReader) plus
/// [`TagDemuxer`](crate::TagDemuxer).
///
/// - Configurations become sequence headers, frames become coded tags, metadata becomes an
///   `onMetaData` script tag (an ECMA array holding only the fields that are set).
/// - Configuration and metadata events carry no time, so their tags take the timestamp of the
///   last frame written (0 before the first). A reader unwraps timestamps relative to the previous
///   tag, so a stream whose first frame is 2^31 ms or more after 0 should be rebased first.
/// - Empty frames are written as they are; readers (ours included) skip them.
/// - Every tag is followed by its `PreviousTagSize`, so the output after [`Self::header`] can be
///   cut after any event.
#[derive(Debug, Clone)]
pub struct FlvWriter {
    has_video: bool,
    has_audio: bool,
    video_configured: bool,
    audio_configured: bool,
    last_timestamp: u32,
    max_tag_size: u32,
}

impl FlvWriter {
    /// A writer whose header declares the given tracks; events of other tracks are refused.
    pub fn new(has_video: bool, has_audio: bool) -> Self {
        Self {
            has_video,
            has_audio,
            video_configured: false,
            audio_configured: false,
            last_timestamp: 0,
            max_tag_size: MAX_FLV_TAG_SIZE,
        }
    }

    /// Lowers the tag body cap (e.g. to a reader's limit); values above the format's are clamped.
    pub fn with_max_tag_size(mut self, max: u32) -> Self {
        self.max_tag_size = max.min(MAX_FLV_TAG_SIZE);
        self
    }

    /// The FLV file header followed by PreviousTagSize0.
    pub fn header(&self) -> Bytes {
        let mut flags = 0;
        if self.has_audio {
            flags |= HEADER_FLAG_AUDIO;
        }
        if self.has_video {
            flags |= HEADER_FLAG_VIDEO;
        }
        let mut out = BytesMut::with_capacity(13);
        out.put_slice(b"FLV\x01");
        out.put_u8(flags);
        out.put_u32(9);
        out.put_u32(0);
        out.freeze()
    }

    /// Appends the tag for `event` (and its PreviousTagSize) to `out`.
    pub fn write_event(
        &mut self,
        event: &MediaEvent,
        out: &mut BytesMut,
    ) -> Result<(), FlvWriteError> {
        match event {
            MediaEvent::VideoConfig(config) => {
                self.check_declared(TrackKind::Video)?;
                let header = [
                    (FRAME_TYPE_KEY << 4) | CODEC_AVC,
                    PACKET_SEQUENCE_HEADER,
                    0,
                    0,
                    0,
                ];
                let ts = self.last_timestamp;
                self.put_tag(out, TagType::VIDEO, ts, &header, &config.avc_config)?;
                self.video_configured = true;
            }
            MediaEvent::AudioConfig(config) => {
                self.check_declared(TrackKind::Audio)?;
                let header = [AAC_AUDIO_HEADER, PACKET_SEQUENCE_HEADER];
                let ts = self.last_timestamp;
                self.put_tag(out, TagType::AUDIO, ts, &header, &config.asc)?;
                self.audio_configured = true;
            }
            MediaEvent::Metadata(metadata) => {
                let body = on_metadata(metadata);
                let ts = self.last_timestamp;
                self.put_tag(out, TagType::SCRIPT, ts, &[], &body)?;
            }
            MediaEvent::Frame(frame) => self.write_frame(frame, out)?,
        }
        Ok(())
    }

    fn write_frame(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), FlvWriteError> {
        self.check_declared(frame.kind)?;
        let configured = match frame.kind {
            TrackKind::Video => self.video_configured,
            TrackKind::Audio => self.audio_configured,
        };
        if !configured {
            return Err(FlvWriteError::MissingSequenceHeader {
                track: frame.kind,
                dts: frame.dts,
            });
        }
        let ts = u32::try_from(frame.dts).map_err(|_| FlvWriteError::TimestampOutOfRange {
            track: frame.kind,
            dts: frame.dts,
        })?;
        match frame.kind {
            TrackKind::Video => {
                if !(CTS_MIN..=CTS_MAX).contains(&frame.cts) {
                    return Err(FlvWriteError::CompositionTimeOutOfRange {
                        dts: frame.dts,
                        cts: frame.cts,
                    });
                }
                let frame_type = if frame.keyframe {
                    FRAME_TYPE_KEY
                } else {
                    FRAME_TYPE_INTER
                };
                let [_, c0, c1, c2] = frame.cts.to_be_bytes();
                let header = [(frame_type << 4) | CODEC_AVC, PACKET_CODED, c0, c1, c2];
                self.put_tag(out, TagType::VIDEO, ts, &header, &frame.data)?;
            }
            TrackKind::Audio => {
                if frame.cts != 0 {
                    return Err(FlvWriteError::AudioCompositionTime {
                        dts: frame.dts,
                        cts: frame.cts,
                    });
                }
                let header = [AAC_AUDIO_HEADER, PACKET_CODED];
                self.put_tag(out, TagType::AUDIO, ts, &header, &frame.data)?;
            }
        }
        self.last_timestamp = ts;
        Ok(())
    }

    fn check_declared(&self, track: TrackKind) -> Result<(), FlvWriteError> {
        let declared = match track {
            TrackKind::Video => self.has_video,
            TrackKind::Audio => self.has_audio,
        };
        if declared {
            Ok(())
        } else {
            Err(FlvWriteError::UndeclaredTrack { track })
        }
    }

    /// Appends tag header, `header` + `payload` as the body, and PreviousTagSize.
    fn put_tag(
        &self,
        out: &mut BytesMut,
        kind: TagType,
        timestamp: u32,
        header: &[u8],
        payload: &[u8],
    ) -> Result<(), FlvWriteError> {
        let size = header.len() + payload.len();
        let data_size = u32::try_from(size)
            .ok()
            .filter(|s| *s <= self.max_tag_size)
            .ok_or(FlvWriteError::TagTooLarge {
                kind,
                size,
                max: self.max_tag_size,
            })?;
        out.reserve(TAG_HEADER_LEN + size + PREVIOUS_TAG_SIZE_LEN);
        out.put_u8(kind.0);
        out.put_slice(&data_size.to_be_bytes()[1..]);
        // Timestamp: the low 24 bits, then TimestampExtended holds the upper 8.
        let [t3, t2, t1, t0] = timestamp.to_be_bytes();
        out.put_slice(&[t2, t1, t0, t3]);
        out.put_slice(&[0, 0, 0]); // StreamID
        out.put_slice(header);
        out.put_slice(payload);
        // Cannot overflow: data_size < 2^24.
        out.put_u32(data_size + TAG_HEADER_LEN as u32);
        Ok(())
    }
}

/// The `onMetaData` script body: the name, then an ECMA array of the fields that are set.
///
/// Keys are those [`parse_metadata`](crate::parse_metadata) reads, so the tag reads back equal.
fn on_metadata(m: &StreamMetadata) -> Vec<u8> {
    let mut props: Vec<(String, Value)> = Vec::new();
    let mut number = |key: &str, v: Option<f64>| {
        if let Some(v) = v {
            props.push((key.to_owned(), Value::Number(v)));
        }
    };
    number("width", m.width);
    number("height", m.height);
    number("framerate", m.frame_rate);
    number("videodatarate", m.video_kbps);
    number("audiodatarate", m.audio_kbps);
    if let Some(v) = m.has_video {
        props.push(("hasVideo".to_owned(), Value::Boolean(v)));
    }
    if let Some(v) = m.has_audio {
        props.push(("hasAudio".to_owned(), Value::Boolean(v)));
    }
    if let Some(encoder) = &m.encoder {
        props.push(("encoder".to_owned(), Value::String(encoder.clone())));
    }
    let mut body = Vec::new();
    ferrocast_amf0::encode_all(
        &[
            Value::String("onMetaData".to_owned()),
            Value::EcmaArray(props),
        ],
        &mut body,
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocast_media::AudioConfig;

    fn audio_config() -> MediaEvent {
        MediaEvent::AudioConfig(AudioConfig {
            asc: Bytes::from_static(&[0x12, 0x10]),
            object_type: 2,
            sample_rate: 44100,
            channels: 2,
            samples_per_frame: 1024,
            codec_string: "mp4a.40.2".into(),
        })
    }

    fn audio_frame(dts: i64, cts: i32, data: &'static [u8]) -> MediaEvent {
        MediaEvent::Frame(Frame {
            kind: TrackKind::Audio,
            dts,
            cts,
            keyframe: true,
            data: Bytes::from_static(data),
        })
    }

    #[test]
    fn header_flags() {
        assert_eq!(
            &FlvWriter::new(true, true).header()[..],
            b"FLV\x01\x05\0\0\0\x09\0\0\0\0"
        );
        assert_eq!(FlvWriter::new(false, true).header()[4], 4);
        assert_eq!(FlvWriter::new(true, false).header()[4], 1);
    }

    #[test]
    fn tag_bytes_with_extended_timestamp() {
        let mut w = FlvWriter::new(false, true);
        let mut out = BytesMut::new();
        w.write_event(&audio_config(), &mut out).unwrap();
        out.clear();
        w.write_event(&audio_frame(0x0123_4567, 0, b"xyz"), &mut out)
            .unwrap();
        assert_eq!(
            &out[..],
            b"\x08\x00\x00\x05\x23\x45\x67\x01\x00\x00\x00\xaf\x01xyz\x00\x00\x00\x10"
        );
    }

    #[test]
    fn errors_append_nothing() {
        let mut w = FlvWriter::new(false, true).with_max_tag_size(4);
        let mut out = BytesMut::new();
        assert_eq!(
            w.write_event(&audio_frame(0, 0, b"a"), &mut out),
            Err(FlvWriteError::MissingSequenceHeader {
                track: TrackKind::Audio,
                dts: 0
            })
        );
        w.write_event(&audio_config(), &mut out).unwrap();
        out.clear();
        assert_eq!(
            w.write_event(&audio_frame(-1, 0, b"a"), &mut out),
            Err(FlvWriteError::TimestampOutOfRange {
                track: TrackKind::Audio,
                dts: -1
            })
        );
        assert_eq!(
            w.write_event(&audio_frame(1 << 32, 0, b"a"), &mut out),
            Err(FlvWriteError::TimestampOutOfRange {
                track: TrackKind::Audio,
                dts: 1 << 32
            })
        );
        assert_eq!(
            w.write_event(&audio_frame(5, 3, b"a"), &mut out),
            Err(FlvWriteError::AudioCompositionTime { dts: 5, cts: 3 })
        );
        assert_eq!(
            w.write_event(&audio_frame(5, 0, b"abc"), &mut out),
            Err(FlvWriteError::TagTooLarge {
                kind: TagType::AUDIO,
                size: 5,
                max: 4
            })
        );
        let video = MediaEvent::Frame(Frame {
            kind: TrackKind::Video,
            dts: 0,
            cts: 0,
            keyframe: true,
            data: Bytes::new(),
        });
        assert_eq!(
            w.write_event(&video, &mut out),
            Err(FlvWriteError::UndeclaredTrack {
                track: TrackKind::Video
            })
        );
        let mut w = FlvWriter::new(true, false);
        let config = MediaEvent::VideoConfig(ferrocast_media::VideoConfig {
            avc_config: Bytes::from_static(b"\x01"),
            width: 2,
            height: 2,
            codec_string: "avc1.000000".into(),
            nal_length_size: 4,
        });
        w.write_event(&config, &mut out).unwrap();
        out.clear();
        for cts in [CTS_MAX + 1, CTS_MIN - 1] {
            let frame = MediaEvent::Frame(Frame {
                kind: TrackKind::Video,
                dts: 0,
                cts,
                keyframe: false,
                data: Bytes::from_static(b"x"),
            });
            assert_eq!(
                w.write_event(&frame, &mut out),
                Err(FlvWriteError::CompositionTimeOutOfRange { dts: 0, cts })
            );
        }
        assert!(out.is_empty());
        assert_eq!(
            FlvWriter::new(true, true)
                .with_max_tag_size(u32::MAX)
                .max_tag_size,
            MAX_FLV_TAG_SIZE
        );
    }
}

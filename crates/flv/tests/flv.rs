//! ffmpeg-made FLV fixtures (see `testdata/flv/make-fixtures.sh`) through [`FlvReader`] and
//! [`TagDemuxer`], checked against what ffprobe reports for the same files; and property tests.

use bytes::Bytes;
use ferrocast_flv::{FlvError, FlvReader, TagDemuxer, TagType};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, TrackKind, VideoConfig};
use proptest::prelude::*;

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/../../testdata/flv/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

#[derive(Default)]
struct Demuxed {
    video: Vec<VideoConfig>,
    audio: Vec<AudioConfig>,
    frames: Vec<Frame>,
    script_tags: usize,
}

impl Demuxed {
    fn of(kind: TrackKind, frames: &[Frame]) -> Vec<&Frame> {
        frames.iter().filter(|f| f.kind == kind).collect()
    }
    fn video_frames(&self) -> Vec<&Frame> {
        Self::of(TrackKind::Video, &self.frames)
    }
    fn audio_frames(&self) -> Vec<&Frame> {
        Self::of(TrackKind::Audio, &self.frames)
    }
}

fn demux(name: &str) -> Demuxed {
    let mut out = Demuxed::default();
    let mut demuxer = TagDemuxer::new();
    for tag in FlvReader::new(fixture(name)).unwrap() {
        let tag = tag.unwrap();
        if tag.kind == TagType::SCRIPT {
            out.script_tags += 1;
        }
        match demuxer.tag(&tag).unwrap() {
            Some(MediaEvent::VideoConfig(c)) => out.video.push(c),
            Some(MediaEvent::AudioConfig(c)) => out.audio.push(c),
            Some(MediaEvent::Frame(f)) => out.frames.push(f),
            Some(MediaEvent::Metadata(_)) | None => {}
        }
    }
    out
}

/// Every video frame is a whole number of length-prefixed NAL units.
fn assert_avcc_framing(frames: &[&Frame], nal_length_size: u8) {
    assert_eq!(nal_length_size, 4);
    for f in frames {
        let mut rest = &f.data[..];
        while !rest.is_empty() {
            let (len, tail) = rest.split_at(4);
            let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
            assert!(
                len > 0 && len <= tail.len(),
                "bad NAL length at dts {}",
                f.dts
            );
            rest = &tail[len..];
        }
    }
}

// ffprobe: h264 High 320x240 level 13, 30 frames; aac LC 48000 Hz 2 ch, 48 frames.
#[test]
fn av_320x240() {
    let d = demux("av_320x240.flv");
    assert_eq!(d.script_tags, 1);
    let [v] = &d.video[..] else {
        panic!("{:?}", d.video)
    };
    assert_eq!(
        (v.width, v.height, v.codec_string.as_str()),
        (320, 240, "avc1.64000d")
    );
    let [a] = &d.audio[..] else {
        panic!("{:?}", d.audio)
    };
    assert_eq!(a.codec_string, "mp4a.40.2");
    assert_eq!(
        (
            a.object_type,
            a.sample_rate,
            a.channels,
            a.samples_per_frame
        ),
        (2, 48000, 2, 1024)
    );

    let video = d.video_frames();
    let audio = d.audio_frames();
    assert_eq!((video.len(), audio.len()), (30, 48));
    assert_avcc_framing(&video, v.nal_length_size);
    // ffprobe -show_packets: the first picture is a keyframe with dts 0, pts 67 (two B-frames).
    assert!(video[0].keyframe);
    assert_eq!((video[0].dts, video[0].pts()), (0, 67));
    assert_eq!(video.iter().filter(|f| f.keyframe).count(), 1);
    assert!(
        video.iter().any(|f| f.cts < video[0].cts),
        "B-frames have smaller offsets"
    );
    // Audio: first dts 46 ms, all sync samples, no composition offset.
    assert_eq!(audio[0].dts, 46);
    assert!(audio
        .iter()
        .all(|f| f.keyframe && f.cts == 0 && !f.data.is_empty()));
    // DTS never goes backwards within a track.
    for track in [&video, &audio] {
        assert!(track.windows(2).all(|w| w[0].dts <= w[1].dts));
    }
}

// ffprobe: 1918x1080, coded 1920x1088, High level 40; aac LC 44100 Hz mono, 19 frames.
#[test]
fn cropped_1918x1080() {
    let d = demux("crop_1918x1080.flv");
    let [v] = &d.video[..] else {
        panic!("{:?}", d.video)
    };
    assert_eq!(
        (v.width, v.height, v.codec_string.as_str()),
        (1918, 1080, "avc1.640028")
    );
    let [a] = &d.audio[..] else {
        panic!("{:?}", d.audio)
    };
    assert_eq!(
        (a.sample_rate, a.channels, a.codec_string.as_str()),
        (44100, 1, "mp4a.40.2")
    );
    assert_eq!((d.video_frames().len(), d.audio_frames().len()), (10, 19));
    assert_avcc_framing(&d.video_frames(), v.nal_length_size);
}

// ffprobe: High 4:4:4 Predictive, 250x142 (coded 256x144), level 12, 15 frames; JVT matrices.
#[test]
fn video_only_444_with_scaling_matrices() {
    let d = demux("video_only_444_cqm.flv");
    let [v] = &d.video[..] else {
        panic!("{:?}", d.video)
    };
    assert_eq!(
        (v.width, v.height, v.codec_string.as_str()),
        (250, 142, "avc1.f4000c")
    );
    assert!(d.audio.is_empty());
    assert_eq!((d.video_frames().len(), d.audio_frames().len()), (15, 0));
}

// ffprobe: High, 352x288 interlaced (field_order tt), level 21, 10 frames.
#[test]
fn video_only_interlaced() {
    let d = demux("video_only_interlaced.flv");
    let [v] = &d.video[..] else {
        panic!("{:?}", d.video)
    };
    assert_eq!(
        (v.width, v.height, v.codec_string.as_str()),
        (352, 288, "avc1.640015")
    );
    assert_eq!(d.video_frames().len(), 10);
}

// ffprobe: aac LC 22050 Hz mono, 23 frames.
#[test]
fn audio_only() {
    let d = demux("audio_only.flv");
    assert!(d.video.is_empty());
    let [a] = &d.audio[..] else {
        panic!("{:?}", d.audio)
    };
    assert_eq!(
        (a.sample_rate, a.channels, a.codec_string.as_str()),
        (22050, 1, "mp4a.40.2")
    );
    // The ASC keeps ffmpeg's backward-compatible SBR sync extension, verbatim.
    assert_eq!(&a.asc[..], &[0x13, 0x88, 0x56, 0xe5, 0x00]);
    assert_eq!(d.audio_frames().len(), 23);
}

#[test]
fn frames_share_the_tag_buffer() {
    let data = fixture("av_320x240.flv");
    let range = data.as_ptr_range();
    let mut demuxer = TagDemuxer::new();
    for tag in FlvReader::new(data.clone()).unwrap() {
        if let Ok(Some(MediaEvent::Frame(f))) = demuxer.tag(&tag.unwrap()) {
            assert!(range.contains(&f.data.as_ptr()), "frame data was copied");
        }
    }
}

fn video_config_tag() -> Bytes {
    let d = fixture("av_320x240.flv");
    FlvReader::new(d)
        .unwrap()
        .map(Result::unwrap)
        .find(|t| t.kind == TagType::VIDEO)
        .unwrap()
        .body
}

#[test]
fn repeated_sequence_headers_are_deduplicated() {
    let mut demuxer = TagDemuxer::new();
    let header = video_config_tag();
    assert!(matches!(
        demuxer.video(0, header.clone()),
        Ok(Some(MediaEvent::VideoConfig(_)))
    ));
    assert_eq!(demuxer.video(1000, header), Ok(None));
    assert!(demuxer.video_config().is_some());
    let aac = Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]);
    assert!(matches!(
        demuxer.audio(0, aac.clone()),
        Ok(Some(MediaEvent::AudioConfig(_)))
    ));
    assert_eq!(demuxer.audio(0, aac), Ok(None));
    // A changed config is an event.
    let aac_48k = Bytes::from_static(&[0xaf, 0x00, 0x11, 0x90]);
    let Ok(Some(MediaEvent::AudioConfig(c))) = demuxer.audio(0, aac_48k) else {
        panic!()
    };
    assert_eq!(c.sample_rate, 48000);
}

#[test]
fn frames_before_sequence_headers() {
    let mut demuxer = TagDemuxer::new();
    assert_eq!(
        demuxer.video(
            40,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])
        ),
        Err(FlvError::MissingSequenceHeader {
            track: TrackKind::Video,
            timestamp: 40
        })
    );
    assert_eq!(
        demuxer.audio(23, Bytes::from_static(&[0xaf, 1, 0x21])),
        Err(FlvError::MissingSequenceHeader {
            track: TrackKind::Audio,
            timestamp: 23
        })
    );
}

#[test]
fn video_frame_fields() {
    let mut demuxer = TagDemuxer::new();
    demuxer.video(0, video_config_tag()).unwrap();
    // Inter frame, NALU, CompositionTime -33 (0xffffdf), one 1-byte NAL unit.
    let tag = Bytes::from_static(&[0x27, 1, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x41]);
    let Ok(Some(MediaEvent::Frame(f))) = demuxer.video(100, tag) else {
        panic!()
    };
    assert_eq!(
        (f.kind, f.dts, f.cts, f.keyframe),
        (TrackKind::Video, 100, -33, false)
    );
    assert_eq!(&f.data[..], &[0, 0, 0, 1, 0x41]);
    // Key frame with a positive offset.
    let tag = Bytes::from_static(&[0x17, 1, 0x00, 0x00, 0x43, 0, 0, 0, 1, 0x65]);
    let Ok(Some(MediaEvent::Frame(f))) = demuxer.video(133, tag) else {
        panic!()
    };
    assert_eq!((f.cts, f.keyframe, f.pts()), (67, true, 200));
    // End of sequence, a command frame and an empty frame carry nothing.
    assert_eq!(
        demuxer.video(200, Bytes::from_static(&[0x17, 2, 0, 0, 0])),
        Ok(None)
    );
    assert_eq!(demuxer.video(200, Bytes::from_static(&[0x57, 0])), Ok(None));
    assert_eq!(
        demuxer.video(200, Bytes::from_static(&[0x27, 1, 0, 0, 0])),
        Ok(None)
    );
}

#[test]
fn timestamps_unwrap_across_tracks() {
    let mut demuxer = TagDemuxer::new();
    demuxer
        .audio(u32::MAX - 10, Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]))
        .unwrap();
    let frame = |e| match e {
        Ok(Some(MediaEvent::Frame(f))) => f.dts,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        frame(demuxer.audio(u32::MAX, Bytes::from_static(&[0xaf, 1, 0x21]))),
        0xffff_ffff
    );
    assert_eq!(
        frame(demuxer.audio(13, Bytes::from_static(&[0xaf, 1, 0x21]))),
        (1 << 32) + 13
    );
    // A slightly older timestamp is a step back, not another wrap.
    assert_eq!(
        frame(demuxer.audio(u32::MAX - 2, Bytes::from_static(&[0xaf, 1, 0x21]))),
        0xffff_fffd
    );
}

#[test]
fn unsupported_codecs() {
    let mut demuxer = TagDemuxer::new();
    // Sorenson H.263 key frame.
    let err = demuxer
        .video(0, Bytes::from_static(&[0x12, 0, 0]))
        .unwrap_err();
    assert!(err.is_unsupported_codec());
    assert_eq!(err.to_string(), "unsupported video codec FLV CodecID 2");
    // Enhanced RTMP HEVC sequence start.
    let err = demuxer
        .video(0, Bytes::from_static(b"\x90hvc1\x01"))
        .unwrap_err();
    assert!(err.is_unsupported_codec());
    assert_eq!(
        err.to_string(),
        "unsupported video codec Enhanced RTMP FourCC 'hvc1'"
    );
    // MP3.
    let err = demuxer
        .audio(0, Bytes::from_static(&[0x2f, 0xff]))
        .unwrap_err();
    assert!(err.is_unsupported_codec());
    assert_eq!(err.to_string(), "unsupported audio format SoundFormat 2");
}

#[test]
fn truncated_tags() {
    let mut demuxer = TagDemuxer::new();
    let truncated = |track, len, needed| FlvError::TruncatedTag {
        track,
        timestamp: 7,
        len,
        needed,
    };
    assert_eq!(
        demuxer.video(7, Bytes::new()),
        Err(truncated(TrackKind::Video, 0, 1))
    );
    assert_eq!(
        demuxer.video(7, Bytes::from_static(&[0x17, 1, 0])),
        Err(truncated(TrackKind::Video, 3, 5))
    );
    assert_eq!(
        demuxer.video(7, Bytes::from_static(&[0x80, b'h'])),
        Err(truncated(TrackKind::Video, 2, 5))
    );
    assert_eq!(
        demuxer.audio(7, Bytes::new()),
        Err(truncated(TrackKind::Audio, 0, 1))
    );
    assert_eq!(
        demuxer.audio(7, Bytes::from_static(&[0xaf])),
        Err(truncated(TrackKind::Audio, 1, 2))
    );
}

proptest! {
    #[test]
    fn demuxer_never_panics(
        tags in proptest::collection::vec(
            (any::<bool>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)),
            0..32,
        ),
    ) {
        let mut demuxer = TagDemuxer::new();
        for (is_video, ts, body) in tags {
            let body = Bytes::from(body);
            let _ = if is_video { demuxer.video(ts, body) } else { demuxer.audio(ts, body) };
        }
    }

    #[test]
    fn sequence_headers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..96), avc in any::<bool>()) {
        let mut demuxer = TagDemuxer::new();
        // Valid headers followed by arbitrary codec configuration bytes.
        let mut tag = if avc { vec![0x17, 0, 0, 0, 0, 1] } else { vec![0xaf, 0] };
        tag.extend(body);
        let tag = Bytes::from(tag);
        let _ = if avc { demuxer.video(0, tag) } else { demuxer.audio(0, tag) };
    }

    #[test]
    fn reader_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut data = b"FLV\x01\x05\x00\x00\x00\x09".to_vec();
        data.extend(body);
        if let Ok(reader) = FlvReader::new(data) {
            let mut demuxer = TagDemuxer::new();
            for tag in reader.flatten() {
                let _ = demuxer.tag(&tag);
            }
        }
    }
}

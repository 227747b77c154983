//! [`FlvWriter`] round trips: events written, read back with [`FlvReader`] and [`TagDemuxer`], and
//! compared; the committed ffmpeg fixtures (`testdata/flv/`) read, rewritten and re-read; and, when
//! ffprobe is installed, the rewritten fixtures checked to look the same to ffmpeg.

use std::process::Command;

use bytes::{Bytes, BytesMut};
use ferrocast_flv::{parse_metadata, FlvReader, FlvWriteError, FlvWriter, TagDemuxer, TagType};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, StreamMetadata, TrackKind, VideoConfig};
use proptest::prelude::*;

const FIXTURES: [&str; 5] = [
    "av_320x240.flv",
    "crop_1918x1080.flv",
    "video_only_444_cqm.flv",
    "video_only_interlaced.flv",
    "audio_only.flv",
];

fn fixture_path(name: &str) -> String {
    format!("{}/../../testdata/flv/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Bytes {
    let path = fixture_path(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

/// Every event of a file, `onMetaData` included (the demuxer leaves script tags to the caller).
fn read_events(data: Bytes) -> (bool, bool, Vec<MediaEvent>) {
    let reader = FlvReader::new(data).unwrap();
    let (has_video, has_audio) = (reader.has_video(), reader.has_audio());
    let mut demuxer = TagDemuxer::new();
    let mut events = Vec::new();
    for tag in reader {
        let tag = tag.unwrap();
        if tag.kind == TagType::SCRIPT {
            let values = ferrocast_amf0::decode_all(&tag.body).unwrap();
            if values.first().and_then(|v| v.as_str()) == Some("onMetaData") {
                let props = values.get(1).and_then(|v| v.properties()).unwrap_or(&[]);
                events.push(MediaEvent::Metadata(parse_metadata(props)));
            }
        }
        if let Some(event) = demuxer.tag(&tag).unwrap() {
            events.push(event);
        }
    }
    (has_video, has_audio, events)
}

fn write_events(has_video: bool, has_audio: bool, events: &[MediaEvent]) -> Bytes {
    let mut writer = FlvWriter::new(has_video, has_audio);
    let mut out = BytesMut::from(&writer.header()[..]);
    for event in events {
        writer.write_event(event, &mut out).unwrap();
    }
    out.freeze()
}

#[test]
fn fixtures_round_trip() {
    for name in FIXTURES {
        let (has_video, has_audio, events) = read_events(fixture(name));
        assert!(events.iter().any(|e| matches!(e, MediaEvent::Frame(_))));
        assert!(events.iter().any(|e| matches!(e, MediaEvent::Metadata(_))));
        let written = write_events(has_video, has_audio, &events);
        let (v, a, reread) = read_events(written.clone());
        assert_eq!((v, a), (has_video, has_audio), "{name}");
        assert_eq!(reread, events, "{name}");
        // Writing what was read back gives the same bytes.
        assert_eq!(write_events(v, a, &reread), written, "{name}");
    }
}

#[test]
fn metadata_round_trips_field_by_field() {
    let all = StreamMetadata {
        frame_rate: Some(29.97),
        video_kbps: Some(6000.0),
        audio_kbps: Some(160.0),
        width: Some(1920.0),
        height: Some(1080.0),
        has_video: Some(true),
        has_audio: Some(false),
        encoder: Some("ferrocast".into()),
    };
    for m in [all, StreamMetadata::default()] {
        let events = vec![MediaEvent::Metadata(m)];
        let (_, _, reread) = read_events(write_events(true, true, &events));
        assert_eq!(reread, events);
    }
}

/// Packets as ffprobe sees them: (stream type, pts, dts, key flag, size).
fn ffprobe_packets(path: &str) -> Option<Vec<String>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=codec_type,pts,dts,flags,size", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    assert!(out.status.success(), "ffprobe failed on {path}");
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
#[allow(clippy::print_stderr)] // the skip note is for whoever runs the tests
fn ffmpeg_reads_rewritten_fixtures_alike() {
    let dir = std::env::temp_dir().join(format!("ferrocast-flv-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in FIXTURES {
        let Some(original) = ffprobe_packets(&fixture_path(name)) else {
            eprintln!("ffprobe not found; skipping the ffmpeg comparison");
            return;
        };
        let (has_video, has_audio, events) = read_events(fixture(name));
        let path = dir.join(name);
        std::fs::write(&path, write_events(has_video, has_audio, &events)).unwrap();
        let rewritten = ffprobe_packets(path.to_str().unwrap()).unwrap();
        assert_eq!(rewritten, original, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn configs() -> (VideoConfig, AudioConfig) {
    let (_, _, events) = read_events(fixture("av_320x240.flv"));
    let video = events.iter().find_map(|e| match e {
        MediaEvent::VideoConfig(c) => Some(c.clone()),
        _ => None,
    });
    let audio = events.iter().find_map(|e| match e {
        MediaEvent::AudioConfig(c) => Some(c.clone()),
        _ => None,
    });
    (video.unwrap(), audio.unwrap())
}

fn frame_strategy() -> impl Strategy<Value = (bool, i64, i32, bool, Vec<u8>)> {
    (
        any::<bool>(),
        -2_000i64..100_000,
        -(1i32 << 23)..(1 << 23),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 1..64),
    )
}

proptest! {
    #[test]
    fn arbitrary_frames_round_trip(
        start in 0i64..(1 << 31),
        steps in proptest::collection::vec(frame_strategy(), 0..48),
    ) {
        let (video, audio) = configs();
        let mut events = vec![MediaEvent::VideoConfig(video), MediaEvent::AudioConfig(audio)];
        let mut dts = start;
        for (is_video, step, cts, keyframe, data) in steps {
            dts = (dts + step).max(0);
            let frame = if is_video {
                Frame { kind: TrackKind::Video, dts, cts, keyframe, data: data.into() }
            } else {
                Frame { kind: TrackKind::Audio, dts, cts: 0, keyframe: true, data: data.into() }
            };
            events.push(MediaEvent::Frame(frame));
        }
        let (_, _, reread) = read_events(write_events(true, true, &events));
        prop_assert_eq!(reread, events);
    }

    #[test]
    fn out_of_range_frames_are_errors(dts in any::<i64>(), cts in any::<i32>(), video in any::<bool>()) {
        let (vc, ac) = configs();
        let mut writer = FlvWriter::new(true, true);
        let mut out = BytesMut::new();
        writer.write_event(&MediaEvent::VideoConfig(vc), &mut out).unwrap();
        writer.write_event(&MediaEvent::AudioConfig(ac), &mut out).unwrap();
        let before = out.len();
        let kind = if video { TrackKind::Video } else { TrackKind::Audio };
        let frame = Frame { kind, dts, cts, keyframe: true, data: Bytes::from_static(b"x") };
        match writer.write_event(&MediaEvent::Frame(frame), &mut out) {
            Ok(()) => {
                prop_assert!((0..=i64::from(u32::MAX)).contains(&dts));
                let cts_ok = if video { (-(1 << 23)..(1 << 23)).contains(&cts) } else { cts == 0 };
                prop_assert!(cts_ok);
            }
            Err(
                FlvWriteError::TimestampOutOfRange { .. }
                | FlvWriteError::CompositionTimeOutOfRange { .. }
                | FlvWriteError::AudioCompositionTime { .. },
            ) => prop_assert_eq!(out.len(), before),
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}

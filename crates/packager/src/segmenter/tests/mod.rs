//! Segmenter timing tests with a fake muxer: fragments are described as text, so the boundaries,
//! durations and decode times can be checked without real CMAF bytes.

use super::*;
use ferrocast_media::StreamMetadata;
use std::time::Duration;

const WALL0: i64 = 1_700_000_000_000;

fn fake_init(video: Option<&VideoConfig>, audio: Option<&AudioConfig>) -> Result<Bytes, CmafError> {
    Ok(Bytes::from(format!(
        "init v={} a={}",
        video.map_or(0, |v| v.width),
        audio.map_or(0, |a| a.sample_rate)
    )))
}

/// `seq` then one line per run: `track base dur,dur,... keys`.
fn fake_fragment(
    sequence: u32,
    runs: &[TrackRun<'_>],
) -> Result<ferrocast_media::ByteChain, CmafError> {
    let mut text = format!("{sequence}\n");
    for run in runs {
        let durations: Vec<String> = run.samples.iter().map(|s| s.duration.to_string()).collect();
        let keys: String = run
            .samples
            .iter()
            .map(|s| if s.keyframe { 'K' } else { '.' })
            .collect();
        text.push_str(&format!(
            "{} {} {} {}\n",
            run.track_id,
            run.base_decode_time,
            durations.join(","),
            keys
        ));
    }
    Ok(Bytes::from(text).into())
}

const FAKE: Muxer = Muxer {
    init: fake_init,
    fragment: fake_fragment,
};

#[derive(Debug, Clone, PartialEq)]
struct Run {
    track: u32,
    base: u64,
    durations: Vec<u64>,
    keys: String,
}

impl Run {
    fn end(&self) -> u64 {
        self.base + self.durations.iter().sum::<u64>()
    }
}

#[derive(Debug)]
struct Seg {
    sequence: u32,
    duration: f64,
    start_ms: i64,
    pdt: i64,
    independent: bool,
    msn: u64,
    gap: bool,
    /// Runs of the whole segment: each track's runs of all its fragments joined.
    runs: Vec<Run>,
    /// Each fragment's (sequence, runs).
    fragments: Vec<(u32, Vec<Run>)>,
    parts: Vec<crate::PartInfo>,
    bytes: ferrocast_media::ByteChain,
}

impl Seg {
    fn run(&self, track: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.track == track)
    }
}

#[derive(Debug)]
enum Out {
    Init(String),
    Part(MediaPart),
    Seg(Seg),
}

/// Splits fake fragment text (one or more fragments) into (sequence, runs) per fragment.
fn fragments(bytes: &ferrocast_media::ByteChain) -> Vec<(u32, Vec<Run>)> {
    let text = String::from_utf8_lossy(&bytes.to_bytes()).into_owned();
    let mut out: Vec<(u32, Vec<Run>)> = Vec::new();
    for line in text.lines() {
        let mut parts = line.split(' ');
        let first = parts.next().unwrap_or("");
        let Some(track_or_seq) = first.parse::<u64>().ok() else {
            continue;
        };
        let Some(base) = parts.next().and_then(|p| p.parse().ok()) else {
            out.push((track_or_seq as u32, Vec::new()));
            continue;
        };
        let durations = parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter_map(|d| d.parse().ok())
            .collect();
        let keys = parts.next().unwrap_or("").to_owned();
        if let Some((_, runs)) = out.last_mut() {
            runs.push(Run {
                track: track_or_seq as u32,
                base,
                durations,
                keys,
            });
        }
    }
    out
}

fn parse(output: SegmenterOutput) -> Out {
    match output {
        SegmenterOutput::Init(init) => Out::Init(String::from_utf8_lossy(&init.bytes).into_owned()),
        SegmenterOutput::Part(part) => Out::Part(part),
        SegmenterOutput::Segment(segment) => {
            let fragments = fragments(&segment.bytes);
            let mut runs: Vec<Run> = Vec::new();
            for run in fragments.iter().flat_map(|(_, runs)| runs) {
                match runs.iter_mut().find(|r| r.track == run.track) {
                    Some(joined) => {
                        joined.durations.extend(&run.durations);
                        joined.keys.push_str(&run.keys);
                    }
                    None => runs.push(run.clone()),
                }
            }
            Out::Seg(Seg {
                sequence: fragments.first().map_or(0, |f| f.0),
                duration: segment.duration,
                start_ms: segment.start_ms,
                pdt: segment.program_date_time_ms,
                independent: segment.independent,
                msn: segment.msn,
                gap: segment.gap,
                runs,
                fragments,
                parts: segment.parts,
                bytes: segment.bytes,
            })
        }
    }
}

fn video_config(width: u32) -> VideoConfig {
    VideoConfig {
        avc_config: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]),
        width,
        height: 720,
        codec_string: "avc1.64001f".into(),
        nal_length_size: 4,
    }
}

fn audio_config(sample_rate: u32) -> AudioConfig {
    AudioConfig {
        asc: Bytes::from_static(&[0x12, 0x10]),
        object_type: 2,
        sample_rate,
        channels: 2,
        samples_per_frame: 1024,
        codec_string: "mp4a.40.2".into(),
    }
}

fn video(dts: i64, keyframe: bool) -> MediaEvent {
    MediaEvent::Frame(Frame {
        kind: TrackKind::Video,
        dts,
        cts: if keyframe { 0 } else { 33 },
        keyframe,
        data: Bytes::from_static(&[0; 100]),
    })
}

fn audio(dts: i64) -> MediaEvent {
    MediaEvent::Frame(Frame {
        kind: TrackKind::Audio,
        dts,
        cts: 0,
        keyframe: true,
        data: Bytes::from_static(&[0; 10]),
    })
}

fn event_dts(event: &MediaEvent) -> i64 {
    match event {
        MediaEvent::Frame(f) => f.dts,
        _ => i64::MIN,
    }
}

/// 30 fps video (ms-rounded, so intervals jitter 33/34) with a keyframe every `gop` frames,
/// starting at `t0` ms, for `seconds`.
fn video_frames(t0: i64, seconds: i64, gop: i64) -> Vec<MediaEvent> {
    (0..seconds * 30)
        .map(|i| video(t0 + (i * 1000 + 15) / 30, i % gop == 0))
        .collect()
}

/// 44.1 kHz AAC frames (1024 samples, ~23.2 ms, ms-rounded timestamps).
fn audio_frames(t0: i64, seconds: i64) -> Vec<MediaEvent> {
    let count = seconds * 44_100 / 1024;
    (0..count)
        .map(|i| audio(t0 + (i * 1024 * 1000 + 22_050) / 44_100))
        .collect()
}

/// Interleaves by dts (stable: video first on ties), like a publisher's muxer.
fn interleave(mut a: Vec<MediaEvent>, b: Vec<MediaEvent>) -> Vec<MediaEvent> {
    a.extend(b);
    a.sort_by_key(event_dts);
    a
}

struct Harness {
    segmenter: LiveSegmenter,
    outputs: Vec<Out>,
}

impl Harness {
    fn new(target_secs: u64) -> Self {
        Self::with_config(SegmenterConfig::new(Duration::from_secs(target_secs)))
    }

    fn with_config(config: SegmenterConfig) -> Self {
        Self {
            segmenter: LiveSegmenter::with_muxer(config, FAKE),
            outputs: Vec::new(),
        }
    }

    fn follower(config: SegmenterConfig) -> Self {
        Self {
            segmenter: LiveSegmenter::follower_with_muxer(config, FAKE),
            outputs: Vec::new(),
        }
    }

    /// Feeds events arriving in real time (wall = WALL0 + dts); returns outputs produced.
    fn feed(&mut self, events: &[MediaEvent]) -> usize {
        let before = self.outputs.len();
        for event in events {
            let now = WALL0 + event_dts(event).max(0);
            self.segmenter
                .handle_event(now, event)
                .expect("fake muxer never fails");
            self.drain();
        }
        self.outputs.len() - before
    }

    fn drain(&mut self) {
        while let Some(output) = self.segmenter.poll_output() {
            self.outputs.push(parse(output));
        }
    }

    fn finish(&mut self) {
        self.segmenter.finish();
        self.drain();
    }

    fn segments(&self) -> Vec<&Seg> {
        self.outputs
            .iter()
            .filter_map(|o| if let Out::Seg(s) = o { Some(s) } else { None })
            .collect()
    }

    fn parts(&self) -> Vec<&MediaPart> {
        self.outputs
            .iter()
            .filter_map(|o| if let Out::Part(p) = o { Some(p) } else { None })
            .collect()
    }

    fn inits(&self) -> Vec<&str> {
        self.outputs
            .iter()
            .filter_map(|o| {
                if let Out::Init(s) = o {
                    Some(s.as_str())
                } else {
                    None
                }
            })
            .collect()
    }
}

fn configs(video: bool, audio: bool) -> Vec<MediaEvent> {
    let mut events = Vec::new();
    if video {
        events.push(MediaEvent::VideoConfig(video_config(1280)));
    }
    if audio {
        events.push(MediaEvent::AudioConfig(audio_config(44_100)));
    }
    events
}

/// Feeds a video config and metadata announcing no audio, so the stream starts at its first
/// keyframe; returns 4 s of 30 fps video with 2 s GOPs to feed next.
fn start_video_only(h: &mut Harness) -> Vec<MediaEvent> {
    h.feed(&configs(true, false));
    h.feed(&[MediaEvent::Metadata(StreamMetadata {
        has_video: Some(true),
        has_audio: Some(false),
        ..StreamMetadata::default()
    })]);
    video_frames(0, 4, 60)
}

/// Parses and checks a rendered playlist; panics on any violation.
fn validate(text: &str) -> ferrocast_hls::validate::PlaylistFacts {
    ferrocast_hls::validate::validate_media_playlist(text)
        .unwrap_or_else(|violations| panic!("{violations:?}\n{text}"))
}

/// Checks the invariants every output must satisfy.
fn check_invariants(segments: &[&Seg], target_secs: f64) {
    let mut last_sequence = 0;
    for (i, segment) in segments.iter().enumerate() {
        assert!(segment.duration > 0.0, "segment {i} empty: {segment:?}");
        assert!(
            segment.duration <= target_secs + 0.499 + 1e-9,
            "segment {i} too long: {}",
            segment.duration
        );
        // EXTINF as written (3 decimals) rounds to at most the target duration.
        let written: f64 = format!("{:.3}", segment.duration)
            .parse()
            .unwrap_or(f64::MAX);
        assert!(written.round() <= target_secs);
        for (sequence, _) in &segment.fragments {
            assert!(*sequence > last_sequence, "fragment sequence must increase");
            last_sequence = *sequence;
        }
        if let Some(video) = segment.run(VIDEO_TRACK_ID) {
            assert_eq!(segment.independent, video.keys.starts_with('K'));
        }
    }
    // Decode times are continuous per track.
    for track in [VIDEO_TRACK_ID, AUDIO_TRACK_ID] {
        let runs: Vec<&Run> = segments.iter().filter_map(|s| s.run(track)).collect();
        for pair in runs.windows(2) {
            assert_eq!(pair[0].end(), pair[1].base, "track {track} decode time gap");
        }
    }
}

mod cutting;
mod follow;
mod parts;
mod tracks;
mod views;

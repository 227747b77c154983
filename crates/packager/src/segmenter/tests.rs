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
    runs: Vec<Run>,
}

impl Seg {
    fn run(&self, track: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.track == track)
    }
}

#[derive(Debug)]
enum Out {
    Init(String),
    Seg(Seg),
}

fn parse(output: SegmenterOutput) -> Out {
    match output {
        SegmenterOutput::Init(init) => Out::Init(String::from_utf8_lossy(&init.bytes).into_owned()),
        SegmenterOutput::Segment(segment) => {
            let text = String::from_utf8_lossy(&segment.bytes.to_bytes()).into_owned();
            let mut lines = text.lines();
            let sequence = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
            let runs = lines
                .map(|line| {
                    let mut parts = line.split(' ');
                    let track = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    let base = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                    let durations = parts
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|d| d.parse().ok())
                        .collect();
                    let keys = parts.next().unwrap_or("").to_owned();
                    Run {
                        track,
                        base,
                        durations,
                        keys,
                    }
                })
                .collect();
            Out::Seg(Seg {
                sequence,
                duration: segment.duration,
                start_ms: segment.start_ms,
                pdt: segment.program_date_time_ms,
                independent: segment.independent,
                runs,
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
        let config = SegmenterConfig {
            target_duration: Duration::from_secs(target_secs),
        };
        Self {
            segmenter: LiveSegmenter::with_muxer(config, FAKE),
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
        self.segmenter.finish(WALL0);
        self.drain();
    }

    fn segments(&self) -> Vec<&Seg> {
        self.outputs
            .iter()
            .filter_map(|o| if let Out::Seg(s) = o { Some(s) } else { None })
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
        assert!(
            segment.sequence > last_sequence,
            "fragment sequence must increase"
        );
        last_sequence = segment.sequence;
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

#[test]
fn two_second_gop_cuts_every_gop_with_exact_sync() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    h.feed(&interleave(
        video_frames(1000, 20, 60),
        audio_frames(1000, 20),
    ));
    h.finish();
    assert_eq!(h.inits(), ["init v=1280 a=44100"]);
    let segments = h.segments();
    assert_eq!(segments.len(), 10);
    check_invariants(&segments, 2.0);
    for (i, segment) in segments.iter().enumerate() {
        assert!(segment.independent);
        assert!(
            (segment.duration - 2.0).abs() <= 0.0015,
            "{i}: {}",
            segment.duration
        );
        assert_eq!(segment.start_ms, 1000 + 2000 * i as i64);
        assert_eq!(segment.pdt, WALL0 + segment.start_ms);
        let video = segment.run(VIDEO_TRACK_ID).unwrap();
        assert_eq!(video.keys.matches('K').count(), 1);
        assert_eq!(video.durations.len(), 60);
        // Both tracks count from the same origin (the first keyframe at 1000 ms).
        assert_eq!(video.base, (segment.start_ms - 1000) as u64 * 90);
    }
    let first_audio = segments[0].run(AUDIO_TRACK_ID).unwrap();
    assert_eq!(first_audio.base, 0);
    // Audio sample count stays within a frame of the timestamps.
    let last_audio = segments[9].run(AUDIO_TRACK_ID).unwrap();
    let audio_ms = last_audio.end() as f64 * 1000.0 / 44_100.0;
    let video_ms = segments[9].run(VIDEO_TRACK_ID).unwrap().end() as f64 / 90.0;
    assert!(
        (audio_ms - video_ms).abs() < 30.0,
        "audio {audio_ms} video {video_ms}"
    );
}

#[test]
fn segment_is_emitted_when_its_closing_keyframe_arrives() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    h.feed(&[MediaEvent::Metadata(StreamMetadata {
        has_video: Some(true),
        has_audio: Some(false),
        ..StreamMetadata::default()
    })]);
    let frames = video_frames(0, 4, 60);
    assert_eq!(
        h.feed(&frames[..1]),
        1,
        "metadata says video only: start at the keyframe"
    );
    assert_eq!(h.feed(&frames[1..60]), 0);
    assert_eq!(
        h.feed(&frames[60..61]),
        1,
        "the keyframe at 2 s closes the first segment"
    );
}

#[test]
fn late_audio_goes_into_the_next_segment() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    let mut events = interleave(video_frames(0, 6, 60), audio_frames(0, 6));
    // Move the audio frame just before the 2 s cut after the cutting keyframe.
    let key = events.iter().position(|e| event_dts(e) == 2000).unwrap();
    let late = events[..key]
        .iter()
        .rposition(|e| matches!(e, MediaEvent::Frame(f) if f.kind == TrackKind::Audio))
        .unwrap();
    let late_frame = events.remove(late);
    let late_dts = event_dts(&late_frame);
    events.insert(key, late_frame);
    h.feed(&events);
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    let second_audio = segments[1].run(AUDIO_TRACK_ID).unwrap();
    // The second segment starts with the late frame, stamped before its cut.
    assert!(late_dts < 2000);
    assert!(second_audio.base * 1000 / 44_100 < 2000);
    assert!(second_audio.base * 1000 / 44_100 >= late_dts as u64 - 1);
}

#[test]
fn one_second_gop_cuts_every_second_keyframe() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    h.feed(&interleave(video_frames(0, 12, 30), audio_frames(0, 12)));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert_eq!(segments.len(), 6);
    for segment in &segments {
        assert!((segment.duration - 2.0).abs() <= 0.0015);
        assert_eq!(
            segment
                .run(VIDEO_TRACK_ID)
                .unwrap()
                .keys
                .matches('K')
                .count(),
            2
        );
    }
}

#[test]
fn four_second_gop_forces_non_keyframe_cuts() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    h.feed(&interleave(video_frames(0, 16, 120), audio_frames(0, 16)));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert!(segments.iter().any(|s| !s.independent));
    // Every keyframe after the first GOP still starts a segment.
    for segment in &segments {
        let keys = &segment.run(VIDEO_TRACK_ID).unwrap().keys;
        assert!(
            !keys[1..].contains('K'),
            "keyframe inside a segment: {keys}"
        );
    }
    assert!(segments.iter().filter(|s| s.independent).count() >= 4);
}

#[test]
fn one_and_a_half_second_gop_cuts_early_rather_than_force() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    h.feed(&video_frames(0, 12, 45));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert!(segments[1..].iter().all(|s| s.independent));
}

#[test]
fn audio_only_cuts_on_duration() {
    let mut h = Harness::new(2);
    h.feed(&configs(false, true));
    let frames = audio_frames(500, 11);
    h.feed(&frames);
    h.finish();
    assert_eq!(h.inits(), ["init v=0 a=44100"]);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert_eq!(segments.len(), 6);
    for segment in &segments[..5] {
        assert!(segment.independent);
        assert!(segment.run(VIDEO_TRACK_ID).is_none());
        assert!(
            (segment.duration - 2.0).abs() < 0.012,
            "{}",
            segment.duration
        );
    }
    assert_eq!(segments[0].start_ms, 500);
}

#[test]
fn audio_only_waits_about_a_second() {
    let mut h = Harness::new(2);
    h.feed(&configs(false, true));
    let frames = audio_frames(0, 3);
    let start = frames.iter().position(|e| event_dts(e) >= 1000).unwrap();
    assert_eq!(h.feed(&frames[..start]), 0);
    assert_eq!(h.feed(&frames[start..=start]), 1);
    assert!(matches!(h.outputs[0], Out::Init(_)));
}

#[test]
fn video_only_starts_after_a_second_without_audio() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    let frames = video_frames(0, 10, 60);
    assert_eq!(h.feed(&frames[..30]), 0);
    assert_eq!(h.feed(&frames[30..31]), 1);
    h.feed(&frames[31..]);
    h.finish();
    assert_eq!(h.inits(), ["init v=1280 a=0"]);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert_eq!(segments.len(), 5);
    assert!(segments.iter().all(|s| s.run(AUDIO_TRACK_ID).is_none()));
}

#[test]
fn audio_config_arriving_within_a_second_joins_the_stream() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    let mut events = interleave(video_frames(0, 6, 60), audio_frames(0, 6));
    // Audio config shows up at 500 ms; earlier audio frames have no config and are dropped.
    let at = events.iter().position(|e| event_dts(e) >= 500).unwrap();
    events.insert(at, MediaEvent::AudioConfig(audio_config(44_100)));
    h.feed(&events);
    h.finish();
    assert_eq!(h.inits(), ["init v=1280 a=44100"]);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    let first_audio = segments[0].run(AUDIO_TRACK_ID).unwrap();
    assert!(first_audio.base >= 500 * 441 / 10);
}

#[test]
fn audio_config_later_than_a_second_is_ignored() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    let mut events = interleave(video_frames(0, 6, 60), audio_frames(0, 6));
    let at = events.iter().position(|e| event_dts(e) >= 1500).unwrap();
    events.insert(at, MediaEvent::AudioConfig(audio_config(44_100)));
    h.feed(&events);
    h.finish();
    assert_eq!(h.inits(), ["init v=1280 a=0"]);
    assert!(h.segments().iter().all(|s| s.run(AUDIO_TRACK_ID).is_none()));
}

#[test]
fn video_before_the_first_keyframe_is_dropped() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    // Join mid-GOP: the first keyframe is at 1000 ms.
    let video: Vec<MediaEvent> = (0..180).map(|i| video(i * 100 / 3, i % 60 == 30)).collect();
    h.feed(&interleave(video, audio_frames(0, 6)));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert_eq!(segments[0].start_ms, 1000);
    assert!(segments[0].independent);
    assert!(
        segments[0].run(AUDIO_TRACK_ID).unwrap().base < 1024,
        "audio before it dropped"
    );
}

#[test]
fn config_change_mid_stream_closes_the_segment_and_emits_an_init() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    let events = interleave(video_frames(0, 8, 60), audio_frames(0, 8));
    let at = events.iter().position(|e| event_dts(e) == 4000).unwrap();
    h.feed(&events[..at]);
    let before = h.outputs.len();
    h.feed(&[MediaEvent::VideoConfig(video_config(1280))]);
    assert_eq!(
        h.outputs.len(),
        before,
        "an identical sequence header changes nothing"
    );
    h.feed(&[MediaEvent::VideoConfig(video_config(640))]);
    assert_eq!(
        h.outputs.len(),
        before,
        "the next keyframe closes the segment"
    );
    h.feed(&events[at..=at]);
    assert!(matches!(&h.outputs[before], Out::Seg(s) if (s.duration - 2.0).abs() < 0.002));
    assert!(matches!(&h.outputs[before + 1], Out::Init(i) if i == "init v=640 a=44100"));
    h.feed(&events[at + 1..]);
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert_eq!(segments.len(), 4);
    assert!(segments.iter().all(|s| s.independent));
}

#[test]
fn audio_config_change_switches_at_the_next_video_frame() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    let events = interleave(video_frames(0, 6, 60), audio_frames(0, 6));
    let at = events.iter().position(|e| event_dts(e) >= 3000).unwrap();
    h.feed(&events[..at]);
    h.feed(&[MediaEvent::AudioConfig(audio_config(48_000))]);
    h.feed(&events[at..]);
    h.finish();
    assert_eq!(h.inits(), ["init v=1280 a=44100", "init v=1280 a=48000"]);
    let segments = h.segments();
    for segment in &segments {
        assert!(segment.duration <= 2.499);
    }
    // The switch segment starts with a non-keyframe video frame: not independent.
    assert!(segments.iter().any(|s| !s.independent));
    // After the switch, audio decode times are in 48 kHz, mapped from the timestamps.
    let after = segments
        .iter()
        .rev()
        .find_map(|s| s.run(AUDIO_TRACK_ID))
        .unwrap();
    assert!(after.base * 1000 / 48_000 >= 3000);
}

#[test]
fn finish_then_restart_starts_a_clean_timeline() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    h.feed(&interleave(
        video_frames(50_000, 5, 60),
        audio_frames(50_000, 5),
    ));
    h.finish();
    let first_run = h.segments().len();
    assert_eq!(first_run, 3);
    assert!(
        (h.segments()[2].duration - 1.0).abs() < 0.002,
        "flush uses the last frame interval"
    );
    // The next publish restarts at 0 ms and must send its configs again.
    h.feed(&interleave(video_frames(0, 2, 60), audio_frames(0, 2)));
    assert_eq!(h.inits().len(), 1);
    h.feed(&configs(true, true));
    h.feed(&interleave(video_frames(0, 5, 60), audio_frames(0, 5)));
    h.finish();
    assert_eq!(h.inits().len(), 2);
    let segments = h.segments();
    let restarted = &segments[first_run..];
    assert_eq!(restarted[0].start_ms, 0);
    assert_eq!(restarted[0].run(VIDEO_TRACK_ID).unwrap().base, 0);
    assert!(restarted[0].sequence > segments[first_run - 1].sequence);
    check_invariants(restarted, 2.0);
}

#[test]
fn timestamps_jumping_back_keep_the_output_continuous() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    h.feed(&video_frames(100_000, 5, 60));
    h.feed(&video_frames(0, 5, 60));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    assert!(segments.windows(2).all(|p| p[0].start_ms < p[1].start_ms));
    assert!(segments.len() >= 5);
}

#[test]
fn stalled_video_is_cut_on_audio() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    let events = interleave(video_frames(0, 2, 60), audio_frames(0, 8));
    h.feed(&events);
    h.feed(&interleave(
        video_frames(8000, 2, 60),
        audio_frames(8000, 2),
    ));
    h.finish();
    let segments = h.segments();
    // Video has a real hole (2 s to 8 s); audio stays continuous and segments stay bounded.
    assert!(segments.len() >= 5);
    for segment in &segments {
        assert!(segment.duration > 0.0 && segment.duration <= 2.499);
    }
    let audio: Vec<&Run> = segments
        .iter()
        .filter_map(|s| s.run(AUDIO_TRACK_ID))
        .collect();
    assert!(audio.windows(2).all(|p| p[0].end() == p[1].base));
}

#[test]
fn big_frames_force_a_cut_and_the_start_buffer_is_bounded() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    let big = Bytes::from(vec![0u8; MAX_OPEN_SEGMENT_BYTES / 4]);
    for i in 0..12 {
        let frame = Frame {
            kind: TrackKind::Video,
            dts: i * 33,
            cts: 0,
            keyframe: i == 0,
            data: big.clone(),
        };
        h.feed(&[MediaEvent::Frame(frame)]);
        assert!(h.segmenter.pending.bytes <= MAX_PENDING_BYTES);
    }
    h.feed(&[MediaEvent::Frame(Frame {
        kind: TrackKind::Video,
        dts: 1100,
        cts: 0,
        keyframe: true,
        data: big.clone(),
    })]);
    // Started video-only after a second; frames beyond the budget forced cuts.
    h.feed(&video_frames(1133, 1, 60));
    let open = h
        .segmenter
        .running
        .as_ref()
        .and_then(|r| r.segment.as_ref())
        .map_or(0, |s| s.part.bytes);
    assert!(open <= MAX_OPEN_SEGMENT_BYTES);
}

#[test]
fn hostile_input_does_not_panic() {
    let mut h = Harness::new(1);
    let mut weird = audio_config(0);
    weird.samples_per_frame = 0;
    h.feed(&[
        MediaEvent::VideoConfig(video_config(0)),
        MediaEvent::AudioConfig(weird),
    ]);
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..5000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let dts = match state % 5 {
            0 => i64::MAX - (state % 1000) as i64,
            1 => i64::MIN + (state % 1000) as i64,
            _ => (state % 20_000) as i64 - 5000,
        };
        let event = match state % 7 {
            0 => audio(dts),
            1 => MediaEvent::AudioConfig(audio_config((state % 100_000) as u32)),
            2 => MediaEvent::VideoConfig(video_config((state % 4) as u32)),
            _ => MediaEvent::Frame(Frame {
                kind: TrackKind::Video,
                dts,
                cts: (state >> 32) as i32,
                keyframe: state.is_multiple_of(3),
                data: Bytes::new(),
            }),
        };
        let _ = h.segmenter.handle_event(dts, &event);
        h.drain();
    }
    h.finish();
    assert!(!h.outputs.is_empty());
}

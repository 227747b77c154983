//! Track sets, config changes, restarts and hostile input.

use super::*;

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

/// 6 s of video and audio whose audio config only shows up at `at_ms`, packaged.
fn audio_config_at(at_ms: i64) -> Harness {
    let mut h = Harness::new(2);
    h.feed(&configs(true, false));
    let mut events = interleave(video_frames(0, 6, 60), audio_frames(0, 6));
    let at = events.iter().position(|e| event_dts(e) >= at_ms).unwrap();
    events.insert(at, MediaEvent::AudioConfig(audio_config(44_100)));
    h.feed(&events);
    h.finish();
    h
}

#[test]
fn audio_config_arriving_within_a_second_joins_the_stream() {
    // Earlier audio frames have no config and are dropped.
    let h = audio_config_at(500);
    assert_eq!(h.inits(), ["init v=1280 a=44100"]);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    let first_audio = segments[0].run(AUDIO_TRACK_ID).unwrap();
    assert!(first_audio.base >= 500 * 441 / 10);
}

#[test]
fn audio_config_later_than_a_second_is_ignored() {
    let h = audio_config_at(1500);
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
        .map_or(0, |s| s.bytes);
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

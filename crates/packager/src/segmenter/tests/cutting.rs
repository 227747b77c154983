//! Where segments are cut: GOP lengths, forced cuts, emission timing, late audio.

use super::*;

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
    let frames = start_video_only(&mut h);
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

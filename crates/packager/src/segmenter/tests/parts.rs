//! Low-Latency parts: where they are cut, when they are emitted, how segments are made of them.

use super::*;
use crate::{LiveWindow, LowLatencyConfig, WindowConfig};

fn ll_config(target_secs: u64, part_ms: u64) -> SegmenterConfig {
    let mut config = SegmenterConfig::new(Duration::from_secs(target_secs));
    config.part_target = Some(Duration::from_millis(part_ms));
    config
}

/// Video at `fps`, a keyframe every `gop` frames; timestamps rounded to the millisecond, or with
/// `jitter`, randomly rounded down or up (so each is within ±1 ms of the exact time).
fn video_at(t0: i64, seconds: i64, fps: f64, gop: i64, jitter: bool) -> Vec<MediaEvent> {
    let count = (seconds as f64 * fps) as i64;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let exact = i as f64 * 1000.0 / fps;
            let dts = t0
                + if jitter {
                    exact.floor() as i64 + (state % 2) as i64
                } else {
                    exact.round() as i64
                };
            video(dts, i % gop == 0)
        })
        .collect()
}

/// Checks every segment against the parts emitted before it, and the part duration rules.
fn check_parts(outputs: &[Out], declared: f64) -> usize {
    let mut pending: Vec<&MediaPart> = Vec::new();
    let mut count = 0;
    for out in outputs {
        match out {
            Out::Part(part) => pending.push(part),
            Out::Seg(segment) => {
                assert_eq!(
                    pending.len(),
                    segment.parts.len(),
                    "segment {}",
                    segment.msn
                );
                let mut sum = 0.0;
                for (i, (part, info)) in pending.iter().zip(&segment.parts).enumerate() {
                    let last = i + 1 == pending.len();
                    assert_eq!((part.msn, part.index as usize), (segment.msn, i));
                    assert_eq!(part.last_in_segment, last);
                    assert_eq!(part.duration, info.duration);
                    assert_eq!(part.independent, info.independent);
                    assert_eq!(part.bytes.len(), info.len);
                    // The segment holds the part's own buffers: no copy.
                    let slice = segment.bytes.slice(info.offset, info.offset + info.len);
                    let same = slice.len() == part.bytes.parts().len()
                        && slice
                            .iter()
                            .zip(part.bytes.parts())
                            .all(|(a, b)| a.as_ptr() == b.as_ptr() && a.len() == b.len());
                    assert!(same, "part {i} of {} was copied", segment.msn);
                    assert!(
                        part.duration <= declared + 1e-9,
                        "part {i} of {}: {} > {declared}",
                        segment.msn,
                        part.duration
                    );
                    if !last {
                        assert!(
                            part.duration >= 0.85 * declared - 1e-9,
                            "part {i} of {}: {} too short",
                            segment.msn,
                            part.duration
                        );
                    }
                    // Audio-only durations count samples; start times are the timestamps.
                    let offset_ms = (sum * 1000.0_f64).round() as i64;
                    assert!((part.start_ms - segment.start_ms - offset_ms).abs() <= 1);
                    assert_eq!(
                        part.program_date_time_ms - segment.pdt,
                        part.start_ms - segment.start_ms
                    );
                    sum += part.duration;
                }
                assert!((sum - segment.duration).abs() < 1e-9);
                count += pending.len();
                pending.clear();
            }
            Out::Init(_) => {}
        }
    }
    count
}

/// Decode times are continuous across every fragment of every segment, per track.
fn check_fragment_continuity(segments: &[&Seg]) {
    for track in [VIDEO_TRACK_ID, AUDIO_TRACK_ID] {
        let runs: Vec<&Run> = segments
            .iter()
            .flat_map(|s| s.fragments.iter().flat_map(|(_, runs)| runs))
            .filter(|r| r.track == track)
            .collect();
        for pair in runs.windows(2) {
            assert_eq!(pair[0].end(), pair[1].base, "track {track} decode time gap");
        }
    }
}

#[test]
fn half_second_parts_of_two_second_gops() {
    let config = ll_config(2, 500);
    assert_eq!(
        config.declared_part_target(),
        Some(Duration::from_millis(504))
    );
    let mut h = Harness::with_config(config);
    assert_eq!(
        h.segmenter.declared_part_target(),
        Some(Duration::from_millis(504))
    );
    h.feed(&configs(true, true));
    h.feed(&interleave(
        video_frames(1000, 10, 60),
        audio_frames(1000, 10),
    ));
    h.finish();
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    check_fragment_continuity(&segments);
    assert_eq!(check_parts(&h.outputs, 0.504), h.parts().len());
    for (i, segment) in segments.iter().enumerate() {
        assert_eq!(segment.msn, i as u64);
        // 15 frames of 33.3 ms: exactly the target, within the millisecond rounding.
        let durations: Vec<f64> = segment.parts.iter().map(|p| p.duration).collect();
        assert_eq!(durations.len(), 4, "{durations:?}");
        assert!(durations.iter().all(|d| (d - 0.5).abs() <= 0.0015));
        assert!(segment.parts[0].independent);
        assert!(segment.parts[1..].iter().all(|p| !p.independent));
        assert_eq!(segment.fragments.len(), 4);
    }
}

#[test]
fn a_part_is_emitted_when_the_frame_after_it_arrives() {
    let mut h = Harness::with_config(ll_config(2, 500));
    let frames = start_video_only(&mut h);
    assert_eq!(h.feed(&frames[..15]), 1, "just the init");
    assert_eq!(
        h.feed(&frames[15..16]),
        1,
        "frame 15 (500 ms) closes part 0"
    );
    assert!(matches!(&h.outputs[1], Out::Part(p) if p.index == 0 && p.duration == 0.5));
    assert_eq!(h.feed(&frames[16..60]), 2);
    // The keyframe at 2 s closes part 3 and, right after it, the segment.
    assert_eq!(h.feed(&frames[60..61]), 2);
    assert!(matches!(&h.outputs[4], Out::Part(p) if p.index == 3 && p.last_in_segment));
    assert!(matches!(&h.outputs[5], Out::Seg(s) if s.msn == 0 && s.parts.len() == 4));
}

#[test]
fn parts_stay_within_bounds_at_common_frame_rates_with_jitter() {
    for (fps, gop_secs) in [
        (30.0, 2.0),
        (29.97, 2.0),
        (25.0, 2.0),
        (24.0, 1.0),
        (60.0, 2.0),
        (15.0, 2.0),
        (50.0, 4.0),
    ] {
        for jitter in [false, true] {
            for part_ms in [333, 500, 1000] {
                let mut h = Harness::with_config(ll_config(2, part_ms));
                h.feed(&configs(true, true));
                let gop = (fps * gop_secs) as i64;
                h.feed(&interleave(
                    video_at(0, 12, fps, gop, jitter),
                    audio_frames(0, 12),
                ));
                h.finish();
                let declared = (part_ms + 4) as f64 / 1000.0;
                let parts = check_parts(&h.outputs, declared);
                let segments = h.segments();
                check_invariants(&segments, 2.0);
                check_fragment_continuity(&segments);
                assert!(parts >= segments.len(), "{fps} fps: no parts");
            }
        }
    }
}

#[test]
fn audio_only_parts_are_whole_frame_counts() {
    let mut h = Harness::with_config(ll_config(2, 500));
    h.feed(&configs(false, true));
    h.feed(&audio_frames(0, 9));
    h.finish();
    check_parts(&h.outputs, 0.504);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    check_fragment_continuity(&segments);
    // 21 AAC frames (487.6 ms) come nearest 500 ms without exceeding 504 ms.
    let frame = 1024.0 / 44_100.0;
    for segment in &segments[..segments.len() - 1] {
        let (last, rest) = segment.parts.split_last().unwrap();
        assert!(rest
            .iter()
            .all(|p| (p.duration - 21.0 * frame).abs() < 1e-9));
        assert!(last.duration <= 21.0 * frame + 1e-9);
        assert!(segment.parts.iter().all(|p| p.independent));
    }
}

#[test]
fn frame_step_puts_part_boundaries_on_even_frames() {
    let mut config = ll_config(2, 500);
    config.part_frame_step = 2;
    let mut h = Harness::with_config(config);
    h.feed(&configs(true, false));
    let frames = video_frames(0, 8, 60);
    h.feed(&frames);
    h.finish();
    check_parts(&h.outputs, 0.504);
    for part in h.parts() {
        let index = frames
            .iter()
            .position(|e| event_dts(e) == part.start_ms)
            .unwrap();
        assert_eq!(index % 2, 0, "part at frame {index}");
    }
}

#[test]
fn frame_steps_beyond_eight_count_as_eight() {
    let mut config = ll_config(2, 500);
    config.part_frame_step = u32::MAX;
    let mut h = Harness::with_config(config);
    h.feed(&configs(true, false));
    let frames = video_at(0, 8, 60.0, 120, false);
    h.feed(&frames);
    h.finish();
    let segments = h.segments();
    assert!(h.parts().len() >= 3 * segments.len(), "parts are still cut");
    for part in h.parts() {
        let index = |ms| frames.iter().position(|e| event_dts(e) == ms).unwrap();
        let (start, segment) = (
            index(part.start_ms),
            index(segments[part.msn as usize].start_ms),
        );
        assert_eq!((start - segment) % 8, 0, "part {}.{}", part.msn, part.index);
    }
}

#[test]
fn without_parts_nothing_changes() {
    let mut h = Harness::new(2);
    h.feed(&configs(true, true));
    h.feed(&interleave(video_frames(0, 6, 60), audio_frames(0, 6)));
    h.finish();
    assert!(h.parts().is_empty());
    assert!(h.segments().iter().all(|s| s.parts.is_empty()));
    assert_eq!(h.segments().len(), 3);
    assert_eq!(h.segmenter.declared_part_target(), None);
}

#[test]
fn forced_cuts_and_finish_close_the_open_part() {
    let mut h = Harness::with_config(ll_config(2, 500));
    h.feed(&configs(true, true));
    // 4 s GOPs force non-keyframe segment cuts; the stream stops mid-part.
    h.feed(&interleave(video_frames(0, 9, 120), audio_frames(0, 9)));
    h.finish();
    check_parts(&h.outputs, 0.504);
    let segments = h.segments();
    check_invariants(&segments, 2.0);
    check_fragment_continuity(&segments);
    assert!(matches!(h.outputs.last(), Some(Out::Seg(_))));
}

/// Segmenter to window, rendering after every output: every playlist is valid LL-HLS.
#[test]
fn window_playlists_stay_valid_while_parts_arrive() {
    let config = ll_config(2, 500);
    let declared = config.declared_part_target().unwrap();
    let mut h = Harness::with_config(config);
    let mut window_config = WindowConfig::new(Duration::from_secs(2), 4, "s/");
    window_config.low_latency = Some(LowLatencyConfig::new(declared));
    let mut w = LiveWindow::new(window_config);
    h.feed(&configs(true, true));
    let events = interleave(video_frames(0, 20, 60), audio_frames(0, 20));
    let mut seen = 0;
    let mut previous: Option<ferrocast_hls::validate::PlaylistFacts> = None;
    for event in &events {
        let now = WALL0 + event_dts(event).max(0);
        h.segmenter.handle_event(now, event).unwrap();
        while let Some(output) = h.segmenter.poll_output() {
            match output {
                SegmenterOutput::Init(init) => {
                    w.push_init(init);
                }
                SegmenterOutput::Part(part) => {
                    let (msn, index, bytes) = (part.msn, part.index, part.bytes.clone());
                    let last = part.last_in_segment;
                    assert_eq!(w.push_part(part), !last);
                    if !last {
                        assert_eq!(w.last_position(), Some((msn, Some(u64::from(index)))));
                        assert_eq!(w.part(msn, u64::from(index)), Some(bytes));
                    }
                }
                SegmenterOutput::Segment(segment) => {
                    let msn = segment.msn;
                    assert_eq!(w.push_segment_at(msn, segment), Some(msn));
                }
            }
            let text = String::from_utf8(w.media_playlist().to_vec()).unwrap();
            let facts = validate(&text);
            if let Some(previous) = &previous {
                ferrocast_hls::validate::validate_constant_target(previous, &facts).unwrap();
            }
            validate(std::str::from_utf8(&w.delta_playlist()).unwrap());
            previous = Some(facts);
            seen += 1;
        }
    }
    assert!(seen >= 45, "{seen}");
    let text = String::from_utf8(w.media_playlist().to_vec()).unwrap();
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.504\n"));
    assert!(text.contains(
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,PART-HOLD-BACK=1.512\n"
    ));
    let facts = validate(&text);
    let (msn, part) = w.last_position().unwrap();
    assert_eq!(facts.last_position(), Some((msn, part)));
    assert_eq!(
        facts.preload_part_uri(),
        Some(format!("s/{msn}.{}.m4s", part.unwrap() + 1).as_str())
    );
    // Parts of complete segments are served from the segment's bytes.
    let segment = w.segment(msn - 1).unwrap();
    let joined: Vec<u8> = (0..4)
        .flat_map(|i| w.part(msn - 1, i).unwrap().to_bytes().to_vec())
        .collect();
    assert_eq!(joined, segment.to_bytes().to_vec());
    assert!(w.part(msn - 1, 4).is_none());
}

#[test]
fn forward_timestamp_jumps_never_stretch_a_part_beyond_part_target() {
    // A looped input restarts with its video a little after its audio: the video timestamps jump
    // forward by 11 or 40 ms just before keyframes and inside parts. The frame before a jump lasts
    // longer; it must not carry its part over PART-TARGET.
    for jump in [11, 40] {
        let mut h = Harness::with_config(ll_config(2, 500));
        h.feed(&configs(true, true));
        let mut frames = Vec::new();
        let mut shift = 0;
        for (i, event) in video_frames(1000, 12, 60).into_iter().enumerate() {
            // Jumps just before every other keyframe and in the middle of a part.
            if i % 120 == 59 || i % 120 == 7 + 60 {
                shift += jump;
            }
            let dts = event_dts(&event) + shift;
            frames.push(video(dts, i % 60 == 0));
        }
        h.feed(&interleave(frames, audio_frames(1000, 12)));
        h.finish();
        let segments = h.segments();
        check_fragment_continuity(&segments);
        assert!(check_parts(&h.outputs, 0.504) > 0, "jump {jump}");
    }
}

#[test]
fn stretched_frames_in_a_row_lose_no_picture() {
    // Parts start on even frames only, and two frames in a row are stretched by 200 ms jumps:
    // the part is cut before the latest frame that keeps it within PART-TARGET, every picture
    // stays, and decode times stay continuous.
    let mut config = ll_config(2, 500);
    config.part_frame_step = 2;
    let mut h = Harness::with_config(config);
    h.feed(&configs(true, false));
    let mut shift = 0;
    let frames: Vec<MediaEvent> = (0..300)
        .map(|i| {
            if i % 60 == 13 || i % 60 == 14 {
                shift += 200;
            }
            video((i * 1000 + 15) / 30 + shift, i % 60 == 0)
        })
        .collect();
    h.feed(&frames);
    h.finish();
    let segments = h.segments();
    check_fragment_continuity(&segments);
    let pictures: usize = segments
        .iter()
        .filter_map(|s| s.run(VIDEO_TRACK_ID))
        .map(|r| r.durations.len())
        .sum();
    assert_eq!(pictures, 300);
    assert!(h.parts().iter().all(|p| p.duration <= 0.504 + 1e-9));
}

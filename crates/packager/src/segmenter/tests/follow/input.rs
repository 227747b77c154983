//! Followers and leaders under odd input: hostile streams, timestamp jumps, contradictory
//! boundaries.

use super::*;

#[test]
fn hostile_input_does_not_panic_with_parts_and_followers() {
    let mut leader = Harness::with_config(config(Some(300), 2));
    let mut follower = Harness::follower(config(Some(300), 1));
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for h in [&mut leader, &mut follower] {
        h.feed(&configs(true, true));
    }
    for i in 0..6000i64 {
        let r = next();
        let dts = match r % 11 {
            0 => i64::MAX - (r % 1000) as i64,
            1 => i64::MIN + (r % 1000) as i64,
            2 => (r % 20_000) as i64 - 5000,
            _ => i * 20 + (r % 7) as i64,
        };
        let event = match r % 13 {
            0 => MediaEvent::AudioConfig(audio_config([8000, 44_100, 48_000][(r % 3) as usize])),
            1 => MediaEvent::VideoConfig(video_config((r % 3) as u32)),
            2..=5 => audio(dts),
            _ => MediaEvent::Frame(Frame {
                kind: TrackKind::Video,
                dts,
                cts: ((r >> 32) % 200) as i32 - 50,
                keyframe: (r >> 8).is_multiple_of(9),
                data: Bytes::from_static(&[1; 16]),
            }),
        };
        let _ = leader.segmenter.handle_event(dts, &event);
        leader.drain();
        while let Some(b) = leader.segmenter.poll_boundary() {
            let _ = follower.segmenter.push_boundary(b);
        }
        if r % 17 == 0 {
            let bogus = Boundary {
                at_pts_ms: dts,
                msn: next() % 1000,
                part: (next() % 9) as u32,
                kind: if r % 2 == 0 {
                    BoundaryKind::SegmentStart
                } else {
                    BoundaryKind::PartStart
                },
                independent: true,
                media_ms: (next() % 100_000) as i64 - 50_000,
                program_date_time_ms: dts,
            };
            let _ = follower.segmenter.push_boundary(bogus);
        }
        let _ = follower.segmenter.handle_event(dts, &event);
        follower.drain();
        if r % 997 == 0 {
            leader.finish();
            follower.finish();
        }
    }
    leader.finish();
    follower.finish();
    // Whatever came out, the windows take it without panicking and stay bounded.
    for h in [&leader, &follower] {
        let w = window_with(h, 304, false, |w| {
            let _ = w.media_playlist_with_reports(&[]);
            let _ = w.delta_playlist();
        });
        assert!(w.held_bytes() < 64 << 20);
    }
    assert!(!leader.outputs.is_empty() && !follower.segments().is_empty());
}

#[test]
fn a_part_split_by_a_timestamp_jump_starts_where_the_leader_announces_it() {
    // Forward jumps stretch the frame before them; the leader cuts that part before the
    // stretched frame (see `cut_before_stretched_frame`), and its boundary must name that frame,
    // not the one after, or the follower would cut a frame later. The follower learns of the cut
    // only after it holds that frame, and places it there too: same parts, every picture kept.
    // Jumps of 40 ms (a late cutting frame) and 11 ms, inside parts and just before keyframes.
    for (jump, at) in [
        (40, [14, 44]),
        (11, [14, 44]),
        (40, [59, 59]),
        (11, [29, 59]),
    ] {
        let events = jumped(60, jump, &at);
        let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
        ladder.run(&events, |_, _| true);
        ladder.finish();
        let case = format!("jump {jump} at {at:?}");
        assert!(
            ladder
                .leader
                .parts()
                .iter()
                .all(|p| p.duration <= 0.504 + 1e-9),
            "{case}"
        );
        assert_eq!(
            part_starts(&ladder.leader),
            part_starts(&ladder.follower),
            "{case}"
        );
        assert_eq!(
            part_positions(&ladder.leader),
            part_positions(&ladder.follower),
            "{case}"
        );
        let pictures = |h: &Harness| -> usize {
            h.segments()
                .iter()
                .filter_map(|s| s.run(VIDEO_TRACK_ID))
                .map(|r| r.durations.len())
                .sum()
        };
        assert_eq!(pictures(&ladder.follower), 360, "{case}");
        assert_eq!(pictures(&ladder.leader), 360, "{case}");
        // Every part boundary names the first frame of its part, and every part has one.
        let leader_parts = ladder.leader.parts();
        for b in ladder
            .boundaries
            .iter()
            .filter(|b| b.kind == BoundaryKind::PartStart)
        {
            let part = leader_parts
                .iter()
                .find(|p| p.msn == b.msn && p.index == b.part)
                .expect("a part for every boundary");
            assert_eq!(b.at_pts_ms, part.start_ms, "part {}.{}", b.msn, b.part);
        }
        for p in &leader_parts {
            assert!(
                ladder
                    .boundaries
                    .iter()
                    .any(|b| (b.msn, b.part, b.at_pts_ms) == (p.msn, p.index, p.start_ms)),
                "{case}: no boundary for part {}.{}",
                p.msn,
                p.index
            );
        }
    }
}

#[test]
fn contradictory_boundaries_are_refused_and_change_nothing() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    let events = source(0, 5);
    let mid = events.iter().position(|e| event_dts(e) >= 2200).unwrap();
    ladder.run(&events[..mid], |_, _| true);
    // Segment 1 is open (2..4 s); used, either would cut it at 2.25 s.
    let boundary = |kind, msn, part| Boundary {
        at_pts_ms: 2250,
        msn,
        part,
        kind,
        independent: true,
        media_ms: 2250,
        program_date_time_ms: WALL0 + 2250,
    };
    for (kind, msn, part) in [
        (BoundaryKind::SegmentStart, 2, 2),
        (BoundaryKind::PartStart, 1, 0),
    ] {
        let refused = ladder
            .follower
            .segmenter
            .push_boundary(boundary(kind, msn, part))
            .expect_err("contradictory boundary");
        assert!(
            matches!(refused, crate::PackagerError::InvalidBoundary { msn: m, part: p, .. } if (m, p) == (msn, part)),
            "{refused}"
        );
        assert!(refused
            .to_string()
            .starts_with(&format!("boundary {msn}.{part} refused: ")));
    }
    ladder.run(&events[mid..], |_, _| true);
    ladder.finish();
    ladder.assert_aligned();
}

/// `source(1000, 12)` with a keyframe every `gop` frames, whose timestamps jump forward by `jump`
/// ms before the video frames at positions `at` of every 60 (and the audio with them), as a
/// looped input does.
fn jumped(gop: i64, jump: i64, at: &[i64]) -> Vec<MediaEvent> {
    let video = (0..360)
        .map(|i| plain(TrackKind::Video, 1000 + (i * 1000 + 15) / 30, i % gop == 0))
        .collect();
    let mut shift = 0;
    interleave(video, audio_frames(1000, 12))
        .into_iter()
        .map(|event| match event {
            MediaEvent::Frame(mut f) => {
                let i = (f.dts - 1000) * 30 / 1000;
                if f.kind == TrackKind::Video && at.contains(&(i % 60)) {
                    shift += jump;
                }
                f.dts += shift;
                MediaEvent::Frame(f)
            }
            other => other,
        })
        .collect()
}

/// Pictures in a harness's segments.
fn pictures(h: &Harness) -> usize {
    h.segments()
        .iter()
        .filter_map(|s| s.run(VIDEO_TRACK_ID))
        .map(|r| r.durations.len())
        .sum()
}

#[test]
fn a_timestamp_jump_anywhere_keeps_renditions_aligned() {
    // One jump per second of 11 ms, 40 ms or nearly three frames, before any frame of the GOP,
    // with 2 s GOPs and with 4 s GOPs (forced cuts); then a half-rate follower of a leader that
    // starts parts on even frames only.
    for jump in [11, 40, 90] {
        for at in 0..60 {
            for gop in [60, 120] {
                let case = format!("jump {jump} ms before frame {at}, GOP {gop}");
                let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
                ladder.run(&jumped(gop, jump, &[at]), |_, _| true);
                ladder.finish();
                ladder.assert_aligned();
                assert_eq!(pictures(&ladder.leader), 360, "{case}");
                assert_eq!(pictures(&ladder.follower), 360, "{case}");
                let parts = ladder.leader.parts();
                assert!(parts.iter().all(|p| p.duration <= 0.504 + 1e-9), "{case}");
            }
            let events = jumped(60, jump, &[at]);
            let mut pictures_seen = 0;
            let keep: Vec<bool> = events
                .iter()
                .map(|e| match e {
                    MediaEvent::Frame(f) if f.kind == TrackKind::Video => {
                        pictures_seen += 1;
                        pictures_seen % 2 == 1
                    }
                    _ => true,
                })
                .collect();
            let mut ladder = Ladder::new(config(Some(500), 2), config(Some(500), 1));
            ladder.run(&events, |i, _| keep[i]);
            ladder.finish();
            let case = format!("jump {jump} ms before frame {at}, half rate");
            assert_eq!(
                part_starts(&ladder.leader),
                part_starts(&ladder.follower),
                "{case}"
            );
            assert_eq!(pictures(&ladder.follower), 180, "{case}");
        }
    }
}

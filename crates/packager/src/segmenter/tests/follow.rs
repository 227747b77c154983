//! Aligned renditions: a leader's boundaries make a follower cut and number identically.

use super::*;
use crate::{BoundaryKind, LiveWindow, LowLatencyConfig, WindowConfig};

fn config(part_ms: Option<u64>, step: u32) -> SegmenterConfig {
    let mut config = SegmenterConfig::new(Duration::from_secs(2));
    config.part_target = part_ms.map(Duration::from_millis);
    config.part_frame_step = step;
    config
}

/// A frame without B-frames (cts 0), as a transcoder without B-frames writes them.
fn plain(kind: TrackKind, dts: i64, keyframe: bool) -> MediaEvent {
    MediaEvent::Frame(Frame {
        kind,
        dts,
        cts: 0,
        keyframe,
        data: Bytes::from_static(&[0; 64]),
    })
}

/// 30 fps video (ms-rounded), a keyframe every 2 s, and 44.1 kHz audio, interleaved.
fn source(t0: i64, seconds: i64) -> Vec<MediaEvent> {
    let video = (0..seconds * 30)
        .map(|i| plain(TrackKind::Video, t0 + (i * 1000 + 15) / 30, i % 60 == 0))
        .collect();
    interleave(video, audio_frames(t0, seconds))
}

/// `events` as a transcoder without B-frames outputs them: each picture decoded when presented.
fn without_b_frames(events: &[MediaEvent]) -> Vec<MediaEvent> {
    events
        .iter()
        .map(|e| match e {
            MediaEvent::Frame(f) if f.kind == TrackKind::Video => {
                plain(TrackKind::Video, f.pts(), f.keyframe)
            }
            other => other.clone(),
        })
        .collect()
}

/// (msn, part index, start, duration in µs) of every part emitted.
fn part_positions(h: &Harness) -> Vec<(u64, u32, i64, i64)> {
    h.parts()
        .iter()
        .map(|p| {
            (
                p.msn,
                p.index,
                p.start_ms,
                (p.duration * 1e6).round() as i64,
            )
        })
        .collect()
}

/// (msn, part index, start) of every part emitted.
fn part_starts(h: &Harness) -> Vec<(u64, u32, i64)> {
    part_positions(h).iter().map(|p| (p.0, p.1, p.2)).collect()
}

/// (msn, part index) of every gap part emitted.
fn gap_parts(h: &Harness) -> Vec<(u64, u32)> {
    h.parts()
        .iter()
        .filter(|p| p.gap)
        .map(|p| (p.msn, p.index))
        .collect()
}

/// (msn, start, pdt, duration in µs, gap) of every segment emitted.
fn segment_positions(h: &Harness) -> Vec<(u64, i64, i64, i64, bool)> {
    h.segments()
        .iter()
        .map(|s| {
            (
                s.msn,
                s.start_ms,
                s.pdt,
                (s.duration * 1e6).round() as i64,
                s.gap,
            )
        })
        .collect()
}

/// A leader and a follower fed in lockstep: each source event goes to the leader, its new
/// boundaries to the follower, then the rendition's version of the event (if any) to the
/// follower, as a transcoder lagging its source would deliver them.
struct Ladder {
    leader: Harness,
    follower: Harness,
    boundaries: Vec<Boundary>,
}

impl Ladder {
    fn new(leader: SegmenterConfig, follower: SegmenterConfig) -> Self {
        Self::with_tracks(leader, follower, true, true)
    }

    fn with_tracks(
        leader: SegmenterConfig,
        follower: SegmenterConfig,
        video: bool,
        audio: bool,
    ) -> Self {
        let mut ladder = Self {
            leader: Harness::with_config(leader),
            follower: Harness::follower(follower),
            boundaries: Vec::new(),
        };
        ladder.leader.feed(&configs(video, audio));
        ladder.follower.feed(&configs(video, audio));
        ladder
    }

    fn relay(&mut self) {
        while let Some(boundary) = self.leader.segmenter.poll_boundary() {
            self.boundaries.push(boundary.clone());
            self.follower
                .segmenter
                .push_boundary(boundary)
                .expect("fake muxer never fails");
            self.follower.drain();
        }
    }

    fn run(&mut self, events: &[MediaEvent], rendition: impl Fn(usize, &MediaEvent) -> bool) {
        for (i, event) in events.iter().enumerate() {
            self.leader.feed(std::slice::from_ref(event));
            self.relay();
            if rendition(i, event) {
                self.follower.feed(std::slice::from_ref(event));
            }
        }
    }

    fn finish(&mut self) {
        self.leader.finish();
        self.relay();
        self.follower.finish();
    }

    /// The follower's segments and parts have the leader's numbers, starts and durations.
    fn assert_aligned(&self) {
        assert_eq!(
            segment_positions(&self.leader),
            segment_positions(&self.follower)
        );
        assert_eq!(part_positions(&self.leader), part_positions(&self.follower));
    }
}

/// Pushes a harness's outputs into a Low-Latency window as a server would, calling `each` after
/// every push; `strict` asserts every segment keeps the number the segmenter gave it.
fn window_with(
    h: &Harness,
    part_ms: u64,
    strict: bool,
    mut each: impl FnMut(&LiveWindow),
) -> LiveWindow {
    let mut config = WindowConfig::new(Duration::from_secs(2), 6, "r/");
    config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(part_ms)));
    let mut w = LiveWindow::new(config);
    for out in &h.outputs {
        match out {
            Out::Init(text) => {
                w.push_init(crate::InitSegment {
                    bytes: Bytes::from(text.clone()),
                    video: None,
                    audio: None,
                    views: None,
                });
            }
            Out::Part(part) => {
                w.push_part(part.clone());
            }
            Out::Seg(s) => {
                let segment = MediaSegment {
                    bytes: s.bytes.clone(),
                    duration: s.duration,
                    start_ms: s.start_ms,
                    program_date_time_ms: s.pdt,
                    independent: s.independent,
                    msn: s.msn,
                    parts: s.parts.clone(),
                    gap: s.gap,
                    views: None,
                };
                let pushed = w.push_segment_at(s.msn, segment);
                assert!(!strict || pushed == Some(s.msn), "segment {}", s.msn);
            }
        }
        each(&w);
    }
    w
}

/// The same, validating every playlist rendered.
fn window_of(h: &Harness) -> LiveWindow {
    window_with(h, 504, true, |w| {
        validate(std::str::from_utf8(&w.media_playlist()).unwrap());
        validate(std::str::from_utf8(&w.delta_playlist()).unwrap());
    })
}

#[test]
fn follower_with_the_same_frames_cuts_and_numbers_identically() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    ladder.run(&source(1000, 11), |_, _| true);
    // Before finishing, both windows report the same position: rendition reports agree.
    let (leader_w, follower_w) = (window_of(&ladder.leader), window_of(&ladder.follower));
    assert_eq!(leader_w.last_position(), follower_w.last_position());
    assert_eq!(leader_w.media_playlist(), follower_w.media_playlist());
    ladder.finish();
    assert!(ladder.follower.segmenter.is_follower());
    assert_eq!(ladder.follower.inits().len(), 1);
    assert_eq!(part_positions(&ladder.leader).len(), 5 * 4 + 2);
    ladder.assert_aligned();
    // Boundaries: a segment start every 2 s, part starts between, in input presentation time.
    let kinds: Vec<(u64, u32, BoundaryKind, i64)> = ladder
        .boundaries
        .iter()
        .take(5)
        .map(|b| (b.msn, b.part, b.kind, b.at_pts_ms))
        .collect();
    assert_eq!(
        kinds,
        [
            (0, 0, BoundaryKind::SegmentStart, 1000),
            (0, 1, BoundaryKind::PartStart, 1500),
            (0, 2, BoundaryKind::PartStart, 2000),
            (0, 3, BoundaryKind::PartStart, 2500),
            (1, 0, BoundaryKind::SegmentStart, 3000),
        ]
    );
    // Same decode times on both renditions (RFC 8216 §6.2.4).
    let (l, f) = (ladder.leader.segments(), ladder.follower.segments());
    for (l, f) in l.iter().zip(&f) {
        assert_eq!(l.run(VIDEO_TRACK_ID), f.run(VIDEO_TRACK_ID));
        assert_eq!(l.run(AUDIO_TRACK_ID), f.run(AUDIO_TRACK_ID));
    }
}

#[test]
fn follower_at_half_the_frame_rate_keeps_every_boundary() {
    // The leader puts part boundaries on even frames only; the follower has every other frame.
    let mut ladder = Ladder::new(config(Some(500), 2), config(Some(500), 1));
    let events = source(0, 12);
    let mut video_index = 0;
    let keep: Vec<bool> = events
        .iter()
        .map(|e| match e {
            MediaEvent::Frame(f) if f.kind == TrackKind::Video => {
                video_index += 1;
                (video_index - 1) % 2 == 0
            }
            _ => true,
        })
        .collect();
    ladder.run(&events, |i, _| keep[i]);
    ladder.finish();
    let leader = part_positions(&ladder.leader);
    let follower = part_positions(&ladder.follower);
    // Identical numbers and start times; only the last part of the stream may differ in length
    // (each rendition's last frame lasts its own frame interval).
    assert_eq!(leader.len(), follower.len());
    assert_eq!(part_starts(&ladder.leader), part_starts(&ladder.follower));
    assert_eq!(
        leader[..leader.len() - 1],
        follower[..follower.len() - 1],
        "durations"
    );
    window_of(&ladder.follower);
    check_invariants(&ladder.follower.segments(), 2.0);
}

#[test]
fn late_follower_starts_at_the_current_segment() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    // The rendition's frames begin at 5.3 s: mid-segment 2 (4..6 s).
    ladder.run(&source(0, 12), |_, e| event_dts(e) >= 5300);
    ladder.finish();
    let leader = part_positions(&ladder.leader);
    let follower = part_positions(&ladder.follower);
    // Nothing before the first segment boundary it reaches (6 s, msn 3); identical from there.
    assert_eq!(part_starts(&ladder.follower).first(), Some(&(3, 0, 6000)));
    let from = leader.iter().position(|p| p.0 == 3).unwrap();
    assert_eq!(leader[from..], follower[..]);
    assert!(ladder.follower.segments().iter().all(|s| !s.gap));
    let w = window_of(&ladder.follower);
    assert_eq!(w.media_sequence(), 3);
}

#[test]
fn what_a_follower_misses_becomes_gaps_on_the_leaders_grid() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    // The rendition loses everything from 5.5 s to 9.2 s: the rest of segment 2 (4..6 s), all
    // of segment 3, the start of segment 4 (8..10 s).
    ladder.run(&source(0, 14), |_, e| !(5500..9200).contains(&event_dts(e)));
    ladder.finish();
    // Same segments, starts, PDTs and durations as the leader; segment 3 is a gap.
    let leader = segment_positions(&ladder.leader);
    let follower = segment_positions(&ladder.follower);
    assert_eq!(leader.len(), follower.len());
    for (l, f) in leader.iter().zip(&follower) {
        assert_eq!(
            (l.0, l.1, l.2, l.3),
            (f.0, f.1, f.2, f.3),
            "segment {}",
            f.0
        );
        assert_eq!(f.4, f.0 == 3, "segment {} gap", f.0);
    }
    // Parts too: the intervals without media are GAP parts.
    assert_eq!(
        part_positions(&ladder.leader),
        part_positions(&ladder.follower)
    );
    assert_eq!(
        gap_parts(&ladder.follower),
        [(2, 3), (3, 0), (3, 1), (3, 2), (3, 3), (4, 0), (4, 1)]
    );
    // Segment 4 resumes with audio at 9.2 s; its pictures wait for the keyframe at 10 s.
    let segment_4 = ladder.follower.segments()[4];
    assert!(segment_4.run(VIDEO_TRACK_ID).is_none());
    assert!(segment_4.run(AUDIO_TRACK_ID).is_some());
    assert!(ladder.follower.segments()[5].independent);
    let w = window_of(&ladder.follower);
    assert!(w.segment(3).is_none() && w.part(2, 3).is_none() && w.part(2, 2).is_some());
    let text = String::from_utf8(w.media_playlist().to_vec()).unwrap();
    assert!(text.contains("#EXT-X-GAP\nr/3.m4s\n"));
    assert!(text.contains("URI=\"r/4.0.m4s\",GAP=YES\n"));
}

#[test]
fn follower_frames_ahead_of_the_first_boundary_are_held() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    let events = source(0, 7);
    // The rendition's first 12 frames arrive before the leader has seen anything.
    ladder.follower.feed(&events[..12]);
    assert!(ladder.follower.segments().is_empty() && ladder.follower.parts().is_empty());
    for (i, event) in events.iter().enumerate() {
        ladder.leader.feed(std::slice::from_ref(event));
        ladder.relay();
        if i >= 12 {
            ladder.follower.feed(std::slice::from_ref(event));
        }
    }
    ladder.finish();
    ladder.assert_aligned();
}

#[test]
fn audio_only_follower_cuts_on_the_leaders_audio_boundaries() {
    let mut ladder = Ladder::with_tracks(config(Some(500), 1), config(Some(500), 1), false, true);
    ladder.run(&audio_frames(0, 9), |_, _| true);
    ladder.finish();
    assert!(part_positions(&ladder.leader).len() > 10);
    ladder.assert_aligned();
}

#[test]
fn follower_timestamps_match_a_leader_with_b_frames() {
    let mut ladder = Ladder::new(config(None, 1), config(None, 1));
    // The source has B-frames: every picture is presented 66 ms after it is decoded.
    let video: Vec<MediaEvent> = (0..180)
        .map(|i| {
            MediaEvent::Frame(Frame {
                kind: TrackKind::Video,
                dts: 1000 + (i * 1000 + 15) / 30,
                cts: 66,
                keyframe: i % 60 == 0,
                data: Bytes::from_static(&[0; 64]),
            })
        })
        .collect();
    let events = interleave(video, audio_frames(1066, 6));
    // The transcoded rendition has no B-frames: decoded when presented.
    let rendition = without_b_frames(&events);
    for (event, transcoded) in events.iter().zip(&rendition) {
        ladder.leader.feed(std::slice::from_ref(event));
        ladder.relay();
        ladder.follower.feed(std::slice::from_ref(transcoded));
    }
    ladder.finish();
    assert_eq!(ladder.boundaries[0].at_pts_ms, 1066);
    assert_eq!(ladder.boundaries[0].media_ms, 66);
    let (l, f) = (ladder.leader.segments(), ladder.follower.segments());
    assert_eq!(l.len(), f.len());
    for (l, f) in l.iter().zip(&f) {
        assert_eq!(l.msn, f.msn);
        assert_eq!(l.pdt, f.pdt);
        // Presentation starts agree: the leader's decode time plus its 66 ms offset.
        let lv = l.run(VIDEO_TRACK_ID).unwrap();
        let fv = f.run(VIDEO_TRACK_ID).unwrap();
        assert_eq!(lv.base + 66 * 90, fv.base);
        // Audio has no offset: identical.
        let (la, fa) = (l.run(AUDIO_TRACK_ID), f.run(AUDIO_TRACK_ID));
        assert_eq!(la.map(|r| r.base), fa.map(|r| r.base));
    }
}

/// Frame `k` in decode order of a 30 fps stream with two B-frames between references and
/// closed GOPs of 60 pictures (I0 P3 B1 B2 P6 B4 B5 ... P58 P59), the way x264 and OBS send it:
/// decoded at slot `k`, presented at slot `p + 2` (two slots of reorder delay).
fn reordered(k: i64) -> Frame {
    let (gop, j) = (k / 60, k % 60);
    let p = gop * 60
        + match j {
            0 | 58 | 59 => j,
            _ if j % 3 == 1 => j + 2,
            _ => j - 1,
        };
    let at = |slot: i64| 1000 + (slot * 1000 + 15) / 30;
    Frame {
        kind: TrackKind::Video,
        dts: at(k),
        cts: i32::try_from(at(p + 2) - at(k)).unwrap(),
        keyframe: j == 0,
        data: Bytes::from_static(&[0; 64]),
    }
}

#[test]
fn parts_of_a_follower_without_b_frames_last_what_the_leaders_last() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    let video: Vec<MediaEvent> = (0..240).map(|k| MediaEvent::Frame(reordered(k))).collect();
    let events = interleave(video, audio_frames(1066, 8));
    // The transcoded rendition: every picture decoded when presented, keyframes where the
    // source's are presented.
    let rendition = without_b_frames(&events);
    // A transcoder delivers a picture once it is presented; feed in that order.
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (event_dts(&rendition[i]), i));
    let mut next = 0;
    for event in &events {
        ladder.leader.feed(std::slice::from_ref(event));
        ladder.relay();
        while next < order.len() && event_dts(&rendition[order[next]]) + 100 <= event_dts(event) {
            ladder
                .follower
                .feed(std::slice::from_ref(&rendition[order[next]]));
            next += 1;
        }
    }
    for &i in &order[next..] {
        ladder.follower.feed(std::slice::from_ref(&rendition[i]));
    }
    ladder.finish();
    let declared = config(Some(500), 1)
        .declared_part_target()
        .unwrap()
        .as_secs_f64();
    let leader = part_positions(&ladder.leader);
    let follower = part_positions(&ladder.follower);
    assert!(leader.len() >= 12, "{leader:?}");
    // Every complete segment's parts: same numbers, same durations (±1 ms of rounding), none
    // beyond PART-TARGET.
    let last_msn = leader.last().unwrap().0;
    let complete = |p: &&(u64, u32, i64, i64)| p.0 < last_msn;
    let l: Vec<_> = leader.iter().filter(complete).collect();
    let f: Vec<_> = follower
        .iter()
        .filter(complete)
        .filter(|p| p.0 >= l[0].0)
        .collect();
    assert_eq!(l.len(), f.len(), "leader {l:?}\nfollower {f:?}");
    for (l, f) in l.iter().zip(&f) {
        assert_eq!((l.0, l.1), (f.0, f.1));
        assert!(
            (l.3 - f.3).abs() <= 1_000,
            "part {}.{}: {} vs {} µs",
            l.0,
            l.1,
            l.3,
            f.3
        );
        assert!(
            f.3 as f64 / 1e6 <= declared,
            "part {}.{} lasts {} µs",
            f.0,
            f.1,
            f.3
        );
    }
}

#[test]
fn follower_config_change_takes_effect_at_the_next_segment() {
    let mut ladder = Ladder::new(config(Some(500), 1), config(Some(500), 1));
    let events = source(0, 9);
    let at = events.iter().position(|e| event_dts(e) >= 3200).unwrap();
    ladder.run(&events[..at], |_, _| true);
    let before = ladder.follower.outputs.len();
    ladder
        .follower
        .feed(&[MediaEvent::VideoConfig(video_config(640))]);
    assert_eq!(
        ladder.follower.outputs.len(),
        before,
        "nothing closes early"
    );
    ladder.run(&events[at..], |_, _| true);
    ladder.finish();
    // The rest of segment 1 is dropped (its media would need the new init): part 1.2 ends with
    // the last picture held until the boundary, part 1.3 is a gap. Segment 2 starts with the
    // new init at 4 s, and numbers and durations stay the leader's throughout.
    ladder.assert_aligned();
    let init_at = ladder
        .follower
        .outputs
        .iter()
        .position(|o| matches!(o, Out::Init(i) if i.contains("640")))
        .unwrap();
    assert!(matches!(&ladder.follower.outputs[init_at - 1], Out::Seg(s) if s.msn == 1));
    assert!(matches!(&ladder.follower.outputs[init_at + 1], Out::Part(p) if p.msn == 2));
    assert_eq!(gap_parts(&ladder.follower), [(1, 3)]);
    window_of(&ladder.follower);
}

mod input;

use super::*;
use ferrocast_hls::validate::{validate_media_playlist, PlaylistFacts};
use std::time::Duration;

const T0: i64 = 1_714_564_800_000;

fn ll_window(size: usize) -> LiveWindow {
    let mut config = WindowConfig::new(Duration::from_secs(2), size, "k/");
    config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(504)));
    LiveWindow::new(config)
}

fn init() -> InitSegment {
    InitSegment {
        bytes: Bytes::from(vec![9; 100]),
        video: None,
        audio: None,
        views: None,
    }
}

/// Part `index` of segment `msn`: 500 ms (the last one `last_ms`), 100 bytes of `msn * 10 + index`.
fn part(msn: u64, index: u32, last: bool) -> MediaPart {
    let start_ms = msn as i64 * 2000 + i64::from(index) * 500;
    MediaPart {
        bytes: Bytes::from(vec![(msn * 10) as u8 + index as u8; 100]).into(),
        duration: 0.5,
        independent: index == 0,
        start_ms,
        program_date_time_ms: T0 + start_ms,
        msn,
        index,
        last_in_segment: last,
        gap: false,
    }
}

/// The segment the segmenter would emit after `parts`.
fn segment_of(parts: &[MediaPart]) -> MediaSegment {
    let (bytes, infos) = join_parts(parts.iter().map(|p| {
        let info = PartInfo::unplaced(p.duration, p.independent, p.gap);
        (&p.bytes, info)
    }));
    MediaSegment {
        bytes,
        duration: parts.iter().map(|p| p.duration).sum(),
        start_ms: parts[0].start_ms,
        program_date_time_ms: parts[0].program_date_time_ms,
        independent: parts[0].independent,
        msn: parts[0].msn,
        parts: infos,
        gap: false,
        views: None,
    }
}

/// Pushes segment `msn` part by part, as the segmenter emits it, then the segment.
fn push_whole(w: &mut LiveWindow, msn: u64) {
    let parts: Vec<MediaPart> = (0..4).map(|i| part(msn, i, i == 3)).collect();
    for p in &parts {
        w.push_part(p.clone());
    }
    assert_eq!(w.push_segment_at(msn, segment_of(&parts)), Some(msn));
}

fn valid(bytes: &Bytes) -> (String, PlaylistFacts) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let facts = validate_media_playlist(&text).unwrap_or_else(|v| panic!("{v:?}\n{text}"));
    (text, facts)
}

#[test]
fn golden_low_latency_playlist() {
    let mut w = ll_window(3);
    w.push_init(init());
    for msn in 0..4 {
        push_whole(&mut w, msn);
    }
    assert!(w.push_part(part(4, 0, false)));
    assert!(w.push_part(part(4, 1, false)));
    let expected = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,PART-HOLD-BACK=1.512
#EXT-X-PART-INF:PART-TARGET=0.504
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI=\"k/init-0.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXT-X-PART:DURATION=0.500,URI=\"k/1.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"k/1.1.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/1.2.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/1.3.m4s\"
#EXTINF:2.000,
k/1.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.000Z
#EXT-X-PART:DURATION=0.500,URI=\"k/2.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"k/2.1.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/2.2.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/2.3.m4s\"
#EXTINF:2.000,
k/2.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:06.000Z
#EXT-X-PART:DURATION=0.500,URI=\"k/3.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"k/3.1.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/3.2.m4s\"
#EXT-X-PART:DURATION=0.500,URI=\"k/3.3.m4s\"
#EXTINF:2.000,
k/3.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:08.000Z
#EXT-X-PART:DURATION=0.500,URI=\"k/4.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.500,URI=\"k/4.1.m4s\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"k/4.2.m4s\"
";
    let (text, facts) = valid(&w.media_playlist());
    assert_eq!(text, expected);
    assert_eq!(facts.last_position(), Some((4, Some(1))));
    assert_eq!(w.last_position(), Some((4, Some(1))));
    // Parts of the open segment, of listed segments (parts written or not), not beyond.
    assert_eq!(w.part(4, 1).unwrap().to_bytes()[0], 41);
    assert_eq!(w.part(1, 2).unwrap().to_bytes().to_vec(), vec![12; 100]);
    assert!(w.part(4, 2).is_none());
    assert!(w.part(1, 4).is_none());
    // Segment 0 left the playlist but is retained, parts included.
    assert_eq!(w.part(0, 3).unwrap().to_bytes().to_vec(), vec![3; 100]);
    // Held: init + four listed/retained segments of 400 bytes + two open parts.
    assert_eq!(w.held_bytes(), 100 + 4 * 400 + 200);
}

#[test]
fn final_parts_come_with_their_segment() {
    let mut w = ll_window(3);
    w.push_init(init());
    assert!(w.push_part(part(0, 0, false)));
    let before = w.media_playlist();
    assert!(
        !w.push_part(part(0, 1, true)),
        "listed only with its segment"
    );
    assert_eq!(w.media_playlist(), before);
    assert_eq!(w.last_position(), Some((0, Some(0))));
    let parts = [part(0, 0, false), part(0, 1, true)];
    w.push_segment_at(0, segment_of(&parts));
    assert_eq!(w.last_position(), Some((0, Some(1))));
    assert_eq!(w.part(0, 1).unwrap().to_bytes().to_vec(), vec![1; 100]);
    valid(&w.media_playlist());
    // Stale numbers are refused.
    assert!(!w.push_part(part(0, 2, false)));
    assert_eq!(w.push_segment_at(0, segment_of(&parts)), None);
}

#[test]
fn delta_updates_skip_old_segments_and_apply() {
    let mut w = ll_window(10);
    w.push_init(init());
    for msn in 0..10 {
        push_whole(&mut w, msn);
    }
    w.push_part(part(10, 0, false));
    let (_, full) = valid(&w.media_playlist());
    let (delta_text, delta) = valid(&w.delta_playlist());
    assert!(delta_text.contains("#EXT-X-VERSION:9\n"));
    // Ten 2 s segments, Skip Boundary 12 s: the three ending more than 12 s ago are skipped.
    assert_eq!(delta.skipped_segments, 3);
    assert!(delta_text.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP"));
    let merged = delta.apply_delta(&full).unwrap();
    assert_eq!(merged.segments, full.segments);
    assert_eq!(merged.trailing_parts, full.trailing_parts);
    // Nothing to skip yet: the delta is the full playlist itself.
    let mut young = ll_window(10);
    young.push_init(init());
    push_whole(&mut young, 0);
    assert_eq!(young.delta_playlist(), young.media_playlist());
}

#[test]
fn parts_leave_the_playlist_after_three_target_durations() {
    let mut w = ll_window(6);
    w.push_init(init());
    for msn in 0..6 {
        push_whole(&mut w, msn);
    }
    let (_, facts) = valid(&w.media_playlist());
    let with_parts: Vec<u64> = facts
        .segments
        .iter()
        .filter(|s| !s.parts.is_empty())
        .map(|s| s.msn)
        .collect();
    // 12 s listed; segments ending within 6 s of the end keep their parts.
    assert_eq!(with_parts, [2, 3, 4, 5]);
    assert!(w.part(0, 0).is_some(), "still servable");
}

#[test]
fn reports_are_appended_and_read_back() {
    let mut w = ll_window(3);
    w.push_init(init());
    push_whole(&mut w, 0);
    w.push_part(part(1, 0, false));
    let mut other = ll_window(3);
    other.push_init(init());
    push_whole(&mut other, 0);
    let report = other.rendition_report("../720p/index.m3u8").unwrap();
    assert_eq!((report.last_msn, report.last_part), (0, Some(3)));
    let (text, facts) = valid(&w.media_playlist_with_reports(std::slice::from_ref(&report)));
    assert!(text.ends_with(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"k/1.1.m4s\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=0,LAST-PART=3\n"
    ));
    assert_eq!(facts.rendition_reports, std::slice::from_ref(&report));
    valid(&w.delta_playlist_with_reports(&[report]));
    assert_eq!(w.media_playlist_with_reports(&[]), w.media_playlist());
}

#[test]
fn end_and_discontinuity_close_trailing_parts() {
    let mut w = ll_window(5);
    w.push_init(init());
    push_whole(&mut w, 0);
    w.push_part(part(1, 0, false));
    w.push_part(part(1, 1, false));
    // The publisher left without its last segment: the parts become segment 1.
    w.mark_discontinuity();
    assert_eq!(w.next_msn(), 2);
    let (text, facts) = valid(&w.media_playlist());
    assert!(facts.trailing_parts.is_empty());
    assert_eq!(facts.segments[1].duration, 1.0);
    assert_eq!(facts.segments[1].parts.len(), 2);
    assert!(
        !text.contains("#EXT-X-DISCONTINUITY\n"),
        "nothing follows it yet"
    );
    assert_eq!(w.segment(1).unwrap().len(), 200);
    // The next publish: its parts follow the discontinuity.
    w.push_init(init());
    w.push_part(part(2, 0, false));
    let (text, facts) = valid(&w.media_playlist());
    assert!(text.contains(
        "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"k/init-1.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.000Z\n#EXT-X-PART:DURATION=0.500,URI=\"k/2.0.m4s\""
    ));
    assert_eq!(facts.trailing_parts.len(), 1);
    w.end();
    let (text, facts) = valid(&w.media_playlist());
    assert!(facts.end_list && facts.trailing_parts.is_empty());
    assert!(!text.contains("PRELOAD-HINT") && !text.contains("CAN-BLOCK-RELOAD"));
    assert_eq!(facts.segments.last().map(|s| s.msn), Some(2));
    assert!(w.is_ended());
}

#[test]
fn skipped_numbers_become_gaps_and_a_late_window_starts_late() {
    let mut w = ll_window(10);
    w.push_init(init());
    // A follower that starts late begins at the leader's number.
    assert!(w.push_part(part(7, 0, false)));
    assert_eq!(w.media_sequence(), 7);
    w.push_part(part(7, 1, false));
    w.push_part(part(7, 2, false));
    push_whole(&mut w, 7);
    // It missed 8 and 9.
    push_whole(&mut w, 10);
    let (text, facts) = valid(&w.media_playlist());
    assert_eq!(facts.media_sequence, 7);
    let gaps: Vec<(u64, f64)> = facts
        .segments
        .iter()
        .filter(|s| s.gap)
        .map(|s| (s.msn, s.duration))
        .collect();
    assert_eq!(gaps, [(8, 2.0), (9, 2.0)]);
    assert!(text.contains("#EXTINF:2.000,\n#EXT-X-GAP\nk/8.m4s\n"));
    assert!(w.segment(8).is_none() && w.part(8, 0).is_none());
    assert_eq!(w.bitrates(), Some((1600, 1600)));
}

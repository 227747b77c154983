use super::*;
use std::time::Duration;

const T0: i64 = 1_714_564_800_000;

fn window(size: usize) -> LiveWindow {
    LiveWindow::new(WindowConfig::new(Duration::from_secs(2), size, "k3x9/"))
}

fn init(tag: u8) -> InitSegment {
    InitSegment {
        bytes: Bytes::from(vec![tag; 100]),
        video: None,
        audio: None,
        views: None,
    }
}

fn segment(index: i64, duration: f64, independent: bool) -> MediaSegment {
    MediaSegment {
        bytes: Bytes::from(vec![index as u8; 1000]).into(),
        duration,
        start_ms: index * 2000,
        program_date_time_ms: T0 + index * 2000,
        independent,
        msn: index as u64,
        parts: Vec::new(),
        gap: false,
        views: None,
    }
}

fn text(w: &LiveWindow) -> String {
    String::from_utf8(w.media_playlist().to_vec()).unwrap_or_default()
}

#[test]
fn empty_window_renders_a_valid_playlist() {
    let w = window(3);
    assert_eq!(
        text(&w),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    assert_eq!(w.bitrates(), None);
    assert_eq!(w.segment_count(), 0);
    assert!(w.current_init().is_none());
}

#[test]
fn golden_window_with_reconnect() {
    let mut w = window(3);
    w.push_init(init(1));
    for i in 0..4 {
        w.push_segment(segment(i, 2.0, true));
    }
    w.mark_discontinuity();
    w.push_init(init(2));
    w.push_segment(segment(5, 1.5, false));
    w.end();
    let expected = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI=\"k3x9/init-0.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:02.000Z
#EXTINF:2.000,
k3x9/1.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:04.000Z
#EXTINF:2.000,
k3x9/2.m4s
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:06.000Z
#EXTINF:2.000,
k3x9/3.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI=\"k3x9/init-1.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:10.000Z
#EXTINF:1.500,
k3x9/4.m4s
#EXT-X-ENDLIST
";
    assert_eq!(text(&w), expected);
    assert!(w.is_ended());
}

#[test]
fn window_slides_and_msn_never_goes_back() {
    let mut w = window(3);
    w.push_init(init(1));
    for i in 0..20 {
        assert_eq!(w.push_segment(segment(i, 2.0, true)), i as u64);
        assert!(w.segment_count() <= 3);
        assert_eq!(w.media_sequence(), (i as u64).saturating_sub(2));
        assert!(text(&w).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    }
}

#[test]
fn never_shorter_than_three_target_durations() {
    let mut w = window(3);
    w.push_init(init(1));
    for i in 0..10 {
        w.push_segment(segment(i, 1.0, true));
    }
    assert_eq!(w.segment_count(), 6);
}

#[test]
fn discontinuity_sequence_counts_discontinuities_leaving_the_window() {
    let mut w = window(3);
    w.push_init(init(1));
    w.mark_discontinuity(); // before any segment: ignored
    w.push_segment(segment(0, 2.0, true));
    w.mark_discontinuity();
    w.push_segment(segment(1, 2.0, true));
    w.push_segment(segment(2, 2.0, true));
    w.push_segment(segment(3, 2.0, true));
    assert_eq!(w.discontinuity_sequence(), 0);
    assert!(text(&w).contains("#EXT-X-DISCONTINUITY\n"));
    w.push_segment(segment(4, 2.0, true));
    assert_eq!(w.discontinuity_sequence(), 1);
    let t = text(&w);
    assert!(t.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
    assert!(!t.contains("#EXT-X-DISCONTINUITY\n"));
}

#[test]
fn removed_segments_stay_downloadable_then_go() {
    let mut w = window(3);
    w.push_init(init(1));
    for i in 0..4 {
        w.push_segment(segment(i, 2.0, true));
    }
    // Segment 0 left the playlist; it stays for its duration plus the playlist's (2 + 8 s).
    assert!(w.segment(0).is_some());
    for i in 4..8 {
        w.push_segment(segment(i, 2.0, true));
        assert!(
            w.segment(0).is_some(),
            "still downloadable after segment {i}"
        );
    }
    w.push_segment(segment(8, 2.0, true));
    assert!(w.segment(0).is_none());
    assert!(w.segment(5).is_some());
    assert!(w.segment(9).is_none());
    // Bounded: listed + retained segments + init.
    assert!(w.held_bytes() <= (3 + 5) * 1000 + 100);
}

#[test]
fn inits_are_kept_while_referenced() {
    let mut w = window(3);
    let first = w.push_init(init(1));
    w.push_segment(segment(0, 2.0, true));
    let second = w.push_init(init(2));
    assert_ne!(first, second);
    assert!(w.init(first).is_some(), "segment 0 still refers to it");
    for i in 1..30 {
        w.push_segment(segment(i, 2.0, true));
    }
    assert!(w.init(first).is_none());
    assert!(w.init(second).is_some());
    assert_eq!(w.current_init().map(|i| i.bytes[0]), Some(2));
    // An init nobody refers to yet is kept because it is the latest.
    let third = w.push_init(init(3));
    assert!(w.init(third).is_some());
    assert!(w.init(second).is_some());
}

#[test]
fn independent_segments_only_while_all_listed_are() {
    let mut w = window(3);
    w.push_init(init(1));
    w.push_segment(segment(0, 2.0, true));
    w.push_segment(segment(1, 2.0, false));
    assert!(!text(&w).contains("INDEPENDENT"));
    for i in 2..5 {
        w.push_segment(segment(i, 2.0, true));
    }
    assert!(text(&w).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
}

#[test]
fn playlist_is_cached_between_changes() {
    let mut w = window(3);
    w.push_init(init(1));
    w.push_segment(segment(0, 2.0, true));
    let a = w.media_playlist();
    let b = w.media_playlist();
    assert_eq!(a.as_ptr(), b.as_ptr());
    w.push_segment(segment(1, 2.0, true));
    assert_ne!(w.media_playlist(), a);
}

#[test]
fn bitrates_over_listed_segments() {
    let mut w = window(3);
    w.push_init(init(1));
    w.push_segment(segment(0, 2.0, true));
    w.push_segment(segment(1, 1.0, true));
    // 8000 bits over 2 s and 8000 bits over 1 s.
    assert_eq!(w.bitrates(), Some((8000, 5334)));
}

#[test]
fn odd_inputs_do_not_break_rendering() {
    let mut w = LiveWindow::new(WindowConfig::new(Duration::ZERO, 0, "a\n\"b/"));
    w.push_segment(segment(0, f64::NAN, true));
    w.push_segment(segment(1, -3.0, true));
    w.push_segment(segment(2, 1e300, true));
    let t = text(&w);
    assert!(t.contains("\nab/2.m4s\n"));
    assert!(t.contains("#EXT-X-TARGETDURATION:1\n"));
    assert!(!t.contains("EXT-X-MAP"), "no init pushed");
}

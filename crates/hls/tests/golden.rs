//! Golden playlists: the rendered text must match the committed files byte for byte.

mod common;

use common::golden;
use ferrocast_hls::{MediaPlaylist, MediaSegment, MultivariantPlaylist, VariantStream};

fn segment(msn: u64, duration: f64, pdt: i64, map: &str) -> MediaSegment {
    let mut s = MediaSegment::new(format!("k3x9/{msn}.m4s"), duration);
    s.map_uri = Some(format!("k3x9/{map}"));
    s.program_date_time_ms = Some(pdt);
    s.byte_size = Some(1000);
    s
}

#[test]
fn live_window_with_discontinuity_and_init_change() {
    let mut p = MediaPlaylist::new(2);
    p.media_sequence = 41;
    p.discontinuity_sequence = 2;
    let t0 = 1_714_564_800_000;
    p.segments.push(segment(41, 2.0, t0, "init-3.mp4"));
    p.segments.push(segment(42, 1.999, t0 + 2000, "init-3.mp4"));
    let mut s = segment(43, 2.002, t0 + 7000, "init-3.mp4");
    s.discontinuity = true;
    p.segments.push(s);
    p.segments.push(segment(44, 2.499, t0 + 9002, "init-4.mp4"));
    assert_eq!(p.render(), golden("live_window.m3u8"));
}

#[test]
fn ended_independent_playlist() {
    let mut p = MediaPlaylist::new(4);
    p.independent_segments = true;
    p.segments.push(segment(0, 4.0, 0, "init-0.mp4"));
    p.segments.push(segment(1, 3.5, 4000, "init-0.mp4"));
    p.end_list = true;
    assert_eq!(p.render(), golden("ended.m3u8"));
}

#[test]
fn multivariant_ladder() {
    let p = MultivariantPlaylist {
        independent_segments: true,
        variants: vec![
            VariantStream {
                uri: "source/index.m3u8".into(),
                bandwidth: 6_500_000,
                average_bandwidth: Some(6_000_000),
                codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
                resolution: Some((1920, 1080)),
                frame_rate: Some(30000.0 / 1001.0),
                name: Some("Source".into()),
            },
            VariantStream {
                uri: "audio/index.m3u8".into(),
                bandwidth: 140_000,
                average_bandwidth: None,
                codecs: vec!["mp4a.40.2".into()],
                resolution: None,
                frame_rate: None,
                name: None,
            },
        ],
    };
    assert_eq!(p.render(), golden("multivariant.m3u8"));
}

//! Golden Low-Latency HLS playlists: the rendered text must match the committed files byte for
//! byte, and must pass the crate's own validator.

mod common;

use common::{golden, valid};
use ferrocast_hls::validate::Violation;
use ferrocast_hls::{
    MediaPlaylist, MediaSegment, PartialSegment, PreloadHint, RenditionReport, Skip,
};

const T0: i64 = 1_714_564_800_000;

fn segment(msn: u64, duration: f64) -> MediaSegment {
    let mut s = MediaSegment::new(format!("k3x9/{msn}.m4s"), duration);
    s.map_uri = Some("k3x9/init-0.mp4".into());
    s.program_date_time_ms = Some(T0 + i64::try_from(msn).unwrap_or(0) * 2000);
    s
}

/// Parts of `msn` with the given durations; the first holds the keyframe.
fn parts(msn: u64, durations: &[f64]) -> Vec<PartialSegment> {
    durations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut part = PartialSegment::new(format!("k3x9/{msn}.{i}.m4s"), *d);
            part.independent = i == 0;
            part
        })
        .collect()
}

/// The shared Low-Latency playlist, with `EXT-X-INDEPENDENT-SEGMENTS`.
fn low_latency(target_duration: u64) -> MediaPlaylist {
    let mut p = common::low_latency(target_duration);
    p.independent_segments = true;
    p
}

#[test]
fn live_playlist_with_parts_hint_and_reports() {
    let mut p = low_latency(2);
    p.media_sequence = 20;
    p.segments.push(segment(20, 2.0));
    p.segments.push(segment(21, 2.0));
    let mut s = segment(22, 2.0);
    s.parts = parts(22, &[0.5, 0.5, 0.5, 0.5]);
    p.segments.push(s);
    // Cut early at a keyframe: the final part may be short.
    let mut s = segment(23, 1.9);
    s.parts = parts(23, &[0.5, 0.5, 0.5, 0.4]);
    p.segments.push(s);
    p.trailing_parts = parts(24, &[0.5, 0.5]);
    p.trailing_program_date_time_ms = Some(T0 + 47_900);
    p.preload_hints = vec![PreloadHint::part("k3x9/24.2.m4s")];
    p.rendition_reports = vec![
        RenditionReport::new("../audio/index.m3u8", 24, Some(1)),
        RenditionReport::new("../720p/index.m3u8", 24, Some(0)),
    ];
    let text = p.render();
    assert_eq!(text, golden("ll_live.m3u8"));

    let facts = valid(&text);
    assert_eq!((facts.target_duration, facts.part_target), (2, Some(0.5)));
    assert_eq!(facts.media_sequence, 20);
    assert_eq!(facts.segments.len(), 4);
    let last = facts.segment(23).expect("segment 23");
    assert_eq!(last.parts.len(), 4);
    assert!(last.parts[0].independent && !last.parts[1].independent);
    assert_eq!(facts.trailing_parts.len(), 2);
    assert_eq!(facts.next_msn(), 24);
    assert_eq!(facts.last_position(), Some((24, Some(1))));
    assert_eq!(p.last_position(), facts.last_position());
    assert_eq!(facts.preload_part_uri(), Some("k3x9/24.2.m4s"));
    assert_eq!(facts.rendition_reports, p.rendition_reports);
}

#[test]
fn delta_update_skips_old_segments() {
    let mut p = low_latency(2);
    p.media_sequence = 100;
    p.discontinuity_sequence = 4;
    for msn in 100..110 {
        let mut s = segment(msn, 2.0);
        s.discontinuity = msn == 101;
        if msn == 109 {
            s.parts = parts(109, &[0.5, 0.5, 0.5, 0.5]);
        }
        p.segments.push(s);
    }
    p.trailing_parts = parts(110, &[0.5]);
    p.preload_hints = vec![PreloadHint::part("k3x9/110.1.m4s")];
    assert_eq!(p.skippable_segments(), 3);
    p.skip = Some(Skip::new(p.skippable_segments()));
    let text = p.render();
    assert_eq!(text, golden("ll_delta.m3u8"));

    let facts = valid(&text);
    assert_eq!(facts.skipped_segments, 3);
    assert_eq!(facts.media_sequence, 100);
    assert_eq!(facts.segments.first().map(|s| s.msn), Some(103));
    // The skipped discontinuity goes with its segment; the playlist's sequence number stays.
    assert_eq!(facts.discontinuity_sequence, 4);
    assert!(facts.segments.iter().all(|s| !s.discontinuity));
    assert!(facts
        .segments
        .iter()
        .all(|s| s.map_uri.as_deref() == Some("k3x9/init-0.mp4")));

    // Only a client holding an earlier playlist knows that 103 follows the skipped discontinuity.
    p.skip = None;
    let full = valid(&p.render());
    let mut earlier = p.clone();
    earlier.media_sequence = 99;
    earlier.segments.insert(0, segment(99, 2.0));
    earlier.segments.pop();
    earlier.trailing_parts = parts(109, &[0.5, 0.5]);
    let earlier = valid(&earlier.render());
    let merged = facts.apply_delta(&earlier).expect("applicable");
    assert_eq!(merged.segments, full.segments);
    assert_eq!(merged.skipped_segments, 0);
    assert_eq!(
        merged.segment(103).map(|s| s.discontinuity_sequence),
        Some(5)
    );
    assert_eq!(
        facts.segment(103).map(|s| s.discontinuity_sequence),
        Some(4)
    );
    assert_eq!(full.apply_delta(&earlier), Ok(full.clone()));

    let mut too_late = p.clone();
    too_late.media_sequence = 102;
    too_late.segments.drain(..2);
    let too_late = valid(&too_late.render());
    assert_eq!(
        facts.apply_delta(&too_late),
        Err(Violation::DeltaNotApplicable { msn: 100 })
    );
}

#[test]
fn gap_segment() {
    let mut p = MediaPlaylist::new(4);
    p.media_sequence = 7;
    for msn in 7..10 {
        let mut s = MediaSegment::new(format!("k3x9/{msn}.m4s"), 4.0);
        s.map_uri = Some("k3x9/init-0.mp4".into());
        s.gap = msn == 8;
        p.segments.push(s);
    }
    // EXT-X-GAP needs no particular version: EXT-X-MAP's 6 is what is written.
    assert_eq!(p.required_version(), 6);
    let text = p.render();
    assert_eq!(text, golden("gap.m3u8"));
    let facts = valid(&text);
    let gaps: Vec<_> = facts.segments.iter().map(|s| s.gap).collect();
    assert_eq!(gaps, [false, true, false]);
}

#[test]
fn gap_parts_are_exempt_from_the_minimum() {
    let mut p = low_latency(2);
    let mut s = segment(0, 2.0);
    s.parts = parts(0, &[0.5, 0.2, 0.3, 0.5, 0.5]);
    s.parts[2].gap = true;
    p.segments.push(s);
    p.preload_hints = vec![PreloadHint::part("k3x9/1.0.m4s")];
    let text = p.render();
    assert!(text.contains("URI=\"k3x9/0.2.m4s\",GAP=YES\n"));
    let facts = valid(&text);
    assert!(facts.segments[0].parts[2].gap);
}

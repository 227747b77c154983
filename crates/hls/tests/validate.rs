//! The validator: one test per rule it enforces, starting from a valid playlist and breaking it,
//! and property tests that it never panics.

mod common;

use common::{low_latency, valid};
use ferrocast_hls::validate::{
    validate_constant_target, validate_media_playlist, Violation, MAX_PLAYLIST_BYTES,
};
use ferrocast_hls::{MediaPlaylist, MediaSegment, PartialSegment, PreloadHint};
use proptest::prelude::*;

/// A valid Low-Latency playlist: target 2 s, part target 0.5 s, four segments with parts on the
/// last two, one trailing part and a preload hint.
fn base() -> MediaPlaylist {
    let mut p = low_latency(2);
    p.media_sequence = 10;
    for msn in 10..14 {
        let mut s = MediaSegment::new(format!("{msn}.m4s"), 2.0);
        s.map_uri = Some("init.mp4".into());
        if msn >= 12 {
            s.parts = (0..4)
                .map(|i| PartialSegment::new(format!("{msn}.{i}.m4s"), 0.5))
                .collect();
        }
        p.segments.push(s);
    }
    p.trailing_parts = vec![PartialSegment::new("14.0.m4s", 0.5)];
    p.preload_hints = vec![PreloadHint::part("14.1.m4s")];
    p
}

fn violations(text: &str) -> Vec<Violation> {
    match validate_media_playlist(text) {
        Ok(_) => panic!("expected violations in\n{text}"),
        Err(violations) => violations,
    }
}

/// `base()` rendered with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> String {
    let text = base().render();
    assert!(text.contains(from), "{from:?} not in\n{text}");
    text.replacen(from, to, 1)
}

#[test]
fn the_base_playlist_is_valid() {
    let f = valid(&base().render());
    assert_eq!(f.target_duration, 2);
    assert_eq!(f.part_target, Some(0.5));
    assert_eq!(f.version, Some(6));
    assert_eq!(f.last_position(), Some((14, Some(0))));
    assert!(f.rendition_reports.is_empty() && !f.end_list);
}

#[test]
fn malformed_lines() {
    let v = violations(&edited("#EXTINF:2.000,", "#EXTINF:two,"));
    assert!(
        matches!(v[0], Violation::Malformed { line: 8, .. }),
        "{v:?}"
    );
    let v = violations(&edited("URI=\"12.0.m4s\"", "URI=12.0.m4s"));
    assert!(matches!(v[0], Violation::Malformed { .. }), "{v:?}");
    let v = violations(&format!("{}#EXTINF:1.000,\n", base().render()));
    assert!(matches!(v[0], Violation::Malformed { .. }), "{v:?}");
    let v = violations(&edited("#EXTINF:2.000,\n10.m4s", "10.m4s"));
    assert!(matches!(v[0], Violation::Malformed { .. }), "{v:?}");
}

#[test]
fn oversized_input_and_attribute_lists_are_refused() {
    let text = base().render();
    // Padding in a comment line: exactly the bound is read, one byte more is not.
    let padded = |len: usize| format!("{text}{}\n", "#".repeat(len - text.len() - 1));
    valid(&padded(MAX_PLAYLIST_BYTES));
    assert_eq!(
        violations(&padded(MAX_PLAYLIST_BYTES + 1)),
        [Violation::TooLarge {
            len: MAX_PLAYLIST_BYTES + 1,
            max: MAX_PLAYLIST_BYTES
        }]
    );
    let extra: String = (0..32).map(|i| format!(",X{i}=1")).collect();
    assert_eq!(
        violations(&edited(
            "PART-TARGET=0.500\n",
            &format!("PART-TARGET=0.500{extra}\n")
        )),
        [
            Violation::Malformed {
                line: 5,
                what: "attribute list longer than 32 attributes"
            },
            Violation::PartWithoutPartInf,
            Violation::PreloadHintWithoutPartInf
        ]
    );
}

#[test]
fn header_and_playlist_tags() {
    let text = base().render();
    assert_eq!(
        violations(&text.replacen("#EXTM3U\n", "", 1)),
        [Violation::MissingHeader]
    );
    assert_eq!(
        violations(&edited("#EXT-X-TARGETDURATION:2\n", "")),
        [Violation::MissingTargetDuration]
    );
    assert!(violations(&edited(
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-TARGETDURATION:0"
    ))
    .contains(&Violation::ZeroTargetDuration));
    assert_eq!(
        violations(&edited("#EXT-X-MEDIA-SEQUENCE:10\n", "")),
        [Violation::MissingMediaSequence]
    );
    assert_eq!(
        violations(&edited(
            "#EXT-X-MEDIA-SEQUENCE:10\n",
            "#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-MEDIA-SEQUENCE:11\n"
        )),
        [Violation::DuplicateTag {
            line: 7,
            tag: "#EXT-X-MEDIA-SEQUENCE"
        }]
    );
    assert_eq!(
        violations(&edited("#EXT-X-VERSION:6", "#EXT-X-VERSION:5")),
        [Violation::VersionTooLow {
            declared: 5,
            required: 6
        }]
    );
}

#[test]
fn segment_longer_than_the_target() {
    // 2.499 rounds to 2 and is fine; 2.5 rounds to 3.
    valid(&edited("#EXTINF:2.000,\n10.m4s", "#EXTINF:2.499,\n10.m4s"));
    assert_eq!(
        violations(&edited("#EXTINF:2.000,\n10.m4s", "#EXTINF:2.500,\n10.m4s")),
        [Violation::SegmentTooLong {
            msn: 10,
            duration: 2.5,
            target_duration: 2
        }]
    );
}

#[test]
fn part_durations() {
    assert_eq!(
        violations(&edited(
            "DURATION=0.500,URI=\"12.1.m4s\"",
            "DURATION=0.501,URI=\"12.1.m4s\""
        )),
        [Violation::PartTooLong {
            msn: 12,
            index: 1,
            duration: 0.501,
            part_target: 0.5
        }]
    );
    // 85% of 0.5 s is 0.425 s.
    valid(&edited(
        "DURATION=0.500,URI=\"12.1.m4s\"",
        "DURATION=0.425,URI=\"12.1.m4s\"",
    ));
    let short = "DURATION=0.424,URI=\"12.1.m4s\"";
    assert_eq!(
        violations(&edited("DURATION=0.500,URI=\"12.1.m4s\"", short)),
        [Violation::PartTooShort {
            msn: 12,
            index: 1,
            duration: 0.424,
            part_target: 0.5
        }]
    );
    // The exceptions: the final part of a parent, an independent part, a gap part, and the part
    // before a gap part.
    valid(&edited(
        "DURATION=0.500,URI=\"12.3.m4s\"",
        "DURATION=0.100,URI=\"12.3.m4s\"",
    ));
    valid(&edited(
        "DURATION=0.500,URI=\"12.1.m4s\"",
        &format!("{short},INDEPENDENT=YES"),
    ));
    valid(&edited(
        "DURATION=0.500,URI=\"12.1.m4s\"",
        "DURATION=0.1,URI=\"12.1.m4s\",GAP=YES",
    ));
    valid(
        &edited(
            "DURATION=0.500,URI=\"12.1.m4s\"",
            "DURATION=0.1,URI=\"12.1.m4s\"",
        )
        .replacen("URI=\"12.2.m4s\"", "URI=\"12.2.m4s\",GAP=YES", 1),
    );
    // A trailing part is never the final part of a complete parent.
    assert_eq!(
        violations(&edited(
            "DURATION=0.500,URI=\"14.0.m4s\"",
            "DURATION=0.2,URI=\"14.0.m4s\""
        )),
        [Violation::PartTooShort {
            msn: 14,
            index: 0,
            duration: 0.2,
            part_target: 0.5
        }]
    );
}

#[test]
fn part_inf_requirements() {
    assert_eq!(
        violations(&edited(",PART-HOLD-BACK=1.500", "")),
        [Violation::MissingPartHoldBack]
    );
    assert_eq!(
        violations(&edited("PART-HOLD-BACK=1.500", "PART-HOLD-BACK=1.400")),
        [Violation::PartHoldBackTooSmall {
            part_hold_back: 1.4,
            part_target: 0.5
        }]
    );
    let without_blocking = edited("CAN-BLOCK-RELOAD=YES,", "");
    assert_eq!(
        violations(&without_blocking),
        [Violation::MissingBlockingReload]
    );
    let ended = without_blocking.replacen(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"14.1.m4s\"\n",
        "#EXT-X-ENDLIST\n",
        1,
    );
    assert!(valid(&ended).end_list);
    let without_part_inf = edited("#EXT-X-PART-INF:PART-TARGET=0.500\n", "");
    assert_eq!(
        violations(&without_part_inf),
        [
            Violation::PartWithoutPartInf,
            Violation::PreloadHintWithoutPartInf
        ]
    );
}

#[test]
fn hold_back_and_skip_boundary() {
    assert_eq!(
        violations(&edited("HOLD-BACK=6.000", "HOLD-BACK=5.999")),
        [Violation::HoldBackTooSmall {
            hold_back: 5.999,
            target_duration: 2
        }]
    );
    assert_eq!(
        violations(&edited("CAN-SKIP-UNTIL=12.000", "CAN-SKIP-UNTIL=11.000")),
        [Violation::SkipBoundaryTooSmall {
            can_skip_until: 11.0,
            target_duration: 2
        }]
    );
    assert_eq!(
        violations(&edited("CAN-SKIP-UNTIL=12.000", "CAN-SKIP-DATERANGES=YES")),
        [Violation::SkipDaterangesWithoutSkipUntil]
    );
}

#[test]
fn preload_hint_with_end_list() {
    let text = format!("{}#EXT-X-ENDLIST\n", base().render());
    assert_eq!(violations(&text), [Violation::PreloadHintWithEndList]);
}

#[test]
fn skip_rules() {
    let skip = "#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n";
    let text = edited("#EXT-X-MEDIA-SEQUENCE:10\n", skip).replacen(
        "#EXT-X-VERSION:6",
        "#EXT-X-VERSION:9",
        1,
    );
    // The four listed segments keep 8 s, under the 12 s Skip Boundary.
    assert_eq!(
        violations(&text),
        [Violation::SkippedTooMany {
            remaining: 8.0,
            can_skip_until: 12.0
        }]
    );
    let zero = text.replacen("SKIPPED-SEGMENTS=1", "SKIPPED-SEGMENTS=0", 1);
    assert_eq!(valid(&zero).skipped_segments, 0);
    assert_eq!(
        violations(&zero.replacen("CAN-SKIP-UNTIL=12.000,", "", 1)),
        [Violation::SkipWithoutCanSkipUntil]
    );
    assert_eq!(
        violations(&zero.replacen("#EXT-X-VERSION:9", "#EXT-X-VERSION:8", 1)),
        [Violation::VersionTooLow {
            declared: 8,
            required: 9
        }]
    );
    let ended = zero.replacen(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"14.1.m4s\"\n",
        "#EXT-X-ENDLIST\n",
        1,
    );
    assert_eq!(violations(&ended), [Violation::SkipWithEndList]);
    let late = edited("10.m4s\n", "10.m4s\n#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n").replacen(
        "#EXT-X-VERSION:6",
        "#EXT-X-VERSION:9",
        1,
    );
    assert_eq!(violations(&late), [Violation::SkipMisplaced { line: 10 }]);
}

#[test]
fn rendition_reports_fill_omitted_attributes() {
    let text = format!(
        "{}#EXT-X-RENDITION-REPORT:URI=\"../a.m3u8\",LAST-MSN=14,LAST-PART=2\n\
         #EXT-X-RENDITION-REPORT:URI=\"../b.m3u8\"\n",
        base().render()
    );
    let reports = valid(&text).rendition_reports;
    let got: Vec<_> = reports
        .iter()
        .map(|r| (r.uri.as_str(), r.last_msn, r.last_part))
        .collect();
    assert_eq!(
        got,
        [("../a.m3u8", 14, Some(2)), ("../b.m3u8", 14, Some(0))]
    );
}

#[test]
fn targets_must_stay_constant() {
    let first = valid(&base().render());
    let mut later = base();
    later.media_sequence = 11;
    later.segments.remove(0);
    let second = valid(&later.render());
    assert_eq!(validate_constant_target(&first, &second), Ok(()));

    let mut third = second.clone();
    third.target_duration = 3;
    assert_eq!(
        validate_constant_target(&first, &third),
        Err(Violation::TargetDurationChanged {
            previous: 2,
            next: 3
        })
    );
    let mut fourth = second.clone();
    fourth.part_target = None;
    assert_eq!(
        validate_constant_target(&first, &fourth),
        Err(Violation::PartTargetChanged {
            previous: Some(0.5),
            next: None
        })
    );
}

#[test]
fn plain_playlists_need_no_low_latency_tags() {
    let mut p = MediaPlaylist::new(4);
    p.segments.push(MediaSegment::new("0.ts", 4.0));
    p.end_list = true;
    let f = valid(&p.render());
    assert!(f.end_list && f.part_target.is_none() && f.server_control.is_none());
    assert_eq!(f.last_position(), Some((0, None)));
}

/// Lines a playlist is made of, with attribute values that are sometimes wrong.
fn playlist_line() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just(String::new()),
        "[0-9]{1,25}",
        "[0-9]{0,3}\\.[0-9]{0,4}",
        "[-+.e0-9a-zA-Z]{0,6}",
    ];
    let uri = prop_oneof![
        Just(String::new()),
        "\"[a-z0-9./,]{0,8}\"?",
        "[a-z0-9.]{0,8}"
    ];
    let tag = prop_oneof![
        Just("#EXTM3U"),
        Just("#EXT-X-VERSION:"),
        Just("#EXT-X-TARGETDURATION:"),
        Just("#EXT-X-MEDIA-SEQUENCE:"),
        Just("#EXT-X-DISCONTINUITY-SEQUENCE:"),
        Just("#EXT-X-PART-INF:PART-TARGET="),
        Just("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="),
        Just("#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL="),
        Just("#EXT-X-SKIP:SKIPPED-SEGMENTS="),
        Just("#EXTINF:"),
        Just("#EXT-X-DISCONTINUITY"),
        Just("#EXT-X-GAP"),
        Just("#EXT-X-ENDLIST"),
        Just("#EXT-X-MAP:URI="),
        Just("#EXT-X-PART:URI=\"p\",DURATION="),
        Just("#EXT-X-PART:INDEPENDENT=YES,GAP=YES,URI="),
        Just("#EXT-X-PRELOAD-HINT:TYPE=PART,URI="),
        Just("#EXT-X-RENDITION-REPORT:URI=\"r\",LAST-MSN="),
        Just("#EXT-X-RENDITION-REPORT:LAST-PART=1,URI="),
        Just(""),
    ];
    (tag, number, uri).prop_map(|(tag, number, uri)| {
        if tag.ends_with("URI=") {
            format!("{tag}{uri}")
        } else if tag.ends_with(['=', ':']) {
            format!("{tag}{number}")
        } else if tag.is_empty() {
            uri
        } else {
            tag.to_owned()
        }
    })
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC*") {
        let _ = validate_media_playlist(&text);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = validate_media_playlist(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn never_panics_on_playlist_like_text(
        lines in proptest::collection::vec(playlist_line(), 0..40),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Ok(f) = validate_media_playlist(&text) {
            let _ = f.last_position();
            let _ = f.apply_delta(&f);
            let _ = validate_constant_target(&f, &f);
        }
    }

    #[test]
    fn rendered_low_latency_playlists_validate(
        durations in proptest::collection::vec(0.0f64..2.4, 1..12),
        media_sequence in any::<u64>(),
        skip in 0u64..20,
    ) {
        let mut p = base();
        p.media_sequence = media_sequence;
        p.segments = durations
            .iter()
            .enumerate()
            .map(|(i, d)| MediaSegment::new(format!("{i}.m4s"), *d))
            .collect();
        p.skip = Some(ferrocast_hls::Skip::new(skip));
        let text = p.render();
        let f = validate_media_playlist(&text).map_err(|v| TestCaseError::fail(format!("{v:?}\n{text}")))?;
        prop_assert_eq!(f.skipped_segments, skip.min(p.skippable_segments()));
        prop_assert_eq!(f.segments.len() as u64 + f.skipped_segments, durations.len() as u64);
    }
}

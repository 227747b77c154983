//! Golden manifests: the exact text for a live ladder, a reconnect (two periods) and an ended
//! broadcast. `UPDATE_GOLDEN=1 cargo test -p ferrocast-dash` rewrites them after a deliberate change.
#![allow(missing_docs)]

use ferrocast_dash::{
    AdaptationSet, ContentType, Mpd, MpdType, Period, Representation, SegmentTemplate,
    TimelineEntry,
};
use proptest::prelude::*;

fn check(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text, expected,
        "{name} differs; UPDATE_GOLDEN=1 rewrites it"
    );
}

fn timeline(first: u64, n: u64, duration: u64) -> Vec<TimelineEntry> {
    (0..n)
        .map(|i| TimelineEntry {
            start: first + i * duration,
            duration,
        })
        .collect()
}

fn video(start_number: u64, entries: Vec<TimelineEntry>) -> AdaptationSet {
    let rendition = |id: &str, codecs: &str, bandwidth, w, h| Representation {
        id: id.into(),
        codecs: codecs.into(),
        bandwidth,
        resolution: Some((w, h)),
        frame_rate: Some(30.0),
        audio_sampling_rate: None,
        audio_channels: None,
    };
    AdaptationSet {
        id: 0,
        content_type: ContentType::Video,
        lang: None,
        template: SegmentTemplate {
            timescale: 90_000,
            initialization: "$RepresentationID$/k3x9/init-0.mp4".into(),
            media: "$RepresentationID$/k3x9/$Number$.m4s".into(),
            start_number,
            presentation_time_offset: 0,
            timeline: entries,
        },
        representations: vec![
            rendition("source", "avc1.640028", 6_200_000, 1920, 1080),
            rendition("720p", "avc1.64001f", 3_200_000, 1280, 720),
        ],
    }
}

fn audio(start_number: u64, entries: Vec<TimelineEntry>) -> AdaptationSet {
    AdaptationSet {
        id: 1,
        content_type: ContentType::Audio,
        lang: Some("und".into()),
        template: SegmentTemplate {
            timescale: 48_000,
            initialization: "$RepresentationID$/k3x9/init-0.mp4".into(),
            media: "$RepresentationID$/k3x9/$Number$.m4s".into(),
            start_number,
            presentation_time_offset: 0,
            timeline: entries,
        },
        representations: vec![Representation {
            id: "audio".into(),
            codecs: "mp4a.40.2".into(),
            bandwidth: 130_000,
            resolution: None,
            frame_rate: None,
            audio_sampling_rate: Some(48_000),
            audio_channels: Some(2),
        }],
    }
}

fn live() -> Mpd {
    // Segment 40 was cut early (a forced cut), so the timeline's run is broken there.
    let mut v = timeline(7_200_000, 3, 180_000);
    v.push(TimelineEntry {
        start: 7_740_000,
        duration: 150_000,
    });
    v.extend(timeline(7_890_000, 2, 180_000));
    Mpd {
        kind: MpdType::Dynamic,
        availability_start_ms: 1_795_000_000_000,
        publish_ms: 1_795_000_092_000,
        minimum_update_period: 2.0,
        time_shift_buffer_depth: 12.0,
        suggested_presentation_delay: 6.0,
        min_buffer_time: 2.0,
        max_segment_duration: 2.0,
        media_presentation_duration: None,
        utc_timing_url: Some("http://example.test/time?iso".into()),
        periods: vec![Period {
            id: "0".into(),
            start: 0.0,
            adaptation_sets: vec![video(37, v), audio(37, timeline(3_840_000, 6, 96_000))],
        }],
    }
}

#[test]
fn live_ladder_with_audio() {
    check("live.mpd", &live().render());
}

#[test]
fn a_reconnect_starts_a_new_period_and_an_ended_broadcast_is_static() {
    let mut mpd = live();
    mpd.periods.push(Period {
        id: "1".into(),
        start: 92.5,
        adaptation_sets: vec![video(43, timeline(0, 2, 180_000))],
    });
    check("reconnect.mpd", &mpd.render());
    mpd.kind = MpdType::Static;
    mpd.media_presentation_duration = Some(96.5);
    check("ended.mpd", &mpd.render());
}

proptest! {
    #[test]
    fn rendering_never_panics_and_escapes(id in ".{0,20}", codecs in ".{0,20}", fps in proptest::num::f64::ANY) {
        let mut mpd = live();
        mpd.periods[0].id = id;
        mpd.periods[0].adaptation_sets[0].representations[0].codecs = codecs;
        mpd.periods[0].adaptation_sets[0].representations[0].frame_rate = Some(fps);
        let text = mpd.render();
        // Every attribute value is quoted and escaped: quotes and angle brackets stay balanced.
        for line in text.lines() {
            prop_assert_eq!(line.matches('"').count() % 2, 0, "{}", line);
            prop_assert_eq!(line.matches('<').count(), line.matches('>').count(), "{}", line);
        }
    }
}

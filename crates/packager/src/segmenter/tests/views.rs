//! Single-track views of segments (for DASH): same samples and timeline as the muxed segment.

use super::*;

/// Feeds `events` in real time to a segmenter with track views (and parts when `parts`), and
/// returns every raw output.
fn run(events: &[MediaEvent], parts: bool) -> Vec<SegmenterOutput> {
    let mut config = SegmenterConfig::new(Duration::from_secs(2));
    config.track_views = true;
    if parts {
        config.part_target = Some(Duration::from_millis(500));
    }
    let mut segmenter = LiveSegmenter::with_muxer(config, FAKE);
    let mut out = Vec::new();
    for event in events {
        segmenter
            .handle_event(WALL0 + event_dts(event).max(0), event)
            .expect("fake muxer never fails");
        out.extend(std::iter::from_fn(|| segmenter.poll_output()));
    }
    segmenter.finish();
    out.extend(std::iter::from_fn(|| segmenter.poll_output()));
    out
}

fn segments(outputs: &[SegmenterOutput]) -> Vec<&MediaSegment> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SegmenterOutput::Segment(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// The one run of a single-track view.
fn only_run(view: &TrackView) -> Run {
    let mut fragments = fragments(&view.bytes);
    assert_eq!(fragments.len(), 1, "one fragment per view");
    let (_, mut runs) = fragments.remove(0);
    assert_eq!(runs.len(), 1, "one track per view");
    runs.remove(0)
}

#[test]
fn views_carry_each_track_of_every_segment_on_a_continuous_timeline() {
    for parts in [false, true] {
        let mut events = configs(true, true);
        events.extend(interleave(video_frames(0, 8, 60), audio_frames(0, 8)));
        let outputs = run(&events, parts);

        let inits: Vec<&InitSegment> = outputs
            .iter()
            .filter_map(|o| match o {
                SegmenterOutput::Init(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(inits.len(), 1);
        let views = inits[0].views.as_ref().expect("init views");
        assert_eq!(&views.video[..], b"init v=1280 a=0");
        assert_eq!(&views.audio[..], b"init v=0 a=44100");

        let segments = segments(&outputs);
        assert!(segments.len() >= 4, "{} segments", segments.len());
        let mut previous: Option<(u64, u64)> = None;
        for segment in &segments {
            let views = segment.views.as_ref().expect("both tracks: views");
            let (video, audio) = (only_run(&views.video), only_run(&views.audio));
            assert_eq!((video.track, audio.track), (VIDEO_TRACK_ID, AUDIO_TRACK_ID));
            assert!(
                video.keys.starts_with('K'),
                "a DASH segment starts at a keyframe"
            );
            // The same samples as the muxed segment, which may be several fragments (parts).
            let muxed = fragments(&segment.bytes);
            let joined = |track| -> (u64, Vec<u64>) {
                let runs: Vec<&Run> = muxed
                    .iter()
                    .flat_map(|(_, r)| r)
                    .filter(|r| r.track == track)
                    .collect();
                let durations = runs.iter().flat_map(|r| r.durations.clone()).collect();
                (runs[0].base, durations)
            };
            assert_eq!(
                joined(VIDEO_TRACK_ID),
                (video.base, video.durations.clone())
            );
            assert_eq!(
                joined(AUDIO_TRACK_ID),
                (audio.base, audio.durations.clone())
            );
            assert_eq!(
                (views.video.start, views.video.duration),
                (video.base, video.end() - video.base)
            );
            assert_eq!(
                (views.audio.start, views.audio.duration),
                (audio.base, audio.end() - audio.base)
            );
            assert_eq!(
                (views.video.timescale, views.audio.timescale),
                (90_000, 44_100)
            );
            // The video view lasts what EXTINF says; each track continues the previous segment.
            let extinf_ticks = (segment.duration * 90_000.0).round() as u64;
            assert!(
                views.video.duration.abs_diff(extinf_ticks) <= 90,
                "parts={parts}"
            );
            if let Some((video_end, audio_end)) = previous {
                assert_eq!(views.video.start, video_end);
                assert_eq!(views.audio.start, audio_end);
            }
            previous = Some((video.end(), audio.end()));
        }
    }
}

#[test]
fn single_track_streams_have_no_views() {
    let mut events = configs(true, false);
    events.push(MediaEvent::Metadata(StreamMetadata {
        has_video: Some(true),
        has_audio: Some(false),
        ..StreamMetadata::default()
    }));
    events.extend(video_frames(0, 6, 60));
    let outputs = run(&events, true);
    assert!(!segments(&outputs).is_empty());
    for output in &outputs {
        match output {
            SegmenterOutput::Init(init) => assert!(init.views.is_none()),
            SegmenterOutput::Segment(segment) => assert!(segment.views.is_none()),
            SegmenterOutput::Part(_) => {}
        }
    }
}

//! Output: windows per rendition, master playlist, reports, waiters.

use super::*;
use ferrocast_packager::LowLatencyConfig;

fn part(msn: u64, index: u32, last: bool) -> MediaPart {
    MediaPart {
        bytes: Bytes::from(vec![1; 100]).into(),
        duration: 0.5,
        independent: index == 0,
        start_ms: 0,
        program_date_time_ms: 1_714_564_800_000,
        msn,
        index,
        last_in_segment: last,
        gap: false,
    }
}

fn init(height: u32) -> InitSegment {
    let avc = Bytes::from_static(&[
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e, 0x01, 0x00, 0x04,
        0x68, 0xee, 0x3c, 0x80,
    ]);
    InitSegment {
        bytes: Bytes::from_static(b"init"),
        video: Some(ferrocast_media::VideoConfig {
            avc_config: avc,
            width: height * 16 / 9,
            height,
            codec_string: format!("avc1.6400{height:02x}"),
            nal_length_size: 4,
        }),
        audio: None,
        views: None,
    }
}

fn segment(msn: u64) -> MediaSegment {
    MediaSegment {
        bytes: Bytes::from(vec![1; 250_000]).into(),
        duration: 2.0,
        start_ms: 0,
        program_date_time_ms: 1_714_564_800_000,
        independent: true,
        msn,
        parts: Vec::new(),
        gap: false,
        views: None,
    }
}

#[test]
fn rungs_are_served_listed_and_reported() {
    let mut config = WindowConfig::new(Duration::from_secs(2), 6, "s/");
    config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(504)));
    let output = Output::new("s".into(), config);
    assert!(output.master_playlist().is_none());
    let rung = output.add_rung(
        "240p",
        RungInfo {
            configured_bps: 464_000,
            frame_rate: 30.0,
        },
    );
    assert!(Arc::ptr_eq(&output.rendition("240p").unwrap(), &rung));
    assert!(output.rendition("480p").is_none());
    output.push_init(init(360));
    output.push_init_to(&rung, init(240));
    output.push_segment_to(&rung, 0, segment(0)).unwrap();
    output.push_segment_at(0, segment(0)).unwrap();
    output.push_segment_at(1, segment(1)).unwrap();
    assert!(output.segment("240p", 0).is_some());
    assert!(output.segment("240p", 1).is_none());
    assert!(output.init("240p", 0).is_some());
    assert!(output.watch_position("240p").is_some());
    assert!(output.blocking_limits("240p").is_some());
    let master = String::from_utf8(output.master_playlist().unwrap().body.to_vec()).unwrap();
    let uris: Vec<&str> = master.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(uris, ["source/index.m3u8", "240p/index.m3u8"], "{master}");
    // One segment measured is not enough: the configured bitrate stands in.
    assert!(master.contains("BANDWIDTH=464000,"), "{master}");
    assert!(master.contains("RESOLUTION=426x240"), "{master}");
    // Each rendition reports its sibling.
    let source = output.media_playlist(SOURCE_RENDITION).unwrap().body;
    assert!(String::from_utf8_lossy(&source)
        .contains("#EXT-X-RENDITION-REPORT:URI=\"../240p/index.m3u8\",LAST-MSN=0"));
    output.push_segment_to(&rung, 1, segment(1)).unwrap();
    let text = output.media_playlist("240p").unwrap().body;
    assert!(String::from_utf8_lossy(&text)
        .contains("#EXT-X-RENDITION-REPORT:URI=\"../source/index.m3u8\",LAST-MSN=1"));
    // A retired rung is no longer listed and its playlist ends.
    output.retire_rung(&rung);
    let master = String::from_utf8(output.master_playlist().unwrap().body.to_vec()).unwrap();
    assert!(!master.contains("240p"), "{master}");
    assert!(output.watch_position("240p").unwrap().borrow().ended);
}

#[tokio::test]
async fn waiters_see_each_part_and_the_end() {
    let mut config = WindowConfig::new(Duration::from_secs(2), 6, "s/");
    config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(504)));
    let output = Output::new("s".into(), config);
    let mut rx = output.watch_position(SOURCE_RENDITION).unwrap();
    assert!(output.watch_position("other").is_none());
    assert_eq!(
        output
            .blocking_limits(SOURCE_RENDITION)
            .unwrap()
            .target_duration,
        Duration::from_secs(2)
    );
    output.push_init(InitSegment {
        bytes: Bytes::from_static(b"init"),
        video: None,
        audio: None,
        views: None,
    });
    assert_eq!(rx.borrow_and_update().hint, Some((0, 0)));
    let waiter = tokio::spawn(async move {
        let reached = rx.wait_for(|p| p.last == Some((0, Some(1)))).await;
        reached.map(|p| *p).ok()
    });
    assert!(output.push_part(part(0, 0, false)));
    assert!(output.push_part(part(0, 1, false)));
    let seen = waiter.await.unwrap().unwrap();
    assert_eq!(seen.hint, Some((0, 2)));
    assert!(output.part(SOURCE_RENDITION, 0, 1).is_some());
    let text = output.media_playlist(SOURCE_RENDITION).unwrap().body;
    assert!(String::from_utf8_lossy(&text).contains("0.1.m4s"));
    output.end();
    let end = *output.watch_position(SOURCE_RENDITION).unwrap().borrow();
    assert!(end.ended);
    assert_eq!(end.hint, None);
}

#[test]
fn the_master_is_rendered_once_per_change_it_shows() {
    let mut config = WindowConfig::new(Duration::from_secs(2), 6, "s/");
    config.low_latency = Some(LowLatencyConfig::new(Duration::from_millis(504)));
    let output = Output::new("s".into(), config);
    output.push_init(init(360));
    output.push_segment_at(0, segment(0)).unwrap();
    let first = output.master_playlist().unwrap();
    let again = output.master_playlist().unwrap();
    assert_eq!(first.etag, again.etag);
    assert_eq!(
        first.body.as_ptr(),
        again.body.as_ptr(),
        "served from the cache"
    );
    // Parts never show in the multivariant playlist.
    assert!(output.push_part(part(1, 0, false)));
    assert_eq!(output.master_playlist().unwrap().etag, first.etag);
    // A measured frame rate does, under a new validator.
    output.set_frame_rate(30.0);
    let measured = output.master_playlist().unwrap();
    assert_ne!(measured.etag, first.etag);
    assert!(String::from_utf8_lossy(&measured.body).contains("FRAME-RATE=30"));
    // So do a rung being listed and a segment being added.
    output.add_rung(
        "240p",
        RungInfo {
            configured_bps: 464_000,
            frame_rate: 30.0,
        },
    );
    let listed = output.master_playlist().unwrap();
    assert_ne!(listed.etag, measured.etag);
    output.push_segment_at(1, segment(1)).unwrap();
    assert_ne!(output.master_playlist().unwrap().etag, listed.etag);
}

//! ffmpeg publishes, ffprobe plays: codecs, resolution, segment timing, origin headers, sync.

use crate::harness::{ffprobe, media, stream_kinds, wait_for, Publisher, Server};
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);

#[test]
fn ffmpeg_publish_plays_as_hls_with_cdn_headers_and_ends_cleanly() {
    let s = Server::start("play", &["--window", "12"]);
    let c = s.create_channel("main");
    let key = c["stream_key"].as_str().unwrap();
    let mut publisher = Publisher::start(&media().av, &s.publish_url(key), false);

    let media_path = s.media_playlist_path("main");
    let master = s.get("/live/main/master.m3u8", &[]);
    assert_eq!(
        master.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let text = master.text();
    assert!(text.contains("#EXT-X-STREAM-INF:"), "{text}");
    assert!(
        text.contains("CODECS=\"avc1.640"),
        "High profile codec string from the SPS: {text}"
    );
    assert!(text.contains("mp4a.40.2\""), "{text}");
    assert!(text.contains("RESOLUTION=640x360"), "{text}");
    assert!(
        text.contains("FRAME-RATE=30.000") || text.contains("FRAME-RATE=29.9"),
        "{text}"
    );
    assert!(text.contains("BANDWIDTH="), "{text}");

    // ffprobe opens the live playlist URL and sees both tracks.
    let probe = ffprobe(
        &s.url("/live/main/master.m3u8"),
        "stream=codec_type,codec_name,width,height",
    );
    let streams = probe["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    assert_eq!(
        (
            video["codec_name"].as_str(),
            video["width"].as_u64(),
            video["height"].as_u64()
        ),
        (Some("h264"), Some(640), Some(360))
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac"),
        "{probe}"
    );

    // ffmpeg decodes a few seconds of it without errors.
    let decode = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-i",
            &s.url("/live/main/master.m3u8"),
            "-t",
            "3",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        decode.status.success(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );

    let p = s.playlist(&media_path).unwrap();
    assert_eq!(p.target_duration, 2);
    assert!(p.text.contains("#EXT-X-VERSION:"), "{}", p.text);
    assert!(!p.maps.is_empty(), "EXT-X-MAP present: {}", p.text);
    for seg in &p.segments {
        assert!(
            seg.duration.round() as u64 <= p.target_duration,
            "EXTINF {} over target",
            seg.duration
        );
        assert!(
            seg.program_date_time.is_some(),
            "PDT on every segment: {}",
            p.text
        );
    }

    // Origin headers on a segment and the init segment.
    let dir = media_path.rsplit_once('/').unwrap().0.to_owned();
    let seg_path = format!("{dir}/{}", p.segments[0].uri);
    let seg = s.get(&seg_path, &[("Origin", "https://player.example")]);
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/iso.segment"));
    assert!(seg.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(seg.header("access-control-allow-origin"), Some("*"));
    assert_eq!(seg.header("accept-ranges"), Some("bytes"));
    let etag = seg.header("etag").unwrap().to_owned();
    assert!(seg.body.len() > 1000);
    assert_eq!(&seg.body[4..8], b"styp", "a CMAF segment starts with styp");
    let ranged = s.get(&seg_path, &[("Range", "bytes=100-199")]);
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, seg.body[100..200]);
    assert_eq!(
        ranged.header("content-range").unwrap(),
        format!("bytes 100-199/{}", seg.body.len())
    );
    let bad = s.get(
        &seg_path,
        &[("Range", &format!("bytes={}-", seg.body.len() + 10))],
    );
    assert_eq!(bad.status, 416);
    let cached = s.get(&seg_path, &[("If-None-Match", &etag)]);
    assert_eq!(cached.status, 304);
    let head = crate::harness::fetch("HEAD", &s.url(&seg_path), &[]);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(
        head.header("content-length").unwrap(),
        seg.body.len().to_string()
    );
    let init = s.get(&format!("{dir}/{}", p.maps[0]), &[]);
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    assert_eq!(&init.body[4..8], b"ftyp");
    let pl = s.get(&media_path, &[]);
    assert!(pl.header("cache-control").unwrap().contains("max-age=1"));
    assert_eq!(
        s.get(&media_path, &[("Origin", "https://x.example")])
            .header("access-control-allow-origin"),
        Some("*")
    );
    // Playlist GETs take the origin's fast path and HEADs the router: the same headers either way,
    // and the same route in the request metrics.
    let origin = [("Origin", "https://x.example")];
    for path in ["/live/main/master.m3u8", media_path.as_str()] {
        let get = s.get(path, &origin);
        let head = crate::harness::fetch("HEAD", &s.url(path), &origin);
        let names = |r: &crate::harness::Resp| {
            let mut names: Vec<String> = r.headers.iter().map(|(k, _)| k.to_lowercase()).collect();
            names.sort();
            names
        };
        assert_eq!(names(&get), names(&head), "{path}");
        for h in [
            "content-type",
            "cache-control",
            "vary",
            "access-control-allow-origin",
            "access-control-expose-headers",
        ] {
            assert_eq!(get.header(h), head.header(h), "{path}: {h}");
        }
    }
    let metrics = s.metrics();
    for route in [
        r#"route="/live/{name}/master.m3u8",method="GET",status="200""#,
        r#"route="/live/{name}/{rendition}/index.m3u8",method="GET",status="200""#,
        r#"route="/live/{name}/{rendition}/index.m3u8",method="HEAD",status="200""#,
    ] {
        assert!(metrics.contains(route), "{route} counted:\n{metrics}");
    }
    let pl_etag = pl.header("etag").unwrap().to_owned();
    let again = s.get(&media_path, &[("If-None-Match", &pl_etag)]);
    assert!(again.status == 304 || again.header("etag").unwrap() != pl_etag);
    for missing in [
        format!("{dir}/999999.m4s"),
        format!("{dir}/x.m4s"),
        format!("{dir}/init-9.mp4"),
        "/live/main/other/index.m3u8".into(),
        "/live/main/source/nosuchsid/0.m4s".into(),
    ] {
        let r = s.get(&missing, &[]);
        assert_eq!(r.status, 404, "{missing}");
        assert!(r.text().contains("\"error\""), "{missing}: JSON body");
    }

    // ffmpeg reaches the end of the file and unpublishes: the playlist ends at once.
    let (ok, stderr) = publisher.wait(LONG).expect("publisher finishes");
    assert!(ok, "publisher failed: {stderr}");
    let ended = wait_for("EXT-X-ENDLIST", Duration::from_secs(5), || {
        s.playlist(&media_path).filter(|p| p.endlist)
    });
    // Window 12 holds the whole 12 s input: the playlist now reads like a VOD of it.
    assert_eq!(ended.media_sequence, 0, "{}", ended.text);
    let total: f64 = ended.segments.iter().map(|s| s.duration).sum();
    assert!(
        (total - 12.0).abs() < 0.3,
        "segments cover the input: {total} s\n{}",
        ended.text
    );
    for seg in &ended.segments[..ended.segments.len() - 1] {
        assert!(
            (seg.duration - 2.0).abs() < 0.05,
            "2 s GOP gives 2 s segments: {}",
            ended.text
        );
    }

    // A/V sync: the offset between the first video and audio timestamps is the source's.
    let src = first_pts(media().av.to_str().unwrap());
    let out = first_pts(&s.url(&media_path));
    let (src_off, out_off) = (src.0 - src.1, out.0 - out.1);
    assert!(
        (src_off - out_off).abs() < 0.05,
        "video-audio offset: source {src_off:.3} s, output {out_off:.3} s"
    );

    // Metrics saw the channel.
    assert!(
        s.metric("ferrocast_ingest_bytes_total{channel=\"main\"}")
            .unwrap()
            > 500_000.0
    );
    assert!(
        s.metric("ferrocast_segments_total{channel=\"main\"}")
            .unwrap()
            >= 6.0
    );
    assert_eq!(
        s.metric("ferrocast_rtmp_publish_accepted_total{channel=\"main\"}"),
        Some(1.0)
    );
    let kf = s
        .metric("ferrocast_ingest_keyframe_interval_seconds{channel=\"main\"}")
        .unwrap();
    assert!((kf - 2.0).abs() < 0.1, "keyframe interval gauge {kf}");
    let m = s.metrics();
    for name in [
        "ferrocast_ingest_bitrate_bps{channel=\"main\"}",
        "ferrocast_ingest_frame_rate{channel=\"main\"}",
        "ferrocast_rtmp_connections ",
        "ferrocast_segment_duration_seconds_bucket{channel=\"main\"",
    ] {
        assert!(m.contains(name), "metrics lack {name}");
    }
}

/// First video and audio presentation times (seconds) as ffprobe reads them.
fn first_pts(target: &str) -> (f64, f64) {
    let probe = ffprobe(target, "stream=codec_type,start_time");
    let start = |kind: &str| {
        probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["codec_type"] == kind)
            .unwrap()["start_time"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    (start("video"), start("audio"))
}

#[test]
fn video_only_and_audio_only_streams_play() {
    let s = Server::start("tracks", &[]);
    let v = s.create_channel("vonly");
    let a = s.create_channel("aonly");
    let _pv = Publisher::start(
        &media().video_only,
        &s.publish_url(v["stream_key"].as_str().unwrap()),
        true,
    );
    let _pa = Publisher::start(
        &media().audio_only,
        &s.publish_url(a["stream_key"].as_str().unwrap()),
        true,
    );

    s.media_playlist_path("vonly");
    let master = s.get("/live/vonly/master.m3u8", &[]).text();
    assert!(
        master.contains("CODECS=\"avc1.640") && !master.contains("mp4a"),
        "{master}"
    );
    assert_eq!(stream_kinds(&s.url("/live/vonly/master.m3u8")), ["video"]);

    s.media_playlist_path("aonly");
    let master = s.get("/live/aonly/master.m3u8", &[]).text();
    assert!(
        master.contains("CODECS=\"mp4a.40.2\"") && !master.contains("RESOLUTION"),
        "{master}"
    );
    assert_eq!(stream_kinds(&s.url("/live/aonly/master.m3u8")), ["audio"]);
    let p = s.playlist("/live/aonly/source/index.m3u8").unwrap();
    assert!(p.segments.iter().all(|s| s.duration <= 2.5), "{}", p.text);
}

//! What the web app's pages read, through the real binary with ffmpeg publishing: the directory
//! with its keyframe thumbnails, the studio's health view (with a warning for a bad keyframe
//! interval) and the viewer telemetry players send (`POST /api/v1/qoe`), counted as viewers and
//! exported to Prometheus.

use crate::accounts::client::Browser;
use crate::harness::{ffprobe, media, test_media, wait_for, Publisher, Server};
use serde_json::{json, Value};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);

fn live_entry(server: &Server, name: &str) -> Option<Value> {
    let r = server.get("/api/v1/directory", &[]);
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v["live"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

#[test]
fn the_directory_lists_live_channels_with_a_thumbnail_and_the_studio_sees_their_health() {
    let server = Server::start("studio", &["--ladder", "off"]);
    let mut ana = Browser::new(&server);
    ana.signup("ana");
    let key = ana.create_channel("ana-live")["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = ana.call(
        "PATCH",
        "/api/v1/channels/ana-live",
        Some(json!({"title": "Morning show"})),
    );
    assert_eq!(status, 200);
    assert!(
        live_entry(&server, "ana-live").is_none(),
        "offline is not listed"
    );

    let mut publisher = Publisher::start(&media().av, &server.publish_url(&key), true);
    let entry = wait_for("the channel in the directory", LONG, || {
        live_entry(&server, "ana-live")
    });
    assert_eq!(entry["title"], "Morning show");
    assert_eq!(entry["owner"], "ana");
    assert!(entry["started_at"].is_string(), "{entry}");

    // A JPEG of the stream, made by ffmpeg from a keyframe, 360 lines high.
    let thumb = entry["thumbnail_url"].as_str().unwrap().to_owned();
    let r = wait_for("a thumbnail", LONG, || {
        let r = server.get(&thumb, &[]);
        (r.status == 200).then_some(r)
    });
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(&r.body[..2], &[0xFF, 0xD8], "a JPEG");
    let file = std::env::temp_dir().join(format!("thumb-{}.jpg", std::process::id()));
    std::fs::write(&file, &r.body).unwrap();
    let probe = ffprobe(file.to_str().unwrap(), "stream=width,height");
    let _ = std::fs::remove_file(&file);
    assert_eq!(probe["streams"][0]["height"], 360, "{probe}");
    assert_eq!(probe["streams"][0]["width"], 640, "{probe}");

    // The studio's health view: the owner's, nobody else's.
    let health = wait_for("ingest figures", LONG, || {
        let (status, h) = ana.call("GET", "/api/v1/channels/ana-live/health", None);
        assert_eq!(status, 200, "{h}");
        (h["ingest"]["fps"].as_f64()? > 20.0 && h["ingest"]["keyframe_interval_s"].is_number())
            .then_some(h)
    });
    assert_eq!(health["live"], true, "{health}");
    let kf = health["ingest"]["keyframe_interval_s"].as_f64().unwrap();
    assert!((kf - 2.0).abs() < 0.2, "{health}");
    assert_eq!(health["ingest"]["width"], 640, "{health}");
    assert_eq!(health["ingest"]["height"], 360, "{health}");
    assert!(
        health["ingest"]["bitrate_kbps"].as_f64().unwrap() > 10.0,
        "{health}"
    );
    assert_eq!(health["renditions"][0]["name"], "source", "{health}");
    assert_eq!(health["renditions"][0]["state"], "live", "{health}");
    assert_eq!(health["warnings"], json!([]), "{health}");
    let mut bob = Browser::new(&server);
    bob.signup("bob");
    let (status, _) = bob.call("GET", "/api/v1/channels/ana-live/health", None);
    assert_eq!(status, 403);
    assert_eq!(
        server.get("/api/v1/channels/ana-live/health", &[]).status,
        401
    );

    // Viewer telemetry: reports count as viewers and land in the studio and in /metrics.
    let mut player = Browser::new(&server);
    let mut report = |body: Value| {
        player
            .send("POST", "/api/v1/qoe", Some(body), false, None)
            .0
    };
    let start =
        json!({"channel": "ana-live", "session": "s1", "event": "start", "startup_ms": 850.0});
    assert_eq!(report(start), 204);
    let beat = json!({"channel": "ana-live", "session": "s1", "event": "beat", "latency_s": 2.4,
        "played_ms": 10000.0, "rebuffer_ms": 500.0, "switches": 1, "rendition": "360p"});
    assert_eq!(report(beat), 204);
    let bad = json!({"channel": "ana-live", "session": "s1", "event": "beat", "latency_s": -3.0});
    assert_eq!(report(bad), 422);
    let unknown = json!({"channel": "nobody", "session": "s1", "event": "start"});
    assert_eq!(report(unknown), 404);
    let huge = json!({"channel": "ana-live", "session": "s1", "event": "beat",
        "rendition": "x".repeat(5000)});
    assert_eq!(report(huge), 413, "reports are at most 4 KiB");
    assert_eq!(live_entry(&server, "ana-live").unwrap()["viewers"], 1);
    let (status, q) = ana.call("GET", "/api/v1/channels/ana-live/qoe", None);
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["viewers"], 1, "{q}");
    assert_eq!(q["startup_ms"]["p50"], 850.0, "{q}");
    assert_eq!(q["latency_s"]["p50"], 2.4, "{q}");
    assert_eq!(q["rebuffer_ratio"], 0.05, "{q}");
    assert_eq!(q["renditions"]["360p"], 1, "{q}");
    let m = server.metrics();
    assert!(
        m.contains("ferrocast_qoe_startup_seconds_bucket{channel=\"ana-live\",le=\"1\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("ferrocast_viewers{channel=\"ana-live\"} 1"),
        "{m}"
    );
    // One address gets a burst of ten reports, then one a second.
    let refused = (0..12)
        .map(|i| json!({"channel": "ana-live", "session": format!("x{i}"), "event": "beat"}))
        .map(&mut report)
        .filter(|s| *s == 429)
        .count();
    assert!(refused >= 2, "{refused} refused");

    // Once the publisher leaves, the channel is listed as recently ended.
    publisher.kill();
    drop(publisher);
    let r = wait_for("the channel among the ended", LONG, || {
        let r = server.get("/api/v1/directory", &[]);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let ended = v["ended"].as_array().unwrap().clone();
        ended.into_iter().find(|c| c["name"] == "ana-live")
    });
    assert_eq!(r["title"], "Morning show");
    assert!(live_entry(&server, "ana-live").is_none());
}

#[test]
fn the_health_view_warns_of_a_keyframe_interval_other_than_the_segment_duration() {
    let server = Server::start("studio-kf", &["--ladder", "off"]);
    // Keyframes every 5 s where segments are 2 s long.
    let input = test_media(
        "av-gop5",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-t",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "150",
            "-keyint_min",
            "150",
            "-sc_threshold",
            "0",
        ],
    );
    let c = server.create_channel("gop");
    let _p = Publisher::start(
        &input,
        &server.publish_url(c["stream_key"].as_str().unwrap()),
        true,
    );
    let health = wait_for("a keyframe warning", LONG, || {
        let (status, h) = server.api("GET", "/api/v1/channels/gop/health", None);
        assert_eq!(status, 200, "{h}");
        let warned = h["warnings"]
            .as_array()?
            .iter()
            .any(|w| w["code"] == "keyframe_interval");
        warned.then_some(h)
    });
    let message = health["warnings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("5.0 s") && message.contains("2 s"),
        "{health}"
    );
}

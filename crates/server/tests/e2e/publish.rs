//! Who may publish: keys, one publisher per channel, rotation, deletion, other encoders.

use crate::harness::{ffprobe, media, wait_for, Publisher, Server};
use std::process::{Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);

#[test]
fn wrong_key_is_refused_and_logged_without_the_key() {
    let s = Server::start("badkey", &[]);
    s.create_channel("chan");
    let bad_key = "sk_thisIsNotTheKeyButLooksLikeOne123";
    let mut p = Publisher::start(&media().av, &s.publish_url(bad_key), false);
    let (ok, stderr) = p
        .wait(Duration::from_secs(15))
        .expect("refused publisher exits");
    assert!(!ok, "a wrong key must fail the publish");
    assert!(
        stderr.contains("invalid stream key") || stderr.contains("BadName"),
        "ffmpeg says why: {stderr}"
    );
    let refused = s
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "publish refused")
        .expect("refusal logged");
    assert_eq!(refused["reason"], "invalid_key");
    assert!(
        refused["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{refused}"
    );
    assert!(
        !s.log_text().contains(bad_key),
        "the key never reaches the log"
    );
    assert_eq!(
        s.metric("ferrocast_rtmp_publish_refused_total{reason=\"invalid_key\"}"),
        Some(1.0)
    );
    assert_eq!(s.get("/live/chan/master.m3u8", &[]).status, 404);
}

#[test]
fn second_publisher_is_refused_and_first_keeps_streaming() {
    let s = Server::start("second", &[]);
    let c = s.create_channel("chan");
    let url = s.publish_url(c["stream_key"].as_str().unwrap());
    let mut first = Publisher::start(&media().av, &url, true);
    let path = s.media_playlist_path("chan");
    let mut second = Publisher::start(&media().av, &url, true);
    let (ok, stderr) = second
        .wait(Duration::from_secs(15))
        .expect("second publisher is refused");
    assert!(!ok, "second publisher must fail");
    assert!(
        stderr.contains("already live") || stderr.contains("BadName"),
        "{stderr}"
    );
    assert_eq!(
        s.metric("ferrocast_rtmp_publish_refused_total{reason=\"already_live\"}"),
        Some(1.0)
    );
    let before = s.last_msn(&path);
    wait_for("first publisher's stream to keep growing", LONG, || {
        (s.last_msn(&path) >= before + 2).then_some(())
    });
    assert!(first.running());
    assert!(!s.playlist(&path).unwrap().endlist);
}

#[test]
fn rotating_the_key_cuts_off_the_old_one_and_delete_ends_the_channel() {
    let s = Server::start("rotate", &[]);
    let c = s.create_channel("chan");
    let old_url = s.publish_url(c["stream_key"].as_str().unwrap());
    let mut live = Publisher::start(&media().av, &old_url, true);
    s.media_playlist_path("chan");
    let (status, rotated) = s.api("POST", "/api/v1/channels/chan/rotate-key", None);
    assert_eq!(status, 200);
    live.wait(Duration::from_secs(15))
        .expect("the publisher on the old key is disconnected");
    let mut again = Publisher::start(&media().av, &old_url, false);
    let (ok, _) = again
        .wait(Duration::from_secs(15))
        .expect("old key refused");
    assert!(!ok);
    let new_url = s.publish_url(rotated["stream_key"].as_str().unwrap());
    let mut fresh = Publisher::start(&media().av, &new_url, true);
    wait_for("new key publishes", LONG, || {
        let (_, c) = s.api("GET", "/api/v1/channels/chan", None);
        (c["live"] == true).then_some(())
    });
    assert!(fresh.running());
    let (status, _) = s.api("DELETE", "/api/v1/channels/chan", None);
    assert_eq!(status, 204);
    fresh
        .wait(Duration::from_secs(15))
        .expect("deleting the channel disconnects its publisher");
    assert_eq!(s.get("/live/chan/master.m3u8", &[]).status, 404);
}

#[test]
fn gstreamer_rtmp2sink_publishes() {
    let s = Server::start("gst", &[]);
    let c = s.create_channel("gst");
    let url = s.publish_url(c["stream_key"].as_str().unwrap());
    let pipeline = format!(
        "videotestsrc is-live=true pattern=ball num-buffers=240 ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 key-int-max=60 ! h264parse ! queue ! mux. \
         audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=960 num-buffers=400 ! audio/x-raw,rate=48000,channels=2 \
         ! audioconvert ! voaacenc bitrate=96000 ! aacparse ! queue ! mux. \
         flvmux name=mux streamable=true ! rtmp2sink location={url}"
    );
    let mut gst = Command::new("gst-launch-1.0")
        .arg("-e")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0 (gstreamer1.0-tools) installed");
    s.media_playlist_path("gst");
    let probe = ffprobe(
        &s.url("/live/gst/master.m3u8"),
        "stream=codec_type,codec_name,width,height",
    );
    let streams = probe["streams"].as_array().unwrap();
    assert!(
        streams
            .iter()
            .any(|s| s["codec_name"] == "h264" && s["width"] == 640 && s["height"] == 360),
        "{probe}"
    );
    assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{probe}");
    // ultrafast x264 emits Constrained Baseline: the codec string comes from the SPS, not from config.
    let master = s.get("/live/gst/master.m3u8", &[]).text();
    assert!(master.contains("avc1.42"), "{master}");
    let status = gst.wait().unwrap();
    assert!(status.success(), "gst-launch-1.0 exited with {status}");
}

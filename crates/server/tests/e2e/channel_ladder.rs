//! A channel's own transcoding ladder (`PATCH /api/v1/channels/NAME`, `ferrocast channel
//! ladder`), through the real binary: used at the next publish, switched at once while live,
//! refused with JSON errors when invalid.

use crate::harness::{bin, wait_for, Publisher, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);

/// 6 s of 854x480 30 fps H.264 + AAC, keyframes every 2 s: tall enough for a 360p rung (rungs
/// are never planned at or above the source's height, and the common test input is 360 lines).
fn source_480p() -> PathBuf {
    crate::harness::test_media(
        "av480",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=854x480:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-b:v",
            "600k",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ac",
            "2",
        ],
    )
}

/// `PATCH /api/v1/channels/NAME` (the harness knows GET, POST, PUT and DELETE).
fn patch(s: &Server, name: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = agent.patch(s.url(&format!("/api/v1/channels/{name}")));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut res = req.send_json(body).unwrap();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    (
        res.status().as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// The variant URIs of the channel's multivariant playlist, once it exists.
fn variants(s: &Server) -> Vec<String> {
    let r = s.get("/live/own/master.m3u8", &[]);
    if r.status != 200 {
        return Vec::new();
    }
    r.text()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn transcoders_started(s: &Server) -> usize {
    s.log_lines()
        .iter()
        .filter(|l| l["message"] == "transcoder started" && l["channel"] == "own")
        .count()
}

/// The broadcast id in the source playlist's segment URIs (`SID/N.m4s`).
fn broadcast_id(s: &Server) -> Option<String> {
    let p = s.playlist("/live/own/source/index.m3u8")?;
    let uri = &p.segments.last()?.uri;
    Some(uri.split('/').next()?.to_owned())
}

#[test]
fn channel_ladder_applies_at_publish_switches_live_and_refuses_bad_input() {
    // The server's own ladder is off (the harness default): the channel's alone decides.
    let s = Server::start("chladder", &["--encoder", "x264"]);
    let token = Some(s.token.as_str());
    let c = s.create_channel("own");
    assert_eq!(
        (&c["ladder"], &c["ladder_default"]),
        (&json!("off"), &json!(true))
    );

    let rung = json!({"name": "360p", "height": 360, "video_bitrate_kbps": 600,
                      "audio_bitrate_kbps": 64, "frame_rate": 30});
    let one_rung = json!({"ladder": {"rungs": [rung]}});
    let (status, body) = patch(&s, "nobody", one_rung.clone(), token);
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (status, body) = patch(&s, "own", one_rung.clone(), None);
    assert_eq!((status, &body["error"]), (401, &json!("unauthorized")));
    let (status, body) = patch(
        &s,
        "own",
        json!({"ladder": {"rungs": [{"name": "360p", "height": 360}]}}),
        token,
    );
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_body")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("ladder.rungs[0]") && message.contains("video_bitrate_kbps"),
        "{body}"
    );
    let mut odd = rung.clone();
    odd["height"] = json!(361);
    let (status, body) = patch(&s, "own", json!({"ladder": {"rungs": [odd]}}), token);
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("invalid_ladder")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("ladder.rungs[0].height:"),
        "{body}"
    );
    let (_, got) = s.api("GET", "/api/v1/channels/own", None);
    assert_eq!(
        got["ladder_default"], true,
        "refusals change nothing: {got}"
    );

    // One 360p rung: the next publish gets the source and that rung only.
    let (status, body) = patch(&s, "own", one_rung, token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ladder_default"], false);
    assert_eq!(body["ladder"]["rungs"][0]["height"], 360, "{body}");
    let url = s.publish_url(c["stream_key"].as_str().unwrap());
    let publisher = Publisher::start(&source_480p(), &url, true);
    let listed = wait_for("source and 360p listed", LONG, || {
        let v = variants(&s);
        (v.len() == 2).then_some(v)
    });
    assert_eq!(listed, ["source/index.m3u8", "360p/index.m3u8"]);
    wait_for("a 360p segment", LONG, || {
        let p = s.playlist("/live/own/360p/index.m3u8")?;
        (!p.segments.is_empty()).then_some(())
    });
    assert_eq!(
        crate::harness::video_size(&s.url("/live/own/360p/index.m3u8")),
        (640, 360)
    );

    // Live: "off" retires the rung at once; the source carries on.
    let before = s.last_msn("/live/own/source/index.m3u8");
    let (status, body) = patch(&s, "own", json!({"ladder": "off"}), token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["ladder"], &body["ladder_default"]),
        (&json!("off"), &json!(false))
    );
    wait_for("the rung retired", Duration::from_secs(5), || {
        (variants(&s) == ["source/index.m3u8"]).then_some(())
    });
    wait_for("the source advancing", LONG, || {
        (s.last_msn("/live/own/source/index.m3u8") > before).then_some(())
    });
    assert_eq!(transcoders_started(&s), 1);

    // The next publish: the source only, no ffmpeg.
    let first = broadcast_id(&s).unwrap();
    publisher.signal("INT");
    wait_for("the broadcast ended", LONG, || {
        s.playlist("/live/own/source/index.m3u8")?
            .endlist
            .then_some(())
    });
    drop(publisher);
    let _publisher = Publisher::start(&source_480p(), &url, true);
    wait_for("two segments of a new broadcast", LONG, || {
        let p = s.playlist("/live/own/source/index.m3u8")?;
        let fresh = p
            .segments
            .iter()
            .filter(|x| !x.uri.starts_with(&first))
            .count();
        (fresh >= 2).then_some(())
    });
    assert_eq!(variants(&s), ["source/index.m3u8"]);
    assert_eq!(
        transcoders_started(&s),
        1,
        "no ffmpeg for a channel whose ladder is off"
    );

    // The CLI sets and clears it through the same route; live, a new rung appears at once.
    let cli = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("channel")
            .args(["--url", &s.url(""), "--data-dir"])
            .arg(&s.data_dir)
            .args(["ladder", "own"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let set = cli(&["--rung", "240p:240:400:64:30:veryfast"]);
    assert_eq!(set["ladder"]["rungs"][0]["preset"], "veryfast", "{set}");
    wait_for("240p listed", LONG, || {
        (variants(&s) == ["source/index.m3u8", "240p/index.m3u8"]).then_some(())
    });
    let cleared = cli(&["--default"]);
    assert_eq!(
        (&cleared["ladder"], &cleared["ladder_default"]),
        (&json!("off"), &json!(true))
    );
    wait_for("240p retired", Duration::from_secs(5), || {
        (variants(&s) == ["source/index.m3u8"]).then_some(())
    });
}

//! The web app in a real browser (Debian's chromium, headless, driven by playwright-core through
//! `tests/browser/webapp.mjs`) against the real binary, with ffmpeg publishing: the watch page
//! plays the ladder and switches renditions, guests and accounts chat and are moderated from the
//! page, accounts sign up and log in, and the studio creates a channel and rotates its key.
//! Screenshots land in `target/screenshots/` for people to look at.

use crate::accounts::client::{Browser, PASSWORD};
use crate::harness::{media, one_browser_at_a_time, wait_for, Publisher, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn browser_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser"))
}

/// Where the screenshots go.
fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs one `webapp.mjs` scenario; returns its JSON line with its stderr under `log` (for
/// assertion messages).
fn webapp(args: &[&str]) -> Value {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run scripts/deps.sh test",
        dir.display()
    );
    let out = Command::new("node")
        .arg(dir.join("webapp.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run node (scripts/deps.sh test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    result_of(args, &stdout, &stderr)
}

/// Parses the JSON line of a finished `webapp.mjs` run, with its stderr under `log`.
fn result_of(args: &[&str], stdout: &str, stderr: &str) -> Value {
    let line = stdout.lines().rev().find(|l| l.starts_with('{'));
    let mut v: Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("webapp.mjs {args:?} printed no result\n{stdout}\n{stderr}"));
    let tail = stderr.len().saturating_sub(6000);
    let tail = (tail..stderr.len())
        .find(|&i| stderr.is_char_boundary(i))
        .unwrap_or(stderr.len());
    v["log"] = Value::String(stderr[tail..].to_owned());
    v
}

fn assert_ok(v: &Value) {
    assert_eq!(v["ok"], true, "{v:#}");
    let errors = v["console_errors"].as_array().map_or(0, Vec::len);
    assert_eq!(errors, 0, "console errors: {v:#}");
    let foreign = v["foreign_requests"].as_array().map_or(0, Vec::len);
    assert_eq!(foreign, 0, "requests to other origins: {v:#}");
}

/// A user who signed up through the API, with a channel they created and titled.
fn streamer_with_channel(server: &Server, user: &str, channel: &str) -> String {
    let mut b = Browser::new(server);
    b.signup(user);
    let c = b.create_channel(channel);
    let (status, body) = b.call(
        "PATCH",
        &format!("/api/v1/channels/{channel}"),
        Some(serde_json::json!({"title": format!("{user} live from the test suite")})),
    );
    assert_eq!(status, 200, "{body}");
    c["stream_key"].as_str().unwrap().to_owned()
}

#[test]
fn the_watch_page_plays_the_ladder_switches_rendition_and_shows_the_latency() {
    let _browser = one_browser_at_a_time();
    let server = crate::ladder::start_with(&[]);
    let key = streamer_with_channel(&server, "caster", "show");
    let _publisher = Publisher::start(&media().av, &server.publish_url(&key), true);
    wait_for(
        "the ladder in the master playlist",
        Duration::from_secs(40),
        || {
            let r = server.get("/live/show/master.m3u8", &[]);
            (r.status == 200 && r.text().matches("#EXT-X-STREAM-INF").count() == 3).then_some(())
        },
    );
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let shots = shots_dir();
    let v = webapp(&[
        "watch",
        base,
        "show",
        "--seconds",
        "10",
        "--shots",
        shots.to_str().unwrap(),
    ]);
    assert_ok(&v);
    assert!(v["played_s"].as_f64().unwrap() >= 9.0, "{v:#}");
    assert_eq!(v["stalls"], 0, "{v:#}");
    // Auto plus the source and both rungs.
    let heights: Vec<u64> = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["height"].as_u64())
        .collect();
    assert!(
        [360, 240, 144].iter().all(|h| heights.contains(h)),
        "quality menu {heights:?}: {v:#}"
    );
    assert!(
        v["levels"].as_array().unwrap().len() >= 4,
        "Auto missing: {v:#}"
    );
    assert_eq!(v["switched"], true, "{v:#}");
    assert!(v["played_after_switch_s"].as_f64().unwrap() > 0.5, "{v:#}");
    assert_eq!(v["video_height_after"], 144, "{v:#}");
    let latency = v["latency_s"].as_f64().unwrap();
    assert!(latency < 4.0, "latency {latency} s: {v:#}");
    assert!(
        v["latency_text"].as_str().is_some_and(|t| !t.is_empty()),
        "{v:#}"
    );

    // Every page, at desktop and phone sizes, without console errors or horizontal overflow.
    let v = webapp(&[
        "shots",
        base,
        "show",
        "--dir",
        shots.to_str().unwrap(),
        "--user",
        "caster",
        "--password",
        PASSWORD,
    ]);
    assert_ok(&v);
    for (page, p) in v["pages"].as_object().unwrap() {
        assert_eq!(
            p["console_errors"].as_array().map_or(0, Vec::len),
            0,
            "{page}: {v:#}"
        );
        assert!(
            p["overflow_px"].as_f64().unwrap_or(0.0) <= 0.0,
            "{page} is wider than the phone: {v:#}"
        );
    }
    for file in ["directory.png", "watch.png", "studio.png", "api-docs.png"] {
        assert!(shots.join(file).is_file(), "{file} not saved");
    }
}

#[test]
fn the_watch_page_shows_the_offline_state_and_plays_again_when_the_streamer_returns() {
    let _browser = one_browser_at_a_time();
    let server = Server::start("webapp-reconnect", &["--ladder", "off"]);
    let key = streamer_with_channel(&server, "comeback", "again");
    let url = server.publish_url(&key);
    let mut publisher = Publisher::start(&media().av, &url, true);
    wait_for("the channel live", Duration::from_secs(30), || {
        (server.get("/live/again/master.m3u8", &[]).status == 200).then_some(())
    });
    let base = server.url("");
    let base = base.trim_end_matches('/').to_owned();
    let shots = shots_dir();
    let args = [
        "reconnect",
        &base,
        "again",
        "--shots",
        shots.to_str().unwrap(),
    ];
    let mut child = Command::new("node")
        .arg(browser_dir().join("webapp.mjs"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    // The script says on stderr when the streamer should leave and come back.
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let wait_line = |needle: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    };
    let mut back = None;
    if wait_line("step: playing: stop the publisher") {
        // A clean unpublish: the playlist ends at once.
        publisher.signal("INT");
        publisher.wait(Duration::from_secs(10));
        if wait_line("step: offline: start the publisher again") {
            back = Some(Publisher::start(&media().av, &url, true));
        }
    }
    let out = child.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    let v = result_of(&args, &String::from_utf8_lossy(&out.stdout), &stderr);
    drop(back);
    assert_ok(&v);
    assert!(
        v["offline_text"]
            .as_str()
            .is_some_and(|t| t.contains("offline")),
        "{v:#}"
    );
    assert!(v["played_after_s"].as_f64().unwrap() >= 3.0, "{v:#}");
}

#[test]
fn a_guest_and_an_account_chat_and_the_streamer_times_the_guest_out_from_the_page() {
    let _browser = one_browser_at_a_time();
    let server = Server::start("webapp-chat", &["--ladder", "off"]);
    streamer_with_channel(&server, "host", "talk");
    Browser::new(&server).signup("mia");
    let base = server.url("");
    let base = base.trim_end_matches('/');

    let v = webapp(&[
        "chat",
        base,
        "talk",
        "--user",
        "mia",
        "--password",
        PASSWORD,
    ]);
    assert_ok(&v);
    assert_eq!(v["guest"]["saw_other"], true, "{v:#}");
    assert_eq!(v["user"]["saw_other"], true, "{v:#}");
    assert_eq!(
        v["user"]["name"], "mia",
        "the account's name in chat: {v:#}"
    );
    assert_eq!(v["escaped_ok"], true, "{v:#}");

    let v = webapp(&[
        "moderate",
        base,
        "talk",
        "--streamer",
        "host",
        "--password",
        PASSWORD,
    ]);
    assert_ok(&v);
    assert_eq!(v["streamer_role"], "streamer", "{v:#}");
    let error = v["guest_error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        error.contains("timed out") && error.contains("webapp test"),
        "the guest is told why: {v:#}"
    );
}

#[test]
fn followers_only_and_guests_off_from_the_page_and_following_lets_a_viewer_post() {
    let _browser = one_browser_at_a_time();
    let server = Server::start("webapp-modes", &["--ladder", "off"]);
    streamer_with_channel(&server, "hostess", "club");
    Browser::new(&server).signup("newcomer");
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let v = webapp(&[
        "modes",
        base,
        "club",
        "--streamer",
        "hostess",
        "--user",
        "newcomer",
        "--password",
        PASSWORD,
    ]);
    assert_ok(&v);
    let refusal = v["refusal"].as_str().unwrap_or_default();
    assert!(refusal.contains("Only followers"), "{v:#}");
    assert_eq!(v["posted_after_follow"], true, "{v:#}");
    assert!(
        v["visitor_text"]
            .as_str()
            .is_some_and(|t| t.contains("Log in to chat")),
        "{v:#}"
    );
    assert_eq!(v["visitor_has_name_form"], false, "{v:#}");
    let (status, w) = Browser::new(&server).call("GET", "/api/v1/watch/club", None);
    assert_eq!(status, 200);
    assert_eq!(w["chat"]["followers_only"], true, "{w}");
    assert_eq!(w["chat"]["guests"], false, "{w}");
}

#[test]
fn accounts_and_the_studio_from_the_browser_and_a_rotated_key_stops_publishing() {
    let _browser = one_browser_at_a_time();
    let server = Server::start("webapp-studio", &["--ladder", "off"]);
    let base = server.url("");
    let base = base.trim_end_matches('/');

    let v = webapp(&["accounts", base]);
    assert_ok(&v);
    assert!(
        v["wrong_password_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{v:#}"
    );
    assert_eq!(v["csrf_refused_status"], 403, "{v:#}");
    let with = v["with_csrf_status"].as_u64().unwrap();
    assert!((200..300).contains(&with), "{v:#}");

    let shots = shots_dir();
    let v = webapp(&[
        "studio",
        base,
        "--user",
        "producer",
        "--password",
        PASSWORD,
        "--channel",
        "stage",
        "--shots",
        shots.to_str().unwrap(),
    ]);
    assert_ok(&v);
    let key1 = v["key1"].as_str().unwrap().to_owned();
    let key2 = v["key2"].as_str().unwrap().to_owned();
    assert!(key1.starts_with("sk_") && key2.starts_with("sk_"), "{v:#}");
    assert_ne!(key1, key2);

    // The old key is refused; the new one goes live.
    let mut old = Publisher::start(&media().av, &server.publish_url(&key1), false);
    let (ok, stderr) = old
        .wait(Duration::from_secs(20))
        .expect("a publish with the rotated-out key is refused promptly");
    assert!(!ok, "the old key published: {stderr}");
    let _new = Publisher::start(&media().av, &server.publish_url(&key2), true);
    wait_for("the new key live", Duration::from_secs(30), || {
        (server.get("/live/stage/master.m3u8", &[]).status == 200).then_some(())
    });
}

#[test]
fn a_video_page_plays_the_vod_ladder_and_offers_the_download() {
    let server = Server::start("web-vod", &["--vod-preset", "ultrafast"]);
    let id = crate::vod::ready_video(&server, "sample-720p-6s", 6, "1280x720");
    let _browser = one_browser_at_a_time();
    let v = webapp(&["vod", &server.url(""), &id]);
    assert_ok(&v);
}

//! Video on demand through the real binary: uploads (presigned PUT, tus with a resume, S3 via a
//! real moto server), the job graph with real ffmpeg, playback of every rendition by ffmpeg,
//! refusals of bad files, and a SIGKILL in the middle of a transcode.

use crate::harness::{run_ok, wait_for, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Processing budget of one test video on two shared cores with other tests running.
const READY_WITHIN: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A sample made by the committed script (1080p30 H.264 + AAC), once per target directory.
pub(crate) fn sample(name: &str, seconds: u32, size: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vod-media-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}.mp4"));
    if !out.exists() {
        let status = Command::new("bash")
            .arg(repo().join("scripts/make-vod-sample.sh"))
            .arg(&out)
            .arg(seconds.to_string())
            .env("SIZE", size)
            .status()
            .unwrap();
        assert!(status.success(), "make-vod-sample.sh failed");
    }
    out
}

pub(crate) fn source_duration(path: &Path) -> f64 {
    probed_duration(path.as_os_str())
}

/// The container duration ffprobe reports for `target` (a file or a URL), in seconds.
fn probed_duration(target: &std::ffi::OsStr) -> f64 {
    let out = run_ok(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(target),
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

pub(crate) fn create(server: &Server, title: &str, visibility: &str) -> Value {
    let (status, body) = server.api(
        "POST",
        "/api/v1/videos",
        Some(serde_json::json!({ "title": title, "visibility": visibility })),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "uploading", "{body}");
    body
}

/// PUTs a file to a URL, streaming it; returns the status and body.
pub(crate) fn put_file(url: &str, file: &Path) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut f = std::fs::File::open(file).unwrap();
    let len = f.metadata().unwrap().len();
    let mut res = agent
        .put(url)
        .header("Content-Length", &len.to_string())
        .send(ureq::SendBody::from_reader(&mut f))
        .unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap_or_default())
}

pub(crate) fn video(server: &Server, id: &str) -> Value {
    let (status, body) = server.api("GET", &format!("/api/v1/videos/{id}"), None);
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the video is ready or failed; returns its view and the states seen.
pub(crate) fn settle(server: &Server, id: &str) -> (Value, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    let v = wait_for("the video to settle", READY_WITHIN, || {
        let v = video(server, id);
        let state = v["state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        matches!(state.as_str(), "ready" | "failed").then_some(v)
    });
    (v, seen)
}

pub(crate) fn ready(server: &Server, id: &str) -> Value {
    let (v, _) = settle(server, id);
    assert_eq!(
        v["state"],
        "ready",
        "{v}\n{}",
        server
            .log_text()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    v
}

/// Decodes one rendition's playlist with ffmpeg; returns the decoded duration in seconds.
pub(crate) fn decode(url: &str) -> f64 {
    let duration = probed_duration(url.as_ref());
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i", url, "-f", "null", "-"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        status.status.success() && status.stderr.is_empty(),
        "decoding {url}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    duration
}

/// The variant URIs of a master playlist, resolved against its URL.
fn variants(master_url: &str, text: &str) -> Vec<String> {
    let base = &master_url[..master_url.rfind('/').unwrap() + 1];
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| format!("{base}{l}"))
        .collect()
}

/// A public video titled `title`, created and uploaded by direct PUT from `file`: its id.
pub(crate) fn uploaded(server: &Server, title: &str, file: &Path) -> String {
    let created = create(server, title, "public");
    let (status, body) = put_file(created["upload"]["url"].as_str().unwrap(), file);
    assert!(status < 300, "{status} {body}");
    created["id"].as_str().unwrap().to_owned()
}

/// A public video uploaded by direct PUT from a sample, once ready: its id.
pub(crate) fn ready_video(server: &Server, name: &str, seconds: u32, size: &str) -> String {
    let id = uploaded(server, name, &sample(name, seconds, size));
    ready(server, &id);
    id
}

#[test]
fn presigned_upload_of_a_1080p_file_plays_every_rendition() {
    let file = sample("sample-1080p-8s", 8, "1920x1080");
    let want = source_duration(&file);
    let server = Server::start("vod-put", &["--vod-preset", "ultrafast"]);
    let created = create(&server, "Lecture 1", "public");
    let id = created["id"].as_str().unwrap().to_owned();
    let upload = &created["upload"];
    assert_eq!(upload["method"], "PUT");
    assert!(upload["max_bytes"].as_u64().unwrap() > 0);
    assert!(upload["expires_at"].as_str().unwrap().ends_with('Z'));
    let url = upload["url"].as_str().unwrap();
    let (status, body) = put_file(url, &file);
    assert!(
        status == 200 || status == 201 || status == 202,
        "{status} {body}"
    );
    // The URL is single-use (a small body: the refusal comes before the body is read).
    let tiny = std::env::temp_dir().join(format!("vod-tiny-{}", std::process::id()));
    std::fs::write(&tiny, b"again").unwrap();
    let (again, body) = put_file(url, &tiny);
    assert!(
        again == 409 || again == 403,
        "second PUT answered {again} {body}"
    );

    let (v, seen) = settle(&server, &id);
    assert_eq!(v["state"], "ready", "{v} after {seen:?}");
    assert!(seen.iter().all(|s| s != "failed"), "{seen:?}");
    let names: Vec<&str> = v["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names.len(), 4, "source + 720p/480p/360p, got {names:?}");
    assert!((v["duration"].as_f64().unwrap() - want).abs() < 0.15, "{v}");

    let master_url = v["playback_url"].as_str().unwrap().to_owned();
    assert_eq!(master_url, server.url(&format!("/vod/{id}/master.m3u8")));
    let master = server.get(&format!("/vod/{id}/master.m3u8"), &[]);
    assert_eq!(master.status, 200);
    let master_text = master.text();
    assert!(master_text.contains("TYPE=AUDIO"), "{master_text}");
    let uris = variants(&master_url, &master_text);
    assert_eq!(uris.len(), 4, "{master_text}");
    for uri in &uris {
        let media = crate::harness::fetch("GET", uri, &[]).text();
        assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{media}");
        assert!(media.contains("#EXT-X-ENDLIST"), "{media}");
        let got = decode(uri);
        assert!(
            (got - want).abs() <= 0.1,
            "{uri}: {got} s vs source {want} s"
        );
    }
    // Whole master: audio and the top video together.
    let whole = decode(&master_url);
    assert!((whole - want).abs() <= 0.15, "{whole} vs {want}");

    let mpd = server.get(&format!("/vod/{id}/manifest.mpd"), &[]);
    assert_eq!(mpd.status, 200);
    assert!(mpd.text().contains("type=\"static\""), "{}", mpd.text());
    assert!(decode(&server.url(&format!("/vod/{id}/manifest.mpd"))) > want - 0.2);

    let mp4 = server.get(&format!("/vod/{id}/download.mp4"), &[]);
    assert_eq!(mp4.status, 200);
    let find = |tag: &[u8]| mp4.body.windows(4).position(|w| w == tag).unwrap();
    assert!(
        find(b"moov") < find(b"mdat"),
        "the MP4's index must come first"
    );
    let part = server.get(
        &format!("/vod/{id}/download.mp4"),
        &[("Range", "bytes=0-99")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body.len(), 100);
    let poster = server.get(&format!("/vod/{id}/poster.jpg"), &[]);
    assert_eq!(&poster.body[..2], &[0xFF, 0xD8]);
    let vtt = server.get(&format!("/vod/{id}/thumbnails.vtt"), &[]).text();
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("sprite.jpg#xywh="),
        "{vtt}"
    );
    let sprite = server.get(&format!("/vod/{id}/sprite.jpg"), &[]);
    assert_eq!(sprite.status, 200);

    assert!(
        server
            .metric("ferrocast_vod_videos_ready_total")
            .unwrap_or(0.0)
            >= 1.0
    );
    assert!(server
        .metrics()
        .contains("ferrocast_jobs{state=\"succeeded\"}"));
    // The video is ready a moment before its publish job is recorded as done.
    let jobs = wait_for(
        "the publish job to succeed",
        Duration::from_secs(10),
        || {
            let (status, jobs) = server.api("GET", "/api/v1/jobs?state=succeeded", None);
            assert_eq!(status, 200);
            (jobs["jobs"].as_array()?.len() == 6).then_some(jobs)
        },
    );
    let kinds: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["kind"].as_str())
        .collect();
    for k in [
        "vod.probe",
        "vod.transcode",
        "vod.package",
        "vod.mp4",
        "vod.thumbs",
        "vod.publish",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // Nothing left behind but the source and the published outputs.
    let media = server.data_dir.join("media");
    assert!(!media.join("tmp").join(&id).exists());
    let scratch: Vec<_> = std::fs::read_dir(server.data_dir.join("work/jobs"))
        .unwrap()
        .collect();
    assert!(scratch.is_empty(), "scratch left: {scratch:?}");
}

fn node() -> Command {
    let mut c = Command::new("node");
    c.current_dir(repo());
    c
}

/// Uploads with the tus client (tus-js-client under Node): stops at 90 %, then resumes.
fn tus_upload_with_resume(created: &Value, file: &Path) {
    let tus = &created["tus"];
    let endpoint = tus["endpoint"].as_str().unwrap();
    let video = tus["metadata"]["video"].as_str().unwrap();
    let token = tus["metadata"]["token"].as_str().unwrap();
    let script = repo().join("tests/vod/tus-upload.mjs");
    let first = node()
        .arg(&script)
        .arg(file)
        .args([
            endpoint,
            video,
            token,
            "--chunk-size",
            "262144",
            "--abort-at",
            "0.9",
        ])
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stopped: Value = serde_json::from_slice(&first.stdout).unwrap();
    let upload_url = stopped["url"].as_str().unwrap();
    let second = node()
        .arg(&script)
        .arg(file)
        .args([endpoint, video, token, "--resume", upload_url])
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let resumed: Value = serde_json::from_slice(&second.stdout).unwrap();
    let size = std::fs::metadata(file).unwrap().len() as f64;
    let from = resumed["resumed_from"].as_f64().unwrap();
    assert!(
        from >= 0.9 * size - 262_144.0,
        "resumed from {from} of {size}"
    );
}

#[test]
fn tus_upload_resumes_and_a_private_video_needs_its_token() {
    let file = sample("sample-360p-6s", 6, "640x360");
    let want = source_duration(&file);
    let server = Server::start("vod-tus", &["--vod-preset", "ultrafast"]);
    let created = create(&server, "Match 7", "private");
    let id = created["id"].as_str().unwrap().to_owned();
    tus_upload_with_resume(&created, &file);
    let v = ready(&server, &id);
    assert_eq!(v["visibility"], "private");
    // Without a token, or with a forged one: refused.
    let bare = server.get(&format!("/vod/{id}/master.m3u8"), &[]);
    assert_eq!(bare.status, 403, "{}", bare.text());
    let forged = server.get(
        &format!("/vod/{id}/master.m3u8?token=p1.{id}.99999999999.00"),
        &[],
    );
    assert_eq!(forged.status, 403);
    // The video itself is hidden from anyone but its owner.
    let (status, _) = server.api_with_token("GET", &format!("/api/v1/videos/{id}"), None, None);
    assert_eq!(status, 404);
    // With the token, every listed URI carries it, so players keep it on relative URIs.
    let url = v["playback_url"].as_str().unwrap();
    assert!(url.contains("?token="), "{url}");
    let master = crate::harness::fetch("GET", url, &[]).text();
    for uri in variants(url.split('?').next().unwrap(), &master) {
        assert!(uri.contains("?token="), "{uri}");
        let media = crate::harness::fetch("GET", &uri, &[]).text();
        assert!(media.contains("init.mp4?token="), "{media}");
        assert!(
            media.lines().filter(|l| l.ends_with(".m4s")).count() == 0,
            "{media}"
        );
    }
    assert!((decode(url) - want).abs() <= 0.15);
    let mp4 = v["download_url"].as_str().unwrap();
    assert_eq!(crate::harness::fetch("GET", mp4, &[]).status, 200);
    let segment = server.get(&format!("/vod/{id}/v/360p/0.m4s"), &[]);
    assert_eq!(segment.status, 403);
}

/// A TCP listener that counts connections: a refused file must make nobody connect.
fn canary() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for _ in listener.incoming().flatten() {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (addr, hits)
}

#[test]
fn bad_files_fail_with_a_reason_and_oversized_uploads_are_refused() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("vod-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.mp4");
    std::fs::write(
        &text,
        "These are my lecture notes, not a video.\n".repeat(50),
    )
    .unwrap();
    let (canary_addr, hits) = canary();
    let playlist = dir.join("playlist.mp4");
    std::fs::write(
        &playlist,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://{canary_addr}/segment.ts\n#EXTINF:2.0,\nfile:/etc/passwd\n#EXT-X-ENDLIST\n"
        ),
    )
    .unwrap();
    let good = sample("sample-360p-6s", 6, "640x360");
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();

    let server = Server::start(
        "vod-bad",
        &["--vod-preset", "ultrafast", "--vod-max-upload", "8MB"],
    );
    let mut cases = Vec::new();
    for (name, file) in [
        ("text", &text),
        ("playlist", &playlist),
        ("truncated", &truncated),
    ] {
        let created = create(&server, name, "public");
        let (status, body) = put_file(created["upload"]["url"].as_str().unwrap(), file);
        assert!(status < 300, "{name}: {status} {body}");
        cases.push((name, created["id"].as_str().unwrap().to_owned()));
    }
    for (name, id) in &cases {
        let (v, _) = settle(&server, id);
        assert_eq!(v["state"], "failed", "{name}: {v}");
        let reason = v["error"].as_str().unwrap();
        assert!(
            reason.len() > 20 && reason.ends_with('.'),
            "{name}: {reason:?}"
        );
        assert!(v["error_code"].is_string(), "{v}");
        println!("{name}: {reason}");
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the playlist made ffmpeg connect"
    );

    // Oversized: the direct PUT stops at the cap, tus refuses the announced length.
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![7u8; 10_000_000]).unwrap();
    let created = create(&server, "too big", "public");
    let url = created["upload"]["url"].as_str().unwrap();
    // curl as the client: it reads the early answer instead of failing on the closed socket,
    // once announcing the length and once streaming without it (chunked), cut at the cap.
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-T"])
            .arg(&big)
            .args(extra)
            .arg(url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        assert_eq!(code, "413", "{extra:?}: {text}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert!(v["error"].is_string(), "{body}");
    }
    let tus = &created["tus"];
    let meta = format!(
        "video {},token {}",
        b64(tus["metadata"]["video"].as_str().unwrap()),
        b64(tus["metadata"]["token"].as_str().unwrap())
    );
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Tus-Resumable: 1.0.0",
            "-H",
            "Upload-Length: 10000000",
        ])
        .args(["-H", &format!("Upload-Metadata: {meta}")])
        .arg(tus["endpoint"].as_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    // The server is fine: a good file still goes through.
    ready(&server, &uploaded(&server, "good", &good));
    std::fs::remove_dir_all(dir).ok();
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_sigkill_mid_transcode_is_retried_into_exactly_one_set_of_outputs() {
    let file = sample("sample-1080p-20s", 20, "1920x1080");
    let mut server = Server::start("vod-kill", &["--workers", "1"]);
    let id = uploaded(&server, "Crash test", &file);
    wait_for("the transcode to be under way", READY_WITHIN, || {
        let v = video(&server, &id);
        (v["state"] == "processing" && v["progress"].as_f64().unwrap_or(0.0) >= 10.0).then_some(())
    });
    let data_dir = server.data_dir.clone();
    let pid = server.pid();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    wait_for("the server to die", Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
    server.forget();
    // Its ffmpeg dies with it (no orphan keeps writing).
    wait_for(
        "no ffmpeg of the killed server",
        Duration::from_secs(10),
        || {
            let out = Command::new("pgrep")
                .args(["-f", &format!("{}/work/jobs", data_dir.display())])
                .output()
                .unwrap();
            out.stdout.is_empty().then_some(())
        },
    );
    let server = Server::start_in(data_dir.clone(), &["--workers", "1"]);
    let v = ready(&server, &id);
    // The video is ready a moment before its publish job (and its scratch) is done with.
    let jobs = wait_for(
        "the publish job to succeed",
        Duration::from_secs(10),
        || {
            let (_, jobs) = server.api("GET", "/api/v1/jobs?state=succeeded", None);
            (jobs["jobs"].as_array()?.len() == 6).then_some(jobs)
        },
    );
    let transcode = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "vod.transcode")
        .unwrap();
    assert!(transcode["attempts"].as_u64().unwrap() >= 2, "{transcode}");
    // Exactly one set: each rendition's folder holds its playlist, its init and the segments
    // the playlist lists, nothing else; no intermediates, no scratch.
    let out = data_dir.join("media/vod").join(&id);
    for r in v["renditions"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let dir = out.join("v").join(name);
        let playlist = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
        let listed = playlist.lines().filter(|l| l.ends_with(".m4s")).count();
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(
            files,
            listed + 2,
            "{name}: {files} files for {listed} segments"
        );
    }
    assert!(!data_dir.join("media/tmp").join(&id).exists());
    assert_eq!(
        std::fs::read_dir(data_dir.join("work/jobs"))
            .unwrap()
            .count(),
        0
    );
}

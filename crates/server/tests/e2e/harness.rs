//! Runs the real `ferrocast` binary and real ffmpeg/ffprobe/GStreamer peers against it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running server process with its own data directory and ports.
pub struct Server {
    child: Option<Child>,
    pub http: String,
    pub rtmp: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub token: String,
}

fn tmp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferrocast")
}

impl Server {
    /// Starts `ferrocast serve` on ephemeral loopback ports with extra flags.
    pub fn start(tag: &str, extra: &[&str]) -> Server {
        Self::start_in(tmp_dir(tag), extra)
    }

    /// Starts `ferrocast serve` on a given data directory (a restart keeps the database).
    pub fn start_in(data_dir: PathBuf, extra: &[&str]) -> Server {
        let log = data_dir.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(bin())
            .args([
                "serve",
                "--http",
                "127.0.0.1:0",
                "--rtmp",
                "127.0.0.1:0",
                "--log-format",
                "json",
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            // The transcoding ladder costs encodes: only the tests about it turn it on.
            .args(if extra.contains(&"--ladder") {
                &[][..]
            } else {
                &["--ladder", "off"][..]
            })
            .args(extra)
            .env("FERROCAST_LOG", "info,ferrocast_server=debug")
            .env_remove("FERROCAST_ADMIN_TOKEN")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ferrocast");
        let mut server = Server {
            child: Some(child),
            http: String::new(),
            rtmp: String::new(),
            data_dir,
            log,
            token: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = server
                .log_lines()
                .into_iter()
                .find(|l| l["message"] == "ferrocast serving")
            {
                server.http = line["http"].as_str().unwrap().to_owned();
                server.rtmp = line["rtmp"].as_str().unwrap().to_owned();
                break;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "server exited early ({status}): {}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.token = std::fs::read_to_string(server.data_dir.join("admin-token"))
            .unwrap()
            .trim()
            .to_owned();
        server
    }

    /// Parsed JSON log lines so far.
    pub fn log_lines(&self) -> Vec<Value> {
        let Ok(f) = std::fs::File::open(&self.log) else {
            return vec![];
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Reaps a process killed from outside (SIGKILL), so dropping the handle does nothing more.
    pub fn forget(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn publish_url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.rtmp)
    }

    /// Creates a channel through the API and returns its JSON (with `stream_key`).
    pub fn create_channel(&self, name: &str) -> Value {
        let (status, body) = self.api(
            "POST",
            "/api/v1/channels",
            Some(serde_json::json!({ "name": name })),
        );
        assert_eq!(status, 201, "{body}");
        body
    }

    /// An authenticated API call; returns status and JSON body (Null when empty).
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.api_with_token(method, path, body, Some(&self.token))
    }

    pub fn api_with_token(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let agent = agent();
        let url = self.url(path);
        let auth = token.map(|t| format!("Bearer {t}"));
        let res = match (method, body) {
            ("POST", Some(b)) => with_auth(agent.post(&url), &auth).send_json(b),
            ("POST", None) => with_auth(agent.post(&url), &auth).send_empty(),
            ("PUT", Some(b)) => with_auth(agent.put(&url), &auth).send_json(b),
            ("PUT", None) => with_auth(agent.put(&url), &auth).send_empty(),
            ("DELETE", _) => with_auth(agent.delete(&url), &auth).call(),
            _ => with_auth(agent.get(&url), &auth).call(),
        };
        let mut res = res.unwrap();
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// GET returning status, headers and body bytes.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        fetch("GET", &self.url(path), headers)
    }

    /// Sends SIGTERM and waits for exit, returning whether it exited successfully.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fetches `/metrics` text.
    pub fn metrics(&self) -> String {
        String::from_utf8(self.get("/metrics", &[]).body).unwrap()
    }

    /// Value of one metric sample with exactly this name and label set text, e.g.
    /// `ferrocast_segments_total{channel="a"}`.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn with_auth<B>(r: ureq::RequestBuilder<B>, auth: &Option<String>) -> ureq::RequestBuilder<B> {
    match auth {
        Some(a) => r.header("Authorization", a),
        None => r,
    }
}

/// An HTTP response.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn fetch(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    let agent = agent();
    let mut req = match method {
        "HEAD" => agent.head(url),
        "OPTIONS" => agent.options(url),
        _ => agent.get(url),
    };
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut res = req.call().unwrap();
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = res
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// Polls `f` until it returns Some or the timeout passes.
/// Held by each test that runs a browser: one chromium decoding video at a time leaves the two
/// cores to the servers and transcoders under test.
pub fn one_browser_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Test inputs, made once per test run with ffmpeg (small, so publishing them costs little).
pub struct Media {
    /// 12 s 640x360 30 fps H.264 High (B-frames) + AAC-LC 48 kHz stereo, keyframe every 2 s.
    pub av: PathBuf,
    /// Same video, no audio.
    pub video_only: PathBuf,
    /// Same audio, no video.
    pub audio_only: PathBuf,
}

pub fn media() -> &'static Media {
    static MEDIA: OnceLock<Media> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    MEDIA.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-media-v1");
        std::fs::create_dir_all(&dir).unwrap();
        let av = dir.join("av.flv");
        let video_only = dir.join("video.flv");
        let audio_only = dir.join("audio.flv");
        if !av.exists() {
            let tmp = dir.join("av.tmp.flv");
            run_ok(
                Command::new("ffmpeg")
                    .args([
                        "-hide_banner",
                        "-loglevel",
                        "error",
                        "-y",
                        "-nostdin",
                        "-f",
                        "lavfi",
                        "-i",
                        "testsrc2=size=640x360:rate=30",
                        "-f",
                        "lavfi",
                        "-i",
                        "sine=frequency=440:sample_rate=48000",
                        "-t",
                        "12",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "veryfast",
                        "-profile:v",
                        "high",
                        "-g",
                        "60",
                        "-keyint_min",
                        "60",
                        "-sc_threshold",
                        "0",
                        "-b:v",
                        "800k",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "aac",
                        "-b:a",
                        "96k",
                        "-ar",
                        "48000",
                        "-ac",
                        "2",
                        "-f",
                        "flv",
                    ])
                    .arg(&tmp),
            );
            std::fs::rename(&tmp, &av).unwrap();
        }
        if !video_only.exists() {
            let tmp = dir.join("video.tmp.flv");
            run_ok(
                Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-y", "-nostdin", "-i"])
                    .arg(&av)
                    .args(["-an", "-c", "copy", "-f", "flv"])
                    .arg(&tmp),
            );
            std::fs::rename(&tmp, &video_only).unwrap();
        }
        if !audio_only.exists() {
            let tmp = dir.join("audio.tmp.flv");
            run_ok(
                Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-y", "-nostdin", "-i"])
                    .arg(&av)
                    .args(["-vn", "-c", "copy", "-f", "flv"])
                    .arg(&tmp),
            );
            std::fs::rename(&tmp, &audio_only).unwrap();
        }
        Media {
            av,
            video_only,
            audio_only,
        }
    })
}

/// A test input made once per target directory: `ffmpeg ARGS -f flv` into
/// `e2e-media-v1/NAME.flv` (through a temporary file, so an interrupted run leaves nothing).
pub fn test_media(name: &str, args: &[&str]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e-media-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.flv"));
    if !file.exists() {
        let tmp = dir.join(format!("{name}.{}.tmp.flv", std::process::id()));
        run_ok(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-nostdin"])
                .args(args)
                .args(["-f", "flv"])
                .arg(&tmp),
        );
        std::fs::rename(&tmp, &file).unwrap();
    }
    file
}

/// Width and height of the first video stream ffprobe finds at `target`.
pub fn video_size(target: &str) -> (u64, u64) {
    let probe = ffprobe(target, "stream=codec_type,width,height");
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video in {target}: {probe}"))
        .clone();
    (
        video["width"].as_u64().unwrap(),
        video["height"].as_u64().unwrap(),
    )
}

/// Runs `cmd` to completion; fails the test with its stderr unless it succeeded.
pub(crate) fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An ffmpeg publisher process.
pub struct Publisher {
    child: Option<Child>,
    stderr: PathBuf,
}

impl Publisher {
    /// Publishes `input` with `-re -c copy`, looping forever when `looped`.
    pub fn start(input: &Path, url: &str, looped: bool) -> Publisher {
        let stderr = std::env::temp_dir().join(format!(
            "ffmpeg-pub-{}-{}.log",
            std::process::id(),
            rand_u64()
        ));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]);
        if looped {
            cmd.args(["-stream_loop", "-1"]);
        }
        cmd.arg("-i")
            .arg(input)
            .args(["-c", "copy", "-f", "flv", url]);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("spawn ffmpeg");
        Publisher {
            child: Some(child),
            stderr,
        }
    }

    /// Waits for ffmpeg to exit; returns success and its stderr.
    pub fn wait(&mut self, within: Duration) -> Option<(bool, String)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some((
                    status.success(),
                    std::fs::read_to_string(&self.stderr).unwrap_or_default(),
                ));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True while ffmpeg runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Sends a signal (e.g. "STOP": the process freezes, its socket stays open and silent).
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status();
        }
    }

    /// SIGKILL: the connection vanishes without an unpublish.
    pub fn kill(&mut self) {
        self.signal("CONT");
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish()
}

/// ffprobe's JSON for a URL or file.
pub fn ffprobe(target: &str, entries: &str) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_entries",
            entries,
            "-of",
            "json",
            target,
        ])
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {target} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The codec types (`video`, `audio`) ffprobe finds at a URL, in stream order.
pub fn stream_kinds(target: &str) -> Vec<String> {
    let probe = ffprobe(target, "stream=codec_type");
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap().to_owned())
        .collect()
}

/// A parsed media playlist.
#[derive(Debug, Default, Clone)]
pub struct MediaPlaylist {
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub segments: Vec<Segment>,
    pub endlist: bool,
    pub maps: Vec<String>,
    pub text: String,
}

#[derive(Debug, Default, Clone)]
pub struct Segment {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub discontinuity: bool,
    pub program_date_time: Option<String>,
}

pub fn parse_media_playlist(text: &str) -> MediaPlaylist {
    let mut p = MediaPlaylist {
        text: text.to_owned(),
        ..Default::default()
    };
    assert!(text.starts_with("#EXTM3U"), "not a playlist: {text}");
    let mut pending = Segment::default();
    let mut next_msn = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_duration = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            pending.duration = v
                .trim_end_matches(',')
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
        } else if line == "#EXT-X-DISCONTINUITY" {
            pending.discontinuity = true;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pending.program_date_time = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=") {
            p.maps.push(v.trim_matches('"').to_owned());
        } else if line == "#EXT-X-ENDLIST" {
            p.endlist = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            let msn = *next_msn.get_or_insert(p.media_sequence);
            next_msn = Some(msn + 1);
            pending.uri = line.to_owned();
            pending.msn = msn;
            p.segments.push(std::mem::take(&mut pending));
        }
    }
    p
}

impl Server {
    /// The channel's media playlist URL (the first variant of its master playlist).
    pub fn media_playlist_path(&self, channel: &str) -> String {
        let master = wait_for("master playlist", Duration::from_secs(30), || {
            let r = self.get(&format!("/live/{channel}/master.m3u8"), &[]);
            (r.status == 200).then(|| r.text())
        });
        let uri = master
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap()
            .to_owned();
        format!("/live/{channel}/{uri}")
    }

    /// Creates `name`, publishes the A/V test input into it in a loop, and waits for its first
    /// segment; returns the publisher and the media playlist path.
    pub fn go_live(&self, name: &str) -> (Publisher, String) {
        let c = self.create_channel(name);
        let p = Publisher::start(
            &media().av,
            &self.publish_url(c["stream_key"].as_str().unwrap()),
            true,
        );
        let path = self.media_playlist_path(name);
        wait_for("a first segment", Duration::from_secs(40), || {
            (!self.playlist(&path)?.segments.is_empty()).then_some(())
        });
        (p, path)
    }

    /// Media sequence number of the newest listed segment (0 when none).
    pub fn last_msn(&self, path: &str) -> u64 {
        self.playlist(path)
            .and_then(|p| p.segments.last().map(|x| x.msn))
            .unwrap_or(0)
    }

    pub fn playlist(&self, path: &str) -> Option<MediaPlaylist> {
        let r = self.get(path, &[]);
        (r.status == 200).then(|| parse_media_playlist(&r.text()))
    }
}

//! A real browser watching a stream: Debian's chromium, headless, driven by playwright-core
//! through `tests/browser/play.mjs`, playing with hls.js (low-latency mode) or dash.js.
//! `scripts/deps.sh test` installs chromium, node and the npm packages.

use crate::harness::{wait_for, Server};
use serde::Deserialize;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which JavaScript player the page uses.
#[allow(dead_code)] // Dash: for the DASH route's tests
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// hls.js with `lowLatencyMode: true`, given a multivariant or media playlist URL.
    Hls,
    /// dash.js `MediaPlayer`, given an MPD URL.
    Dash,
}

impl Player {
    fn arg(self) -> &'static str {
        match self {
            Player::Hls => "hls",
            Player::Dash => "dash",
        }
    }
}

/// How to play, beyond the URL, the player and the watching time.
#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    /// Serve the page at another loopback origin than the stream's (`localhost` for
    /// `127.0.0.1`, and the reverse), so that every request is cross-origin and the browser
    /// enforces the server's CORS headers.
    pub cross_origin: bool,
    /// Override the player's target live delay in seconds (default: what the stream asks for).
    pub live_delay: Option<f64>,
    /// How long playback may take to start (default 20 s).
    pub start_timeout: Option<u32>,
}

/// One video rendition the player saw.
#[allow(dead_code)] // not every test reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct Level {
    pub height: Option<u32>,
    pub width: Option<u32>,
    pub bitrate: Option<u64>,
}

/// What the viewer got: the JSON line `play.mjs` prints, and its stderr.
#[allow(dead_code)] // not every test reads every field
#[derive(Debug, Clone, Deserialize)]
pub struct BrowserResult {
    /// Started, played at least half the watching time, no fatal error.
    pub ok: bool,
    pub player: String,
    /// From the page's navigation start to the first frame presented.
    pub started_ms: Option<u64>,
    /// How far the playhead moved while watching (seeks excluded).
    pub played_s: f64,
    /// `waiting` events after playback started, and the time spent in them.
    pub stalls: u32,
    pub stall_s: f64,
    /// `waiting` events during a seek (the player jumping to its live sync point, say).
    pub seek_waits: u32,
    /// The player's own live latency (hls.js `latency`, dash.js `getCurrentLiveLatency()`).
    pub latency_s: Option<f64>,
    pub target_latency_s: Option<f64>,
    /// hls.js: now minus the playhead's `EXT-X-PROGRAM-DATE-TIME`; dash.js: as `latency_s`.
    pub wallclock_latency_s: Option<f64>,
    /// The video renditions the player was offered.
    pub levels: Vec<Level>,
    /// The video heights the element showed, in order.
    pub heights_played: Vec<u32>,
    /// Fatal errors (player, media element, page, or the script itself).
    pub errors: Vec<String>,
    /// Errors the player recovered from.
    pub warnings: Vec<String>,
    pub video_size: [u32; 2],
    pub frames: Option<u64>,
    pub dropped_frames: Option<u64>,
    /// The script's own run time, browser start included.
    pub wall_ms: u64,
    /// The script's stderr: browser start, player events, console errors.
    #[serde(skip)]
    pub log: String,
    /// The JSON line as printed.
    #[serde(skip)]
    pub json: String,
}

impl BrowserResult {
    /// Heights of the renditions offered, highest first.
    pub fn level_heights(&self) -> Vec<u32> {
        let mut h: Vec<u32> = self.levels.iter().filter_map(|l| l.height).collect();
        h.sort_unstable_by(|a, b| b.cmp(a));
        h
    }
}

/// The JSON and the log, for assertion messages.
impl std::fmt::Display for BrowserResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n--- play.mjs stderr ---\n{}", self.json, self.log)
    }
}

fn browser_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser"))
}

/// Plays `url` in headless chromium with `player` for `seconds` after the first frame, with the
/// page at the stream's own origin. Panics when the script cannot run (no node, chromium or npm
/// packages: run `scripts/deps.sh test`) or prints no result; a playback failure is in the result.
#[allow(dead_code)] // for the DASH route's tests
pub fn play_in_browser(url: &str, player: Player, seconds: u32) -> BrowserResult {
    play_in_browser_with(url, player, seconds, &PlayOptions::default())
}

/// [`play_in_browser`] with options.
pub fn play_in_browser_with(
    url: &str,
    player: Player,
    seconds: u32,
    options: &PlayOptions,
) -> BrowserResult {
    let dir = browser_dir();
    let script = dir.join("play.mjs");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules: run scripts/deps.sh test",
        dir.display()
    );
    let start_timeout = options.start_timeout.unwrap_or(20);
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .args(["--player", player.arg()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--start-timeout", &start_timeout.to_string()]);
    if let Some(delay) = options.live_delay {
        cmd.args(["--live-delay", &delay.to_string()]);
    }
    if options.cross_origin {
        cmd.args(["--page-origin", &other_loopback_origin(url)]);
    }
    cmd.arg(url);

    let tag = format!(
        "browser-{}-{}",
        std::process::id(),
        crate::harness::rand_u64()
    );
    let out_path = std::env::temp_dir().join(format!("{tag}.out"));
    let err_path = std::env::temp_dir().join(format!("{tag}.err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "run node {}: {e} (run scripts/deps.sh test)",
                script.display()
            )
        });
    // The script stops itself after start timeout + seconds + 30 s; this is the backstop.
    let deadline = Instant::now() + Duration::from_secs(u64::from(start_timeout + seconds) + 60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let log = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    let Some(status) = status else {
        panic!("play.mjs did not finish in time\n{log}");
    };
    let json = stdout.lines().last().unwrap_or_default().to_owned();
    let mut result: BrowserResult = serde_json::from_str(&json).unwrap_or_else(|e| {
        panic!("play.mjs ({status}) printed no result ({e}): {stdout}\n--- stderr ---\n{log}")
    });
    assert_eq!(
        status.success(),
        result.ok,
        "exit status {status} disagrees with the result: {json}\n{log}"
    );
    result.log = log;
    result.json = json;
    result
}

/// The same scheme and port on the other name of loopback: `localhost` for `127.0.0.1`.
fn other_loopback_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let authority = rest.split('/').next().unwrap();
    let (host, port) = authority.rsplit_once(':').expect("a URL with a port");
    let other = match host {
        "127.0.0.1" => "localhost",
        "localhost" => "127.0.0.1",
        _ => panic!("cross_origin needs a stream on 127.0.0.1 or localhost: {url}"),
    };
    format!("{scheme}://{other}:{port}")
}

#[test]
fn browser_hls_js_plays_the_low_latency_ladder_without_stalls() {
    let _browser = crate::harness::one_browser_at_a_time();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("e2e-browser-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ladder.toml");
    std::fs::write(&config, crate::ladder::LADDER).unwrap();
    let s = Server::start(
        "browser",
        &["--ladder", "on", "--config", config.to_str().unwrap()],
    );
    let (_publisher, _) = s.go_live("web");
    wait_for("the source and two rungs", Duration::from_secs(40), || {
        let r = s.get("/live/web/master.m3u8", &[]);
        (r.status == 200 && r.text().matches("#EXT-X-STREAM-INF").count() == 3).then_some(())
    });

    // The page is served at `localhost`, the stream at 127.0.0.1: the browser enforces CORS.
    let options = PlayOptions {
        cross_origin: true,
        ..PlayOptions::default()
    };
    let r = play_in_browser_with(&s.url("/live/web/master.m3u8"), Player::Hls, 8, &options);
    println!("{}", r.json);
    assert!(r.ok && r.errors.is_empty(), "{r}");
    assert!(r.started_ms.unwrap() < 5000, "slow start: {r}");
    assert!(r.played_s >= 7.0, "{r}");
    // Parts arrive every 0.5 s and the player holds three of them back (PART-HOLD-BACK): a
    // healthy origin never lets its buffer run dry.
    assert_eq!(r.stalls, 0, "{r}");
    assert_eq!(r.player, "hls");
    assert_eq!(r.level_heights(), [360, 240, 144], "{r}");
    let mut by_height = r.levels.clone();
    by_height.sort_by_key(|l| l.height);
    assert!(
        by_height.windows(2).all(|w| w[0].bitrate < w[1].bitrate),
        "bitrates rise with height: {r}"
    );
    let sizes = [[640, 360], [426, 240], [256, 144]];
    assert!(sizes.contains(&r.video_size), "{r}");
    assert!(
        r.heights_played.iter().all(|h| [360, 240, 144].contains(h)),
        "{r}"
    );
    // Low-Latency HLS: well under the three 2 s segments regular HLS players hold back.
    let latency = r.latency_s.expect("hls.js reports its latency");
    assert!(latency > 0.0 && latency < 4.0, "latency {latency}: {r}");
    let behind = r.wallclock_latency_s.expect("program date time");
    assert!(behind < 5.0, "{behind} s behind the wall clock: {r}");

    // The same channel as MPEG-DASH: dash.js plays the video renditions (one adaptation set)
    // with the audio (another), cross-origin too.
    let r = play_in_browser_with(&s.url("/live/web/manifest.mpd"), Player::Dash, 8, &options);
    println!("{}", r.json);
    assert!(r.ok && r.errors.is_empty(), "{r}");
    assert_eq!(r.player, "dash");
    assert!(r.played_s >= 6.0, "{r}");
    assert_eq!(r.stalls, 0, "{r}");
    assert_eq!(r.level_heights(), [360, 240, 144], "{r}");
    assert!(sizes.contains(&r.video_size), "{r}");
    let latency = r.latency_s.expect("dash.js reports its latency");
    assert!(latency > 0.0 && latency < 10.0, "latency {latency}: {r}");
}

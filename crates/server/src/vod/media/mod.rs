//! Running ffprobe and ffmpeg for video on demand: probe and validate an upload, transcode it
//! into rung FLVs, package them (CMAF, HLS, DASH), make the MP4 download, the poster and the
//! sprite, and check the result. The command lines and the packaging logic are
//! `ferrocast_vod`'s; this module runs processes, moves bytes and maps failures:
//!
//! - [`MediaFailure::Refused`]: the upload itself is at fault; permanent (no retry).
//! - [`MediaFailure::Failed`]: anything else (a crash, a full disk, a failed check); retryable,
//!   with a cause a person can read.
//! - [`MediaFailure::Cancelled`]: the job was cancelled; ffmpeg was killed at once.

mod assets;
mod package;
mod probe;
mod transcode;
mod verify;

pub use assets::{make_mp4, make_thumbnails};
pub use package::package;
pub use probe::probe;
pub use transcode::transcode;
pub use verify::verify;

use ferrocast_vod::Refusal;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// The programs run. `prlimit` (util-linux) is used from `PATH` when it is there, to cap
/// ffprobe's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTools {
    /// ffmpeg.
    pub ffmpeg: PathBuf,
    /// ffprobe.
    pub ffprobe: PathBuf,
}

impl MediaTools {
    /// `ffmpeg` and `ffprobe`, looked up on `PATH` when run.
    pub fn from_path() -> Self {
        Self {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
        }
    }
}

/// Why a media step did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaFailure {
    /// The upload is unacceptable, for a reason shown to its owner; retrying cannot help.
    Refused(Refusal),
    /// The step failed for a reason that may pass (retryable); the text says what happened.
    Failed(String),
    /// The step was cancelled.
    Cancelled,
}

impl std::fmt::Display for MediaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "refused: {}", r.message),
            Self::Failed(m) => f.write_str(m),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// An I/O error as a person reads it: a full disk says so.
pub fn describe_io(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        format!("disk full ({e})")
    } else if e.kind() == std::io::ErrorKind::QuotaExceeded || e.raw_os_error() == Some(122) {
        format!("disk quota exceeded ({e})")
    } else {
        e.to_string()
    }
}

fn io_failed(what: &str, e: &std::io::Error) -> MediaFailure {
    MediaFailure::Failed(format!("{what}: {}", describe_io(e)))
}

/// Largest stdout kept from a process whose output is read whole (ffprobe's JSON).
const MAX_CAPTURE: usize = 8 << 20;
/// Longest line of a process's output kept; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;
/// Log lines kept for the error message.
const LOG_TAIL: usize = 6;

/// How to run one process.
pub(super) struct Run<'a> {
    /// What it is, for messages ("ffprobe", "the transcode").
    pub what: &'static str,
    pub program: &'a Path,
    pub args: Vec<String>,
    /// Killed after this long.
    pub timeout: Option<Duration>,
    /// Address-space cap through `prlimit --as`, when prlimit is installed.
    pub memory_limit: Option<u64>,
    /// Keep stdout whole (up to [`MAX_CAPTURE`]) rather than handing out its lines.
    pub capture_stdout: bool,
}

/// What a finished process left.
pub(super) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The log's last lines (errors preferred), for messages.
    pub log_tail: Vec<String>,
    /// The log said the input ends early (a truncated MP4).
    pub truncated_input: bool,
    /// The log said a write failed for lack of space.
    pub disk_full: bool,
}

impl Finished {
    /// The failure for an unsuccessful exit: a truncated input is refused, a full disk said.
    pub fn failure(&self, what: &str) -> MediaFailure {
        if self.truncated_input {
            return MediaFailure::Refused(ferrocast_vod::probe::truncated_refusal());
        }
        let log = self.log_tail.join(" | ");
        if self.disk_full {
            return MediaFailure::Failed(format!("{what} failed: disk full ({log})"));
        }
        MediaFailure::Failed(format!("{what} failed ({}): {log}", self.status))
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Calls `line` for each line of `reader` (bounded, lossily decoded); keeps reading to the end
/// so the process never blocks on a full pipe.
async fn lines<R: AsyncRead + Unpin>(mut reader: R, mut line: impl FnMut(&str)) {
    let mut buf = vec![0u8; 16 << 10];
    let mut current: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                line(String::from_utf8_lossy(&current).trim_end_matches('\r'));
                current.clear();
            } else if current.len() < MAX_LINE {
                current.push(b);
            }
        }
    }
    if !current.is_empty() {
        line(String::from_utf8_lossy(&current).trim_end_matches('\r'));
    }
}

/// Runs a process to its end, its cancellation or its timeout (both kill it at once), handing
/// stdout lines to `on_line` (unless captured) and watching its log.
pub(super) async fn run(
    spec: Run<'_>,
    mut cancel: Option<watch::Receiver<bool>>,
    on_line: &(dyn Fn(&str) + Send + Sync),
) -> Result<Finished, MediaFailure> {
    if cancel.as_ref().is_some_and(|c| *c.borrow()) {
        return Err(MediaFailure::Cancelled);
    }
    // The chain execs into the program: `setpriv --pdeathsig KILL` makes the kernel kill it when
    // this process dies (a SIGKILL leaves no orphan ffmpeg writing into a swept scratch
    // directory), `prlimit --as` caps its address space.
    let mut chain: Vec<std::ffi::OsString> = Vec::new();
    if let Some(setpriv) = find_on_path("setpriv") {
        chain.extend([
            setpriv.into(),
            "--pdeathsig".into(),
            "KILL".into(),
            "--".into(),
        ]);
    }
    if let Some((bytes, prlimit)) = spec
        .memory_limit
        .and_then(|m| Some((m, find_on_path("prlimit")?)))
    {
        chain.extend([prlimit.into(), format!("--as={bytes}").into(), "--".into()]);
    }
    chain.push(spec.program.into());
    let mut command = tokio::process::Command::new(&chain[0]);
    command.args(&chain[1..]);
    command
        .args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        MediaFailure::Failed(format!(
            "starting {} ({}): {}",
            spec.what,
            spec.program.display(),
            describe_io(&e)
        ))
    })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let capture = spec.capture_stdout;
    let out_task = async move {
        let mut kept = Vec::new();
        if let Some(mut stdout) = stdout {
            if capture {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = stdout.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let room = MAX_CAPTURE.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            } else {
                lines(stdout, on_line).await;
            }
        }
        kept
    };
    let err_task = async move {
        let (mut tail, mut errors) = (Vec::<String>::new(), Vec::<String>::new());
        let (mut truncated, mut disk_full) = (false, false);
        if let Some(stderr) = stderr {
            lines(stderr, |l| {
                if l.trim().is_empty() {
                    return;
                }
                truncated |= ferrocast_vod::probe::log_shows_truncation(l);
                disk_full |= l.contains("No space left on device");
                let keep = |v: &mut Vec<String>| {
                    if v.len() == LOG_TAIL {
                        v.remove(0);
                    }
                    v.push(l.trim().to_owned());
                };
                if l.contains("[error]") || l.contains("[fatal]") {
                    keep(&mut errors);
                }
                keep(&mut tail);
            })
            .await;
        }
        (
            if errors.is_empty() { tail } else { errors },
            truncated,
            disk_full,
        )
    };
    let cancelled = async {
        match cancel.as_mut() {
            Some(c) => {
                while !*c.borrow_and_update() {
                    if c.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    let timeout = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending::<()>().await,
        }
    };
    let io = async { tokio::join!(out_task, err_task) };
    tokio::pin!(io);
    let ended = tokio::select! {
        r = &mut io => Ok(r),
        () = cancelled => Err(MediaFailure::Cancelled),
        () = timeout => Err(MediaFailure::Failed(format!(
            "{} did not finish within {} s and was stopped",
            spec.what,
            spec.timeout.unwrap_or_default().as_secs()
        ))),
    };
    let (stdout, (log_tail, truncated_input, disk_full)) = match ended {
        Ok(r) => r,
        Err(failure) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(failure);
        }
    };
    let status = child
        .wait()
        .await
        .map_err(|e| io_failed(&format!("waiting for {}", spec.what), &e))?;
    Ok(Finished {
        status,
        stdout,
        log_tail,
        truncated_input,
        disk_full,
    })
}

#[cfg(test)]
pub(super) mod testutil {
    //! Scratch directories and inputs generated with ffmpeg.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static NEXT: AtomicU32 = AtomicU32::new(0);

    /// A fresh directory, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("ferrocast-vod-media-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs ffmpeg with these arguments (lavfi inputs), asserting success.
    pub fn ffmpeg(args: &[&str]) {
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "ffmpeg {args:?}");
    }

    /// `seconds` of testsrc2 at `size` and 30 fps, with a sine tone when `audio`, as MP4.
    pub fn make_source(dir: &Path, name: &str, size: &str, seconds: u32, audio: bool) -> PathBuf {
        let out = dir.join(name);
        let video = format!("testsrc2=size={size}:rate=30:duration={seconds}");
        let tone = format!("sine=frequency=1000:sample_rate=48000:duration={seconds}");
        let mut args = vec!["-f", "lavfi", "-i", &video];
        if audio {
            args.extend(["-f", "lavfi", "-i", &tone, "-c:a", "aac"]);
        }
        let out_s = out.to_str().unwrap().to_owned();
        args.extend([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ]);
        args.push(&out_s);
        ffmpeg(&args);
        out
    }
}

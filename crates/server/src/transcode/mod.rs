//! The transcoding ladder: one ffmpeg process per live channel decodes the source once and
//! encodes every rung; each rung's FLV comes back over a Unix socket into a follower segmenter, so
//! every rendition is cut by our packager at the source's segment and part boundaries, with the
//! source's media sequence numbers.
//!
//! - [`setup`] picks the encoder once at start (a trial encode per candidate).
//! - [`supervise`] runs per broadcast, beside the packager task: it plans the ladder once the
//!   source's video configuration is known, runs ffmpeg, restarts it with back-off when it dies,
//!   sheds the highest rung when encoding is slower than real time, and ends the rungs' playlists
//!   with the broadcast. The source rendition never depends on it.

mod process;
mod progress;
mod rung;
mod supervisor;

pub use supervisor::supervise;

use anyhow::{bail, Context};
use ferrocast_ladder::{Encoder, Ladder, DEFAULT_VAAPI_DEVICE};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long a trial encode may take before the encoder is judged unusable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `--encoder`: which H.264 encoder the ladder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncoderChoice {
    /// The first that works of NVENC, QSV, VAAPI, x264.
    #[default]
    Auto,
    /// libx264 (software).
    X264,
    /// NVIDIA NVENC.
    Nvenc,
    /// VAAPI on the default render node.
    Vaapi,
    /// Intel Quick Sync Video.
    Qsv,
}

/// What every channel's transcoder shares.
#[derive(Debug)]
pub struct TranscodeConfig {
    /// The ladder (enabled).
    pub ladder: Ladder,
    /// The encoder picked at start.
    pub encoder: Encoder,
    /// Where the rungs' Unix sockets are created (`DATA_DIR/run`).
    pub run_dir: PathBuf,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
}

/// Runs a trial encode: exit status 0 within [`PROBE_TIMEOUT`] means the encoder works here.
fn probe(ffmpeg: &Path, encoder: &Encoder) -> bool {
    let child = Command::new(ffmpeg)
        .args(encoder.probe_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let deadline = Instant::now() + PROBE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Picks the encoder and prepares the run directory; `None` when the ladder is disabled.
pub async fn setup(
    ladder: Ladder,
    choice: EncoderChoice,
    data_dir: &Path,
) -> anyhow::Result<Option<Arc<TranscodeConfig>>> {
    if !ladder.enabled {
        return Ok(None);
    }
    ladder.validate().context("invalid ladder")?;
    let ffmpeg = PathBuf::from("ffmpeg");
    let probe_ffmpeg = ffmpeg.clone();
    let encoder = tokio::task::spawn_blocking(move || {
        let works = |e: &Encoder| {
            let ok = probe(&probe_ffmpeg, e);
            info!(encoder = e.ffmpeg_name(), works = ok, "encoder probed");
            ok
        };
        match choice {
            EncoderChoice::Auto => Encoder::pick(DEFAULT_VAAPI_DEVICE, works),
            EncoderChoice::X264 => Some(Encoder::X264).filter(works),
            EncoderChoice::Nvenc => Some(Encoder::Nvenc).filter(works),
            EncoderChoice::Qsv => Some(Encoder::Qsv).filter(works),
            EncoderChoice::Vaapi => Some(Encoder::Vaapi {
                device: DEFAULT_VAAPI_DEVICE.to_owned(),
            })
            .filter(works),
        }
    })
    .await
    .context("encoder probe task")?;
    let Some(encoder) = encoder else {
        bail!(
            "the ladder is enabled but no H.264 encoder works ({choice:?}); is ffmpeg installed?"
        );
    };
    ladder
        .validate_for(&encoder)
        .context("ladder presets for the chosen encoder")?;
    info!(
        encoder = encoder.ffmpeg_name(),
        rungs = ladder.rungs.len(),
        "transcoding ladder on"
    );
    metrics::gauge!(crate::metrics::TRANSCODER_ENCODER, "encoder" => encoder.ffmpeg_name())
        .set(1.0);
    let run_dir = data_dir.join("run");
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    // Sockets left by a previous process that died: nobody listens on them any more.
    if let Ok(entries) = std::fs::read_dir(&run_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sock") {
                if let Err(error) = std::fs::remove_file(&path) {
                    warn!(path = %path.display(), %error, "stale socket not removed");
                }
            }
        }
    }
    Ok(Some(Arc::new(TranscodeConfig {
        ladder,
        encoder,
        run_dir,
        ffmpeg,
    })))
}

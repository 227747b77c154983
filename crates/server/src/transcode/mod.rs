//! The transcoding ladder: one ffmpeg process per live channel decodes the source once and
//! encodes every rung; each rung's FLV comes back over a Unix socket into a follower segmenter, so
//! every rendition is cut by our packager at the source's segment and part boundaries, with the
//! source's media sequence numbers.
//!
//! - [`setup`] picks the encoder at start when the server's ladder is on (a trial encode per
//!   candidate), otherwise the first time a channel's own ladder needs one.
//! - [`supervise`] runs per broadcast, beside the packager task: it plans the ladder (the
//!   channel's own, else the server's: [`ChannelLadders`]) once the source's video configuration
//!   is known, runs ffmpeg, restarts it with back-off when it dies or when the channel's ladder
//!   changes, sheds the highest rung when encoding is slower than real time, and ends the rungs'
//!   playlists with the broadcast. The source rendition never depends on it.

mod channels;
mod process;
mod progress;
mod rung;
mod supervisor;

pub use channels::{own_ladder, ChannelLadders};
pub use supervisor::supervise;

use anyhow::{bail, Context};
use ferrocast_db::Store;
use ferrocast_ladder::{Encoder, Ladder, DEFAULT_VAAPI_DEVICE};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
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
    /// The server's ladder, for channels without their own (disabled: the source only).
    pub ladder: Ladder,
    /// `--encoder`.
    choice: EncoderChoice,
    /// The encoder once probed (`None` inside: none works here).
    encoder: OnceCell<Option<Encoder>>,
    /// Where the rungs' Unix sockets are created (`DATA_DIR/run`).
    pub run_dir: PathBuf,
    /// The ffmpeg program.
    pub ffmpeg: PathBuf,
    /// The channels' own ladders.
    pub channels: ChannelLadders,
}

impl TranscodeConfig {
    /// The encoder, probed the first time it is asked for; `None` when none works here.
    pub async fn encoder(&self) -> Option<&Encoder> {
        self.encoder
            .get_or_init(|| pick_encoder(self.ffmpeg.clone(), self.choice))
            .await
            .as_ref()
    }

    /// The encoder if it has been probed and works.
    pub fn picked_encoder(&self) -> Option<&Encoder> {
        self.encoder.get().and_then(Option::as_ref)
    }
}

/// Runs the trial encodes `choice` calls for, off the runtime's threads.
async fn pick_encoder(ffmpeg: PathBuf, choice: EncoderChoice) -> Option<Encoder> {
    let picked = tokio::task::spawn_blocking(move || {
        let works = |e: &Encoder| {
            let ok = probe(&ffmpeg, e);
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
    .await;
    let picked = match picked {
        Ok(picked) => picked,
        Err(error) => {
            warn!(%error, "encoder probe task failed");
            None
        }
    };
    match &picked {
        Some(encoder) => {
            metrics::gauge!(crate::metrics::TRANSCODER_ENCODER, "encoder" => encoder.ffmpeg_name())
                .set(1.0);
        }
        None => warn!(?choice, "no H.264 encoder works here; is ffmpeg installed?"),
    }
    picked
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

/// Prepares the run directory and, when the server's ladder is on, picks the encoder (failing
/// when none works). When it is off, channels are served source only unless they have their own
/// ladder, and the encoder is picked the first time one does.
pub async fn setup(
    ladder: Ladder,
    choice: EncoderChoice,
    data_dir: &Path,
    db: Store,
) -> anyhow::Result<Arc<TranscodeConfig>> {
    ladder.validate().context("invalid ladder")?;
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
    let config = Arc::new(TranscodeConfig {
        ladder,
        choice,
        encoder: OnceCell::new(),
        run_dir,
        ffmpeg: PathBuf::from("ffmpeg"),
        channels: ChannelLadders::new(db),
    });
    if !config.ladder.enabled {
        info!("transcoding ladder off by default; channels may set their own");
        return Ok(config);
    }
    let Some(encoder) = config.encoder().await else {
        bail!(
            "the ladder is enabled but no H.264 encoder works ({choice:?}); is ffmpeg installed?"
        );
    };
    config
        .ladder
        .validate_for(encoder)
        .context("ladder presets for the chosen encoder")?;
    info!(
        encoder = encoder.ffmpeg_name(),
        rungs = config.ladder.rungs.len(),
        "transcoding ladder on"
    );
    Ok(config)
}

//! The MP4 download, the poster and the thumbnail sprite with its WebVTT index.

use super::transcode::{audio_path, rung_path};
use super::{describe_io, run, MediaFailure, MediaTools, Run};
use ferrocast_vod::VodRung;
use std::io::Read;
use std::path::Path;
use tokio::sync::watch;

/// Longest a poster or sprite run may take (keyframes only are decoded).
const THUMBNAIL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

async fn ffmpeg(
    tools: &MediaTools,
    what: &'static str,
    args: Vec<String>,
    timeout: Option<std::time::Duration>,
    cancel: watch::Receiver<bool>,
    output: &Path,
) -> Result<(), MediaFailure> {
    let done = run(
        Run {
            what,
            program: &tools.ffmpeg,
            args,
            timeout,
            memory_limit: None,
            capture_stdout: false,
        },
        Some(cancel),
        &|_| {},
    )
    .await?;
    if !done.status.success() {
        return Err(done.failure(what));
    }
    match std::fs::metadata(output) {
        Ok(m) if m.len() > 0 => Ok(()),
        _ => Err(MediaFailure::Failed(format!(
            "{what} wrote nothing to {}",
            output.display()
        ))),
    }
}

/// `out_dir/download.mp4`: the `top` rung's video and the audio copied into one MP4 with its
/// index at the front.
pub async fn make_mp4(
    tools: &MediaTools,
    rungs_dir: &Path,
    top: &VodRung,
    has_audio: bool,
    out_dir: &Path,
    cancel: watch::Receiver<bool>,
) -> Result<(), MediaFailure> {
    let out = out_dir.join("download.mp4");
    let audio = has_audio.then(|| audio_path(rungs_dir));
    let args = ferrocast_vod::mp4_args(&rung_path(rungs_dir, &top.name), audio.as_deref(), &out)
        .map_err(|e| MediaFailure::Failed(e.to_string()))?;
    ffmpeg(tools, "the MP4 remux", args, None, cancel, &out).await
}

/// The picture size in an FLV's AVC sequence header (read from its first MiB).
fn flv_picture_size(path: &Path) -> Option<(u32, u32)> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut head)
        .ok()?;
    let mut reader = ferrocast_flv::FlvStreamReader::new();
    reader.extend(&head);
    let mut demuxer = ferrocast_flv::TagDemuxer::new();
    while let Ok(Some(tag)) = reader.next_tag() {
        if let Ok(Some(ferrocast_media::MediaEvent::VideoConfig(c))) = demuxer.tag(&tag) {
            return Some((c.width, c.height));
        }
    }
    None
}

/// `out_dir/poster.jpg`, `out_dir/sprite.jpg` and `out_dir/thumbnails.vtt` from a rung FLV
/// (keyframes only are decoded: every 2 s).
pub async fn make_thumbnails(
    tools: &MediaTools,
    input_flv: &Path,
    duration_s: f64,
    out_dir: &Path,
    cancel: watch::Receiver<bool>,
) -> Result<(), MediaFailure> {
    let poster = out_dir.join("poster.jpg");
    let args = ferrocast_vod::poster_args(input_flv, duration_s, &poster)
        .map_err(|e| MediaFailure::Failed(e.to_string()))?;
    ffmpeg(
        tools,
        "the poster",
        args,
        Some(THUMBNAIL_TIMEOUT),
        cancel.clone(),
        &poster,
    )
    .await?;

    let (width, height) = flv_picture_size(input_flv).ok_or_else(|| {
        MediaFailure::Failed(format!("no video configuration in {}", input_flv.display()))
    })?;
    let plan = ferrocast_vod::sprite_plan(duration_s, width, height);
    let sprite = out_dir.join("sprite.jpg");
    let args = ferrocast_vod::sprite_args(input_flv, &plan, &sprite)
        .map_err(|e| MediaFailure::Failed(e.to_string()))?;
    ffmpeg(
        tools,
        "the sprite",
        args,
        Some(THUMBNAIL_TIMEOUT),
        cancel,
        &sprite,
    )
    .await?;
    let vtt = ferrocast_vod::thumbnails_vtt(
        duration_s,
        plan.interval_s,
        plan.tile_width,
        plan.tile_height,
        plan.columns,
        "sprite.jpg",
    );
    let path = out_dir.join("thumbnails.vtt");
    std::fs::write(&path, vtt).map_err(|e| {
        MediaFailure::Failed(format!("writing {}: {}", path.display(), describe_io(&e)))
    })
}

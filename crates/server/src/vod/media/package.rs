//! Packaging: the rung and audio FLVs into the published layout.

use super::transcode::{audio_path, rung_path};
use super::{describe_io, MediaFailure};
use ferrocast_media::TrackKind;
use ferrocast_vod::{
    FlvTrackPackager, PackageSummary, TrackSummary, VodOutput, VodRung, SEGMENT_TARGET_S,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes read from an FLV at a time.
const READ_CHUNK: usize = 1 << 20;

/// Packages `rungs_dir/{rung}.flv` for each of `rungs` (top first) and, with `has_audio`,
/// `rungs_dir/audio.flv` into `out_dir`: `v/{rung}/init.mp4` + `{n}.m4s` + `index.m3u8`,
/// `a/...`, `master.m3u8`, `manifest.mpd` and `meta.json`, whose content is returned. Runs on a
/// blocking thread, streaming each FLV (memory: one segment at a time).
pub async fn package(
    rungs_dir: &Path,
    rungs: &[VodRung],
    has_audio: bool,
    out_dir: &Path,
) -> Result<PackageSummary, MediaFailure> {
    let (rungs_dir, out_dir, rungs) = (rungs_dir.to_owned(), out_dir.to_owned(), rungs.to_vec());
    tokio::task::spawn_blocking(move || package_blocking(&rungs_dir, &rungs, has_audio, &out_dir))
        .await
        .map_err(|e| MediaFailure::Failed(format!("the packaging task failed: {e}")))?
}

fn io(what: impl std::fmt::Display, path: &Path) -> impl FnOnce(std::io::Error) -> MediaFailure {
    let context = format!("{what} {}", path.display());
    move |e| MediaFailure::Failed(format!("{context}: {}", describe_io(&e)))
}

fn package_blocking(
    rungs_dir: &Path,
    rungs: &[VodRung],
    has_audio: bool,
    out_dir: &Path,
) -> Result<PackageSummary, MediaFailure> {
    if rungs.is_empty() {
        return Err(MediaFailure::Failed("no rendition to package".into()));
    }
    let mut video = Vec::with_capacity(rungs.len());
    for rung in rungs {
        let dir = out_dir.join("v").join(&rung.name);
        let track = package_track(&rung_path(rungs_dir, &rung.name), TrackKind::Video, &dir)?;
        video.push((rung.clone(), track));
    }
    let audio = if has_audio {
        Some(package_track(
            &audio_path(rungs_dir),
            TrackKind::Audio,
            &out_dir.join("a"),
        )?)
    } else {
        None
    };
    let rendered = ferrocast_vod::render_package(&video, audio.as_ref())
        .map_err(|e| MediaFailure::Failed(format!("packaging: {e}")))?;
    for (name, content) in &rendered.files {
        let path = out_dir.join(name);
        std::fs::write(&path, content).map_err(io("writing", &path))?;
    }
    Ok(rendered.summary)
}

/// One FLV into `dir/init.mp4`, `dir/{n}.m4s`; the playlist is written by the caller.
fn package_track(flv: &Path, kind: TrackKind, dir: &Path) -> Result<TrackSummary, MediaFailure> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut file = std::fs::File::open(flv).map_err(io("opening", flv))?;
    let mut packager = FlvTrackPackager::new(kind, Duration::from_secs(SEGMENT_TARGET_S));
    let failed = |e: ferrocast_vod::VodError| {
        MediaFailure::Failed(format!("packaging {}: {e}", flv.display()))
    };
    let write = |out: VodOutput| -> Result<(), MediaFailure> {
        let (path, bytes): (PathBuf, _) = match out {
            VodOutput::Init(b) => (dir.join("init.mp4"), b),
            VodOutput::Segment(s) => (dir.join(format!("{}.m4s", s.number)), s.bytes),
        };
        std::fs::write(&path, &bytes).map_err(io("writing", &path))
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(io("reading", flv))?;
        if n == 0 {
            break;
        }
        packager.push_bytes(&buf[..n]).map_err(failed)?;
        while let Some(out) = packager.poll_output() {
            write(out)?;
        }
    }
    packager.finish().map_err(failed)?;
    while let Some(out) = packager.poll_output() {
        write(out)?;
    }
    packager
        .summary()
        .ok_or_else(|| MediaFailure::Failed(format!("{} holds no track", flv.display())))
}

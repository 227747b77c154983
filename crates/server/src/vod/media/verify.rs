//! Quality control of a packaged video before it is published.

use super::{run, MediaFailure, MediaTools, Run};
use ferrocast_vod::PackageSummary;
use std::path::Path;
use std::time::Duration;

/// Largest difference accepted between a rendition's duration and the source's, seconds.
pub const DURATION_TOLERANCE_S: f64 = 0.1;
/// Longest one ffprobe of a playlist may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Checks every playlist of a packaged video in `out_dir`: present, read by ffprobe with a
/// duration within [`DURATION_TOLERANCE_S`] of `expected_duration_s` (each rendition, the audio,
/// and the master playlist), and decodable (every keyframe of every rendition decoded, stopping
/// at the first error). A failure is [`MediaFailure::Failed`]: the step is retried.
pub async fn verify(
    tools: &MediaTools,
    out_dir: &Path,
    summary: &PackageSummary,
    expected_duration_s: f64,
) -> Result<(), MediaFailure> {
    let mut playlists: Vec<String> = summary
        .renditions
        .iter()
        .map(|r| r.playlist.clone())
        .collect();
    if summary.has_audio {
        playlists.push("a/index.m3u8".into());
    }
    for name in ["master.m3u8", "manifest.mpd", "meta.json"] {
        if !out_dir.join(name).is_file() {
            return Err(MediaFailure::Failed(format!("QC: {name} is missing")));
        }
    }
    for playlist in &playlists {
        let path = out_dir.join(playlist);
        let duration = probe_duration(tools, &path).await?;
        if (duration - expected_duration_s).abs() > DURATION_TOLERANCE_S {
            return Err(MediaFailure::Failed(format!(
                "QC: {playlist} lasts {duration:.3} s, the source {expected_duration_s:.3} s"
            )));
        }
        decode_keyframes(tools, &path, expected_duration_s).await?;
    }
    // The master playlist opens (every variant and the audio group resolve).
    probe_duration(tools, &out_dir.join("master.m3u8")).await?;
    Ok(())
}

async fn probe_duration(tools: &MediaTools, playlist: &Path) -> Result<f64, MediaFailure> {
    let name = playlist.display().to_string();
    let args = ferrocast_vod::verify_probe_args(playlist)
        .map_err(|e| MediaFailure::Failed(e.to_string()))?;
    let done = run(
        Run {
            what: "the QC probe",
            program: &tools.ffprobe,
            args,
            timeout: Some(PROBE_TIMEOUT),
            memory_limit: None,
            capture_stdout: true,
        },
        None,
        &|_| {},
    )
    .await?;
    if !done.status.success() {
        return Err(MediaFailure::Failed(format!(
            "QC: ffprobe cannot read {name}: {}",
            done.log_tail.join(" | ")
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(&done.stdout)
        .map_err(|e| MediaFailure::Failed(format!("QC: ffprobe's output for {name}: {e}")))?;
    json.pointer("/format/duration")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite())
        .ok_or_else(|| MediaFailure::Failed(format!("QC: {name} has no duration")))
}

async fn decode_keyframes(
    tools: &MediaTools,
    playlist: &Path,
    duration_s: f64,
) -> Result<(), MediaFailure> {
    let args = ferrocast_vod::verify_decode_args(playlist)
        .map_err(|e| MediaFailure::Failed(e.to_string()))?;
    // Keyframe decoding runs far faster than real time; the bound only catches a hang.
    let timeout = Duration::from_secs_f64(60.0 + duration_s.clamp(0.0, 86_400.0) / 2.0);
    let done = run(
        Run {
            what: "the QC decode",
            program: &tools.ffmpeg,
            args,
            timeout: Some(timeout),
            memory_limit: None,
            capture_stdout: false,
        },
        None,
        &|_| {},
    )
    .await?;
    if !done.status.success() || !done.log_tail.is_empty() {
        return Err(MediaFailure::Failed(format!(
            "QC: {} does not decode cleanly: {}",
            playlist.display(),
            done.log_tail.join(" | ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{make_source, TempDir};
    use super::super::*;
    use ferrocast_ladder::Ladder;
    use ferrocast_vod::Limits;
    use tokio::sync::watch;

    /// Upload to published layout: probe, transcode, package, QC, MP4, thumbnails; then the
    /// result is played with ffmpeg: every rendition decodes, durations match.
    #[tokio::test]
    async fn the_whole_pipeline_on_a_real_file() {
        let dir = TempDir::new();
        let tools = MediaTools::from_path();
        let src = make_source(dir.path(), "src.mp4", "1280x720", 4, true);
        let probed = probe(&tools, &src, &Limits::default()).await.unwrap();
        let mut rungs = ferrocast_vod::vod_rungs(&Ladder::default(), &probed);
        assert_eq!(rungs.len(), 3);
        rungs.remove(1); // 720p and 360p keep the test quick.
        let rungs_dir = dir.path().join("rungs");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&rungs_dir).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        let (_tx, rx) = watch::channel(false);
        transcode(
            &tools,
            &src,
            &rungs,
            true,
            "ultrafast",
            &rungs_dir,
            probed.duration_s,
            |_| {},
            rx.clone(),
        )
        .await
        .unwrap();
        let summary = package(&rungs_dir, &rungs, true, &out).await.unwrap();
        assert_eq!(summary.renditions.len(), 2);
        assert!(summary.has_audio);
        assert_eq!(summary.segment_count, 1);
        assert!((summary.duration_s - 4.0).abs() < 0.05);
        for f in [
            "master.m3u8",
            "manifest.mpd",
            "meta.json",
            "v/720p/index.m3u8",
            "v/720p/init.mp4",
            "v/720p/0.m4s",
            "v/360p/0.m4s",
            "a/index.m3u8",
            "a/init.mp4",
            "a/0.m4s",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }
        verify(&tools, &out, &summary, probed.duration_s)
            .await
            .unwrap();
        // QC catches a duration that does not match, and a missing segment.
        assert!(matches!(
            verify(&tools, &out, &summary, probed.duration_s + 1.0).await,
            Err(MediaFailure::Failed(m)) if m.contains("lasts")
        ));

        // Played through the master playlist, every frame of every stream decodes.
        for stream in ["0:v:0", "0:v:1", "0:a:0"] {
            let status = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-xerror", "-i"])
                .arg(out.join("master.m3u8"))
                .args(["-map", stream, "-f", "null", "-"])
                .status()
                .unwrap();
            assert!(status.success(), "{stream}");
        }

        make_mp4(&tools, &rungs_dir, &rungs[0], true, &out, rx.clone())
            .await
            .unwrap();
        let mp4 = probe(&tools, &out.join("download.mp4"), &Limits::default())
            .await
            .unwrap();
        assert!((mp4.duration_s - 4.0).abs() < 0.1, "{mp4:?}");
        assert_eq!(mp4.video.unwrap().display_size(), (1280, 720));
        assert!(mp4.audio.is_some());
        let head = std::fs::read(out.join("download.mp4")).unwrap();
        let moov = head.windows(4).position(|w| w == b"moov").unwrap();
        let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
        assert!(moov < mdat, "faststart: the index comes first");

        make_thumbnails(&tools, &rungs_dir.join("720p.flv"), 4.0, &out, rx)
            .await
            .unwrap();
        assert!(std::fs::read(out.join("poster.jpg"))
            .unwrap()
            .starts_with(&[0xff, 0xd8]));
        assert!(std::fs::read(out.join("sprite.jpg"))
            .unwrap()
            .starts_with(&[0xff, 0xd8]));
        let vtt = std::fs::read_to_string(out.join("thumbnails.vtt")).unwrap();
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(vtt.contains("00:00:02.000 --> 00:00:04.000\nsprite.jpg#xywh=160,0,160,90"));

        std::fs::remove_file(out.join("v/360p/0.m4s")).unwrap();
        assert!(verify(&tools, &out, &summary, probed.duration_s)
            .await
            .is_err());
    }
}

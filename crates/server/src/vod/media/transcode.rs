//! The transcode: one ffmpeg process, one decode, one FLV per rung and one for the audio.

use super::{run, MediaFailure, MediaTools, Run};
use ferrocast_vod::VodRung;
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// The rung FLV of `rung` in a rungs directory.
pub fn rung_path(dir: &Path, rung: &str) -> PathBuf {
    dir.join(format!("{rung}.flv"))
}

/// The audio FLV in a rungs directory.
pub fn audio_path(dir: &Path) -> PathBuf {
    dir.join("audio.flv")
}

/// Transcodes `input` into `out_dir/{rung}.flv` for each of `rungs` and, with `audio`,
/// `out_dir/audio.flv` (see `ferrocast_vod::transcode_args`), reporting progress from 0 to 1
/// (`out_time_us` against `duration_s`). When `cancel` turns true ffmpeg is killed at once and
/// the result is [`MediaFailure::Cancelled`]. An input that turns out truncated while being read
/// is refused.
#[allow(clippy::too_many_arguments)]
pub async fn transcode(
    tools: &MediaTools,
    input: &Path,
    rungs: &[VodRung],
    audio: bool,
    preset: &str,
    out_dir: &Path,
    duration_s: f64,
    progress: impl Fn(f32) + Send + Sync,
    cancel: watch::Receiver<bool>,
) -> Result<(), MediaFailure> {
    let outputs: Vec<PathBuf> = rungs.iter().map(|r| rung_path(out_dir, &r.name)).collect();
    let audio_out = audio.then(|| audio_path(out_dir));
    let args = ferrocast_vod::transcode_args(input, rungs, audio_out.as_deref(), &outputs, preset)
        .map_err(|e| MediaFailure::Failed(format!("building the ffmpeg command line: {e}")))?;
    let duration = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s
    } else {
        1.0
    };
    let on_line = |line: &str| {
        if let Some(t) = ferrocast_vod::progress_seconds(line) {
            progress((t / duration).clamp(0.0, 1.0) as f32);
        }
    };
    let done = run(
        Run {
            what: "the transcode",
            program: &tools.ffmpeg,
            args,
            timeout: None,
            memory_limit: None,
            capture_stdout: false,
        },
        Some(cancel),
        &on_line,
    )
    .await?;
    if !done.status.success() || done.truncated_input {
        return Err(done.failure("the transcode"));
    }
    for path in outputs.iter().chain(&audio_out) {
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 13 => {}
            _ => {
                return Err(MediaFailure::Failed(format!(
                    "the transcode left no output in {}",
                    path.display()
                )))
            }
        }
    }
    progress(1.0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{make_source, TempDir};
    use super::*;
    use ferrocast_ladder::Ladder;
    use ferrocast_vod::Limits;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    fn rung_360p() -> VodRung {
        VodRung {
            name: "360p".into(),
            width: 640,
            height: 360,
            video_kbps: 800,
            fps: 30.0,
            reduced_from: None,
        }
    }

    /// Keyframe times (ms) of an FLV's video.
    pub(crate) fn keyframes(path: &Path) -> Vec<u32> {
        let bytes = std::fs::read(path).unwrap();
        let reader = ferrocast_flv::FlvReader::new(bytes::Bytes::from(bytes)).unwrap();
        let mut out = Vec::new();
        for tag in reader {
            let tag = tag.unwrap();
            // VIDEODATA FrameType 1 (key) with an AVC NALU packet (AVCPacketType 1).
            if tag.kind == ferrocast_flv::TagType::VIDEO
                && tag.body.first().map(|b| b >> 4) == Some(1)
                && tag.body.get(1) == Some(&1)
            {
                out.push(tag.timestamp);
            }
        }
        out
    }

    #[tokio::test]
    async fn rungs_come_out_with_aligned_keyframes_and_progress() {
        let dir = TempDir::new();
        let tools = MediaTools::from_path();
        let src = make_source(dir.path(), "src.mp4", "1280x720", 5, true);
        let probed = super::super::probe(&tools, &src, &Limits::default())
            .await
            .unwrap();
        let mut rungs = ferrocast_vod::vod_rungs(&Ladder::default(), &probed);
        rungs.truncate(2);
        let out = dir.path().join("rungs");
        std::fs::create_dir_all(&out).unwrap();
        let seen = Mutex::new(Vec::new());
        let (_tx, rx) = watch::channel(false);
        transcode(
            &tools,
            &src,
            &rungs,
            true,
            "ultrafast",
            &out,
            probed.duration_s,
            |p| seen.lock().unwrap().push(p),
            rx,
        )
        .await
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.last(), Some(&1.0));
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
        let top = keyframes(&rung_path(&out, "720p"));
        assert_eq!(top, [0, 2000, 4000]);
        assert_eq!(keyframes(&rung_path(&out, "480p")), top);
        assert!(audio_path(&out).exists());
    }

    #[tokio::test]
    async fn cancelling_kills_ffmpeg_at_once() {
        let dir = TempDir::new();
        let tools = MediaTools::from_path();
        let src = make_source(dir.path(), "long.mp4", "640x360", 60, false);
        let rung = rung_360p();
        let (tx, rx) = watch::channel(false);
        let started = Mutex::new(None::<Instant>);
        let task = transcode(
            &tools,
            &src,
            std::slice::from_ref(&rung),
            false,
            "veryslow",
            dir.path(),
            60.0,
            |_| {
                let _ = started.lock().unwrap().get_or_insert_with(Instant::now);
            },
            rx,
        );
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            tx.send(true).unwrap();
            Instant::now()
        };
        let (result, cancelled_at) = tokio::join!(task, cancel);
        assert_eq!(result, Err(MediaFailure::Cancelled));
        assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_truncated_upload_is_refused_while_transcoding() {
        // An MP4 with its index at the front, cut in half: ffprobe reads the index and the
        // duration fine; the media ends early.
        let dir = TempDir::new();
        let src = dir.path().join("fs.mp4");
        super::super::testutil::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-movflags",
            "+faststart",
            src.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&src).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let rung = rung_360p();
        let (_tx, rx) = watch::channel(false);
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let r = transcode(
            &MediaTools::from_path(),
            &cut,
            &[rung],
            false,
            "ultrafast",
            &out,
            4.0,
            |_| {},
            rx,
        )
        .await;
        match r {
            Err(MediaFailure::Refused(r)) => assert_eq!(r.code, "truncated"),
            other => panic!("{other:?}"),
        }
    }
}

//! Probing an upload: sniff its head, run ffprobe under limits, validate.

use super::{io_failed, run, MediaFailure, MediaTools, Run};
use ferrocast_vod::{Limits, ProbedSource, Refusal};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Wall-clock limit of one ffprobe run.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Address-space limit of one ffprobe run (through `prlimit --as`).
pub const PROBE_MEMORY: u64 = 1 << 30;

/// Probes the upload at `path`: its first bytes are sniffed (text, playlists and lists of files
/// are refused without running anything), then ffprobe runs with the protocol and demuxer
/// allow-lists under [`PROBE_MEMORY`] and [`PROBE_TIMEOUT`], and what it finds is validated
/// against `limits`. The file's size is checked before ffprobe runs.
pub async fn probe(
    tools: &MediaTools,
    path: &Path,
    limits: &Limits,
) -> Result<ProbedSource, MediaFailure> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_failed("opening the upload", &e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| io_failed("reading the upload's size", &e))?
        .len();
    if size > limits.max_bytes {
        // Validated like any other probe result, for the same message.
        let too_big = ProbedSource {
            format_name: "mov".into(),
            duration_s: 0.0,
            size_bytes: size,
            video: None,
            audio: None,
            declared_stream_bytes: None,
        };
        if let Err(refusal) = ferrocast_vod::validate(&too_big, limits) {
            return Err(MediaFailure::Refused(refusal));
        }
    }
    let mut head = vec![0u8; ferrocast_vod::probe::SNIFF_LEN];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(io_failed("reading the upload", &e)),
        }
    }
    head.truncate(filled);
    drop(file);
    if let Some(refusal) = ferrocast_vod::sniff(&head) {
        return Err(MediaFailure::Refused(refusal));
    }
    let args = ferrocast_vod::probe_args(path).map_err(|e| MediaFailure::Failed(e.to_string()))?;
    let done = run(
        Run {
            what: "ffprobe",
            program: &tools.ffprobe,
            args,
            timeout: Some(PROBE_TIMEOUT),
            memory_limit: Some(PROBE_MEMORY),
            capture_stdout: true,
        },
        None,
        &|_| {},
    )
    .await?;
    if !done.status.success() {
        let log = done.log_tail.join("\n");
        if done.status.code().is_none() {
            // Killed by a signal: out of memory under the cap, or a crash.
            return Err(MediaFailure::Refused(Refusal::new(
                "unreadable",
                "The file is not a video we can read: reading it took more memory than allowed.",
            )));
        }
        return Err(MediaFailure::Refused(
            ferrocast_vod::refusal_from_ffprobe_error(&log),
        ));
    }
    let probed = ferrocast_vod::parse_ffprobe_json(&done.stdout).map_err(|e| {
        MediaFailure::Refused(Refusal::new(
            "unreadable",
            format!("The file is not a video we can read ({e})."),
        ))
    })?;
    ferrocast_vod::validate(&probed, limits).map_err(MediaFailure::Refused)?;
    Ok(probed)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{make_source, TempDir};
    use super::*;

    fn refused(r: Result<ProbedSource, MediaFailure>) -> Refusal {
        match r {
            Err(MediaFailure::Refused(r)) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn uploads_are_probed_and_refused_with_reasons() {
        let dir = TempDir::new();
        let tools = MediaTools::from_path();
        let limits = Limits::default();

        let good = make_source(dir.path(), "good.mp4", "1280x720", 4, true);
        let p = probe(&tools, &good, &limits).await.unwrap();
        assert_eq!(p.video.as_ref().unwrap().display_size(), (1280, 720));
        assert!((p.duration_s - 4.0).abs() < 0.1);
        assert_eq!(p.audio.as_ref().unwrap().sample_rate, 48_000);

        let video_only = make_source(dir.path(), "vonly.mp4", "640x360", 2, false);
        let p = probe(&tools, &video_only, &limits).await.unwrap();
        assert!(p.audio.is_none());

        let text = dir.path().join("text.mp4");
        std::fs::write(&text, "hello, this is not a video\n").unwrap();
        assert_eq!(
            refused(probe(&tools, &text, &limits).await).code,
            "not_media"
        );

        // A truncated MP4: the first half of one whose index is at the end.
        let bytes = std::fs::read(&good).unwrap();
        let truncated = dir.path().join("truncated.mp4");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let r = refused(probe(&tools, &truncated, &limits).await);
        assert_eq!(r.code, "truncated", "{r:?}");

        let r = refused(
            probe(
                &tools,
                &good,
                &Limits {
                    max_duration_s: 2.0,
                    ..Limits::default()
                },
            )
            .await,
        );
        assert_eq!(r.message, "The video is 4.0 s long; the limit is 2 s.");
        let r = refused(
            probe(
                &tools,
                &good,
                &Limits {
                    max_bytes: 1000,
                    ..Limits::default()
                },
            )
            .await,
        );
        assert_eq!(r.code, "too_large");
        let missing = probe(&tools, &dir.path().join("nope"), &limits).await;
        assert!(matches!(missing, Err(MediaFailure::Failed(_))));
    }

    /// An HLS playlist renamed `.mp4` whose segments are a local file and an HTTP URL: refused
    /// by sniffing, and even when ffprobe is run on it directly the demuxer allow-list stops it
    /// before any segment is opened.
    #[tokio::test]
    async fn a_playlist_is_refused_without_reading_what_it_lists() {
        let dir = TempDir::new();
        let secret = dir.path().join("secret.ts");
        let good = make_source(dir.path(), "seg.mp4", "320x240", 1, false);
        std::fs::copy(&good, &secret).unwrap();
        let playlist = dir.path().join("playlist.mp4");
        std::fs::write(
            &playlist,
            format!(
                "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nfile:{}\n#EXTINF:4.0,\n\
                 http://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
                secret.display()
            ),
        )
        .unwrap();
        let tools = MediaTools::from_path();
        let r = refused(probe(&tools, &playlist, &Limits::default()).await);
        assert_eq!(r.code, "disallowed_container");
        assert!(r.message.contains("HLS playlist"), "{r:?}");

        // Past the sniffing, ffprobe itself refuses the playlist demuxer: the allow-list is
        // checked when the input's format is chosen, before the demuxer opens anything it lists.
        let args = ferrocast_vod::probe_args(&playlist).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("Format not on whitelist"), "{log}");
        let r = ferrocast_vod::refusal_from_ffprobe_error(&log);
        assert_eq!(r.code, "disallowed_container");
        assert!(r.message.contains("HLS playlist"));
        // The control: without the demuxer allow-list, ffprobe follows the playlist and reads
        // the local file it lists.
        let open = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_streams",
                "-protocol_whitelist",
                "file,http,tcp",
            ])
            .arg(format!("file:{}", playlist.display()))
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&open.stdout).contains("codec_name=h264"));
    }
}

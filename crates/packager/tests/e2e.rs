//! End to end: FLV -> demuxer -> segmenter -> window -> files on disk -> real ffprobe/ffmpeg.
//!
//! Skipped (passing) when ffprobe is not installed.

use bytes::Bytes;
use ferrocast_flv::{FlvReader, TagDemuxer};
use ferrocast_packager::{
    LiveSegmenter, LiveWindow, LowLatencyConfig, MediaPart, SegmenterConfig, SegmenterOutput,
    WindowConfig,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WALL0: i64 = 1_714_564_800_000;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh scratch directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ferrocast-packager-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating scratch dir");
    dir
}

struct Packaged {
    window: LiveWindow,
    /// (msn, EXTINF seconds, independent) per segment.
    segments: Vec<(u64, f64, bool)>,
    /// init id referenced by each segment.
    init_of: Vec<u32>,
    /// Every part emitted, with the init id it needs.
    parts: Vec<(MediaPart, u32)>,
}

/// Runs an FLV file through the pipeline, arriving in real time (wall = WALL0 + timestamp).
fn package(flv: Bytes, target_secs: u64) -> Packaged {
    package_with(flv, target_secs, None)
}

/// The same, with Low-Latency parts of `part_ms` when given (pushed as a server would, with
/// every rendered playlist validated).
fn package_with(flv: Bytes, target_secs: u64, part_ms: Option<u64>) -> Packaged {
    let target = Duration::from_secs(target_secs);
    let mut config = SegmenterConfig::new(target);
    config.part_target = part_ms.map(Duration::from_millis);
    let mut segmenter = LiveSegmenter::new(config);
    let mut window_config = WindowConfig::new(target, 1000, "");
    window_config.low_latency = segmenter.declared_part_target().map(LowLatencyConfig::new);
    let mut window = LiveWindow::new(window_config);
    let mut demuxer = TagDemuxer::new();
    let mut segments = Vec::new();
    let mut init_of = Vec::new();
    let mut parts = Vec::new();
    let mut init_id = None;
    let mut drain = |segmenter: &mut LiveSegmenter, window: &mut LiveWindow| {
        while let Some(output) = segmenter.poll_output() {
            match output {
                SegmenterOutput::Init(init) => init_id = Some(window.push_init(init)),
                SegmenterOutput::Part(part) => {
                    parts.push((part.clone(), init_id.expect("an init precedes every part")));
                    window.push_part(part);
                }
                SegmenterOutput::Segment(segment) => {
                    let (duration, independent) = (segment.duration, segment.independent);
                    let msn = if part_ms.is_some() {
                        let msn = segment.msn;
                        window
                            .push_segment_at(msn, segment)
                            .expect("numbers in order")
                    } else {
                        window.push_segment(segment)
                    };
                    segments.push((msn, duration, independent));
                    init_of.push(init_id.expect("an init precedes every segment"));
                }
            }
            if part_ms.is_some() {
                let text = String::from_utf8_lossy(&window.media_playlist()).into_owned();
                if let Err(violations) = ferrocast_hls::validate::validate_media_playlist(&text) {
                    panic!("{violations:?}\n{text}");
                }
            }
        }
    };
    for tag in FlvReader::new(flv).expect("valid FLV header") {
        let tag = tag.expect("valid FLV tag");
        let now = WALL0 + i64::from(tag.timestamp);
        if let Some(event) = demuxer.tag(&tag).expect("demuxable tag") {
            segmenter.handle_event(now, &event).expect("packaging");
            drain(&mut segmenter, &mut window);
        }
    }
    segmenter.finish();
    drain(&mut segmenter, &mut window);
    window.end();
    Packaged {
        window,
        segments,
        init_of,
        parts,
    }
}

/// Writes the playlist, inits and segments; returns the playlist path.
fn write_out(p: &Packaged, dir: &Path) -> PathBuf {
    for (&(msn, _, _), &init) in p.segments.iter().zip(&p.init_of) {
        let bytes = p.window.segment(msn).expect("listed segment").to_bytes();
        std::fs::write(dir.join(format!("{msn}.m4s")), &bytes).expect("write segment");
        let init_bytes = p.window.init(init).expect("referenced init");
        std::fs::write(dir.join(format!("init-{init}.mp4")), &init_bytes).expect("write init");
        // A standalone copy (init + segment) to probe each segment on its own.
        let mut joined = init_bytes.to_vec();
        joined.extend_from_slice(&bytes);
        std::fs::write(dir.join(format!("joined-{msn}.mp4")), joined).expect("write joined");
    }
    let playlist = dir.join("index.m3u8");
    std::fs::write(&playlist, p.window.media_playlist()).expect("write playlist");
    playlist
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .expect("running tool");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (first dts, end) in seconds of one stream in a file, from its packets.
fn packet_span(file: &Path, stream: &str) -> Option<(f64, f64)> {
    let path = file.to_string_lossy();
    let csv = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=dts_time,duration_time",
            "-of",
            "csv=p=0",
            &path,
        ],
    );
    let mut first = None;
    let mut end: Option<f64> = None;
    for line in csv.lines() {
        let mut fields = line.split(',');
        let dts: f64 = fields.next()?.parse().ok()?;
        // ffprobe reports N/A for some first packets; the span only needs the others.
        let duration: f64 = fields.next().and_then(|d| d.parse().ok()).unwrap_or(0.0);
        first.get_or_insert(dts);
        end = Some(end.map_or(dts + duration, |e: f64| e.max(dts + duration)));
    }
    Some((first?, end?))
}

fn check_with_ffprobe(
    p: &Packaged,
    name: &str,
    source: Option<&Path>,
    expect_video: bool,
    expect_audio: bool,
) {
    let dir = scratch(name);
    let playlist = write_out(p, &dir);
    let playlist_path = playlist.to_string_lossy().into_owned();

    // The playlist opens and the codecs are what we packaged.
    let codecs = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            &playlist_path,
        ],
    );
    assert_eq!(codecs.contains("h264"), expect_video, "{codecs}");
    assert_eq!(codecs.contains("aac"), expect_audio, "{codecs}");

    // Everything decodes without a single error.
    if have("ffmpeg") {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i", &playlist_path, "-f", "null", "-"])
            .output()
            .expect("running ffmpeg");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "decode errors: {stderr}"
        );
    }

    // Each segment's media matches its EXTINF, and tracks start together.
    let text = String::from_utf8_lossy(&p.window.media_playlist()).into_owned();
    for &(msn, extinf, _) in &p.segments {
        assert!(text.contains(&format!("#EXTINF:{extinf:.3},\n{msn}.m4s\n")));
        let joined = dir.join(format!("joined-{msn}.mp4"));
        let lead = if expect_video { "v:0" } else { "a:0" };
        let (start, end) = packet_span(&joined, lead)
            .unwrap_or_else(|| panic!("segment {msn} has no packets: {}", joined.display()));
        assert!(
            (end - start - extinf).abs() < 0.002,
            "segment {msn}: media {:.4} s, EXTINF {extinf}",
            end - start
        );
    }
    // Audio/video sync is the source's: the offset between the tracks' first presentation
    // times is unchanged (within rounding to audio samples).
    if let (Some(source), true, true) = (source, expect_video, expect_audio) {
        let offset = |file: &str| {
            let csv = run(
                "ffprobe",
                &[
                    "-v",
                    "error",
                    "-show_entries",
                    "stream=codec_type,start_time",
                    "-of",
                    "csv=p=0",
                    file,
                ],
            );
            let start = |kind: &str| {
                csv.lines()
                    .find(|l| l.starts_with(kind))
                    .and_then(|l| l.split(',').nth(1))
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("no {kind} start time in {csv}"))
            };
            start("audio") - start("video")
        };
        let source_offset = offset(&source.to_string_lossy());
        let output_offset = offset(&playlist_path);
        assert!(
            (source_offset - output_offset).abs() < 0.003,
            "A/V offset: source {source_offset}, output {output_offset}"
        );
    }
    if std::env::var_os("KEEP_E2E").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/flv")
        .join(name)
}

fn fixture(name: &str) -> Bytes {
    let path = fixture_path(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())))
}

#[test]
fn committed_av_fixture_plays() {
    if !have("ffprobe") {
        return;
    }
    let p = package(fixture("av_320x240.flv"), 2);
    assert_eq!(p.segments.len(), 1);
    assert!(p.segments[0].2);
    check_with_ffprobe(&p, "av", Some(&fixture_path("av_320x240.flv")), true, true);
}

#[test]
fn committed_audio_only_fixture_plays() {
    if !have("ffprobe") {
        return;
    }
    let p = package(fixture("audio_only.flv"), 2);
    assert!(!p.segments.is_empty());
    check_with_ffprobe(&p, "audio", None, false, true);
}

/// 9 s of 30 fps video with a 2 s GOP plus 44.1 kHz AAC, generated by ffmpeg as an FLV.
#[test]
fn generated_stream_cuts_on_every_gop_and_plays() {
    if !have("ffprobe") || !have("ffmpeg") {
        return;
    }
    let dir = scratch("gen");
    let (flv, bytes) = generate_flv(&dir, 9);
    let p = package(bytes, 2);
    assert_eq!(p.segments.len(), 5, "{:?}", p.segments);
    for &(_, duration, independent) in &p.segments[..4] {
        assert!(independent);
        assert!((duration - 2.0).abs() < 0.0015, "{duration}");
    }
    check_with_ffprobe(&p, "gen-out", Some(&flv), true, true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same generated stream with 500 ms parts: segments made of several `styp` + `moof` +
/// `mdat` fragments decode cleanly, and every part plays on its own after its init.
#[test]
fn generated_stream_with_parts_plays_and_parts_stand_alone() {
    if !have("ffprobe") || !have("ffmpeg") {
        return;
    }
    let dir = scratch("gen-ll");
    let (flv, bytes) = generate_flv(&dir, 7);
    let p = package_with(bytes, 2, Some(500));
    assert_eq!(p.segments.len(), 4, "{:?}", p.segments);
    assert!(p.parts.len() >= 13, "{} parts", p.parts.len());
    for (part, init) in &p.parts {
        assert!(part.duration <= 0.504 + 1e-9, "{}", part.duration);
        // A part is a byte range of its segment, served from it once the segment is complete.
        let served = p.window.part(part.msn, u64::from(part.index));
        assert_eq!(served.map(|b| b.to_bytes()), Some(part.bytes.to_bytes()));
        let mut joined = p.window.init(*init).expect("init").to_vec();
        joined.extend_from_slice(&part.bytes.to_bytes());
        let file = dir.join(format!("part-{}.{}.mp4", part.msn, part.index));
        std::fs::write(&file, joined).expect("write part");
        let (start, end) = packet_span(&file, "a:0").expect("part has audio packets");
        assert!(end > start);
    }
    check_with_ffprobe(&p, "gen-ll-out", Some(&flv), true, true);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Generates `seconds` of 320x240 30 fps H.264 (B-frames, a keyframe every 2 s) with 44.1 kHz
/// AAC as an FLV in `dir`; returns its path and bytes.
fn generate_flv(dir: &std::path::Path, seconds: u32) -> (std::path::PathBuf, Bytes) {
    let flv = dir.join("in.flv");
    let flv_path = flv.to_string_lossy().into_owned();
    let seconds = seconds.to_string();
    run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            &seconds,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "flv",
            &flv_path,
        ],
    );
    let bytes = Bytes::from(std::fs::read(&flv).expect("generated FLV"));
    (flv, bytes)
}

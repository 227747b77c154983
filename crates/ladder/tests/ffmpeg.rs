//! Runs the x264 command line for real: a generated FLV source piped into ffmpeg's stdin, the
//! rungs written to files, and ffprobe checking sizes, keyframe timestamps and the absence of
//! B-frames. Skipped, with a note, when ffmpeg or ffprobe is not on PATH.
#![allow(clippy::print_stderr)] // skip notes and ffmpeg's log are for whoever runs the tests

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferrocast_ladder::{ffmpeg_args, plan, Encoder, IoSpec, Ladder, SourceInfo};

fn tools_available() -> bool {
    ["ffmpeg", "ffprobe"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ferrocast-ladder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A 3-second 1280x720 H.264 + AAC FLV test pattern.
fn make_source(path: &Path, rate: u32, video_options: &[&str]) {
    run(Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc2=size=1280x720:rate={rate}"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(video_options)
        .args(["-c:a", "aac", "-t", "3", "-f", "flv"])
        .arg(path));
}

/// One video packet as ffprobe reports it.
#[derive(Debug, PartialEq)]
struct Packet {
    pts: i64,
    dts: i64,
    key: bool,
    size: u64,
}

/// Video packets of a file; FLV's time base is 1/1000, so timestamps are in ms.
fn video_packets(path: &Path) -> Vec<Packet> {
    let csv = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["packet=pts,dts,size,flags", "-of", "csv=p=0"])
        .arg(path));
    csv.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Packet {
                pts: f[0].parse().unwrap(),
                dts: f[1].parse().unwrap(),
                size: f[2].parse().unwrap(),
                key: f[3].starts_with('K'),
            }
        })
        .collect()
}

fn keyframe_pts(path: &Path) -> Vec<i64> {
    video_packets(path)
        .into_iter()
        .filter(|p| p.key)
        .map(|p| p.pts)
        .collect()
}

/// `codec_type,width,height,has_b_frames` for video and `codec_type,sample_rate,channels` for
/// audio, per stream.
fn streams(path: &Path) -> Vec<String> {
    run(Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["stream=codec_type,width,height,has_b_frames,sample_rate,channels"])
        .args(["-of", "csv=p=0"])
        .arg(path))
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Transcodes `source` with the x264 arguments and checks every rung against it.
fn transcode_and_check(dir: &Path, source: &Path, info: SourceInfo) {
    let ladder = Ladder {
        enabled: true,
        ..Ladder::default()
    };
    let plan = plan(&ladder, &info);
    let names: Vec<&str> = plan.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["480p", "360p"]);
    let outputs: Vec<PathBuf> = plan
        .iter()
        .map(|r| dir.join(format!("{}.flv", r.name)))
        .collect();
    let io = IoSpec::new(outputs.iter().map(|p| format!("file:{}", p.display())));
    let args = ffmpeg_args(&plan, &Encoder::X264, &io).unwrap();

    let out = Command::new("ffmpeg")
        .args(&args)
        .stdin(File::open(source).unwrap())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed:\n{log}");
    if !log.is_empty() {
        eprintln!("ffmpeg log:\n{log}");
    }
    let progress = String::from_utf8(out.stdout).unwrap();
    assert!(progress.lines().any(|l| l == "progress=end"), "{progress}");
    assert!(progress.lines().any(|l| l.starts_with("out_time_us=")));

    let source_keys = keyframe_pts(source);
    assert!(source_keys.len() >= 2, "source keyframes {source_keys:?}");
    let source_frames = video_packets(source).len();
    for (rung, path) in plan.iter().zip(&outputs) {
        let streams = streams(path);
        assert_eq!(
            streams,
            [
                format!("video,{},{},0", rung.width, rung.height),
                "audio,48000,2".to_owned()
            ],
            "{}",
            rung.name
        );
        assert_eq!(keyframe_pts(path), source_keys, "{} keyframes", rung.name);
        let packets = video_packets(path);
        assert!(
            packets.iter().all(|p| p.pts == p.dts),
            "{} has B-frames",
            rung.name
        );
        assert!(packets.windows(2).all(|w| w[0].pts < w[1].pts));
        let expected = match rung.reduced_from {
            Some(from) => source_frames as f64 * rung.frame_rate / from,
            None => source_frames as f64,
        };
        let got = packets.len() as f64;
        assert!(
            (got - expected).abs() <= 2.0,
            "{}: {got} frames, expected about {expected}",
            rung.name
        );
        // Rate control sees the rung's frame rate: a wrong one (e.g. the source's 60 for a 30 fps
        // rung) halves or doubles the bitrate. The test pattern is busy enough to use it all.
        let bits: u64 = packets.iter().map(|p| p.size * 8).sum();
        let seconds = got / rung.frame_rate;
        let kbps = bits as f64 / seconds / 1000.0;
        let target = f64::from(rung.video_bitrate_kbps);
        assert!(
            (0.75..1.25).contains(&(kbps / target)),
            "{}: {kbps:.0} kbit/s for a target of {target}",
            rung.name
        );
    }
}

/// Makes a 1280x720 source at `rate` fps with `video_options`, transcodes it with x264 and checks
/// every rung; skipped when ffmpeg or ffprobe is missing.
fn x264_case(name: &str, rate: u32, video_options: &[&str]) {
    if !tools_available() {
        eprintln!("ffmpeg/ffprobe not on PATH; skipping the real x264 transcode");
        return;
    }
    let dir = TempDir::new(name);
    let source = dir.0.join("source.flv");
    make_source(&source, rate, video_options);
    let info = SourceInfo {
        width: 1280,
        height: 720,
        frame_rate: f64::from(rate),
        has_audio: true,
    };
    transcode_and_check(&dir.0, &source, info);
}

#[test]
fn x264_rungs_keep_the_source_keyframes() {
    // B-frames in the source: presentation order differs from decode order.
    x264_case("x264", 30, &["-g", "60"]);
}

#[test]
fn x264_rungs_keep_odd_keyframes_when_halving_the_frame_rate() {
    // 60 fps with a keyframe every 75 frames: every other one on an odd frame, which a 30 fps
    // grid does not contain. No B-frames, so the audio starts at 0 and the AAC priming would go
    // negative without the trim.
    x264_case("x264-60fps", 60, &["-g", "75", "-bf", "0"]);
}

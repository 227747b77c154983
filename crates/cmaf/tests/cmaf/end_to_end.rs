//! A real FLV demuxed, written as init + fragments, and decoded by ffprobe.

use std::path::PathBuf;
use std::process::Command;

use crate::boxes::*;
use ferrocast_cmaf::{
    fragment, init_segment, Sample, TrackRun, AUDIO_TRACK_ID, VIDEO_TIMESCALE, VIDEO_TRACK_ID,
};
use ferrocast_media::{Frame, TrackKind};

// End to end through ffprobe.

/// Samples of one track from demuxed frames. Video: ms to 90 kHz, each duration the distance to
/// the next frame's dts (the last repeats the one before). Audio, the simple way for this test:
/// each frame lasts `samples_per_frame` and the base decode time is the first dts in ms scaled to
/// the sample rate (the packager derives audio decode times from sample counts instead).
fn samples(frames: &[&Frame], timescale: u32, fixed_duration: Option<u32>) -> Vec<Sample> {
    let per_ms = i64::from(timescale) / 1000;
    let mut last_duration = 0;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let duration = match (fixed_duration, frames.get(i + 1)) {
                (Some(d), _) => d,
                (None, Some(next)) => ((next.dts - f.dts) * per_ms) as u32,
                (None, None) => last_duration,
            };
            last_duration = duration;
            Sample {
                duration,
                composition_offset: (i64::from(f.cts) * per_ms) as i32,
                keyframe: f.keyframe,
                data: f.data.clone(),
            }
        })
        .collect()
}

fn ffprobe(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "ffprobe complained"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[allow(clippy::print_stderr)] // The only way to say why a test did nothing.
fn have_ffprobe() -> bool {
    let found = Command::new("ffprobe").arg("-version").output().is_ok();
    if !found {
        eprintln!("SKIPPED: ffprobe not found on PATH; install ffmpeg to run the end-to-end test");
    }
    found
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn ffprobe_decodes_init_plus_fragments() {
    if !have_ffprobe() {
        return;
    }
    let d = demux("av_320x240.flv");
    let (video, audio) = (d.video.unwrap(), d.audio.unwrap());
    let vframes: Vec<&Frame> = d
        .frames
        .iter()
        .filter(|f| f.kind == TrackKind::Video)
        .collect();
    let aframes: Vec<&Frame> = d
        .frames
        .iter()
        .filter(|f| f.kind == TrackKind::Audio)
        .collect();
    let vsamples = samples(&vframes, VIDEO_TIMESCALE, None);
    let asamples = samples(&aframes, audio.sample_rate, Some(audio.samples_per_frame));

    // Two fragments: the split need not be at a keyframe for the file to be valid.
    let vsplit = vframes.len() / 2;
    let asplit = aframes
        .iter()
        .take_while(|f| f.dts < vframes[vsplit].dts)
        .count();
    let vbase = |i: usize| (vframes[i].dts * 90) as u64;
    let abase0 = (aframes[0].dts * i64::from(audio.sample_rate) / 1000) as u64;
    let abase = |i: usize| abase0 + i as u64 * u64::from(audio.samples_per_frame);

    let mut file = init_segment(Some(&video), Some(&audio)).unwrap().to_vec();
    for (seq, (vr, ar)) in [
        (0..vsplit, 0..asplit),
        (vsplit..vframes.len(), asplit..aframes.len()),
    ]
    .into_iter()
    .enumerate()
    {
        let runs = [
            TrackRun {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: vbase(vr.start),
                samples: &vsamples[vr],
            },
            TrackRun {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: abase(ar.start),
                samples: &asamples[ar],
            },
        ];
        file.extend_from_slice(&fragment(seq as u32 + 1, &runs).unwrap());
    }
    let path = TempFile(
        std::env::temp_dir().join(format!("ferrocast-cmaf-e2e-{}.mp4", std::process::id())),
    );
    std::fs::write(&path.0, &file).unwrap();

    let streams = ffprobe(
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,channels,nb_read_frames",
            "-of",
            "compact=p=0",
        ],
        &path.0,
    );
    let lines: Vec<&str> = streams.lines().collect();
    assert_eq!(
        lines,
        [
            "codec_name=h264|width=320|height=240|nb_read_frames=30",
            "codec_name=aac|sample_rate=48000|channels=2|nb_read_frames=48",
        ]
    );

    let frames = ffprobe(
        &[
            "-show_entries",
            "frame=media_type,pts_time",
            "-of",
            "compact=p=0:nk=1",
        ],
        &path.0,
    );
    let first = |kind: &str| -> f64 {
        frames
            .lines()
            .find_map(|l| l.strip_prefix(kind)?.strip_prefix('|')?.split('|').next())
            .unwrap_or_else(|| panic!("no {kind} frame in {frames}"))
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {frames}"))
    };
    let (v0, a0) = (first("video"), first("audio"));
    // As in the FLV: video pts 67 ms (dts 0 + two B-frames of offset), audio 46 ms.
    assert!((v0 - 0.067).abs() < 0.001, "first video pts {v0}");
    assert!((a0 - 0.046).abs() < 0.001, "first audio pts {a0}");
    assert!((v0 - a0).abs() < 0.050);
}

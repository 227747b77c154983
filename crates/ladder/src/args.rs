//! The command line of the one ffmpeg process that transcodes a channel into its planned rungs.

use std::fmt::Write as _;

use crate::encoder::MAX_GOP_FRAMES;
use crate::{Encoder, LadderError, PlannedRung};

/// Bytes ffmpeg may read from stdin to identify the streams before it starts transcoding.
pub const PROBE_SIZE_BYTES: u32 = 1_000_000;
/// Media time ffmpeg may read from stdin to identify the streams, in microseconds.
pub const ANALYZE_DURATION_US: u32 = 1_000_000;
/// Source audio before this time (s) is dropped: the AAC encoder's 1024-sample priming (21.3 ms
/// at 48 kHz) must not give a packet a negative timestamp, which makes the FLV muxer shift every
/// stream of the output and breaks keyframe alignment with the source.
pub const AUDIO_START_SECONDS: &str = "0.025";
/// Sample rate of every rung's audio, so that the priming above is a known duration.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// VBV buffer as a multiple of the bitrate: two seconds of smoothing, peaks capped at the bitrate.
pub const BUFSIZE_FACTOR: u32 = 2;

/// Where each planned rung's FLV goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IoSpec {
    /// One URL per planned rung, in plan order: `unix:/path.sock` (ffmpeg connects; the server
    /// listens), `pipe:N` with N >= 3 (an inherited descriptor) or `file:/path`. Stdin is the
    /// source, stdout the progress report, stderr the log, so `pipe:0..=2` are refused.
    pub outputs: Vec<String>,
}

impl IoSpec {
    /// Outputs for the planned rungs, in plan order.
    pub fn new(outputs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            outputs: outputs.into_iter().map(Into::into).collect(),
        }
    }
}

pub(crate) fn push(out: &mut Vec<String>, arg: &str) {
    out.push(arg.to_owned());
}

pub(crate) fn push_all(out: &mut Vec<String>, args: &[&str]) {
    out.extend(args.iter().map(|a| (*a).to_owned()));
}

/// The protocol of an output URL, which is also the only one its `-protocol_whitelist` allows.
fn output_protocol(url: &str) -> Result<&'static str, LadderError> {
    let invalid = |reason| LadderError::InvalidOutput {
        url: url.to_owned(),
        reason,
    };
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| invalid("no protocol; use unix:, pipe: or file:"))?;
    let protocol = match scheme {
        "unix" => "unix",
        "file" => "file",
        "pipe" => {
            let fd: u32 = rest
                .parse()
                .map_err(|_| invalid("pipe: needs a descriptor number"))?;
            if fd < 3 {
                return Err(invalid("pipe:0..=2 are the source, progress and log"));
            }
            "pipe"
        }
        _ => return Err(invalid("unsupported protocol; use unix:, pipe: or file:")),
    };
    if rest.is_empty() {
        return Err(invalid("empty path"));
    }
    Ok(protocol)
}

/// The rate control and GOP arguments of a rung, live or on demand: `-b:v` = `-maxrate` = the
/// bitrate, a VBV of [`BUFSIZE_FACTOR`] times it, and a GOP cap far above any keyframe interval,
/// so that only the keyframes the caller forces occur.
pub fn rate_control_args(kbps: u32) -> [String; 10] {
    let gop = MAX_GOP_FRAMES.to_string();
    [
        "-b:v".into(),
        format!("{kbps}k"),
        "-maxrate".into(),
        format!("{kbps}k"),
        "-bufsize".into(),
        format!("{}k", kbps.saturating_mul(BUFSIZE_FACTOR)),
        "-g".into(),
        gop.clone(),
        "-keyint_min".into(),
        gop,
    ]
}

/// A frame rate as ffmpeg reads it: integers bare, others to three decimals.
pub fn ffmpeg_rate(fps: f64) -> String {
    if fps.fract() == 0.0 {
        format!("{fps:.0}")
    } else {
        let s = format!("{fps:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A `select` filter that keeps about `to` of every second's `from` frames, never dropping a
/// keyframe and never changing a timestamp.
///
/// `fps=` would re-time frames onto its own grid and drop source keyframes that fall between grid
/// points (a 60 fps source with a keyframe on an odd frame), so rungs would lose alignment with the
/// source. Register 0 holds the next deadline on a `1/to` grid; a frame is kept when it is a
/// keyframe or reaches the deadline within half a source frame (timestamps are rounded to ms); a
/// gap of more than half a slot restarts the grid at the kept frame.
fn reduce_filter(from: f64, to: f64) -> String {
    let slot = 1.0 / to;
    let tolerance = 0.5 / from;
    format!(
        "select='if(key+gte(t,ld(0)-{tolerance:.6}),\
         st(0,if(gt(t,ld(0)+{half:.6}),t,ld(0))+{slot:.6})*0+1,0)'",
        half = slot / 2.0
    )
}

fn filter_graph(plan: &[PlannedRung], encoder: &Encoder, has_audio: bool) -> String {
    let n = plan.len();
    let mut g = String::from("[0:v:0]");
    if let Some(shared) = encoder.shared_filters() {
        g.push_str(shared);
        g.push(',');
    }
    let _ = write!(g, "split={n}");
    for i in 0..n {
        let _ = write!(g, "[s{i}]");
    }
    for (i, rung) in plan.iter().enumerate() {
        let _ = write!(g, ";[s{i}]");
        if let Some(from) = rung.reduced_from {
            // Before scaling, so dropped frames are never scaled.
            g.push_str(&reduce_filter(from, rung.frame_rate));
            g.push(',');
        }
        let _ = write!(g, "{}[v{i}]", encoder.scale_filter(rung.width, rung.height));
    }
    if has_audio {
        // Trimmed, resampled and downmixed once for all rungs; only the AAC encodes differ.
        let _ = write!(
            g,
            ";[0:a:0]atrim=start={AUDIO_START_SECONDS},aresample={AUDIO_SAMPLE_RATE},\
             aformat=channel_layouts=stereo,asplit={n}"
        );
        for i in 0..n {
            let _ = write!(g, "[a{i}]");
        }
    }
    g
}

/// The arguments (after the program name) of one ffmpeg process that reads the source as FLV on
/// stdin, decodes it once and writes every planned rung as FLV to its [`IoSpec`] output.
///
/// Deterministic; the choices are explained in the crate documentation. An empty plan gives
/// [`LadderError::EmptyPlan`]: there is nothing to run.
pub fn ffmpeg_args(
    plan: &[PlannedRung],
    encoder: &Encoder,
    io: &IoSpec,
) -> Result<Vec<String>, LadderError> {
    if plan.is_empty() {
        return Err(LadderError::EmptyPlan);
    }
    if io.outputs.len() != plan.len() {
        return Err(LadderError::OutputCountMismatch {
            rungs: plan.len(),
            outputs: io.outputs.len(),
        });
    }
    let protocols = io
        .outputs
        .iter()
        .map(|url| output_protocol(url))
        .collect::<Result<Vec<_>, _>>()?;
    for rung in plan {
        if let Some(preset) = &rung.preset {
            encoder.check_preset(&rung.name, preset)?;
        }
    }
    let has_audio = plan.iter().any(|r| r.audio_bitrate_kbps.is_some());

    let mut out = Vec::new();
    push_all(
        &mut out,
        &[
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "repeat+level+warning",
            "-nostats",
            "-stats_period",
            "1",
            "-progress",
            "pipe:1",
        ],
    );
    encoder.device_args(&mut out)?;
    push_all(&mut out, &["-protocol_whitelist", "pipe", "-probesize"]);
    out.push(PROBE_SIZE_BYTES.to_string());
    push(&mut out, "-analyzeduration");
    out.push(ANALYZE_DURATION_US.to_string());
    push_all(&mut out, &["-f", "flv", "-i", "pipe:0", "-copyts"]);
    push(&mut out, "-filter_complex");
    out.push(filter_graph(plan, encoder, has_audio));

    for (i, ((rung, url), protocol)) in plan.iter().zip(&io.outputs).zip(protocols).enumerate() {
        push(&mut out, "-map");
        out.push(format!("[v{i}]"));
        if rung.audio_bitrate_kbps.is_some() {
            push(&mut out, "-map");
            out.push(format!("[a{i}]"));
        }
        encoder.codec_args(rung.preset.as_deref(), &mut out);
        out.extend(rate_control_args(rung.video_bitrate_kbps));
        out.extend([
            "-force_key_frames:v".into(),
            "source".into(),
            "-r:v".into(),
            ffmpeg_rate(rung.frame_rate),
        ]);
        push_all(
            &mut out,
            &["-fps_mode:v", "passthrough", "-enc_time_base:v", "1:1000"],
        );
        if let Some(kbps) = rung.audio_bitrate_kbps {
            push_all(&mut out, &["-c:a", "aac", "-b:a"]);
            out.push(format!("{kbps}k"));
        }
        push_all(
            &mut out,
            &[
                "-max_muxing_queue_size",
                "1024",
                "-flush_packets",
                "1",
                "-flvflags",
                "no_duration_filesize",
                "-protocol_whitelist",
                protocol,
                "-f",
                "flv",
                url,
            ],
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_protocols() {
        assert_eq!(output_protocol("unix:/run/a.sock"), Ok("unix"));
        assert_eq!(output_protocol("file:/tmp/a.flv"), Ok("file"));
        assert_eq!(output_protocol("pipe:3"), Ok("pipe"));
        for bad in [
            "/tmp/a.flv",
            "pipe:1",
            "pipe:2",
            "pipe:x",
            "pipe:",
            "unix:",
            "rtmp://x/y",
            "tcp:1.2.3.4:5",
        ] {
            assert!(
                matches!(output_protocol(bad), Err(LadderError::InvalidOutput { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn rates() {
        assert_eq!(ffmpeg_rate(30.0), "30");
        assert_eq!(ffmpeg_rate(29.97), "29.97");
        assert_eq!(ffmpeg_rate(30000.0 / 1001.0), "29.97");
        assert_eq!(ffmpeg_rate(12.5), "12.5");
        assert_eq!(ffmpeg_rate(29.9996), "30");
    }
}

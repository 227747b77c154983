//! ffmpeg and ffprobe command lines (the arguments after the program name), and the small text
//! formats around them: the `-progress` report and the thumbnails' WebVTT index.
//!
//! Every input is opened as `file:` with `-protocol_whitelist file`; uploads also with
//! `-format_whitelist` [`ALLOWED_DEMUXERS`]. Outputs are `file:` paths with `-protocol_whitelist
//! file`. Paths must be UTF-8 (the server makes them).

use std::fmt::Write as _;
use std::path::Path;

use crate::{VodError, VodRung, ALLOWED_DEMUXERS};

/// Keyframe interval of every rendition, seconds: keyframes at 0, 2, 4 ... s of media time in
/// every rung, so that 4 s segments cut at keyframes line up across rungs.
pub const KEYFRAME_INTERVAL_S: u32 = 2;
/// AAC bitrate of the audio rendition, kbit/s.
pub const AUDIO_KBPS: u32 = 128;
/// Sample rate of the audio rendition.
pub const AUDIO_SAMPLE_RATE: u32 = 48_000;
/// Source audio before this time (s) is dropped, as for live rungs: the AAC encoder's priming
/// would otherwise give the first packet a negative timestamp, and the FLV muxer would shift the
/// whole audio track later by 21 ms to compensate.
pub const AUDIO_START_SECONDS: &str = "0.025";
/// Most sprite tiles: 10 x 10.
pub const MAX_SPRITE_TILES: u32 = 100;
/// Columns of the sprite grid.
pub const SPRITE_COLUMNS: u32 = 10;
/// Width of one sprite tile in pixels.
pub const SPRITE_TILE_WIDTH: u32 = 160;
/// Widest poster, pixels (a 4K upload gets a 1280-wide poster).
pub const POSTER_MAX_WIDTH: u32 = 1280;
/// Demuxers the quality check may open: the HLS playlist and its fMP4 segments.
pub const VERIFY_DEMUXERS: &str = "hls,mov,mp4,m4a,3gp,3g2,mj2";

fn file_url(path: &Path) -> Result<String, VodError> {
    let text = path.to_str().ok_or_else(|| VodError::NonUtf8Path {
        path: path.to_string_lossy().into_owned(),
    })?;
    Ok(format!("file:{text}"))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// `-progress` to stdout, log on stderr with level tags, no banner, no interaction.
fn common() -> Vec<String> {
    strings(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "repeat+level+warning",
        "-nostats",
        "-stats_period",
        "1",
        "-progress",
        "pipe:1",
        "-y",
    ])
}

/// An untrusted input: only local files, only the allowed demuxers.
fn upload_input(out: &mut Vec<String>, input: &Path) -> Result<(), VodError> {
    out.extend(strings(&[
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-i",
    ]));
    out.push(file_url(input)?);
    Ok(())
}

/// One of our own FLV intermediates as input.
fn flv_input(out: &mut Vec<String>, input: &Path) -> Result<(), VodError> {
    out.extend(strings(&[
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "flv",
        "-f",
        "flv",
        "-i",
    ]));
    out.push(file_url(input)?);
    Ok(())
}

fn file_output(out: &mut Vec<String>, format: &str, path: &Path) -> Result<(), VodError> {
    out.extend(strings(&["-protocol_whitelist", "file", "-f", format]));
    out.push(file_url(path)?);
    Ok(())
}

/// `ffprobe -v error -print_format json -show_format -show_streams` on an upload, with the
/// protocol and demuxer allow-lists.
pub fn probe_args(path: &Path) -> Result<Vec<String>, VodError> {
    ffprobe_json(path, ALLOWED_DEMUXERS, &["-show_format", "-show_streams"])
}

/// `ffprobe` printing JSON about a local file: only the `file` protocol and the `demuxers`
/// allow-list, then `what` to show.
fn ffprobe_json(path: &Path, demuxers: &str, what: &[&str]) -> Result<Vec<String>, VodError> {
    let mut out = strings(&[
        "-hide_banner",
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        demuxers,
        "-print_format",
        "json",
    ]);
    out.extend(strings(what));
    out.push("-i".into());
    out.push(file_url(path)?);
    Ok(out)
}

/// The one ffmpeg process that transcodes an upload: decoded once, `split` into one scaler and
/// libx264 encoder per rung, each written as a video-only FLV to its `rung_outputs` path, and the
/// first audio stream (when `audio_out` is given) as AAC 128k 48 kHz stereo to its own FLV.
///
/// - Keyframes every [`KEYFRAME_INTERVAL_S`] at identical times in every rung:
///   `-force_key_frames expr:gte(t,n_forced*2)` on the frames' timestamps, forced frames as IDR,
///   no scene-cut keyframes (`-sc_threshold 0`) and a GOP cap far above the interval.
/// - Rate control like the live rungs: `-b:v` = `-maxrate`, `-bufsize` twice that, High profile.
/// - `-bf 0`: no B-frames. Our FLV to CMAF path carries composition offsets (signed `trun`), but
///   the init segment has no edit list, so a stream with B-frames would start at its first
///   composition offset instead of 0 and the renditions' presentation times would not start with
///   the audio's; without B-frames, decode order is presentation order and this cannot happen.
/// - A rung with [`VodRung::reduced_from`] drops frames with `fps=` (keyframes are forced after
///   the filters, on output timestamps, so they stay aligned); `setsar=1` makes pixels square.
/// - `-map_metadata -1`: nothing of the upload's metadata is copied.
pub fn transcode_args(
    input: &Path,
    rungs: &[VodRung],
    audio_out: Option<&Path>,
    rung_outputs: &[std::path::PathBuf],
    preset: &str,
) -> Result<Vec<String>, VodError> {
    if rungs.is_empty() && audio_out.is_none() {
        return Err(VodError::NothingToEncode);
    }
    if rungs.len() != rung_outputs.len() {
        return Err(VodError::OutputCountMismatch {
            rungs: rungs.len(),
            outputs: rung_outputs.len(),
        });
    }
    if !preset
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        || preset.is_empty()
    {
        return Err(VodError::InvalidPreset {
            preset: preset.to_owned(),
        });
    }
    let mut out = common();
    upload_input(&mut out, input)?;

    let mut graph = String::new();
    if !rungs.is_empty() {
        let _ = write!(graph, "[0:v:0]split={}", rungs.len());
        for i in 0..rungs.len() {
            let _ = write!(graph, "[s{i}]");
        }
        for (i, rung) in rungs.iter().enumerate() {
            let _ = write!(graph, ";[s{i}]");
            if rung.reduced_from.is_some() {
                let _ = write!(graph, "fps={},", ferrocast_ladder::ffmpeg_rate(rung.fps));
            }
            let _ = write!(
                graph,
                "scale={}:{},setsar=1,format=yuv420p[v{i}]",
                rung.width, rung.height
            );
        }
    }
    if audio_out.is_some() {
        if !graph.is_empty() {
            graph.push(';');
        }
        let _ = write!(
            graph,
            "[0:a:0]atrim=start={AUDIO_START_SECONDS},aresample={AUDIO_SAMPLE_RATE},\
             aformat=sample_fmts=fltp:channel_layouts=stereo[aout]"
        );
    }
    out.push("-filter_complex".into());
    out.push(graph);

    let force = format!("expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S})");
    for (i, (rung, path)) in rungs.iter().zip(rung_outputs).enumerate() {
        out.extend([
            "-map".into(),
            format!("[v{i}]"),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            preset.into(),
            "-profile:v".into(),
            "high".into(),
        ]);
        out.extend(ferrocast_ladder::rate_control_args(rung.video_kbps));
        out.extend([
            "-sc_threshold".into(),
            "0".into(),
            "-bf".into(),
            "0".into(),
            "-forced-idr".into(),
            "1".into(),
            "-force_key_frames".into(),
            force.clone(),
        ]);
        out.extend(strings(&[
            "-map_metadata",
            "-1",
            "-max_muxing_queue_size",
            "4096",
        ]));
        file_output(&mut out, "flv", path)?;
    }
    if let Some(path) = audio_out {
        out.extend(strings(&["-map", "[aout]", "-c:a", "aac", "-b:a"]));
        out.push(format!("{AUDIO_KBPS}k"));
        out.extend(strings(&[
            "-map_metadata",
            "-1",
            "-max_muxing_queue_size",
            "4096",
        ]));
        file_output(&mut out, "flv", path)?;
    }
    Ok(out)
}

/// The downloadable MP4: the top rung's video and the audio copied (no re-encode) into one MP4
/// with its index at the front (`+faststart`).
pub fn mp4_args(
    video_flv: &Path,
    audio_flv: Option<&Path>,
    out: &Path,
) -> Result<Vec<String>, VodError> {
    let mut args = common();
    flv_input(&mut args, video_flv)?;
    if let Some(audio) = audio_flv {
        flv_input(&mut args, audio)?;
    }
    args.extend(strings(&["-map", "0:v:0"]));
    if audio_flv.is_some() {
        args.extend(strings(&["-map", "1:a:0"]));
    }
    args.extend(strings(&[
        "-c",
        "copy",
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
    ]));
    file_output(&mut args, "mp4", out)?;
    Ok(args)
}

/// Where the poster is taken: a tenth into the video, at most 10 s in (past a title card or a
/// fade from black), on a keyframe.
pub fn poster_time(duration_s: f64) -> f64 {
    let t = if duration_s.is_finite() {
        duration_s / 10.0
    } else {
        0.0
    };
    let t = t.clamp(0.0, 10.0);
    (t / f64::from(KEYFRAME_INTERVAL_S)).floor() * f64::from(KEYFRAME_INTERVAL_S)
}

/// One JPEG poster from an FLV rung (keyframes only are decoded), at most [`POSTER_MAX_WIDTH`]
/// wide.
pub fn poster_args(input_flv: &Path, duration_s: f64, out: &Path) -> Result<Vec<String>, VodError> {
    let mut args = common();
    args.extend(strings(&["-skip_frame", "nokey", "-ss"]));
    args.push(format!("{:.3}", poster_time(duration_s)));
    flv_input(&mut args, input_flv)?;
    args.extend(strings(&["-map", "0:v:0", "-frames:v", "1", "-vf"]));
    args.push(format!(
        "scale='min({POSTER_MAX_WIDTH},iw)':-2,format=yuvj420p"
    ));
    args.extend(strings(&["-q:v", "3", "-update", "1"]));
    file_output(&mut args, "image2", out)?;
    Ok(args)
}

/// The layout of the thumbnail sprite for a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpritePlan {
    /// Seconds between tiles: a multiple of the keyframe interval (only keyframes are decoded),
    /// large enough that there are at most [`MAX_SPRITE_TILES`].
    pub interval_s: u32,
    /// Tiles in the sprite.
    pub count: u32,
    /// Tiles per row.
    pub columns: u32,
    /// Rows.
    pub rows: u32,
    /// Tile width, pixels.
    pub tile_width: u32,
    /// Tile height, pixels (even, from the video's aspect ratio).
    pub tile_height: u32,
}

/// The sprite layout for a video of `duration_s` whose frames are `width` x `height`.
pub fn sprite_plan(duration_s: f64, width: u32, height: u32) -> SpritePlan {
    let duration = if duration_s.is_finite() && duration_s > 0.0 {
        duration_s.min(1.0e7)
    } else {
        0.0
    };
    let step = KEYFRAME_INTERVAL_S;
    let needed = (duration / f64::from(MAX_SPRITE_TILES)).ceil() as u32;
    let interval_s = needed.div_ceil(step).max(1) * step;
    let count = ((duration / f64::from(interval_s)).ceil() as u32).clamp(1, MAX_SPRITE_TILES);
    let columns = count.min(SPRITE_COLUMNS);
    let rows = count.div_ceil(columns);
    let tile_height = if width == 0 {
        90
    } else {
        let h = u64::from(SPRITE_TILE_WIDTH) * u64::from(height) / u64::from(width);
        u32::try_from(h)
            .unwrap_or(u32::MAX)
            .clamp(2, 4 * SPRITE_TILE_WIDTH)
            .div_ceil(2)
            * 2
    };
    SpritePlan {
        interval_s,
        count,
        columns,
        rows,
        tile_width: SPRITE_TILE_WIDTH,
        tile_height,
    }
}

/// The sprite: one tile every [`SpritePlan::interval_s`] (keyframes only are decoded), scaled to
/// the tile size, laid out in a grid in one JPEG.
pub fn sprite_args(
    input_flv: &Path,
    plan: &SpritePlan,
    out: &Path,
) -> Result<Vec<String>, VodError> {
    let mut args = common();
    args.extend(strings(&["-skip_frame", "nokey"]));
    flv_input(&mut args, input_flv)?;
    args.extend(strings(&["-map", "0:v:0", "-vf"]));
    args.push(format!(
        "select='isnan(prev_selected_t)+gte(t-prev_selected_t,{}-0.5)',\
         scale={}:{},setsar=1,tile={}x{},format=yuvj420p",
        plan.interval_s, plan.tile_width, plan.tile_height, plan.columns, plan.rows
    ));
    args.extend(strings(&[
        "-fps_mode",
        "vfr",
        "-frames:v",
        "1",
        "-q:v",
        "4",
        "-update",
        "1",
    ]));
    file_output(&mut args, "image2", out)?;
    Ok(args)
}

fn vtt_time(out: &mut String, seconds: f64) {
    let ms = if seconds.is_finite() {
        (seconds.max(0.0) * 1000.0).round() as u64
    } else {
        0
    };
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    );
}

/// The WebVTT index of a sprite (seek previews): one cue per tile, `sprite_uri#xywh=x,y,w,h`
/// (Media Fragments URI 1.0 spatial dimension), tiles left to right then top to bottom, the last
/// cue ending at `duration_s`.
pub fn thumbnails_vtt(
    duration_s: f64,
    interval_s: u32,
    tile_w: u32,
    tile_h: u32,
    columns: u32,
    sprite_uri: &str,
) -> String {
    let duration = if duration_s.is_finite() {
        duration_s.max(0.0)
    } else {
        0.0
    };
    let interval = interval_s.max(1);
    let columns = columns.max(1);
    let mut out = String::from("WEBVTT\n");
    let mut i = 0u32;
    loop {
        let start = f64::from(i) * f64::from(interval);
        if (start >= duration && i > 0) || i >= MAX_SPRITE_TILES * 100 {
            break;
        }
        let end = (start + f64::from(interval)).min(duration.max(start));
        out.push('\n');
        vtt_time(&mut out, start);
        out.push_str(" --> ");
        vtt_time(&mut out, end);
        let (x, y) = (i % columns * tile_w, i / columns * tile_h);
        let _ = write!(out, "\n{sprite_uri}#xywh={x},{y},{tile_w},{tile_h}\n");
        i += 1;
    }
    out
}

/// QC, step 1: the duration ffprobe reads from a playlist (the sum of a VOD playlist's EXTINFs)
/// and its streams, as JSON (`format.duration`).
pub fn verify_probe_args(playlist: &Path) -> Result<Vec<String>, VodError> {
    ffprobe_json(
        playlist,
        VERIFY_DEMUXERS,
        &[
            "-show_entries",
            "format=duration:stream=codec_type,width,height",
        ],
    )
}

/// QC, step 2: decode every keyframe of every stream a playlist lists (cheap: one picture in
/// 2 s), stopping at the first error (`-xerror`), output discarded.
pub fn verify_decode_args(playlist: &Path) -> Result<Vec<String>, VodError> {
    let mut out = strings(&[
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-xerror",
        "-skip_frame",
        "nokey",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        VERIFY_DEMUXERS,
        "-i",
    ]);
    out.push(file_url(playlist)?);
    out.extend(strings(&["-map", "0", "-f", "null", "-"]));
    Ok(out)
}

/// `out_time_us` of one line of ffmpeg's `-progress` report (`out_time_ms` is also
/// microseconds), as seconds; `None` for other lines and `N/A`.
pub fn progress_seconds(line: &str) -> Option<f64> {
    let (key, value) = line.trim().split_once('=')?;
    if !matches!(key.trim(), "out_time_us" | "out_time_ms") {
        return None;
    }
    let us: i64 = value.trim().parse().ok()?;
    Some(us.max(0) as f64 / 1.0e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt() {
        let v = thumbnails_vtt(5.0, 2, 160, 90, 10, "sprite.jpg");
        assert_eq!(
            v,
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite.jpg#xywh=0,0,160,90\n\
             \n00:00:02.000 --> 00:00:04.000\nsprite.jpg#xywh=160,0,160,90\n\
             \n00:00:04.000 --> 00:00:05.000\nsprite.jpg#xywh=320,0,160,90\n"
        );
        let long = thumbnails_vtt(3725.5, 38, 160, 90, 10, "s.jpg");
        assert_eq!(long.matches("#xywh").count(), 99);
        assert!(long.contains("01:02:04.000 --> 01:02:05.500\ns.jpg#xywh=1280,810,160,90"));
        assert_eq!(
            thumbnails_vtt(f64::NAN, 0, 1, 1, 0, "s")
                .matches("#xywh")
                .count(),
            1
        );
    }

    #[test]
    fn sprites_stay_bounded() {
        let p = sprite_plan(4.0, 1280, 720);
        assert_eq!((p.interval_s, p.count, p.columns, p.rows), (2, 2, 2, 1));
        assert_eq!((p.tile_width, p.tile_height), (160, 90));
        let p = sprite_plan(6.0 * 3600.0, 1920, 1080);
        assert_eq!(
            (p.interval_s, p.count, p.columns, p.rows),
            (216, 100, 10, 10)
        );
        let p = sprite_plan(201.0, 1080, 1920);
        assert_eq!(
            (p.interval_s, p.count, p.rows, p.tile_height),
            (4, 51, 6, 284)
        );
        assert_eq!(sprite_plan(0.0, 0, 0).count, 1);
    }

    #[test]
    fn poster_times() {
        assert_eq!(poster_time(4.0), 0.0);
        assert_eq!(poster_time(60.0), 6.0);
        assert_eq!(poster_time(7200.0), 10.0);
        assert_eq!(poster_time(f64::NAN), 0.0);
    }

    #[test]
    fn progress_lines() {
        assert_eq!(progress_seconds("out_time_us=1500000"), Some(1.5));
        assert_eq!(progress_seconds("out_time_ms=2000000"), Some(2.0));
        assert_eq!(progress_seconds("out_time_us=N/A"), None);
        assert_eq!(progress_seconds("out_time=00:00:01.50"), None);
        assert_eq!(progress_seconds("out_time_us=-5"), Some(0.0));
    }
}

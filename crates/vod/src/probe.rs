//! What ffprobe says about an upload, and whether we take it.
//!
//! The server runs `ffprobe -v error -print_format json -show_format -show_streams` (see
//! [`crate::probe_args`]) with `-protocol_whitelist file` and `-format_whitelist`
//! [`ALLOWED_DEMUXERS`], so a file that is really a playlist, a concat list or anything else that
//! makes a demuxer open other files or URLs is refused before anything else is read. Then:
//! [`sniff`] on the first bytes (text is refused without running ffprobe), [`parse_ffprobe_json`]
//! on its output (or [`refusal_from_ffprobe_error`] on its log when it fails) and [`validate`]
//! against the configured [`Limits`]. Every refusal is a [`Refusal`]: a stable code and a sentence
//! a person understands.

use serde::{Deserialize, Serialize};

/// The demuxers an upload may use: ffmpeg's `-format_whitelist` value. MP4/MOV (and 3GP), Matroska
/// and WebM, AVI, FLV, MPEG-TS and MPEG-PS: containers that hold their media inside themselves.
/// Playlists (`hls`, `dash`), `concat`, image sequences and raw/text demuxers are left out.
pub const ALLOWED_DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg";

/// Bytes of the file head [`sniff`] looks at.
pub const SNIFF_LEN: usize = 4096;

/// Why an upload is not accepted: permanent, shown to the uploader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Stable machine-readable reason: `not_media`, `unreadable`, `disallowed_container`,
    /// `no_video`, `no_duration`, `truncated`, `too_large`, `too_long`, `resolution`,
    /// `frame_rate`.
    pub code: &'static str,
    /// A sentence for a person.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn not_media(what: &str) -> Self {
        Self::new(
            "not_media",
            format!("The file is not a video we can read (it looks like {what})."),
        )
    }

    fn truncated() -> Self {
        Self::new(
            "truncated",
            "The file is incomplete: it ends before the video does (the upload may have been cut \
             short). Upload the whole file again.",
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// Caps on what an upload may be. Defaults: 20 GiB, 6 hours, 4096 x 4096 pixels (DCI 4K fits
/// either way round, so portrait phone video does too), 120 frames per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Longest duration, in seconds.
    pub max_duration_s: f64,
    /// Widest picture (as displayed), in pixels.
    pub max_width: u32,
    /// Tallest picture (as displayed), in pixels.
    pub max_height: u32,
    /// Highest frame rate.
    pub max_fps: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 20 << 30,
            max_duration_s: 6.0 * 3600.0,
            max_width: 4096,
            max_height: 4096,
            max_fps: 120.0,
        }
    }
}

/// The video stream of a probed file (the first one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStream {
    /// ffmpeg's codec name (`h264`, `hevc`, `vp9`, ...).
    pub codec: String,
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Average frame rate, when known.
    pub fps: Option<f64>,
    /// Display rotation in degrees (0, 90, 180, 270) from the display matrix or `rotate` tag.
    pub rotation: Option<i32>,
    /// Sample (pixel) aspect ratio, when not square.
    pub sample_aspect: Option<(u32, u32)>,
}

impl VideoStream {
    /// The picture as it is shown: rotated a quarter turn when the rotation says so, pixels
    /// stretched to square. ffmpeg applies both when transcoding (autorotate, and our `setsar=1`).
    pub fn display_size(&self) -> (u32, u32) {
        let width = match self.sample_aspect {
            Some((n, d)) if n > 0 && d > 0 => {
                let w = u64::from(self.width) * u64::from(n) / u64::from(d);
                u32::try_from(w).unwrap_or(u32::MAX)
            }
            _ => self.width,
        };
        match self.rotation.map(|r| r.rem_euclid(180)) {
            Some(90) => (self.height, width),
            _ => (width, self.height),
        }
    }
}

/// The audio stream of a probed file (the first one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStream {
    /// ffmpeg's codec name (`aac`, `opus`, `mp3`, ...).
    pub codec: String,
    /// Channel count.
    pub channels: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

/// What ffprobe found in an upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbedSource {
    /// The demuxer's name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format_name: String,
    /// Duration in seconds; 0 when unknown.
    pub duration_s: f64,
    /// File size in bytes; 0 when unknown.
    pub size_bytes: u64,
    /// The first video stream (attached pictures such as cover art do not count).
    pub video: Option<VideoStream>,
    /// The first audio stream.
    pub audio: Option<AudioStream>,
    /// Bytes the streams declare (bit rate x duration, summed), when every stream states a bit
    /// rate: more than the file holds means it was cut short.
    #[serde(default)]
    pub declared_stream_bytes: Option<u64>,
}

/// Why ffprobe's JSON could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Not the JSON `-print_format json -show_format -show_streams` writes.
    #[error("ffprobe's output is not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Deserialize)]
struct RawOutput {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
    size: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    sample_aspect_ratio: Option<String>,
    sample_rate: Option<String>,
    channels: Option<i64>,
    duration: Option<String>,
    bit_rate: Option<String>,
    #[serde(default)]
    disposition: std::collections::HashMap<String, serde_json::Value>,
    #[serde(default)]
    tags: std::collections::HashMap<String, serde_json::Value>,
    #[serde(default)]
    side_data_list: Vec<std::collections::HashMap<String, serde_json::Value>>,
}

fn number(text: Option<&str>) -> Option<f64> {
    text?.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `"30000/1001"` as a number; `None` for `0/0` and nonsense.
fn ratio(text: Option<&str>) -> Option<f64> {
    let (n, d) = text?.split_once('/')?;
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    let r = n / d;
    (r.is_finite() && r > 0.0).then_some(r)
}

fn rotation(s: &RawStream) -> Option<i32> {
    let from_side_data = s
        .side_data_list
        .iter()
        .find_map(|d| d.get("rotation")?.as_f64());
    let from_tag = || {
        s.tags
            .get("rotate")
            .and_then(|v| v.as_str())
            .and_then(|t| t.trim().parse::<f64>().ok())
    };
    let degrees = from_side_data.or_else(from_tag)?;
    if !degrees.is_finite() {
        return None;
    }
    // Snapped to quarter turns; ffmpeg's autorotate only handles those.
    let quarter = ((degrees / 90.0).round() as i64).rem_euclid(4);
    Some((quarter * 90) as i32)
}

/// Reads ffprobe's `-print_format json -show_format -show_streams` output. Missing or odd fields
/// become `None`/0 rather than errors; [`validate`] decides what matters.
pub fn parse_ffprobe_json(json: &[u8]) -> Result<ProbedSource, ProbeError> {
    let raw: RawOutput = serde_json::from_slice(json)?;
    let format = raw.format.as_ref();
    let mut duration_s = number(format.and_then(|f| f.duration.as_deref())).unwrap_or(0.0);
    if duration_s <= 0.0 {
        duration_s = raw
            .streams
            .iter()
            .filter_map(|s| number(s.duration.as_deref()))
            .fold(0.0, f64::max);
    }
    let size_bytes = number(format.and_then(|f| f.size.as_deref()))
        .map(|s| s.max(0.0) as u64)
        .unwrap_or(0);
    let is_attached_picture = |s: &&RawStream| {
        s.disposition
            .get("attached_pic")
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            != 0
    };
    let video = raw
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("video"))
        .find(|s| !is_attached_picture(s))
        .map(|s| VideoStream {
            codec: s.codec_name.clone().unwrap_or_default(),
            width: s.width.and_then(|w| u32::try_from(w).ok()).unwrap_or(0),
            height: s.height.and_then(|h| u32::try_from(h).ok()).unwrap_or(0),
            fps: ratio(s.avg_frame_rate.as_deref()).or_else(|| ratio(s.r_frame_rate.as_deref())),
            rotation: rotation(s),
            sample_aspect: s
                .sample_aspect_ratio
                .as_deref()
                .and_then(|t| t.split_once(':'))
                .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
                .filter(|&(n, d): &(u32, u32)| n > 0 && d > 0 && n != d),
        });
    let audio = raw
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| AudioStream {
            codec: s.codec_name.clone().unwrap_or_default(),
            channels: s.channels.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            sample_rate: number(s.sample_rate.as_deref())
                .map(|r| r.max(0.0) as u32)
                .unwrap_or(0),
        });
    let media: Vec<&RawStream> = raw
        .streams
        .iter()
        .filter(|s| matches!(s.codec_type.as_deref(), Some("video" | "audio")))
        .filter(|s| !is_attached_picture(s))
        .collect();
    let declared_stream_bytes = (!media.is_empty())
        .then(|| {
            media.iter().try_fold(0.0, |sum, s| {
                let rate = number(s.bit_rate.as_deref())?;
                let secs = number(s.duration.as_deref()).unwrap_or(duration_s);
                Some(sum + rate.max(0.0) * secs.max(0.0) / 8.0)
            })
        })
        .flatten()
        .map(|b| b as u64);
    Ok(ProbedSource {
        format_name: format
            .and_then(|f| f.format_name.clone())
            .unwrap_or_default(),
        duration_s,
        size_bytes,
        video,
        audio,
        declared_stream_bytes,
    })
}

/// Whether a demuxer name (possibly a comma-separated list of aliases, as ffprobe reports it) is
/// on [`ALLOWED_DEMUXERS`] — the same rule as ffmpeg's `-format_whitelist`.
pub fn is_allowed_demuxer(format_name: &str) -> bool {
    format_name.split(',').any(|name| {
        ALLOWED_DEMUXERS
            .split(',')
            .any(|allowed| allowed == name.trim())
    })
}

/// Judges a file from its first bytes (up to [`SNIFF_LEN`]) before ffprobe runs: playlists,
/// concat lists, HTML and other text are refused here. `None` means "let ffprobe decide".
pub fn sniff(head: &[u8]) -> Option<Refusal> {
    if head.is_empty() {
        return Some(Refusal::new("not_media", "The file is empty."));
    }
    let head = head.get(..SNIFF_LEN).unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with("#EXTM3U") {
        return Some(Refusal::new(
            "disallowed_container",
            "The file is not a video we can read (it looks like an HLS playlist, which only \
             points to other files). Upload the video file itself.",
        ));
    }
    if trimmed.starts_with("ffconcat") || trimmed.starts_with("file '") {
        return Some(Refusal::new(
            "disallowed_container",
            "The file is not a video we can read (it looks like an ffmpeg concat list, which only \
             points to other files). Upload the video file itself.",
        ));
    }
    let lower = trimmed
        .get(..trimmed.len().min(256))
        .unwrap_or("")
        .to_ascii_lowercase();
    if lower.starts_with("<?xml") && lower.contains("<mpd") {
        return Some(Refusal::new(
            "disallowed_container",
            "The file is not a video we can read (it looks like a DASH manifest, which only \
             points to other files). Upload the video file itself.",
        ));
    }
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return Some(Refusal::not_media("a web page"));
    }
    // Text: no NUL, and (nearly) every byte printable or whitespace. Every container we accept
    // has binary headers within its first bytes (MPEG-TS: 0x47 sync bytes followed by binary).
    let printable = head
        .iter()
        .filter(|&&b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e) || b >= 0x80)
        .count();
    if !head.contains(&0) && printable * 100 >= head.len() * 98 {
        return Some(Refusal::not_media("a text file"));
    }
    None
}

/// Maps ffprobe's log (stderr, `-v error`) when it failed to a refusal.
pub fn refusal_from_ffprobe_error(stderr: &str) -> Refusal {
    if let Some(line) = stderr
        .lines()
        .find(|l| l.contains("Format not on whitelist"))
    {
        // "[hls @ 0x...] Format not on whitelist '...'"
        let demuxer = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(" @"))
            .map(|(name, _)| name.trim())
            .unwrap_or("");
        let what = match demuxer {
            "hls" | "applehttp" => "an HLS playlist, which only points to other files".to_owned(),
            "dash" => "a DASH manifest, which only points to other files".to_owned(),
            "concat" => "an ffmpeg concat list, which only points to other files".to_owned(),
            "tty" => "a text file".to_owned(),
            "" => "a kind of file we do not accept".to_owned(),
            other => format!("a {other} file, a format we do not accept"),
        };
        return Refusal::new(
            "disallowed_container",
            format!("The file is not a video we can read (it looks like {what})."),
        );
    }
    if stderr.contains("Protocol not on whitelist") || stderr.contains("not on whitelist") {
        return Refusal::new(
            "disallowed_container",
            "The file is not a video we can read: it refers to other files or addresses.",
        );
    }
    if stderr.contains("moov atom not found") || stderr.contains("partial file") {
        return Refusal::truncated();
    }
    if stderr.contains("Invalid data found when processing input")
        || stderr.contains("could not find codec parameters")
        || stderr.contains("EBML header parsing failed")
    {
        return Refusal::new(
            "unreadable",
            "The file is not a video we can read: it is damaged or not a video file.",
        );
    }
    Refusal::new(
        "unreadable",
        "The file is not a video we can read: the media reader could not open it.",
    )
}

/// Whether a line of ffmpeg's log (while transcoding) shows the input ends early: an MP4 whose
/// index promises more than the file holds.
pub fn log_shows_truncation(line: &str) -> bool {
    line.contains("partial file") || line.contains("moov atom not found")
}

/// The refusal for an input that turned out truncated while being transcoded.
pub fn truncated_refusal() -> Refusal {
    Refusal::truncated()
}

/// Checks a probed upload against the limits. The first problem found is reported.
pub fn validate(source: &ProbedSource, limits: &Limits) -> Result<(), Refusal> {
    if !is_allowed_demuxer(&source.format_name) {
        let name = source.format_name.split(',').next().unwrap_or("");
        return Err(Refusal::new(
            "disallowed_container",
            format!(
                "The file is not a video we can read (its format, {:?}, is not one we accept: \
                 MP4/MOV, Matroska/WebM, AVI, FLV, MPEG-TS or MPEG-PS).",
                name
            ),
        ));
    }
    if source.size_bytes > limits.max_bytes {
        return Err(Refusal::new(
            "too_large",
            format!(
                "The file is {}; the limit is {}.",
                human_bytes(source.size_bytes),
                human_bytes(limits.max_bytes)
            ),
        ));
    }
    let Some(video) = &source.video else {
        let what = if source.audio.is_some() {
            "it has sound only"
        } else {
            "it has neither picture nor sound"
        };
        return Err(Refusal::new(
            "no_video",
            format!("The file has no video stream ({what})."),
        ));
    };
    if video.width == 0 || video.height == 0 {
        return Err(Refusal::new(
            "unreadable",
            "The video's picture size cannot be read; the file may be damaged.",
        ));
    }
    if !(source.duration_s.is_finite() && source.duration_s > 0.0) {
        return Err(Refusal::new(
            "no_duration",
            "The video's duration is zero or unknown; the file may be damaged or empty.",
        ));
    }
    if let Some(declared) = source.declared_stream_bytes {
        // The streams' own bit rates promise more bytes than the file holds (5 % and 64 KiB of
        // slack for rounding): an MP4 with its index at the front whose end was cut off.
        let size = source.size_bytes;
        if size > 0
            && source.format_name.contains("mp4")
            && declared > size + size / 20 + (64 << 10)
        {
            return Err(Refusal::truncated());
        }
    }
    if source.duration_s > limits.max_duration_s {
        return Err(Refusal::new(
            "too_long",
            format!(
                "The video is {:.1} s long; the limit is {} s.",
                source.duration_s, limits.max_duration_s
            ),
        ));
    }
    let (width, height) = video.display_size();
    if width > limits.max_width || height > limits.max_height {
        return Err(Refusal::new(
            "resolution",
            format!(
                "The video is {width}x{height} pixels; the limit is {}x{}.",
                limits.max_width, limits.max_height
            ),
        ));
    }
    if let Some(fps) = video.fps {
        // ffprobe reports 90000/1 and the like for some variable-rate streams; only a rate that
        // is plausibly real is held against the file.
        if fps > limits.max_fps && fps <= 1000.0 {
            return Err(Refusal::new(
                "frame_rate",
                format!(
                    "The video runs at {fps:.2} frames per second; the limit is {}.",
                    limits.max_fps
                ),
            ));
        }
    }
    Ok(())
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_rotation() {
        assert_eq!(ratio(Some("30/1")), Some(30.0));
        assert_eq!(ratio(Some("0/0")), None);
        assert_eq!(ratio(Some("x")), None);
        assert!((ratio(Some("30000/1001")).unwrap() - 29.97).abs() < 0.001);
        let v = VideoStream {
            codec: "h264".into(),
            width: 1920,
            height: 1080,
            fps: None,
            rotation: Some(270),
            sample_aspect: None,
        };
        assert_eq!(v.display_size(), (1080, 1920));
        let anamorphic = VideoStream {
            width: 720,
            height: 576,
            rotation: None,
            sample_aspect: Some((16, 11)),
            ..v
        };
        assert_eq!(anamorphic.display_size(), (1047, 576));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"").unwrap().code, "not_media");
        assert_eq!(
            sniff(b"#EXTM3U\n#EXTINF:4,\nfile:/etc/passwd\n")
                .unwrap()
                .code,
            "disallowed_container"
        );
        assert_eq!(
            sniff(b"ffconcat version 1.0\nfile 'a.mp4'\n").unwrap().code,
            "disallowed_container"
        );
        assert_eq!(sniff(b"hello, this is text\n").unwrap().code, "not_media");
        assert!(sniff(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41").is_none());
        assert!(sniff(&[0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]).is_none());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(20 << 30), "20.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn garbage_json_is_an_error_not_a_panic() {
        assert!(parse_ffprobe_json(b"").is_err());
        assert!(parse_ffprobe_json(b"[1,2]").is_err());
        let empty = parse_ffprobe_json(b"{}").unwrap();
        assert_eq!(
            validate(&empty, &Limits::default()).unwrap_err().code,
            "disallowed_container"
        );
        let odd =
            br#"{"streams":[{"codec_type":"video","width":-1}],"format":{"format_name":"mov"}}"#;
        assert_eq!(parse_ffprobe_json(odd).unwrap().video.unwrap().width, 0);
        let odd = br#"{"streams":[{"codec_type":"video","avg_frame_rate":"1/0","sample_aspect_ratio":"0:1"}],"format":{"format_name":"mov","duration":"NaN"}}"#;
        let p = parse_ffprobe_json(odd).unwrap();
        assert_eq!(
            validate(&p, &Limits::default()).unwrap_err().code,
            "unreadable"
        );
    }
}

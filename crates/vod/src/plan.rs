//! Which renditions an upload gets.

use ferrocast_ladder::{plan, Ladder, SourceInfo};
use serde::{Deserialize, Serialize};

use crate::ProbedSource;

/// Frame rate assumed for a source whose rate ffprobe could not tell (variable-rate files).
pub const DEFAULT_FPS: f64 = 30.0;
/// Highest frame rate a VOD rendition is encoded at; faster sources are halved (or more).
pub const MAX_RUNG_FPS: f64 = 60.0;
/// A source within this factor above a cap keeps its rate (like the live ladder's rule).
const REDUCE_ABOVE: f64 = 1.05;

/// One rendition to encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VodRung {
    /// Name, `[a-z0-9_-]`: the folder `v/{name}/`, the DASH representation id and the FLV
    /// `{name}.flv` between jobs.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Target and maximum video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Output frame rate (what players are told).
    pub fps: f64,
    /// The source's rate when frames are dropped to reach `fps`; `None` when every source frame
    /// is kept.
    #[serde(default)]
    pub reduced_from: Option<f64>,
}

/// Bitrate (kbit/s) of the top rendition by height (the short side for portrait video), for H.264 at up to 30 fps, near Apple's HLS
/// authoring recommendations; above 30 fps it is 1.5 times this.
pub const TOP_KBPS_BY_HEIGHT: &[(u32, u32)] = &[
    (240, 400),
    (360, 800),
    (480, 1400),
    (540, 2000),
    (720, 3000),
    (1080, 5000),
    (1440, 9000),
    (2160, 16000),
    (u32::MAX, 24000),
];

/// The video bitrate (kbit/s) of a top rendition of this height and frame rate.
pub fn top_kbps(height: u32, fps: f64) -> u32 {
    let base = TOP_KBPS_BY_HEIGHT
        .iter()
        .find(|(h, _)| height <= *h)
        .map_or(24000, |(_, kbps)| *kbps);
    if fps > 30.0 * REDUCE_ABOVE {
        base.saturating_mul(3) / 2
    } else {
        base
    }
}

/// `(fps, reduced_from)` for a rung capped at `cap`: the source's rate divided by the smallest
/// whole number that brings it to at most the cap, so every kept frame is a source frame.
fn capped_rate(source_fps: Option<f64>, cap: f64) -> (f64, Option<f64>) {
    match source_fps {
        Some(s) if s > cap * REDUCE_ABOVE => (s / (s / (cap * REDUCE_ABOVE)).ceil(), Some(s)),
        Some(s) => (s, None),
        None => (DEFAULT_FPS.min(cap), None),
    }
}

fn even(v: u32) -> u32 {
    (v / 2 * 2).max(2)
}

/// The renditions of `source`: first the top one at the source's displayed size (re-encoded, even
/// dimensions, bitrate from [`TOP_KBPS_BY_HEIGHT`], frame rate capped at [`MAX_RUNG_FPS`]), named
/// `{height}p`; then the ladder's rungs below it ([`ferrocast_ladder::plan`]: never upscaled,
/// widths from the source's aspect ratio, frame rates capped per rung), in the ladder's order.
///
/// The ladder's `enabled` flag is about live channels and is ignored here: an upload always gets
/// the lower rungs. A rung whose name or height equals the top's is left out. Empty when the
/// source has no video.
pub fn vod_rungs(ladder: &Ladder, source: &ProbedSource) -> Vec<VodRung> {
    let Some(video) = &source.video else {
        return Vec::new();
    };
    let (w, h) = video.display_size();
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let (width, height) = (even(w), even(h));
    let source_fps = video
        .fps
        .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1000.0);
    let (fps, reduced_from) = capped_rate(source_fps, MAX_RUNG_FPS);
    let top = VodRung {
        name: format!("{height}p"),
        width,
        height,
        // Portrait video is rated by its short side, like the landscape video of the same size.
        video_kbps: top_kbps(height.min(width), fps),
        fps,
        reduced_from,
    };
    let ladder = Ladder {
        enabled: true,
        rungs: ladder.rungs.clone(),
    };
    let info = SourceInfo {
        width,
        height,
        frame_rate: source_fps.unwrap_or(0.0),
        has_audio: source.audio.is_some(),
    };
    let lower = plan(&ladder, &info)
        .into_iter()
        .filter(|r| r.height < top.height && r.name != top.name)
        .map(|r| VodRung {
            name: r.name,
            width: r.width,
            height: r.height,
            // A lower rung never gets more bits than the top one.
            video_kbps: r.video_bitrate_kbps.min(top.video_kbps),
            fps: r.frame_rate,
            reduced_from: r.reduced_from,
        });
    std::iter::once(top.clone()).chain(lower).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoStream;

    fn source(width: u32, height: u32, fps: Option<f64>) -> ProbedSource {
        ProbedSource {
            format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_s: 10.0,
            size_bytes: 1000,
            video: Some(VideoStream {
                codec: "h264".into(),
                width,
                height,
                fps,
                rotation: None,
                sample_aspect: None,
            }),
            audio: None,
            declared_stream_bytes: None,
        }
    }

    fn names(rungs: &[VodRung]) -> Vec<(&str, u32, u32, u32)> {
        rungs
            .iter()
            .map(|r| (r.name.as_str(), r.width, r.height, r.video_kbps))
            .collect()
    }

    #[test]
    fn top_at_source_size_then_lower_rungs() {
        let ladder = Ladder::default();
        let r = vod_rungs(&ladder, &source(1920, 1080, Some(30.0)));
        assert_eq!(
            names(&r),
            [
                ("1080p", 1920, 1080, 5000),
                ("720p", 1280, 720, 3000),
                ("480p", 854, 480, 1400),
                ("360p", 640, 360, 800)
            ]
        );
        let r = vod_rungs(&ladder, &source(1280, 720, Some(30.0)));
        assert_eq!(names(&r)[0], ("720p", 1280, 720, 3000));
        assert_eq!(r.len(), 3);
        // Odd sizes are made even; the 720p rung is not duplicated.
        let r = vod_rungs(&ladder, &source(1281, 721, Some(25.0)));
        assert_eq!(names(&r)[0], ("720p", 1280, 720, 3000));
        assert_eq!(r.iter().filter(|r| r.name == "720p").count(), 1);
        // Small sources: no upscaling, just the top.
        let r = vod_rungs(&ladder, &source(320, 240, None));
        assert_eq!(names(&r), [("240p", 320, 240, 400)]);
        assert_eq!(r[0].fps, 30.0);
        assert!(vod_rungs(&ladder, &source(0, 0, None)).is_empty());
    }

    #[test]
    fn frame_rates_are_capped() {
        let r = vod_rungs(&Ladder::default(), &source(1920, 1080, Some(120.0)));
        assert_eq!((r[0].fps, r[0].reduced_from), (60.0, Some(120.0)));
        assert_eq!(r[0].video_kbps, 7500);
        assert_eq!((r[1].fps, r[1].reduced_from), (30.0, Some(120.0)));
        let r = vod_rungs(&Ladder::default(), &source(1920, 1080, Some(59.94)));
        assert_eq!((r[0].fps, r[0].reduced_from), (59.94, None));
        assert!((r[1].fps - 29.97).abs() < 1e-9);
    }

    #[test]
    fn portrait_video_uses_its_displayed_size() {
        let mut s = source(1920, 1080, Some(30.0));
        if let Some(v) = s.video.as_mut() {
            v.rotation = Some(90);
        }
        let r = vod_rungs(&Ladder::default(), &s);
        assert_eq!(names(&r)[0], ("1920p", 1080, 1920, 5000));
        assert_eq!(names(&r)[1], ("720p", 406, 720, 3000));
    }
}

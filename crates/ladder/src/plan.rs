//! Which rungs a given source gets, at what size and frame rate.

use serde::Serialize;

use crate::Ladder;

/// A source frame rate within this factor above a rung's is not reduced: 30.5 fps stays 30.5
/// rather than losing a frame every two seconds.
const REDUCE_ABOVE: f64 = 1.05;

/// What the transcoder is told about the live source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceInfo {
    /// Picture width in pixels (square pixels assumed).
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second; 0 or not finite when unknown, then each rung's rate is assumed.
    pub frame_rate: f64,
    /// Whether the source carries an audio track; it then must, or ffmpeg fails to start.
    pub has_audio: bool,
}

/// A rung as it will be encoded for one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedRung {
    /// The rung's name.
    pub name: String,
    /// Output width: the source's aspect ratio at `height`, rounded to even.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Target and maximum video bitrate in kbit/s.
    pub video_bitrate_kbps: u32,
    /// AAC bitrate in kbit/s; `None` when the source has no audio.
    pub audio_bitrate_kbps: Option<u32>,
    /// Frame rate told to the encoder (its rate control depends on it).
    pub frame_rate: f64,
    /// The source's frame rate when frames are dropped to reach `frame_rate`; `None` when every
    /// source frame is encoded.
    pub reduced_from: Option<f64>,
    /// The rung's preset, if it names one.
    pub preset: Option<String>,
}

/// The rungs of `ladder` for `source`: none when disabled; rungs at or above the source's height
/// are left out (never upscale); frame rate is min(rung, source). Order is the ladder's.
pub fn plan(ladder: &Ladder, source: &SourceInfo) -> Vec<PlannedRung> {
    if !ladder.enabled || source.width == 0 || source.height == 0 {
        return Vec::new();
    }
    let source_rate =
        (source.frame_rate.is_finite() && source.frame_rate > 0.0).then_some(source.frame_rate);
    ladder
        .rungs
        .iter()
        .filter(|r| r.height < source.height)
        .map(|r| {
            let rung_rate = f64::from(r.frame_rate);
            let (frame_rate, reduced_from) = match source_rate {
                Some(s) if s > rung_rate * REDUCE_ABOVE => (rung_rate, Some(s)),
                Some(s) => (s, None),
                None => (rung_rate, None),
            };
            PlannedRung {
                name: r.name.clone(),
                width: even_width(source, r.height),
                height: r.height,
                video_bitrate_kbps: r.video_bitrate_kbps,
                audio_bitrate_kbps: source.has_audio.then_some(r.audio_bitrate_kbps),
                frame_rate,
                reduced_from,
                preset: r.preset.clone(),
            }
        })
        .collect()
}

/// `height * width / height` of the source, to the nearest even number (4:2:0 needs even sizes).
fn even_width(source: &SourceInfo, height: u32) -> u32 {
    let (w, h) = (u64::from(source.width), u64::from(source.height));
    let half = (u64::from(height) * w + h) / (2 * h);
    u32::try_from(half.max(1) * 2).unwrap_or(u32::MAX - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(width: u32, height: u32, frame_rate: f64) -> SourceInfo {
        SourceInfo {
            width,
            height,
            frame_rate,
            has_audio: true,
        }
    }

    #[test]
    fn widths_follow_the_aspect_ratio() {
        assert_eq!(even_width(&source(1920, 1080, 30.0), 720), 1280);
        assert_eq!(even_width(&source(1920, 1080, 30.0), 480), 854);
        assert_eq!(even_width(&source(1920, 1080, 30.0), 360), 640);
        assert_eq!(even_width(&source(1440, 1080, 30.0), 480), 640);
        assert_eq!(even_width(&source(1080, 1920, 30.0), 720), 406);
        assert_eq!(even_width(&source(1, 4000, 30.0), 144), 2);
    }

    #[test]
    fn frame_rates() {
        let ladder = Ladder {
            enabled: true,
            ..Ladder::default()
        };
        let rates = |fps: f64| {
            let p = plan(&ladder, &source(1920, 1080, fps));
            (p[0].frame_rate, p[0].reduced_from)
        };
        assert_eq!(rates(60.0), (30.0, Some(60.0)));
        assert_eq!(rates(50.0), (30.0, Some(50.0)));
        assert_eq!(rates(30.0), (30.0, None));
        assert_eq!(rates(31.0), (31.0, None));
        assert_eq!(rates(29.97), (29.97, None));
        assert_eq!(rates(24.0), (24.0, None));
        assert_eq!(rates(0.0), (30.0, None));
        assert_eq!(rates(f64::NAN), (30.0, None));
    }
}

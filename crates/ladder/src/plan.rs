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
/// are left out (never upscale). A rung keeps the source's frame rate up to its own; above it,
/// the source's rate divided by the smallest whole number that brings it to at most the rung's
/// (60 → 30, 50 → 25, 120 → 30): every rung frame is then a source frame at a steady cadence, so
/// the source's part boundaries can fall on frames every rung has ([`part_frame_step`]). Order is
/// the ladder's.
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
                Some(s) if s > rung_rate * REDUCE_ABOVE => {
                    (s / (s / (rung_rate * REDUCE_ABOVE)).ceil(), Some(s))
                }
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

/// Every how many source frames a part of the source may start so that each planned rung has a
/// frame there: the least common multiple of the rungs' frame-rate divisors (1 when no rung drops
/// frames), at most 8.
pub fn part_frame_step(planned: &[PlannedRung]) -> u32 {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    planned
        .iter()
        .filter_map(|r| {
            let divisor = r.reduced_from? / r.frame_rate;
            divisor
                .is_finite()
                .then(|| divisor.round().clamp(1.0, 8.0) as u32)
        })
        .fold(1, |step, d| (step / gcd(step, d) * d).min(8))
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
    fn part_step_is_where_every_rung_has_a_frame() {
        let rung = |fps: f64, from: Option<f64>| PlannedRung {
            name: "r".into(),
            width: 640,
            height: 360,
            video_bitrate_kbps: 800,
            audio_bitrate_kbps: None,
            frame_rate: fps,
            reduced_from: from,
            preset: None,
        };
        assert_eq!(part_frame_step(&[]), 1);
        assert_eq!(part_frame_step(&[rung(30.0, None)]), 1);
        assert_eq!(
            part_frame_step(&[rung(60.0, None), rung(30.0, Some(60.0))]),
            2
        );
        assert_eq!(
            part_frame_step(&[rung(30.0, Some(120.0)), rung(60.0, Some(120.0))]),
            4
        );
        assert_eq!(
            part_frame_step(&[rung(40.0, Some(120.0)), rung(30.0, Some(120.0))]),
            8
        );
        assert_eq!(part_frame_step(&[rung(29.97, Some(59.94))]), 2);
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
        assert_eq!(rates(50.0), (25.0, Some(50.0)));
        assert_eq!(rates(120.0), (30.0, Some(120.0)));
        assert_eq!(rates(48.0), (24.0, Some(48.0)));
        assert!((rates(59.94).0 - 29.97).abs() < 1e-9);
        assert_eq!(rates(30.0), (30.0, None));
        assert_eq!(rates(31.0), (31.0, None));
        assert_eq!(rates(29.97), (29.97, None));
        assert_eq!(rates(24.0), (24.0, None));
        assert_eq!(rates(0.0), (30.0, None));
        assert_eq!(rates(f64::NAN), (30.0, None));
    }
}

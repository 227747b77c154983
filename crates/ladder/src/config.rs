//! The ladder as configured: rungs, defaults and validation.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::{Encoder, LadderError};

/// Most rungs a ladder may have: each is a full encode in the channel's ffmpeg process.
pub const MAX_RUNGS: usize = 8;
/// Longest rung name, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Name reserved for the untranscoded source rendition.
pub const RESERVED_NAME: &str = "source";
/// Allowed rung heights in pixels (even values only).
pub const HEIGHT_RANGE: RangeInclusive<u32> = 144..=2160;
/// Allowed video bitrates in kbit/s.
pub const VIDEO_KBPS_RANGE: RangeInclusive<u32> = 100..=50_000;
/// Allowed AAC stereo bitrates in kbit/s.
pub const AUDIO_KBPS_RANGE: RangeInclusive<u32> = 32..=320;
/// Allowed frame rates in frames per second.
pub const FRAME_RATE_RANGE: RangeInclusive<u32> = 1..=120;

/// One rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Rendition name, `[a-z0-9_-]{1,32}`, unique, not `source`; used in URLs and file names.
    pub name: String,
    /// Output height in pixels; the width follows the source's aspect ratio.
    pub height: u32,
    /// Target (and maximum) video bitrate in kbit/s.
    pub video_bitrate_kbps: u32,
    /// AAC stereo bitrate in kbit/s, used when the source has audio.
    pub audio_bitrate_kbps: u32,
    /// Highest frame rate; a faster source is reduced to it, a slower one is kept as it is.
    pub frame_rate: u32,
    /// Encoder preset; `None` takes the encoder's default ([`Encoder::default_preset`]).
    #[serde(default)]
    pub preset: Option<String>,
}

impl Rung {
    fn new(name: &str, height: u32, video: u32, audio: u32, frame_rate: u32) -> Self {
        Self {
            name: name.to_owned(),
            height,
            video_bitrate_kbps: video,
            audio_bitrate_kbps: audio,
            frame_rate,
            preset: None,
        }
    }
}

/// The renditions a live channel is transcoded into, besides its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ladder {
    /// Whether channels are transcoded at all; off by default since every rung costs an encode.
    pub enabled: bool,
    /// The renditions, in the order they are listed to players (highest first by convention).
    pub rungs: Vec<Rung>,
}

impl Default for Ladder {
    /// Disabled; rungs 720p30 (3000k), 480p30 (1400k) and 360p30 (800k), near Apple's and
    /// Twitch's recommendations for H.264 at those sizes, with 128k/96k/96k AAC.
    fn default() -> Self {
        Self {
            enabled: false,
            rungs: vec![
                Rung::new("720p", 720, 3000, 128, 30),
                Rung::new("480p", 480, 1400, 96, 30),
                Rung::new("360p", 360, 800, 96, 30),
            ],
        }
    }
}

impl Ladder {
    /// No rungs: the source only.
    pub fn source_only() -> Self {
        Self {
            enabled: false,
            rungs: Vec::new(),
        }
    }

    /// Exactly these rungs, enabled (an empty list fails [`Self::validate`]).
    pub fn of(rungs: Vec<Rung>) -> Self {
        Self {
            enabled: true,
            rungs,
        }
    }

    /// Checks every rung; presets must be known to at least one encoder (see [`Self::validate_for`]).
    pub fn validate(&self) -> Result<(), LadderError> {
        self.check(|rung, preset| {
            ensure(Encoder::all_presets().any(|p| p == preset), || {
                LadderError::UnknownPreset {
                    rung: rung.to_owned(),
                    preset: preset.to_owned(),
                }
            })
        })
    }

    /// Like [`Self::validate`], with presets checked against `encoder`'s own list.
    pub fn validate_for(&self, encoder: &Encoder) -> Result<(), LadderError> {
        self.check(|rung, preset| encoder.check_preset(rung, preset))
    }

    fn check(
        &self,
        check_preset: impl Fn(&str, &str) -> Result<(), LadderError>,
    ) -> Result<(), LadderError> {
        ensure(self.rungs.len() <= MAX_RUNGS, || {
            LadderError::TooManyRungs {
                count: self.rungs.len(),
                max: MAX_RUNGS,
            }
        })?;
        ensure(!self.enabled || !self.rungs.is_empty(), || {
            LadderError::NoRungs
        })?;
        let mut names = HashSet::new();
        for r in &self.rungs {
            check_name(&r.name)?;
            ensure(names.insert(r.name.as_str()), || {
                LadderError::DuplicateName {
                    name: r.name.clone(),
                }
            })?;
            let rung = || r.name.clone();
            ensure(
                HEIGHT_RANGE.contains(&r.height) && r.height % 2 == 0,
                || LadderError::InvalidHeight {
                    rung: rung(),
                    height: r.height,
                },
            )?;
            ensure(VIDEO_KBPS_RANGE.contains(&r.video_bitrate_kbps), || {
                LadderError::VideoBitrateOutOfRange {
                    rung: rung(),
                    kbps: r.video_bitrate_kbps,
                }
            })?;
            ensure(AUDIO_KBPS_RANGE.contains(&r.audio_bitrate_kbps), || {
                LadderError::AudioBitrateOutOfRange {
                    rung: rung(),
                    kbps: r.audio_bitrate_kbps,
                }
            })?;
            ensure(FRAME_RATE_RANGE.contains(&r.frame_rate), || {
                LadderError::FrameRateOutOfRange {
                    rung: rung(),
                    fps: r.frame_rate,
                }
            })?;
            if let Some(preset) = &r.preset {
                check_preset(&r.name, preset)?;
            }
        }
        Ok(())
    }
}

/// `Ok` when `ok`, else the error `error` builds.
pub(crate) fn ensure(ok: bool, error: impl FnOnce() -> LadderError) -> Result<(), LadderError> {
    if ok {
        Ok(())
    } else {
        Err(error())
    }
}

fn check_name(name: &str) -> Result<(), LadderError> {
    let valid = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    ensure(valid, || LadderError::InvalidName {
        name: name.to_owned(),
    })?;
    ensure(name != RESERVED_NAME, || LadderError::ReservedName {
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(name: &str, height: u32) -> Rung {
        Rung::new(name, height, 800, 96, 30)
    }

    #[test]
    fn errors_name_the_rung_and_field() {
        let field = |rungs: Vec<Rung>| {
            let e = Ladder::of(rungs).validate().unwrap_err();
            e.rung_field().map(|(r, f)| (r.to_owned(), f))
        };
        let named = |r: &str, f: &'static str| Some((r.to_owned(), f));
        assert_eq!(field(vec![rung("a", 361)]), named("a", "height"));
        assert_eq!(field(vec![rung("A", 360)]), named("A", "name"));
        assert_eq!(field(vec![rung("source", 360)]), named("source", "name"));
        assert_eq!(
            field(vec![rung("a", 360), rung("a", 240)]),
            named("a", "name")
        );
        let mut r = rung("a", 360);
        r.video_bitrate_kbps = 1;
        assert_eq!(field(vec![r]), named("a", "video_bitrate_kbps"));
        let mut r = rung("a", 360);
        r.audio_bitrate_kbps = 1000;
        assert_eq!(field(vec![r]), named("a", "audio_bitrate_kbps"));
        let mut r = rung("a", 360);
        r.frame_rate = 0;
        assert_eq!(field(vec![r]), named("a", "frame_rate"));
        let mut r = rung("a", 360);
        r.preset = Some("warp".into());
        assert_eq!(field(vec![r]), named("a", "preset"));
        assert_eq!(field(vec![]), None, "no rungs is about the whole ladder");
        assert_eq!(Ladder::of(vec![rung("a", 360)]).validate(), Ok(()));
        assert_eq!(Ladder::source_only().validate(), Ok(()));
    }
}

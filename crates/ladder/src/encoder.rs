//! The H.264 encoders we drive, their options, and the trial encode that tells whether one works.

use serde::{Deserialize, Serialize};

use crate::args::{push, push_all};
use crate::config::ensure;
use crate::LadderError;

/// Render node used for VAAPI when the configuration names none.
pub const DEFAULT_VAAPI_DEVICE: &str = "/dev/dri/renderD128";

/// Name of the VAAPI device inside ffmpeg (`-init_hw_device vaapi=NAME:...`).
pub(crate) const VAAPI_DEVICE_NAME: &str = "va";

/// GOP length cap in frames: far above any source keyframe interval, so that keyframes come only
/// where the source has them; within QSV's 16-bit GopPicSize.
pub(crate) const MAX_GOP_FRAMES: u32 = 30_000;

const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];
const NVENC_PRESETS: &[&str] = &["p1", "p2", "p3", "p4", "p5", "p6", "p7"];
const QSV_PRESETS: &[&str] = &[
    "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
];

/// An H.264 encoder ffmpeg can use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Encoder {
    /// Software, libx264.
    X264,
    /// NVIDIA NVENC.
    Nvenc,
    /// VAAPI (Intel, AMD) through a DRM render node such as [`DEFAULT_VAAPI_DEVICE`].
    Vaapi {
        /// Path of the render node.
        device: String,
    },
    /// Intel Quick Sync Video.
    Qsv,
}

impl Encoder {
    /// The encoders in auto-pick order: hardware first, x264 last, VAAPI on `vaapi_device`.
    pub fn preference_order(vaapi_device: &str) -> [Encoder; 4] {
        [
            Encoder::Nvenc,
            Encoder::Qsv,
            Encoder::Vaapi {
                device: vaapi_device.to_owned(),
            },
            Encoder::X264,
        ]
    }

    /// The first encoder in [`Self::preference_order`] for which `works` (e.g. running
    /// [`Self::probe_args`] and checking the exit status) says yes.
    pub fn pick(vaapi_device: &str, mut works: impl FnMut(&Encoder) -> bool) -> Option<Encoder> {
        Self::preference_order(vaapi_device)
            .into_iter()
            .find(|e| works(e))
    }

    /// ffmpeg's name for the encoder (`-c:v`).
    pub fn ffmpeg_name(&self) -> &'static str {
        match self {
            Self::X264 => "libx264",
            Self::Nvenc => "h264_nvenc",
            Self::Vaapi { .. } => "h264_vaapi",
            Self::Qsv => "h264_qsv",
        }
    }

    /// Presets the encoder accepts in [`Rung::preset`](crate::Rung::preset); VAAPI has none.
    pub fn presets(&self) -> &'static [&'static str] {
        match self {
            Self::X264 => X264_PRESETS,
            Self::Nvenc => NVENC_PRESETS,
            Self::Vaapi { .. } => &[],
            Self::Qsv => QSV_PRESETS,
        }
    }

    /// The preset used when a rung names none: fast enough for several live encodes at once.
    pub fn default_preset(&self) -> Option<&'static str> {
        match self {
            Self::X264 => Some("veryfast"),
            Self::Nvenc => Some("p4"),
            Self::Vaapi { .. } => None,
            Self::Qsv => Some("medium"),
        }
    }

    pub(crate) fn all_presets() -> impl Iterator<Item = &'static str> {
        [X264_PRESETS, NVENC_PRESETS, QSV_PRESETS]
            .into_iter()
            .flatten()
            .copied()
    }

    pub(crate) fn check_preset(&self, rung: &str, preset: &str) -> Result<(), LadderError> {
        ensure(self.presets().contains(&preset), || {
            LadderError::PresetNotSupported {
                rung: rung.to_owned(),
                preset: preset.to_owned(),
                encoder: self.ffmpeg_name(),
            }
        })
    }

    /// Global options that create the hardware device filters upload to (VAAPI only).
    pub(crate) fn device_args(&self, out: &mut Vec<String>) -> Result<(), LadderError> {
        if let Self::Vaapi { device } = self {
            // The device string sits inside ffmpeg's `type=name:device,opts` syntax.
            let valid = device.starts_with('/')
                && device
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b));
            ensure(valid, || LadderError::InvalidDevice {
                device: device.clone(),
            })?;
            push(out, "-init_hw_device");
            out.push(format!("vaapi={VAAPI_DEVICE_NAME}:{device}"));
            push_all(out, &["-filter_hw_device", VAAPI_DEVICE_NAME]);
        }
        Ok(())
    }

    /// Filters run once on the decoded source before it is split per rung.
    pub(crate) fn shared_filters(&self) -> Option<&'static str> {
        match self {
            // Upload once; every rung then scales on the GPU.
            Self::Vaapi { .. } => Some("format=nv12,hwupload"),
            _ => None,
        }
    }

    /// The per-rung scaler to `width`x`height` in the pixel format the encoder takes.
    pub(crate) fn scale_filter(&self, width: u32, height: u32) -> String {
        match self {
            Self::X264 | Self::Nvenc => format!("scale={width}:{height},format=yuv420p"),
            Self::Qsv => format!("scale={width}:{height},format=nv12"),
            Self::Vaapi { .. } => format!("scale_vaapi=w={width}:h={height}:format=nv12"),
        }
    }

    /// `-c:v` and the encoder's own options: preset, low latency, no scene-cut keyframes,
    /// forced keyframes as IDR, rate control, High profile. Generic options are added by the caller.
    pub(crate) fn codec_args(&self, preset: Option<&str>, out: &mut Vec<String>) {
        push_all(out, &["-c:v", self.ffmpeg_name()]);
        if let Some(preset) = preset.or(self.default_preset()) {
            push_all(out, &["-preset", preset]);
        }
        match self {
            Self::X264 => push_all(
                out,
                &[
                    "-tune",
                    "zerolatency",
                    "-sc_threshold",
                    "0",
                    "-forced-idr",
                    "1",
                ],
            ),
            Self::Nvenc => push_all(
                out,
                &[
                    "-tune",
                    "ll",
                    "-zerolatency",
                    "1",
                    "-rc",
                    "cbr",
                    "-no-scenecut",
                    "1",
                    "-forced-idr",
                    "1",
                ],
            ),
            Self::Vaapi { .. } => push_all(out, &["-rc_mode", "CBR"]),
            Self::Qsv => push_all(out, &["-forced_idr", "1"]),
        }
        push_all(out, &["-profile:v", "high", "-bf", "0"]);
    }

    /// ffmpeg arguments (after the program name) of a trial encode: 5 frames of a 256x144 test
    /// pattern through the same filters and encoder options as a real rung, to `-f null -`.
    /// Exit status 0 means the encoder works here.
    pub fn probe_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        push_all(
            &mut out,
            &["-hide_banner", "-nostdin", "-loglevel", "error"],
        );
        // An invalid VAAPI device makes the probe fail, which is the answer wanted.
        let _ = self.device_args(&mut out);
        push_all(
            &mut out,
            &["-f", "lavfi", "-i", "testsrc=size=256x144:rate=30"],
        );
        let scale = self.scale_filter(256, 144);
        push(&mut out, "-vf");
        out.push(match self.shared_filters() {
            Some(shared) => format!("{shared},{scale}"),
            None => scale,
        });
        self.codec_args(None, &mut out);
        push_all(
            &mut out,
            &["-b:v", "200k", "-frames:v", "5", "-f", "null", "-"],
        );
        out
    }
}

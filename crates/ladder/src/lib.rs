//! The ABR ladder of a live channel and the ffmpeg command line that produces it.
//!
//! Pure functions, no I/O: [`Ladder`] is the configuration, [`plan`] fits it to a source
//! ([`SourceInfo`]), [`ffmpeg_args`] turns the plan into the arguments of **one** ffmpeg process
//! per channel that decodes the source once and encodes every rung, and [`Encoder::probe_args`]
//! is the trial encode that tells whether an encoder works on this machine
//! ([`Encoder::pick`] walks them in preference order: NVENC, QSV, VAAPI, x264).
//!
//! # The process
//!
//! - **stdin** (`pipe:0`): the source as FLV (H.264 + AAC), e.g. from `ferrocast_flv::FlvWriter`.
//!   Timestamps are kept (`-copyts`), so the rungs' timestamps are the source's.
//! - **stdout** (`pipe:1`): the progress report, `-progress pipe:1 -stats_period 1 -nostats`: every
//!   second a block of `key=value` lines (`frame`, `fps`, `bitrate`, `out_time_us`, `dup_frames`,
//!   `drop_frames`, `speed`, ...) ended by `progress=continue`, or `progress=end` at exit. Stdout
//!   rather than stderr so that it never interleaves with log lines.
//! - **stderr**: the log, `-loglevel repeat+level+warning`: warnings and errors only, each line
//!   tagged with its level (`[warning]`, `[error]`, `[fatal]`), repeats not folded.
//! - **outputs**: one FLV per rung at the [`IoSpec`] URL (`unix:`, `pipe:N` with N >= 3, or
//!   `file:`), each output's `-protocol_whitelist` holding only its own protocol, the input's only
//!   `pipe`. Every packet is flushed at once (`-flush_packets 1`), and the FLV muxer does not try
//!   to seek back at the end (`-flvflags no_duration_filesize`), since sockets cannot seek.
//!
//! # Input
//!
//! `-probesize 1000000 -analyzeduration 1000000` bound the stream analysis at start to about one
//! second; it costs start-up time only, as what it reads is then transcoded at full speed.
//! `-fflags nobuffer` is **not** used: it discards the packets read during that analysis, which
//! loses the first keyframe and GOP.
//!
//! # Video
//!
//! - `-filter_complex`: `[0:v:0]split=N`, then per rung an optional frame-rate reducer and a
//!   scaler to the planned size in the encoder's pixel format. x264 and NVENC get `scale` +
//!   `format=yuv420p`, QSV `scale` + `format=nv12`: software decode and scale with the hardware
//!   encoding system-memory frames, because Debian's ffmpeg has no CUDA scaler and the QSV
//!   decode/scale path needs a matching device setup; the encodes are the expensive part. VAAPI
//!   uploads once before the split (`format=nv12,hwupload`, device from `-init_hw_device
//!   vaapi=va:DEVICE -filter_hw_device va`) and scales on the GPU (`scale_vaapi`).
//! - Frame rate: a rung slower than the source by more than 5% drops frames with a `select`
//!   expression rather than `fps=`, which re-times frames onto its own grid and drops source
//!   keyframes that fall between grid points (a 60 fps source with keyframes on odd frames), so
//!   the rung would lose alignment. The encoder is told the rung's rate with `-r:v` and
//!   `-fps_mode:v passthrough` so that no frame is duplicated or dropped after the filters: rate
//!   control divides the bitrate by it (without it, x264 spent half the bitrate on a 60-to-30
//!   rung).
//! - Keyframes only where the source has them: `-force_key_frames:v source`, forced keyframes as
//!   IDR (`-forced-idr 1`; QSV `-forced_idr 1`; VAAPI makes forced I frames IDR itself), no
//!   scene-cut keyframes (x264 `-sc_threshold 0`, NVENC `-no-scenecut 1`), and `-g`/`-keyint_min`
//!   30000 so the encoder's own GOP never triggers. `-bf 0`: no B-frames, decode order is
//!   presentation order and DTS = PTS.
//! - `-enc_time_base:v 1:1000` (the FLV millisecond clock). `-1` ("match source") does not apply
//!   to filter-graph outputs: ffmpeg 5.1 warns and falls back to 1/frame rate, which rounds the
//!   timestamps and moves keyframes off the source's.
//! - Rate control: `-b:v` = `-maxrate` = the rung's bitrate, `-bufsize` twice that (2 s VBV);
//!   NVENC `-rc cbr`, VAAPI `-rc_mode CBR`, QSV picks CBR from maxrate = bitrate.
//! - `-profile:v high`, which every browser's MSE decoder supports; the level is left to the
//!   encoder, which picks the lowest that fits size, rate and bitrate.
//! - Latency: x264 `-tune zerolatency` (no lookahead, no B-frames, sliced threads: about 10+
//!   frames less delay than `veryfast` alone, for some compression efficiency); NVENC
//!   `-tune ll -zerolatency 1`. Default presets: x264 `veryfast`, NVENC `p4`, QSV `medium`.
//!
//! # Audio
//!
//! Once for all rungs: `[0:a:0]atrim=start=0.025,aresample=48000,aformat=channel_layouts=stereo,
//! asplit=N`, then per rung `-c:a aac -b:a Nk`. The trim drops the first 25 ms of a stream that
//! starts at 0: the AAC encoder's priming would otherwise give its first packet a negative
//! timestamp, and the FLV muxer would shift every stream of the output to compensate. Audio is
//! mapped only when [`SourceInfo::has_audio`] says so; it must then exist, or ffmpeg stops at
//! start with an error.
//!
//! # What is tested how
//!
//! x264 is run for real in the tests (resolutions, keyframe timestamps equal to the source's, no
//! B-frames). NVENC, VAAPI and QSV cannot run on the development machine: their arguments are only
//! checked against golden files and against the options ffmpeg 5.1 lists for those encoders.
#![forbid(unsafe_code)]

mod args;
mod config;
mod encoder;
mod plan;

pub use args::{
    ffmpeg_args, ffmpeg_rate, rate_control_args, IoSpec, ANALYZE_DURATION_US, AUDIO_SAMPLE_RATE,
    AUDIO_START_SECONDS, BUFSIZE_FACTOR, PROBE_SIZE_BYTES,
};
pub use config::{
    Ladder, Rung, AUDIO_KBPS_RANGE, FRAME_RATE_RANGE, HEIGHT_RANGE, MAX_NAME_LEN, MAX_RUNGS,
    RESERVED_NAME, VIDEO_KBPS_RANGE,
};
pub use encoder::{Encoder, DEFAULT_VAAPI_DEVICE};
pub use plan::{part_frame_step, plan, PlannedRung, SourceInfo};

/// Why a ladder is invalid or its command line cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LadderError {
    /// More rungs than [`MAX_RUNGS`].
    #[error("{count} rungs, at most {max} allowed")]
    TooManyRungs {
        /// Rungs configured.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An enabled ladder without rungs.
    #[error("the ladder is enabled but has no rungs")]
    NoRungs,
    /// A rung name outside `[a-z0-9_-]{1,32}`.
    #[error("rung name {name:?} is not 1 to {MAX_NAME_LEN} of a-z, 0-9, '_' and '-'")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// A rung named [`RESERVED_NAME`].
    #[error("rung name {name:?} is reserved for the source rendition")]
    ReservedName {
        /// The name.
        name: String,
    },
    /// Two rungs with one name.
    #[error("two rungs are named {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A height that is odd or outside [`HEIGHT_RANGE`].
    #[error(
        "rung {rung}: height {height} is not an even number in {:?}",
        HEIGHT_RANGE
    )]
    InvalidHeight {
        /// The rung's name.
        rung: String,
        /// The height.
        height: u32,
    },
    /// A video bitrate outside [`VIDEO_KBPS_RANGE`].
    #[error(
        "rung {rung}: video bitrate {kbps} kbit/s is outside {:?}",
        VIDEO_KBPS_RANGE
    )]
    VideoBitrateOutOfRange {
        /// The rung's name.
        rung: String,
        /// The bitrate.
        kbps: u32,
    },
    /// An audio bitrate outside [`AUDIO_KBPS_RANGE`].
    #[error(
        "rung {rung}: audio bitrate {kbps} kbit/s is outside {:?}",
        AUDIO_KBPS_RANGE
    )]
    AudioBitrateOutOfRange {
        /// The rung's name.
        rung: String,
        /// The bitrate.
        kbps: u32,
    },
    /// A frame rate outside [`FRAME_RATE_RANGE`].
    #[error("rung {rung}: frame rate {fps} is outside {:?}", FRAME_RATE_RANGE)]
    FrameRateOutOfRange {
        /// The rung's name.
        rung: String,
        /// The frame rate.
        fps: u32,
    },
    /// A preset no encoder knows.
    #[error("rung {rung}: no encoder has a preset {preset:?}")]
    UnknownPreset {
        /// The rung's name.
        rung: String,
        /// The preset.
        preset: String,
    },
    /// A preset the chosen encoder does not have (presets are encoder-specific).
    #[error("rung {rung}: {encoder} has no preset {preset:?}")]
    PresetNotSupported {
        /// The rung's name.
        rung: String,
        /// The preset.
        preset: String,
        /// The encoder's ffmpeg name.
        encoder: &'static str,
    },
    /// A VAAPI device that is not an absolute path of `[A-Za-z0-9/_.-]`.
    #[error(
        "VAAPI device {device:?} is not an absolute path of A-Z, a-z, 0-9, '/', '_', '.', '-'"
    )]
    InvalidDevice {
        /// The device.
        device: String,
    },
    /// No rung to encode (ladder disabled, or the source no taller than any rung).
    #[error("the plan has no rungs; there is nothing to run")]
    EmptyPlan,
    /// [`IoSpec::outputs`] does not have one URL per planned rung.
    #[error("{rungs} planned rungs but {outputs} outputs")]
    OutputCountMismatch {
        /// Planned rungs.
        rungs: usize,
        /// Outputs given.
        outputs: usize,
    },
    /// An output URL we do not write to.
    #[error("output {url:?}: {reason}")]
    InvalidOutput {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl LadderError {
    /// The rung and the field of [`Rung`] at fault, when the error is about one rung's setting.
    pub fn rung_field(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::InvalidName { name }
            | Self::ReservedName { name }
            | Self::DuplicateName { name } => Some((name, "name")),
            Self::InvalidHeight { rung, .. } => Some((rung, "height")),
            Self::VideoBitrateOutOfRange { rung, .. } => Some((rung, "video_bitrate_kbps")),
            Self::AudioBitrateOutOfRange { rung, .. } => Some((rung, "audio_bitrate_kbps")),
            Self::FrameRateOutOfRange { rung, .. } => Some((rung, "frame_rate")),
            Self::UnknownPreset { rung, .. } | Self::PresetNotSupported { rung, .. } => {
                Some((rung, "preset"))
            }
            _ => None,
        }
    }
}

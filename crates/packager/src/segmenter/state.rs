//! State of a running stream: buffered frames, the open segment, per-track timing.

use super::*;

/// Frames waiting for the track set to be known.
#[derive(Default)]
pub(super) struct Pending {
    /// (arrival wall clock, frame).
    pub(super) frames: VecDeque<(i64, Frame)>,
    pub(super) bytes: usize,
    pub(super) first_key_dts: Option<i64>,
    pub(super) first_audio_dts: Option<i64>,
    pub(super) last_dts: Option<i64>,
    pub(super) last_audio_dts: Option<i64>,
}

impl Pending {
    pub(super) fn clear(&mut self) {
        *self = Pending::default();
    }

    pub(super) fn has_video(&self) -> bool {
        self.first_key_dts.is_some()
    }

    pub(super) fn push(&mut self, now_ms: i64, frame: Frame) {
        if frame.kind == TrackKind::Video && self.first_key_dts.is_none() {
            self.first_key_dts = Some(frame.dts);
        }
        if frame.kind == TrackKind::Audio {
            self.first_audio_dts.get_or_insert(frame.dts);
            self.last_audio_dts = Some(frame.dts);
        }
        self.last_dts = Some(self.last_dts.map_or(frame.dts, |d| d.max(frame.dts)));
        self.bytes += frame.data.len();
        self.frames.push_back((now_ms, frame));
    }

    pub(super) fn drop_kind(&mut self, kind: TrackKind) {
        self.frames.retain(|(_, f)| f.kind != kind);
        self.bytes = self.frames.iter().map(|(_, f)| f.data.len()).sum();
        match kind {
            TrackKind::Video => self.first_key_dts = None,
            TrackKind::Audio => {
                self.first_audio_dts = None;
                self.last_audio_dts = None;
            }
        }
    }
}

pub(super) struct VideoSample {
    pub(super) dts: i64,
    pub(super) cts: i32,
    pub(super) keyframe: bool,
    pub(super) data: Bytes,
}

pub(super) struct AudioSample {
    /// Decode time in samples (the audio track's timescale).
    pub(super) decode: u64,
    pub(super) data: Bytes,
}

/// The samples of one CMAF fragment being gathered. A segment is one part for now; Low-Latency
/// HLS will close several parts per segment, each its own fragment.
#[derive(Default)]
pub(super) struct Part {
    pub(super) video: Vec<VideoSample>,
    pub(super) audio: Vec<AudioSample>,
    pub(super) bytes: usize,
}

impl Part {
    pub(super) fn samples(&self) -> usize {
        self.video.len() + self.audio.len()
    }
}

pub(super) struct OpenSegment {
    /// Media time (shifted ms) of the first sample.
    pub(super) start_ms: i64,
    /// Wall-clock time of the first sample.
    pub(super) wall_ms: i64,
    pub(super) independent: bool,
    pub(super) part: Part,
}

pub(super) struct VideoTrack {
    pub(super) config: VideoConfig,
    pub(super) last_dts: Option<i64>,
    pub(super) last_interval: i64,
    pub(super) last_key_dts: Option<i64>,
    pub(super) gop_ms: Option<i64>,
    /// After a configuration change, frames are dropped until the next keyframe.
    pub(super) wait_keyframe: bool,
}

pub(super) struct AudioTrack {
    pub(super) config: AudioConfig,
    pub(super) next_decode: Option<u64>,
}

impl AudioTrack {
    pub(super) fn rate(&self) -> i64 {
        i64::from(self.config.sample_rate.max(1))
    }
    pub(super) fn frame_samples(&self) -> u64 {
        u64::from(self.config.samples_per_frame.max(1))
    }
    pub(super) fn samples_to_ms(&self, samples: u64) -> i64 {
        i64::try_from(u128::from(samples) * 1000 / self.rate() as u128).unwrap_or(i64::MAX)
    }
    pub(super) fn ms_to_samples(&self, ms: i64) -> u64 {
        let ms = u64::try_from(ms.max(0)).unwrap_or(0);
        u64::try_from(u128::from(ms) * self.rate() as u128 / 1000).unwrap_or(u64::MAX)
    }
}

/// State of a started stream: the track set is fixed until [`LiveSegmenter::finish`].
pub(super) struct Running {
    pub(super) video: Option<VideoTrack>,
    pub(super) audio: Option<AudioTrack>,
    /// Media time (shifted ms) mapped to decode time zero on every track.
    pub(super) origin_ms: i64,
    /// Added to incoming timestamps; moves only on a timeline reset.
    pub(super) shift_ms: i64,
    /// (media ms, wall ms) pair mapping media time to program date-time.
    pub(super) wall_anchor: (i64, i64),
    pub(super) segment: Option<OpenSegment>,
    /// A configuration changed: the next frame of this kind (video when present) closes the
    /// segment and the new init follows it.
    pub(super) reconfigure: Option<TrackKind>,
}

impl Running {
    pub(super) fn wall_for(&mut self, media_ms: i64, now_ms: i64) -> i64 {
        let mapped = self
            .wall_anchor
            .1
            .saturating_add(media_ms.saturating_sub(self.wall_anchor.0));
        if (mapped - now_ms).abs() > PDT_REANCHOR_MS {
            tracing::info!(
                mapped,
                now_ms,
                "program date-time re-anchored to the wall clock"
            );
            self.wall_anchor = (media_ms, now_ms);
            return now_ms;
        }
        mapped
    }

    pub(super) fn open(&mut self, media_ms: i64, now_ms: i64) -> &mut OpenSegment {
        let wall_ms = self.wall_for(media_ms, now_ms);
        self.segment.insert(OpenSegment {
            start_ms: media_ms,
            wall_ms,
            independent: true,
            part: Part::default(),
        })
    }
}

/// Whether adding a frame of `len` bytes would exceed the open segment's memory bounds.
pub(super) fn over_budget(part: &Part, len: usize) -> bool {
    let over = part.samples() > 0
        && (part.bytes + len > MAX_OPEN_SEGMENT_BYTES
            || part.samples() >= MAX_OPEN_SEGMENT_SAMPLES);
    if over {
        tracing::warn!(
            bytes = part.bytes,
            samples = part.samples(),
            "open segment too large; cut forced"
        );
    }
    over
}

pub(super) fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(-MAX_ABS_MS, MAX_ABS_MS)
}

/// Milliseconds as 90 kHz ticks, saturating.
pub(super) fn ticks(ms: i64) -> u32 {
    u32::try_from(ms.max(0).saturating_mul(VIDEO_TICKS_PER_MS)).unwrap_or(u32::MAX)
}

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
    /// Decode time, shifted ms.
    pub(super) dts: i64,
    pub(super) cts: i32,
    /// Presentation time as it came in (the timeline [`Boundary::at_pts_ms`] is on).
    pub(super) pts_in: i64,
    pub(super) keyframe: bool,
    pub(super) data: Bytes,
}

impl VideoSample {
    /// Presentation time, shifted ms.
    pub(super) fn pts(&self) -> i64 {
        self.dts.saturating_add(i64::from(self.cts))
    }
}

pub(super) struct AudioSample {
    /// Decode time in samples (the audio track's timescale).
    pub(super) decode: u64,
    /// Timestamp as it came in.
    pub(super) pts_in: i64,
    pub(super) data: Bytes,
}

/// The samples of one CMAF fragment being gathered: the whole segment, or its open part.
#[derive(Default)]
pub(super) struct Part {
    pub(super) video: Vec<VideoSample>,
    pub(super) audio: Vec<AudioSample>,
    pub(super) bytes: usize,
}

impl Part {
    /// Moves the video samples from `video` on and the audio samples from `audio` on into a new
    /// part.
    pub(super) fn split_off(&mut self, video: usize, audio: usize) -> Part {
        let video = self.video.split_off(video.min(self.video.len()));
        let audio = self.audio.split_off(audio.min(self.audio.len()));
        let bytes = video.iter().map(|v| v.data.len()).sum::<usize>()
            + audio.iter().map(|a| a.data.len()).sum::<usize>();
        self.bytes = self.bytes.saturating_sub(bytes);
        Part {
            video,
            audio,
            bytes,
        }
    }
}

/// A part already written as a fragment; its bytes become a range of the segment.
pub(super) struct ClosedPart {
    pub(super) bytes: ByteChain,
    pub(super) duration_ms: f64,
    pub(super) independent: bool,
    /// A follower's interval without media.
    pub(super) gap: bool,
}

/// A segment's samples per track, kept (sharing their bytes) for its single-track fragments.
#[derive(Default)]
pub(super) struct ViewSamples {
    pub(super) video_base: Option<u64>,
    pub(super) video: Vec<Sample>,
    pub(super) audio_base: Option<u64>,
    pub(super) audio: Vec<Sample>,
}

pub(super) struct OpenSegment {
    /// Media sequence number (the leader's count, or a follower's boundary).
    pub(super) msn: u64,
    /// Media time (shifted ms) of the first sample.
    pub(super) start_ms: i64,
    /// Wall-clock time of the first sample.
    pub(super) wall_ms: i64,
    pub(super) independent: bool,
    /// Samples of the open part (of the whole segment without parts).
    pub(super) part: Part,
    /// Media time (shifted ms) where the open part starts.
    pub(super) part_start_ms: i64,
    pub(super) closed: Vec<ClosedPart>,
    /// Video frames in the segment so far.
    pub(super) video_frames: u32,
    /// Decode time of the segment's first audio sample.
    pub(super) audio_start: Option<u64>,
    /// Payload bytes and samples in the segment so far, closed parts included.
    pub(super) bytes: usize,
    pub(super) samples: usize,
    /// Filled only with [`SegmenterConfig::track_views`].
    pub(super) views: ViewSamples,
    /// Composition offset (ms) of the segment's first video frame: how far presentation runs
    /// behind decode in this GOP, which a leader adds to the decode time of its part cuts.
    pub(super) lead_cts: i32,
}

impl OpenSegment {
    pub(super) fn new(msn: u64, media_ms: i64, wall_ms: i64) -> Self {
        Self {
            msn,
            start_ms: media_ms,
            wall_ms,
            independent: true,
            part: Part::default(),
            part_start_ms: media_ms,
            closed: Vec::new(),
            video_frames: 0,
            audio_start: None,
            bytes: 0,
            samples: 0,
            views: ViewSamples::default(),
            lead_cts: 0,
        }
    }

    /// Index of the open part.
    pub(super) fn part_index(&self) -> u32 {
        u32::try_from(self.closed.len()).unwrap_or(u32::MAX)
    }

    /// Wall-clock time of a media time within the segment.
    pub(super) fn wall_at(&self, media_ms: i64) -> i64 {
        self.wall_ms
            .saturating_add(media_ms.saturating_sub(self.start_ms))
    }

    pub(super) fn push_video(&mut self, sample: VideoSample) {
        if self.video_frames == 0 {
            self.independent = sample.keyframe;
        }
        self.video_frames = self.video_frames.saturating_add(1);
        self.bytes += sample.data.len();
        self.samples += 1;
        self.part.bytes += sample.data.len();
        self.part.video.push(sample);
    }

    pub(super) fn push_audio(&mut self, sample: AudioSample) {
        self.audio_start.get_or_insert(sample.decode);
        self.bytes += sample.data.len();
        self.samples += 1;
        self.part.bytes += sample.data.len();
        self.part.audio.push(sample);
    }
}

pub(super) struct VideoTrack {
    pub(super) config: VideoConfig,
    pub(super) last_dts: Option<i64>,
    pub(super) last_interval: i64,
    /// Smoothed frame interval (ms): millisecond timestamps jitter, so the last interval alone
    /// mispredicts the next frame's time by up to twice the jitter.
    pub(super) mean_interval: Option<f64>,
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
    /// Media time (shifted ms) of an audio sample.
    pub(super) fn audio_ms(&self, sample: &AudioSample) -> Option<i64> {
        let audio = self.audio.as_ref()?;
        Some(
            self.origin_ms
                .saturating_add(audio.samples_to_ms(sample.decode)),
        )
    }

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

    pub(super) fn open(&mut self, msn: u64, media_ms: i64, now_ms: i64) -> &mut OpenSegment {
        let wall_ms = self.wall_for(media_ms, now_ms);
        self.segment
            .insert(OpenSegment::new(msn, media_ms, wall_ms))
    }
}

/// Whether adding a frame of `len` bytes would exceed the open segment's memory bounds.
pub(super) fn over_budget(segment: &OpenSegment, len: usize) -> bool {
    let over = segment.samples > 0
        && (segment.bytes + len > MAX_OPEN_SEGMENT_BYTES
            || segment.samples >= MAX_OPEN_SEGMENT_SAMPLES);
    if over {
        tracing::warn!(
            bytes = segment.bytes,
            samples = segment.samples,
            "open segment too large"
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

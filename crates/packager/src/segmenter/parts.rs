//! Parts and fragments: when the open part closes, and how parts and segments are written.

use super::state::*;
use super::*;
use crate::BoundaryKind;

/// Configured part targets below this are raised to it: shorter parts cost more requests and
/// playlist updates than they save in latency.
const MIN_PART_TARGET_MS: i64 = 100;
/// How far the next frame may land from where the last interval predicts it: two timestamps
/// that each jitter by ±1 ms.
const PART_JITTER_MS: i64 = 2;
/// Every part but the last of a segment lasts at least this share of PART-TARGET, in percent
/// (rfc8216bis §4.4.4.9).
const MIN_PART_PERCENT: i64 = 85;

/// Largest [`SegmenterConfig::part_frame_step`] honoured: 8 frames at 120 fps are 67 ms, the most
/// a step may span for parts to keep within 85 % .. 100 % of a 500 ms PART-TARGET.
const MAX_PART_FRAME_STEP: u32 = 8;

/// The configured part target (ms) after clamping, if parts are enabled.
pub(crate) fn part_target_ms(config: &SegmenterConfig) -> Option<i64> {
    let part = config.part_target?;
    let whole_secs = i64::try_from(target_duration_secs(config.target_duration)).unwrap_or(1);
    let target_ms = i64::try_from(config.target_duration.as_millis())
        .unwrap_or(i64::MAX)
        .clamp(1000, whole_secs * 1000);
    Some(
        i64::try_from(part.as_millis())
            .unwrap_or(i64::MAX)
            .clamp(MIN_PART_TARGET_MS, target_ms),
    )
}

/// Part cutting settings.
pub(super) struct PartTiming {
    /// The configured part duration, aimed at.
    pub(super) target_ms: i64,
    /// The declared PART-TARGET, never exceeded when frames come at a steady rate.
    pub(super) declared_ms: i64,
    /// Parts start only on every `step`-th video frame of a segment.
    pub(super) step: u32,
}

impl PartTiming {
    pub(super) fn new(config: &SegmenterConfig) -> Option<Self> {
        let target_ms = part_target_ms(config)?;
        Some(Self {
            target_ms,
            declared_ms: target_ms + PART_TARGET_SLACK_MS,
            step: config.part_frame_step.clamp(1, MAX_PART_FRAME_STEP),
        })
    }

    pub(super) fn declared(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.declared_ms).unwrap_or(0))
    }

    /// Whether the open part, `elapsed` ms long, closes before a frame when the part after it
    /// would end `next` ms later: when waiting would risk exceeding PART-TARGET, or the part is
    /// long enough and either this frame is a keyframe (an independent part) or cutting now is
    /// nearer the target than cutting at the next frame.
    fn cut_at(&self, elapsed: i64, next: f64, keyframe: bool) -> bool {
        if elapsed <= 0 {
            return false;
        }
        let elapsed_f = elapsed as f64;
        if elapsed_f + next + PART_JITTER_MS as f64 > self.declared_ms as f64 {
            return true;
        }
        let long_enough = elapsed * 100 >= self.declared_ms * MIN_PART_PERCENT;
        let target = self.target_ms as f64;
        let nearer_now = (elapsed_f - target).abs() <= (elapsed_f + next - target).abs();
        long_enough && (keyframe || nearer_now)
    }

    /// The same for a video frame at `dts` when frames come every `interval` ms.
    pub(super) fn video_cut(
        &self,
        segment: &OpenSegment,
        dts: i64,
        interval: f64,
        keyframe: bool,
    ) -> bool {
        if !segment.video_frames.is_multiple_of(self.step) {
            return false;
        }
        let next = interval * f64::from(self.step);
        self.cut_at(dts - segment.part_start_ms, next, keyframe)
    }

    /// The same for an audio frame when audio leads: timed by sample counts, which are exact, so
    /// no jitter applies. `elapsed` and `frame` are samples at `rate` Hz.
    pub(super) fn audio_cut(&self, elapsed: u64, frame: u64, rate: i64) -> bool {
        if elapsed == 0 {
            return false;
        }
        let rate = u128::from(u64::try_from(rate.max(1)).unwrap_or(1));
        let ms = |v: i64| u128::from(u64::try_from(v.max(0)).unwrap_or(0)) * rate;
        let (elapsed, frame) = (u128::from(elapsed) * 1000, u128::from(frame) * 1000);
        if elapsed + frame > ms(self.declared_ms) {
            return true;
        }
        let long_enough = elapsed * 100 >= ms(self.declared_ms) * MIN_PART_PERCENT as u128;
        long_enough && 2 * elapsed + frame >= 2 * ms(self.target_ms)
    }

    /// The same for audio timed by its timestamps (video stalled in a stream with video).
    pub(super) fn stalled_audio_cut(&self, segment: &OpenSegment, dts: i64, frame_ms: i64) -> bool {
        self.cut_at(dts - segment.part_start_ms, frame_ms as f64, false)
    }
}

impl LiveSegmenter {
    /// Closes the open part of the open segment at media time `at_ms`, keeping the segment open.
    ///
    /// The cut is usually at a frame not added yet. When it is placed before a video frame the
    /// part already holds (a leader cutting before a stretched frame, a follower placing a
    /// boundary it learnt late), that frame, the ones after it and the audio from its time on
    /// stay open as the start of the next part.
    pub(super) fn close_open_part(&mut self, at_ms: i64) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let Some(mut segment) = running.segment.take() else {
            return Ok(());
        };
        let video = segment
            .part
            .video
            .iter()
            .position(|v| v.dts >= at_ms)
            .filter(|first| *first > 0);
        let tail = match video {
            Some(video) => {
                let audio = segment
                    .part
                    .audio
                    .iter()
                    .position(|a| running.audio_ms(a).is_some_and(|ms| ms >= at_ms))
                    .unwrap_or(segment.part.audio.len());
                segment.part.split_off(video, audio)
            }
            None => Part::default(),
        };
        let result = self.close_part(&mut segment, Some(at_ms), false);
        segment.part = tail;
        segment.part_start_ms = at_ms;
        if let Some(running) = self.running.as_mut() {
            running.segment = Some(segment);
        }
        result
    }

    /// A leader's open part is about to close at `end_ms` (`None`: after its last frame). A
    /// forward timestamp jump (a looped input) stretches the frame before it and could carry the
    /// part over PART-TARGET; then the part is cut first before its latest video frame that keeps
    /// it within PART-TARGET, which starts the next part (decode timelines stay continuous), and
    /// that part's boundary is announced. Returns whether it cut.
    pub(super) fn cut_before_stretched_frame(
        &mut self,
        end_ms: Option<i64>,
    ) -> Result<bool, PackagerError> {
        let Some(at_ms) = self.stretched_part_cut(end_ms) else {
            return Ok(false);
        };
        let closed = self.close_open_part(at_ms);
        self.publish_boundary(BoundaryKind::PartStart);
        closed.map(|()| true)
    }

    /// Where [`cut_before_stretched_frame`](Self::cut_before_stretched_frame) cuts, if it must:
    /// before a frame parts may start on (see [`SegmenterConfig::part_frame_step`]).
    fn stretched_part_cut(&self, end_ms: Option<i64>) -> Option<i64> {
        let timing = self.parts.as_ref()?;
        let running = self.running.as_ref()?;
        let interval = running.video.as_ref()?.last_interval;
        let segment = running.segment.as_ref()?;
        let frames = &segment.part.video;
        let end = end_ms.unwrap_or(frames.last()?.dts + interval);
        if end - segment.part_start_ms <= timing.declared_ms {
            return None;
        }
        // Index within the segment of the part's first frame.
        let first = usize::try_from(segment.video_frames)
            .unwrap_or(usize::MAX)
            .saturating_sub(frames.len());
        let step = usize::try_from(timing.step).unwrap_or(1);
        frames
            .iter()
            .enumerate()
            .skip(1)
            .rev()
            .find(|(i, v)| {
                (first + i).is_multiple_of(step)
                    && v.dts - segment.part_start_ms <= timing.declared_ms
            })
            .map(|(_, v)| v.dts)
    }

    /// Sets [`SegmenterConfig::part_frame_step`] for the parts that start from now on: a leader
    /// learns it only once the ladder is planned, after it has started.
    pub fn set_part_frame_step(&mut self, step: u32) {
        if let Some(timing) = self.parts.as_mut() {
            timing.step = step.clamp(1, MAX_PART_FRAME_STEP);
        }
    }

    /// Closes the open segment. `end_ms` is the closing frame's time when known; otherwise (config
    /// change, finish) the last video frame lasts as long as the frame interval before it.
    pub(super) fn close_segment(&mut self, end_ms: Option<i64>) -> Result<(), PackagerError> {
        let Some(mut segment) = self.running.as_mut().and_then(|r| r.segment.take()) else {
            return Ok(());
        };
        let result = self.close_part(&mut segment, end_ms, true);
        if segment.closed.is_empty() {
            return result;
        }
        let gap = segment.closed.iter().all(|p| p.gap);
        let (bytes, mut parts) = join_parts(segment.closed.iter().map(|p| {
            let info = PartInfo::unplaced(p.duration_ms / 1000.0, p.independent, p.gap);
            (&p.bytes, info)
        }));
        let duration_ms: f64 = segment.closed.iter().map(|p| p.duration_ms).sum();
        if self.parts.is_none() {
            parts.clear();
        }
        let views = if gap {
            None
        } else {
            self.write_views(&segment)
        };
        self.outputs
            .push_back(SegmenterOutput::Segment(MediaSegment {
                bytes,
                duration: duration_ms / 1000.0,
                start_ms: segment.start_ms,
                program_date_time_ms: segment.wall_ms,
                independent: segment.independent,
                msn: segment.msn,
                parts,
                gap,
                views,
            }));
        result
    }

    /// The segment's single-track fragments, when it has samples of both tracks. A muxer error
    /// costs only the views (logged): the segment itself is still served.
    fn write_views(&mut self, segment: &OpenSegment) -> Option<TrackViews<TrackView>> {
        let running = self.running.as_ref()?;
        let rate = u32::try_from(running.audio.as_ref()?.rate()).ok()?;
        running.video.as_ref()?;
        let v = &segment.views;
        let (video_base, audio_base) = (v.video_base?, v.audio_base?);
        let mut one = |track_id, base, samples: &[Sample], timescale| {
            let sequence = self.sequence;
            self.sequence = self.sequence.checked_add(1).unwrap_or(1);
            let run = TrackRun {
                track_id,
                base_decode_time: base,
                samples,
            };
            match (self.muxer.fragment)(sequence, std::slice::from_ref(&run)) {
                Ok(bytes) => Some(TrackView {
                    bytes,
                    start: base,
                    duration: samples.iter().map(|s| u64::from(s.duration)).sum(),
                    timescale,
                }),
                Err(error) => {
                    tracing::warn!(msn = segment.msn, track_id, %error, "single-track view not written");
                    None
                }
            }
        };
        Some(TrackViews {
            video: one(
                VIDEO_TRACK_ID,
                video_base,
                &v.video,
                ferrocast_cmaf::VIDEO_TIMESCALE,
            )?,
            audio: one(AUDIO_TRACK_ID, audio_base, &v.audio, rate)?,
        })
    }

    /// Writes the open part of `segment` as a fragment, emits it as a [`MediaPart`] when parts
    /// are enabled, and records it in the segment.
    fn close_part(
        &mut self,
        segment: &mut OpenSegment,
        end_ms: Option<i64>,
        last_in_segment: bool,
    ) -> Result<(), PackagerError> {
        let part = std::mem::take(&mut segment.part);
        let start_ms = segment.part_start_ms;
        let Some(running) = self.running.as_ref() else {
            return Ok(());
        };
        if part.video.is_empty() && part.audio.is_empty() {
            // Only a follower's position moves without media: the interval is a gap.
            if let (Some(_), Some(end)) = (&self.follow, end_ms.filter(|end| *end > start_ms)) {
                self.push_part(
                    segment,
                    ByteChain::default(),
                    (end - start_ms) as f64,
                    false,
                    true,
                    last_in_segment,
                );
            }
            return Ok(());
        }
        let limit = segment.start_ms.saturating_add(self.max_ms);

        let mut video_samples = Vec::with_capacity(part.video.len());
        let mut video_end = None;
        let mut video_base = 0;
        if let Some(video) = running.video.as_ref() {
            for (i, sample) in part.video.iter().enumerate() {
                let next = match part.video.get(i + 1) {
                    Some(next) => next.dts,
                    None => end_ms
                        .filter(|end| *end > sample.dts)
                        .unwrap_or(sample.dts + video.last_interval)
                        .min(limit)
                        .max(sample.dts + 1),
                };
                video_samples.push(Sample {
                    duration: ticks(next - sample.dts),
                    composition_offset: i32::try_from(i64::from(sample.cts) * VIDEO_TICKS_PER_MS)
                        .unwrap_or(0),
                    keyframe: sample.keyframe,
                    data: sample.data.clone(),
                });
                video_end = Some(next);
            }
            if let Some(first) = part.video.first() {
                video_base = u64::try_from((first.dts - running.origin_ms).max(0)).unwrap_or(0)
                    * VIDEO_TICKS_PER_MS as u64;
            }
        }

        let mut audio_samples = Vec::with_capacity(part.audio.len());
        let mut audio_span = 0;
        if let Some(audio) = running.audio.as_ref() {
            for (i, sample) in part.audio.iter().enumerate() {
                let duration = part.audio.get(i + 1).map_or(audio.frame_samples(), |next| {
                    next.decode.saturating_sub(sample.decode)
                });
                audio_samples.push(Sample {
                    duration: u32::try_from(duration).unwrap_or(u32::MAX),
                    composition_offset: 0,
                    keyframe: true,
                    data: sample.data.clone(),
                });
                audio_span += duration;
            }
        }

        let duration_ms = match (video_end, running.audio.as_ref()) {
            (Some(end), _) => (end - start_ms).max(0) as f64,
            (None, Some(audio)) if !audio_samples.is_empty() => {
                if running.video.is_some() {
                    // Audio only while video stalled: the closing frame bounds it.
                    let end = end_ms.unwrap_or(start_ms + audio.samples_to_ms(audio_span));
                    (end.min(limit) - start_ms).max(0) as f64
                } else {
                    audio_span as f64 * 1000.0 / audio.rate() as f64
                }
            }
            _ => return Ok(()),
        };
        let independent = match running.video {
            Some(_) => part.video.first().is_some_and(|v| v.keyframe),
            None => true,
        };

        if self.track_views && running.video.is_some() && running.audio.is_some() {
            let views = &mut segment.views;
            if !video_samples.is_empty() {
                views.video_base.get_or_insert(video_base);
                views.video.extend(video_samples.iter().cloned());
            }
            if let Some(first) = part.audio.first() {
                views.audio_base.get_or_insert(first.decode);
                views.audio.extend(audio_samples.iter().cloned());
            }
        }
        let mut runs = Vec::with_capacity(2);
        if !video_samples.is_empty() {
            runs.push(TrackRun {
                track_id: VIDEO_TRACK_ID,
                base_decode_time: video_base,
                samples: &video_samples,
            });
        }
        if let Some(first) = part.audio.first() {
            runs.push(TrackRun {
                track_id: AUDIO_TRACK_ID,
                base_decode_time: first.decode,
                samples: &audio_samples,
            });
        }
        let sequence = self.sequence;
        self.sequence = self.sequence.checked_add(1).unwrap_or(1);
        let bytes =
            (self.muxer.fragment)(sequence, &runs).map_err(|source| PackagerError::Fragment {
                sequence,
                start_ms,
                source,
            })?;
        self.push_part(
            segment,
            bytes,
            duration_ms,
            independent,
            false,
            last_in_segment,
        );
        Ok(())
    }

    /// Records a closed part in its segment and emits it when parts are enabled.
    fn push_part(
        &mut self,
        segment: &mut OpenSegment,
        bytes: ByteChain,
        duration_ms: f64,
        independent: bool,
        gap: bool,
        last_in_segment: bool,
    ) {
        if self.parts.is_some() {
            self.outputs.push_back(SegmenterOutput::Part(MediaPart {
                bytes: bytes.clone(),
                duration: duration_ms / 1000.0,
                independent,
                start_ms: segment.part_start_ms,
                program_date_time_ms: segment.wall_at(segment.part_start_ms),
                msn: segment.msn,
                index: segment.part_index(),
                last_in_segment,
                gap,
            }));
        }
        segment.closed.push(ClosedPart {
            bytes,
            duration_ms,
            independent,
            gap,
        });
    }
}

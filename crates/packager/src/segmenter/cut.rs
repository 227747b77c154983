//! Per-frame work: where segments and parts are cut and how samples are timed.

use super::follow::{Arrival, Gate, Plan};
use super::state::*;
use super::*;
use crate::BoundaryKind;

/// Each new frame interval moves the smoothed one by this fraction of the difference (1/n).
const MEAN_INTERVAL_WEIGHT: f64 = 8.0;

/// What closes before a frame is added.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    None,
    Part,
    Segment,
}

impl LiveSegmenter {
    pub(super) fn on_frame(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
        match frame.kind {
            TrackKind::Video => self.on_video(now_ms, frame),
            TrackKind::Audio => self.on_audio(now_ms, frame),
        }
    }

    /// A follower's decision for a frame; `None` when the frame goes no further.
    fn follow_plan(&mut self, now_ms: i64, frame: &Frame, arrival: &Arrival) -> Option<Plan> {
        match self.follow_gate(arrival) {
            Gate::Go(plan) => Some(plan),
            Gate::Hold => {
                self.hold(now_ms, frame);
                None
            }
            Gate::Drop => None,
        }
    }

    pub(super) fn on_video(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_ref() else {
            return Ok(());
        };
        let Some(video) = running.video.as_ref() else {
            return Ok(());
        };
        let pts_in = clamp_ms(frame.dts).saturating_add(i64::from(frame.cts));
        let plan = if self.follow.is_some() {
            // Checked before the boundaries are consumed, so that a dropped frame cuts nothing.
            let dts = clamp_ms(frame.dts.saturating_add(running.shift_ms));
            if video
                .last_dts
                .is_some_and(|last| dts <= last && last - dts < TIMELINE_RESET_MS)
            {
                return Ok(());
            }
            let arrival = Arrival {
                pts: pts_in,
                keyframe: frame.keyframe,
                video: true,
                leads: true,
                stalled: false,
                interval: video.mean_interval.unwrap_or(video.last_interval as f64),
            };
            match self.follow_plan(now_ms, frame, &arrival) {
                Some(plan) => Some(plan),
                None => return Ok(()),
            }
        } else {
            None
        };
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let Some(video) = running.video.as_mut() else {
            return Ok(());
        };
        if video.wait_keyframe {
            if !frame.keyframe {
                return Ok(());
            }
            video.wait_keyframe = false;
        }
        let mut dts = clamp_ms(frame.dts.saturating_add(running.shift_ms));
        if let Some(last) = video.last_dts {
            if dts <= last {
                if last - dts < TIMELINE_RESET_MS {
                    tracing::debug!(dts, last, "non-increasing video timestamp; frame dropped");
                    return Ok(());
                }
                let continued = last + video.last_interval;
                tracing::warn!(
                    from = last,
                    to = dts,
                    "video timestamps jumped back; timeline shifted"
                );
                running.shift_ms = clamp_ms(running.shift_ms + (continued - dts));
                dts = continued;
                video.last_key_dts = None;
            }
        }
        let previous_key = video.last_key_dts;
        if frame.keyframe {
            if let Some(prev) = previous_key {
                video.gop_ms = Some(dts - prev);
            }
            video.last_key_dts = Some(dts);
        }
        let interval = video.last_interval;
        let gop = video.gop_ms;
        if let Some(last) = video.last_dts {
            video.last_interval = (dts - last).clamp(1, MAX_FRAME_MS);
            let sample = video.last_interval as f64;
            video.mean_interval = Some(
                video
                    .mean_interval
                    .map_or(sample, |mean| mean + (sample - mean) / MEAN_INTERVAL_WEIGHT),
            );
        }
        let mean_interval = video.mean_interval.unwrap_or(video.last_interval as f64);
        video.last_dts = Some(dts);
        let sample = VideoSample {
            dts,
            cts: frame.cts,
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        };
        if let Some(mut plan) = plan {
            let result = self.follow_steps(&mut plan, dts);
            if plan.accept {
                if let Some(segment) = self.follower_segment(sample.data.len()) {
                    segment.push_video(sample);
                }
            }
            return result;
        }

        let reconfigure = running.reconfigure.take().is_some();
        let cut = match running.segment.as_ref() {
            None => Cut::None,
            Some(_) if reconfigure => Cut::Segment,
            Some(segment) => {
                let elapsed = dts - segment.start_ms;
                let keyframe_cut = frame.keyframe
                    && elapsed > 0
                    && (elapsed >= self.target_ms - KEYFRAME_TOLERANCE_MS
                        || gop.is_some_and(|gop| elapsed + gop > self.max_ms));
                if keyframe_cut
                    || elapsed + interval > self.max_ms - FORCED_CUT_MARGIN_MS
                    || over_budget(segment, frame.data.len())
                {
                    Cut::Segment
                } else if self
                    .parts
                    .as_ref()
                    .is_some_and(|p| p.video_cut(segment, dts, mean_interval, frame.keyframe))
                {
                    Cut::Part
                } else {
                    Cut::None
                }
            }
        };
        let media_ms = (dts - running.origin_ms).saturating_add(i64::from(frame.cts));
        let boundary = (pts_in, media_ms, frame.keyframe);
        self.place(cut, reconfigure, dts, now_ms, boundary, |segment| {
            segment.push_video(sample)
        })
    }

    /// A leader's frame at media time `dts`: closes what `cut` says (and emits a changed init),
    /// adds the frame to the open segment (opening the next one if needed), and announces the
    /// segment or part it starts with `boundary` = (input presentation, media time, independent).
    fn place(
        &mut self,
        cut: Cut,
        reconfigure: bool,
        dts: i64,
        now_ms: i64,
        (pts_in, media_ms, independent): (i64, i64, bool),
        push: impl FnOnce(&mut OpenSegment),
    ) -> Result<(), PackagerError> {
        let mut closed = self.apply_cut(cut, dts);
        if reconfigure {
            let init = self.emit_init();
            closed = closed.and(init);
        }
        let msn = self.next_msn;
        let Some(running) = self.running.as_mut() else {
            return closed;
        };
        let opened = running.segment.is_none();
        let segment = match running.segment.as_mut() {
            Some(segment) => segment,
            None => {
                self.next_msn = msn.saturating_add(1);
                running.open(msn, dts, now_ms)
            }
        };
        push(segment);
        if opened || cut == Cut::Part {
            self.publish_boundary(opened, dts, pts_in, media_ms, independent);
        }
        closed
    }

    /// Closes what a leader's `cut` says, at media time `at_ms`.
    fn apply_cut(&mut self, cut: Cut, at_ms: i64) -> Result<(), PackagerError> {
        match cut {
            Cut::Segment => self.close_segment(Some(at_ms)),
            Cut::Part => self.close_open_part(at_ms),
            Cut::None => Ok(()),
        }
    }

    /// A follower's open segment, if a frame of `len` bytes may join it: a follower never cuts
    /// on its own (its numbers are the leader's), so over its bounds frames are dropped.
    fn follower_segment(&mut self, len: usize) -> Option<&mut OpenSegment> {
        let segment = self.running.as_mut()?.segment.as_mut()?;
        (!over_budget(segment, len)).then_some(segment)
    }

    pub(super) fn on_audio(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_ref() else {
            return Ok(());
        };
        if running.audio.is_none() {
            return Ok(());
        }
        let audio_leads = running.video.is_none();
        let pts_in = clamp_ms(frame.dts);
        let plan = if self.follow.is_some() {
            let dts = clamp_ms(frame.dts.saturating_add(running.shift_ms));
            let stalled = running
                .video
                .as_ref()
                .is_some_and(|v| v.last_dts.is_none_or(|last| dts - last > VIDEO_STALL_MS));
            let interval = running
                .audio
                .as_ref()
                .map_or(0, |a| a.samples_to_ms(a.frame_samples()));
            let arrival = Arrival {
                pts: pts_in,
                keyframe: true,
                video: false,
                leads: audio_leads,
                stalled,
                interval: interval as f64,
            };
            match self.follow_plan(now_ms, frame, &arrival) {
                Some(plan) => Some(plan),
                None => return Ok(()),
            }
        } else {
            None
        };
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let Some(audio) = running.audio.as_mut() else {
            return Ok(());
        };
        let reconfigure = match running.reconfigure {
            Some(TrackKind::Audio) if audio_leads => {
                running.reconfigure = None;
                true
            }
            // Waiting for the next video frame to switch to the new audio config.
            Some(TrackKind::Audio) => return Ok(()),
            _ => false,
        };
        let mut dts = clamp_ms(frame.dts.saturating_add(running.shift_ms));
        // Video counts as stalled when its last frame is this far behind the audio.
        let video_stalled = running
            .video
            .as_ref()
            .is_some_and(|v| v.last_dts.is_none_or(|last| dts - last > VIDEO_STALL_MS));
        let decode = match audio.next_decode {
            None => {
                if dts < running.origin_ms {
                    return Ok(());
                }
                audio.ms_to_samples(dts - running.origin_ms)
            }
            Some(next) => {
                let expected_ms =
                    clamp_ms(running.origin_ms.saturating_add(audio.samples_to_ms(next)));
                let drift = dts - expected_ms;
                if drift.abs() <= AUDIO_RESYNC_MS {
                    next
                } else if drift > 0 {
                    tracing::debug!(
                        drift,
                        "audio timestamps ahead of the sample count; resynced"
                    );
                    audio.ms_to_samples(dts - running.origin_ms)
                } else if audio_leads && drift <= -TIMELINE_RESET_MS {
                    tracing::warn!(
                        from = expected_ms,
                        to = dts,
                        "audio timestamps jumped back; timeline shifted"
                    );
                    running.shift_ms = clamp_ms(running.shift_ms + (expected_ms - dts));
                    dts = expected_ms;
                    next
                } else {
                    tracing::debug!(
                        drift,
                        "audio timestamps behind the sample count; frame dropped"
                    );
                    return Ok(());
                }
            }
        };
        audio.next_decode = Some(decode.saturating_add(audio.frame_samples()));
        let frame_samples = audio.frame_samples();
        let rate = audio.rate();
        let frame_ms = audio.samples_to_ms(frame_samples);
        let media_ms = audio.samples_to_ms(decode);
        let sample = AudioSample {
            decode,
            data: frame.data.clone(),
        };
        if let Some(mut plan) = plan {
            let result = self.follow_steps(&mut plan, dts);
            if plan.accept {
                if let Some(segment) = self.follower_segment(sample.data.len()) {
                    segment.push_audio(sample);
                }
            }
            return result;
        }

        let cut = match running.segment.as_ref() {
            None => Cut::None,
            Some(_) if reconfigure => Cut::Segment,
            Some(segment) => {
                let by_duration = if audio_leads {
                    // Cut when this frame is nearer the target than the previous one would be.
                    segment.audio_start.is_some_and(|first| {
                        let elapsed = decode.saturating_sub(first);
                        let target = u128::from(u64::try_from(self.target_ms).unwrap_or(0));
                        u128::from(elapsed) * 1000 + u128::from(frame_samples) * 500
                            >= target * rate as u128
                    })
                } else {
                    // Video stalled: keep the segment within bounds on audio alone.
                    video_stalled
                        && dts - segment.start_ms + frame_ms > self.max_ms - FORCED_CUT_MARGIN_MS
                };
                let part_cut = self.parts.as_ref().is_some_and(|p| {
                    if audio_leads {
                        segment.part.audio.first().is_some_and(|first| {
                            p.audio_cut(decode.saturating_sub(first.decode), frame_samples, rate)
                        })
                    } else {
                        video_stalled && p.stalled_audio_cut(segment, dts, frame_ms)
                    }
                });
                if by_duration || over_budget(segment, frame.data.len()) {
                    Cut::Segment
                } else if part_cut {
                    Cut::Part
                } else {
                    Cut::None
                }
            }
        };
        self.place(
            cut,
            reconfigure,
            dts,
            now_ms,
            (pts_in, media_ms, true),
            |segment| segment.push_audio(sample),
        )
    }
}

impl BoundaryKind {
    pub(super) fn of(opened: bool) -> Self {
        if opened {
            BoundaryKind::SegmentStart
        } else {
            BoundaryKind::PartStart
        }
    }
}

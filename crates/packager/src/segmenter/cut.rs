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

    /// A follower's frame at media time `dts`, past its gate: moves through `plan`'s boundaries,
    /// then adds the frame (`len` bytes) if the plan accepts it. A follower never cuts on its own
    /// (its numbers are the leader's), so over the open segment's bounds frames are dropped.
    fn follow_place(
        &mut self,
        plan: Plan,
        dts: i64,
        len: usize,
        push: impl FnOnce(&mut OpenSegment),
    ) -> Result<(), PackagerError> {
        let result = self.follow_steps(plan.steps, dts);
        if plan.accept {
            let segment = self.running.as_mut().and_then(|r| r.segment.as_mut());
            if let Some(segment) = segment.filter(|s| !over_budget(s, len)) {
                push(segment);
            }
        }
        result
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
            let Some(plan) = self.follow_plan(now_ms, frame, &arrival) else {
                return Ok(());
            };
            Some(plan)
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
            pts_in,
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        };
        if let Some(plan) = plan {
            return self.follow_place(plan, dts, sample.data.len(), |s| s.push_video(sample));
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
        self.place(cut, reconfigure, dts, now_ms, |segment| {
            segment.push_video(sample)
        })
    }

    /// A leader's frame at media time `dts`: closes what `cut` says (and emits a changed init),
    /// adds the frame to the open segment (opening the next one if needed), and announces every
    /// segment and part started.
    fn place(
        &mut self,
        mut cut: Cut,
        reconfigure: bool,
        dts: i64,
        now_ms: i64,
        push: impl FnOnce(&mut OpenSegment),
    ) -> Result<(), PackagerError> {
        let mut closed = Ok(());
        if cut != Cut::None {
            match self.cut_before_stretched_frame(Some(dts)) {
                // The part now open starts before this frame, which joins it.
                Ok(true) if cut == Cut::Part => cut = Cut::None,
                Ok(_) => {}
                Err(error) => closed = Err(error),
            }
        }
        closed = closed.and(match cut {
            Cut::Segment => self.close_segment(Some(dts)),
            Cut::Part => self.close_open_part(dts),
            Cut::None => Ok(()),
        });
        if reconfigure {
            closed = closed.and(self.emit_init());
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
        if opened {
            self.publish_boundary(BoundaryKind::SegmentStart);
        } else if cut == Cut::Part {
            self.publish_boundary(BoundaryKind::PartStart);
        }
        closed
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
        let mut dts = clamp_ms(frame.dts.saturating_add(running.shift_ms));
        // Video counts as stalled when its last frame is this far behind the audio.
        let video_stalled = running
            .video
            .as_ref()
            .is_some_and(|v| v.last_dts.is_none_or(|last| dts - last > VIDEO_STALL_MS));
        let plan = if self.follow.is_some() {
            let interval = running
                .audio
                .as_ref()
                .map_or(0, |a| a.samples_to_ms(a.frame_samples()));
            let arrival = Arrival {
                pts: pts_in,
                keyframe: true,
                video: false,
                leads: audio_leads,
                stalled: video_stalled,
                interval: interval as f64,
            };
            let Some(plan) = self.follow_plan(now_ms, frame, &arrival) else {
                return Ok(());
            };
            Some(plan)
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
        let sample = AudioSample {
            decode,
            pts_in,
            data: frame.data.clone(),
        };
        if let Some(plan) = plan {
            return self.follow_place(plan, dts, sample.data.len(), |s| s.push_audio(sample));
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
        self.place(cut, reconfigure, dts, now_ms, |segment| {
            segment.push_audio(sample)
        })
    }
}

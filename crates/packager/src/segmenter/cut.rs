//! Per-frame work: where segments are cut and how samples are timed.

use super::state::*;
use super::*;

impl LiveSegmenter {
    pub(super) fn on_frame(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
        match frame.kind {
            TrackKind::Video => self.on_video(now_ms, frame),
            TrackKind::Audio => self.on_audio(now_ms, frame),
        }
    }

    pub(super) fn on_video(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
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
        }
        video.last_dts = Some(dts);

        let reconfigure = running.reconfigure.take().is_some();
        let cut = match running.segment.as_ref() {
            None => false,
            Some(_) if reconfigure => true,
            Some(segment) => {
                let elapsed = dts - segment.start_ms;
                let keyframe_cut = frame.keyframe
                    && elapsed > 0
                    && (elapsed >= self.target_ms - KEYFRAME_TOLERANCE_MS
                        || gop.is_some_and(|gop| elapsed + gop > self.max_ms));
                keyframe_cut
                    || elapsed + interval > self.max_ms - FORCED_CUT_MARGIN_MS
                    || over_budget(&segment.part, frame.data.len())
            }
        };
        let mut closed = if cut {
            self.close_segment(Some(dts))
        } else {
            Ok(())
        };
        if reconfigure {
            let init = self.emit_init();
            closed = closed.and(init);
        }
        let Some(running) = self.running.as_mut() else {
            return closed;
        };
        let segment = match running.segment.as_mut() {
            Some(segment) => segment,
            None => running.open(dts, now_ms),
        };
        if segment.part.video.is_empty() {
            segment.independent = frame.keyframe;
        }
        segment.part.bytes += frame.data.len();
        segment.part.video.push(VideoSample {
            dts,
            cts: frame.cts,
            keyframe: frame.keyframe,
            data: frame.data.clone(),
        });
        closed
    }

    pub(super) fn on_audio(&mut self, now_ms: i64, frame: &Frame) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let audio_leads = running.video.is_none();
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

        let cut = match running.segment.as_ref() {
            None => false,
            Some(_) if reconfigure => true,
            Some(segment) => {
                let by_duration = if audio_leads {
                    // Cut when this frame is nearer the target than the previous one would be.
                    segment.part.audio.first().is_some_and(|first| {
                        let elapsed = decode.saturating_sub(first.decode);
                        let target = u128::from(u64::try_from(self.target_ms).unwrap_or(0));
                        u128::from(elapsed) * 1000 + u128::from(frame_samples) * 500
                            >= target * rate as u128
                    })
                } else {
                    // Video stalled: keep the segment within bounds on audio alone.
                    video_stalled
                        && dts - segment.start_ms + frame_ms > self.max_ms - FORCED_CUT_MARGIN_MS
                };
                by_duration || over_budget(&segment.part, frame.data.len())
            }
        };
        let mut closed = if cut {
            self.close_segment(Some(dts))
        } else {
            Ok(())
        };
        if reconfigure {
            let init = self.emit_init();
            closed = closed.and(init);
        }
        let Some(running) = self.running.as_mut() else {
            return closed;
        };
        let segment = match running.segment.as_mut() {
            Some(segment) => segment,
            None => running.open(dts, now_ms),
        };
        segment.part.bytes += frame.data.len();
        segment.part.audio.push(AudioSample {
            decode,
            data: frame.data.clone(),
        });
        closed
    }

    /// Closes the open segment. `end_ms` is the closing frame's time when known; otherwise (config
    /// change, finish) the last video frame lasts as long as the frame interval before it.
    pub(super) fn close_segment(&mut self, end_ms: Option<i64>) -> Result<(), PackagerError> {
        let Some(running) = self.running.as_mut() else {
            return Ok(());
        };
        let Some(segment) = running.segment.take() else {
            return Ok(());
        };
        let part = segment.part;
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
            (Some(end), _) => (end - segment.start_ms).max(0) as f64,
            (None, Some(audio)) if !audio_samples.is_empty() => {
                if running.video.is_some() {
                    // Audio only while video stalled: the closing frame bounds it.
                    let end = end_ms.unwrap_or(segment.start_ms + audio.samples_to_ms(audio_span));
                    (end.min(limit) - segment.start_ms).max(0) as f64
                } else {
                    audio_span as f64 * 1000.0 / audio.rate() as f64
                }
            }
            _ => return Ok(()),
        };

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
                start_ms: segment.start_ms,
                source,
            })?;
        self.outputs
            .push_back(SegmenterOutput::Segment(MediaSegment {
                bytes,
                duration: duration_ms / 1000.0,
                start_ms: segment.start_ms,
                program_date_time_ms: segment.wall_ms,
                independent: segment.independent,
            }));
        Ok(())
    }
}

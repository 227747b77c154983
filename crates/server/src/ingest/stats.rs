//! Per-publish ingest statistics, exported as per-channel Prometheus metrics.

use crate::live::LiveChannel;
use crate::metrics as m;
use ferrocast_media::{Frame, TrackKind};
use metrics::{Counter, Gauge};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the rate gauges are refreshed.
const RATE_PERIOD: Duration = Duration::from_secs(1);

/// Metric handles resolved once per publish, so the per-frame cost is a few atomic adds.
pub(super) struct IngestStats {
    bytes: Counter,
    video_frames: Counter,
    audio_frames: Counter,
    bitrate: Gauge,
    fps: Gauge,
    keyframe_interval: Gauge,
    demux_errors: Counter,
    period_start: Instant,
    period_bytes: u64,
    period_video_frames: u64,
    last_keyframe_dts: Option<i64>,
    last_keyframe_interval: Option<f64>,
    demux_error_count: u64,
    /// Where the studio reads the same figures.
    channel: Arc<LiveChannel>,
}

impl IngestStats {
    pub(super) fn new(live: Arc<LiveChannel>) -> Self {
        let channel = live.name.as_str();
        let label = || ("channel", channel.to_owned());
        let (k, v) = label();
        Self {
            bytes: metrics::counter!(m::INGEST_BYTES, k => v.clone()),
            video_frames: metrics::counter!(m::INGEST_FRAMES, k => v.clone(), "track" => "video"),
            audio_frames: metrics::counter!(m::INGEST_FRAMES, k => v.clone(), "track" => "audio"),
            bitrate: metrics::gauge!(m::INGEST_BITRATE, k => v.clone()),
            fps: metrics::gauge!(m::INGEST_FPS, k => v.clone()),
            keyframe_interval: metrics::gauge!(m::INGEST_KEYFRAME_INTERVAL, k => v.clone()),
            demux_errors: metrics::counter!(m::INGEST_DEMUX_ERRORS, k => v),
            period_start: Instant::now(),
            period_bytes: 0,
            period_video_frames: 0,
            last_keyframe_dts: None,
            last_keyframe_interval: None,
            demux_error_count: 0,
            channel: live.clone(),
        }
    }

    /// Counts a media message's bytes (every message, even ones the demuxer refuses).
    pub(super) fn message(&mut self, bytes: usize, now: Instant) {
        self.bytes.increment(bytes as u64);
        self.period_bytes += bytes as u64;
        let elapsed = now.saturating_duration_since(self.period_start);
        if elapsed >= RATE_PERIOD {
            let secs = elapsed.as_secs_f64();
            let bitrate = self.period_bytes as f64 * 8.0 / secs;
            let fps = self.period_video_frames as f64 / secs;
            self.bitrate.set(bitrate);
            self.fps.set(fps);
            let (keyframe_interval, demux_errors) =
                (self.last_keyframe_interval, self.demux_error_count);
            self.channel.ingest.update(|s| {
                s.bitrate_bps = bitrate;
                s.fps = fps;
                s.keyframe_interval_s = keyframe_interval;
                s.demux_errors = demux_errors;
            });
            self.period_start = now;
            self.period_bytes = 0;
            self.period_video_frames = 0;
        }
    }

    /// Counts a demuxed frame.
    pub(super) fn frame(&mut self, frame: &Frame) {
        match frame.kind {
            TrackKind::Audio => self.audio_frames.increment(1),
            TrackKind::Video => {
                self.video_frames.increment(1);
                self.period_video_frames += 1;
                if frame.keyframe {
                    if let Some(last) = self.last_keyframe_dts {
                        let interval = (frame.dts - last) as f64 / 1000.0;
                        self.keyframe_interval.set(interval);
                        self.last_keyframe_interval = Some(interval);
                    }
                    self.last_keyframe_dts = Some(frame.dts);
                }
            }
        }
    }

    /// Counts a message the demuxer refused.
    pub(super) fn demux_error(&mut self) {
        self.demux_errors.increment(1);
        self.demux_error_count += 1;
    }

    /// Zeroes the rate gauges when the publish ends.
    pub(super) fn finish(&self) {
        self.bitrate.set(0.0);
        self.fps.set(0.0);
    }
}

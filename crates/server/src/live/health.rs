//! What the studio's health view shows: the ingest's measured rates and the transcoder's speed,
//! kept as plain snapshots beside the Prometheus series (which are write-only from here).

use serde::Serialize;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Ingest figures of a channel's current (or last) publish.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSnapshot {
    /// When the publish started, unix ms.
    pub started_at_ms: Option<i64>,
    /// When it ended, unix ms (`None` while live).
    pub ended_at_ms: Option<i64>,
    /// Received bits per second over the last second.
    pub bitrate_bps: f64,
    /// Video frames per second over the last second.
    pub fps: f64,
    /// Seconds between the last two keyframes.
    pub keyframe_interval_s: Option<f64>,
    /// Media messages the demuxer refused.
    pub demux_errors: u64,
    /// Frames the packager lost by falling behind (it resynchronises at the next keyframe).
    pub dropped_frames: u64,
}

/// A channel's ingest health, updated once a second by its publisher's connection.
#[derive(Debug, Default)]
pub struct IngestHealth(Mutex<IngestSnapshot>);

impl IngestHealth {
    fn lock(&self) -> MutexGuard<'_, IngestSnapshot> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The figures now.
    pub fn snapshot(&self) -> IngestSnapshot {
        self.lock().clone()
    }

    /// A publish began: the previous one's figures no longer apply.
    pub fn started(&self, now_ms: i64) {
        *self.lock() = IngestSnapshot {
            started_at_ms: Some(now_ms),
            ..IngestSnapshot::default()
        };
    }

    /// The publish ended.
    pub fn ended(&self, now_ms: i64) {
        let mut s = self.lock();
        s.ended_at_ms = Some(now_ms);
        s.bitrate_bps = 0.0;
        s.fps = 0.0;
    }

    /// Applies a change to the figures.
    pub fn update(&self, f: impl FnOnce(&mut IngestSnapshot)) {
        f(&mut self.lock());
    }
}

/// The transcoder's figures for one broadcast.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TranscoderSnapshot {
    /// The ffmpeg encoder in use (`libx264`, `h264_nvenc`, …).
    pub encoder: Option<String>,
    /// Encoded media time per wall-clock time, as ffmpeg last reported it.
    pub speed: Option<f64>,
    /// Frames ffmpeg dropped.
    pub dropped_frames: u64,
    /// Times ffmpeg was restarted after exiting.
    pub restarts: u64,
    /// Whether an ffmpeg process runs now.
    pub running: bool,
    /// Rungs shed because the machine could not encode them in real time.
    pub shed: Vec<String>,
}

/// The transcoder's health, updated by its supervisor and progress monitor.
#[derive(Debug, Default)]
pub struct TranscoderHealth(Mutex<TranscoderSnapshot>);

impl TranscoderHealth {
    /// The figures now.
    pub fn snapshot(&self) -> TranscoderSnapshot {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies a change to the figures.
    pub fn update(&self, f: impl FnOnce(&mut TranscoderSnapshot)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

//! The per-channel packager task: hub events in, segments and playlists out.
//!
//! It runs from a channel's first publish until the broadcast ends: after an explicit unpublish,
//! after the reconnect grace period of a dropped publisher, or at shutdown. A publisher that comes
//! back in time continues the same playlist after an EXT-X-DISCONTINUITY.

use super::{LiveChannel, LiveConfig, Output};
use crate::metrics as m;
use ferrocast_hub::{HubEvent, Recv, Subscriber};
use ferrocast_media::{MediaEvent, TrackKind};
use ferrocast_packager::{LiveSegmenter, SegmenterConfig, SegmenterOutput, WindowConfig};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tracing::{info, warn};

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A broadcast id unique across restarts and channels: milliseconds since the epoch in base 36.
fn new_sid() -> String {
    let mut n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut s = Vec::new();
    while n > 0 {
        s.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// Measures the video frame rate from decode timestamps, for FRAME-RATE.
#[derive(Default)]
struct FrameRate {
    first_dts: Option<i64>,
    last_dts: i64,
    frames: u64,
    reported: bool,
}

impl FrameRate {
    /// Returns a rate once two seconds of video have been seen.
    fn observe(&mut self, dts: i64) -> Option<f64> {
        let first = *self.first_dts.get_or_insert(dts);
        self.last_dts = dts;
        self.frames += 1;
        let span = self.last_dts - first;
        if self.reported || span < 2000 || self.frames < 3 {
            return None;
        }
        self.reported = true;
        Some((self.frames - 1) as f64 * 1000.0 / span as f64)
    }
}

pub(super) async fn run(
    channel: Arc<LiveChannel>,
    mut sub: Subscriber,
    config: LiveConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let sid = new_sid();
    let output = Arc::new(Output::new(
        sid.clone(),
        WindowConfig {
            target_duration: config.segment_duration,
            window: config.window,
            uri_prefix: format!("{sid}/"),
            low_latency: None,
        },
    ));
    channel.set_output(output.clone());
    let name = channel.name.clone();
    info!(channel = %name, sid = %sid, "broadcast started");
    let segments = metrics::counter!(m::SEGMENTS, "channel" => name.clone());
    let segment_bytes = metrics::counter!(m::SEGMENT_BYTES, "channel" => name.clone());
    let new_segmenter = || LiveSegmenter::new(SegmenterConfig::new(config.segment_duration));
    let mut segmenter = new_segmenter();
    let mut frame_rate = FrameRate::default();
    let mut sessions_seen = 0u64;
    // When set, the broadcast ends at this instant unless a publisher claims the channel.
    let mut end_at: Option<Instant> = None;
    let mut shutdown_seen = false;

    loop {
        let deadline = end_at;
        tokio::select! {
            recv = sub.recv() => match recv {
                Recv::Event(HubEvent::Started { session }) => {
                    sessions_seen += 1;
                    end_at = None;
                    if sessions_seen > 1 {
                        info!(channel = %name, session, "publisher resumed; discontinuity");
                        output.mark_discontinuity();
                        segmenter = new_segmenter();
                        frame_rate = FrameRate::default();
                    }
                }
                Recv::Event(HubEvent::Media(event)) => {
                    if let MediaEvent::Frame(f) = &event {
                        if f.kind == TrackKind::Video {
                            if let Some(fps) = frame_rate.observe(f.dts) {
                                output.set_frame_rate(fps);
                            }
                        }
                    }
                    let now = unix_ms();
                    if let Err(e) = segmenter.handle_event(now, &event) {
                        warn!(channel = %name, error = %e, "packager dropped input");
                        metrics::counter!(m::PACKAGER_ERRORS, "channel" => name.clone()).increment(1);
                    }
                    drain(&mut segmenter, &output, &name, &segments, &segment_bytes);
                }
                Recv::Event(HubEvent::Ended { session, clean }) => {
                    segmenter.finish(unix_ms());
                    drain(&mut segmenter, &output, &name, &segments, &segment_bytes);
                    let grace = if clean || *shutdown.borrow() { Duration::ZERO } else { config.reconnect_grace };
                    info!(channel = %name, session, clean, grace_ms = grace.as_millis() as u64, "publisher gone");
                    end_at = Some(Instant::now() + grace);
                }
                Recv::Lagged(n) => {
                    warn!(channel = %name, dropped = n, "packager fell behind the hub; discontinuity");
                    metrics::counter!(m::PACKAGER_LAGGED, "channel" => name.clone()).increment(n);
                    segmenter.finish(unix_ms());
                    drain(&mut segmenter, &output, &name, &segments, &segment_bytes);
                    output.mark_discontinuity();
                    segmenter = new_segmenter();
                }
                Recv::Closed => end_at = Some(Instant::now()),
            },
            _ = sleep_until(deadline), if deadline.is_some() => {
                if channel.packager_may_stop() {
                    break;
                }
                // A publisher claimed the channel just now; its `Started` is on its way.
                end_at = None;
            }
            changed = shutdown.changed(), if !shutdown_seen => {
                shutdown_seen = changed.is_err() || *shutdown.borrow();
                if shutdown_seen && !channel.is_live() {
                    end_at = Some(Instant::now());
                }
            }
        }
    }
    output.end();
    info!(channel = %name, sid = %sid, "broadcast ended");
    // Players and CDNs still fetch the ended playlist for a while; then the ring is freed. Only a
    // weak reference waits, so a newer broadcast that replaces this one frees it at once.
    if !shutdown_seen {
        let output = Arc::downgrade(&output);
        tokio::select! {
            _ = tokio::time::sleep(config.ended_retention) => {
                if let Some(output) = output.upgrade() {
                    channel.clear_output(&output);
                    tracing::debug!(channel = %name, sid = %sid, "ended broadcast freed");
                }
            }
            _ = shutdown.wait_for(|s| *s) => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d.into()).await;
    }
}

fn drain(
    segmenter: &mut LiveSegmenter,
    output: &Output,
    name: &str,
    segments: &metrics::Counter,
    segment_bytes: &metrics::Counter,
) {
    while let Some(out) = segmenter.poll_output() {
        match out {
            SegmenterOutput::Init(init) => {
                info!(
                    channel = %name,
                    video = init.video.as_ref().map(|v| v.codec_string.as_str()),
                    audio = init.audio.as_ref().map(|a| a.codec_string.as_str()),
                    width = init.video.as_ref().map(|v| v.width),
                    height = init.video.as_ref().map(|v| v.height),
                    "new init segment"
                );
                output.push_init(init);
            }
            // Only emitted with `SegmenterConfig::part_target`, which is not set here.
            SegmenterOutput::Part(_) => {}
            SegmenterOutput::Segment(seg) => {
                let (bytes, duration, independent) =
                    (seg.bytes.len(), seg.duration, seg.independent);
                let msn = output.push_segment(seg);
                segments.increment(1);
                segment_bytes.increment(bytes as u64);
                metrics::histogram!(m::SEGMENT_DURATION, "channel" => name.to_owned())
                    .record(duration);
                tracing::debug!(channel = %name, msn, bytes, duration, independent, "segment");
            }
        }
    }
}

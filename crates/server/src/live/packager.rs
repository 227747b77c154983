//! The per-channel packager task: hub events in, segments and playlists out.
//!
//! It runs from a channel's first publish until the broadcast ends: after an explicit unpublish,
//! after the reconnect grace period of a dropped publisher, or at shutdown. A publisher that comes
//! back in time continues the same playlist after an EXT-X-DISCONTINUITY.

use super::{LiveChannel, LiveConfig, Output};
use crate::clock::unix_ms;
use crate::metrics as m;
use ferrocast_hub::{HubEvent, Recv, Subscriber};
use ferrocast_media::{MediaEvent, TrackKind};
use ferrocast_packager::{
    LiveSegmenter, LowLatencyConfig, SegmenterConfig, SegmenterOutput, WindowConfig,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tracing::{info, warn};

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
    transcode_sub: Option<Subscriber>,
) {
    let sid = new_sid();
    // A segmenter that continues the window at `first_msn` (a reconnect keeps the numbering).
    let new_segmenter = |first_msn: u64| {
        LiveSegmenter::new(SegmenterConfig {
            part_target: config.part_duration,
            first_msn,
            track_views: true,
            ..SegmenterConfig::new(config.segment_duration)
        })
    };
    let mut segmenter = new_segmenter(0);
    let part_target = segmenter.declared_part_target();
    let output = Arc::new(Output::new(
        sid.clone(),
        WindowConfig {
            target_duration: config.segment_duration,
            window: config.window,
            uri_prefix: format!("{sid}/"),
            low_latency: part_target.map(LowLatencyConfig::new),
        },
    ));
    channel.set_output(output.clone());
    let name = channel.name.clone();
    if let (Some(transcode), Some(sub)) = (config.transcode.clone(), transcode_sub) {
        tokio::spawn(crate::transcode::supervise(
            name.clone(),
            channel.hub.clone(),
            sub,
            output.clone(),
            transcode,
            config.segment_duration,
            config.part_duration,
        ));
    }
    info!(
        channel = %name,
        sid = %sid,
        part_target_ms = part_target.map(|p| p.as_millis() as u64),
        "broadcast started"
    );
    let sink = Sink::new(&output, &name, part_target.is_some());
    let mut frame_rate = FrameRate::default();
    let mut part_frame_step = 1;
    let mut sessions_seen = 0u64;
    // Arrival of the last frame handled: the last frame of any part the next frame closes.
    let mut last_frame_at: Option<Instant> = None;
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
                        segmenter = new_segmenter(output.next_msn());
                        part_frame_step = 1;
                        frame_rate = FrameRate::default();
                        last_frame_at = None;
                    }
                }
                Recv::Event(HubEvent::Media(event)) => {
                    let arrived = Instant::now();
                    let step = output.part_frame_step();
                    if step != part_frame_step {
                        info!(channel = %name, step, "source parts start every {step} frames");
                        segmenter.set_part_frame_step(step);
                        part_frame_step = step;
                    }
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
                    sink.drain(&mut segmenter, last_frame_at);
                    if matches!(event, MediaEvent::Frame(_)) {
                        last_frame_at = Some(arrived);
                    }
                }
                Recv::Event(HubEvent::Ended { session, clean }) => {
                    segmenter.finish();
                    sink.drain(&mut segmenter, last_frame_at);
                    let grace = if clean || *shutdown.borrow() { Duration::ZERO } else { config.reconnect_grace };
                    info!(channel = %name, session, clean, grace_ms = grace.as_millis() as u64, "publisher gone");
                    end_at = Some(Instant::now() + grace);
                }
                Recv::Lagged(n) => {
                    warn!(channel = %name, dropped = n, "packager fell behind the hub; discontinuity");
                    metrics::counter!(m::PACKAGER_LAGGED, "channel" => name.clone()).increment(n);
                    channel.ingest.update(|s| s.dropped_frames += n);
                    segmenter.finish();
                    sink.drain(&mut segmenter, last_frame_at);
                    output.mark_discontinuity();
                    segmenter = new_segmenter(output.next_msn());
                    part_frame_step = 1;
                    last_frame_at = None;
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

/// Where the segmenter's outputs go: the window, the metrics and the logs.
struct Sink<'a> {
    output: &'a Output,
    name: &'a str,
    low_latency: bool,
    segments: metrics::Counter,
    segment_bytes: metrics::Counter,
    segment_duration: metrics::Histogram,
    parts: metrics::Counter,
    part_latency: metrics::Histogram,
}

impl<'a> Sink<'a> {
    fn new(output: &'a Output, name: &'a str, low_latency: bool) -> Self {
        let channel = name.to_owned();
        Self {
            output,
            name,
            low_latency,
            segments: metrics::counter!(m::SEGMENTS, "channel" => channel.clone()),
            segment_bytes: metrics::counter!(m::SEGMENT_BYTES, "channel" => channel.clone()),
            segment_duration: metrics::histogram!(m::SEGMENT_DURATION, "channel" => channel.clone()),
            parts: metrics::counter!(m::PARTS, "channel" => channel.clone()),
            part_latency: metrics::histogram!(m::PART_LATENCY, "channel" => channel),
        }
    }

    /// Pushes every pending output into the window; `last_frame_at` is when the last frame of a
    /// part closed now arrived. The window tells blocked requests about each change itself.
    fn drain(&self, segmenter: &mut LiveSegmenter, last_frame_at: Option<Instant>) {
        let name = self.name;
        // Boundaries first: the rungs' followers must know a cut before frames that reach it.
        while let Some(boundary) = segmenter.poll_boundary() {
            self.output.publish_boundary(boundary);
        }
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
                    self.output.push_init(init);
                }
                SegmenterOutput::Part(part) => {
                    let (msn, index, bytes, duration, last) = (
                        part.msn,
                        part.index,
                        part.bytes.len(),
                        part.duration,
                        part.last_in_segment,
                    );
                    let listed = self.output.push_part(part);
                    self.parts.increment(1);
                    // A segment's last part is served with its segment, pushed right after; its
                    // latency is recorded there.
                    if listed && !last {
                        if let Some(at) = last_frame_at {
                            self.part_latency.record(at.elapsed().as_secs_f64());
                        }
                    }
                    tracing::trace!(channel = %name, msn, index, bytes, duration, listed, "part");
                }
                SegmenterOutput::Segment(seg) => {
                    let (bytes, duration, independent, parts) = (
                        seg.bytes.len(),
                        seg.duration,
                        seg.independent,
                        seg.parts.len(),
                    );
                    let msn = if self.low_latency {
                        let Some(msn) = self.output.push_segment_at(seg.msn, seg) else {
                            warn!(channel = %name, "segment number already taken; dropped");
                            continue;
                        };
                        if let Some(at) = last_frame_at {
                            self.part_latency.record(at.elapsed().as_secs_f64());
                        }
                        msn
                    } else {
                        self.output.push_segment(seg)
                    };
                    self.segments.increment(1);
                    self.segment_bytes.increment(bytes as u64);
                    self.segment_duration.record(duration);
                    tracing::debug!(channel = %name, msn, bytes, duration, independent, parts, "segment");
                }
            }
        }
    }
}

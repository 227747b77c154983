//! The per-broadcast transcoder: plans the ladder, runs ffmpeg, restarts it, sheds rungs.
//!
//! The ladder is read at each publish (the channel's own, else the server's) and again when the
//! channel's own changes: a live channel's ffmpeg is then restarted from the cached GOP with the
//! new rungs, rungs that are gone are retired from the multivariant playlist, and the source
//! carries on untouched.

use super::process::{RunEvent, Running, StartAt};
use super::progress::Backoff;
use super::rung::RungTask;
use super::TranscodeConfig;
use crate::live::{Output, Rendition, RungInfo};
use crate::metrics as m;
use ferrocast_hub::{Hub, HubEvent, Recv, StreamState, Subscriber};
use ferrocast_ladder::{plan, Ladder, PlannedRung, SourceInfo};
use ferrocast_media::{AudioConfig, MediaEvent, StreamMetadata, TrackKind, VideoConfig};
use ferrocast_packager::SegmenterConfig;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Events since the last keyframe kept to start a process at once (a GOP of 30 fps video with
/// audio is about 100 per second); a longer GOP is not cached and a process waits for a keyframe.
pub(super) const GOP_CACHE: usize = 1024;
/// How long the rungs may take to package ffmpeg's last output after the source ended.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait before trying again when a process could not be started.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The source as far as the transcoder needs it.
#[derive(Default)]
struct Source {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    metadata: Option<StreamMetadata>,
    /// Frames from the last video keyframe on, so a (re)started process begins at once.
    gop: Vec<MediaEvent>,
}

impl Source {
    /// Records a configuration, or caches a frame of the current GOP.
    fn observe(&mut self, event: &MediaEvent) {
        let f = match event {
            MediaEvent::VideoConfig(c) => {
                if self.video.as_ref() != Some(c) {
                    // Cached pictures belong to the previous configuration.
                    self.gop.clear();
                    self.video = Some(c.clone());
                }
                return;
            }
            MediaEvent::AudioConfig(c) => {
                self.audio = Some(c.clone());
                return;
            }
            MediaEvent::Metadata(md) => {
                self.metadata = Some(md.clone());
                return;
            }
            MediaEvent::Frame(f) => f,
        };
        if f.kind == TrackKind::Video && f.keyframe {
            self.gop.clear();
        } else if self.gop.is_empty() || self.gop.len() >= GOP_CACHE {
            self.gop.clear();
            return;
        }
        self.gop.push(event.clone());
    }

    /// Decode time of the cached keyframe.
    fn gop_start(&self) -> Option<i64> {
        match self.gop.first() {
            Some(MediaEvent::Frame(f)) => Some(f.dts),
            _ => None,
        }
    }

    fn info(&self) -> Option<SourceInfo> {
        let video = self.video.as_ref()?;
        Some(SourceInfo {
            width: video.width,
            height: video.height,
            frame_rate: self
                .metadata
                .as_ref()
                .and_then(|m| m.frame_rate)
                .unwrap_or(0.0),
            has_audio: self.audio.is_some(),
        })
    }
}

struct Supervisor {
    channel: String,
    output: Arc<Output>,
    config: Arc<TranscodeConfig>,
    segmenter: SegmenterConfig,
    events_tx: mpsc::UnboundedSender<(u64, RunEvent)>,
    source: Source,
    run: Option<Running>,
    /// A publisher is live (between the hub's `Started` and `Ended`).
    live: bool,
    backoff: Backoff,
    /// No process before this instant (back-off after a crash).
    not_before: Option<Instant>,
    /// Rungs dropped for speed in this session (highest first).
    shed: usize,
    /// Renditions that have had a process (a new one follows a discontinuity).
    started: Vec<Arc<Rendition>>,
    /// Names of the renditions listed in the multivariant playlist now.
    listed: HashSet<String>,
    /// The ladder of this publish: the channel's own, else the server's.
    ladder: Ladder,
    /// `ladder` has been read for this broadcast.
    ladder_loaded: bool,
}

/// Runs the ladder of one broadcast until its source playlist ends.
///
/// While the channel's ladder is source-only it holds no hub subscription, so a channel that is
/// not transcoded costs no wake-up per frame; a ladder change subscribes again and starts from
/// the hub's current stream state at the next keyframe.
pub async fn supervise(
    channel: String,
    hub: Hub,
    sub: Subscriber,
    output: Arc<Output>,
    config: Arc<TranscodeConfig>,
    segment_duration: Duration,
    part_duration: Option<Duration>,
) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut source_pos = output.watch_source();
    let mut ladder_changes = config.channels.subscribe();
    let mut changes_open = true;
    let mut sup = Supervisor {
        channel,
        output,
        config,
        segmenter: SegmenterConfig {
            part_target: part_duration,
            track_views: true,
            ..SegmenterConfig::new(segment_duration)
        },
        events_tx,
        source: Source::default(),
        run: None,
        live: false,
        backoff: Backoff::default(),
        not_before: None,
        shed: 0,
        started: Vec::new(),
        listed: HashSet::new(),
        ladder: Ladder::source_only(),
        ladder_loaded: false,
    };
    let mut sub = Some(sub);
    loop {
        if sub.is_some() && sup.idle() {
            debug!(channel = %sup.channel, "ladder is source only: hub subscription dropped");
            sub = None;
        }
        tokio::select! {
            // The borrowed position is dropped inside, so the select's output holds none across
            // the awaits of the other branches.
            _ = async { let _ = source_pos.wait_for(|p| p.ended).await; } => break,
            event = events.recv() => {
                let Some((id, event)) = event else { break };
                sup.on_run_event(id, event);
            }
            change = ladder_changes.recv(), if changes_open => match change {
                Ok(name) if *name != *sup.channel => {}
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    sup.on_ladder_changed().await;
                    if sub.is_none() && !sup.ladder.rungs.is_empty() {
                        sub = Some(hub.subscribe());
                        sup.resume(hub.state());
                    }
                }
                Err(RecvError::Closed) => changes_open = false,
            },
            recv = async {
                match sub.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            } => match recv {
                Recv::Event(HubEvent::Started { .. }) => {
                    sup.on_started();
                    sup.ladder = sup.load_ladder().await;
                    sup.ladder_loaded = true;
                }
                Recv::Event(HubEvent::Media(event)) => sup.on_media(&event),
                Recv::Event(HubEvent::Ended { .. }) => {
                    sup.live = false;
                    // Closing stdin lets ffmpeg flush and exit; the rungs drain to the end.
                    if let Some(r) = sup.run.as_mut() { r.stdin = None; }
                }
                Recv::Lagged(n) => {
                    warn!(channel = %sup.channel, dropped = n, "transcoder fell behind the hub; restarting");
                    sup.source.gop.clear();
                    sup.stop();
                }
                Recv::Closed => break,
            },
        }
    }
    sup.finish().await;
}

impl Supervisor {
    /// Kills the running process, if any.
    fn stop(&mut self) {
        if let Some(r) = self.run.take() {
            r.kill();
        }
    }

    /// Source only and nothing running: the hub's frames are not needed.
    fn idle(&self) -> bool {
        self.ladder_loaded && self.ladder.rungs.is_empty() && self.run.is_none()
    }

    /// Subscribed again after idling: the stream as the hub knows it now, frames from the next
    /// keyframe on.
    fn resume(&mut self, state: StreamState) {
        self.source = Source {
            video: state.video,
            audio: state.audio,
            metadata: state.metadata,
            gop: Vec::new(),
        };
        self.live = state.session.is_some();
        self.not_before = None;
    }

    fn on_started(&mut self) {
        self.stop();
        self.source = Source::default();
        self.live = true;
        self.shed = 0;
        self.backoff = Backoff::default();
        self.not_before = None;
    }

    /// The channel's own ladder, else the server's; the source only when no encoder can run it.
    async fn load_ladder(&self) -> Ladder {
        let own = match self.config.channels.own(&self.channel).await {
            Ok(own) => own,
            Err(error) => {
                warn!(channel = %self.channel, %error, "channel ladder not read; the server's applies");
                None
            }
        };
        let ladder = own.unwrap_or_else(|| self.config.ladder.clone());
        if !ladder.enabled {
            // One form for "nothing to encode", so that switching between two of them is no
            // change.
            return Ladder::source_only();
        }
        let Some(encoder) = self.config.encoder().await else {
            warn!(channel = %self.channel, "no encoder for the channel's ladder; source only");
            return Ladder::source_only();
        };
        if let Err(error) = ladder.validate_for(encoder) {
            warn!(channel = %self.channel, %error, "ladder unusable with this encoder; source only");
            return Ladder::source_only();
        }
        ladder
    }

    /// The channel's own ladder was set or cleared: a live channel switches to it at once.
    async fn on_ladder_changed(&mut self) {
        let ladder = self.load_ladder().await;
        if ladder == self.ladder {
            return;
        }
        self.ladder = ladder;
        if !self.live {
            // The next publish reads it again.
            return;
        }
        info!(
            channel = %self.channel,
            rungs = ?self.ladder.rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            "channel ladder changed; transcoder restarts"
        );
        self.stop();
        self.shed = 0;
        self.backoff = Backoff::default();
        // The next frame restarts ffmpeg from the cached GOP.
        self.not_before = None;
        let planned = self.plan();
        self.retire_unplanned(&planned);
    }

    /// Stops listing the renditions that had a process but are not in `planned`.
    fn retire_unplanned(&mut self, planned: &[PlannedRung]) {
        for old in &self.started {
            if !planned.iter().any(|p| p.name == old.name) && self.listed.remove(&old.name) {
                info!(channel = %self.channel, rendition = %old.name, "rung retired");
                metrics::gauge!(m::TRANSCODER_SPEED, "channel" => self.channel.clone(), "rendition" => old.name.clone()).set(0.0);
                self.output.retire_rung(old);
            }
        }
    }

    fn on_run_event(&mut self, id: u64, event: RunEvent) {
        if self.run.as_ref().map(|r| r.id) != Some(id) {
            return;
        }
        let Some(r) = self.run.take() else { return };
        match event {
            RunEvent::Exited(status) => {
                let ran = r.started.elapsed();
                let clean_end = r.stdin.is_none();
                // Not killed: the rung tasks drain what ffmpeg wrote last.
                drop(r);
                if clean_end || !self.live {
                    debug!(channel = %self.channel, %status, "ffmpeg finished");
                    return;
                }
                let delay = self.backoff.next_delay(ran);
                warn!(channel = %self.channel, %status, ran_ms = ran.as_millis() as u64, retry_ms = delay.as_millis() as u64, "ffmpeg exited; restarting");
                self.output.transcoder.update(|t| t.restarts += 1);
                for rung in &self.started {
                    metrics::counter!(m::TRANSCODER_RESTARTS, "channel" => self.channel.clone(), "rendition" => rung.name.clone()).increment(1);
                }
                self.not_before = Some(Instant::now() + delay);
            }
            RunEvent::Slow => {
                r.kill();
                self.shed_highest();
                self.not_before = None;
            }
        }
    }

    fn on_media(&mut self, event: &MediaEvent) {
        if let MediaEvent::VideoConfig(c) = event {
            if self
                .run
                .as_ref()
                .is_some_and(|r| (r.width, r.height) != (c.width, c.height))
            {
                info!(channel = %self.channel, width = c.width, height = c.height, "source resolution changed; transcoder restarts");
                self.stop();
                self.not_before = None;
            }
        }
        self.source.observe(event);
        if self.run.is_none() && self.live && self.not_before.is_none_or(|t| Instant::now() >= t) {
            if let Some(dts) = self.source.gop_start() {
                // The cached GOP (this event included) goes in at once.
                self.run = self.start(dts);
                // Nothing to plan, or a failure: look again in a while.
                self.not_before = self.run.is_none().then(|| Instant::now() + RETRY_AFTER);
                return;
            }
        }
        if let Some(r) = self.run.as_mut() {
            if !r.feed(event) {
                warn!(channel = %self.channel, "ffmpeg does not keep up with its input; restarting");
                self.stop();
            }
        }
    }

    /// After the broadcast: lets the rungs package what ffmpeg flushed, then ends their playlists.
    async fn finish(mut self) {
        if let Some(mut r) = self.run.take() {
            if r.stdin.is_none() {
                // The publisher left: ffmpeg flushes its last frames, the rungs close their last
                // segments; then their playlists end.
                let rungs = std::mem::take(&mut r.rungs);
                let _ = tokio::time::timeout(FLUSH_TIMEOUT, futures_util::future::join_all(rungs))
                    .await;
            }
            r.kill();
        }
        for rung in &self.started {
            self.output.end_rendition(rung);
        }
        debug!(channel = %self.channel, "transcoder stopped");
    }

    fn plan(&self) -> Vec<PlannedRung> {
        let Some(info) = self.source.info() else {
            return Vec::new();
        };
        plan(&self.ladder, &info)
            .into_iter()
            .skip(self.shed)
            .collect()
    }

    fn shed_highest(&mut self) {
        let planned = self.plan();
        let Some(highest) = planned.first() else {
            return;
        };
        warn!(channel = %self.channel, rendition = %highest.name, "encoding slower than real time; highest rung dropped");
        metrics::counter!(m::TRANSCODER_SHED, "channel" => self.channel.clone()).increment(1);
        self.output
            .transcoder
            .update(|t| t.shed.push(highest.name.clone()));
        metrics::gauge!(m::TRANSCODER_SPEED, "channel" => self.channel.clone(), "rendition" => highest.name.clone()).set(0.0);
        if let Some(r) = self.output.rendition(&highest.name) {
            self.output.retire_rung(&r);
        }
        self.listed.remove(&highest.name);
        self.shed += 1;
    }

    /// Plans the ladder for the source and starts ffmpeg, fed from the keyframe at `dts`.
    fn start(&mut self, dts: i64) -> Option<Running> {
        let planned = self.plan();
        // Rungs this source no longer gets (its resolution or the channel's ladder changed) stop
        // being listed.
        self.retire_unplanned(&planned);
        self.output
            .set_part_frame_step(ferrocast_ladder::part_frame_step(&planned));
        if planned.is_empty() {
            return None;
        }
        let config = self.config.clone();
        let encoder = config.picked_encoder()?;
        let video = self.source.video.clone()?;
        let at = StartAt {
            offset_ms: dts,
            width: video.width,
            height: video.height,
            has_audio: self.source.audio.is_some(),
        };
        self.output
            .transcoder
            .update(|t| t.encoder = Some(encoder.ffmpeg_name().to_owned()));
        let started = Running::start(
            &config,
            encoder,
            &self.channel,
            &planned,
            at,
            &self.events_tx,
            self.output.clone(),
        );
        let (mut running, sockets) = match started {
            Ok(started) => started,
            Err(error) => {
                warn!(channel = %self.channel, error = format!("{error:#}"), "transcoder not started");
                return None;
            }
        };
        info!(
            channel = %self.channel,
            pid = running.pid(),
            encoder = encoder.ffmpeg_name(),
            rungs = ?planned.iter().map(|r| format!("{}:{}x{}", r.name, r.width, r.height)).collect::<Vec<_>>(),
            "transcoder started"
        );
        for (rung, (listener, path)) in planned.iter().zip(sockets) {
            let info = RungInfo {
                configured_bps: u64::from(
                    rung.video_bitrate_kbps + rung.audio_bitrate_kbps.unwrap_or(0),
                ) * 1000,
                frame_rate: rung.frame_rate,
            };
            let rendition = self.output.add_rung(&rung.name, info);
            self.listed.insert(rung.name.clone());
            if self.started.iter().any(|r| Arc::ptr_eq(r, &rendition)) {
                self.output.mark_discontinuity_of(&rendition);
            } else {
                self.started.push(rendition.clone());
            }
            let task = RungTask {
                channel: self.channel.clone(),
                output: self.output.clone(),
                rendition,
                listener,
                path,
                boundaries: self.output.subscribe_boundaries(),
                offset_ms: dts,
                segmenter: self.segmenter.clone(),
            };
            running.rungs.push(tokio::spawn(task.run()));
        }
        let setup = [
            self.source.metadata.clone().map(MediaEvent::Metadata),
            Some(MediaEvent::VideoConfig(video)),
            self.source.audio.clone().map(MediaEvent::AudioConfig),
        ];
        for event in setup.iter().flatten().chain(&self.source.gop) {
            if !running.feed(event) {
                warn!(channel = %self.channel, "ffmpeg's input queue overflowed at start");
                running.kill();
                return None;
            }
        }
        Some(running)
    }
}

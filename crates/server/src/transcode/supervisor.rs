//! The per-broadcast transcoder: plans the ladder, runs ffmpeg, restarts it, sheds rungs.

use super::progress::{Backoff, ProgressParser, SpeedWatch};
use super::rung::RungTask;
use super::TranscodeConfig;
use crate::live::{Output, Rendition, RungInfo};
use crate::metrics as m;
use bytes::{Bytes, BytesMut};
use ferrocast_flv::FlvWriter;
use ferrocast_hub::{HubEvent, Recv, Subscriber};
use ferrocast_ladder::{ffmpeg_args, plan, IoSpec, PlannedRung, SourceInfo};
use ferrocast_media::{AudioConfig, Frame, MediaEvent, StreamMetadata, TrackKind, VideoConfig};
use ferrocast_packager::SegmenterConfig;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Encoded FLV chunks that may wait for ffmpeg's stdin (about 10 s of 30 fps video + audio);
/// more means ffmpeg has stalled, and it is restarted.
const STDIN_QUEUE: usize = 2 * GOP_CACHE + 16;
/// Events since the last keyframe kept to start a process at once (a GOP of 30 fps video with
/// audio is about 100 per second); a longer GOP is not cached and a process waits for a keyframe.
const GOP_CACHE: usize = 1024;
/// How long the rungs may take to package ffmpeg's last output after the source ended.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Progress is only judged once the process has run this long (input analysis, start-up).
const SPEED_GRACE: Duration = Duration::from_secs(5);

/// Makes socket names unique within this server process.
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// What the running process tells the supervisor.
enum RunEvent {
    /// Encoding has been slower than real time for a while.
    Slow,
    /// The process exited.
    Exited(String),
}

/// One ffmpeg process and its rung tasks.
struct Running {
    id: u64,
    pid: Option<u32>,
    started: Instant,
    stdin: Option<mpsc::Sender<Bytes>>,
    writer: FlvWriter,
    offset_ms: i64,
    width: u32,
    height: u32,
    rungs: Vec<JoinHandle<()>>,
    monitor: JoinHandle<()>,
}

impl Running {
    /// Kills the process group and stops the rung tasks.
    fn kill(self) {
        if let Some(pid) = self.pid {
            // ffmpeg leads its own process group: kill the group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.monitor.abort();
        for r in self.rungs {
            r.abort();
        }
    }

    /// Writes one event to ffmpeg's stdin; `false` when ffmpeg does not keep up or is gone.
    fn feed(&mut self, event: &MediaEvent) -> bool {
        let Some(stdin) = &self.stdin else {
            return true;
        };
        let rebased;
        let event = match event {
            MediaEvent::Frame(f) => {
                let dts = f.dts - self.offset_ms;
                if dts < 0 {
                    return true;
                }
                rebased = MediaEvent::Frame(Frame { dts, ..f.clone() });
                &rebased
            }
            other => other,
        };
        let mut out = BytesMut::new();
        if let Err(error) = self.writer.write_event(event, &mut out) {
            debug!(%error, "event not written to ffmpeg");
            return true;
        }
        stdin.try_send(out.freeze()).is_ok()
    }
}

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
    fn cache(&mut self, event: &MediaEvent) {
        let MediaEvent::Frame(f) = event else {
            return;
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
}

struct Supervisor {
    channel: String,
    output: Arc<Output>,
    config: Arc<TranscodeConfig>,
    segmenter: SegmenterConfig,
    events_tx: mpsc::UnboundedSender<(u64, RunEvent)>,
    /// Rungs dropped for speed in this session (highest first).
    shed: usize,
    /// Renditions that have had a process (a new one follows a discontinuity).
    started: Vec<Arc<Rendition>>,
}

/// Runs the ladder of one broadcast until its source playlist ends.
pub async fn supervise(
    channel: String,
    mut sub: Subscriber,
    output: Arc<Output>,
    config: Arc<TranscodeConfig>,
    segment_duration: Duration,
    part_duration: Option<Duration>,
) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut sup = Supervisor {
        channel,
        output: output.clone(),
        config,
        segmenter: SegmenterConfig {
            part_target: part_duration,
            ..SegmenterConfig::new(segment_duration)
        },
        events_tx,
        shed: 0,
        started: Vec::new(),
    };
    let mut source_pos = output.watch_source();
    let mut source = Source::default();
    let mut run: Option<Running> = None;
    let mut live = false;
    let mut backoff = Backoff::default();
    // No process before this instant (back-off after a crash).
    let mut not_before: Option<Instant> = None;
    let name = sup.channel.clone();
    loop {
        tokio::select! {
            ended = source_pos.wait_for(|p| p.ended) => {
                let _ = ended;
                break;
            }
            event = events.recv() => {
                let Some((id, event)) = event else { break };
                if run.as_ref().map(|r| r.id) != Some(id) {
                    continue;
                }
                match event {
                    RunEvent::Exited(status) => {
                        let Some(r) = run.take() else { continue };
                        let ran = r.started.elapsed();
                        let clean_end = r.stdin.is_none();
                        // Let the rung tasks drain what ffmpeg wrote last.
                        drop(r.monitor);
                        if clean_end || !live {
                            debug!(channel = %name, %status, "ffmpeg finished");
                            continue;
                        }
                        let delay = backoff.next_delay(ran);
                        warn!(channel = %name, %status, ran_ms = ran.as_millis() as u64, retry_ms = delay.as_millis() as u64, "ffmpeg exited; restarting");
                        for rung in &sup.started {
                            metrics::counter!(m::TRANSCODER_RESTARTS, "channel" => name.clone(), "rendition" => rung.name.clone()).increment(1);
                        }
                        not_before = Some(Instant::now() + delay);
                    }
                    RunEvent::Slow => {
                        let Some(r) = run.take() else { continue };
                        r.kill();
                        sup.shed_highest(&source);
                        not_before = None;
                    }
                }
            }
            recv = sub.recv() => match recv {
                Recv::Event(HubEvent::Started { .. }) => {
                    if let Some(r) = run.take() { r.kill(); }
                    source = Source::default();
                    live = true;
                    sup.shed = 0;
                    backoff = Backoff::default();
                    not_before = None;
                }
                Recv::Event(HubEvent::Media(event)) => {
                    match &event {
                        MediaEvent::VideoConfig(c) => {
                            let resized = run.as_ref().is_some_and(|r| (r.width, r.height) != (c.width, c.height));
                            if resized {
                                info!(channel = %name, width = c.width, height = c.height, "source resolution changed; transcoder restarts");
                                if let Some(r) = run.take() { r.kill(); }
                                not_before = None;
                            }
                            if source.video.as_ref() != Some(c) {
                                // Cached pictures belong to the previous configuration.
                                source.gop.clear();
                            }
                            source.video = Some(c.clone());
                        }
                        MediaEvent::AudioConfig(c) => source.audio = Some(c.clone()),
                        MediaEvent::Metadata(md) => source.metadata = Some(md.clone()),
                        MediaEvent::Frame(_) => {}
                    }
                    source.cache(&event);
                    if run.is_none() && live && not_before.is_none_or(|t| Instant::now() >= t) {
                        if let Some(dts) = source.gop_start() {
                            not_before = None;
                            // The cached GOP (this event included) goes in at once.
                            run = sup.start(&source, dts);
                            if run.is_none() {
                                // Nothing to plan, or a failure: look again in a while.
                                not_before = Some(Instant::now() + Duration::from_secs(2));
                            }
                            continue;
                        }
                    }
                    if let Some(r) = run.as_mut() {
                        if !r.feed(&event) {
                            warn!(channel = %name, "ffmpeg does not keep up with its input; restarting");
                            if let Some(r) = run.take() { r.kill(); }
                        }
                    }
                }
                Recv::Event(HubEvent::Ended { .. }) => {
                    live = false;
                    // Closing stdin lets ffmpeg flush and exit; the rungs drain to the end.
                    if let Some(r) = run.as_mut() { r.stdin = None; }
                }
                Recv::Lagged(n) => {
                    warn!(channel = %name, dropped = n, "transcoder fell behind the hub; restarting");
                    source.gop.clear();
                    if let Some(r) = run.take() { r.kill(); }
                }
                Recv::Closed => break,
            },
        }
    }
    if let Some(mut r) = run.take() {
        if r.stdin.is_none() {
            // The publisher left: ffmpeg flushes its last frames, the rungs close their last
            // segments; then their playlists end.
            let rungs = std::mem::take(&mut r.rungs);
            let _ =
                tokio::time::timeout(FLUSH_TIMEOUT, futures_util::future::join_all(rungs)).await;
        }
        r.kill();
    }
    for rung in &sup.started {
        output.end_rendition(rung);
    }
    debug!(channel = %name, "transcoder stopped");
}

impl Supervisor {
    fn source_info(source: &Source) -> Option<SourceInfo> {
        let video = source.video.as_ref()?;
        let frame_rate = source
            .metadata
            .as_ref()
            .and_then(|m| m.frame_rate)
            .unwrap_or(0.0);
        Some(SourceInfo {
            width: video.width,
            height: video.height,
            frame_rate,
            has_audio: source.audio.is_some(),
        })
    }

    fn plan(&self, source: &Source) -> Vec<PlannedRung> {
        let Some(info) = Self::source_info(source) else {
            return Vec::new();
        };
        plan(&self.config.ladder, &info)
            .into_iter()
            .skip(self.shed)
            .collect()
    }

    fn shed_highest(&mut self, source: &Source) {
        let planned = self.plan(source);
        let Some(highest) = planned.first() else {
            return;
        };
        warn!(channel = %self.channel, rendition = %highest.name, "encoding slower than real time; highest rung dropped");
        metrics::counter!(m::TRANSCODER_SHED, "channel" => self.channel.clone()).increment(1);
        metrics::gauge!(m::TRANSCODER_SPEED, "channel" => self.channel.clone(), "rendition" => highest.name.clone()).set(0.0);
        if let Some(r) = self.output.rendition(&highest.name) {
            self.output.retire_rung(&r);
        }
        self.shed += 1;
    }

    /// Plans the ladder for the source and starts ffmpeg, fed from the keyframe at `dts`.
    fn start(&mut self, source: &Source, dts: i64) -> Option<Running> {
        let planned = self.plan(source);
        if planned.is_empty() {
            return None;
        }
        let video = source.video.clone()?;
        let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let mut outputs = Vec::new();
        let mut listeners = Vec::new();
        for (i, rung) in planned.iter().enumerate() {
            // Short (a socket path has at most 107 bytes) and unique: the broadcast id is unique
            // across restarts, the run number within this process.
            let path = self
                .config
                .run_dir
                .join(format!("{}-{id}-{i}.sock", self.output.sid));
            let _ = std::fs::remove_file(&path);
            match UnixListener::bind(&path) {
                Ok(l) => listeners.push((rung, l, path.clone())),
                Err(error) => {
                    warn!(channel = %self.channel, path = %path.display(), %error, "rung socket not created");
                    for (_, _, path) in &listeners {
                        let _ = std::fs::remove_file(path);
                    }
                    return None;
                }
            }
            outputs.push(format!("unix:{}", path.display()));
        }
        let args = match ffmpeg_args(&planned, &self.config.encoder, &IoSpec::new(outputs)) {
            Ok(a) => a,
            Err(error) => {
                warn!(channel = %self.channel, %error, "no ffmpeg command line");
                for (_, _, path) in &listeners {
                    let _ = std::fs::remove_file(path);
                }
                return None;
            }
        };
        let mut cmd = tokio::process::Command::new(&self.config.ffmpeg);
        cmd.args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(error) => {
                warn!(channel = %self.channel, %error, "ffmpeg not started");
                for (_, _, path) in &listeners {
                    let _ = std::fs::remove_file(path);
                }
                return None;
            }
        };
        let pid = child.id();
        info!(
            channel = %self.channel,
            pid,
            encoder = self.config.encoder.ffmpeg_name(),
            rungs = ?planned.iter().map(|r| format!("{}:{}x{}", r.name, r.width, r.height)).collect::<Vec<_>>(),
            "transcoder started"
        );
        // Rungs this source no longer gets (its resolution changed) stop being listed.
        for old in &self.started {
            if !planned.iter().any(|p| p.name == old.name) {
                self.output.retire_rung(old);
            }
        }
        let mut rungs = Vec::new();
        let mut renditions = Vec::new();
        for (rung, listener, path) in listeners {
            let info = RungInfo {
                configured_bps: u64::from(
                    rung.video_bitrate_kbps + rung.audio_bitrate_kbps.unwrap_or(0),
                ) * 1000,
                frame_rate: Some(rung.frame_rate),
            };
            let rendition = self.output.add_rung(&rung.name, info);
            if self.started.iter().any(|r| Arc::ptr_eq(r, &rendition)) {
                self.output.mark_discontinuity_of(&rendition);
            } else {
                self.started.push(rendition.clone());
            }
            renditions.push(rendition.name.clone());
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
            rungs.push(tokio::spawn(task.run()));
        }
        // stdin writer.
        let (stdin_tx, mut stdin_rx) = mpsc::channel::<Bytes>(STDIN_QUEUE);
        if let Some(mut stdin) = child.stdin.take() {
            tokio::spawn(async move {
                while let Some(chunk) = stdin_rx.recv().await {
                    if stdin.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                let _ = stdin.shutdown().await;
            });
        }
        let monitor = tokio::spawn(monitor(
            child,
            id,
            self.channel.clone(),
            renditions,
            self.events_tx.clone(),
        ));
        let writer = FlvWriter::new(true, source.audio.is_some());
        let header = writer.header();
        let mut running = Running {
            id,
            pid,
            started: Instant::now(),
            stdin: Some(stdin_tx),
            writer,
            offset_ms: dts,
            width: video.width,
            height: video.height,
            rungs,
            monitor,
        };
        if let Some(tx) = &running.stdin {
            let _ = tx.try_send(header);
        }
        let mut setup = Vec::new();
        if let Some(md) = &source.metadata {
            setup.push(MediaEvent::Metadata(md.clone()));
        }
        setup.push(MediaEvent::VideoConfig(video));
        if let Some(a) = &source.audio {
            setup.push(MediaEvent::AudioConfig(a.clone()));
        }
        for event in setup.iter().chain(&source.gop) {
            if !running.feed(event) {
                warn!(channel = %self.channel, "ffmpeg's input queue overflowed at start");
                running.kill();
                return None;
            }
        }
        Some(running)
    }
}

/// Reads ffmpeg's progress (stdout) and log (stderr), waits for its exit.
async fn monitor(
    mut child: tokio::process::Child,
    id: u64,
    channel: String,
    renditions: Vec<String>,
    events: mpsc::UnboundedSender<(u64, RunEvent)>,
) {
    let started = Instant::now();
    if let Some(stderr) = child.stderr.take() {
        let channel = channel.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("[error]") || line.contains("[fatal]") {
                    warn!(channel = %channel, ffmpeg = %line, "ffmpeg");
                } else {
                    debug!(channel = %channel, ffmpeg = %line, "ffmpeg");
                }
            }
        });
    }
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        let mut parser = ProgressParser::default();
        let mut watch = SpeedWatch::default();
        let mut dropped_seen = 0u64;
        let mut slow_reported = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(p) = parser.line(&line) else {
                continue;
            };
            for r in &renditions {
                let labels = [("channel", channel.clone()), ("rendition", r.clone())];
                if let Some(speed) = p.speed {
                    metrics::gauge!(m::TRANSCODER_SPEED, &labels).set(speed);
                }
                if let Some(dropped) = p.drop_frames {
                    metrics::counter!(m::TRANSCODER_DROPPED, &labels)
                        .increment(dropped.saturating_sub(dropped_seen));
                }
            }
            if let Some(dropped) = p.drop_frames {
                dropped_seen = dropped_seen.max(dropped);
            }
            let elapsed = started.elapsed();
            if let (Some(out), true) = (p.out_time_us, elapsed >= SPEED_GRACE) {
                let speed = watch.observe(elapsed.as_millis() as u64, out);
                if SpeedWatch::is_slow(speed) && !slow_reported {
                    slow_reported = true;
                    let _ = events.send((id, RunEvent::Slow));
                }
            }
        }
    }
    let status = match child.wait().await {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    };
    let _ = events.send((id, RunEvent::Exited(status)));
}

//! One ffmpeg process: its rung sockets, its start, its stdin, the task that reads its progress
//! and log and reports its exit, and its end.

use super::progress::{BoundedLines, ProgressParser, SpeedWatch};
use super::supervisor::GOP_CACHE;
use super::TranscodeConfig;
use crate::live::Output;
use crate::metrics as m;
use anyhow::Context;
use bytes::{Bytes, BytesMut};
use ferrocast_flv::FlvWriter;
use ferrocast_ladder::{ffmpeg_args, Encoder, IoSpec, PlannedRung};
use ferrocast_media::{Frame, MediaEvent};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Encoded FLV chunks that may wait for ffmpeg's stdin (about 10 s of 30 fps video + audio);
/// more means ffmpeg has stalled, and it is restarted.
const STDIN_QUEUE: usize = 2 * GOP_CACHE + 16;
/// Progress is only judged once the process has run this long (input analysis, start-up).
const SPEED_GRACE: Duration = Duration::from_secs(5);
/// Makes socket names unique within this server process.
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// What the running process tells the supervisor.
pub(super) enum RunEvent {
    /// Encoding has been slower than real time for a while.
    Slow,
    /// The process exited.
    Exited(String),
}

/// Where a process starts in the source.
pub(super) struct StartAt {
    /// Decode time of the keyframe it is fed from: subtracted from every timestamp fed.
    pub(super) offset_ms: i64,
    /// The source's picture size (a change restarts the process).
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) has_audio: bool,
}

/// One ffmpeg process and its rung tasks.
pub(super) struct Running {
    /// Tells this process's [`RunEvent`]s from those of one it replaced.
    pub(super) id: u64,
    pid: Option<u32>,
    pub(super) started: Instant,
    /// `None` once the source ended: ffmpeg then flushes and exits.
    pub(super) stdin: Option<mpsc::Sender<Bytes>>,
    writer: FlvWriter,
    /// Where events are written for stdin; each chunk is split off, so its memory is reused once
    /// the stdin task has written it.
    buf: BytesMut,
    offset_ms: i64,
    pub(super) width: u32,
    pub(super) height: u32,
    /// The tasks that package the rungs; the supervisor adds them.
    pub(super) rungs: Vec<JoinHandle<()>>,
    monitor: JoinHandle<()>,
}

impl Running {
    /// Binds a socket per planned rung and starts ffmpeg writing to them, with a task that writes
    /// its stdin and one that watches its output and tells `events` how it goes. Returns the
    /// sockets, in plan order, for the rung tasks.
    pub(super) fn start(
        config: &TranscodeConfig,
        encoder: &Encoder,
        channel: &str,
        planned: &[PlannedRung],
        at: StartAt,
        events: &mpsc::UnboundedSender<(u64, RunEvent)>,
        output: Arc<Output>,
    ) -> anyhow::Result<(Self, Vec<(UnixListener, PathBuf)>)> {
        let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let sid = &output.sid;
        let mut sockets = Sockets::default();
        for i in 0..planned.len() {
            // Short (a socket path has at most 107 bytes) and unique: the broadcast id is unique
            // across restarts, the run number within this process.
            let path = config.run_dir.join(format!("{sid}-{id}-{i}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)
                .with_context(|| format!("creating the rung socket {}", path.display()))?;
            sockets.0.push((listener, path));
        }
        let outputs = sockets
            .0
            .iter()
            .map(|(_, path)| format!("unix:{}", path.display()));
        let args = ffmpeg_args(planned, encoder, &IoSpec::new(outputs))
            .context("building the ffmpeg command line")?;
        let mut child = tokio::process::Command::new(&config.ffmpeg)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .context("starting ffmpeg")?;
        let pid = child.id();
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
        let renditions = planned.iter().map(|r| r.name.clone()).collect();
        let monitor = tokio::spawn(monitor(
            child,
            id,
            channel.to_owned(),
            renditions,
            events.clone(),
            output,
        ));
        let writer = FlvWriter::new(true, at.has_audio);
        let _ = stdin_tx.try_send(writer.header());
        let running = Self {
            id,
            pid,
            started: Instant::now(),
            stdin: Some(stdin_tx),
            writer,
            buf: BytesMut::new(),
            offset_ms: at.offset_ms,
            width: at.width,
            height: at.height,
            rungs: Vec::new(),
            monitor,
        };
        // The rung tasks own the sockets from here on (and remove them once ffmpeg connects).
        Ok((running, std::mem::take(&mut sockets.0)))
    }

    /// ffmpeg's process id, while it has one.
    pub(super) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Kills the process group and stops the rung tasks.
    pub(super) fn kill(self) {
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
    pub(super) fn feed(&mut self, event: &MediaEvent) -> bool {
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
        if let Err(error) = self.writer.write_event(event, &mut self.buf) {
            debug!(%error, "event not written to ffmpeg");
            return true;
        }
        stdin.try_send(self.buf.split().freeze()).is_ok()
    }
}

/// The rung sockets of a process being started: removed if it does not start.
#[derive(Default)]
struct Sockets(Vec<(UnixListener, PathBuf)>);

impl Drop for Sockets {
    fn drop(&mut self) {
        for (_, path) in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Reads ffmpeg's progress (stdout) and log (stderr), waits for its exit.
async fn monitor(
    mut child: Child,
    id: u64,
    channel: String,
    renditions: Vec<String>,
    events: mpsc::UnboundedSender<(u64, RunEvent)>,
    output: Arc<Output>,
) {
    let started = Instant::now();
    output.transcoder.update(|t| t.running = true);
    if let Some(stderr) = child.stderr.take() {
        let channel = channel.clone();
        tokio::spawn(async move {
            let mut lines = BoundedLines::new(BufReader::new(stderr));
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
        // Resolved once per process, not per progress report.
        let handles: Vec<(metrics::Gauge, metrics::Counter)> = renditions
            .iter()
            .map(|r| {
                let labels = [("channel", channel.clone()), ("rendition", r.clone())];
                (
                    metrics::gauge!(m::TRANSCODER_SPEED, &labels),
                    metrics::counter!(m::TRANSCODER_DROPPED, &labels),
                )
            })
            .collect();
        let mut lines = BoundedLines::new(BufReader::new(stdout));
        let mut parser = ProgressParser::default();
        let mut watch = SpeedWatch::default();
        let mut dropped_seen = 0u64;
        let mut slow_reported = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let Some(p) = parser.line(&line) else {
                continue;
            };
            for (speed_gauge, dropped_counter) in &handles {
                if let Some(speed) = p.speed {
                    speed_gauge.set(speed);
                }
                if let Some(dropped) = p.drop_frames {
                    dropped_counter.increment(dropped.saturating_sub(dropped_seen));
                }
            }
            if let Some(dropped) = p.drop_frames {
                let new = dropped.saturating_sub(dropped_seen);
                dropped_seen = dropped_seen.max(dropped);
                output.transcoder.update(|t| t.dropped_frames += new);
            }
            if let Some(speed) = p.speed {
                output.transcoder.update(|t| t.speed = Some(speed));
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
    output.transcoder.update(|t| t.running = false);
    let _ = events.send((id, RunEvent::Exited(status)));
}

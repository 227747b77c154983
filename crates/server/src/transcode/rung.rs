//! One rung's way back: ffmpeg's FLV from a Unix socket, demuxed into media events, cut by a
//! follower segmenter at the source's boundaries, pushed into the rung's window.

use crate::clock::unix_ms;
use crate::live::{Output, Rendition};
use ferrocast_flv::{FlvStreamReader, TagDemuxer};
use ferrocast_packager::{Boundary, LiveSegmenter, SegmenterConfig, SegmenterOutput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tokio::sync::broadcast;
use tracing::{debug, warn};

/// How long ffmpeg may take to connect to a rung's socket (it probes its input first).
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(20);
/// What one rung task needs.
pub struct RungTask {
    /// Channel name, for logs.
    pub channel: String,
    /// The broadcast.
    pub output: Arc<Output>,
    /// The rung's rendition.
    pub rendition: Arc<Rendition>,
    /// Listener ffmpeg connects to.
    pub listener: UnixListener,
    /// Its path, removed once connected (or given up).
    pub path: PathBuf,
    /// The source segmenter's recent boundaries (pushed first) and those that follow.
    pub boundaries: (Vec<Boundary>, broadcast::Receiver<Boundary>),
    /// Subtracted from the source's timestamps when they were fed to ffmpeg.
    pub offset_ms: i64,
    /// The follower's configuration (same part target as the source).
    pub segmenter: SegmenterConfig,
}

impl RungTask {
    /// Accepts ffmpeg's connection and packages what it sends until it closes.
    pub async fn run(mut self) {
        let name = self.rendition.name.clone();
        let accepted = tokio::time::timeout(ACCEPT_TIMEOUT, self.listener.accept()).await;
        let _ = std::fs::remove_file(&self.path);
        let mut stream = match accepted {
            Ok(Ok((stream, _))) => stream,
            Ok(Err(error)) => {
                warn!(channel = %self.channel, rendition = %name, %error, "rung accept failed");
                return;
            }
            Err(_) => {
                warn!(channel = %self.channel, rendition = %name, "ffmpeg never connected");
                return;
            }
        };
        debug!(channel = %self.channel, rendition = %name, "rung connected");
        let mut follower = LiveSegmenter::follower(self.segmenter.clone());
        // Cuts made since the keyframe ffmpeg started from.
        for boundary in std::mem::take(&mut self.boundaries.0) {
            if boundary.at_pts_ms >= self.offset_ms {
                self.push_boundary(&mut follower, boundary);
            }
        }
        let mut demux = TagDemuxer::new();
        let mut flv = FlvStreamReader::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut boundaries_open = true;
        loop {
            tokio::select! {
                biased;
                b = self.boundaries.1.recv(), if boundaries_open => match b {
                    Ok(boundary) => {
                        self.push_boundary(&mut follower, boundary);
                        self.drain(&mut follower);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(channel = %self.channel, rendition = %name, missed = n, "rung missed boundaries");
                    }
                    Err(broadcast::error::RecvError::Closed) => boundaries_open = false,
                },
                read = stream.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(error) => {
                            warn!(channel = %self.channel, rendition = %name, %error, "rung read failed");
                            break;
                        }
                    };
                    flv.extend(&buf[..n]);
                    loop {
                        let tag = match flv.next_tag() {
                            Ok(Some(tag)) => tag,
                            Ok(None) => break,
                            Err(error) => {
                                warn!(channel = %self.channel, rendition = %name, %error, "rung stream unreadable");
                                follower.finish();
                                self.drain(&mut follower);
                                return;
                            }
                        };
                        // Script tags (onMetaData) yield nothing.
                        match demux.tag(&tag) {
                            Ok(Some(event)) => {
                                if let Err(error) = follower.handle_event(unix_ms(), &event) {
                                    warn!(channel = %self.channel, rendition = %name, %error, "rung packager dropped input");
                                }
                                self.drain(&mut follower);
                            }
                            Ok(None) => {}
                            Err(error) => {
                                debug!(channel = %self.channel, rendition = %name, %error, "rung tag skipped");
                            }
                        }
                    }
                }
            }
        }
        follower.finish();
        self.drain(&mut follower);
        debug!(channel = %self.channel, rendition = %name, "rung stream ended");
    }

    /// Gives the follower a cut of the source, on the timeline ffmpeg was fed.
    fn push_boundary(&self, follower: &mut LiveSegmenter, mut boundary: Boundary) {
        boundary.at_pts_ms -= self.offset_ms;
        if let Err(error) = follower.push_boundary(boundary) {
            warn!(channel = %self.channel, rendition = %self.rendition.name, %error, "boundary refused");
        }
    }

    fn drain(&self, follower: &mut LiveSegmenter) {
        let r = &self.rendition;
        while let Some(out) = follower.poll_output() {
            match out {
                SegmenterOutput::Init(init) => self.output.push_init_to(r, init),
                SegmenterOutput::Part(part) => {
                    self.output.push_part_to(r, part);
                }
                SegmenterOutput::Segment(seg) => {
                    let msn = seg.msn;
                    if self.output.push_segment_to(r, msn, seg).is_none() {
                        debug!(channel = %self.channel, rendition = %r.name, msn, "rung segment number taken");
                    }
                }
            }
        }
    }
}
